//! Request plumbing: the [`Client`] handle, URL building, LXD response envelopes and ETags.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use awc::error::{ConnectError, SendRequestError, WsClientError};
use awc::http::header::{HeaderMap, HeaderName, HeaderValue};
use awc::http::{Method, StatusCode};
use bytes::Bytes;
use futures_util::stream::LocalBoxStream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{LxdError, Result, Unreachable};
use super::operations::Operation;
use super::server::ServerInfo;
use super::transport::Endpoint;

/// Largest response body read into memory (file pulls, logs, listings).
const MAX_BODY: usize = 1 << 31;
/// Largest websocket frame accepted (events can carry whole instance configs).
const MAX_WS_FRAME: usize = 16 << 20;

/// A typed LXD REST client. Cheap to clone (shares one connection pool); not `Send`: use it on
/// one arbiter. A clone made with [`Client::project`] scopes project-level calls to that project.
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
    project: Option<Rc<str>>,
}

struct Inner {
    http: awc::Client,
    endpoint: Endpoint,
    base: String,
    server: RefCell<Option<Rc<ServerInfo>>>,
}

impl Client {
    /// A client for `endpoint`. Nothing is sent until the first call.
    pub fn new(endpoint: Endpoint) -> Result<Self> {
        let http = endpoint.http_client()?;
        let base = endpoint.base_url();
        Ok(Self { inner: Rc::new(Inner { http, endpoint, base, server: RefCell::new(None) }), project: None })
    }

    /// A client for the local Unix socket (see [`super::transport::discover_socket`]).
    pub fn local() -> Result<Self> {
        Self::new(Endpoint::local())
    }

    /// A clone whose project-level calls carry `?project=<name>`.
    pub fn project(&self, name: &str) -> Self {
        Self { inner: self.inner.clone(), project: Some(Rc::from(name)) }
    }

    /// A clone without project scope (LXD's `default` project).
    pub fn unscoped(&self) -> Self {
        Self { inner: self.inner.clone(), project: None }
    }

