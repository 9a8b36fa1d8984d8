//! `GET /v1/find`, `GET /v1/sdks`, `GET /v1/sdks/{name}`: the SDK Store's catalogue and the SDK
//! trees on this machine (../shared/spec/reference-inventory.md §1.3, §2.3).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use workshop_actors::store::installed::{InstalledTree, ListInstalled};
use workshop_actors::store::{Find, Info, full_info};
use workshop_api::ids::SdkBareName;
use workshop_api::sdks::SdkTree;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::peer::Caller;
use crate::api::response::sync;

/// Longest search the daemon passes on to the Store, in characters.
const MAX_QUERY: usize = 256;

#[derive(Debug, Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    q: String,
}

/// The words to search for: trimmed, at most [`MAX_QUERY`] characters, no control characters.
fn search_words(q: &str) -> Result<String, ApiError> {
    let q = q.trim();
    if q.chars().count() > MAX_QUERY {
        return Err(ApiError::BadRequest(format!("invalid query: longer than {MAX_QUERY} characters")));
    }
    if q.chars().any(char::is_control) {
        return Err(ApiError::BadRequest("invalid query: control characters".into()));
    }
    Ok(q.to_string())
}

pub async fn find(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<FindQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = search_words(&query.q)?;
    let found = state.store.send(Find { query }).await??;
    Ok(sync(StatusCode::OK, found, state.warning_meta(&caller).await))
}

/// The SDK trees the caller may see (all of them for root), of `name` or of every SDK.
async fn installed(
    state: &AppState,
    caller: &Caller,
    name: Option<&str>,
) -> Result<Vec<InstalledTree>, ApiError> {
    let Some(trees) = &state.installed else {
        return Ok(Vec::new());
    };
    let message = ListInstalled { viewer: caller.uid, name: name.map(str::to_string) };
    Ok(trees.send(message).await??)
}

pub async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let trees: Vec<SdkTree> = installed(&state, &caller, None).await?.into_iter().map(|t| t.tree).collect();
    Ok(sync(StatusCode::OK, trees, state.warning_meta(&caller).await))
}

pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    name: web::Path<SdkBareName>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner().into_string();
    let store = state.store.send(Info { name: name.clone() }).await?;
    let trees = installed(&state, &caller, Some(&name)).await?;
    let info = full_info(&name, store, trees)?;
    Ok(sync(StatusCode::OK, info, state.warning_meta(&caller).await))
}

#[cfg(test)]
pub(in crate::api::v1) mod tests {
    use std::path::PathBuf;
    use std::rc::Rc;

    use workshop_actors::backend::fake::FakeBackend;
    use workshop_actors::daemon::Daemon;
    use workshop_actors::store::fixture::{FixtureSdk, FixtureStore};
    use workshop_actors::store::{StoreConfig, URL_ENV};
    use workshop_client::Client;

    use super::super::exec::tests::blocking;
    use super::*;

    /// A daemon on the fake backend whose SDK Store is at `url`.
    pub(in crate::api::v1) struct SdkServer {
        _tmp: tempfile::TempDir,
        _daemon: Daemon,
        pub socket: PathBuf,
    }

    pub(in crate::api::v1) fn sdk_server(url: &str) -> SdkServer {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let cache = root.join("cache/sdk");
        let (daemon, socket, _) = crate::api::test_server_with(
            &root,
            Rc::new(FakeBackend::default()),
            Default::default(),
            |config| {
                config.store = StoreConfig::new(url, URL_ENV, &cache).unwrap();
            },
        );
        SdkServer { _tmp: tmp, _daemon: daemon, socket }
    }

    #[actix_web::test]
    async fn the_store_through_the_api() {
        let store = FixtureStore::start();
        store.publish(FixtureSdk::new("go", 3).platform(Some("ubuntu@24.04"), "amd64"));
        store.publish(FixtureSdk::new("go", 7).channel("edge"));
        store.publish(FixtureSdk::new("uv", 1));
        let s = sdk_server(&store.url());
        let socket = s.socket.clone();
        blocking(move || {
            let client = Client::new(&socket);
            let found = client.find_sdks("go").unwrap();
            let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names, ["go"]);
            assert_eq!((found[0].revision.as_str(), found[0].channel.as_str()), ("7", "latest/edge"));
            assert_eq!(client.find_sdks("").unwrap().len(), 2);

            let info = client.sdk_info("go").unwrap();
            let revisions: Vec<&str> = info.channels.iter().map(|c| c.revision.as_str()).collect();
            assert_eq!(revisions, ["3", "7"]);
            assert_eq!(info.publisher.unwrap().validation, "verified");
            assert!(info.installed.is_empty());

            let e = client.sdk_info("nothing").unwrap_err();
            assert_eq!(
                (e.api().unwrap().status_code, e.to_string().as_str()),
                (404, "SDK \"nothing\" not found")
            );
            // No tree store yet: no SDK trees.
            assert!(client.sdks().unwrap().is_empty());
        })
        .await;
        assert!(store.requests().iter().all(|r| !r.starts_with("POST")), "{:?}", store.requests());
    }

    #[actix_web::test]
    async fn without_the_store_the_api_says_why() {
        let s = sdk_server("http://127.0.0.1:1");
        let socket = s.socket.clone();
        blocking(move || {
            let client = Client::new(&socket);
            let e = client.find_sdks("go").unwrap_err();
            assert_eq!(e.api().unwrap().status_code, 502);
            assert_eq!(
                e.to_string(),
                "cannot find SDKs matching \"go\": cannot reach the SDK Store at http://127.0.0.1:1: connection refused"
            );
            let e = client.sdk_info("go").unwrap_err();
            assert_eq!(e.api().unwrap().status_code, 502);
            assert!(client.sdks().unwrap().is_empty());
        })
        .await;
    }

    #[test]
    fn search_words_are_bounded() {
        assert_eq!(search_words("  jupyter notebooks ").unwrap(), "jupyter notebooks");
        assert_eq!(search_words("").unwrap(), "");
        let long = "a".repeat(257);
        assert_eq!(search_words(&long).unwrap_err().to_string(), "invalid query: longer than 256 characters");
        assert!(search_words("a\u{0}b").is_err() && search_words("a\u{1b}[2J").is_err());
    }
}
