//! Failures carry LXD's explanation, and operations on stopped or missing workshops say so.

use workshop_actors::backend::{Backend, BackendError, Device, StopMode};

use crate::common::{self, UserGuard};

fn disk(source: &str, path: &str) -> Device {
    [("type", "disk"), ("source", source), ("path", path)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[actix_rt::test]
async fn start_failures_explain_why() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = UserGuard(user.clone());
    let image = common::image(&backend).await;

    // LXD refuses a disk whose source has gone.
    let target = common::target(&user, "gone");
    backend.create(&target, &common::spec(&image)).await.expect("create");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src");
    std::fs::create_dir(&source).unwrap();
    backend.set_device(&target, "data", &disk(source.to_str().unwrap(), "/mnt/data")).await.unwrap();
    std::fs::remove_dir(&source).unwrap();
    match backend.start(&target).await {
        Err(BackendError::StartFailed { name, reason }) => {
            assert_eq!(name, "gone");
            assert!(reason.contains("Missing source path"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!backend.get(&target).await.unwrap().unwrap().running);

    // liblxc cannot map a host uid LXD may not use: the reason is in lxc.log.
    let target = common::target(&user, "unmapped");
    let spec =
        workshop_actors::backend::CreateSpec { host_uid: 5000, host_gid: 5000, ..common::spec(&image) };
    backend.create(&target, &spec).await.expect("create");
    match backend.start(&target).await {
        Err(BackendError::StartFailed { reason, .. }) => {
            assert!(reason.contains("newuidmap"), "{reason}");
            assert!(reason.lines().count() > 1, "log tail expected: {reason}");
        }
        other => panic!("{other:?}"),
    }
    // LXD is still cleaning up after the failed start; delete waits for it.
    backend.delete(&target).await.expect("delete after a failed start");
    assert_eq!(backend.get(&target).await.unwrap(), None);
}

#[actix_rt::test]
async fn stopped_and_missing_workshops() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = UserGuard(user.clone());
    let image = common::image(&backend).await;
    let target = common::target(&user, "idle");

    // Nothing exists yet: not even the user's projects.
    assert_eq!(backend.get(&target).await.unwrap(), None);
    assert!(backend.list(&user, None).await.unwrap().is_empty());
    backend.delete(&target).await.expect("delete of a missing workshop");
    let missing = backend.set_config(&target, &[("user.x".into(), Some("1".into()))]).await;
    assert!(matches!(missing, Err(BackendError::NotLaunched(_))), "{missing:?}");
    let missing = backend.run(&target, &common::command(&["true"])).await;
    assert!(matches!(missing, Err(BackendError::NotLaunched(_))), "{missing:?}");

    backend.create(&target, &common::spec(&image)).await.expect("create");
    backend.stop(&target, StopMode::Clean).await.expect("stop a never-started workshop");
    backend.stop(&target, StopMode::Kill).await.expect("force stop a stopped workshop");
    let err = backend.run(&target, &common::command(&["true"])).await.unwrap_err();
    assert!(matches!(err, BackendError::Lxd(ref m) if m.contains("not running")), "{err:?}");
    let err = backend.exec(&target, &common::command(&["true"])).await.unwrap_err();
    assert!(matches!(err, BackendError::Lxd(_)), "{err:?}");
}
