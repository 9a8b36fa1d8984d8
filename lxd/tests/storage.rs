//! Storage: the pool, custom volumes (create, update with ETag, filtered list, usage, delete),
//! import from a plain tarball and from a volume backup, and the imported files seen from a
//! container.

use std::collections::BTreeMap;

use lxd_client::{ExecRequest, Upload};

use crate::common::{self, Cleanup, POOL};

#[actix_rt::test]
async fn pool_and_custom_volumes() {
    let Some(lxd) = common::lxd() else { return };
    let cleanup = Cleanup::new();
    let (pool, _) = lxd.get_storage_pool(POOL).await.unwrap();
    assert_eq!(pool.driver, "btrfs");
    let usage = lxd.storage_pool_usage(POOL).await.unwrap();
    assert!(usage.total > 0 && usage.used <= usage.total, "{usage:?}");
    assert!(lxd.get_storage_pool("wst-no-pool").await.unwrap_err().is_not_found());

    // A pool of our own: create, update with ETag, delete.
    let own = common::name("pool");
    cleanup.lxc(&["storage", "delete", &own]);
    lxd.create_storage_pool(&own, "dir", &BTreeMap::new()).await.unwrap();
    let (created, etag) = lxd.get_storage_pool(&own).await.unwrap();
    assert_eq!((created.driver.as_str(), created.status.as_str()), ("dir", "Created"));
    let mut put = created.writable();
    put.config.insert("user.wst".into(), "1".into());
    lxd.update_storage_pool(&own, &put, &etag).await.unwrap();
    if !etag.is_empty() {
        // LXD 5.0 sends no ETag for pools; newer servers do.
        let stale = lxd.update_storage_pool(&own, &created.writable(), &etag).await.unwrap_err();
        assert!(stale.is_precondition_failed(), "{stale:?}");
    }
    assert_eq!(lxd.get_storage_pool(&own).await.unwrap().0.config["user.wst"], "1");
    lxd.delete_storage_pool(&own).await.unwrap();
    assert!(lxd.get_storage_pool(&own).await.unwrap_err().is_not_found());

    let kind = common::name("kind");
    let name = common::name("vol");
    cleanup.lxc(&["storage", "volume", "delete", POOL, &name]);
    let config = BTreeMap::from([("user.kind".to_owned(), kind.clone())]);
    lxd.create_custom_volume(POOL, &name, &config).await.unwrap();
    assert!(lxd.create_custom_volume(POOL, &name, &config).await.unwrap_err().is_already_exists());
    let (volume, etag) = lxd.get_custom_volume(POOL, &name).await.unwrap();
    assert_eq!((volume.kind.as_str(), volume.content_type.as_str()), ("custom", "filesystem"));
    let mut put = volume.writable();
    put.config.insert("user.sha3-384".into(), "abc".into());
    lxd.update_custom_volume(POOL, &name, &put, &etag).await.unwrap();
    assert!(
        lxd.update_custom_volume(POOL, &name, &volume.writable(), &etag)
            .await
            .unwrap_err()
            .is_precondition_failed()
    );
    let listed = lxd.list_custom_volumes(POOL, Some(&format!("config.user.kind eq {kind}"))).await.unwrap();
    assert_eq!(listed.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), vec![name.as_str()]);
    assert_eq!(listed[0].config["user.sha3-384"], "abc");
    lxd.custom_volume_usage(POOL, &name).await.unwrap();
    lxd.delete_custom_volume(POOL, &name).await.unwrap();
    assert!(lxd.get_custom_volume(POOL, &name).await.unwrap_err().is_not_found());

    // A plain tarball becomes a volume.
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("sdk.tar");
    common::write_tar(
        &tarball,
        &[
            ("bin/hello", b"#!/bin/sh\necho hello from volume\n", 0o755),
            ("meta/sdk.yaml", b"name: wst\n", 0o644),
        ],
    );
    let imported = common::name("volimp");
    cleanup.lxc(&["storage", "volume", "delete", POOL, &imported]);
    lxd.import_custom_volume_tarball(POOL, &imported, &tarball).await.unwrap();
    assert_eq!(lxd.get_custom_volume(POOL, &imported).await.unwrap().0.content_type, "filesystem");

    // A volume backup (as `lxc storage volume export` writes it) becomes a volume too.
    let backup = dir.path().join("backup.tar.gz");
    common::lxc(&["storage", "volume", "export", POOL, &imported, backup.to_str().unwrap()]);
    let restored = common::name("volbak");
    cleanup.lxc(&["storage", "volume", "delete", POOL, &restored]);
    lxd.import_custom_volume_backup(POOL, &restored, Upload::File(backup)).await.unwrap();

    // Both are readable from a container.
    let (project, scoped) = common::project(&lxd, &cleanup, "vol").await;
    let instance = common::name("vol");
    cleanup.instance(&project, &instance);
    let mut create = common::container(&instance);
    for (device, volume) in [("a", &imported), ("b", &restored)] {
        create.devices.insert(
            device.to_owned(),
            BTreeMap::from([
                ("type".to_owned(), "disk".to_owned()),
                ("pool".to_owned(), POOL.to_owned()),
                ("source".to_owned(), volume.clone()),
                ("path".to_owned(), format!("/mnt/{device}")),
            ]),
        );
    }
    scoped.create_instance(&create).await.unwrap();
    scoped.start_instance(&instance).await.unwrap();
    for device in ["a", "b"] {
        let run = ExecRequest::new([
            "sh",
            "-c",
            &format!("/mnt/{device}/bin/hello && cat /mnt/{device}/meta/sdk.yaml"),
        ]);
        let out = scoped.exec_output(&instance, &run).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from volume\nname: wst\n", "{out:?}");
    }
    let in_use = lxd.delete_custom_volume(POOL, &imported).await.unwrap_err();
    assert!(in_use.to_string().contains("in use"), "{in_use}");
    scoped.delete_instance(&instance, true).await.unwrap();
    lxd.delete_custom_volume(POOL, &imported).await.unwrap();
    lxd.delete_custom_volume(POOL, &restored).await.unwrap();
}
