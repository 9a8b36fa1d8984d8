//! The Store client against the fixture store on loopback: resolve, download, search and
//! information, and a Store that misbehaves.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use super::fixture::{Fault, FixtureSdk, FixtureStore, Route};
use super::*;

/// Limits small enough for hostile answers to hit them quickly.
fn limits() -> Limits {
    Limits {
        max_json: 1 << 20,
        max_archive: 1 << 20,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_millis(500),
        max_sdks: 8,
    }
}

fn client(url: &str, cache: &Path) -> StoreClient {
    let mut config = StoreConfig::new(url, URL_ENV, cache).unwrap();
    config.limits = limits();
    StoreClient::new(config)
}

fn sdk(name: &str) -> StoreSdk {
    StoreSdk { name: name.into(), channel: None }
}

fn sdk_in(name: &str, channel: &str) -> StoreSdk {
    StoreSdk { name: name.into(), channel: Some(channel.into()) }
}

const BASE: &str = "ubuntu@24.04";
const ARCH: &str = "amd64";

#[actix_rt::test]
async fn one_call_resolves_every_sdk_on_four_platforms_and_the_highest_revision_wins() {
    let store = FixtureStore::start();
    store.publish(FixtureSdk::new("go", 3).platform(Some(BASE), ARCH));
    store.publish(FixtureSdk::new("go", 5).platform(None, "all"));
    store.publish(FixtureSdk::new("go", 4).platform(Some("ubuntu@22.04"), ARCH));
    store.publish(FixtureSdk::new("go", 9).platform(Some(BASE), "arm64"));
    store.publish(FixtureSdk::new("uv", 2).platform(Some(BASE), "all"));
    store.publish(FixtureSdk::new("uv", 8).platform(None, "all").channel("edge"));
    let cache = tempfile::tempdir().unwrap();
    let c = client(&store.url(), cache.path());

    let got = c.resolve(&[sdk("go"), sdk("uv")], BASE, ARCH).await.unwrap();
    assert_eq!(store.requests(), ["POST /v2/revisions/resolve"]);
    let packages = &store.resolve_bodies()[0]["packages"];
    assert_eq!(packages.as_array().unwrap().len(), 8);
    assert!(packages.as_array().unwrap().iter().all(|p| p["channel"] == "stable" && p["namespace"] == "sdk"));
    let summary: Vec<(&str, u64, &str, &str)> =
        got.iter().map(|r| (r.name.as_str(), r.revision, r.base.as_str(), r.architecture.as_str())).collect();
    assert_eq!(summary, [("go", 5, "", "all"), ("uv", 2, BASE, "all")]);
    assert_eq!(got[0].channel, "latest/stable");

    let edge = c.resolve(&[sdk_in("uv", "latest/edge")], BASE, ARCH).await.unwrap();
    assert_eq!((edge[0].revision, edge[0].channel.as_str()), (8, "latest/edge"));
}

#[actix_rt::test]
async fn a_launch_without_store_sdks_asks_nothing() {
    let c = client("http://127.0.0.1:1", Path::new("/nonexistent"));
    assert_eq!(c.resolve(&[], BASE, ARCH).await.unwrap(), []);
}

#[actix_rt::test]
async fn errors_of_several_sdks_are_aggregated() {
    let store = FixtureStore::start();
    store.publish(FixtureSdk::new("go", 3).platform(Some("ubuntu@22.04"), ARCH));
    let cache = tempfile::tempdir().unwrap();
    let c = client(&store.url(), cache.path());
    let e = c.resolve(&[sdk("nonexistent1"), sdk("go"), sdk("nonexistent2")], BASE, ARCH).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "multiple SDK Store errors:\n\
         - \"nonexistent1\" SDK: Package not found\n\
         - \"go\" SDK: No revision was found in the Store.\n\
         - \"nonexistent2\" SDK: Package not found"
    );
    let e = c.resolve(&[sdk("nonexistent")], BASE, ARCH).await.unwrap_err();
    assert_eq!(e.to_string(), "\"nonexistent\" SDK: Package not found");
}

