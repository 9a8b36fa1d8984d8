//! How bytes reach LXD: its Unix socket (local) or HTTPS with a client certificate and a pinned
//! server certificate (remote). Both give an `awc::Client` with one persistent connection pool.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_rt::net::UnixStream;
use actix_service::Service;
use actix_tls::connect::{ConnectError, ConnectInfo, Connection};
use awc::http::Uri;
use futures_util::future::LocalBoxFuture;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::error::{LxdError, Result};

/// Snap's socket path, used when it exists.
const SNAP_SOCKET: &str = "/var/snap/lxd/common/lxd/unix.socket";
/// Debian's (and a source build's) socket path.
const DEFAULT_SOCKET: &str = "/var/lib/lxd/unix.socket";
/// Connecting (and the TLS handshake) must not take longer than this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where LXD listens.
#[derive(Clone)]
pub enum Endpoint {
    /// The local Unix socket.
    Unix(PathBuf),
    /// A remote LXD over HTTPS (`https://host:port`), authenticated by a client certificate.
    Https {
        /// Base URL without path, e.g. `https://127.0.0.1:8443`.
        url: String,
        /// Client certificate/key and the server certificate to pin.
        identity: TlsIdentity,
    },
}

impl Endpoint {
    /// The local socket found by [`discover_socket`].
    pub fn local() -> Self {
        Self::Unix(discover_socket())
    }

    /// Human-readable location (socket path or URL) for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Unix(path) => path.display().to_string(),
            Self::Https { url, .. } => url.clone(),
        }
    }

    /// Base URL requests are built on (the host part is ignored for the Unix socket).
    pub(crate) fn base_url(&self) -> String {
        match self {
            Self::Unix(_) => "http://lxd".to_owned(),
            Self::Https { url, .. } => url.trim_end_matches('/').to_owned(),
        }
    }

    /// Builds the HTTP client for this endpoint.
    pub(crate) fn http_client(&self) -> Result<awc::Client> {
        // HTTP/1.1 comes from the ALPN list of the TLS config (and plain HTTP on the socket);
        // the builder's `max_http_version` would replace the TLS config.
        let builder = awc::Client::builder().disable_timeout().disable_redirects();
        match self {
            Self::Unix(path) => {
                let connector = awc::Connector::new()
                    .connector(UnixConnector { path: Rc::from(path.as_path()) })
                    .timeout(CONNECT_TIMEOUT);
                Ok(builder.connector(connector).finish())
            }
            Self::Https { identity, .. } => {
                let config = identity.client_config()?;
                let connector = awc::Connector::new()
                    .rustls_0_23(Arc::new(config))
                    .timeout(CONNECT_TIMEOUT)
                    .handshake_timeout(CONNECT_TIMEOUT);
                Ok(builder.connector(connector).finish())
            }
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Finds LXD's Unix socket: `$LXD_SOCKET`, else `$LXD_DIR/unix.socket`, else the snap's socket
/// if it exists, else `/var/lib/lxd/unix.socket`.
pub fn discover_socket() -> PathBuf {
    discover_socket_with(|name| std::env::var_os(name), |path| path.exists())
}

fn discover_socket_with(env: impl Fn(&str) -> Option<OsString>, exists: impl Fn(&Path) -> bool) -> PathBuf {
    if let Some(socket) = env("LXD_SOCKET").filter(|v| !v.is_empty()) {
        return PathBuf::from(socket);
    }
    if let Some(dir) = env("LXD_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("unix.socket");
    }
    let snap = Path::new(SNAP_SOCKET);
    if exists(snap) {
        return snap.to_path_buf();
    }
    PathBuf::from(DEFAULT_SOCKET)
}

/// awc connector service that opens a Unix stream to a fixed socket, whatever the URL says.
#[derive(Clone)]
struct UnixConnector {
    path: Rc<Path>,
}

impl Service<ConnectInfo<Uri>> for UnixConnector {
    type Response = Connection<Uri, UnixStream>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    actix_service::always_ready!();

    fn call(&self, req: ConnectInfo<Uri>) -> Self::Future {
        let path = self.path.clone();
        let uri = req.request().clone();
        Box::pin(async move {
            let stream = UnixStream::connect(&*path).await.map_err(ConnectError::Io)?;
            Ok(Connection::new(uri, stream))
        })
    }
}

/// TLS material for a remote LXD: the client certificate LXD trusts, its key, and LXD's own
/// (self-signed) server certificate, which is pinned: exactly that certificate is accepted.
#[derive(Clone)]
pub struct TlsIdentity {
    /// Client certificate chain, PEM.
    pub client_cert_pem: Vec<u8>,
    /// Client private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub client_key_pem: Vec<u8>,
    /// The server's certificate, PEM.
    pub server_cert_pem: Vec<u8>,
}

impl TlsIdentity {
    /// rustls client configuration: client auth plus the pinned-certificate verifier, HTTP/1.1 only
    /// (websockets need it).
    fn client_config(&self) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = parse_certs(&self.client_cert_pem, "client certificate")?;
        let key = parse_key(&self.client_key_pem)?;
        let server = parse_certs(&self.server_cert_pem, "server certificate")?
            .into_iter()
            .next()
            .ok_or_else(|| LxdError::Tls("server certificate: no certificate in PEM".into()))?;
        let verifier =
            PinnedServerCert { cert: server, algorithms: provider.signature_verification_algorithms };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| LxdError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(chain, key)
            .map_err(|e| LxdError::Tls(format!("client certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsIdentity { .. }")
    }
}

fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LxdError::Tls(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(LxdError::Tls(format!("{what}: no certificate in PEM")));
    }
    Ok(certs)
}

fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| LxdError::Tls(format!("client key: {e}")))?
        .ok_or_else(|| LxdError::Tls("client key: no private key in PEM".into()))
}

