//! A rebuild: the new instance made beside the running one (`next-<instance>`), put in its
//! place by the stash with the old one's machine id, put back by the unstash; each step
//! again after a crash finds its work done.

use workshop_actors::backend::{Backend, CreateSpec, StopMode, Target};

use crate::common::{self, UserGuard};

/// The generation an instance of the workshop's project was made as; None when it is missing.
fn generation(target: &Target, name: &str) -> Option<String> {
    let user = &target.user;
    let text = common::lxc(&["query", &format!("/1.0/instances/{name}?project=workshop.{user}")])?;
    let found: serde_json::Value = serde_json::from_str(&text).expect("JSON from lxc query");
    Some(found["config"]["user.test.generation"].as_str().expect("a generation").to_string())
}

/// Whether instance `name` of `target`'s user has post-stop hooks in its `raw.lxc` (which
/// name the instance they were made for).
fn hooked(target: &Target, name: &str) -> bool {
    let found = common::query(&format!("/1.0/instances/{name}?project=workshop.{}", target.user));
    found["config"]["raw.lxc"].as_str().expect("a raw.lxc").contains("lxc.hook.post-stop")
}

#[actix_rt::test]
async fn a_rebuild_is_made_beside_the_workshop_and_swapped_in_or_put_back() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = UserGuard(user.clone());
    let image = common::image(&backend).await;
    let ws = common::target(&user, "rebuilt");
    let mut spec = common::spec(&image);
    spec.config.insert("user.test.generation".into(), "old".into());
    backend.create(&ws, &spec).await.expect("create");
    backend.start(&ws).await.expect("start");
    backend.wait_ready(&ws).await.expect("init system up");
    let id = common::output(&backend, &ws, "cat /etc/machine-id").await;
    assert_eq!(id.len(), 32, "{id}");

    // Made while the workshop runs (a stash needs it stopped, and says so).
    let mut next = CreateSpec { rebuild: true, ..spec.clone() };
    next.config.insert("user.test.generation".into(), "new".into());
    backend.create(&ws, &next).await.expect("create the rebuilt instance beside it");
    backend.create(&ws, &next).await.expect("again, as after a crash");
    assert_eq!(generation(&ws, &ws.next_name()).as_deref(), Some("new"));
    assert_eq!(generation(&ws, &ws.instance_name()).as_deref(), Some("old"));
    assert!(
        backend.list(&user, None).await.unwrap().iter().all(|i| i.config["user.test.generation"] == "old")
    );
    backend.stop(&ws, StopMode::Discard).await.expect("kill");
    let killed = backend.get(&ws).await.unwrap().expect("still there");
    assert!(!killed.running && killed.autostart, "killed, its mark to run left for the stash");

    let stash_id = backend.stash(&ws, &[]).await.expect("stash");
    assert!(!stash_id.is_empty());
    assert!(!hooked(&ws, &ws.stash_name()), "the stash has no hooks naming the workshop's instance");
    assert_eq!(backend.stash(&ws, &[]).await.expect("stash again: done already"), stash_id);
    assert_eq!(generation(&ws, &ws.instance_name()).as_deref(), Some("new"));
    assert_eq!(generation(&ws, &ws.stash_name()).as_deref(), Some("old"));
    assert_eq!(generation(&ws, &ws.next_name()), None);
    backend.keep_machine_id(&ws).await.expect("keep the machine id");
    backend.start(&ws).await.expect("start the rebuilt one");
    backend.wait_ready(&ws).await.expect("its init system up");
    assert_eq!(
        common::output(&backend, &ws, "cat /etc/machine-id").await,
        id,
        "the workshop keeps its identity"
    );

    // Put back: the old one in place, nothing else left.
    backend.stop(&ws, StopMode::Discard).await.expect("kill the rebuilt one");
    // A stash keeps its mark to run: LXD may have started it by itself meanwhile.
    let project = format!("workshop.{user}");
    common::lxc(&["start", "--project", &project, &ws.stash_name()]).expect("start the stash as LXD would");
    backend.unstash(&ws).await.expect("unstash");
    assert!(!backend.get(&ws).await.unwrap().expect("put back").running, "killed before it was put back");
    backend.unstash(&ws).await.expect("unstash again");
    assert_eq!(generation(&ws, &ws.instance_name()).as_deref(), Some("old"));
    assert_eq!(generation(&ws, &ws.stash_name()), None);

    // A crash between the two renames: the stash finishes the swap. The workshop ran
    // before (its start gives it hooks naming it, where LXD's hooks can be learned).
    backend.start(&ws).await.expect("start the old one again");
    backend.stop(&ws, StopMode::Discard).await.expect("kill it again");
    backend.create(&ws, &next).await.expect("rebuild again");
    common::lxc(&["mv", "--project", &format!("workshop.{user}"), &ws.instance_name(), &ws.stash_name()])
        .expect("rename as a stash would");
    let stash_id = backend.stash(&ws, &[]).await.expect("finish the stash");
    assert_eq!(generation(&ws, &ws.instance_name()).as_deref(), Some("new"));
    assert!(!hooked(&ws, &ws.stash_name()), "hooks of a stash renamed before a crash go too");
    // Only the stash of that id goes.
    backend.discard_stash(&ws, "another-refresh").await.expect("leave another refresh's stash");
    assert_eq!(generation(&ws, &ws.stash_name()).as_deref(), Some("old"));

    // The next refresh's stash waits for the last one's to go.
    let mut newer = next.clone();
    newer.config.insert("user.test.generation".into(), "newer".into());
    backend.create(&ws, &newer).await.expect("rebuild while the last stash is there");
    let later = async {
        actix_rt::time::sleep(std::time::Duration::from_millis(400)).await;
        backend.discard_stash(&ws, &stash_id).await
    };
    let (stashed, discarded) = futures_util::future::join(backend.stash(&ws, &[]), later).await;
    discarded.expect("discard the last stash");
    let last_id = stashed.expect("stash once the last one went");
    assert_ne!(last_id, stash_id);
    assert_eq!(generation(&ws, &ws.instance_name()).as_deref(), Some("newer"));
    assert_eq!(generation(&ws, &ws.stash_name()).as_deref(), Some("new"));
    // One whose refresh went through (its id spent) is deleted at once.
    let mut newest = next.clone();
    newest.config.insert("user.test.generation".into(), "newest".into());
    backend.create(&ws, &newest).await.expect("rebuild again");
    let started = std::time::Instant::now();
    backend.stash(&ws, std::slice::from_ref(&last_id)).await.expect("stash in place of a spent one");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "not waited for");
    assert_eq!(generation(&ws, &ws.stash_name()).as_deref(), Some("newer"));
    assert_eq!(generation(&ws, &ws.instance_name()).as_deref(), Some("newest"));
    backend.delete_stash(&ws).await.expect("delete the stash");
    assert_eq!(generation(&ws, &ws.stash_name()), None);

    // A rebuild given up before its stash is discarded; without one, the stash refuses.
    backend.create(&ws, &next).await.expect("rebuild once more");
    backend.discard_rebuild(&ws).await.expect("discard it");
    backend.discard_rebuild(&ws).await.expect("discard it again");
    assert_eq!(generation(&ws, &ws.next_name()), None);
    let refused = backend.stash(&ws, &[]).await.expect_err("no rebuilt instance").to_string();
    assert!(refused.contains("has no rebuilt instance"), "{refused}");
    assert_eq!(generation(&ws, &ws.instance_name()).as_deref(), Some("newest"));
    backend.delete(&ws).await.expect("delete");
}

