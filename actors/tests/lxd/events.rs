//! The event stream sees lifecycle events of this project.

use std::time::Duration;

use futures_util::StreamExt as _;
use workshop_actors::lxd::{EventKind, ProfilePut};

use crate::common::{self, Cleanup};

#[actix_rt::test]
async fn events_see_lifecycle() {
    let Some(lxd) = common::lxd() else { return };
    let cleanup = Cleanup::new();
    let (project, lxd) = common::project(&lxd, &cleanup, "events").await;
    let mut events = lxd.events(&[EventKind::Lifecycle]).await.unwrap();

    let name = common::name("events");
    cleanup.lxc(&["profile", "delete", "--project", &project, &name]);
    lxd.create_profile(&name, &ProfilePut::default()).await.unwrap();
    lxd.delete_profile(&name).await.unwrap();

    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            assert_eq!(event.kind, EventKind::Lifecycle);
            let lifecycle = event.lifecycle().unwrap();
            seen.push(lifecycle.action.clone());
            if lifecycle.action == "profile-deleted" && lifecycle.source.contains(&name) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "lifecycle events seen: {seen:?}");
    assert!(seen.contains(&"profile-created".to_owned()), "{seen:?}");
}
