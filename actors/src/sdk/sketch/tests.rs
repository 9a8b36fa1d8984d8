use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use super::*;

use crate::userfs::current_user as me;

fn nobody() -> Option<UserRef> {
    if me().uid != 0 {
        eprintln!("skipped: acting as another user needs root");
        return None;
    }
    Some(UserRef { name: "nobody".into(), uid: 65534, gid: 65534, data_home: None })
}

/// A home directory any user may read, and a tree store.
struct Setup {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    store: TreeStore,
}

const PID: &str = "0123abcd";

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let home = base.join("home");
        fs::create_dir(&home).unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        let store = TreeStore::open(base.join("sdk/trees")).unwrap();
        Setup { _tmp: tmp, home, store }
    }

    fn area(&self) -> PathBuf {
        tracking(&self.home.join(".local/share"), PID, "ws")
    }

    /// Writes `content` at `<area>/current/<path>`, every directory 0755, files 0644.
    fn write(&self, path: &str, content: &[u8]) {
        let path = self.area().join("current").join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        self.open_up();
    }

    fn open_up(&self) {
        for entry in walk(&self.home) {
            let mode = if entry.is_dir() { 0o755 } else { 0o644 };
            if !entry.is_symlink() {
                fs::set_permissions(&entry, fs::Permissions::from_mode(mode)).unwrap();
            }
        }
    }

    async fn commit_as(&self, user: &UserRef, limits: Limits) -> Result<TreeId, TreeError> {
        commit_in(user, DataRoot::home(self.home.clone()), PID, "ws", self.store.clone(), limits).await
    }

    async fn exists_as(&self, user: &UserRef) -> Result<bool, TreeError> {
        exists_in(user, DataRoot::home(self.home.clone()), PID, "ws").await
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

fn sketch(s: &Setup) {
    s.write("sketch.yaml", b"name: sketch\n# the user's comments\nhooks:\n  setup-base: |\n    true\n");
    s.write("sdk.yaml", b"name: sketch\n");
    s.write("hooks/setup-base", b"true\n");
}

#[tokio::test]
async fn a_sketch_is_committed_without_the_users_text() {
    let s = Setup::new();
    let user = nobody().unwrap_or_else(me);
    assert!(!s.exists_as(&user).await.unwrap());
    sketch(&s);
    assert!(s.exists_as(&user).await.unwrap());
    let tree = s.commit_as(&user, SKETCH_LIMITS).await.unwrap();
    let dir = s.store.path(&tree);
    assert_eq!(fs::read_to_string(dir.join("meta/sdk.yaml")).unwrap(), "name: sketch\n");
    assert_eq!(fs::read_to_string(dir.join("sdk/hooks/setup-base")).unwrap(), "true\n");
    assert!(!dir.join(SKETCH_TEXT).exists());
    // Comments in the user's text do not make another tree.
    s.write("sketch.yaml", b"name: sketch\n# other comments\n");
    assert_eq!(s.commit_as(&user, SKETCH_LIMITS).await.unwrap(), tree);
    s.write("hooks/setup-base", b"mkdir -p /x\n");
    assert_ne!(s.commit_as(&user, SKETCH_LIMITS).await.unwrap(), tree);
}

#[tokio::test]
async fn a_symlinked_sketch_is_refused_not_followed() {
    let Some(user) = nobody() else { return };
    let s = Setup::new();
    // A root-only directory holding an SDK the user cannot read.
    let secret = s.home.parent().unwrap().join("secret");
    fs::create_dir_all(secret.join("hooks")).unwrap();
    fs::write(secret.join("sdk.yaml"), "name: sketch\n").unwrap();
    fs::write(secret.join("hooks/setup-base"), "cat /etc/shadow\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o700)).unwrap();
    fs::create_dir_all(s.area()).unwrap();
    symlink(&secret, s.area().join("current")).unwrap();
    s.open_up();
    assert!(s.exists_as(&user).await.is_err());
    let err = s.commit_as(&user, SKETCH_LIMITS).await.unwrap_err().to_string();
    assert!(err.contains("current"), "{err}");
    // Even as root the link is not followed.
    assert!(s.commit_as(&me(), SKETCH_LIMITS).await.is_err());
    // A link higher up is refused the same way.
    fs::remove_file(s.area().join("current")).unwrap();
    let sdk_dir = s.area().parent().unwrap().to_path_buf();
    fs::remove_dir_all(&sdk_dir).unwrap();
    fs::create_dir_all(secret.join("sketch/current")).unwrap();
    symlink(&secret, &sdk_dir).unwrap();
    assert!(!matches!(s.exists_as(&user).await, Ok(true)));
    assert!(s.commit_as(&me(), SKETCH_LIMITS).await.is_err());
}

#[tokio::test]
async fn oversized_and_odd_sketches_are_refused() {
    let s = Setup::new();
    let user = nobody().unwrap_or_else(me);
    sketch(&s);
    s.write("hooks/big", &vec![b'x'; 4096]);
    let small = Limits { bytes: 1024, entries: 100 };
    let err = s.commit_as(&user, small).await.unwrap_err();
    assert!(matches!(err, TreeError::TooLarge { .. }), "{err}");
    fs::remove_file(s.area().join("current/hooks/big")).unwrap();
    for n in 0..20 {
        s.write(&format!("hooks/h{n}"), b"x");
    }
    let few = Limits { bytes: 1 << 20, entries: 8 };
    assert!(s.commit_as(&user, few).await.is_err());
    // The default bound: a file past 16 MiB is refused.
    s.write("hooks/huge", &vec![b'y'; (SKETCH_LIMITS.bytes + 1) as usize]);
    let err = s.commit_as(&user, SKETCH_LIMITS).await.unwrap_err();
    assert!(matches!(err, TreeError::TooLarge { .. }), "{err}");
    fs::remove_dir_all(s.area().join("current/hooks")).unwrap();
    // A sketch without its sdk.yaml is no SDK.
    fs::remove_file(s.area().join("current/sdk.yaml")).unwrap();
    assert!(matches!(s.commit_as(&user, SKETCH_LIMITS).await, Err(TreeError::Layout { .. })));
}

#[tokio::test]
async fn a_sketch_the_user_cannot_read_is_not_read() {
    let Some(user) = nobody() else { return };
    let s = Setup::new();
    sketch(&s);
    fs::set_permissions(s.area().join("current"), fs::Permissions::from_mode(0o700)).unwrap();
    assert!(s.commit_as(&user, SKETCH_LIMITS).await.is_err());
}

#[tokio::test]
async fn a_fork_gets_a_copy_of_the_sketch_in_place_of_what_its_name_had() {
    let s = Setup::new();
    s.write("sketch.yaml", b"name: sketch\n");
    s.write("hooks/setup-base", b"echo hi\n");
    fs::set_permissions(s.area().join("current/hooks/setup-base"), fs::Permissions::from_mode(0o755))
        .unwrap();
    symlink("setup-base", s.area().join("current/hooks/check-health")).unwrap();
    fs::create_dir_all(s.area().join("stash")).unwrap();
    fs::write(s.area().join("stash/sketch.yaml"), "name: older\n").unwrap();
    let copy = tracking(&s.home.join(".local/share"), PID, "copy");
    fs::create_dir_all(copy.join("current")).unwrap();
    fs::write(copy.join("current/stale"), "from a workshop of that name before").unwrap();

    copy_in(&me(), DataRoot::home(s.home.clone()), PID, "ws", "copy").await.unwrap();
    assert_eq!(fs::read_to_string(copy.join("current/sketch.yaml")).unwrap(), "name: sketch\n");
    assert_eq!(fs::read_to_string(copy.join("stash/sketch.yaml")).unwrap(), "name: older\n");
    let hook = fs::metadata(copy.join("current/hooks/setup-base")).unwrap();
    assert_eq!(hook.permissions().mode() & 0o777, 0o755);
    assert_eq!(fs::read_link(copy.join("current/hooks/check-health")).unwrap(), Path::new("setup-base"));
    assert!(!copy.join("current/stale").exists(), "what the name had is gone");
    // The source is as it was; a workshop without a sketch gives its copy none.
    assert!(s.area().join("current/sketch.yaml").exists());
    copy_in(&me(), DataRoot::home(s.home.clone()), PID, "none", "copy").await.unwrap();
    assert!(!copy.exists());
}
