//! Files: push/pull with owner and mode, append, directories, symlinks, recursive push of a
//! host directory, delete.

use std::os::unix::fs::PermissionsExt as _;

use bytes::Bytes;
use lxd_client::{ExecRequest, FileContent, FileKind, PushOptions, Upload};

use crate::common::{self, Cleanup};

#[actix_rt::test]
async fn file_push_pull() {
    let Some(lxd) = common::lxd() else { return };
    let cleanup = Cleanup::new();
    let (project, lxd) = common::project(&lxd, &cleanup, "files").await;
    let name = common::name("files");
    common::launch(&lxd, &cleanup, &project, &name).await;

    let owned = PushOptions::owned(1000, 1000, 0o640);
    lxd.push_file(&name, "/root/wst.txt", Upload::Bytes(Bytes::from_static(b"hello\n")), &owned)
        .await
        .unwrap();
    let (info, content) = lxd.pull_file(&name, "/root/wst.txt").await.unwrap();
    assert_eq!((info.kind, info.uid, info.gid, info.mode), (FileKind::File, 1000, 1000, 0o640));
    assert_eq!(content, FileContent::File(Bytes::from_static(b"hello\n")));
    let stat =
        lxd.exec_output(&name, &ExecRequest::new(["stat", "-c", "%u %g %a", "/root/wst.txt"])).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&stat.stdout), "1000 1000 640\n");

    let append = PushOptions { append: true, ..PushOptions::default() };
    lxd.push_file(&name, "/root/wst.txt", Upload::Bytes(Bytes::from_static(b"more\n")), &append)
        .await
        .unwrap();
    assert_eq!(
        lxd.pull_file(&name, "/root/wst.txt").await.unwrap().1,
        FileContent::File(Bytes::from_static(b"hello\nmore\n"))
    );

    // A host tree, pushed recursively.
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir(host.path().join("sub")).unwrap();
    std::fs::write(host.path().join("sub/a.txt"), b"a").unwrap();
    std::fs::set_permissions(host.path().join("sub/a.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(host.path().join("run.sh"), b"#!/bin/sh\necho run\n").unwrap();
    std::fs::set_permissions(host.path().join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("sub/a.txt", host.path().join("link")).unwrap();
    let tree = PushOptions { uid: Some(1000), gid: Some(1000), ..PushOptions::default() };
    let pushed = lxd.push_directory(&name, host.path(), "/root/tree", &tree).await.unwrap();
    assert_eq!(pushed, 5);
    let (info, listing) = lxd.pull_file(&name, "/root/tree").await.unwrap();
    assert_eq!((info.kind, info.uid), (FileKind::Directory, 1000));
    let FileContent::Directory(mut names) = listing else { panic!("{listing:?}") };
    names.sort();
    assert_eq!(names, vec!["link", "run.sh", "sub"]);
    let (info, _) = lxd.pull_file(&name, "/root/tree/sub/a.txt").await.unwrap();
    assert_eq!((info.mode, info.uid, info.gid), (0o600, 1000, 1000));
    let run = lxd.exec_output(&name, &ExecRequest::new(["/root/tree/run.sh"])).await.unwrap();
    assert_eq!(run.stdout, b"run\n");
    let readlink = lxd.exec_output(&name, &ExecRequest::new(["readlink", "/root/tree/link"])).await.unwrap();
    assert_eq!(readlink.stdout, b"sub/a.txt\n");
    // LXD 5.0 answers the resolved target.
    let (info, link) = lxd.pull_file(&name, "/root/tree/link").await.unwrap();
    assert_eq!(info.kind, FileKind::Symlink);
    assert!(matches!(&link, FileContent::Symlink(target) if target.ends_with("sub/a.txt")), "{link:?}");

    lxd.create_directory(&name, "/root/empty", &PushOptions::owned(0, 0, 0o750)).await.unwrap();
    let (info, listing) = lxd.pull_file(&name, "/root/empty").await.unwrap();
    assert_eq!((info.mode, listing), (0o750, FileContent::Directory(vec![])));

    lxd.delete_file(&name, "/root/wst.txt").await.unwrap();
    assert!(lxd.pull_file(&name, "/root/wst.txt").await.unwrap_err().is_not_found());
}
