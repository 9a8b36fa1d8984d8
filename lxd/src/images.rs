//! Images and aliases (`/1.0/images`): lookup, import from split tarballs (multipart upload),
//! copy from a remote image server with progress, deletion.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Body, Client, Req, Upload, api_path, encode};
use super::error::{LxdError, Result};
use super::operations::Operation;
use super::serde_util::null_default;

/// An image.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Image {
    /// SHA-256 fingerprint.
    #[serde(default)]
    pub fingerprint: String,
    /// Original file name.
    #[serde(default)]
    pub filename: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Architecture.
    #[serde(default)]
    pub architecture: String,
    /// "container" or "virtual-machine".
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Whether unauthenticated clients may use it.
    #[serde(default)]
    pub public: bool,
    /// Whether it auto-updates.
    #[serde(default)]
    pub auto_update: bool,
    /// Whether it is a cached remote image.
    #[serde(default)]
    pub cached: bool,
    /// Aliases pointing at it.
    #[serde(default, deserialize_with = "null_default")]
    pub aliases: Vec<AliasRef>,
    /// Properties (`os`, `release`, `description`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub properties: BTreeMap<String, String>,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_at: String,
    /// Upload time (RFC 3339).
    #[serde(default)]
    pub uploaded_at: String,
}

/// An alias as listed on an image.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AliasRef {
    /// Alias name.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// An image alias (`/1.0/images/aliases/{name}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageAlias {
    /// Alias name.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Fingerprint it points at.
    #[serde(default)]
    pub target: String,
    /// Image type.
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// Options of an image import.
#[derive(Debug, Clone, Default)]
pub struct ImageImport {
    /// File name to record (default "rootfs.tar").
    pub filename: String,
    /// Make it public.
    pub public: bool,
    /// Properties to set.
    pub properties: BTreeMap<String, String>,
}

/// Which image to copy from a remote image server.
#[derive(Debug, Clone)]
pub struct RemoteImage {
    /// Server URL, e.g. `https://cloud-images.ubuntu.com/releases`.
    pub server: String,
    /// "simplestreams" or "lxd".
    pub protocol: String,
    /// Alias (e.g. "22.04") or fingerprint on that server.
    pub alias_or_fingerprint: String,
    /// "container" or "virtual-machine" (empty: server default).
    pub image_type: String,
    /// PEM certificate of a remote LXD server (protocol "lxd" with a self-signed certificate).
    pub certificate: String,
}

impl Client {
    /// All images.
    pub async fn list_images(&self) -> Result<Vec<Image>> {
        self.sync(Req::get(api_path(&["images"])).query("recursion", "1")).await
    }

    /// One image by fingerprint (a unique prefix works) and its ETag.
    pub async fn get_image(&self, fingerprint: &str) -> Result<(Image, String)> {
        self.sync_etag(Req::get(api_path(&["images", fingerprint]))).await
    }

    /// An alias.
    pub async fn get_image_alias(&self, name: &str) -> Result<ImageAlias> {
        self.sync(Req::get(api_path(&["images", "aliases", name]))).await
    }

    /// Points a new alias at an image.
    pub async fn create_image_alias(&self, name: &str, fingerprint: &str, description: &str) -> Result<()> {
        let body = json!({ "name": name, "target": fingerprint, "description": description });
        self.sync::<Value>(Req::post(api_path(&["images", "aliases"])).json(&body)?).await.map(drop)
    }

    /// Removes an alias (not the image).
    pub async fn delete_image_alias(&self, name: &str) -> Result<()> {
        self.sync::<Value>(Req::delete(api_path(&["images", "aliases", name]))).await.map(drop)
    }

    /// Deletes an image.
    pub async fn delete_image(&self, fingerprint: &str) -> Result<()> {
        self.run(Req::delete(api_path(&["images", fingerprint]))).await.map(drop)
    }

