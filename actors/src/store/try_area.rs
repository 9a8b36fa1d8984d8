//! Try SDKs (`try-<name>` in a definition): an `.sdk` archive a user built and put in their try
//! area, `<data>/workshop/try/<name>/`, as
//! `<name>_<arch>_<base>.sdk`, `<name>_<arch>.sdk`, `<name>_all_<base>.sdk` or `<name>_all.sdk`
//! (the first there wins), with its sha3-384 in a `.sha3-384` file beside it
//! (../shared/spec/reference-inventory.md §3.1). `<data>` is `~/.local/share`.
//!
//! The area is the user's: it is opened and read as the user (`userfs`), never following a
//! symlink. The archive is copied, while it is hashed, into a root-only directory of the daemon
//! and the copy is what is checked against the sidecar and handed on, so the user cannot
//! change what was checked. The `.yaml` sidecar the reference also reads is not needed: the
//! SDK's metadata is read from the archive's own `meta/sdk.yaml`.

use std::fs::{File, OpenOptions};
use std::io::Seek;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::archive::{VerifiedArchive, copy_hashing, is_digest};
use crate::managers::UserRef;
use crate::userfs::{self, Dir, UserFsError};

/// Longest a copy out of a try area may take (the user's file system may be slow, or hang).
pub const COPY_TIMEOUT: Duration = Duration::from_secs(600);
/// Most copies out of try areas at once.
const MAX_COPIES: usize = 4;
/// Largest sidecar read.
const MAX_SIDECAR: u64 = 4096;

static COPIES: AtomicUsize = AtomicUsize::new(0);

/// Why a try SDK cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TryError {
    /// No archive in the try area (the reference's words).
    #[error("\"try-{name}\" SDK not found: {why}")]
    NotFound { name: String, why: String },
    /// The archive or its sidecar is not usable (the reference's words).
    #[error("invalid \"try-{name}\" SDK: {why}")]
    Invalid { name: String, why: String },
    /// The daemon failed to take the archive in.
    #[error("cannot use \"try-{name}\" SDK: {why}")]
    Daemon { name: String, why: String },
    /// Acting as the user failed.
    #[error(transparent)]
    Access(#[from] UserFsError),
}

/// The try area of SDK `name` under a data directory.
pub fn area(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("workshop/try").join(name)
}

/// The archive names looked for, in order.
pub fn candidates(name: &str, base: &str, arch: &str) -> [String; 4] {
    [
        format!("{name}_{arch}_{base}.sdk"),
        format!("{name}_{arch}.sdk"),
        format!("{name}_all_{base}.sdk"),
        format!("{name}_all.sdk"),
    ]
}

/// The archive found in the try area, opened as the user.
struct Found {
    file: File,
    path: PathBuf,
    digest: String,
}

/// Finds the try SDK `name` for a workshop on `base` and `arch` in `data_dir` (read as
/// `user`), copies it into `out_dir/<uid>/<name>.sdk` and checks it against its sidecar.
pub async fn fetch(
    user: &UserRef,
    data_dir: &Path,
    name: &str,
    base: &str,
    arch: &str,
    out_dir: &Path,
    max_size: u64,
) -> Result<VerifiedArchive, TryError> {
    let dir = area(data_dir, name);
    let names = candidates(name, base, arch);
    let sdk = name.to_string();
    let found = userfs::as_user(user, move || find(&sdk, &dir, &names, max_size)).await?;
    let target_dir = out_dir.join(user.uid.to_string());
    let sdk = name.to_string();
    copy_out(sdk, found, target_dir, max_size).await
}

/// In the user's try area (as the user): the first candidate, its sidecar digest.
fn find(name: &str, dir: &Path, names: &[String; 4], max_size: u64) -> Result<Found, TryError> {
    let not_found = |why: String| TryError::NotFound { name: name.to_string(), why };
    let invalid = |why: String| TryError::Invalid { name: name.to_string(), why };
    let area = Dir::open(dir).map_err(|e| match e {
        UserFsError::Io { .. } => not_found(e.to_string()),
        other => TryError::Access(other),
    })?;
    let mut chosen = None;
    for candidate in names {
        if area.kind(candidate).map_err(|e| invalid(e.to_string()))?.is_some() {
            chosen = Some(candidate);
            break;
        }
    }
    let Some(chosen) = chosen else {
        return Err(not_found(format!("none of {} in \"{}\"", names.join(", "), dir.display())));
    };
    let path = dir.join(chosen);
    let (file, _) = area.open_file(chosen, max_size).map_err(|e| invalid(e.to_string()))?;
    let sidecar = format!("{chosen}.sha3-384");
    let text = area.read_text(&sidecar, MAX_SIDECAR).map_err(|e| invalid(e.to_string()))?;
    // `sha3sum`-style lines (`<digest>  <file>`) are accepted too.
    let digest = text.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
    if !is_digest(&digest) {
        return Err(invalid(format!("\"{}\" holds no sha3-384", dir.join(&sidecar).display())));
    }
    Ok(Found { file, path, digest })
}