    /// The project this client is scoped to, if any.
    pub fn project_name(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// Where this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// Fails with [`LxdError::Invalid`] when the server lacks an API extension a call needs
    /// (instead of the server silently ignoring the unknown field or parameter).
    pub(crate) async fn require_extension(&self, name: &str, what: &str) -> Result<()> {
        if self.has_extension(name).await? {
            Ok(())
        } else {
            Err(LxdError::Invalid(format!(
                "{what} needs the LXD API extension {name:?}, which this server lacks"
            )))
        }
    }

    pub(crate) fn cached_server(&self) -> Option<Rc<ServerInfo>> {
        self.inner.server.borrow().clone()
    }

    pub(crate) fn cache_server(&self, info: Rc<ServerInfo>) {
        *self.inner.server.borrow_mut() = Some(info);
    }

    /// Full URL of a request.
    fn url(&self, req: &Req) -> String {
        let project = if req.scoped { self.project.as_deref() } else { None };
        format!("{}{}", self.inner.base, path_and_query(&req.path, &req.query, project))
    }

    /// Sends a request and reads the whole answer.
    pub(crate) async fn send_raw(&self, req: Req) -> Result<RawResponse> {
        let url = self.url(&req);
        tracing::trace!(method = %req.method, url = %url, "lxd request");
        let mut builder = self.inner.http.request(req.method.clone(), url);
        if let Some(etag) = &req.etag {
            builder = builder.insert_header(("If-Match", etag.as_str()));
        }
        for (name, value) in &req.headers {
            let value = HeaderValue::from_str(value)
                .map_err(|_| LxdError::Invalid(format!("bad value for header {name}: {value:?}")))?;
            builder = builder.insert_header((name.clone(), value));
        }
        let sent = match req.body {
            Body::Empty => builder.send().await,
            Body::Json(bytes) => builder.content_type("application/json").send_body(bytes).await,
            Body::Bytes { content_type, data } => builder.content_type(content_type).send_body(data).await,
            Body::Stream { content_type, len, stream } => {
                builder.content_type(content_type).send_body(awc::body::SizedStream::new(len, stream)).await
            }
        };
        let mut response = sent.map_err(|e| self.send_error(e))?;
        let status = response.status();
        let headers = response.headers().clone();
        if !req.read_body && status.is_success() {
            return Ok(RawResponse { status, headers, body: Bytes::new() });
        }
        let body = response
            .body()
            .limit(MAX_BODY)
            .await
            .map_err(|e| LxdError::Io(io::Error::other(format!("reading response: {e}"))))?;
        Ok(RawResponse { status, headers, body })
    }

    /// Sends a request whose answer is an envelope (sync or async).
    pub(crate) async fn call(&self, req: Req) -> Result<Reply> {
        let raw = self.send_raw(req).await?;
        let etag = raw.etag();
        match parse_envelope(raw.status.as_u16(), &raw.body)? {
            Envelope::Sync(metadata) => Ok(Reply::Sync { metadata, etag }),
            Envelope::Async(op) => Ok(Reply::Async(*op)),
        }
    }

    /// Sends a request expecting a sync answer and decodes its metadata.
    pub(crate) async fn sync<T: DeserializeOwned>(&self, req: Req) -> Result<T> {
        Ok(self.sync_etag(req).await?.0)
    }

    /// Like [`Client::sync`], also returning the ETag header (empty when absent).
    pub(crate) async fn sync_etag<T: DeserializeOwned>(&self, req: Req) -> Result<(T, String)> {
        match self.call(req).await? {
            Reply::Sync { metadata, etag } => Ok((decode(metadata)?, etag.unwrap_or_default())),
            Reply::Async(op) => {
                Err(LxdError::Decode(format!("expected a sync response, got operation {}", op.id)))
            }
        }
    }

    /// Sends a request and, when LXD answers with a background operation, waits for it.
    /// Returns the finished operation (None for a sync answer).
    pub(crate) async fn run(&self, req: Req) -> Result<Option<Operation>> {
        match self.call(req).await? {
            Reply::Sync { .. } => Ok(None),
            Reply::Async(op) => Ok(Some(self.wait_operation(&op.id).await?)),
        }
    }

    /// Opens a websocket on an API path (with its query already in `req`).
    pub(crate) async fn websocket(
        &self,
        req: Req,
    ) -> Result<
        impl futures_util::Stream<Item = Result<awc::ws::Frame, actix_http::ws::ProtocolError>>
        + futures_util::Sink<awc::ws::Message, Error = actix_http::ws::ProtocolError>
        + Unpin
        + 'static,
    > {
        let url = self.url(&req);
        tracing::trace!(url = %url, "lxd websocket");
        let (_, framed) =
            self.inner.http.ws(url).max_frame_size(MAX_WS_FRAME).connect().await.map_err(|e| match e {
                WsClientError::SendRequest(e) => self.send_error(e),
                WsClientError::InvalidResponseStatus(status) => {
                    LxdError::from_status(status.as_u16(), format!("websocket upgrade refused: {status}"))
                }
                other => LxdError::Websocket(other.to_string()),
            })?;
        Ok(framed)
    }

    fn send_error(&self, err: SendRequestError) -> LxdError {
        let socket = self.inner.endpoint.describe();
        match err {
            SendRequestError::Connect(ConnectError::Io(e)) => {
                LxdError::Unreachable { socket, reason: Unreachable::from_io(&e) }
            }
            SendRequestError::Connect(ConnectError::Timeout) => {
                LxdError::Unreachable { socket, reason: Unreachable::Timeout }
            }
            SendRequestError::Connect(other) => {
                LxdError::Unreachable { socket, reason: Unreachable::Other(other.to_string()) }
            }
            SendRequestError::Send(e) => LxdError::Io(e),
            other => LxdError::Io(io::Error::other(other.to_string())),
        }
    }
}

/// Decodes envelope metadata into a typed value.
pub(crate) fn decode<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| LxdError::Decode(e.to_string()))
}

