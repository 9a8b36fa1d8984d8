//! The warnings routes over a real unix socket, driven by the CLI's client library, with the
//! daemon's actors on the fake backend: the caller lists, counts and dismisses their own
//! warnings (and daemon-wide ones), never another user's.

use std::rc::Rc;

use chrono::Utc;
use workshop_actors::backend::fake::FakeBackend;
use workshop_actors::backend::{Backend, CreateSpec, Target};
use workshop_actors::engine::{Query, Transact};
use workshop_actors::managers::UserRef;
use workshop_actors::managers::workshop::ListWorkshops;
use workshop_client::Client;

use crate::api;
use crate::api::peer;

/// The project id the caller and another user both hold; neither directory exists, so
/// listing it warns.
const PID: &str = "0000aaaa";

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[actix_web::test]
async fn callers_see_count_and_dismiss_only_their_own_and_daemon_wide_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let fake = Rc::new(FakeBackend::default());
    let (daemon, socket, _) = api::test_server(&root, fake.clone(), Default::default());

    // SAFETY: a plain getter.
    let uid = unsafe { libc::geteuid() };
    let (name, gid) = peer::user_entry(uid).unwrap();
    let other = UserRef { name: "wst-other".into(), uid: uid.wrapping_add(1).max(1), gid, data_home: None };
    let projects = serde_json::json!({
        name.clone(): [{"path": root.join("gone-mine"), "id": PID}],
        other.name.clone(): [{"path": root.join("gone-other"), "id": PID}],
    });
    daemon.engine.send(Transact(Box::new(move |st| st.set("projects", projects)))).await.unwrap().unwrap();
    for user in [&name, &other.name] {
        Backend::create(fake.as_ref(), &Target::new(user, PID, "ws"), &CreateSpec::default()).await.unwrap();
    }

    // The other user's listing warns them; the caller sees nothing of it.
    let list = ListWorkshops { user: other.clone(), project_id: PID.into(), state: String::new() };
    daemon.workshops.send(list).await.unwrap().unwrap();
    let client = Client::new(&socket);
    let (seen, count) = blocking(move || {
        let seen = client.warnings(true).unwrap();
        (seen, client.warnings_summary().count)
    })
    .await;
    assert!(seen.is_empty(), "another user's warning is listed: {seen:?}");
    assert_eq!(count, 0, "another user's warning is counted");

    // The caller's own listing warns them, and they dismiss it; the other user's stays.
    let client = Client::new(&socket);
    let (mine, count_after_listing, after_okay) = blocking(move || {
        client.workshops(PID, None).unwrap();
        let count = client.warnings_summary().count;
        let mine = client.warnings(false).unwrap();
        client.okay(Utc::now()).unwrap();
        (mine, count, client.warnings(false).unwrap())
    })
    .await;
    assert_eq!(count_after_listing, 1);
    assert_eq!(mine.len(), 1);
    assert!(mine[0].message.contains("gone-mine"), "{}", mine[0].message);
    assert!(after_okay.is_empty(), "{after_okay:?}");
    let other_uid = other.uid;
    let others = daemon
        .engine
        .send(Query(Box::new(move |st| {
            st.pending_warnings(other_uid, Utc::now())
                .0
                .iter()
                .map(|w| w.message().to_string())
                .collect::<Vec<_>>()
        })))
        .await
        .unwrap();
    assert_eq!(others.len(), 1, "the caller's okay dismissed another user's warning");
    assert!(others[0].contains("gone-other"), "{others:?}");

    // A daemon-wide warning is everyone's to see; only root dismisses it.
    daemon
        .engine
        .send(Transact(Box::new(|st| st.warn(None, "daemon-wide", Utc::now()))))
        .await
        .unwrap()
        .unwrap();
    let client = Client::new(&socket);
    let (wide, left) = blocking(move || {
        let wide = client.warnings(false).unwrap();
        client.okay(Utc::now()).unwrap();
        (wide, client.warnings(false).unwrap())
    })
    .await;
    assert_eq!(wide.iter().map(|w| w.message.as_str()).collect::<Vec<_>>(), ["daemon-wide"]);
    assert_eq!(left.len(), usize::from(uid != 0));
}
