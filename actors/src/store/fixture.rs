//! A fixture SDK Store for tests: a small HTTP/1.1 server on loopback that speaks the Store's
//! protocol (see `wire.rs`) over `.sdk` archives the tests build and publish (tar archives
//! with `meta/sdk.yaml`, `sdk/hooks/<hook>` and a payload, kept in a temporary directory), and
//! that can be told to misbehave on one route ([`Fault`]). Plain threads and std sockets, so
//! that the integration tests can start one beside a real daemon.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use workshop_api::definition::Channel;

use super::archive::sha3_384_hex;

/// An SDK revision to publish.
#[derive(Debug, Clone)]
pub struct FixtureSdk {
    pub name: String,
    pub revision: u64,
    pub version: String,
    pub summary: String,
    /// Full channel, e.g. `latest/stable`.
    pub channel: String,
    /// `ubuntu@24.04`, or `None` for every base.
    pub base: Option<String>,
    /// A Debian architecture or `all`.
    pub arch: String,
    /// `sdk/hooks/<name>` scripts.
    pub hooks: Vec<(String, String)>,
    /// Payload files at the archive's root.
    pub files: Vec<(String, Vec<u8>)>,
}

impl FixtureSdk {
    /// Revision `revision` of `name` in `latest/stable` for every base and architecture, with
    /// a `setup-base` hook and a payload file.
    pub fn new(name: &str, revision: u64) -> Self {
        Self {
            name: name.into(),
            revision,
            version: format!("1.{revision}"),
            summary: format!("The {name} SDK"),
            channel: "latest/stable".into(),
            base: None,
            arch: "all".into(),
            hooks: vec![("setup-base".into(), "#!/bin/bash\necho set up\n".into())],
            files: vec![("README".into(), format!("{name} revision {revision}\n").into_bytes())],
        }
    }

    pub fn channel(mut self, channel: &str) -> Self {
        self.channel = Channel::parse(channel).expect("a valid channel").full();
        self
    }

    pub fn platform(mut self, base: Option<&str>, arch: &str) -> Self {
        self.base = base.map(str::to_string);
        self.arch = arch.into();
        self
    }

    /// The `.sdk` archive: a tar of `meta/sdk.yaml`, the hooks and the payload.
    pub fn archive(&self) -> Vec<u8> {
        let mut yaml = format!(
            "name: {}\nversion: '{}'\nsummary: {}\narchitecture: {}\nsdkcraft-started-at: 2024-11-20T00:00:00+00:00\n",
            self.name, self.version, self.summary, self.arch
        );
        if let Some(base) = &self.base {
            yaml.push_str(&format!("base: {base}\n"));
        }
        let mut entries: Vec<(String, Vec<u8>, u32)> =
            vec![("meta/sdk.yaml".into(), yaml.into_bytes(), 0o644)];
        for (hook, script) in &self.hooks {
            entries.push((format!("sdk/hooks/{hook}"), script.clone().into_bytes(), 0o755));
        }
        for (path, content) in &self.files {
            entries.push((path.clone(), content.clone(), 0o644));
        }
        entries.sort();
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content, mode) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(mode);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, &content[..]).expect("tar in memory");
        }
        builder.into_inner().expect("tar in memory")
    }

    fn package_id(&self) -> String {
        package_id(&self.name)
    }
}

fn package_id(name: &str) -> String {
    format!("id{}", &sha3_384_hex(name.as_bytes())[..16])
}

/// What the Store announces of a published revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub package_id: String,
    pub sha3_384: String,
    pub size: u64,
}

/// The routes of the fixture store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Resolve,
    Download,
    Find,
    Info,
}

/// Ways the fixture store misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An endless answer (chunked, cut after 64 MiB).
    Huge,
    /// JSON that does not parse.
    Malformed,
    /// Announces a length and sends half of it.
    Short,
    /// Sends more than the archive, chunked (without announcing a length).
    Long,
    /// The archive with one byte changed (same length).
    Corrupt,
    /// The headers, half the body, then nothing for this long.
    Stall(Duration),
    /// This status, with an error list.
    Status(u16),
}

