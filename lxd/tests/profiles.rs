//! Profiles: create, get with ETag, update, a stale ETag conflict, delete.

use std::collections::BTreeMap;

use lxd_client::ProfilePut;

use crate::common::{self, Cleanup};

#[actix_rt::test]
async fn profile_etag_conflict() {
    let Some(lxd) = common::lxd() else { return };
    let cleanup = Cleanup::new();
    let (project, lxd) = common::project(&lxd, &cleanup, "profile").await;
    let name = common::name("profile");
    cleanup.lxc(&["profile", "delete", "--project", &project, &name]);
    let put = ProfilePut {
        config: BTreeMap::from([("user.wst".to_owned(), "1".to_owned())]),
        description: "wst".into(),
        devices: common::root_device(),
    };
    lxd.create_profile(&name, &put).await.unwrap();
    assert!(lxd.create_profile(&name, &put).await.unwrap_err().is_already_exists());

    let (profile, etag) = lxd.get_profile(&name).await.unwrap();
    assert_eq!(profile.writable(), put);
    assert!(lxd.list_profiles().await.unwrap().iter().any(|p| p.name == name));

    let mut changed = profile.writable();
    changed.config.insert("user.wst".into(), "2".into());
    lxd.update_profile(&name, &changed, &etag).await.unwrap();
    let stale = lxd.update_profile(&name, &put, &etag).await.unwrap_err();
    assert!(stale.is_precondition_failed(), "{stale:?}");
    let (profile, fresh) = lxd.get_profile(&name).await.unwrap();
    assert_eq!(profile.config["user.wst"], "2");
    assert_ne!(fresh, etag);

    lxd.delete_profile(&name).await.unwrap();
    assert!(lxd.get_profile(&name).await.unwrap_err().is_not_found());
}
