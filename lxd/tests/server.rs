//! Server probe and the error for an unreachable socket.

use lxd_client::{Client, Endpoint, LxdError};

use crate::common;

#[actix_rt::test]
async fn server_probe() {
    let Some(lxd) = common::lxd() else { return };
    let info = lxd.server().await.expect("GET /1.0");
    assert!(info.is_trusted(), "auth = {}", info.auth);
    assert!(info.version().is_some(), "version {:?}", info.environment.server_version);
    assert!(info.has_extension("projects"));
    assert!(lxd.has_extension("instances").await.unwrap());
    assert!(!lxd.has_extension("no_such_extension_ever").await.unwrap());
    assert!(info.storage_drivers().iter().any(|d| d == "btrfs"), "{:?}", info.storage_drivers());
    assert_eq!(info.environment.kernel, "Linux");
}

#[actix_rt::test]
async fn missing_socket_is_actionable() {
    if common::lxd().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let lxd = Client::new(Endpoint::Unix(socket.clone())).unwrap();
    let err = lxd.server().await.unwrap_err();
    assert!(matches!(err, LxdError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot connect to LXD: {}: no such file\n\nMaybe LXD isn't installed?",
            socket.display()
        )),
        "{text}"
    );

    // A socket file nobody listens on.
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    drop(listener);
    let err = lxd.server().await.unwrap_err();
    assert!(err.to_string().contains("connection refused\n\nMaybe LXD daemon isn't active?"), "{err}");
}