struct Release {
    sdk: FixtureSdk,
    published: Published,
}

#[derive(Default)]
struct State {
    releases: Vec<Release>,
    faults: HashMap<Route, Fault>,
    requests: Vec<String>,
    bodies: Vec<String>,
}

/// A running fixture store; stopped when dropped.
pub struct FixtureStore {
    port: u16,
    dir: tempfile::TempDir,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FixtureStore {
    /// Starts serving on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local address").port();
        let dir = tempfile::Builder::new().prefix("wst-store-").tempdir().expect("temp dir");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, files) = (state.clone(), stop.clone(), dir.path().to_path_buf());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Acquire) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, files) = (s.clone(), files.clone());
                std::thread::spawn(move || serve(conn, &s, &files));
            }
        });
        Self { port, dir, state, stop, thread: Some(thread) }
    }

    /// The base URL to give the daemon (`WORKSHOP_STORE_URL`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Publishes a revision: its archive is written to the store's directory.
    pub fn publish(&self, sdk: FixtureSdk) -> Published {
        let archive = sdk.archive();
        let published = Published {
            package_id: sdk.package_id(),
            sha3_384: sha3_384_hex(&archive),
            size: archive.len() as u64,
        };
        std::fs::write(self.dir.path().join(file_name(&published.package_id, sdk.revision)), &archive)
            .unwrap();
        self.lock().releases.push(Release { sdk, published: published.clone() });
        published
    }

    /// Makes `route` misbehave (or behave again, with `None`).
    pub fn fault(&self, route: Route, fault: Option<Fault>) {
        let mut state = self.lock();
        match fault {
            Some(f) => state.faults.insert(route, f),
            None => state.faults.remove(&route),
        };
    }

    /// The requests served so far, as `METHOD target`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    /// The bodies of the resolve requests served so far.
    pub fn resolve_bodies(&self) -> Vec<Value> {
        self.lock().bodies.iter().filter_map(|b| serde_json::from_str(b).ok()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FixtureStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn file_name(package_id: &str, revision: u64) -> String {
    format!("{package_id}_{revision}.sdk")
}

fn platform_of(sdk: &FixtureSdk) -> Value {
    match &sdk.base {
        Some(base) => {
            let (name, channel) = base.split_once('@').unwrap_or((base, ""));
            json!({"name": name, "channel": channel, "architecture": sdk.arch})
        }
        None => json!({"name": "all", "channel": "all", "architecture": sdk.arch}),
    }
}

fn channel_of(sdk: &FixtureSdk) -> Value {
    let (track, risk) = sdk.channel.split_once('/').unwrap_or(("latest", "stable"));
    json!({"name": sdk.channel, "track": track, "risk": risk, "effective-channel": sdk.channel,
           "released-at": "2026-03-10T23:48:34.474879", "platform": platform_of(sdk)})
}

fn revision_of(release: &Release) -> Value {
    json!({"revision": release.sdk.revision, "version": release.sdk.version, "created-at": "2026-03-10T23:45:32.474879",
           "download": {"size": release.published.size, "sha3-384": release.published.sha3_384,
                        "url": format!("/api/v1/sdks/download/{}", file_name(&release.published.package_id, release.sdk.revision))},
           "sdk-yaml": {"sdkcraft-started-at": "2024-11-20T00:00:00+00:00", "website": format!("https://example.com/{}", release.sdk.name)}})
}

fn metadata_of(sdk: &FixtureSdk) -> Value {
    json!({"summary": sdk.summary, "description": format!("{}.\nMade for tests.", sdk.summary), "license": "GPL-3.0-only",
           "publisher": {"id": "pub1", "username": "workshop-tests", "display-name": "Workshop Tests", "validation": "verified"}})
}

struct Request {
    method: String,
    target: String,
    body: Vec<u8>,
}

fn read_request(conn: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    conn.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if conn.read_line(&mut header).ok()? == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length.min(8 << 20)];
    conn.read_exact(&mut body).ok()?;
    Some(Request { method, target, body })
}

fn serve(conn: TcpStream, state: &Mutex<State>, files: &std::path::Path) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let Some(request) = read_request(&mut reader) else { return };
    let mut conn = conn;
    let path = request.target.split('?').next().unwrap_or_default().to_string();
    let query = request.target.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default();
    let (route, answer) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.requests.push(format!("{} {}", request.method, request.target));
        match (request.method.as_str(), path.as_str()) {
            ("POST", "/v2/revisions/resolve") => {
                s.bodies.push(String::from_utf8_lossy(&request.body).into_owned());
                (Some(Route::Resolve), resolve(&s, &request.body))
            }
            ("GET", "/v2/sdks/find") => (Some(Route::Find), find(&s, &query)),
            ("GET", p) if p.starts_with("/v2/sdks/info/") => {
                (Some(Route::Info), info(&s, &p["/v2/sdks/info/".len()..]))
            }
            ("GET", p) if p.starts_with("/api/v1/sdks/download/") => {
                let name = &p["/api/v1/sdks/download/".len()..];
                let known =
                    s.releases.iter().any(|r| file_name(&r.published.package_id, r.sdk.revision) == name);
                let body = if known { std::fs::read(files.join(name)).ok() } else { None };
                (
                    Some(Route::Download),
                    body.map(|b| (200, b)).unwrap_or_else(|| not_found("no such download")),
                )
            }
            _ => (None, not_found("no such endpoint")),
        }
    };
    let fault = route.and_then(|r| state.lock().unwrap_or_else(|e| e.into_inner()).faults.get(&r).copied());
    let _ = respond(&mut conn, answer, fault);
}

