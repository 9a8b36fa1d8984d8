//! The HTTPS transport: a client certificate trusted over the Unix socket, the server
//! certificate pinned; then an image copy from that HTTPS endpoint as a remote "lxd" server.

use std::collections::BTreeMap;
use std::process::Command;

use lxd_client::{Client, ConfigPut, Endpoint, ImageImport, LxdError, RemoteImage, TlsIdentity, Upload};
use serde_json::{Value, json};

use crate::common::{self, Cleanup};

/// SHA-256 fingerprint of a PEM certificate, as LXD writes it.
fn cert_fingerprint(cert: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("run openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().rsplit('=').next().unwrap().replace(':', "").to_lowercase()
}

#[actix_rt::test]
async fn https_with_client_certificate() {
    let Some(lxd) = common::lxd() else { return };
    let cleanup = Cleanup::new();
    let (info, etag) = lxd.server_etag().await.unwrap();
    let configured = info.config.get("core.https_address").and_then(Value::as_str).filter(|a| !a.is_empty());
    let set_address = configured.is_none();
    let address = match configured {
        Some(address) => address.to_owned(),
        None => {
            // Read-modify-write of the whole server config, guarded by its ETag.
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let address = format!("127.0.0.1:{port}");
            cleanup.lxc(&["config", "unset", "core.https_address"]);
            let mut config = info.config.clone();
            config.insert("core.https_address".to_owned(), json!(address));
            lxd.update_server_config(&config, &etag).await.unwrap();
            address
        }
    };
    let host = address.replace("[::]", "127.0.0.1").replace("0.0.0.0", "127.0.0.1");
    let host = if host.starts_with(':') { format!("127.0.0.1{host}") } else { host };

    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("client.crt"), dir.path().join("client.key"));
    let name = common::name("https");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:secp384r1",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", &format!("/CN={name}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    cleanup.lxc(&["config", "trust", "remove", &cert_fingerprint(&cert)]);
    let cert_pem = std::fs::read(&cert).unwrap();
    lxd.add_client_certificate(&name, &cert_pem, &[]).await.unwrap();
    assert!(
        lxd.list_certificates()
            .await
            .unwrap()
            .iter()
            .any(|c| c.name == name && c.fingerprint == cert_fingerprint(&cert))
    );

    let identity = TlsIdentity {
        client_cert_pem: cert_pem.clone(),
        client_key_pem: std::fs::read(&key).unwrap(),
        server_cert_pem: info.environment.certificate.clone().into_bytes(),
    };
    let url = format!("https://{host}");
    let remote = Client::new(Endpoint::Https { url: url.clone(), identity: identity.clone() }).unwrap();
    let remote_info = remote.server().await.unwrap();
    assert_eq!(remote_info.auth, "trusted");
    assert_eq!(remote_info.environment.server_version, info.environment.server_version);

    // A websocket over TLS: exec-free, but the event stream is one.
    let _events = remote.events(&[]).await.unwrap();

    // Another server certificate is refused.
    let wrong = TlsIdentity { server_cert_pem: cert_pem, ..identity };
    let refused = Client::new(Endpoint::Https { url: url.clone(), identity: wrong })
        .unwrap()
        .server()
        .await
        .unwrap_err();
    assert!(matches!(refused, LxdError::Unreachable { .. }), "{refused:?}");

    // Copy a public image from this server, seen as a remote "lxd" image server, into a
    // project with its own images.
    let tag = common::name("remote");
    let (meta, rootfs) = common::tiny_image(dir.path(), &tag);
    let options = ImageImport { public: true, ..ImageImport::default() };
    let fingerprint = lxd.import_image(Upload::File(meta), Upload::File(rootfs), &options).await.unwrap();
    cleanup.lxc(&["image", "delete", &fingerprint]);
    let project = common::name("remote");
    cleanup.project(&project);
    let config = BTreeMap::from([("features.images".to_owned(), "true".to_owned())]);
    lxd.create_project(&project, &ConfigPut { config, description: String::new() }).await.unwrap();
    cleanup.lxc(&["image", "delete", "--project", &project, &fingerprint]);
    let source = RemoteImage {
        server: url,
        protocol: "lxd".into(),
        alias_or_fingerprint: fingerprint.clone(),
        image_type: "container".into(),
        certificate: info.environment.certificate.clone(),
    };
    let scoped = lxd.project(&project);
    let mut updates = 0;
    let copied =
        scoped.copy_image_from_remote(&source, &[&tag], &BTreeMap::new(), |_| updates += 1).await.unwrap();
    assert_eq!(copied, fingerprint);
    assert_eq!(scoped.get_image_alias(&tag).await.unwrap().target, fingerprint);
    eprintln!("image copy: {updates} progress updates");
    scoped.delete_image(&fingerprint).await.unwrap();

    // Without the certificate in the trust store the same client is untrusted.
    lxd.delete_certificate(&cert_fingerprint(&cert)).await.unwrap();
    assert_eq!(remote.server().await.unwrap().auth, "untrusted");

    if set_address {
        let unset = BTreeMap::from([("core.https_address".to_owned(), json!(""))]);
        lxd.patch_server_config(&unset).await.unwrap();
        let now = lxd.server().await.unwrap();
        assert!(now.config.get("core.https_address").is_none_or(|v| v == ""), "{:?}", now.config);
    }
}
