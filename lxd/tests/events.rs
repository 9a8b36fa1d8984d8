//! The event stream sees lifecycle events of this project.

use std::time::Duration;

use futures_util::StreamExt as _;
use lxd_client::{EventKind, ProfilePut};

use crate::common::{self, Cleanup};

/// LXD may register the listener of a new event stream a moment after the handshake, so
/// the first round of events can be missed; each round uses a new profile, and the test
/// asks for one round in which both events of that very profile arrive.
const ROUNDS: usize = 5;

#[actix_rt::test]
async fn events_see_lifecycle() {
    let Some(lxd) = common::lxd() else { return };
    let cleanup = Cleanup::new();
    let (project, lxd) = common::project(&lxd, &cleanup, "events").await;
    let mut events = lxd.events(&[EventKind::Lifecycle]).await.unwrap();

    let mut seen = Vec::new();
    for round in 0..ROUNDS {
        let name = common::name(&format!("events{round}"));
        cleanup.lxc(&["profile", "delete", "--project", &project, &name]);
        lxd.create_profile(&name, &ProfilePut::default()).await.unwrap();
        lxd.delete_profile(&name).await.unwrap();

        let mut created = false;
        let round_seen = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(event) = events.next().await {
                let event = event.unwrap();
                assert_eq!(event.kind, EventKind::Lifecycle);
                let lifecycle = event.lifecycle().unwrap();
                seen.push(lifecycle.action.clone());
                if !lifecycle.source.contains(&name) {
                    continue;
                }
                match lifecycle.action.as_str() {
                    "profile-created" => created = true,
                    "profile-deleted" => return true,
                    _ => {}
                }
            }
            false
        })
        .await;
        if round_seen == Ok(true) && created {
            return;
        }
    }
    panic!("no round saw both lifecycle events of its profile; seen: {seen:?}");
}