/// Copies the archive into the daemon's directory on a thread of its own (waited for at most
/// [`COPY_TIMEOUT`]) and checks the copy.
async fn copy_out(
    name: String,
    found: Found,
    target_dir: PathBuf,
    max_size: u64,
) -> Result<VerifiedArchive, TryError> {
    let daemon = |why: String| TryError::Daemon { name: name.clone(), why };
    if COPIES
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_COPIES).then_some(n + 1))
        .is_err()
    {
        return Err(daemon("too many try SDKs being copied; try again".into()));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread_name = name.clone();
    let spawned = std::thread::Builder::new().name("workshopd-try-sdk".into()).spawn(move || {
        let result = copy_checked(&thread_name, found, &target_dir, max_size);
        COPIES.fetch_sub(1, Ordering::AcqRel);
        let _ = tx.send(result);
    });
    if let Err(e) = spawned {
        COPIES.fetch_sub(1, Ordering::AcqRel);
        return Err(daemon(format!("cannot start a thread: {e}")));
    }
    match tokio::time::timeout(COPY_TIMEOUT, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(daemon("the copy stopped unexpectedly".into())),
        Err(_) => Err(daemon(format!("reading the archive took longer than {} s", COPY_TIMEOUT.as_secs()))),
    }
}

fn copy_checked(
    name: &str,
    mut found: Found,
    target_dir: &Path,
    max_size: u64,
) -> Result<VerifiedArchive, TryError> {
    let daemon = |why: String| TryError::Daemon { name: name.to_string(), why };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(target_dir)
        .map_err(|e| daemon(format!("cannot create {}: {e}", target_dir.display())))?;
    let target = target_dir.join(format!("{name}.sdk"));
    let partial = target_dir.join(format!(".{name}.sdk.{:08x}.partial", rand::random::<u32>()));
    let result = (|| {
        let mut copy = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&partial)
            .map_err(|e| daemon(format!("cannot create {}: {e}", partial.display())))?;
        let (digest, size) =
            copy_hashing(&mut found.file, &mut copy, max_size).map_err(|e| TryError::Invalid {
                name: name.to_string(),
                why: format!("cannot read \"{}\": {e}", found.path.display()),
            })?;
        if digest != found.digest {
            return Err(TryError::Invalid {
                name: name.to_string(),
                why: format!(
                    "sha3-384 of \"{}\" is {digest}, its .sha3-384 file says {}",
                    found.path.display(),
                    found.digest
                ),
            });
        }
        copy.sync_all().map_err(|e| daemon(format!("cannot write {}: {e}", partial.display())))?;
        std::fs::rename(&partial, &target)
            .map_err(|e| daemon(format!("cannot store {}: {e}", target.display())))?;
        copy.rewind().map_err(|e| daemon(format!("cannot read {}: {e}", target.display())))?;
        Ok(VerifiedArchive { path: target.clone(), file: copy, sha3_384: digest, size })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    use super::*;
    use crate::store::archive::sha3_384_hex;

    use crate::userfs::current_user as me;

    /// A data directory with `files` in the try area of `go`.
    fn try_data(files: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let dir = area(&data, "go");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        (tmp, data)
    }

    async fn fetch_go(data: &Path, out: &Path) -> Result<VerifiedArchive, TryError> {
        fetch(&me(), data, "go", "ubuntu@24.04", "amd64", out, 1 << 20).await
    }

    #[test]
    fn candidates_go_from_the_most_to_the_least_specific() {
        assert_eq!(
            candidates("go", "ubuntu@24.04", "amd64"),
            ["go_amd64_ubuntu@24.04.sdk", "go_amd64.sdk", "go_all_ubuntu@24.04.sdk", "go_all.sdk"]
        );
    }

    #[actix_rt::test]
    async fn a_checked_copy_is_handed_on() {
        let archive = b"an archive".as_slice();
        let digest = sha3_384_hex(archive);
        let sidecar = format!("{}  go_all.sdk\n", digest.to_uppercase());
        let (tmp, data) = try_data(&[
            ("go_all.sdk", archive),
            ("go_all.sdk.sha3-384", sidecar.as_bytes()),
            ("go_arm64.sdk", b"other arch"),
        ]);
        let out = tmp.path().join("cache");
        let mut verified = fetch_go(&data, &out).await.unwrap();
        assert_eq!((verified.sha3_384.as_str(), verified.size), (digest.as_str(), archive.len() as u64));
        assert_eq!(verified.path, out.join(me().uid.to_string()).join("go.sdk"));
        let mut content = Vec::new();
        verified.file.read_to_end(&mut content).unwrap();
        assert_eq!(content, archive);
        // The copy is the daemon's: changing the user's file afterwards changes nothing.
        std::fs::write(area(&data, "go").join("go_all.sdk"), b"changed").unwrap();
        assert_eq!(std::fs::read(&verified.path).unwrap(), archive);
        let meta = std::fs::metadata(out.join(me().uid.to_string())).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        // The most specific archive wins.
        let specific = b"for amd64".as_slice();
        std::fs::write(area(&data, "go").join("go_amd64.sdk"), specific).unwrap();
        std::fs::write(area(&data, "go").join("go_amd64.sdk.sha3-384"), sha3_384_hex(specific)).unwrap();
        assert_eq!(fetch_go(&data, &out).await.unwrap().size, specific.len() as u64);
    }

    #[actix_rt::test]
    async fn a_digest_mismatch_is_refused_and_leaves_nothing() {
        let (tmp, data) = try_data(&[
            ("go_all.sdk", b"tampered"),
            ("go_all.sdk.sha3-384", sha3_384_hex(b"original").as_bytes()),
        ]);
        let out = tmp.path().join("cache");
        let e = fetch_go(&data, &out).await.unwrap_err().to_string();
        assert!(e.starts_with("invalid \"try-go\" SDK: sha3-384 of \""), "{e}");
        assert!(e.ends_with(&format!("its .sha3-384 file says {}", sha3_384_hex(b"original"))), "{e}");
        let left: Vec<_> = std::fs::read_dir(out.join(me().uid.to_string())).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[actix_rt::test]
    async fn missing_archives_sidecars_and_links_are_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let e = fetch_go(&tmp.path().join("nothing"), tmp.path()).await.unwrap_err().to_string();
        assert!(e.starts_with("\"try-go\" SDK not found: cannot open \""), "{e}");
        assert!(e.ends_with("no such file or directory"), "{e}");

        let (tmp, data) = try_data(&[]);
        let e = fetch_go(&data, tmp.path()).await.unwrap_err().to_string();
        assert!(
            e.contains(
                "none of go_amd64_ubuntu@24.04.sdk, go_amd64.sdk, go_all_ubuntu@24.04.sdk, go_all.sdk"
            ),
            "{e}"
        );

        let (tmp, data) = try_data(&[("go_all.sdk", b"x")]);
        let e = fetch_go(&data, tmp.path()).await.unwrap_err().to_string();
        assert!(
            e.starts_with("invalid \"try-go\" SDK: cannot read \"")
                && e.ends_with(".sha3-384\": no such file or directory"),
            "{e}"
        );

        let (tmp, data) =
            try_data(&[("go_all.sdk.sha3-384", b"not a digest".as_slice()), ("go_all.sdk", b"x")]);
        let e = fetch_go(&data, tmp.path()).await.unwrap_err().to_string();
        assert!(e.ends_with("go_all.sdk.sha3-384\" holds no sha3-384"), "{e}");

        let (tmp, data) = try_data(&[("secret", b"root only")]);
        symlink(area(&data, "go").join("secret"), area(&data, "go").join("go_all.sdk")).unwrap();
        let e = fetch_go(&data, tmp.path()).await.unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
    }

    /// As root, the try area is read with the user's rights: a file they cannot read is refused.
    #[actix_rt::test]
    async fn the_area_is_read_as_the_user() {
        if me().uid != 0 {
            eprintln!("skipped: acting as another user needs root");
            return;
        }
        let archive = b"root's archive".as_slice();
        let (tmp, data) =
            try_data(&[("go_all.sdk", archive), ("go_all.sdk.sha3-384", sha3_384_hex(archive).as_bytes())]);
        for dir in [
            tmp.path().to_path_buf(),
            data.clone(),
            data.join("workshop"),
            data.join("workshop/try"),
            area(&data, "go"),
        ] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(
            area(&data, "go").join("go_all.sdk"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let nobody = UserRef { name: "nobody".into(), uid: 65534, gid: 65534, data_home: None };
        let e = fetch(&nobody, &data, "go", "ubuntu@24.04", "amd64", &tmp.path().join("cache"), 1 << 20)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid \"try-go\" SDK: cannot read \"") && e.ends_with("permission denied"),
            "{e}"
        );
    }
}
