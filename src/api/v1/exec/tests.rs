//! The exec routes over a real unix socket, driven by the CLI's client library, with the
//! daemon's actors on the fake backend.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use workshop_actors::backend::fake::FakeBackend;
use workshop_actors::backend::{Backend, CreateSpec, Target};
use workshop_actors::daemon::Daemon;
use workshop_api::exec::{ExecControl, ExecRequest};
use workshop_client::Client;
use workshop_client::exec::{self as client_exec, Outgoing};

use crate::api;
use crate::api::connections::Connections;
use crate::api::peer;

/// A daemon on the fake backend serving the v1 API on a unix socket, with one running
/// workshop `ws` in a tracked project.
pub(in crate::api::v1) struct Server {
    _tmp: tempfile::TempDir,
    pub daemon: Daemon,
    pub fake: Rc<FakeBackend>,
    pub socket: PathBuf,
    pub project_id: String,
    /// The server's open connections.
    pub connections: Connections,
    /// The server's change waits.
    pub waits: crate::api::v1::Waits,
}

pub(in crate::api::v1) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

pub(in crate::api::v1) async fn server() -> Server {
    server_with(Rc::new(FakeBackend::default())).await
}

/// [`server`] on `fake`.
pub(in crate::api::v1) async fn server_with(fake: Rc<FakeBackend>) -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let project = root.join("project");
    std::fs::create_dir_all(project.join(".workshop")).unwrap();
    std::fs::write(project.join(".workshop/ws.yaml"), "name: ws\nbase: ubuntu@22.04\n").unwrap();
    let connections = Connections::default();
    let (daemon, socket, waits) = api::test_server(&root, fake.clone(), connections.clone());

    let client = Client::new(&socket);
    let tracked = blocking(move || client.track_project(&project)).await.unwrap();
    // SAFETY: a plain getter.
    let user = peer::user_entry(unsafe { libc::geteuid() }).unwrap().0;
    let target = Target::new(&user, &tracked.id, "ws");
    Backend::create(fake.as_ref(), &target, &CreateSpec::default()).await.unwrap();
    Backend::start(fake.as_ref(), &target).await.unwrap();
    Server { _tmp: tmp, daemon, fake, socket, project_id: tracked.id, connections, waits }
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// What the CLI saw of one exec: exit code (or change error), stdout, stderr.
struct Outcome {
    code: Result<i32, String>,
    stdout: String,
    stderr: String,
}

/// Runs an exec the way `workshop exec` does; `control` is sent once the streams are open.
async fn run(
    s: &Server,
    request: ExecRequest,
    stdin: &'static [u8],
    control: Option<ExecControl>,
) -> Outcome {
    let (socket, project_id) = (s.socket.clone(), s.project_id.clone());
    blocking(move || {
        let client = Client::new(&socket);
        let (change, task) = client.exec(&project_id, "ws", &request).unwrap();
        let (out, err) = (Sink::default(), Sink::default());
        let streams = client
            .open_exec_streams(&task, request.interactive, Box::new(out.clone()), Box::new(err.clone()))
            .unwrap();
        if let Some(c) = control {
            streams.control.send(Outgoing::Control(c));
        }
        if !stdin.is_empty() {
            streams.stdio.send(Outgoing::Data(stdin.to_vec()));
        }
        streams.stdio.send(Outgoing::Eof);
        let info = client.wait_change(&change, Some(Duration::from_secs(10))).unwrap();
        streams.wait_output(Duration::from_secs(3));
        Outcome {
            code: client_exec::exit_code(&info).map_err(|e| e.to_string()),
            stdout: out.text(),
            stderr: err.text(),
        }
    })
    .await
}

fn request(command: &[&str]) -> ExecRequest {
    ExecRequest { command: command.iter().map(|s| s.to_string()).collect(), ..ExecRequest::default() }
}

#[actix_web::test]
async fn output_input_and_exit_codes_cross_the_websockets() {
    let s = server().await;
    let seen = run(&s, request(&["cat"]), b"hello", None).await;
    assert_eq!((seen.code, seen.stdout.as_str()), (Ok(0), "hello"));

    let seen = run(&s, request(&["bash", "-c", "stderr", "oops"]), b"", None).await;
    assert_eq!((seen.stdout.as_str(), seen.stderr.as_str()), ("", "oops"));

    let seen = run(&s, request(&["bash", "exit", "125"]), b"", None).await;
    assert_eq!(seen.code, Ok(125));

    let mut pty = request(&["cat"]);
    pty.interactive = true;
    pty.width = 100;
    pty.height = 30;
    let seen = run(&s, pty, b"typed", None).await;
    assert_eq!((seen.code, seen.stdout.as_str()), (Ok(0), "typed"));

    let seen = run(&s, request(&["sleep", "60"]), b"", Some(ExecControl::signal(libc::SIGTERM))).await;
    assert_eq!(seen.code, Ok(128 + libc::SIGTERM));

    let mut timed = request(&["sleep", "60"]);
    timed.timeout = "300ms".into();
    let seen = run(&s, timed, b"", None).await;
    assert!(seen.code.unwrap_err().ends_with("(timed out after 300ms: context deadline exceeded)"));
}

