//! Tunnel throughput against the real LXD: 1 GiB sent from the host to a TCP service inside a
//! workshop through a tunnel connection (host plug, guest slot), next to the same transfer
//! through a plain LXD proxy device of a raw instance, in the same run (issue 13: target
//! ratio of throughputs ≥ 0.9). The receiver inside reads until the sender closes, then
//! closes: a transfer is timed until the host sees that close, so every byte arrived.
//! Needs root and the test user of scripts/test-all.sh.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use workshop_integration::Project;
use workshop_integration::bench::{RawInstance, WAIT_SYSTEMD, lxc, median, timed};

const RUNS: usize = 3;
const CHUNK: usize = 1 << 20;
const CHUNKS: usize = 1024;
/// The port the receiver listens on inside.
const GUEST_PORT: u16 = 9000;

/// A receiver that reads each connection to its end and closes it.
fn sink_script() -> String {
    format!(
        "import socket\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', {GUEST_PORT}))\n\
         s.listen(4)\n\
         while True:\n\
         \x20   c, _ = s.accept()\n\
         \x20   while c.recv(1 << 20):\n\
         \x20       pass\n\
         \x20   c.close()\n"
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Sends 1 GiB to `127.0.0.1:port` and waits for the receiver's close; retries the
/// connection for a while, as the receiver inside may still be starting.
fn transfer(port: u16) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(30);
    let buf = vec![0x5a_u8; CHUNK];
    loop {
        let started = Instant::now();
        let sent = TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            for _ in 0..CHUNKS {
                s.write_all(&buf)?;
            }
            s.shutdown(Shutdown::Write)?;
            let mut rest = Vec::new();
            s.read_to_end(&mut rest)?;
            Ok(())
        });
        match sent {
            Ok(()) => return started.elapsed(),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => panic!("cannot send to 127.0.0.1:{port}: {e}"),
        }
    }
}

fn mib_per_s(d: Duration) -> f64 {
    (CHUNK * CHUNKS) as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn main() {
    let Some((user, d)) = workshop_integration::bench::start("workshop-bench") else { return };
    let p = Project::new(&user, "bench-tunnels");
    let port = free_port();
    p.write(
        "workshop.yaml",
        &format!(
            "name: t0\nbase: ubuntu@22.04\nsdks:\n  - name: project-sink\n  - name: system\n    plugs:\n      sink:\n        interface: tunnel\n        endpoint: 127.0.0.1:{port}\nconnections:\n  - plug: system:sink\n    slot: sink:tcp\n"
        ),
    );
    p.write(
        ".workshop/sink/sdk.yaml",
        &format!("name: sink\nslots:\n  tcp:\n    interface: tunnel\n    endpoint: {GUEST_PORT}\n"),
    );
    p.write("sink.py", &sink_script());
    let w = |args: &[&str]| d.cli_as(Some(&user), &p.path, args, &[]);
    w(&["launch"]).ok();
    w(&["exec", "--", "systemd-run", "--user", "--", "python3", "/project/sink.py"]).ok();

    let raw_name = format!("wst-bench-tunnel-{}", std::process::id());
    let _raw = RawInstance(raw_name.clone());
    let raw_port = free_port();
    lxc(&["launch", "ubuntu@22.04", &raw_name]);
    lxc(&["exec", &raw_name, "--", "sh", "-c", WAIT_SYSTEMD]);
    lxc(&[
        "file",
        "push",
        &p.path.join("sink.py").display().to_string(),
        &format!("{raw_name}/root/sink.py"),
    ]);
    lxc(&["exec", &raw_name, "--", "systemd-run", "--", "python3", "/root/sink.py"]);
    let listen = format!("listen=tcp:127.0.0.1:{raw_port}");
    let connect = format!("connect=tcp:127.0.0.1:{GUEST_PORT}");
    lxc(&["config", "device", "add", &raw_name, "sink", "proxy", &listen, &connect]);

    // One transfer each first, so both receivers are up and caches are warm.
    transfer(port);
    transfer(raw_port);
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ours.push(timed(|| {
            transfer(port);
        }));
        raw.push(timed(|| {
            transfer(raw_port);
        }));
    }
    let (o, r) = (mib_per_s(median(ours)), mib_per_s(median(raw)));
    println!(
        "workshop-bench tunnel-throughput-1GiB (target >= 0.90) ours_mib_s={o:.0} lxc_mib_s={r:.0} ratio={:.2}",
        o / r
    );
    w(&["remove"]).ok();
}
