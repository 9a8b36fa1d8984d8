//! The `sdk` CLI against a real daemon whose SDK Store is the fixture store on loopback (no LXD
//! needed), and without any Store.

use serde_json::Value;
use workshop_actors::store::fixture::{FixtureSdk, FixtureStore};
use workshop_integration::Daemon;

fn daemon(env: &[(&str, &str)]) -> Daemon {
    let mut all = vec![("LXD_SOCKET", "/nonexistent/lxd.socket")];
    all.extend_from_slice(env);
    Daemon::start_with(&all)
}

fn store() -> FixtureStore {
    let store = FixtureStore::start();
    store.publish(FixtureSdk::new("go", 3).platform(Some("ubuntu@24.04"), "amd64"));
    store.publish(FixtureSdk::new("go", 4).platform(Some("ubuntu@24.04"), "arm64"));
    store.publish(FixtureSdk::new("go", 7).channel("edge"));
    store.publish(FixtureSdk::new("uv", 1));
    store
}

#[test]
fn find_and_info_show_the_stores_sdks() {
    let store = store();
    let d = daemon(&[("WORKSHOP_STORE_URL", &store.url())]);

    let found = d.sdk(&["find", "go"]);
    assert_eq!(
        found.ok(),
        "NAME  VERSION  PUBLISHER         SUMMARY\n\
         go    1.7      Workshop Tests**  The go SDK\n"
    );
    assert_eq!(d.sdk(&["find", "--no-headers"]).ok().lines().count(), 2);
    let json: Value = serde_json::from_str(d.sdk(&["find", "sdk", "--format", "json"]).ok()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["publisher"]["validation"], "verified");
    let none = d.sdk(&["find", "nothing", "here"]);
    assert_eq!(none.fails(), "error: no matching SDKs for \"nothing here\"\n");

    let info = d.sdk(&["info", "go", "--arch", "all"]);
    let text = info.ok();
    assert!(
        text.starts_with("name:       go\npublisher:  Workshop Tests**\nlicense:    GPL-3.0-only\n"),
        "{text}"
    );
    let channels: Vec<&str> = text.lines().skip_while(|l| *l != "CHANNELS").collect();
    assert_eq!(channels[1], "  CHANNEL           VERSION  BUILD       BASE          ARCH   REV    SIZE");
    assert!(
        channels[2].starts_with("  latest/stable     1.3      2024-11-20  ubuntu@24.04  amd64    3  "),
        "{text}"
    );
    assert!(
        channels[3].starts_with("                    1.4      2024-11-20  ubuntu@24.04  arm64    4  "),
        "{text}"
    );
    assert!(channels[4].starts_with("  latest/candidate  ^   "), "{text}");
    assert!(
        channels[6].starts_with("  latest/edge       1.7      2024-11-20  all           all      7  "),
        "{text}"
    );
    // The host's architecture by default.
    let host = d.sdk(&["info", "go", "--base", "ubuntu@24.04"]).ok().to_string();
    assert!(!host.contains("ARCH") && !host.contains("BASE"), "{host}");
    let json: Value = serde_json::from_str(d.sdk(&["info", "go", "--format", "json"]).ok()).unwrap();
    assert_eq!(json["channels"].as_array().unwrap().len(), 3);
    assert_eq!(d.sdk(&["info", "nothing"]).fails(), "error: SDK \"nothing\" not found\n");
    assert!(d.sdk(&["info", "../etc"]).fails().starts_with("error: invalid SDK name \"../etc\""));

    // No tree store yet: nothing installed here.
    assert_eq!(d.sdk(&["list"]).ok(), "");
    assert_eq!(d.sdk(&["list", "--format", "json"]).ok(), "[]\n");
    assert!(store.requests().iter().all(|r| r.starts_with("GET /v2/sdks/")), "{:?}", store.requests());
}

#[test]
fn without_a_store_the_cli_says_which_and_why() {
    let d = daemon(&[]);
    let run = d.sdk(&["find", "go"]);
    assert_eq!(
        run.fails(),
        "error: cannot find SDKs matching \"go\": cannot reach the SDK Store at http://127.0.0.1:1: connection refused\n"
    );
    assert_eq!(d.sdk(&["list"]).ok(), "");
}

#[test]
fn our_store_variable_wins_over_the_references() {
    let store = store();
    // Only the reference's variable (the snap's store.url sets it).
    let d = daemon(&[("WORKSHOP_STORE_URL", ""), ("SDK_STORE_URL", &store.url())]);
    assert!(d.sdk(&["find", "go"]).ok().contains("The go SDK"));
    drop(d);
    // Both: WORKSHOP_STORE_URL wins.
    let d = daemon(&[("WORKSHOP_STORE_URL", "http://127.0.0.1:1"), ("SDK_STORE_URL", &store.url())]);
    assert!(d.sdk(&["find", "go"]).fails().contains("cannot reach the SDK Store at http://127.0.0.1:1"));
}
