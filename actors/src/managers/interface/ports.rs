//! Host ports a tunnel would listen on (issue 13 item 6): a port already taken is reported
//! when the connection is asked for, with who holds it (from `/proc/net/*` and the sockets
//! of `/proc/<pid>/fd`), instead of LXD's error when it plugs the device in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use workshop_api::sdk::interfaces::AUTO_PORT;
use workshop_api::sdk::tunnel::TunnelEndpoint;

/// Most processes looked at for the holder of a port.
const MAX_PROCESSES: usize = 32_768;
/// Most descriptors looked at per process.
const MAX_FDS: usize = 4096;
/// How long the search for a holder may take.
const SEARCH_TIME: Duration = Duration::from_secs(2);
/// Most bytes read of one `/proc/net/*` table.
const MAX_TABLE: u64 = 16 << 20;

/// Whether `port` on `ip` can be listened on now; if not, why, with who holds it.
pub fn check_free(ip: IpAddr, port: u16, udp: bool) -> Result<(), String> {
    let addr = SocketAddr::new(ip, port);
    let taken = if udp { UdpSocket::bind(addr).err() } else { TcpListener::bind(addr).err() };
    let Some(e) = taken else { return Ok(()) };
    let protocol = if udp { "udp" } else { "tcp" };
    if e.kind() != std::io::ErrorKind::AddrInUse {
        return Err(format!("cannot listen on host port {port}/{protocol}: {e}"));
    }
    // Go's words, as the reference's error has them; then who holds it, when known.
    let who =
        holder(Path::new("/proc"), port, udp).map(|h| format!("; it is held by {h}")).unwrap_or_default();
    Err(format!("listen {protocol} {addr}: bind: address already in use{who}"))
}

/// A host port a new tunnel would listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The connection's key in `edits`.
    pub key: String,
    pub ip: IpAddr,
    pub port: u16,
    pub udp: bool,
    /// The plug's `auto-port` attribute: a free port will do when this one is taken.
    pub auto: bool,
}

/// The host ports the connections `edits` make would listen on (tunnels from a system plug
/// to an IP endpoint), leaving out those connected now.
pub fn new_host_ports(
    repo: &super::repo::Repo,
    current: &super::conns::WorkshopConns,
    edits: &[(String, Option<super::conns::ConnState>)],
) -> Vec<HostPort> {
    let mut out = Vec::new();
    for (key, next) in edits {
        let (Some(next), Some(r)) = (next, super::conns::parse_key(key)) else { continue };
        if !next.connected() || current.get(key).is_some_and(|c| c.connected()) {
            continue;
        }
        let (Some(plug), Some(slot)) = (repo.plug(&r.plug), repo.slot(&r.slot)) else { continue };
        if plug.interface != "tunnel" {
            continue;
        }
        let Ok(pair) = super::policy::tunnel_pair(plug, slot) else { continue };
        if let (
            super::policy::Direction::HostToWorkshop,
            TunnelEndpoint::Inet { ip, port: Some(port), udp },
        ) = (&pair.direction, &pair.listen)
        {
            let auto = plug.attrs.get(AUTO_PORT).and_then(|v| v.as_bool()).unwrap_or(false);
            // One it listened on before a refresh, in place of the definition's.
            let port = next.host_port.unwrap_or(*port);
            out.push(HostPort { key: key.clone(), ip: *ip, port, udp: *udp, auto });
        }
    }
    out
}

/// Which host port a new tunnel listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortChoice {
    /// The one asked for; a taken one is refused, unless the plug says `auto-port`.
    Asked,
    /// The one asked for, or a free one when it is taken (`--auto-port`).
    FreeWhenTaken,
    /// Always a free one (a fork's: the workshop it copies has the ports asked for, and may
    /// only be stopped now).
    AlwaysFree,
}

