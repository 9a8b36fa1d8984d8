//! Networks: the machine's bridge, and create/update (ETag)/delete of a bridge of our own.

use std::collections::BTreeMap;

use crate::common::{self, Cleanup};

#[actix_rt::test]
async fn network_get_update_delete() {
    let Some(lxd) = common::lxd() else { return };
    let (bridge, _) = lxd.get_network("workshopbr0").await.unwrap();
    assert_eq!(bridge.kind, "bridge");
    assert!(bridge.managed);
    assert!(lxd.get_network("wst-nope-0").await.unwrap_err().is_not_found());

    // Interface names are at most 15 characters.
    let name = format!("wst-nw-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let cleanup = Cleanup::new();
    cleanup.lxc(&["network", "delete", &name]);
    let config = BTreeMap::from([
        ("ipv4.address".to_owned(), "none".to_owned()),
        ("ipv6.address".to_owned(), "none".to_owned()),
    ]);
    lxd.create_network(&name, "bridge", &config).await.unwrap();
    let (network, etag) = lxd.get_network(&name).await.unwrap();
    assert_eq!(network.config["ipv4.address"], "none");

    let mut changed = network.writable();
    changed.config.insert("user.wst".into(), "1".into());
    lxd.update_network(&name, &changed, &etag).await.unwrap();
    assert!(
        lxd.update_network(&name, &network.writable(), &etag).await.unwrap_err().is_precondition_failed()
    );
    assert_eq!(lxd.get_network(&name).await.unwrap().0.config["user.wst"], "1");

    lxd.delete_network(&name).await.unwrap();
    assert!(lxd.get_network(&name).await.unwrap_err().is_not_found());
}
