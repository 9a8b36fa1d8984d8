use std::os::unix::fs::MetadataExt;

use super::*;
use crate::sdk::canonical::CanonicalTar;

const ROOMY: Limits = Limits { bytes: 1 << 20, entries: 100 };

fn path(p: &str) -> Vec<String> {
    p.split('/').map(String::from).collect()
}

fn store() -> (tempfile::TempDir, TreeStore) {
    let tmp = tempfile::tempdir().unwrap();
    let store = TreeStore::open(tmp.path().join("sdk/trees")).unwrap();
    (tmp, store)
}

/// A small SDK in canonical form: metadata, an executable, a private file and a symlink out.
fn sample() -> Vec<u8> {
    let mut tar = CanonicalTar::new(Vec::new(), ROOMY);
    tar.dir(&path("bin"), 0o700).unwrap();
    tar.file(&path("bin/tool"), 0o700, 3, &b"#!x"[..]).unwrap();
    tar.symlink(&path("etc"), "/etc").unwrap();
    tar.dir(&path("meta"), 0o755).unwrap();
    tar.file(&path("meta/sdk.yaml"), 0o600, 8, &b"name: x\n"[..]).unwrap();
    tar.finish().unwrap()
}

fn sha3(bytes: &[u8]) -> TreeId {
    TreeId::of_digest(&Sha3_384::digest(bytes))
}

/// Names in the store directory other than trees.
fn leftovers(store: &TreeStore) -> Vec<String> {
    fs::read_dir(&store.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| TreeId::try_from(n.clone()).is_err())
        .collect()
}

#[test]
fn the_store_is_roots_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sdk/trees");
    fs::create_dir_all(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    TreeStore::open(root.clone()).unwrap();
    assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o700, "one made before is closed too");
    let (tmp, _store) = store();
    assert_eq!(fs::metadata(tmp.path().join("sdk/trees")).unwrap().mode() & 0o777, 0o700);
}

#[test]
fn a_commit_is_named_by_its_stream_and_readable_by_all() {
    let (_tmp, store) = store();
    let bytes = sample();
    let id = store.commit(&bytes[..], ROOMY, None).unwrap();
    assert_eq!(id, sha3(&bytes));
    let tree = store.path(&id);
    let mode = |p: &str| fs::symlink_metadata(tree.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("bin"), 0o755);
    assert_eq!(mode("bin/tool"), 0o755);
    assert_eq!(mode("meta/sdk.yaml"), 0o644);
    assert_eq!(mode(""), 0o755);
    assert_eq!(fs::read_link(tree.join("etc")).unwrap(), Path::new("/etc"));
    assert_eq!(store.read_meta(&id).unwrap(), "name: x\n");
    assert!(store.contains(&id));
    assert_eq!(store.list().unwrap(), std::slice::from_ref(&id));
    // The same content again: the same tree, kept as it is.
    assert_eq!(store.commit(&bytes[..], ROOMY, Some(&id)).unwrap(), id);
    assert_eq!(leftovers(&store), Vec::<String>::new());
    store.remove(&id).unwrap();
    assert!(!store.contains(&id) && !tree.exists());
    store.remove(&id).unwrap();
    assert_eq!(store.list().unwrap(), []);
}

#[test]
fn concurrent_commits_of_one_content_make_one_tree() {
    let (_tmp, store) = store();
    let bytes = sample();
    let ids: Vec<TreeId> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..4).map(|_| s.spawn(|| store.commit(&bytes[..], ROOMY, None).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|id| *id == sha3(&bytes)));
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(leftovers(&store), Vec::<String>::new());
}

#[test]
fn a_wrong_digest_keeps_nothing() {
    let (_tmp, store) = store();
    let wrong = TreeId::of_digest(&[0; 48]);
    let err = store.commit(&sample()[..], ROOMY, Some(&wrong)).unwrap_err().to_string();
    assert!(err.starts_with("cannot store SDK tree: its sha3-384 is "), "{err}");
    assert_eq!(store.list().unwrap(), []);
    assert_eq!(leftovers(&store), Vec::<String>::new());
}