/// Workshops named like another one's stash or rebuilt instance (`stash-x`, `next-x` beside
/// `x`) are workshops of their own: a refresh of `x` neither takes them for its rebuilt
/// instance nor deletes or renames them; and a stash of the older names (`stash-<instance>`,
/// made by a version before) is still put back.
#[actix_rt::test]
async fn workshops_named_like_a_stash_or_a_rebuild_are_left_alone() {
    let Some(backend) = common::backend() else { return };
    let user = common::user_name();
    let _guard = UserGuard(user.clone());
    let image = common::image(&backend).await;
    let ws = common::target(&user, "twin");
    let sibling = |name: &str| Target::new(&user, &ws.project_id, name);
    let lookalikes = [sibling("next-twin"), sibling("stash-twin")];
    let mut spec = common::spec(&image);
    for (target, generation) in [(&ws, "old"), (&lookalikes[0], "next-twin"), (&lookalikes[1], "stash-twin")]
    {
        spec.config.insert("user.test.generation".into(), generation.into());
        backend.create(target, &spec).await.expect("create");
    }
    let mut next = CreateSpec { rebuild: true, ..spec.clone() };
    next.config.insert("user.test.generation".into(), "new".into());
    backend.create(&ws, &next).await.expect("create the rebuilt instance");
    let id = backend.stash(&ws, &[]).await.expect("stash");
    assert_eq!(generation(&ws, &ws.instance_name()).as_deref(), Some("new"));
    backend.discard_stash(&ws, &id).await.expect("discard the stash");
    backend.delete_stash(&ws).await.expect("delete the stash");
    backend.discard_rebuild(&ws).await.expect("discard a rebuild");
    for (target, generation) in lookalikes.iter().zip(["next-twin", "stash-twin"]) {
        assert_eq!(
            backend.get(target).await.unwrap().map(|i| i.config["user.test.generation"].clone()).as_deref(),
            Some(generation),
            "{target:?} is untouched"
        );
    }

    // A stash of the older name is put back.
    let project = format!("workshop.{user}");
    let legacy = format!("stash-{}", ws.instance_name());
    common::lxc(&["delete", "--project", &project, &lookalikes[1].instance_name()])
        .expect("delete stash-twin");
    common::lxc(&["mv", "--project", &project, &ws.instance_name(), &legacy]).expect("stash as before");
    backend.unstash(&ws).await.expect("unstash the older stash");
    assert_eq!(generation(&ws, &ws.instance_name()).as_deref(), Some("new"));
    assert_eq!(generation(&ws, &legacy), None);
    for target in [&ws, &lookalikes[0]] {
        backend.delete(target).await.expect("delete");
    }
}