/// A whole HTTP answer.
pub(crate) struct RawResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl RawResponse {
    /// The ETag header, verbatim (LXD quotes it; it accepts it back as is).
    pub(crate) fn etag(&self) -> Option<String> {
        self.header("etag")
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// Turns a non-2xx answer into an error (parsing the error envelope when there is one).
    pub(crate) fn error_for_status(self) -> Result<Self> {
        if self.status.is_success() {
            return Ok(self);
        }
        match parse_envelope(self.status.as_u16(), &self.body) {
            Err(e) => Err(e),
            Ok(_) => Err(LxdError::from_status(self.status.as_u16(), String::from_utf8_lossy(&self.body))),
        }
    }
}

/// What LXD answered to a request.
pub(crate) enum Reply {
    /// Done; metadata and ETag.
    Sync { metadata: Value, etag: Option<String> },
    /// A background operation was created.
    Async(Operation),
}

/// A decoded envelope.
#[derive(Debug)]
pub(crate) enum Envelope {
    Sync(Value),
    Async(Box<Operation>),
}

#[derive(serde::Deserialize)]
struct RawEnvelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_code: u16,
    #[serde(default)]
    metadata: Value,
}

/// Parses an LXD envelope: `{"type": "sync"|"async"|"error", ...}`.
pub(crate) fn parse_envelope(http_status: u16, body: &[u8]) -> Result<Envelope> {
    let envelope: RawEnvelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(_) if http_status >= 400 => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            let text = if text.is_empty() { format!("HTTP {http_status}") } else { text };
            return Err(LxdError::from_status(http_status, text));
        }
        Err(e) => return Err(LxdError::Decode(format!("not an LXD response ({e})"))),
    };
    match envelope.kind.as_str() {
        "error" => {
            let status = if envelope.error_code != 0 { envelope.error_code } else { http_status };
            Err(LxdError::from_status(status, envelope.error))
        }
        "sync" if http_status < 400 => Ok(Envelope::Sync(envelope.metadata)),
        "async" if http_status < 400 => Ok(Envelope::Async(Box::new(decode(envelope.metadata)?))),
        _ => Err(LxdError::from_status(http_status, envelope.error)),
    }
}

/// Request body.
pub(crate) enum Body {
    Empty,
    Json(Bytes),
    Bytes { content_type: String, data: Bytes },
    Stream { content_type: String, len: u64, stream: LocalBoxStream<'static, Result<Bytes, io::Error>> },
}

/// Data to upload: in memory, or a file streamed from disk.
#[derive(Debug, Clone)]
pub enum Upload {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A file, read in chunks while sending.
    File(std::path::PathBuf),
}

/// Size of the chunks files are read in.
const UPLOAD_CHUNK: usize = 256 * 1024;

impl Upload {
    /// Length and a stream of the contents.
    pub(crate) async fn open(self) -> Result<(u64, LocalBoxStream<'static, Result<Bytes, io::Error>>)> {
        use futures_util::StreamExt as _;
        match self {
            Self::Bytes(data) => {
                let len = data.len() as u64;
                Ok((len, futures_util::stream::once(async move { Ok(data) }).boxed_local()))
            }
            Self::File(path) => {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                let len = file.metadata().await?.len();
                let stream = futures_util::stream::try_unfold(file, |mut file| async move {
                    use tokio::io::AsyncReadExt as _;
                    let mut buf = bytes::BytesMut::with_capacity(UPLOAD_CHUNK);
                    let n = file.read_buf(&mut buf).await?;
                    Ok((n > 0).then(|| (buf.freeze(), file)))
                });
                Ok((len, stream.boxed_local()))
            }
        }
    }
}

/// One request to build.
pub(crate) struct Req {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    scoped: bool,
    etag: Option<String>,
    headers: Vec<(HeaderName, String)>,
    body: Body,
    /// Read the body of a successful answer (not: only its status and headers matter).
    read_body: bool,
}

impl Req {
    /// A request on `path` (already encoded, see [`api_path`]); project-scoped by default.
    pub(crate) fn new(method: Method, path: String) -> Self {
        Self {
            method,
            path,
            query: Vec::new(),
            scoped: true,
            etag: None,
            headers: Vec::new(),
            body: Body::Empty,
            read_body: true,
        }
    }

    pub(crate) fn get(path: String) -> Self {
        Self::new(Method::GET, path)
    }

    pub(crate) fn post(path: String) -> Self {
        Self::new(Method::POST, path)
    }

    pub(crate) fn put(path: String) -> Self {
        Self::new(Method::PUT, path)
    }

    pub(crate) fn patch(path: String) -> Self {
        Self::new(Method::PATCH, path)
    }