/// One raw entry, with the name written as it is (the tar crate's own setters refuse `..`).
fn raw(tar: &mut tar::Builder<Vec<u8>>, name: &str, kind: EntryType, data: &[u8], link: Option<&str>) {
    let mut header = tar::Header::new_gnu();
    let field = &mut header.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        let field = &mut header.as_old_mut().linkname;
        field[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    tar.append(&header, data).unwrap();
}

fn archive(entries: &[(&str, EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        raw(&mut tar, name, *kind, data, *link);
    }
    tar.into_inner().unwrap()
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing() {
    use EntryType::*;
    let outside = tempfile::tempdir().unwrap();
    let out = outside.path().to_str().unwrap().to_string();
    let escape = format!("{out}/escaped");
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("parent", archive(&[("../escaped", Regular, b"x", None)]), "a path leaving the tree".into()),
        ("absolute", archive(&[(&escape, Regular, b"x", None)]), "a path leaving the tree".into()),
        (
            "through a symlink",
            archive(&[("a", Symlink, b"", Some(&out)), ("a/escaped", Regular, b"x", None)]),
            "inside a file or a symlink".into(),
        ),
        (
            "through a file",
            archive(&[("f", Regular, b"x", None), ("f/g", Regular, b"x", None)]),
            "inside a file or a symlink".into(),
        ),
        ("twice", archive(&[("f", Regular, b"x", None), ("f", Regular, b"y", None)]), "appears twice".into()),
        ("device", archive(&[("null", Char, b"", None)]), "a device, FIFO or other special file".into()),
        ("fifo", archive(&[("fifo", Fifo, b"", None)]), "a device, FIFO or other special file".into()),
        (
            "hard link out",
            archive(&[("h", Link, b"", Some("/etc/shadow"))]),
            "a path leaving the tree".into(),
        ),
        (
            "hard link to a symlink",
            archive(&[("l", Symlink, b"", Some("/etc/shadow")), ("h", Link, b"", Some("l"))]),
            "a hard link to something that is not a file of the tree".into(),
        ),
        ("empty link", archive(&[("l", Symlink, b"", None)]), "a symlink to nothing".into()),
    ];
    let (_tmp, store) = store();
    for (case, bytes, why) in cases {
        let err = store.commit(&bytes[..], ROOMY, None).unwrap_err().to_string();
        assert!(err.starts_with("cannot use SDK entry \"") && err.ends_with(&why), "{case}: {err}");
        assert_eq!(store.list().unwrap(), [], "{case}");
        assert_eq!(leftovers(&store), Vec::<String>::new(), "{case}");
        assert!(!Path::new(&escape).exists(), "{case}");
        assert!(!store.root.parent().unwrap().join("escaped").exists(), "{case}");
    }
    // Random bytes: said to be no archive, without their bytes (the tar reader's text
    // quotes the corrupt header).
    let junk: Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let err = store.commit(&junk[..], ROOMY, None).unwrap_err().to_string();
    assert!(err.starts_with("cannot read SDK archive: "), "{err}");
    assert!(err.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{err}");
    assert_eq!(leftovers(&store), Vec::<String>::new());
    // A hard link within the tree is a second name of the file.
    let bytes = archive(&[("f", Regular, b"x", None), ("h", Link, b"", Some("f"))]);
    let id = store.commit(&bytes[..], ROOMY, None).unwrap();
    assert_eq!(fs::read(store.path(&id).join("h")).unwrap(), b"x");
}

#[test]
fn archives_past_their_bounds_are_refused() {
    let (_tmp, store) = store();
    let many: Vec<(String, EntryType, &[u8], Option<&str>)> =
        (0..5).map(|i| (format!("d{i}/f"), EntryType::Regular, &b""[..], None)).collect();
    let borrowed: Vec<(&str, EntryType, &[u8], Option<&str>)> =
        many.iter().map(|(n, k, d, l)| (n.as_str(), *k, *d, *l)).collect();
    let bytes = archive(&borrowed);
    // Each file brings its directory: 10 entries.
    let err = store.commit(&bytes[..], Limits { bytes: 100, entries: 9 }, None).unwrap_err();
    assert_eq!(err.to_string(), "cannot store SDK tree: more than 9 entries");
    store.commit(&bytes[..], Limits { bytes: 100, entries: 10 }, None).unwrap();
    let big = archive(&[("big", EntryType::Regular, &[7u8; 5000], None)]);
    let err = store.commit(&big[..], Limits { bytes: 4999, entries: 10 }, None).unwrap_err();
    assert_eq!(err.to_string(), "cannot store SDK tree: larger than 4999 bytes");
    // A stream that goes on after its archive is bounded too.
    let mut endless = big.clone();
    endless.extend(std::iter::repeat_n(0u8, 4 << 20));
    let err = store.commit(&endless[..], Limits { bytes: 5000, entries: 10 }, None).unwrap_err();
    assert_eq!(err.to_string(), "cannot store SDK tree: larger than 5000 bytes");
    let err = store.commit(&b"not a tar archive at all"[..], ROOMY, None).unwrap_err().to_string();
    assert!(err.starts_with("cannot read SDK archive: "), "{err}");
    assert_eq!(leftovers(&store), Vec::<String>::new());
}

#[test]
fn metadata_is_never_read_through_a_symlink() {
    let (_tmp, store) = store();
    let bytes = archive(&[("meta/sdk.yaml", EntryType::Symlink, b"", Some("/etc/passwd"))]);
    let id = store.commit(&bytes[..], ROOMY, None).unwrap();
    let err = store.read_meta(&id).unwrap_err().to_string();
    assert!(err.contains("symbolic link") && !err.contains("root:"), "{err}");
}

#[test]
fn leftovers_of_a_stopped_daemon_are_swept() {
    let (_tmp, store) = store();
    let id = store.commit(&sample()[..], ROOMY, None).unwrap();
    fs::create_dir_all(store.root.join(".tmp-0123/a/b")).unwrap();
    fs::write(store.root.join(".tmp-rm-4567"), "").unwrap();
    store.sweep().unwrap();
    assert_eq!(leftovers(&store), Vec::<String>::new());
    assert_eq!(store.list().unwrap(), [id]);
}

#[test]
fn a_tree_is_given_to_the_workshops_root_without_following_its_symlinks() {
    if !nix_is_root() {
        return;
    }
    let (_tmp, store) = store();
    let id = store.commit(&sample()[..], ROOMY, None).unwrap();
    let tree = store.path(&id);
    let etc_before = fs::metadata("/etc").unwrap();
    store.own(&id, 100_000, 100_001).unwrap();
    for p in ["", "bin", "bin/tool", "etc", "meta", "meta/sdk.yaml"] {
        let m = fs::symlink_metadata(tree.join(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (100_000, 100_001), "{p:?}");
    }
    let etc = fs::metadata("/etc").unwrap();
    assert_eq!(
        (etc.uid(), etc.gid()),
        (etc_before.uid(), etc_before.gid()),
        "a symlink's target was changed"
    );
    // Done once: a tree whose top has the ids is left alone (its files are not walked).
    std::os::unix::fs::lchown(tree.join("bin/tool"), Some(0), Some(0)).unwrap();
    store.own(&id, 100_000, 100_001).unwrap();
    assert_eq!(fs::symlink_metadata(tree.join("bin/tool")).unwrap().uid(), 0);
    // A top left behind (a daemon stopped halfway) is walked again.
    std::os::unix::fs::lchown(&tree, Some(0), Some(0)).unwrap();
    store.own(&id, 100_000, 100_001).unwrap();
    assert_eq!(fs::symlink_metadata(tree.join("bin/tool")).unwrap().uid(), 100_000);
    assert_eq!(store.read_meta(&id).unwrap(), "name: x\n");
    store.remove(&id).unwrap();
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_gzip_stream_is_extracted_and_named_by_its_own_bytes() {
    use std::io::Write;
    let (_tmp, store) = store();
    let plain = sample();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let id = store.commit(&gz[..], ROOMY, None).unwrap();
    assert_eq!(id, sha3(&gz), "named by the stream as given");
    assert_eq!(store.read_meta(&id).unwrap(), "name: x\n");
    assert_eq!(fs::read_link(store.path(&id).join("etc")).unwrap(), Path::new("/etc"));
    // Compressions it cannot read are named, and leave nothing.
    for (head, name) in [(&b"\xfd7zXZ\x00rest"[..], "xz"), (&b"\x28\xb5\x2f\xfdrest"[..], "zstd")] {
        let err = store.commit(head, ROOMY, None).unwrap_err().to_string();
        assert!(err.contains(&format!("compressed with {name}")), "{err}");
    }
    assert_eq!(leftovers(&store), Vec::<String>::new());
}

#[test]
fn a_gzip_archive_is_bounded_by_what_it_holds() {
    use std::io::Write;
    let gzip = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    };
    let (_tmp, store) = store();
    // A few kilobytes that grow to 4 MiB: refused for the file's size, not read to the end.
    let bomb = gzip(&archive(&[("big", EntryType::Regular, &vec![0u8; 4 << 20], None)]));
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let err = store.commit(&bomb[..], Limits { bytes: 1 << 20, entries: 10 }, None).unwrap_err();
    assert_eq!(err.to_string(), "cannot store SDK tree: larger than 1048576 bytes");
    // Too many entries, a truncated stream, and gzip of no tar are refused too.
    let many: Vec<(String, EntryType, &[u8], Option<&str>)> =
        (0..20).map(|i| (format!("f{i}"), EntryType::Regular, &b""[..], None)).collect();
    let borrowed: Vec<(&str, EntryType, &[u8], Option<&str>)> =
        many.iter().map(|(n, k, d, l)| (n.as_str(), *k, *d, *l)).collect();
    let err =
        store.commit(&gzip(&archive(&borrowed))[..], Limits { bytes: 100, entries: 10 }, None).unwrap_err();
    assert_eq!(err.to_string(), "cannot store SDK tree: more than 10 entries");
    let whole = gzip(&sample());
    let err = store.commit(&whole[..whole.len() / 2], ROOMY, None).unwrap_err().to_string();
    assert!(err.starts_with("cannot read SDK archive: "), "{err}");
    let err = store.commit(&gzip(b"not a tar archive at all")[..], ROOMY, None).unwrap_err().to_string();
    assert!(err.starts_with("cannot read SDK archive: "), "{err}");
    assert_eq!(leftovers(&store), Vec::<String>::new());
}
