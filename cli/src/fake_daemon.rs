//! A fake daemon for the client's tests: one canned HTTP response per connection, in order, on
//! a Unix socket, recording what each request was. Not for use outside tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread;

/// What the fake daemon saw of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub request_line: String,
    pub body: String,
}

/// `HTTP/1.1 <status>` with `body` and its length.
pub fn reply(status: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

/// Serves `responses` on a socket bound at `path`, one per connection; the handle gives what
/// each request was once all were served.
pub fn serve(path: &Path, responses: Vec<String>) -> thread::JoinHandle<Vec<Seen>> {
    let listener = UnixListener::bind(path).expect("bind the fake daemon's socket");
    thread::spawn(move || {
        let mut seen = Vec::new();
        for response in responses {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(&stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("request line");
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("header");
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().expect("content length");
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            (&stream).write_all(response.as_bytes()).expect("write the response");
            seen.push(Seen {
                request_line: request_line.trim_end().to_string(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        seen
    })
}
