//! Projects: create with config, get with ETag, update (and a stale ETag), list, delete.

use std::collections::BTreeMap;

use lxd_client::{ConfigPut, LxdError};

use crate::common::{self, Cleanup};

#[actix_rt::test]
async fn project_lifecycle() {
    let Some(lxd) = common::lxd() else { return };
    let cleanup = Cleanup::new();
    let name = common::name("project");
    cleanup.project(&name);
    let put = ConfigPut {
        config: BTreeMap::from([
            ("features.images".to_owned(), "false".to_owned()),
            ("user.wst".to_owned(), "1".to_owned()),
        ]),
        description: "wst".into(),
    };
    lxd.create_project(&name, &put).await.unwrap();
    let again = lxd.create_project(&name, &put).await.unwrap_err();
    assert!(again.is_already_exists(), "{again:?}");

    let (project, etag) = lxd.get_project(&name).await.unwrap();
    assert_eq!(project.config["user.wst"], "1");
    assert_eq!(project.config["features.images"], "false");
    assert!(!etag.is_empty());
    assert!(lxd.list_projects().await.unwrap().iter().any(|p| p.name == name));

    let mut changed = project.writable();
    changed.config.insert("user.more".into(), "2".into());
    lxd.update_project(&name, &changed, &etag).await.unwrap();
    let stale = lxd.update_project(&name, &project.writable(), &etag).await.unwrap_err();
    assert!(stale.is_precondition_failed(), "{stale:?}");
    assert_eq!(lxd.get_project(&name).await.unwrap().0.config["user.more"], "2");

    lxd.delete_project(&name).await.unwrap();
    let gone = lxd.get_project(&name).await.unwrap_err();
    assert!(matches!(gone, LxdError::NotFound(_)), "{gone:?}");
}