#[actix_rt::test]
async fn downloads_are_checked_cached_and_replace_older_revisions() {
    let store = FixtureStore::start();
    let old = FixtureSdk::new("go", 3);
    let published_old = store.publish(old.clone());
    let cache = tempfile::tempdir().unwrap();
    let c = client(&store.url(), cache.path());

    let three = c.resolve(&[sdk("go")], BASE, ARCH).await.unwrap().remove(0);
    assert_eq!((three.sha3_384.as_str(), three.size), (published_old.sha3_384.as_str(), published_old.size));
    let mut archive = c.download(&three).await.unwrap();
    assert_eq!(archive.path, cache.path().join("go_3.sdk"));
    let mut bytes = Vec::new();
    archive.file.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, old.archive());
    assert_eq!(sha3_384_hex(&bytes), archive.sha3_384);
    // The archive holds the SDK's metadata, hooks and payload.
    let mut names: Vec<String> = tar::Archive::new(&bytes[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["README", "meta/sdk.yaml", "sdk/hooks/setup-base"]);

    // A second download of the same revision comes from the cache.
    let downloads = |s: &FixtureStore| s.requests().iter().filter(|r| r.contains("/download/")).count();
    c.download(&three).await.unwrap();
    assert_eq!(downloads(&store), 1);
    // A damaged cached copy is not used.
    std::fs::write(cache.path().join("go_3.sdk"), b"damaged").unwrap();
    let again = c.download(&three).await.unwrap();
    assert_eq!((downloads(&store), again.size), (2, published_old.size));

    // A newer revision replaces the older one in the cache.
    store.publish(FixtureSdk::new("go", 4));
    let four = c.resolve(&[sdk("go")], BASE, ARCH).await.unwrap().remove(0);
    c.download(&four).await.unwrap();
    let mut left: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["go_4.sdk"]);
}

/// Every file in the cache directory.
fn cached(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().into_string().unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

#[actix_rt::test]
async fn a_download_that_does_not_match_is_refused_and_removed() {
    let store = FixtureStore::start();
    store.publish(FixtureSdk::new("go", 3));
    let cache = tempfile::tempdir().unwrap();
    let c = client(&store.url(), cache.path());
    let three = c.resolve(&[sdk("go")], BASE, ARCH).await.unwrap().remove(0);

    store.fault(Route::Download, Some(Fault::Corrupt));
    let e = c.download(&three).await.unwrap_err().to_string();
    assert!(
        e.starts_with("cannot download \"go\" SDK (revision 3): corrupted download: sha3-384 is "),
        "{e}"
    );
    assert!(e.ends_with(&format!("expected {}", three.sha3_384)), "{e}");
    assert_eq!(cached(cache.path()), Vec::<String>::new());

    store.fault(Route::Download, Some(Fault::Short));
    let e = c.download(&three).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "cannot download \"go\" SDK (revision 3): got {} of the {} bytes the SDK Store announced",
            three.size / 2,
            three.size
        )
    );
    assert_eq!(cached(cache.path()), Vec::<String>::new());

    store.fault(Route::Download, Some(Fault::Long));
    let e = c.download(&three).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "cannot download \"go\" SDK (revision 3): more than the {} bytes the SDK Store announced",
            three.size
        )
    );
    assert_eq!(cached(cache.path()), Vec::<String>::new());

    store.fault(Route::Download, Some(Fault::Stall(Duration::from_secs(2))));
    let e = c.download(&three).await.unwrap_err().to_string();
    assert_eq!(e, "cannot download \"go\" SDK (revision 3): the SDK Store did not answer within 500 ms");
    assert_eq!(cached(cache.path()), Vec::<String>::new());

    // A download abandoned halfway (its task aborted) leaves nothing either.
    let abandoned = tokio::time::timeout(Duration::from_millis(200), c.download(&three)).await;
    assert!(abandoned.is_err());
    assert_eq!(cached(cache.path()), Vec::<String>::new());

    store.fault(Route::Download, Some(Fault::Status(503)));
    let e = c.download(&three).await.unwrap_err().to_string();
    assert_eq!(e, "cannot download \"go\" SDK (revision 3): the SDK Store answered 503: fault 503 injected");

    // An announced size the download does not have.
    store.fault(Route::Download, None);
    let mut lying = three.clone();
    lying.size += 1;
    let e = c.download(&lying).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "cannot download \"go\" SDK (revision 3): the download is {} bytes, the SDK Store announced {}",
            three.size, lying.size
        )
    );
    assert_eq!(cached(cache.path()), Vec::<String>::new());
    c.download(&three).await.unwrap();
}

