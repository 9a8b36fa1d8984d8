//! Names on the network against the real LXD (`WORKSHOP_TEST_LXD=1`): workshops of one project
//! reach each other by bare name, every workshop is reachable by its friendly name or its
//! fallback, and the host resolves them through the bridge's dnsmasq.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use workshop_integration::{Daemon, Project, lxd_enabled, lxd_shared, suffix, test_user, user_ids};

const BRIDGE: &str = "workshopbr0";

fn bare(name: &str) -> String {
    format!("name: {name}\nbase: debian@12\n")
}

fn lxc(args: &[&str]) -> String {
    let out = Command::new("lxc").args(args).output().expect("run lxc");
    assert!(out.status.success(), "lxc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn raw_dnsmasq() -> String {
    lxc(&["network", "get", BRIDGE, "raw.dnsmasq"])
}

/// The IPv4 address of an instance of the test user.
fn instance_address(user: &str, instance: &str) -> Ipv4Addr {
    let project = format!("workshop.{user}");
    let out = lxc(&["list", "--project", &project, "-f", "csv", "-c", "4", &format!("^{instance}$")]);
    out.split_whitespace()
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address: {out:?}"))
}

/// The A records the bridge's dnsmasq gives `name` (following its CNAMEs), asked directly,
/// like a stub resolver that asks again for a while. LXD restarts dnsmasq whenever a
/// workshop's names change (other tests' launches and removals, under a full run), and a
/// query that falls into the restart gets no answer or, measured here, an NXDOMAIN from the
/// dnsmasq on its way out: so an answer without an A record is asked again, for up to 10 s,
/// before it counts.
fn resolve(name: &str) -> Vec<Ipv4Addr> {
    let address = lxc(&["network", "get", BRIDGE, "ipv4.address"]);
    let server: Ipv4Addr = address.split('/').next().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = ask(server, name);
        if !found.is_empty() || Instant::now() > deadline {
            return found;
        }
        eprintln!("resolve {name}: no address yet, asking again");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One question for the A records of `name` to the DNS server at `server`; empty when no
/// answer comes within 2 s or the answer holds none.
fn ask(server: Ipv4Addr, name: &str) -> Vec<Ipv4Addr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut query = vec![0x4a, 0x17, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    socket.send_to(&query, (server, 53)).unwrap();
    let mut reply = [0u8; 1500];
    let Ok(n) = socket.recv(&mut reply) else {
        return Vec::new();
    };
    let reply = &reply[..n];
    assert_eq!(&reply[..2], &[0x4a, 0x17]);
    let count = |at: usize| usize::from(u16::from_be_bytes([reply[at], reply[at + 1]]));
    let (questions, answers) = (count(4), count(6));
    let skip_name = |mut at: usize| {
        loop {
            match reply[at] {
                0 => return at + 1,
                len if len & 0xc0 == 0xc0 => return at + 2,
                len => at += 1 + usize::from(len),
            }
        }
    };
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(at) + 4;
    }
    let mut found = Vec::new();
    for _ in 0..answers {
        at = skip_name(at);
        let (kind, len) = (count(at), count(at + 8));
        at += 10;
        if kind == 1 && len == 4 {
            found.push(Ipv4Addr::new(reply[at], reply[at + 1], reply[at + 2], reply[at + 3]));
        }
        at += len;
    }
    found
}

/// `curl` in workshop `from` of `w`'s project, retried while the server comes up and while
/// the bridge's dnsmasq restarts (each write of `raw.dnsmasq` by the other tests' launches and
/// removals restarts it: under a full test run that is often).
fn fetch(w: &dyn Fn(&[&str]) -> workshop_integration::Run, from: &str, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = w(&["exec", from, "--", "curl", "-sS", "--fail", "--max-time", "5", url]);
        if run.code == 0 {
            return run.ok().to_string();
        }
        if Instant::now() > deadline {
            let resolv = w(&["exec", from, "--", "cat", "/etc/resolv.conf"]);
            panic!(
                "{url} from {from}: {}\nresolv.conf: {}\nraw.dnsmasq: {}",
                run.output(),
                resolv.output(),
                raw_dnsmasq()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Serves `/project` over HTTP on port 8080 from workshop `ws`.
fn serve(w: &dyn Fn(&[&str]) -> workshop_integration::Run, ws: &str) {
    let unit = format!("wst-http-{ws}");
    let command = ["exec", ws, "--", "sudo", "systemd-run", "--unit", &unit, "python3", "-m", "http.server"];
    let mut args = command.to_vec();
    args.extend(["8080", "--directory", "/project"]);
    w(&args).ok();
}

/// A project directory `dir` (with its parents), owned by `user`, removed with its workshops
/// on drop.
fn project_at(user: &str, dir: &Path) -> Project {
    std::fs::create_dir_all(dir).unwrap();
    let (uid, gid) = user_ids(user);
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    Project { path: dir.to_path_buf(), user: user.to_string() }
}

/// L-02 (names): two workshops of one project talk by bare name, by `<ws>.<pid>.wp`, by the
/// friendly `<ws>.<project>.wp` and by `<ws>-<pid>.wp`; a second project whose directory has
/// the same name gets the fallback and the `hostname-fallback` note, and is reached by it; the
/// host resolves the names through the bridge's dnsmasq; a guest cannot take another's name;
/// names stay while a workshop is stopped and go with it.
#[test]
fn workshops_reach_each_other_by_name() {
    if !lxd_enabled("workshops_reach_each_other_by_name") {
        return;
    }
    let _lxd = lxd_shared();
    let user = test_user();
    let d = Daemon::start();
    // Spaces, underscores and dots become hyphens; capitals are lowered.
    let p = Project::new(&user, "Names_it.x y");
    let basename = p.path.file_name().unwrap().to_string_lossy().into_owned();
    let label = basename.to_lowercase().replace([' ', '_', '.'], "-");
    p.write(".workshop/web.yaml", &bare("web")).write(".workshop/cli.yaml", &bare("cli"));
    let marker = format!("served-{}", suffix());
    p.write("marker.txt", &marker);
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch", "web", "cli"]).ok();
    let pid = p.id().expect("project id");

    // info (text and JSON) and list.
    let friendly = format!("web.{label}.wp");
    let info = w(&["info", "web"]);
    assert!(info.has_line(&format!(r"^hostname:\s+{}$", regex_lite::escape(&friendly))), "{}", info.output());
    assert!(info.has_line(r"^notes:\s+-$"), "{}", info.output());
    let json: serde_json::Value = serde_json::from_str(w(&["info", "--format", "json", "web"]).ok()).unwrap();
    assert_eq!(json["hostname"], friendly.as_str());
    assert!(json.get("notes").is_none(), "{json}");
    assert!(w(&["list"]).has_line(r"^web\s+Ready\s+-$"));

    // The guest's search list: its project first, then every workshop.
    let resolv = w(&["exec", "cli", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.has_line(&format!(r"^search {pid}\.wp wp$")), "{}", resolv.output());

    // Real traffic, by every name.
    serve(&w, "web");
    for name in ["web".to_string(), format!("web.{pid}.wp"), friendly.clone(), format!("web-{pid}.wp")] {
        let body = fetch(&w, "cli", &format!("http://{name}:8080/marker.txt"));
        assert_eq!(body, marker, "by {name}");
    }

    // The host asks the bridge's dnsmasq.
    let web_address = instance_address(&user, &format!("web-{pid}"));
    assert_eq!(resolve(&friendly), [web_address]);
    assert_eq!(resolve(&format!("web.{pid}.wp")), [web_address]);
    assert_eq!(resolve(&format!("cli.{label}.wp")), [instance_address(&user, &format!("cli-{pid}"))]);

    // Another project whose directory has the same name: the friendly name is taken.
    let outer = Project::new(&user, "names-outer");
    let q = project_at(&user, &outer.path.join(&basename));
    q.write(".workshop/web.yaml", &bare("web"));
    let other_marker = format!("other-{}", suffix());
    q.write("marker.txt", &other_marker);
    let wq = |args: &[&str]| d.cli_as(Some(&user), &q.path, args, &[]);
    wq(&["launch", "web"]).ok();
    let qid = q.id().expect("project id");
    let fallback = format!("web-{qid}.wp");
    assert!(wq(&["list"]).has_line(r"^web\s+Ready\s+hostname-fallback$"));
    let info = wq(&["info", "web"]);
    assert!(info.has_line(&format!(r"^hostname:\s+{}$", regex_lite::escape(&fallback))), "{}", info.output());
    assert!(info.has_line(r"^notes:\s+hostname-fallback$"), "{}", info.output());
    serve(&wq, "web");
    // Reached by its fallback from the first project; the friendly name is still the first's.
    assert_eq!(fetch(&w, "cli", &format!("http://{fallback}:8080/marker.txt")), other_marker);
    assert_eq!(fetch(&w, "cli", &format!("http://{friendly}:8080/marker.txt")), marker);
    // In its own project, the bare name is its own web.
    assert_eq!(fetch(&wq, "web", "http://web:8080/marker.txt"), other_marker);
    assert_eq!(resolve(&fallback), [instance_address(&user, &format!("web-{qid}"))]);

    // A guest cannot take another workshop's name: LXD's DHCP entry pins each instance's.
    let claim = format!("hostname web-{pid} && dhclient -r eth0 && dhclient eth0");
    w(&["exec", "cli", "--", "sudo", "sh", "-c", &claim]).ok();
    assert_eq!(resolve(&format!("web-{pid}.wp")), [web_address]);
    assert_eq!(resolve(&friendly), [web_address]);
    assert_eq!(resolve(&format!("cli-{pid}.wp")), [instance_address(&user, &format!("cli-{pid}"))]);

    // A stopped workshop keeps its names (a start does not write them again); a removed one
    // loses them.
    w(&["stop", "web"]).ok();
    assert!(raw_dnsmasq().contains(&format!("cname=web.{pid}.wp,{friendly},web-{pid}.wp,0")));
    w(&["start", "web"]).ok();
    assert!(w(&["info", "web"]).has_line(&format!(r"^hostname:\s+{}$", regex_lite::escape(&friendly))));
    w(&["remove", "web", "cli"]).ok();
    wq(&["remove", "web"]).ok();
    let raw = raw_dnsmasq();
    for id in [&pid, &qid] {
        assert!(!raw.contains(&format!(".{id}.wp")), "{raw}");
    }
}
