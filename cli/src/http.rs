//! A minimal HTTP/1.1 client side: writes one request and parses one response.
//!
//! Only what the daemon's Unix socket needs: `Content-Length` and chunked bodies, or a body
//! delimited by the end of the connection (every request is sent with `Connection: close`).

use std::io::{self, BufRead, Read, Write};

/// Largest response body accepted (the verbose change log can hold 10 MiB of hook output).
const MAX_BODY: usize = 64 << 20;
/// Largest status line or header line accepted.
const MAX_LINE: usize = 64 << 10;

/// Why a response could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
}

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names are lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

/// Writes `method target` with an optional JSON body, asking the server to close afterwards.
pub fn write_request<W: Write>(
    out: &mut W,
    method: &str,
    target: &str,
    body: Option<&[u8]>,
    data_home: Option<&str>,
) -> io::Result<()> {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: workshop/{}\r\nAccept: application/json\r\nConnection: close\r\n",
        workshop_api::VERSION
    );
    // Encoded by data_home::from_env: visible ASCII only.
    if let Some(value) = data_home.filter(|v| v.bytes().all(|b| b.is_ascii_graphic())) {
        head.push_str(&format!("{}: {value}\r\n", workshop_api::data_home::HEADER));
    }
    if let Some(body) = body {
        head.push_str("Content-Type: application/json\r\n");
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    } else if method != "GET" {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if let Some(body) = body {
        out.write_all(body)?;
    }
    out.flush()
}

/// Reads one response (status line, headers and body) from `input`.
pub fn read_response<R: BufRead>(input: &mut R) -> Result<Response, HttpError> {
    let status_line = read_line(input)?.ok_or_else(|| malformed("connection closed before a response"))?;
    let status = parse_status_line(&status_line)?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(input)?.ok_or_else(|| malformed("connection closed inside the headers"))?;
        if line.is_empty() {
            break;
        }
        let (name, value) =
            line.split_once(':').ok_or_else(|| malformed(&format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut response = Response { status, headers, body: Vec::new() };
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|te| te.split(',').any(|t| t.trim().eq_ignore_ascii_case("chunked")));
    response.body = if chunked {
        read_chunked(input)?
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| malformed(&format!("bad Content-Length {len:?}")))?;
        if len > MAX_BODY {
            return Err(malformed("response body too large"));
        }
        let mut body = vec![0; len];
        input.read_exact(&mut body)?;
        body
    } else {
        let mut body = Vec::new();
        input.take(MAX_BODY as u64 + 1).read_to_end(&mut body)?;
        if body.len() > MAX_BODY {
            return Err(malformed("response body too large"));
        }
        body
    };
    Ok(response)
}

fn malformed(what: &str) -> HttpError {
    HttpError::Malformed(what.to_string())
}

/// One CRLF- (or LF-) terminated line without its terminator; `None` at a clean end of input.
fn read_line<R: BufRead>(input: &mut R) -> Result<Option<String>, HttpError> {
    let mut raw = Vec::new();
    let n = input.take(MAX_LINE as u64).read_until(b'\n', &mut raw)?;
    if n == 0 {
        return Ok(None);
    }
    if raw.last() != Some(&b'\n') {
        return Err(if n >= MAX_LINE { malformed("line too long") } else { malformed("truncated line") });
    }
    raw.pop();
    if raw.last() == Some(&b'\r') {
        raw.pop();
    }
    String::from_utf8(raw).map(Some).map_err(|_| malformed("line is not UTF-8"))
}

fn parse_status_line(line: &str) -> Result<u16, HttpError> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(malformed(&format!("bad status line {line:?}")));
    }
    parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| malformed(&format!("bad status line {line:?}")))
}

fn read_chunked<R: BufRead>(input: &mut R) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(input)?.ok_or_else(|| malformed("connection closed inside a chunked body"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| malformed(&format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailer fields, up to the empty line.
            while let Some(trailer) = read_line(input)? {
                if trailer.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(malformed("response body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        input.read_exact(&mut body[start..])?;
        let end = read_line(input)?.ok_or_else(|| malformed("connection closed inside a chunked body"))?;
        if !end.is_empty() {
            return Err(malformed("chunk not followed by CRLF"));
        }
    }
}

pub use workshop_api::paths::encode as encode_component;

/// `path?k=v&...` with encoded values; pairs with an empty value are left out.
pub fn with_query(path: &str, query: &[(&str, &str)]) -> String {
    let parts: Vec<String> = query
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect();
    if parts.is_empty() { path.to_string() } else { format!("{path}?{}", parts.join("&")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Response, HttpError> {
        read_response(&mut io::Cursor::new(raw.as_bytes().to_vec()))
    }

    #[test]
    fn request_has_length_and_close() {
        let mut out = Vec::new();
        write_request(&mut out, "POST", "/v1/projects", Some(br#"{"path":"/p"}"#), Some("/d%20h")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("POST /v1/projects HTTP/1.1\r\n"));
        assert!(text.contains("Content-Length: 13\r\n"));
        assert!(text.contains("x-workshop-data-home: /d%20h\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"path\":\"/p\"}"));

        let mut out = Vec::new();
        write_request(&mut out, "GET", "/v1/changes", None, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("Content-Length"));
    }

    #[test]
    fn content_length_body() {
        let r = parse(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n{}\r\nextra",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.body, b"{}\r\n");
    }

    #[test]
    fn chunked_body_with_extension_and_trailer() {
        let r = parse("HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: 1\r\n\r\n")
            .unwrap();
        assert_eq!(r.status, 202);
        assert_eq!(r.body, b"abc0123456789");
    }

    #[test]
    fn body_until_close() {
        let r = parse("HTTP/1.0 404 Not Found\n\nnot here").unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, b"not here");
    }

    #[test]
    fn no_body_for_204() {
        let r = parse("HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert!(r.body.is_empty());
    }

    #[test]
    fn malformed_responses_are_rejected() {
        assert!(matches!(parse(""), Err(HttpError::Malformed(_))));
        assert!(matches!(parse("SSH-2.0\r\n\r\n"), Err(HttpError::Malformed(_))));
        assert!(matches!(parse("HTTP/1.1 abc OK\r\n\r\n"), Err(HttpError::Malformed(_))));
        assert!(matches!(parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), Err(HttpError::Malformed(_))));
        assert!(matches!(
            parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"), Err(HttpError::Io(_))));
    }

    #[test]
    fn query_encoding() {
        assert_eq!(
            with_query("/v1/changes", &[("select", "all"), ("project-id", "")]),
            "/v1/changes?select=all"
        );
        assert_eq!(with_query("/x", &[("timeout", "1m30s"), ("q", "a b/c")]), "/x?timeout=1m30s&q=a%20b%2Fc");
        assert_eq!(with_query("/x", &[]), "/x");
    }
}
