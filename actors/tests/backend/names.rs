//! Workshop names in the bridge's `raw.dnsmasq`: daemons writing at the same time keep each
//! other's lines, a new name is answered by the bridge's dnsmasq when its publication
//! returns, and lines of instances that are gone are pruned. No instance is needed: a young
//! line is spared by the pruning, and each write prunes.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use workshop_actors::backend::lxd::LxdBackend;
use workshop_actors::backend::{Backend, Target};
use workshop_actors::lxd::Client;

use crate::common;

const BRIDGE: &str = "workshopbr0";

/// Withdraws every line of `user` at the end, even when the test fails (on a thread of its
/// own: the test's runtime is blocked meanwhile, so a test withdraws its lines itself with
/// [`withdraw_all`] first, and this finds none left).
struct Lines(String);

impl Drop for Lines {
    fn drop(&mut self) {
        let user = self.0.clone();
        let cleaned = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                if let Some(backend) = common::backend() {
                    withdraw_all(&backend, &user).await;
                }
            })
        });
        let _ = cleaned.join();
    }
}

/// Withdraws every line of `user`.
async fn withdraw_all(backend: &LxdBackend, user: &str) {
    let names = backend.host_names(user).await.unwrap_or_default();
    for target in names.keys() {
        if let Err(e) = backend.withdraw_names(target).await {
            eprintln!("cleanup: cannot withdraw {target:?}: {e}");
        }
    }
}

