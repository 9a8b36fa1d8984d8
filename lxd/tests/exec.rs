//! Exec: separate stdout/stderr, exit codes, environment, cwd, uid/gid, stdin with EOF,
//! signals, and a pty with window resize.

use std::time::Duration;

use futures_util::StreamExt as _;
use lxd_client::{ExecRequest, OutputStream};

use crate::common::{self, Cleanup};

/// Reads the pty until `needle` shows up; an error (with what was read) if the pty ends or
/// 15 s pass first.
async fn read_until(output: &mut OutputStream, seen: &mut Vec<u8>, needle: &str) -> Result<(), String> {
    let found = tokio::time::timeout(Duration::from_secs(15), async {
        while !String::from_utf8_lossy(seen).contains(needle) {
            match output.next().await {
                Some(chunk) => seen.extend_from_slice(&chunk.map_err(|e| e.to_string())?),
                None => return Err("pty closed".to_owned()),
            }
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|_| Err("timed out".to_owned()));
    found.map_err(|e| format!("{e} before {needle:?}; read {:?}", String::from_utf8_lossy(seen)))
}

#[actix_rt::test]
async fn exec_streams_codes_signals_pty() {
    let Some(lxd) = common::lxd() else { return };
    let cleanup = Cleanup::new();
    let (project, lxd) = common::project(&lxd, &cleanup, "exec").await;
    let name = common::name("exec");
    common::launch(&lxd, &cleanup, &project, &name).await;

    let out = lxd
        .exec_output(&name, &ExecRequest::new(["sh", "-c", "echo out; echo err >&2; exit 3"]))
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.stdout.as_slice(), out.stderr.as_slice()),
        (3, &b"out\n"[..], &b"err\n"[..])
    );

    // Short commands, many times: no run may lose its output (LXD 5.0 drops it when a
    // client closes sockets early or connects them out of order).
    let hello = ExecRequest::new(["echo", "hello"]);
    for run in 0..30 {
        let out = lxd.exec_output(&name, &hello).await.unwrap();
        assert_eq!((out.exit_code, out.stdout.as_slice()), (0, &b"hello\n"[..]), "run {run}");
    }

    let env = ExecRequest::new(["sh", "-c", "echo \"$WST_VAR\""]).env("WST_VAR", "hello world");
    assert_eq!(lxd.exec_output(&name, &env).await.unwrap().stdout, b"hello world\n");

    let who = ExecRequest::new(["sh", "-c", "pwd; id -u; id -g"]).user(1000, 1000).cwd("/tmp");
    let out = lxd.exec_output(&name, &who).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/tmp\n1000\n1000\n");

    // Large output in both streams arrives complete.
    let big = ExecRequest::new(["sh", "-c", "head -c 3000000 /dev/zero; head -c 1000000 /dev/zero >&2"]);
    let out = lxd.exec_output(&name, &big).await.unwrap();
    assert_eq!((out.stdout.len(), out.stderr.len()), (3_000_000, 1_000_000));

    // stdin, then EOF.
    let mut session = lxd.exec(&name, &ExecRequest::new(["cat"])).await.unwrap();
    let mut stdin = session.take_stdin().unwrap();
    let stdout = session.take_stdout().unwrap();
    stdin.write(&b"abc"[..]).await.unwrap();
    stdin.write(&b"def"[..]).await.unwrap();
    stdin.close().await.unwrap();
    assert_eq!(stdout.read_to_end().await.unwrap(), b"abcdef");
    assert_eq!(session.wait().await.unwrap(), 0);

    // A signal through the control socket.
    let mut session = lxd.exec(&name, &ExecRequest::new(["sleep", "60"])).await.unwrap();
    let stdout = session.take_stdout().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let running = lxd.get_operation(session.operation_id()).await.unwrap();
    assert_eq!((running.status.as_str(), running.class.as_str()), ("Running", "websocket"));
    session.control().signal(15).await.unwrap();
    let code =
        tokio::time::timeout(Duration::from_secs(20), session.wait()).await.expect("signal ignored").unwrap();
    assert_eq!(code, 128 + 15);
    assert!(stdout.read_to_end().await.unwrap().is_empty());

    // A pty: size, resize, input echo, exit code.
    // LXD 5.0 may drop pty output written just before the command exits (it stops reading
    // the pty once the process is gone), so the script lingers a moment.
    // The resize (control socket) and the input (stdin socket) are not ordered with respect
    // to each other, so after the input the script waits for the new size to show.
    let script = "stty size; read line; for _ in $(seq 1 50); do s=$(stty size); [ \"$s\" = '30 100' ] && break; \
                  sleep 0.1; done; echo \"$s\"; echo \"got $line\"; sleep 0.5; exit 7";
    let mut session = lxd.exec(&name, &ExecRequest::new(["sh", "-c", script]).pty(80, 24)).await.unwrap();
    assert!(session.take_stderr().is_none());
    let mut stdin = session.take_stdin().unwrap();
    let mut pty = session.take_stdout().unwrap();
    let mut seen = Vec::new();
    let mut step = read_until(&mut pty, &mut seen, "24 80").await;
    if step.is_ok() {
        session.control().resize(100, 30).await.unwrap();
        stdin.write(&b"go\n"[..]).await.unwrap();
        step = read_until(&mut pty, &mut seen, "got go").await;
    }
    if let Err(e) = step {
        panic!("{e}; the session ended with {:?}", session.wait().await);
    }
    let rest =
        tokio::time::timeout(Duration::from_secs(15), pty.read_to_end()).await.expect("pty never ended");
    seen.extend(rest.unwrap());
    assert!(String::from_utf8_lossy(&seen).contains("30 100"), "{:?}", String::from_utf8_lossy(&seen));
    let code =
        tokio::time::timeout(Duration::from_secs(15), session.wait()).await.expect("pty session never ended");
    assert_eq!(code.unwrap(), 7);
    drop(stdin);

    let missing = lxd.exec_output(&name, &ExecRequest::new(["/no/such/command"])).await.unwrap();
    assert_eq!(missing.exit_code, 127);
}
