//! Storage pools and custom volumes (`/1.0/storage-pools`), including volume import from a
//! backup file or a plain tarball.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use super::client::{Body, Client, Req, Upload, api_path};
use super::error::{LxdError, Result};
use super::put::ConfigPut;
use super::serde_util::null_default;

/// A storage pool.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StoragePool {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Driver ("btrfs", "zfs", "dir", ...).
    #[serde(default)]
    pub driver: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Configuration (`size`, `source`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
    /// URLs of what uses it.
    #[serde(default, deserialize_with = "null_default")]
    pub used_by: Vec<String>,
    /// "Created", "Pending", ...
    #[serde(default)]
    pub status: String,
}

impl StoragePool {
    /// The writable part, to modify and send back.
    pub fn writable(&self) -> ConfigPut {
        ConfigPut { config: self.config.clone(), description: self.description.clone() }
    }
}

/// Space usage of a pool (`/resources`) or a volume (`/state`), in bytes.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Usage {
    /// Used.
    #[serde(default)]
    pub used: u64,
    /// Total (0 when unlimited or unknown).
    #[serde(default)]
    pub total: u64,
}

#[derive(Deserialize)]
struct PoolResources {
    #[serde(default)]
    space: Usage,
}

#[derive(Deserialize)]
struct VolumeState {
    #[serde(default)]
    usage: Option<Usage>,
}

/// A storage volume.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StorageVolume {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// "custom", "container", "image", ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// "filesystem" or "block".
    #[serde(default)]
    pub content_type: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Configuration (`user.*`, `security.shifted`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
    /// URLs of what uses it.
    #[serde(default, deserialize_with = "null_default")]
    pub used_by: Vec<String>,
    /// Cluster member.
    #[serde(default)]
    pub location: String,
}

impl StorageVolume {
    /// The writable part, to modify and send back.
    pub fn writable(&self) -> ConfigPut {
        ConfigPut { config: self.config.clone(), description: self.description.clone() }
    }
}

fn pool_path(pool: &str) -> String {
    api_path(&["storage-pools", pool])
}

fn volume_path(pool: &str, name: &str) -> String {
    api_path(&["storage-pools", pool, "volumes", "custom", name])
}

impl Client {
    /// One storage pool and its ETag (empty when the server sends none, as LXD 5.0 does).
    pub async fn get_storage_pool(&self, name: &str) -> Result<(StoragePool, String)> {
        self.sync_etag(Req::get(pool_path(name)).unscoped()).await
    }