fn pid() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// Whether the bridge's dnsmasq answers `name` (a CNAME counts). Other tests' launches and
/// removals restart the bridge's dnsmasq under a full run, and a question that falls into the
/// restart gets no answer or an NXDOMAIN from the dnsmasq on its way out (as a resolver would,
/// it is asked again, for up to 10 s, before "no" counts).
fn answered(name: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ask(name) {
            Some(true) => return true,
            _ if Instant::now() > deadline => return false,
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Whether the bridge's dnsmasq says it does not know `name`: a question without any answer
/// (dnsmasq restarting) is asked again, for up to 10 s; a positive answer counts at once.
fn not_answered(name: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ask(name) {
            Some(known) => return !known,
            None if Instant::now() > deadline => panic!("no answer about {name} within 10 s"),
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// One question for `name`: whether the answer holds a record, or `None` when no answer
/// comes within 2 s or the answer is neither (an error of a dnsmasq restarting, another id).
fn ask(name: &str) -> Option<bool> {
    let address = common::lxc(&["network", "get", BRIDGE, "ipv4.address"]).expect("bridge address");
    let server: Ipv4Addr = address.trim().split('/').next().unwrap().parse().unwrap();
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut query = vec![0x21, 0x43, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    socket.send_to(&query, (server, 53)).unwrap();
    let mut reply = [0u8; 512];
    let n = socket.recv(&mut reply).ok()?;
    if n < 12 || reply[..2] != [0x21, 0x43] {
        return None;
    }
    // NOERROR with or without records, or NXDOMAIN.
    match reply[3] & 0x0f {
        0 => Some(u16::from_be_bytes([reply[6], reply[7]]) > 0),
        3 => Some(false),
        _ => None,
    }
}

/// Takes the host's locks of the bridge as a daemon's writer does (blocking: nothing else runs
/// on the test's thread meanwhile).
fn lock_as_a_writer() -> Vec<std::fs::File> {
    ["write", "boot"]
        .iter()
        .map(|purpose| {
            let path = format!("/run/workshop-network-{BRIDGE}.{purpose}.lock");
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .unwrap();
            // SAFETY: flock on a descriptor this function owns.
            assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) }, 0);
            file
        })
        .collect()
}

/// Appends `line` to the bridge's `raw.dnsmasq` (ETag-guarded, as another daemon would).
async fn append_line(client: &Client, line: &str) {
    let _locks = lock_as_a_writer();
    for _ in 0..20 {
        let (network, etag) = client.get_network(BRIDGE).await.unwrap();
        let mut put = network.writable();
        let raw = put.config.remove("raw.dnsmasq").unwrap_or_default();
        let raw = if raw.is_empty() { line.to_string() } else { format!("{raw}\n{line}") };
        put.config.insert("raw.dnsmasq".into(), raw);
        match client.update_network(BRIDGE, &put, &etag).await {
            Ok(()) => return,
            Err(e) if e.is_precondition_failed() => continue,
            Err(e) => panic!("cannot append to raw.dnsmasq: {e}"),
        }
    }
    panic!("raw.dnsmasq keeps changing");
}

async fn raw_dnsmasq(client: &Client) -> String {
    client.get_network(BRIDGE).await.unwrap().0.config.get("raw.dnsmasq").cloned().unwrap_or_default()
}

#[actix_rt::test]
async fn daemons_writing_at_once_keep_every_line_and_prune_the_lines_of_gone_instances() {
    if common::backend().is_none() {
        return;
    }
    let user = format!("wst-names-{:08x}", rand::random::<u32>());
    let _lines = Lines(user.clone());
    let targets: Vec<Target> = (0..6).map(|i| Target::new(&user, &pid(), &format!("w{i}"))).collect();
    let gone = Target::new(&user, &pid(), "gone");

    // Two daemons: each has its own client and its own queue of edits.
    let (a, b): (LxdBackend, LxdBackend) = (common::backend().unwrap(), common::backend().unwrap());
    let client = Client::local().unwrap();
    // A line another daemon wrote long ago for an instance that no longer exists.
    let stale = format!(
        "cname=gone.{id}.wp,gone.stale.wp,gone-{id}.wp,0  # workshop.{user} 1000000000 stale",
        id = gone.project_id
    );
    append_line(&client, &stale).await;
    assert_eq!(a.host_names(&user).await.unwrap().len(), 1);

    let dirs: Vec<String> = (0..targets.len()).map(|i| format!("wst-names-{i}")).collect();
    let publications = targets.iter().zip(&dirs).enumerate().map(|(i, (t, dir))| {
        let backend = if i % 2 == 0 { &a } else { &b };
        backend.publish_names(t, dir)
    });
    let hosts = join_all(publications).await;
    let names = a.host_names(&user).await.unwrap();
    let raw = raw_dnsmasq(&client).await;
    for (i, (target, host)) in targets.iter().zip(&hosts).enumerate() {
        let host = host.as_ref().unwrap_or_else(|e| panic!("{target:?}: {e}"));
        assert_eq!(host.name, format!("w{i}.wst-names-{i}.wp"));
        assert!(!host.fallback);
        assert_eq!(names.get(target), Some(host), "{raw}");
        // Answered once the publication returned (asked again while other tests restart dnsmasq).
        assert!(answered(&format!("w{i}.{}.wp", target.project_id)), "w{i}");
    }
    assert_eq!(names.len(), targets.len(), "the stale line is pruned:\n{raw}");
    assert!(!raw.contains("gone.stale.wp"), "{raw}");
    assert!(not_answered("gone.stale.wp"));

    let withdrawals = targets.iter().enumerate().map(|(i, t)| {
        let backend = if i % 2 == 0 { &a } else { &b };
        backend.withdraw_names(t)
    });
    for withdrawn in join_all(withdrawals).await {
        withdrawn.unwrap();
    }
    let left = a.host_names(&user).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert!(not_answered(&format!("w0.{}.wp", targets[0].project_id)));
}

/// A daemon finds the workshop it is to create while another is creating it (as after a
/// daemon died while LXD created it): it waits for LXD to finish before it gives it its
/// search list (touching its storage meanwhile broke LXD's creation: the sigkill test of the
/// integration suite), and the workshop boots searching its project's names first.
#[actix_rt::test]
async fn a_workshop_being_created_elsewhere_gets_its_search_list() {
    let Some(first) = common::backend() else { return };
    let second = common::backend().unwrap();
    let user = common::user_name();
    let _guard = common::UserGuard(user.clone());
    let image = common::image(&first).await;
    let target = Target::new(&user, &pid(), "dev");
    let spec = common::spec(&image);
    let client = Client::local().unwrap().project(&format!("workshop.{user}"));
    let racing = async {
        // As a daemon restarted while LXD creates the instance finds it.
        while client.get_instance(&target.instance_name()).await.is_err() {
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        second.create(&target, &spec).await
    };
    let (a, b) = futures_util::join!(first.create(&target, &spec), racing);
    a.expect("first create");
    b.expect("second create");
    let (metadata, _) = client.instance_metadata(&target.instance_name()).await.unwrap();
    let hook = &metadata.templates["/etc/dhcp/dhclient-enter-hooks.d/workshop-search"];
    assert_eq!(hook.when, ["create", "copy"]);

    first.start(&target).await.expect("start");
    first.wait_ready(&target).await.expect("ready");
    let resolv = first.run(&target, &common::command(&["cat", "/etc/resolv.conf"])).await.unwrap();
    let resolv = String::from_utf8_lossy(&resolv.stdout).into_owned();
    assert!(resolv.lines().any(|l| l == format!("search {}.wp wp", target.project_id)), "{resolv}");
}

/// A write of names waits for a workshop that boots to have come up: its restart of dnsmasq
/// would lose the guest's DHCP request, and the guest would ask again only 8 s later.
#[actix_rt::test]
async fn a_write_waits_for_the_workshops_that_boot() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = common::UserGuard(user.clone());
    let _lines = Lines(user.clone());
    let image = common::image(&backend).await;
    let target = Target::new(&user, &pid(), "dev");
    backend.create(&target, &common::spec(&image)).await.expect("create");
    // Its own names are published before it boots, as a launch does.
    backend.publish_names(&target, "wst-names-boot").await.unwrap();

    backend.start(&target).await.expect("start");
    let started = std::time::Instant::now();
    let other = Target::new(&user, &pid(), "other");
    let (ready, published) = futures_util::join!(
        async {
            backend.wait_ready(&target).await.expect("ready");
            started.elapsed()
        },
        async {
            backend.publish_names(&other, "wst-names-other").await.expect("publish");
            started.elapsed()
        },
    );
    assert!(published > ready, "the write went first: published after {published:?}, ready after {ready:?}");
    assert!(ready < Duration::from_secs(6), "the guest waited for its address: ready after {ready:?}");
    withdraw_all(&backend, &user).await;
}