#[actix_rt::test]
async fn an_unreachable_store_is_named_with_the_reason() {
    // Nothing listens on port 1 of loopback.
    let c = client("http://127.0.0.1:1", Path::new("/nonexistent"));
    let e = c.resolve(&[sdk("go"), sdk("uv")], BASE, ARCH).await.unwrap_err();
    assert!(e.is_unreachable());
    assert_eq!(
        e.to_string(),
        "cannot resolve \"go\", \"uv\" SDKs: cannot reach the SDK Store at http://127.0.0.1:1: connection refused"
    );
    let e = c.find("go").await.unwrap_err().to_string();
    assert_eq!(
        e,
        "cannot find SDKs matching \"go\": cannot reach the SDK Store at http://127.0.0.1:1: connection refused"
    );
}

#[actix_rt::test]
async fn hostile_answers_are_refused_in_bounded_time() {
    let store = FixtureStore::start();
    store.publish(FixtureSdk::new("go", 3));
    let cache = tempfile::tempdir().unwrap();
    let c = client(&store.url(), cache.path());
    let started = std::time::Instant::now();

    store.fault(Route::Resolve, Some(Fault::Huge));
    let e = c.resolve(&[sdk("go")], BASE, ARCH).await.unwrap_err().to_string();
    assert_eq!(e, "cannot resolve \"go\" SDK: the SDK Store's answer is larger than 1048576 bytes");

    store.fault(Route::Resolve, Some(Fault::Malformed));
    let e = c.resolve(&[sdk("go")], BASE, ARCH).await.unwrap_err().to_string();
    assert!(
        e.starts_with("cannot resolve \"go\" SDK: invalid answer from the SDK Store: EOF while parsing"),
        "{e}"
    );

    store.fault(Route::Resolve, Some(Fault::Short));
    let e = c.resolve(&[sdk("go")], BASE, ARCH).await.unwrap_err().to_string();
    assert!(
        e.starts_with("cannot resolve \"go\" SDK: invalid answer from the SDK Store: the answer is "),
        "{e}"
    );
    assert!(e.contains(" bytes, its Content-Length says "), "{e}");

    store.fault(Route::Find, Some(Fault::Stall(Duration::from_secs(5))));
    let e = c.find("go").await.unwrap_err().to_string();
    assert_eq!(e, "cannot find SDKs matching \"go\": the SDK Store did not answer within 3 s");

    store.fault(Route::Info, Some(Fault::Status(500)));
    let e = c.info("go").await.unwrap_err().to_string();
    assert_eq!(e, "cannot get information on the \"go\" SDK: the SDK Store answered 500: fault 500 injected");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

#[actix_rt::test]
async fn search_and_information() {
    let store = FixtureStore::start();
    store.publish(FixtureSdk::new("go", 3).platform(Some(BASE), ARCH));
    store.publish(FixtureSdk::new("go", 7).platform(None, "all").channel("edge"));
    store.publish(FixtureSdk::new("uv", 1));
    let cache = tempfile::tempdir().unwrap();
    let c = client(&store.url(), cache.path());

    let found = c.find("g o").await.unwrap();
    assert!(found.is_empty());
    assert!(store.requests().last().unwrap().starts_with("GET /v2/sdks/find?q=g%20o&fields="));
    let found = c.find("").await.unwrap();
    let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["go", "uv"]);
    assert_eq!((found[0].revision.as_str(), found[0].channel.as_str()), ("7", "latest/edge"));
    assert_eq!(found[0].publisher.as_ref().unwrap().display_name, "Workshop Tests");

    let info = c.info("go").await.unwrap();
    assert_eq!(info.summary, "The go SDK");
    assert_eq!(info.website, "https://example.com/go");
    let channels: Vec<(&str, &str, &str, &str)> = info
        .channels
        .iter()
        .map(|r| (r.channel.as_str(), r.revision.as_str(), r.base.as_str(), r.arch.as_str()))
        .collect();
    assert_eq!(channels, [("latest/stable", "3", BASE, ARCH), ("latest/edge", "7", "", "all")]);
    assert!(info.channels[0].download_size > 0);
    let e = c.info("nothing").await.unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
}
