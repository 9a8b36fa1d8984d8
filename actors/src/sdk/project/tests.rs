use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use super::*;
use crate::sdk::TREE_LIMITS;

use crate::userfs::current_user as me;

fn nobody() -> Option<UserRef> {
    if me().uid != 0 {
        eprintln!("skipped: acting as another user needs root");
        return None;
    }
    Some(UserRef { name: "nobody".into(), uid: 65534, gid: 65534, data_home: None })
}

/// A project directory any user may read, and a tree store.
struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    store: TreeStore,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let root = base.join("project");
        let store = TreeStore::open(base.join("sdk/trees")).unwrap();
        Setup { _tmp: tmp, root, store }
    }

    /// Writes `content` at `.workshop/<path>` with `mode` (directories on the way 0755).
    fn write(&self, path: &str, content: &str, mode: u32) {
        let path = self.root.join(DEFINITION_DIR).join(path);
        self.dirs(path.parent().unwrap());
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn dirs(&self, dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        let mut at = dir.to_path_buf();
        while at.starts_with(&self.root) {
            fs::set_permissions(&at, fs::Permissions::from_mode(0o755)).unwrap();
            at.pop();
        }
    }

    fn sdk(&self, name: &str) -> PathBuf {
        self.root.join(DEFINITION_DIR).join(name)
    }

    async fn commit_as(&self, user: &UserRef, name: &str, limits: Limits) -> Result<TreeId, TreeError> {
        commit(user, self.root.clone(), name.into(), self.store.clone(), limits, COMMIT_TIMEOUT).await
    }

    async fn commit(&self, name: &str) -> Result<TreeId, TreeError> {
        self.commit_as(&me(), name, TREE_LIMITS).await
    }

    /// The store holds nothing but `trees` (no tree from a failed commit, no temporaries).
    fn holds_only(&self, trees: &[&TreeId]) {
        let dir = self.store.path(&zero()).parent().unwrap().to_path_buf();
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        let mut want: Vec<String> = trees.iter().map(|t| t.to_string()).collect();
        want.sort();
        assert_eq!(names, want);
    }
}

fn zero() -> TreeId {
    TreeId::of_digest(&[0; 48])
}

/// Every path in tree `id`, with `/` after directories and `@target` after symlinks.
fn listing(store: &TreeStore, id: &TreeId) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = format!("{prefix}{}", e.file_name().to_str().unwrap());
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                out.push(format!("{name}/"));
                walk(&e.path(), &format!("{name}/"), out);
            } else if kind.is_symlink() {
                out.push(format!("{name}@{}", fs::read_link(e.path()).unwrap().display()));
            } else {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    walk(&store.path(id), "", &mut out);
    out
}