/// Checks that each wanted host port is free; one that is taken gets a free port from the
/// kernel instead when `choice` (the caller's `--auto-port`) or its plug's `auto-port`
/// says so, else it is refused with who holds it. Returns the ports given instead, by key.
/// Blocking (binds, `/proc`).
pub fn settle(wanted: Vec<HostPort>, choice: PortChoice) -> Result<Vec<(String, u16)>, String> {
    let mut instead = Vec::new();
    let mut given: Vec<(IpAddr, u16, bool)> = Vec::new();
    for hp in wanted {
        // Two tunnels of one request on the same port: the second one is taken too.
        let twice = given.iter().any(|&(ip, port, udp)| (ip, port, udp) == (hp.ip, hp.port, hp.udp));
        let taken = if choice == PortChoice::AlwaysFree {
            Err(String::new())
        } else if twice {
            Err(format!("cannot listen on host port {}: asked for twice", hp.port))
        } else {
            check_free(hp.ip, hp.port, hp.udp)
        };
        match taken {
            Ok(()) => given.push((hp.ip, hp.port, hp.udp)),
            Err(_) if choice != PortChoice::Asked || hp.auto => {
                let port = free_port(hp.ip, hp.udp, &given)?;
                given.push((hp.ip, port, hp.udp));
                instead.push((hp.key, port));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(instead)
}

/// [`settle`] for the new host ports of `edits`, off the actor's thread; the ports given
/// instead are recorded in the edits' states.
pub async fn settle_edits(
    repo: &super::repo::Repo,
    current: &super::conns::WorkshopConns,
    edits: &mut [(String, Option<super::conns::ConnState>)],
    choice: PortChoice,
) -> Result<(), String> {
    let wanted = new_host_ports(repo, current, edits);
    if wanted.is_empty() {
        return Ok(());
    }
    let instead =
        tokio::task::spawn_blocking(move || settle(wanted, choice)).await.map_err(|e| e.to_string())??;
    for (key, port) in instead {
        if let Some((_, Some(state))) = edits.iter_mut().find(|(k, _)| *k == key) {
            state.host_port = Some(port);
        }
    }
    Ok(())
}

/// A port on `ip` free now (the kernel's choice), not among `given`.
fn free_port(ip: IpAddr, udp: bool, given: &[(IpAddr, u16, bool)]) -> Result<u16, String> {
    let protocol = if udp { "udp" } else { "tcp" };
    for _ in 0..16 {
        let addr = SocketAddr::new(ip, 0);
        let bound = if udp {
            UdpSocket::bind(addr).and_then(|s| s.local_addr())
        } else {
            TcpListener::bind(addr).and_then(|s| s.local_addr())
        };
        let port =
            bound.map_err(|e| format!("cannot find a free host port on {ip} ({protocol}): {e}"))?.port();
        if !given.contains(&(ip, port, udp)) {
            return Ok(port);
        }
    }
    Err(format!("cannot find a free host port on {ip} ({protocol})"))
}

/// A socket of a `/proc/net/{tcp,udp}{,6}` table: its local address, owner and inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ip: IpAddr,
    pub port: u16,
    pub uid: u32,
    pub inode: u64,
    pub listening: bool,
}

/// Parses a `/proc/net/{tcp,udp}{,6}` table (the first line is a header).
pub fn parse_table(text: &str) -> Vec<Entry> {
    text.lines().skip(1).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Entry> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (addr, port) = fields.get(1)?.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = parse_ip(addr)?;
    let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
    let uid = fields.get(7)?.parse().ok()?;
    let inode = fields.get(9)?.parse().ok()?;
    // TCP_LISTEN is 0x0A; an unconnected UDP socket is TCP_CLOSE, 0x07.
    Some(Entry { ip, port, uid, inode, listening: state == 0x0A || state == 0x07 })
}

/// The kernel writes addresses as 32-bit words in host order, hex.
fn parse_ip(hex: &str) -> Option<IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok())
        .collect::<Option<_>>()?;
    match words.as_slice() {
        [a] => Some(IpAddr::V4(Ipv4Addr::from(a.to_ne_bytes()))),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].into_iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// Who holds `port`: `<command> (pid N, uid U)`, or `uid U` when no process is found.
pub fn holder(proc_dir: &Path, port: u16, udp: bool) -> Option<String> {
    let tables: &[&str] = if udp { &["net/udp", "net/udp6"] } else { &["net/tcp", "net/tcp6"] };
    let entry = tables
        .iter()
        .filter_map(|t| read_bounded(&proc_dir.join(t)))
        .flat_map(|text| parse_table(&text))
        .find(|e| e.port == port && e.listening)?;
    let target = format!("socket:[{}]", entry.inode);
    let started = Instant::now();
    let processes = std::fs::read_dir(proc_dir).ok()?;
    for process in processes.flatten().take(MAX_PROCESSES) {
        if started.elapsed() > SEARCH_TIME {
            break;
        }
        let name = process.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else { continue };
        let holds = fds
            .flatten()
            .take(MAX_FDS)
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()));
        if holds {
            let comm = read_bounded(&process.path().join("comm")).unwrap_or_default();
            return Some(format!("{} (pid {pid}, uid {})", comm.trim(), entry.uid));
        }
    }
    Some(format!("uid {}", entry.uid))
}