    pub(crate) fn delete(path: String) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// Adds a query parameter (encoded when the URL is built).
    pub(crate) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    /// For server-wide endpoints: never add `?project=`.
    pub(crate) fn unscoped(mut self) -> Self {
        self.scoped = false;
        self
    }

    /// Sends `If-Match` when the ETag is not empty.
    pub(crate) fn if_match(mut self, etag: &str) -> Self {
        if !etag.is_empty() {
            self.etag = Some(etag.to_owned());
        }
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((HeaderName::from_static(name), value.into()));
        self
    }

    pub(crate) fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|e| LxdError::Invalid(e.to_string()))?;
        self.body = Body::Json(Bytes::from(bytes));
        Ok(self)
    }

    pub(crate) fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Leaves the body of a successful answer unread (it may be as large as what the
    /// instance holds); error answers are still read for their message.
    pub(crate) fn without_body(mut self) -> Self {
        self.read_body = false;
        self
    }
}

/// What [`encode`] escapes: everything but RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes one path segment or query value (RFC 3986 unreserved characters pass).
pub(crate) fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

/// `/1.0/<seg>/<seg>...` with each segment encoded.
pub(crate) fn api_path(segments: &[&str]) -> String {
    let mut path = String::from("/1.0");
    for segment in segments {
        path.push('/');
        path.push_str(&encode(segment));
    }
    path
}

/// Joins an encoded path with its query (and the project, when scoped).
fn path_and_query(path: &str, query: &[(&'static str, String)], project: Option<&str>) -> String {
    let mut url = path.to_owned();
    let mut sep = if path.contains('?') { '&' } else { '?' };
    let project = project.map(|p| ("project", p.to_owned()));
    for (key, value) in query.iter().cloned().chain(project) {
        url.push(sep);
        url.push_str(key);
        url.push('=');
        url.push_str(&encode(&value));
        sep = '&';
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded() {
        assert_eq!(api_path(&["instances", "a b/c", "snapshots"]), "/1.0/instances/a%20b%2Fc/snapshots");
        assert_eq!(api_path(&[]), "/1.0");
        assert_eq!(encode("ubuntu@22.04"), "ubuntu%4022.04");
    }

    #[test]
    fn query_and_project() {
        let q = vec![("recursion", "1".to_owned()), ("filter", "status eq Running".to_owned())];
        assert_eq!(
            path_and_query("/1.0/instances", &q, Some("workshop.alice")),
            "/1.0/instances?recursion=1&filter=status%20eq%20Running&project=workshop.alice"
        );
        assert_eq!(path_and_query("/1.0", &[], None), "/1.0");
        assert_eq!(path_and_query("/1.0/x?a=1", &[], Some("p")), "/1.0/x?a=1&project=p");
    }

    #[test]
    fn sync_envelope() {
        let body = br#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"a":1}}"#;
        match parse_envelope(200, body).unwrap() {
            Envelope::Sync(v) => assert_eq!(v["a"], 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn async_envelope() {
        let body = br#"{"type":"async","status":"Operation created","status_code":100,"operation":"/1.0/operations/abc",
            "metadata":{"id":"abc","class":"task","description":"Creating instance","status":"Running","status_code":103,
            "resources":{"instances":["/1.0/instances/x"]},"metadata":null,"may_cancel":false,"err":"","location":"none","extra":1}}"#;
        match parse_envelope(202, body).unwrap() {
            Envelope::Async(op) => {
                assert_eq!(op.id, "abc");
                assert_eq!(op.status_code, 103);
                assert!(!op.is_done());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_envelopes_keep_lxd_text() {
        let body = br#"{"type":"error","status":"","status_code":0,"operation":"","error_code":404,"error":"Instance not found","metadata":null}"#;
        let err = parse_envelope(404, body).unwrap_err();
        assert!(matches!(&err, LxdError::NotFound(m) if m == "Instance not found"));

        let body = br#"{"type":"error","error_code":412,"error":"ETag doesn't match: abc vs def"}"#;
        assert!(parse_envelope(412, body).unwrap_err().is_precondition_failed());

        let err = parse_envelope(502, b"Bad Gateway").unwrap_err();
        assert!(matches!(&err, LxdError::Api { status: 502, message } if message == "Bad Gateway"));

        assert!(matches!(parse_envelope(200, b"<html>").unwrap_err(), LxdError::Decode(_)));
    }
}