    /// Creates a storage pool.
    pub async fn create_storage_pool(
        &self,
        name: &str,
        driver: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<()> {
        let body = json!({ "name": name, "driver": driver, "config": config, "description": "" });
        let req = Req::post(api_path(&["storage-pools"])).unscoped().json(&body)?;
        self.run(req).await.map(drop)
    }

    /// Replaces a pool's writable part, guarded by `etag` when not empty.
    pub async fn update_storage_pool(&self, name: &str, put: &ConfigPut, etag: &str) -> Result<()> {
        let req = Req::put(pool_path(name)).unscoped().if_match(etag).json(put)?;
        self.run(req).await.map(drop)
    }

    /// Deletes an (unused) storage pool.
    pub async fn delete_storage_pool(&self, name: &str) -> Result<()> {
        self.run(Req::delete(pool_path(name)).unscoped()).await.map(drop)
    }

    /// Space used and available in a pool.
    pub async fn storage_pool_usage(&self, name: &str) -> Result<Usage> {
        let path = format!("{}/resources", pool_path(name));
        Ok(self.sync::<PoolResources>(Req::get(path).unscoped()).await?.space)
    }

    /// Custom volumes of a pool, optionally filtered with LXD's filter syntax
    /// (e.g. `config.user.kind eq sdk`; extension `storage_volume_api_filtering`).
    pub async fn list_custom_volumes(&self, pool: &str, filter: Option<&str>) -> Result<Vec<StorageVolume>> {
        let mut req =
            Req::get(api_path(&["storage-pools", pool, "volumes", "custom"])).query("recursion", "1");
        if let Some(filter) = filter {
            self.require_extension("storage_volume_api_filtering", "filtering volumes").await?;
            req = req.query("filter", filter);
        }
        self.sync(req).await
    }

    /// One custom volume and its ETag.
    pub async fn get_custom_volume(&self, pool: &str, name: &str) -> Result<(StorageVolume, String)> {
        self.sync_etag(Req::get(volume_path(pool, name))).await
    }

    /// Creates an empty filesystem custom volume.
    pub async fn create_custom_volume(
        &self,
        pool: &str,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<()> {
        let body = json!({ "name": name, "type": "custom", "content_type": "filesystem", "config": config, "description": "" });
        let req = Req::post(api_path(&["storage-pools", pool, "volumes", "custom"])).json(&body)?;
        self.run(req).await.map(drop)
    }

    /// Replaces a custom volume's writable part, guarded by `etag` when not empty.
    pub async fn update_custom_volume(
        &self,
        pool: &str,
        name: &str,
        put: &ConfigPut,
        etag: &str,
    ) -> Result<()> {
        let req = Req::put(volume_path(pool, name)).if_match(etag).json(put)?;
        self.run(req).await.map(drop)
    }

    /// Deletes a custom volume (LXD refuses while it is attached: "still in use").
    pub async fn delete_custom_volume(&self, pool: &str, name: &str) -> Result<()> {
        self.run(Req::delete(volume_path(pool, name))).await.map(drop)
    }

    /// Space used by a custom volume; None when the pool's driver cannot tell (LXD answers
    /// "Not supported", e.g. btrfs without quotas).
    pub async fn custom_volume_usage(&self, pool: &str, name: &str) -> Result<Option<Usage>> {
        let path = format!("{}/state", volume_path(pool, name));
        match self.sync::<VolumeState>(Req::get(path)).await {
            Ok(state) => Ok(state.usage),
            Err(LxdError::Api { message, .. }) if message == "Not supported" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a custom volume from a volume backup file (`lxc storage volume export` format;
    /// extension `custom_volume_backup`). `name` overrides the name stored in the backup.
    pub async fn import_custom_volume_backup(&self, pool: &str, name: &str, backup: Upload) -> Result<()> {
        self.upload_volume(pool, name, None, backup).await
    }

    /// Creates a filesystem custom volume holding the files of a tarball. Servers with the
    /// `import_custom_volume_tar` extension take the tarball as is; older ones (LXD 5.0) get it
    /// rewrapped as a volume backup, which needs an uncompressed tar.
    pub async fn import_custom_volume_tarball(&self, pool: &str, name: &str, tarball: &Path) -> Result<()> {
        if self.has_extension("import_custom_volume_tar").await? {
            return self.upload_volume(pool, name, Some("tar"), Upload::File(tarball.to_path_buf())).await;
        }
        let (pool_info, _) = self.get_storage_pool(pool).await?;
        let index = backup_index(name, pool, &pool_info.driver);
        let source = tarball.to_path_buf();
        let backup = TempFile::new("lxd-volume-backup")?;
        let target = backup.path.clone();
        tokio::task::spawn_blocking(move || wrap_as_backup(&source, &target, &index))
            .await
            .map_err(|e| LxdError::Io(io::Error::other(e.to_string())))??;
        self.upload_volume(pool, name, None, Upload::File(backup.path.clone())).await
    }

    async fn upload_volume(&self, pool: &str, name: &str, kind: Option<&str>, data: Upload) -> Result<()> {
        let (len, stream) = data.open().await?;
        let mut req = Req::post(api_path(&["storage-pools", pool, "volumes", "custom"]))
            .header("x-lxd-name", name)
            .body(Body::Stream { content_type: "application/octet-stream".into(), len, stream });
        if let Some(kind) = kind {
            req = req.header("x-lxd-type", kind);
        }
        self.run(req).await.map(drop)
    }
}

/// `backup/index.yaml` of a non-optimized custom volume backup. JSON is valid YAML.
fn backup_index(name: &str, pool: &str, driver: &str) -> String {
    json!({
        "name": name,
        "backend": driver,
        "pool": pool,
        "optimized": false,
        "optimized_header": false,
        "type": "custom",
        "config": {
            "volume": {
                "name": name,
                "type": "custom",
                "content_type": "filesystem",
                "description": "",
                "config": {},
            },
        },
    })
    .to_string()
}

/// Copies the entries of `source` (an uncompressed tar) under `backup/volume/` of a new tar at
/// `target`, after `backup/index.yaml`. Hard-link targets move along; symlink targets stay.
fn wrap_as_backup(source: &Path, target: &Path, index: &str) -> Result<()> {
    let mut input = std::fs::File::open(source)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", source.display())))?;
    let mut magic = [0u8; 6];
    let n = io::Read::read(&mut input, &mut magic)?;
    if is_compressed(&magic[..n]) {
        return Err(LxdError::Invalid(format!(
            "{}: this LXD needs an uncompressed tarball (it lacks import_custom_volume_tar)",
            source.display()
        )));
    }
    io::Seek::seek(&mut input, io::SeekFrom::Start(0))?;
    let mut archive = tar::Archive::new(io::BufReader::new(input));
    let mut out = tar::Builder::new(io::BufWriter::new(std::fs::File::create(target)?));
    out.follow_symlinks(false);

    let mtime =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_size(index.len() as u64);
    out.append_data(&mut header, "backup/index.yaml", index.as_bytes())?;
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_mtime(mtime);
    header.set_size(0);
    out.append_data(&mut header, "backup/volume", io::empty())?;

    let root = Path::new("backup/volume");
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
            continue;
        }
        let Some(relative) = clean_relative(&entry.path()?) else { continue };
        let path = root.join(relative);
        let mut header = entry.header().clone();
        match kind {
            tar::EntryType::Link => {
                let link =
                    entry.link_name()?.ok_or_else(|| LxdError::Invalid("hard link without target".into()))?;
                let link =
                    clean_relative(&link).ok_or_else(|| LxdError::Invalid("bad hard link target".into()))?;
                out.append_link(&mut header, &path, root.join(link))?;
            }
            tar::EntryType::Symlink => {
                let link =
                    entry.link_name()?.ok_or_else(|| LxdError::Invalid("symlink without target".into()))?;
                out.append_link(&mut header, &path, link)?;
            }
            _ => out.append_data(&mut header, &path, &mut entry)?,
        }
    }
    out.into_inner()?.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// gzip, xz, zstd or bzip2 magic.
fn is_compressed(magic: &[u8]) -> bool {
    magic.starts_with(&[0x1f, 0x8b])
        || magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || magic.starts_with(b"BZh")
}

/// A tar member path without leading `/` or `./`; None for the archive root itself or for a
/// path that climbs out with `..`.
fn clean_relative(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// A file in the temp dir, removed on drop.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn new(prefix: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(format!("{prefix}-{:016x}.tar", rand::random::<u64>()));
        std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        Ok(Self { path })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(if *kind == tar::EntryType::Directory { 0o755 } else { 0o640 });
            header.set_uid(1000);
            header.set_size(data.len() as u64);
            match link {
                Some(link) => builder.append_link(&mut header, path, link).unwrap(),
                None => builder.append_data(&mut header, path, *data).unwrap(),
            }
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn wraps_tarball_as_volume_backup() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("in.tar");
        let long = format!("./{}/file", "d".repeat(120));
        std::fs::write(
            &source,
            tar_of(&[
                ("./", tar::EntryType::Directory, b"", None),
                ("./bin", tar::EntryType::Directory, b"", None),
                ("./bin/tool", tar::EntryType::Regular, b"#!/bin/sh\n", None),
                ("./bin/again", tar::EntryType::Link, b"", Some("./bin/tool")),
                ("./bin/sym", tar::EntryType::Symlink, b"", Some("/usr/bin/true")),
                (&long, tar::EntryType::Regular, b"x", None),
            ]),
        )
        .unwrap();
        let target = dir.path().join("out.tar");
        wrap_as_backup(&source, &target, &backup_index("v", "p", "btrfs")).unwrap();

        let mut archive = tar::Archive::new(std::fs::File::open(&target).unwrap());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            if path == "backup/index.yaml" {
                let mut text = String::new();
                io::Read::read_to_string(&mut entry, &mut text).unwrap();
                let index: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(index["type"], "custom");
                assert_eq!(index["config"]["volume"]["name"], "v");
            }
            if path == "backup/volume/bin/tool" {
                assert_eq!(entry.header().mode().unwrap(), 0o640);
                assert_eq!(entry.header().uid().unwrap(), 1000);
            }
            seen.push((path, link));
        }
        let names: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            &names[..4],
            &["backup/index.yaml", "backup/volume", "backup/volume/bin", "backup/volume/bin/tool"]
        );
        assert!(seen.contains(&("backup/volume/bin/again".into(), Some("backup/volume/bin/tool".into()))));
        assert!(seen.contains(&("backup/volume/bin/sym".into(), Some("/usr/bin/true".into()))));
        assert!(names.contains(&format!("backup/volume/{}/file", "d".repeat(120)).as_str()));
    }

    #[test]
    fn refuses_compressed_input_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("in.tar.gz");
        std::fs::write(&source, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]).unwrap();
        let err = wrap_as_backup(&source, &dir.path().join("o"), "{}").unwrap_err();
        assert!(err.to_string().contains("uncompressed tarball"), "{err}");
        assert_eq!(clean_relative(Path::new("./a/../../b")), None);
        assert_eq!(clean_relative(Path::new("./")), None);
        assert_eq!(clean_relative(Path::new("/etc/x")), Some(PathBuf::from("etc/x")));
    }
}