fn read_bounded(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path).ok()?.take(MAX_TABLE).read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1100        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1F41 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F40 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn tables_are_read_as_the_kernel_writes_them() {
        let entries = parse_table(TCP);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((entries[0].port, entries[0].uid, entries[0].inode), (8001, 1100, 4242));
        assert!(entries[0].listening && !entries[1].listening);
        let six = parse_table(TCP6);
        assert_eq!(six[0].ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(six[0].port, 8000);
        assert!(parse_table("header\ngarbage line\n").is_empty());
    }

    #[test]
    fn the_holder_is_found_by_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net")).unwrap();
        std::fs::write(dir.path().join("net/tcp"), TCP).unwrap();
        std::fs::write(dir.path().join("net/tcp6"), TCP6).unwrap();
        let pid = dir.path().join("321");
        std::fs::create_dir_all(pid.join("fd")).unwrap();
        std::fs::write(pid.join("comm"), "python3\n").unwrap();
        std::os::unix::fs::symlink("socket:[4242]", pid.join("fd/3")).unwrap();
        assert_eq!(holder(dir.path(), 8001, false).as_deref(), Some("python3 (pid 321, uid 1100)"));
        assert_eq!(holder(dir.path(), 8000, false).as_deref(), Some("uid 0"), "no process found");
        assert_eq!(holder(dir.path(), 9, false), None);
        assert_eq!(holder(dir.path(), 8001, true), None, "udp tables are others");
    }

    #[test]
    fn a_taken_port_is_reported_with_its_holder() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let e = check_free(IpAddr::V4(Ipv4Addr::LOCALHOST), port, false).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "listen tcp 127.0.0.1:{port}: bind: address already in use; it is held by "
            )),
            "{e}"
        );
        // The holder is this process, or a child another test forks (holding the socket until
        // its exec): either way, this uid.
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        assert!(e.contains("(pid ") && e.ends_with(&format!(", uid {uid})")), "{e}");
        drop(held);
        let deadline = Instant::now() + Duration::from_secs(5);
        while check_free(IpAddr::V4(Ipv4Addr::LOCALHOST), port, false).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(check_free(IpAddr::V4(Ipv4Addr::LOCALHOST), port, false), Ok(()));
    }

    #[test]
    fn a_taken_port_is_replaced_only_when_asked() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = held.local_addr().unwrap().port();
        let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let want =
            |key: &str, port: u16, auto: bool| HostPort { key: key.into(), ip, port, udp: false, auto };
        // Free ports stay as they are; a taken one is refused, naming it.
        assert_eq!(settle(vec![want("a", free, false)], PortChoice::Asked), Ok(vec![]));
        let refused = settle(vec![want("a", taken, false)], PortChoice::Asked).unwrap_err();
        assert!(
            refused.starts_with(&format!("listen tcp 127.0.0.1:{taken}: bind: address already in use")),
            "{refused}"
        );
        // --auto-port, or the plug's attribute: a free port instead, another for each.
        for (choice, auto) in [(PortChoice::FreeWhenTaken, false), (PortChoice::Asked, true)] {
            let given = settle(vec![want("a", taken, auto), want("b", taken, auto)], choice).unwrap();
            let ports: Vec<u16> = given.iter().map(|(_, p)| *p).collect();
            assert_eq!(given.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a", "b"]);
            assert!(ports[0] != taken && ports[1] != taken && ports[0] != ports[1], "{ports:?}");
            assert!(ports.iter().all(|&p| p >= 1024));
        }
        // One free port asked for twice in one request: the second gets another.
        let given = settle(vec![want("a", free, false), want("b", free, true)], PortChoice::Asked).unwrap();
        assert!(given.len() == 1 && given[0].0 == "b" && given[0].1 != free, "{given:?}");
        let refused =
            settle(vec![want("a", free, false), want("b", free, false)], PortChoice::Asked).unwrap_err();
        assert!(refused.contains("asked for twice"), "{refused}");
        // A fork's tunnels: free ports, even for a port that is free now.
        let given = settle(vec![want("a", free, false)], PortChoice::AlwaysFree).unwrap();
        assert!(given.len() == 1 && given[0].1 != free, "{given:?}");
        drop(held);
    }
}