/// A raw HTTP/1.1 exchange: (status, body).
pub(in crate::api::v1) fn http(socket: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(socket).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, response.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

#[actix_web::test]
async fn bad_requests_and_unknown_websockets_are_refused() {
    let s = server().await;
    let (socket, pid) = (s.socket.clone(), s.project_id.clone());
    blocking(move || {
        let exec = format!("/v1/projects/{pid}/workshops/ws/exec");
        let (status, body) = http(&socket, "POST", &exec, r#"{"command":["true"],"terminal":true}"#);
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(r#"\"terminal\" is not supported"#), "{body}");
        let (status, body) = http(&socket, "POST", &exec, r#"{"command":["true"],"user-id":0}"#);
        assert_eq!(status, 400, "{body}");
        let (status, body) = http(
            &socket,
            "POST",
            &format!("/v1/projects/{pid}/workshops/nope/exec"),
            r#"{"command":["true"]}"#,
        );
        assert_eq!(status, 404, "{body}");
        assert!(body.contains(r#"\"nope\""#), "{body}");
        let (status, body) = http(&socket, "POST", &exec, r#"{"command":["true"]}"#);
        assert_eq!(status, 202, "{body}");
        assert!(body.contains(r#""task-id""#), "{body}");

        let client = Client::new(&socket);
        let err = client.exec_websocket("999", "stdio").unwrap_err().to_string();
        assert!(err.contains("cannot find exec task \"999\""), "{err}");
        let (_, task) = client.exec(&pid, "ws", &request(&["true"])).unwrap();
        let err = client.exec_websocket(&task, "bogus").unwrap_err().to_string();
        assert!(err.contains("cannot find websocket \"bogus\""), "{err}");
        let _stdio = client.exec_websocket(&task, "stdio").unwrap();
        let err = client.exec_websocket(&task, "stdio").unwrap_err().to_string();
        assert!(err.contains("stdio websocket already connected"), "{err}");
    })
    .await;
}

#[actix_web::test]
async fn a_client_faster_than_the_command_is_left_unread() {
    let s = server().await;
    let (socket, project_id) = (s.socket.clone(), s.project_id.clone());
    let sent = blocking(move || {
        let client = Client::new(&socket);
        let (_, task) = client.exec(&project_id, "ws", &request(&["sleep", "60"])).unwrap();
        let mut stdio = client.exec_websocket(&task, "stdio").unwrap();
        let _stdout = client.exec_websocket(&task, "stdout").unwrap();
        let _stderr = client.exec_websocket(&task, "stderr").unwrap();
        // The command never reads its input: once the daemon's bounded queues are full, it
        // stops reading the websocket and the client's writes block.
        stdio.get_ref().set_write_timeout(Some(Duration::from_millis(500))).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < 32 << 20 && stdio.send(tungstenite::Message::Binary(chunk.clone().into())).is_ok() {
            sent += chunk.len();
        }
        sent
    })
    .await;
    // The bound: the daemon's queues, its HTTP read buffers and the socket's kernel buffers.
    assert!(sent < 4 << 20, "the daemon took {sent} bytes of input the command did not read");
}

#[actix_web::test]
async fn request_bodies_and_websocket_frames_are_bounded() {
    let s = server().await;
    let (socket, project_id) = (s.socket.clone(), s.project_id.clone());
    blocking(move || {
        // A body past the JSON limit (8 MiB) is refused while it is still arriving: the
        // daemon answers before the client has finished instead of collecting it all.
        let mut stream = UnixStream::connect(&socket).unwrap();
        write!(
            stream,
            "POST /v1/projects/{project_id}/workshops/ws/exec HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .unwrap();
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..10 {
            write!(stream, "{:x}\r\n", chunk.len()).unwrap();
            stream.write_all(&chunk).unwrap();
            stream.write_all(b"\r\n").unwrap();
        }
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut response = Vec::new();
        let mut buf = [0; 4096];
        while !String::from_utf8_lossy(&response).contains("exceeded limit (8388608 bytes)") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
        }
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        assert!(response.contains("exceeded limit (8388608 bytes)"), "{response}");

        // A websocket frame over 1 MiB ends the stream; the command never sees it.
        let client = Client::new(&socket);
        let (change, task) = client.exec(&project_id, "ws", &request(&["cat"])).unwrap();
        let mut stdio = client.exec_websocket(&task, "stdio").unwrap();
        let out = Sink::default();
        let stdout = client_exec::Pump::spawn(client.exec_websocket(&task, "stdout").unwrap(), Some(Box::new(out.clone())))
            .unwrap();
        let _stderr = client.exec_websocket(&task, "stderr").unwrap();
        let _ = stdio.send(tungstenite::Message::Binary(vec![b'x'; 2 << 20].into()));
        let info = client.wait_change(&change, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(client_exec::exit_code(&info), Ok(0), "the oversized frame was the end of input");
        stdout.wait(Duration::from_secs(3));
        assert_eq!(out.text(), "");
    })
    .await;
}

#[actix_web::test]
async fn an_exec_websocket_is_an_open_connection_until_it_closes() {
    let s = server().await;
    let (socket, project_id, connections) = (s.socket.clone(), s.project_id.clone(), s.connections.clone());
    blocking(move || {
        let client = Client::new(&socket);
        let (change, task) = client.exec(&project_id, "ws", &request(&["cat"])).unwrap();
        let streams = client
            .open_exec_streams(&task, false, Box::new(Sink::default()), Box::new(Sink::default()))
            .unwrap();
        // The exec request is answered; its stdio and control websockets stay open.
        assert!(connections.count() >= 2, "{} open", connections.count());
        streams.stdio.send(Outgoing::Eof);
        client.wait_change(&change, Some(Duration::from_secs(10))).unwrap();
        streams.wait_output(Duration::from_secs(3));
        drop(streams);
        drop(client);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while connections.count() > 0 {
            assert!(std::time::Instant::now() < deadline, "{} still open", connections.count());
            std::thread::sleep(Duration::from_millis(10));
        }
    })
    .await;
}
