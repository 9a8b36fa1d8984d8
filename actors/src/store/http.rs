//! Requests to the Store over awc: JSON calls with bounded answers and deadlines, and
//! downloads streamed to a sink with an idle timeout. Redirects are followed (downloads may be
//! served elsewhere; what they bring is checked against the digest the Store announced).

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use awc::error::{ConnectError, PayloadError, SendRequestError};
use awc::http::StatusCode;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::{Limits, StoreConfig};
use super::error::{StoreError, sanitized};
use super::wire::ErrorList;

/// Where system CA certificates are usually found (Debian and Ubuntu first).
const CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// An HTTP client of one Store. Not `Send`: it lives on one arbiter.
pub(crate) struct Http {
    client: awc::Client,
    base: String,
    limits: Limits,
    /// Why HTTPS cannot work (no CA certificates), if it cannot.
    tls_problem: Option<String>,
}

/// A streamed answer: its declared length, if any, and its body.
pub(crate) struct Streamed {
    pub content_length: Option<u64>,
    response: awc::ClientResponse,
}

impl Http {
    pub fn new(config: &StoreConfig) -> Self {
        let (tls, tls_problem) = tls_config();
        let connector = awc::Connector::new()
            .rustls_0_23(Arc::new(tls))
            .timeout(config.limits.connect_timeout)
            .handshake_timeout(config.limits.connect_timeout);
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(config.limits.request_timeout)
            .add_default_header(("User-Agent", format!("workshopd/{}", workshop_api::VERSION)))
            .finish();
        let tls_problem = tls_problem.filter(|_| config.url.starts_with("https:"));
        Self { client, base: config.url.clone(), limits: config.limits, tls_problem }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `GET <base><path>` and its JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, what: &str, path: &str) -> Result<T, StoreError> {
        self.json(what, self.client.get(self.url(path)), None).await
    }

    /// `POST <base><path>` with a JSON body, and its JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        body: &B,
    ) -> Result<T, StoreError> {
        let body = serde_json::to_vec(body).map_err(|e| StoreError::Invalid {
            what: what.into(),
            why: format!("cannot encode request: {e}"),
        })?;
        self.json(what, self.client.post(self.url(path)), Some(body)).await
    }

    /// `GET <base><path>` answered 200, for streaming with [`Http::next_chunk`].
    pub async fn stream(&self, what: &str, path: &str) -> Result<Streamed, StoreError> {
        self.check_tls(what)?;
        let response = self.client.get(self.url(path)).send().await.map_err(|e| self.send_error(what, e))?;
        let status = response.status();
        if status != StatusCode::OK {
            let mut response = response;
            let body =
                read_limited(&mut response, 64 << 10, self.limits.request_timeout).await.unwrap_or_default();
            return Err(status_error(what, status, &body));
        }
        Ok(Streamed { content_length: content_length(&response), response })
    }

    /// The next chunk of a streamed answer; `None` at its end. A pause longer than the idle
    /// timeout is an error.
    pub async fn next_chunk(&self, what: &str, streamed: &mut Streamed) -> Result<Option<Bytes>, StoreError> {
        let idle = self.limits.idle_timeout;
        match tokio::time::timeout(idle, streamed.response.next()).await {
            Err(_) => Err(StoreError::TimedOut { what: what.into(), after: idle }),
            Ok(None) => Ok(None),
            Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
            Ok(Some(Err(e))) => Err(payload_error(what, e)),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn check_tls(&self, what: &str) -> Result<(), StoreError> {
        match &self.tls_problem {
            Some(why) => {
                Err(StoreError::Unreachable { what: what.into(), url: self.base.clone(), why: why.clone() })
            }
            None => Ok(()),
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        what: &str,
        request: awc::ClientRequest,
        body: Option<Vec<u8>>,
    ) -> Result<T, StoreError> {
        self.check_tls(what)?;
        let timeout = self.limits.request_timeout;
        let request = request.insert_header(("Accept", "application/json"));
        let call = async {
            let sent = match body {
                Some(body) => request.content_type("application/json").send_body(body).await,
                None => request.send().await,
            };
            let mut response = sent.map_err(|e| self.send_error(what, e))?;
            let body =
                read_limited(&mut response, self.limits.max_json, timeout).await.map_err(|e| match e {
                    PayloadError::Overflow => {
                        StoreError::TooLarge { what: what.into(), limit: self.limits.max_json as u64 }
                    }
                    PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => {
                        StoreError::TimedOut { what: what.into(), after: timeout }
                    }
                    e => payload_error(what, e),
                })?;
            let status = response.status();
            if !status.is_success() {
                return Err(status_error(what, status, &body));
            }
            if let Some(announced) = content_length(&response)
                && announced != body.len() as u64
            {
                let why = format!("the answer is {} bytes, its Content-Length says {announced}", body.len());
                return Err(StoreError::Invalid { what: what.into(), why });
            }
            serde_json::from_slice(&body)
                .map_err(|e| StoreError::Invalid { what: what.into(), why: sanitized(&e.to_string()) })
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::TimedOut { what: what.into(), after: timeout }),
        }
    }

    fn send_error(&self, what: &str, error: SendRequestError) -> StoreError {
        let why = match error {
            SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
                return StoreError::TimedOut { what: what.into(), after: self.limits.request_timeout };
            }
            SendRequestError::Connect(ConnectError::Io(e)) | SendRequestError::Send(e) => {
                workshop_api::os_error::reason(&e)
            }
            SendRequestError::Connect(ConnectError::Resolver(e)) => {
                format!("cannot resolve the host name: {e}")
            }
            SendRequestError::Connect(ConnectError::NoRecords) => "the host name has no address".into(),
            other => sanitized(&other.to_string()),
        };
        StoreError::Unreachable { what: what.into(), url: self.base.clone(), why }
    }
}

