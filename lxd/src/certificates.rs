//! Trusted client certificates (`/1.0/certificates`).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{Client, Req, api_path};
use super::error::{LxdError, Result};
use super::serde_util::null_default;

/// A trusted certificate.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Certificate {
    /// SHA-256 fingerprint (hex).
    #[serde(default)]
    pub fingerprint: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// `client` or `server` (older servers also `metrics`).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// PEM certificate.
    #[serde(default)]
    pub certificate: String,
    /// Whether it is restricted to `projects`.
    #[serde(default)]
    pub restricted: bool,
    /// Projects it may use when restricted.
    #[serde(default, deserialize_with = "null_default")]
    pub projects: Vec<String>,
}

#[derive(Serialize)]
struct CertificatesPost<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    certificate: String,
    restricted: bool,
    projects: &'a [String],
}

impl Client {
    /// All trusted certificates.
    pub async fn list_certificates(&self) -> Result<Vec<Certificate>> {
        self.sync(Req::get(api_path(&["certificates"])).unscoped().query("recursion", "1")).await
    }

    /// Trusts a client certificate (PEM); `projects` non-empty restricts it to those projects.
    pub async fn add_client_certificate(
        &self,
        name: &str,
        cert_pem: &[u8],
        projects: &[String],
    ) -> Result<()> {
        let der = rustls_pemfile::certs(&mut &cert_pem[..])
            .next()
            .ok_or_else(|| LxdError::Invalid("no certificate in PEM".into()))?
            .map_err(|e| LxdError::Invalid(format!("bad certificate PEM: {e}")))?;
        let body = CertificatesPost {
            name,
            kind: "client",
            certificate: base64::engine::general_purpose::STANDARD.encode(der.as_ref()),
            restricted: !projects.is_empty(),
            projects,
        };
        self.sync::<Value>(Req::post(api_path(&["certificates"])).unscoped().json(&body)?).await.map(drop)
    }

    /// Removes a trusted certificate by fingerprint.
    pub async fn delete_certificate(&self, fingerprint: &str) -> Result<()> {
        self.sync::<Value>(Req::delete(api_path(&["certificates", fingerprint])).unscoped()).await.map(drop)
    }
}