/// Accepts exactly one server certificate (LXD's are self-signed, so there is no chain to check);
/// handshake signatures are still verified against it.
#[derive(Debug)]
struct PinnedServerCert {
    cert: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServerCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn discover(vars: &[(&str, &str)], snap_exists: bool) -> PathBuf {
        let vars: HashMap<String, OsString> =
            vars.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        discover_socket_with(|name| vars.get(name).cloned(), |_| snap_exists)
    }

    #[test]
    fn socket_discovery_order() {
        assert_eq!(discover(&[("LXD_SOCKET", "/tmp/s"), ("LXD_DIR", "/d")], true), PathBuf::from("/tmp/s"));
        assert_eq!(discover(&[("LXD_DIR", "/d")], true), PathBuf::from("/d/unix.socket"));
        assert_eq!(discover(&[("LXD_SOCKET", "")], true), PathBuf::from(SNAP_SOCKET));
        assert_eq!(discover(&[], false), PathBuf::from(DEFAULT_SOCKET));
    }

    #[test]
    fn bad_pem_is_a_tls_error() {
        let identity = TlsIdentity {
            client_cert_pem: b"nope".to_vec(),
            client_key_pem: b"nope".to_vec(),
            server_cert_pem: b"nope".to_vec(),
        };
        let err = identity.client_config().unwrap_err();
        assert!(matches!(err, LxdError::Tls(_)), "{err}");
        assert_eq!(err.to_string(), "cannot set up TLS for LXD: client certificate: no certificate in PEM");
    }

    #[test]
    fn endpoint_urls() {
        assert_eq!(Endpoint::Unix("/x".into()).base_url(), "http://lxd");
        let identity =
            TlsIdentity { client_cert_pem: vec![], client_key_pem: vec![], server_cert_pem: vec![] };
        let https = Endpoint::Https { url: "https://127.0.0.1:8443/".into(), identity };
        assert_eq!(https.base_url(), "https://127.0.0.1:8443");
        assert_eq!(https.describe(), "https://127.0.0.1:8443/");
    }
}