    /// Imports a split image (metadata tarball + rootfs tarball) as one multipart upload and
    /// returns its fingerprint. Importing an image that exists already is a conflict.
    pub async fn import_image(
        &self,
        metadata: Upload,
        rootfs: Upload,
        options: &ImageImport,
    ) -> Result<String> {
        let boundary = format!("lxd-image-{:032x}", rand::random::<u128>());
        let (meta_len, meta) = metadata.open().await?;
        let (rootfs_len, rootfs) = rootfs.open().await?;
        // LXD records the rootfs part's file name as the image's filename.
        let filename = if options.filename.is_empty() { "rootfs.tar" } else { options.filename.as_str() };
        let head = Bytes::from(part_header(&boundary, "metadata", "metadata.tar", true));
        let middle = Bytes::from(part_header(&boundary, "rootfs", filename, false));
        let tail = Bytes::from(format!("\r\n--{boundary}--\r\n"));
        let len = head.len() as u64 + meta_len + middle.len() as u64 + rootfs_len + tail.len() as u64;
        let piece = |b: Bytes| futures_util::stream::once(async move { Ok(b) });
        let stream =
            piece(head).chain(meta).chain(piece(middle)).chain(rootfs).chain(piece(tail)).boxed_local();
        let mut req = Req::post(api_path(&["images"]))
            .header("x-lxd-public", if options.public { "1" } else { "0" })
            .body(Body::Stream {
                content_type: format!("multipart/form-data; boundary={boundary}"),
                len,
                stream,
            });
        if !options.properties.is_empty() {
            req = req.header("x-lxd-properties", form_encode(&options.properties));
        }
        let op = self.run(req).await?.ok_or_else(|| LxdError::Decode("image import: no operation".into()))?;
        fingerprint_of(&op)
    }

    /// Copies an image from a remote image server into this server (`POST /1.0/images` with
    /// a pull source), adding `aliases`; `progress` sees each operation update (its metadata
    /// has `download_progress`). Returns the fingerprint.
    pub async fn copy_image_from_remote(
        &self,
        source: &RemoteImage,
        aliases: &[&str],
        properties: &BTreeMap<String, String>,
        progress: impl FnMut(&Operation),
    ) -> Result<String> {
        let mut src =
            json!({ "type": "image", "mode": "pull", "server": source.server, "protocol": source.protocol });
        let looks_like_fingerprint = source.alias_or_fingerprint.len() >= 12
            && source.alias_or_fingerprint.chars().all(|c| c.is_ascii_hexdigit());
        let key = if looks_like_fingerprint { "fingerprint" } else { "alias" };
        src[key] = json!(source.alias_or_fingerprint);
        if !source.image_type.is_empty() {
            src["image_type"] = json!(source.image_type);
        }
        if !source.certificate.is_empty() {
            src["certificate"] = json!(source.certificate);
        }
        let aliases: Vec<Value> = aliases.iter().map(|a| json!({ "name": a })).collect();
        let body =
            json!({ "source": src, "aliases": aliases, "properties": properties, "auto_update": false });
        let op = match self.call(Req::post(api_path(&["images"])).json(&body)?).await? {
            super::client::Reply::Async(op) => self.wait_operation_with_progress(&op.id, progress).await?,
            super::client::Reply::Sync { .. } => {
                return Err(LxdError::Decode("image copy: no operation".into()));
            }
        };
        fingerprint_of(&op)
    }
}

fn part_header(boundary: &str, name: &str, filename: &str, first: bool) -> String {
    let lead = if first { "" } else { "\r\n" };
    format!(
        "{lead}--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
}

/// `k=v&k2=v2`, as LXD's `X-LXD-properties` header expects.
fn form_encode(values: &BTreeMap<String, String>) -> String {
    values.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn fingerprint_of(op: &Operation) -> Result<String> {
    op.metadata_str("fingerprint")
        .map(str::to_owned)
        .ok_or_else(|| LxdError::Decode("image operation without fingerprint".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_pieces() {
        assert_eq!(
            part_header("b", "metadata", "m.tar", true),
            "--b\r\nContent-Disposition: form-data; name=\"metadata\"; filename=\"m.tar\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        assert!(part_header("b", "rootfs", "r.tar", false).starts_with("\r\n--b\r\n"));
    }

    #[test]
    fn properties_header() {
        let props = BTreeMap::from([
            ("os".to_owned(), "Debian".to_owned()),
            ("workshop-base".to_owned(), "ubuntu@22.04 x".to_owned()),
        ]);
        assert_eq!(form_encode(&props), "os=Debian&workshop-base=ubuntu%4022.04%20x");
    }

    #[test]
    fn image_parses_nulls() {
        let image: Image = serde_json::from_str(
            r#"{"fingerprint":"ab","aliases":null,"properties":null,"size":12,"type":"container","update_source":null}"#,
        )
        .unwrap();
        assert_eq!(image.size, 12);
        assert!(image.aliases.is_empty());
    }
}