/// The `Content-Length` an answer announces.
fn content_length(response: &awc::ClientResponse) -> Option<u64> {
    response
        .headers()
        .get(awc::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads a whole answer of at most `limit` bytes within `timeout`.
async fn read_limited(
    response: &mut awc::ClientResponse,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, PayloadError> {
    match tokio::time::timeout(timeout, response.body().limit(limit)).await {
        Ok(body) => body,
        Err(_) => Err(PayloadError::Io(io::Error::new(io::ErrorKind::TimedOut, "timed out"))),
    }
}

fn payload_error(what: &str, error: PayloadError) -> StoreError {
    let why = match error {
        PayloadError::Incomplete(_) => {
            "the answer ended early (shorter than its announced length)".to_string()
        }
        PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => {
            "timed out while reading the answer".into()
        }
        PayloadError::Io(e) => workshop_api::os_error::reason(&e),
        other => sanitized(&other.to_string()),
    };
    StoreError::Invalid { what: what.into(), why }
}

/// An error status with the Store's own message when its body has one.
fn status_error(what: &str, status: StatusCode, body: &[u8]) -> StoreError {
    let message = serde_json::from_slice::<ErrorList>(body)
        .ok()
        .and_then(|list| list.errors.into_iter().map(|e| e.message).find(|m| !m.trim().is_empty()))
        .map(|m| sanitized(&m));
    StoreError::Status { what: what.into(), status: status.as_u16(), message }
}

/// TLS with the system's CA certificates (`$SSL_CERT_FILE`, else the usual bundle paths); when
/// none are found, a configuration that trusts nothing and the reason why.
fn tls_config() -> (rustls::ClientConfig, Option<String>) {
    let env = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty());
    let candidates: Vec<&Path> = match &env {
        Some(file) => vec![Path::new(file)],
        None => CA_BUNDLES.iter().map(Path::new).collect(),
    };
    tls_config_from(&candidates)
}

/// [`tls_config`] with the CA certificates of the first of `candidates` that has any.
fn tls_config_from(candidates: &[&Path]) -> (rustls::ClientConfig, Option<String>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for path in candidates {
        let Ok(pem) = std::fs::read(path) else { continue };
        for cert in rustls_pemfile::certs(&mut &pem[..]).flatten() {
            let _ = roots.add(cert);
        }
        if !roots.is_empty() {
            break;
        }
    }
    let problem = roots.is_empty().then(|| {
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        format!(
            "no CA certificates found (looked in {}; SSL_CERT_FILE names another file)",
            looked.join(", ")
        )
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions");
    let mut config = builder.with_root_certificates(roots).with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (config, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_carry_the_stores_message() {
        let body = br#"{"error-list":[{"code":"resource-not-found","message":"No SDK named \"x\""}]}"#;
        let e = status_error("get information on \"x\"", StatusCode::NOT_FOUND, body);
        assert_eq!(
            e.to_string(),
            r#"cannot get information on "x": the SDK Store answered 404: No SDK named "x""#
        );
        let e = status_error("find SDKs", StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(e.to_string(), "cannot find SDKs: the SDK Store answered 502");
    }

    #[test]
    fn ca_certificates_come_from_the_first_bundle_that_has_some() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here").unwrap();
        let (_, problem) = tls_config_from(&[&empty, &tmp.path().join("missing.pem")]);
        let problem = problem.unwrap();
        assert!(problem.starts_with("no CA certificates found (looked in "), "{problem}");
        assert!(problem.contains("empty.pem, ") && problem.contains("missing.pem;"), "{problem}");
        let system = Path::new(CA_BUNDLES[0]);
        if system.exists() {
            assert!(tls_config_from(&[&empty, system]).1.is_none());
        }
    }

    #[actix_rt::test]
    async fn https_without_ca_certificates_says_so_before_connecting() {
        let config = StoreConfig::new("https://127.0.0.1:1", "test", Path::new("/nonexistent")).unwrap();
        let mut http = Http::new(&config);
        http.tls_problem = Some("no CA certificates found (looked in /x)".into());
        let e = http.get_json::<serde_json::Value>("find SDKs", "/v2/sdks/find").await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot find SDKs: cannot reach the SDK Store at https://127.0.0.1:1: no CA certificates found (looked in /x)"
        );
    }

    #[test]
    fn os_errors_read_like_ours() {
        assert_eq!(
            workshop_api::os_error::reason(&io::Error::from_raw_os_error(libc::ECONNREFUSED)),
            "connection refused"
        );
    }
}
