//! The system check, per-user projects and base resolution.

use workshop_actors::backend::lxd::{LxdBackend, LxdBackendConfig};
use workshop_actors::backend::{Backend, BackendError};
use workshop_actors::lxd::{Client, Endpoint};

use crate::common::{self, UserGuard};

#[actix_rt::test]
async fn check_reports_a_ready_lxd() {
    let Some(backend) = common::backend() else { return };
    for round in 0..2 {
        let (status, result) = backend.check().await;
        assert_eq!(result, Ok(()), "round {round}");
        assert!(status.reachable);
        assert!(status.server_version.as_deref().is_some_and(|v| !v.is_empty()), "{status:?}");
        assert!(matches!(status.storage_driver.as_deref(), Some("btrfs" | "zfs")), "{status:?}");
        assert!(status.endpoint.as_deref().is_some_and(|e| e.ends_with("unix.socket")), "{status:?}");
    }
}

#[actix_rt::test]
async fn check_explains_an_unreachable_lxd() {
    if common::backend().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let client = Client::new(Endpoint::Unix(socket.clone())).unwrap();
    let backend = LxdBackend::new(client, LxdBackendConfig::default());
    let (status, result) = backend.check().await;
    assert!(!status.reachable);
    assert_eq!(status.endpoint, Some(socket.display().to_string()));
    let reason = result.unwrap_err();
    assert!(reason.contains("Maybe LXD isn't installed?"), "{reason}");
}

#[actix_rt::test]
async fn ensure_user_creates_both_projects() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = UserGuard(user.clone());
    backend.ensure_user(&user).await.expect("ensure_user");
    backend.ensure_user(&user).await.expect("ensure_user again");

    let mut names: Vec<String> =
        common::projects_of(&user).iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, [format!("workshop-snapshots.{user}"), format!("workshop.{user}")]);
    for name in names {
        let project = common::query(&format!("/1.0/projects/{name}"));
        let config = &project["config"];
        assert_eq!(config["features.images"], "false", "{name}");
        assert_eq!(config["features.profiles"], "true", "{name}");
        assert_eq!(config["features.storage.volumes"], "false", "{name}");
        assert_eq!(config["user.workshop.username"], user.as_str(), "{name}");
        let profile = common::query(&format!("/1.0/profiles/default?project={name}"));
        let devices = &profile["devices"];
        assert_eq!(devices["root"]["pool"], "workshop", "{name}: {devices}");
        assert_eq!(devices["root"]["path"], "/", "{name}");
        assert_eq!(devices["eth0"]["network"], "workshopbr0", "{name}: {devices}");
        assert_eq!(devices["eth0"]["name"], "eth0", "{name}");
    }

    // A fresh backend (empty cache) finds everything in place.
    let fresh = common::backend().unwrap();
    fresh.ensure_user(&user).await.expect("ensure_user with a fresh backend");
    assert_eq!(common::projects_of(&user).len(), 2);
}

#[actix_rt::test]
async fn odd_user_names_get_valid_projects() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name().replace('-', "_");
    let _guard = UserGuard(user.clone());
    backend.ensure_user(&user).await.expect("ensure_user");
    let projects = common::projects_of(&user);
    assert_eq!(projects.len(), 2, "{projects:?}");
    for project in projects {
        let name = project["name"].as_str().unwrap();
        assert!(
            name.starts_with(&format!("workshop.{}-", user.replace('_', "-")))
                || name.starts_with(&format!("workshop-snapshots.{}-", user.replace('_', "-"))),
            "{name}"
        );
    }
}

#[actix_rt::test]
async fn bases_resolve_to_local_images() {
    let Some(backend) = common::backend() else { return };
    for base in ["ubuntu@22.04", "debian@12"] {
        let image = backend.resolve_base(base).await.unwrap_or_else(|e| panic!("{base}: {e}"));
        let alias = common::query(&format!("/1.0/images/aliases/{base}"));
        assert_eq!(image.name, base);
        assert_eq!(image.fingerprint, alias["target"].as_str().unwrap(), "{base}");
        assert_eq!(image.fingerprint.len(), 64);
    }
    for unknown in ["ubuntu@99.04", "nonsense"] {
        match backend.resolve_base(unknown).await {
            Err(BackendError::BaseNotFound { base, reason }) => {
                assert_eq!(base, unknown);
                assert!(reason.contains("no image alias"), "{reason}");
            }
            other => panic!("{unknown}: {other:?}"),
        }
    }
}
