//! Base images: where they come from (`WORKSHOP_IMAGE_SERVER`) and how a base name becomes an
//! image fingerprint in LXD's default project.

use std::collections::BTreeMap;

use futures_util::FutureExt as _;
use futures_util::future::{LocalBoxFuture, Shared};
use tracing::{debug, info};

use super::{LxdBackend, LxdSetupError};
use crate::backend::{BackendError, BaseImage};
use crate::lxd::{Client, LxdError, RemoteImage};

/// Image property recording which base a copied image is.
const BASE_PROPERTY: &str = "workshop-base";

/// A download shared by everyone resolving the same base meanwhile.
pub(super) type Download = Shared<LocalBoxFuture<'static, Result<BaseImage, BackendError>>>;

/// Where base images come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ImageServer {
    /// Images already in LXD's default project, aliased with the base name (`ubuntu@24.04`).
    #[default]
    Local,
    /// An image server to copy images from into the default project.
    Remote {
        /// `simplestreams` or `lxd`.
        protocol: String,
        /// The server's URL.
        url: String,
    },
}

impl ImageServer {
    /// Parses `local`, `simplestreams:<url>` or `lxd:<url>` (empty means `local`).
    pub fn parse(spec: &str) -> Result<Self, LxdSetupError> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "local" {
            return Ok(Self::Local);
        }
        match spec.split_once(':') {
            Some((protocol @ ("simplestreams" | "lxd"), url)) if url.contains("://") => {
                Ok(Self::Remote { protocol: protocol.to_string(), url: url.to_string() })
            }
            _ => Err(LxdSetupError::ImageServer(spec.to_string())),
        }
    }
}

/// The alias of a base on an image server: the version for Ubuntu (`ubuntu@24.04` → `24.04`,
/// as on Ubuntu's cloud image server), `debian/<version>` for Debian (as on the LXD image
/// servers). None for names that are not `<distribution>@<version>` of a known distribution.
pub(super) fn remote_alias(base: &str) -> Option<String> {
    let (distro, version) = base.split_once('@')?;
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        return None;
    }
    match distro {
        "ubuntu" => Some(version.to_string()),
        "debian" => Some(format!("debian/{version}")),
        _ => None,
    }
}

fn not_found(base: &str, reason: impl Into<String>) -> BackendError {
    BackendError::BaseNotFound { base: base.to_string(), reason: reason.into() }
}

fn base_error(base: &str, e: LxdError) -> BackendError {
    match e {
        LxdError::Unreachable { .. } => BackendError::Unavailable(e.to_string()),
        e => not_found(base, e.to_string()),
    }
}

impl LxdBackend {
    pub(super) async fn resolve_base(&self, base: &str) -> Result<BaseImage, BackendError> {
        let images = self.client.unscoped();
        match &self.config.image_server {
            ImageServer::Local => match images.get_image_alias(base).await {
                Ok(alias) => Ok(BaseImage { name: base.to_string(), fingerprint: alias.target }),
                Err(e) if e.is_not_found() => Err(not_found(
                    base,
                    format!(
                        "LXD has no image alias {base:?} in its default project \
                         (import one, e.g. with scripts/setup-lxd.sh, or set WORKSHOP_IMAGE_SERVER)"
                    ),
                )),
                Err(e) => Err(base_error(base, e)),
            },
            ImageServer::Remote { protocol, url } => {
                let alias = remote_alias(base).ok_or_else(|| not_found(base, "unknown base"))?;
                if let Some(fingerprint) = cached_image(&images, base).await? {
                    return Ok(BaseImage { name: base.to_string(), fingerprint });
                }
                let remote = RemoteImage {
                    server: url.clone(),
                    protocol: protocol.clone(),
                    alias_or_fingerprint: alias,
                    image_type: "container".into(),
                    certificate: String::new(),
                };
                let download = self
                    .downloads
                    .borrow_mut()
                    .entry(base.to_string())
                    .or_insert_with(|| download(images, base.to_string(), remote).boxed_local().shared())
                    .clone();
                let result = download.clone().await;
                let mut downloads = self.downloads.borrow_mut();
                if downloads.get(base).is_some_and(|d| d.ptr_eq(&download)) {
                    downloads.remove(base);
                }
                result
            }
        }
    }
}

/// The newest image of the default project copied earlier for `base`.
async fn cached_image(images: &Client, base: &str) -> Result<Option<String>, BackendError> {
    let list = images.list_images().await.map_err(|e| base_error(base, e))?;
    Ok(list
        .into_iter()
        .filter(|i| i.properties.get(BASE_PROPERTY).map(String::as_str) == Some(base))
        .max_by(|a, b| a.created_at.cmp(&b.created_at))
        .map(|i| i.fingerprint))
}

/// Copies the base's image from the server into the default project, tagged with its base.
async fn download(images: Client, base: String, remote: RemoteImage) -> Result<BaseImage, BackendError> {
    info!(base = %base, server = %remote.server, alias = %remote.alias_or_fingerprint, "downloading base image");
    let properties = BTreeMap::from([(BASE_PROPERTY.to_string(), base.clone())]);
    let fingerprint = images
        .copy_image_from_remote(&remote, &[], &properties, |op| {
            if let Some(progress) = op.metadata_str("download_progress") {
                debug!(base = %base, progress, "downloading base image");
            }
        })
        .await
        .map_err(|e| base_error(&base, e))?;
    info!(base = %base, fingerprint = %fingerprint, "base image downloaded");
    Ok(BaseImage { name: base, fingerprint })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_server_specs() {
        assert_eq!(ImageServer::parse("").unwrap(), ImageServer::Local);
        assert_eq!(ImageServer::parse("local").unwrap(), ImageServer::Local);
        assert_eq!(
            ImageServer::parse("simplestreams:https://cloud-images.ubuntu.com/releases").unwrap(),
            ImageServer::Remote {
                protocol: "simplestreams".into(),
                url: "https://cloud-images.ubuntu.com/releases".into()
            }
        );
        assert_eq!(
            ImageServer::parse("lxd:https://10.0.0.1:8443").unwrap(),
            ImageServer::Remote { protocol: "lxd".into(), url: "https://10.0.0.1:8443".into() }
        );
        for bad in ["ftp:https://x", "simplestreams:", "https://x", "lxd:nourl"] {
            let err = ImageServer::parse(bad).unwrap_err();
            assert!(err.to_string().starts_with("invalid WORKSHOP_IMAGE_SERVER"), "{bad}: {err}");
        }
    }

    #[test]
    fn remote_aliases() {
        assert_eq!(remote_alias("ubuntu@24.04").as_deref(), Some("24.04"));
        assert_eq!(remote_alias("ubuntu@20.04").as_deref(), Some("20.04"));
        assert_eq!(remote_alias("debian@12").as_deref(), Some("debian/12"));
        for bad in ["ubuntu", "ubuntu@", "fedora@40", "ubuntu@24.04/x", "@24.04"] {
            assert_eq!(remote_alias(bad), None, "{bad}");
        }
    }
}
