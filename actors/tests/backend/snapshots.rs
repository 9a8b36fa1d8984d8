//! Layer snapshots: a running workshop kept as a snapshot of its user, a workshop copied from
//! it (its files, not its machine id), and the collection of snapshots no instance names.

use std::time::Duration;

use workshop_actors::backend::{Backend, CreateSpec, SNAPSHOT_REF_PREFIX};

use crate::common::{self, UserGuard};

#[actix_rt::test]
async fn a_snapshot_is_what_later_workshops_are_copied_from_until_it_is_collected() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = UserGuard(user.clone());
    let image = common::image(&backend).await;
    let spec = common::spec(&image);

    let first = common::target(&user, "one");
    backend.create(&first, &spec).await.expect("create");
    backend.start(&first).await.expect("start");
    backend.wait_ready(&first).await.expect("init system up");
    let first_id =
        common::output(&backend, &first, "echo layer > /root/layer; sync; cat /etc/machine-id").await;
    assert_eq!(first_id.len(), 32, "{first_id}");

    let name = format!("sdk-test-{:016x}", rand::random::<u64>());
    assert_eq!(backend.find_snapshot(&user, std::slice::from_ref(&name), true).await.unwrap(), None);
    backend.take_snapshot(&first, &name).await.expect("take a snapshot of a running workshop");
    // Kept again: only marked used.
    backend.take_snapshot(&first, &name).await.expect("take it again");
    let project = format!("workshop-snapshots.{user}");
    let snapshot = common::query(&format!("/1.0/instances/{name}?project={project}"));
    assert_eq!(snapshot["status"], "Stopped");
    assert_eq!(snapshot["config"]["user.workshop.snapshot-type"], "sdk");
    assert!(snapshot["config"]["user.workshop.project-id"].is_null(), "{snapshot:#}");
    assert_eq!(snapshot["profiles"], serde_json::json!([]));
    let devices: Vec<&String> = snapshot["devices"].as_object().unwrap().keys().collect();
    assert_eq!(devices, ["root"]);

    let missing = format!("sdk-test-{:016x}", rand::random::<u64>());
    let found = backend.find_snapshot(&user, &[missing, name.clone()], false).await.unwrap();
    assert_eq!(found.as_deref(), Some(name.as_str()));

    // A workshop copied from it has its files and makes its own machine id.
    let second = common::target(&user, "two");
    let from_snapshot = CreateSpec { snapshot: Some(name.clone()), ..spec.clone() };
    backend.create(&second, &from_snapshot).await.expect("create from the snapshot");
    backend.start(&second).await.expect("start the copy");
    backend.wait_ready(&second).await.expect("the copy's init system up");
    assert_eq!(common::output(&backend, &second, "cat /root/layer").await, "layer");
    let second_id = common::output(&backend, &second, "cat /etc/machine-id").await;
    assert_eq!(second_id.len(), 32, "{second_id}");
    assert_ne!(second_id, first_id);
    let copy = common::query(&format!("/1.0/instances/{}?project=workshop.{user}", second.instance_name()));
    assert!(copy["config"]["user.workshop.snapshot-type"].is_null(), "{copy:#}");

    // Named by an instance: kept, whatever its age.
    let key = format!("{SNAPSHOT_REF_PREFIX}0");
    backend.set_config(&second, &[(key.clone(), Some(name.clone()))]).await.unwrap();
    assert!(backend.collect_snapshots(Some(&user), Duration::ZERO).await.unwrap().is_empty());
    // Used within the cool-down: kept.
    backend.set_config(&second, &[(key, None)]).await.unwrap();
    let hour = Duration::from_secs(3600);
    assert!(backend.collect_snapshots(Some(&user), hour).await.unwrap().is_empty());
    assert_eq!(
        backend.collect_snapshots(Some(&user), Duration::ZERO).await.unwrap(),
        std::slice::from_ref(&name)
    );
    assert_eq!(backend.find_snapshot(&user, &[name], true).await.unwrap(), None);
    // A snapshot gone does not make a workshop from something else.
    let third = common::target(&user, "three");
    assert!(backend.create(&third, &from_snapshot).await.is_err());
    for target in [&first, &second, &third] {
        backend.delete(target).await.expect("delete");
    }
}
