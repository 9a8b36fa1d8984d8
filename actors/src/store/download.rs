//! Downloading a resolved revision into the archive cache (`$WORKSHOP_CACHE/sdk/<name>_<rev>.sdk`):
//! written to a temporary file while it is hashed, checked against the size and sha3-384 the
//! Store announced (a mismatch is refused and the file removed), then renamed into place; older
//! revisions of the same SDK are removed from the cache. A cached archive is checked again
//! before it is used.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::io::AsyncWriteExt;

use workshop_api::definition::validate_sdk_name;

use super::archive::{Hasher, VerifiedArchive, copy_hashing, is_digest};
use super::error::{StoreError, sanitized};
use super::http::Http;
use super::resolve::{ResolvedSdk, is_package_id};

/// Partial downloads older than this were abandoned (by a daemon that stopped) and are removed.
const STALE_PARTIAL: Duration = Duration::from_secs(3600);

/// `<name>_<revision>.sdk`.
pub fn archive_name(name: &str, revision: u64) -> String {
    format!("{name}_{revision}.sdk")
}

/// The download path of a revision, under the Store's URL.
fn download_path(sdk: &ResolvedSdk) -> String {
    format!("/api/v1/sdks/download/{}_{}.sdk", sdk.package_id, sdk.revision)
}

pub(crate) async fn download(
    http: &Http,
    cache_dir: &Path,
    sdk: &ResolvedSdk,
) -> Result<VerifiedArchive, StoreError> {
    // The revision may come back from task data: its parts name a file and a URL path.
    if validate_sdk_name(&sdk.name).is_err() || !is_package_id(&sdk.package_id) || !is_digest(&sdk.sha3_384) {
        let why = "not a revision the SDK Store resolved (invalid name, package id or digest)".to_string();
        return Err(StoreError::Download { name: sanitized(&sdk.name), revision: sdk.revision, why });
    }
    create_cache(cache_dir)?;
    let path = cache_dir.join(archive_name(&sdk.name, sdk.revision));
    if let Some(cached) = cached(&path, sdk).await? {
        tracing::debug!(sdk = %sdk.name, revision = sdk.revision, path = %path.display(), "using cached SDK archive");
        remove_older(cache_dir, sdk);
        return Ok(cached);
    }
    let name = format!(".{}.{:08x}.partial", archive_name(&sdk.name, sdk.revision), rand::random::<u32>());
    let mut partial = Partial { path: cache_dir.join(name), kept: false };
    let file = fetch(http, sdk, &partial.path).await?;
    // Synced and renamed off the arbiter: the fsync of a large file takes a while.
    let (from, to) = (partial.path.clone(), path.clone());
    let file = blocking(move || {
        let mut file = file;
        file.sync_all()?;
        std::fs::rename(&from, &to)?;
        file.rewind()?;
        Ok(file)
    })
    .await
    .map_err(|e| StoreError::cache("store", &path, e))?;
    partial.kept = true;
    tracing::info!(sdk = %sdk.name, revision = sdk.revision, size = sdk.size, path = %path.display(), "downloaded SDK archive");
    remove_older(cache_dir, sdk);
    Ok(VerifiedArchive { path, file, sha3_384: sdk.sha3_384.clone(), size: sdk.size })
}

/// A partial download: removed when dropped (an error, or the download abandoned) unless it
/// was renamed into place.
struct Partial {
    path: PathBuf,
    kept: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Runs blocking file work on tokio's blocking threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| io::Error::other(e.to_string()))?
}