fn respond(
    conn: &mut TcpStream,
    (status, body): (u16, Vec<u8>),
    fault: Option<Fault>,
) -> std::io::Result<()> {
    let head = |status: u16, length: usize| {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        )
    };
    match fault {
        None => {
            conn.write_all(head(status, body.len()).as_bytes())?;
            conn.write_all(&body)
        }
        Some(Fault::Huge) => {
            conn.write_all(chunked_head(200).as_bytes())?;
            write_chunk(conn, b"{\"results\":[")?;
            let block = vec![b' '; 1 << 16];
            for _ in 0..1024 {
                write_chunk(conn, &block)?;
            }
            write_chunk(conn, b"")
        }
        Some(Fault::Malformed) => {
            let body = b"{\"package-results\": [ {\"instance-key\": ";
            conn.write_all(head(200, body.len()).as_bytes())?;
            conn.write_all(body)
        }
        Some(Fault::Short) => {
            conn.write_all(head(status, body.len()).as_bytes())?;
            conn.write_all(&body[..body.len() / 2])
        }
        Some(Fault::Long) => {
            conn.write_all(chunked_head(status).as_bytes())?;
            write_chunk(conn, &body)?;
            write_chunk(conn, b"and some more bytes")?;
            write_chunk(conn, b"")
        }
        Some(Fault::Corrupt) => {
            let mut body = body;
            if let Some(last) = body.last_mut() {
                *last ^= 0xff;
            }
            conn.write_all(head(status, body.len()).as_bytes())?;
            conn.write_all(&body)
        }
        Some(Fault::Stall(pause)) => {
            conn.write_all(head(status, body.len()).as_bytes())?;
            conn.write_all(&body[..body.len() / 2])?;
            conn.flush()?;
            std::thread::sleep(pause);
            conn.write_all(&body[body.len() / 2..])
        }
        Some(Fault::Status(code)) => {
            let body =
                json!({"error-list": [{"code": "fault", "message": format!("fault {code} injected")}]})
                    .to_string();
            conn.write_all(head(code, body.len()).as_bytes())?;
            conn.write_all(body.as_bytes())
        }
    }
}