#[actix_rt::test]
async fn both_layouts_make_the_same_tree() {
    let s = Setup::new();
    // Top-level layout: sdk.yaml and hooks/ are moved into meta/ and sdk/.
    s.write("top/sdk.yaml", "name: top\n", 0o644);
    s.write("top/hooks/setup-base", "mkdir /one\n", 0o644);
    s.write("top/jobs/job.sh", "", 0o755);
    // The tree's own layout.
    s.write("tree/meta/sdk.yaml", "name: top\n", 0o644);
    s.write("tree/sdk/hooks/setup-base", "mkdir /one\n", 0o644);
    s.write("tree/jobs/job.sh", "", 0o755);
    // Mixed (K-01's "two" and "three").
    s.write("two/sdk.yaml", "name: two\n", 0o644);
    s.write("two/sdk/hooks/setup-base", "mkdir /one/two\n", 0o644);
    s.write("three/meta/sdk.yaml", "name: three\n", 0o644);
    s.write("three/hooks/setup-base", "mkdir /one/two/three\n", 0o644);
    let top = s.commit("top").await.unwrap();
    assert_eq!(s.commit("tree").await.unwrap(), top);
    assert_eq!(
        listing(&s.store, &top),
        ["jobs/", "jobs/job.sh", "meta/", "meta/sdk.yaml", "sdk/", "sdk/hooks/", "sdk/hooks/setup-base"]
    );
    assert_eq!(s.store.read_meta(&top).unwrap(), "name: top\n");
    let two = s.commit("two").await.unwrap();
    assert_eq!(
        listing(&s.store, &two),
        ["meta/", "meta/sdk.yaml", "sdk/", "sdk/hooks/", "sdk/hooks/setup-base"]
    );
    let three = s.commit("three").await.unwrap();
    assert_eq!(
        fs::read_to_string(s.store.path(&three).join("sdk/hooks/setup-base")).unwrap(),
        "mkdir /one/two/three\n"
    );
    let mode = fs::metadata(s.store.path(&top).join("jobs/job.sh")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[actix_rt::test]
async fn layouts_that_cannot_be_read_are_refused() {
    let s = Setup::new();
    s.write("both/sdk.yaml", "name: both\n", 0o644);
    s.write("both/meta/sdk.yaml", "name: both\n", 0o644);
    s.write("hooks/sdk.yaml", "name: hooks\n", 0o644);
    s.write("hooks/hooks/a", "", 0o644);
    s.write("hooks/sdk/hooks/b", "", 0o644);
    s.write("none/readme", "", 0o644);
    s.write("linked/elsewhere.yaml", "name: linked\n", 0o644);
    symlink("elsewhere.yaml", s.sdk("linked").join("sdk.yaml")).unwrap();
    s.write("blocked/sdk.yaml", "name: blocked\n", 0o644);
    s.write("blocked/meta", "", 0o644);
    for (name, both) in [("both", "sdk.yaml and meta/sdk.yaml"), ("hooks", "hooks and sdk/hooks")] {
        let err = s.commit(name).await.unwrap_err().to_string();
        assert_eq!(err, format!("local SDK \"{}\" contains both {both}", s.sdk(name).display()));
    }
    let cases = [
        ("none", "no \"sdk.yaml\" (or \"meta/sdk.yaml\")"),
        ("linked", "its \"sdk.yaml\" is not a regular file"),
        ("blocked", "\"meta\" is not a directory, so \"sdk.yaml\" cannot go in it"),
    ];
    for (name, why) in cases {
        let err = s.commit(name).await.unwrap_err().to_string();
        assert_eq!(err, format!("cannot use SDK \"{}\": {why}", s.sdk(name).display()));
    }
    let err = s.commit("missing").await.unwrap_err().to_string();
    assert_eq!(err, format!("cannot open \"{}\": no such file or directory", s.sdk("missing").display()));
    s.holds_only(&[]);
}

#[actix_rt::test]
async fn an_unchanged_sdk_is_the_same_tree() {
    let s = Setup::new();
    s.write("x/sdk.yaml", "name: x\n", 0o644);
    s.write("x/bin/tool", "v1", 0o755);
    let first = s.commit("x").await.unwrap();
    // Times and the owner's name are not part of a tree.
    let file = fs::File::options().write(true).open(s.sdk("x/bin/tool")).unwrap();
    file.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(12345)).unwrap();
    assert_eq!(s.commit("x").await.unwrap(), first);
    s.write("x/bin/tool", "v2", 0o755);
    let second = s.commit("x").await.unwrap();
    assert_ne!(second, first);
    s.write("x/bin/tool", "v2", 0o700);
    let third = s.commit("x").await.unwrap();
    assert_ne!(third, second);
    // Back to the first content, byte for byte: the first tree.
    s.write("x/bin/tool", "v1", 0o755);
    assert_eq!(s.commit("x").await.unwrap(), first);
    s.holds_only(&[&first, &second, &third]);
}

#[actix_rt::test]
async fn hostile_sdk_trees_are_refused_as_the_user_without_following_anything() {
    let Some(nobody) = nobody() else { return };
    let s = Setup::new();
    let secret = s.root.parent().unwrap().join("secret");
    fs::write(&secret, "root:s3cret").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();

    // A symlink out of the tree is copied as a symlink; what it points to is never read.
    s.write("links/sdk.yaml", "name: links\n", 0o644);
    symlink(&secret, s.sdk("links/out")).unwrap();
    symlink("/etc/shadow", s.sdk("links/shadow")).unwrap();
    symlink("../../..", s.sdk("links/up")).unwrap();
    let links = s.commit_as(&nobody, "links", TREE_LIMITS).await.unwrap();
    assert_eq!(
        listing(&s.store, &links),
        [
            "meta/".to_string(),
            "meta/sdk.yaml".into(),
            format!("out@{}", secret.display()),
            "shadow@/etc/shadow".into(),
            "up@../../..".into()
        ]
    );

    // The SDK directory itself a symlink to a directory the user may read.
    s.write("real/sdk.yaml", "name: real\n", 0o644);
    symlink(s.sdk("real"), s.sdk("linked")).unwrap();

    s.write("fifo/sdk.yaml", "name: fifo\n", 0o644);
    let fifo = std::ffi::CString::new(s.sdk("fifo/pipe").to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o666) }, 0);

    s.write("device/sdk.yaml", "name: device\n", 0o644);
    let device = std::ffi::CString::new(s.sdk("device/null").to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path; a character device like /dev/null.
    assert_eq!(unsafe { libc::mknod(device.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) }, 0);

    s.write("huge/sdk.yaml", "name: huge\n", 0o644);
    s.write("huge/blob", "", 0o644);
    fs::File::options().write(true).open(s.sdk("huge/blob")).unwrap().set_len(1 << 40).unwrap();

    s.write("many/sdk.yaml", "name: many\n", 0o644);
    for i in 0..20 {
        s.write(&format!("many/f{i}"), "", 0o644);
    }

    s.write("private/sdk.yaml", "name: private\n", 0o644);
    s.write("private/key", "root:s3cret", 0o600);

    let small = Limits { bytes: 1 << 20, entries: 10 };
    let cases: [(&str, Limits, String); 6] = [
        ("linked", TREE_LIMITS, format!("cannot read \"{}\": a symbolic link", s.sdk("linked").display())),
        (
            "fifo",
            TREE_LIMITS,
            format!("cannot use SDK entry \"{}\": a FIFO, socket or device", s.sdk("fifo/pipe").display()),
        ),
        (
            "device",
            TREE_LIMITS,
            format!("cannot use SDK entry \"{}\": a FIFO, socket or device", s.sdk("device/null").display()),
        ),
        ("huge", small, "cannot store SDK tree: larger than 1048576 bytes".into()),
        ("many", small, format!("cannot list \"{}\": more than 10 entries", s.sdk("many").display())),
        (
            "private",
            TREE_LIMITS,
            format!("cannot read \"{}\": permission denied", s.sdk("private/key").display()),
        ),
    ];
    for (name, limits, want) in cases {
        let started = Instant::now();
        let err = s.commit_as(&nobody, name, limits).await.unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "{name} took {:?}", started.elapsed());
        assert!(err.starts_with(&want), "{name}: {err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
    // Nothing was kept of the refused trees, and nothing anywhere holds the secret.
    s.holds_only(&[&links]);
    assert_eq!(fs::read_to_string(s.store.path(&links).join("meta/sdk.yaml")).unwrap(), "name: links\n");
}

#[test]
fn a_pipe_nobody_writes_to_is_given_up_at_the_deadline() {
    let (reader, _writer) = pipe().unwrap();
    let started = Instant::now();
    let mut stream = Deadline { file: reader, deadline: started + Duration::from_millis(100) };
    let err = stream.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(100) && started.elapsed() < Duration::from_secs(2));
}