/// Streams the revision into `partial`, checking length and digest.
async fn fetch(http: &Http, sdk: &ResolvedSdk, partial: &Path) -> Result<File, StoreError> {
    let fail = |why: String| StoreError::Download { name: sdk.name.clone(), revision: sdk.revision, why };
    let what = format!("download \"{}\" SDK (revision {})", sdk.name, sdk.revision);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(partial)
        .map_err(|e| StoreError::cache("create", partial, e))?;
    let mut file = tokio::fs::File::from_std(file);
    let mut streamed = http.stream(&what, &download_path(sdk)).await?;
    if let Some(announced) = streamed.content_length
        && announced != sdk.size
    {
        return Err(fail(format!("the download is {announced} bytes, the SDK Store announced {}", sdk.size)));
    }
    let mut hasher = Hasher::default();
    while let Some(chunk) = http.next_chunk(&what, &mut streamed).await? {
        if hasher.size() + chunk.len() as u64 > sdk.size {
            return Err(fail(format!("more than the {} bytes the SDK Store announced", sdk.size)));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(|e| StoreError::cache("write", partial, e))?;
    }
    file.flush().await.map_err(|e| StoreError::cache("write", partial, e))?;
    let (digest, size) = hasher.finish();
    if size != sdk.size {
        return Err(fail(format!("got {size} of the {} bytes the SDK Store announced", sdk.size)));
    }
    if digest != sdk.sha3_384 {
        return Err(fail(format!("corrupted download: sha3-384 is {digest}, expected {}", sdk.sha3_384)));
    }
    Ok(file.into_std().await)
}

/// The cached archive at `path` if it is there and still has the announced digest; a cached
/// file that does not is removed.
async fn cached(path: &Path, sdk: &ResolvedSdk) -> Result<Option<VerifiedArchive>, StoreError> {
    let file = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => {
            // A symlink or something else that is not our file: replace it.
            let _ = std::fs::remove_file(path);
            return Ok(None);
        }
    };
    let owned = path.to_path_buf();
    let limit = sdk.size;
    let checked = blocking(move || {
        let mut file = file;
        let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        let digest = regular.then(|| copy_hashing(&mut file, &mut io::sink(), limit).ok()).flatten();
        Ok((file, digest))
    })
    .await
    .map_err(|e| StoreError::cache("check", &owned, e))?;
    match checked {
        (mut file, Some((digest, size))) if digest == sdk.sha3_384 && size == sdk.size => {
            file.rewind().map_err(|e| StoreError::cache("read", path, e))?;
            Ok(Some(VerifiedArchive { path: path.to_path_buf(), file, sha3_384: digest, size }))
        }
        _ => {
            tracing::warn!(path = %path.display(), "cached SDK archive does not match the SDK Store's digest; downloading it again");
            let _ = std::fs::remove_file(path);
            Ok(None)
        }
    }
}

fn create_cache(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::cache("create", dir, e))
}

/// Removes the cached archives of lower revisions of the same SDK, and partial downloads of it
/// that were abandoned. Failures are only logged: the cache is an optimisation.
fn remove_older(dir: &Path, sdk: &ResolvedSdk) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!("{}_", sdk.name);
    let partial_prefix = format!(".{}_", sdk.name);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let older = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".sdk"))
            .and_then(|rev| rev.parse::<u64>().ok())
            .is_some_and(|rev| rev < sdk.revision);
        let stale = name.starts_with(&partial_prefix)
            && name.ends_with(".partial")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() > STALE_PARTIAL);
        if older || stale {
            let path: PathBuf = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::debug!(path = %path.display(), "removed older SDK archive"),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove older SDK archive")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        let sdk = ResolvedSdk {
            name: "go".into(),
            package_id: "Abc123".into(),
            revision: 17,
            channel: "latest/stable".into(),
            version: "1".into(),
            sha3_384: "a".repeat(96),
            size: 1,
            base: String::new(),
            architecture: "all".into(),
        };
        assert_eq!(archive_name("go", 17), "go_17.sdk");
        assert_eq!(download_path(&sdk), "/api/v1/sdks/download/Abc123_17.sdk");
    }

    #[actix_rt::test]
    async fn revisions_that_would_name_other_paths_are_refused() {
        let good = ResolvedSdk {
            name: "go".into(),
            package_id: "Abc123".into(),
            revision: 17,
            channel: "latest/stable".into(),
            version: "1".into(),
            sha3_384: "a".repeat(96),
            size: 1,
            base: String::new(),
            architecture: "all".into(),
        };
        let config =
            crate::store::StoreConfig::new("http://127.0.0.1:1", "test", Path::new("/nonexistent")).unwrap();
        let http = Http::new(&config);
        let cache = tempfile::tempdir().unwrap();
        for bad in [
            ResolvedSdk { name: "../../etc".into(), ..good.clone() },
            ResolvedSdk { package_id: "x/../../y".into(), ..good.clone() },
            ResolvedSdk { sha3_384: "nope".into(), ..good.clone() },
        ] {
            let e = download(&http, cache.path(), &bad).await.unwrap_err().to_string();
            assert!(
                e.ends_with("not a revision the SDK Store resolved (invalid name, package id or digest)"),
                "{e}"
            );
        }
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
    }
}
