//! Instances: create from an image alias, list with a filter, update with ETag, patch, state
//! changes, snapshots (create/restore/delete), copies into another project (from an instance
//! and from a snapshot), rename, delete; and a failed start that reports the lxc.log tail.

use std::collections::BTreeMap;
use std::time::Duration;

use lxd_client::{ExecRequest, InstanceCreate, InstanceSource, LxdError, StateAction};
use serde_json::json;

use crate::common::{self, Cleanup};

#[actix_rt::test]
async fn instance_lifecycle_snapshots_and_copies() {
    let Some(lxd) = common::lxd() else { return };
    let cleanup = Cleanup::new();
    let (project, lxd) = common::project(&lxd, &cleanup, "inst").await;
    let (other_project, other) = common::project(&lxd, &cleanup, "inst-copy").await;
    let name = common::name("inst");
    cleanup.instance(&project, &name);

    let mut create = common::container(&name);
    create.config.insert("user.wst.tag".into(), name.clone());
    lxd.create_instance(&create).await.unwrap();
    let listed = lxd.list_instances(Some(&format!("config.user.wst.tag eq {name}"))).await.unwrap();
    assert_eq!(listed.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), vec![name.as_str()]);
    assert!(lxd.list_instances(Some("config.user.wst.tag eq nothing")).await.unwrap().is_empty());

    let (instance, etag) = lxd.get_instance(&name).await.unwrap();
    assert_eq!(instance.status, "Stopped");
    assert_eq!(instance.devices["root"]["pool"], common::POOL);
    let mut put = instance.writable();
    put.config.insert("user.wst.put".into(), "1".into());
    lxd.update_instance(&name, &put, &etag).await.unwrap();
    let stale = lxd.update_instance(&name, &instance.writable(), &etag).await.unwrap_err();
    assert!(stale.is_precondition_failed(), "{stale:?}");
    lxd.patch_instance(&name, &json!({ "config": { "user.wst.patch": "2" } }), "").await.unwrap();
    let (instance, _) = lxd.get_instance(&name).await.unwrap();
    assert_eq!(instance.config["user.wst.put"], "1");
    assert_eq!(instance.config["user.wst.patch"], "2");

    lxd.start_instance(&name).await.unwrap();
    let state = lxd.instance_state(&name).await.unwrap();
    assert_eq!(state.status, "Running");
    assert!(state.pid > 0);
    lxd.restart_instance(&name, None, true).await.unwrap();
    assert!(lxd.get_instance(&name).await.unwrap().0.is_running());

    // Snapshot, change a file, restore: the change is gone.
    lxd.create_snapshot(&name, "s0").await.unwrap();
    let touch = ExecRequest::new(["touch", "/root/after-snapshot"]);
    assert_eq!(lxd.exec_output(&name, &touch).await.unwrap().exit_code, 0);
    lxd.restore_snapshot(&name, "s0").await.unwrap();
    let check = ExecRequest::new(["test", "-e", "/root/after-snapshot"]);
    assert_eq!(lxd.exec_output(&name, &check).await.unwrap().exit_code, 1);
    let snapshots = lxd.list_snapshots(&name).await.unwrap();
    assert_eq!(snapshots.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["s0"]);

    // Copies into another project: from the running instance and from its snapshot.
    let copy = common::name("inst-copy");
    let from_snapshot = common::name("inst-snap");
    cleanup.instance(&other_project, &copy);
    cleanup.instance(&other_project, &from_snapshot);
    let copy_source = |source: String| InstanceSource::Copy {
        source,
        project: Some(project.clone()),
        instance_only: true,
        refresh: false,
    };
    let mut create = InstanceCreate::new(&copy, copy_source(name.clone()));
    create.profiles = Some(vec!["default".into()]);
    other.create_instance(&create).await.unwrap();
    let mut create = InstanceCreate::new(&from_snapshot, copy_source(format!("{name}/s0")));
    create.profiles = Some(vec!["default".into()]);
    other.create_instance(&create).await.unwrap();
    let (copied, _) = other.get_instance(&copy).await.unwrap();
    assert_eq!(copied.config["user.wst.tag"], name);
    assert!(other.list_snapshots(&copy).await.unwrap().is_empty());
    other.get_instance(&from_snapshot).await.unwrap();

    lxd.delete_snapshot(&name, "s0").await.unwrap();
    assert!(lxd.list_snapshots(&name).await.unwrap().is_empty());

    // Other sources: an image by fingerprint, and nothing at all.
    let fingerprint = lxd.get_image_alias(common::IMAGE).await.unwrap().target;
    let by_fingerprint = common::name("inst-fp");
    let empty = common::name("inst-none");
    cleanup.instance(&project, &by_fingerprint);
    cleanup.instance(&project, &empty);
    let mut create = common::container(&by_fingerprint);
    create.source = InstanceSource::ImageFingerprint(fingerprint.clone());
    lxd.create_instance(&create).await.unwrap();
    let (instance, _) = lxd.get_instance(&by_fingerprint).await.unwrap();
    assert_eq!(instance.config.get("volatile.base_image"), Some(&fingerprint));
    let mut create = common::container(&empty);
    create.source = InstanceSource::None;
    lxd.create_instance(&create).await.unwrap();
    assert!(!lxd.get_instance(&empty).await.unwrap().0.config.contains_key("volatile.base_image"));
    lxd.delete_instance(&by_fingerprint, false).await.unwrap();
    lxd.delete_instance(&empty, false).await.unwrap();

    lxd.stop_instance(&name, Some(Duration::from_secs(30)), false).await.unwrap();
    assert_eq!(lxd.instance_state(&name).await.unwrap().status, "Stopped");
    let renamed = format!("{name}-b");
    cleanup.instance(&project, &renamed);
    lxd.rename_instance(&name, &renamed).await.unwrap();
    assert!(lxd.get_instance(&name).await.unwrap_err().is_not_found());
    lxd.change_state(&renamed, StateAction::Start, None, false).await.unwrap();
    lxd.delete_instance(&renamed, true).await.unwrap();
    assert!(matches!(lxd.get_instance(&renamed).await.unwrap_err(), LxdError::NotFound(_)));
    other.delete_instance(&copy, true).await.unwrap();
    other.delete_instance(&from_snapshot, true).await.unwrap();
}

#[actix_rt::test]
async fn failed_start_reports_log_tail() {
    let Some(lxd) = common::lxd() else { return };
    let cleanup = Cleanup::new();
    let (project, lxd) = common::project(&lxd, &cleanup, "badstart").await;
    let name = common::name("badstart");
    cleanup.instance(&project, &name);
    let mut create = common::container(&name);
    create.config = BTreeMap::from([(
        "raw.lxc".to_owned(),
        "lxc.mount.entry = /nonexistent-wst-source mnt none bind 0 0".to_owned(),
    )]);
    lxd.create_instance(&create).await.unwrap();
    let err = lxd.start_instance(&name).await.unwrap_err();
    let LxdError::StartFailed { instance, message, log_tail } = &err else { panic!("{err:?}") };
    assert_eq!(instance, &name);
    assert!(message.contains("Failed to run"), "{message}");
    assert!(!log_tail.is_empty() && log_tail.lines().count() <= 20, "{log_tail}");
    assert!(log_tail.contains("nonexistent-wst-source") || log_tail.contains("mount"), "{log_tail}");
    let text = err.to_string();
    assert!(text.starts_with(message.as_str()) && text.ends_with(log_tail.as_str()), "{text}");
}