fn chunked_head(status: u16) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
}

/// One chunk of a chunked body; the empty one ends it.
fn write_chunk(conn: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    conn.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
    conn.write_all(data)?;
    conn.write_all(b"\r\n")
}

fn not_found(message: &str) -> (u16, Vec<u8>) {
    (
        404,
        json!({"error-list": [{"code": "resource-not-found", "message": message}]}).to_string().into_bytes(),
    )
}

fn resolve(state: &State, body: &[u8]) -> (u16, Vec<u8>) {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return (
            400,
            json!({"error-list": [{"code": "bad-request", "message": "invalid JSON"}]})
                .to_string()
                .into_bytes(),
        );
    };
    let mut results = Vec::new();
    for package in request["packages"].as_array().cloned().unwrap_or_default() {
        let name = package["name"].as_str().unwrap_or_default();
        let key = package["instance-key"].clone();
        let channel = package["channel"].as_str().and_then(|c| Channel::parse(c).ok()).map(|c| c.full());
        let platform = &package["platform"];
        let best = state
            .releases
            .iter()
            .filter(|r| {
                r.sdk.name == name
                    && Some(&r.sdk.channel) == channel.as_ref()
                    && platform_of(&r.sdk) == *platform
            })
            .max_by_key(|r| r.sdk.revision);
        results.push(match best {
            Some(release) => json!({"instance-key": key, "status": "ok", "namespace": "sdk", "name": name,
                                    "id": release.published.package_id,
                                    "result": {"channel": channel_of(&release.sdk), "revision": revision_of(release)}}),
            None if state.releases.iter().any(|r| r.sdk.name == name) => {
                json!({"instance-key": key, "status": "error", "name": name,
                       "error": {"code": "revision-not-found", "message": "No revision was found in the Store."}})
            }
            None => json!({"instance-key": key, "status": "error", "name": name,
                           "error": {"code": "package-not-found", "message": "Package not found"}}),
        });
    }
    (200, json!({"package-results": results, "craft-results": []}).to_string().into_bytes())
}

fn query_value(query: &str, key: &str) -> String {
    let raw = query.split('&').find_map(|kv| kv.strip_prefix(&format!("{key}="))).unwrap_or_default();
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 3 <= bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(state: &State, query: &str) -> (u16, Vec<u8>) {
    let q = query_value(query, "q").to_lowercase();
    let mut names: Vec<&str> = state.releases.iter().map(|r| r.sdk.name.as_str()).collect();
    names.sort();
    names.dedup();
    let results: Vec<Value> = names
        .into_iter()
        .filter(|n| n.contains(&q) || state.releases.iter().any(|r| r.sdk.name == *n && r.sdk.summary.to_lowercase().contains(&q)))
        .filter_map(|n| state.releases.iter().filter(|r| r.sdk.name == n).max_by_key(|r| r.sdk.revision))
        .map(|r| json!({"id": r.published.package_id, "name": r.sdk.name, "result": metadata_of(&r.sdk),
                         "default-release": {"channel": channel_of(&r.sdk), "revision": {"revision": r.sdk.revision, "version": r.sdk.version}}}))
        .collect();
    (200, json!({"results": results}).to_string().into_bytes())
}

fn info(state: &State, name: &str) -> (u16, Vec<u8>) {
    let releases: Vec<&Release> = state.releases.iter().filter(|r| r.sdk.name == name).collect();
    let Some(first) = releases.first() else {
        return not_found(&format!("No SDK named {name:?}"));
    };
    let channel_map: Vec<Value> =
        releases.iter().map(|r| json!({"channel": channel_of(&r.sdk), "revision": revision_of(r)})).collect();
    let answer = json!({"id": first.published.package_id, "name": name, "result": metadata_of(&first.sdk), "channel-map": channel_map});
    (200, answer.to_string().into_bytes())
}
