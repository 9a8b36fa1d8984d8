//! [`StoreClient`]: the Store calls the daemon makes.

use std::path::Path;
use std::rc::Rc;

use workshop_api::paths::encode;
use workshop_api::sdks::{SdkFullInfo, SdkSummary};

use super::archive::VerifiedArchive;
use super::catalog;
use super::config::StoreConfig;
use super::download;
use super::error::StoreError;
use super::http::Http;
use super::resolve::{self, ResolvedSdk, StoreSdk};
use super::wire::{FindResponse, InfoResponse, ResolveResponse};

/// Fields asked of a search.
const FIND_FIELDS: &str = "default-release,description,license,publisher,summary,title";
/// Fields asked of an SDK's information.
const INFO_FIELDS: &str =
    "channel-map,created-at,description,download,license,publisher,revision,sdk-yaml,summary,title,version";

/// A client of one Store, with the archive cache. Cheap to clone; not `Send` (use it on one
/// arbiter, or through [`super::StoreActor`]).
#[derive(Clone)]
pub struct StoreClient {
    http: Rc<Http>,
    config: Rc<StoreConfig>,
}

impl StoreClient {
    pub fn new(config: StoreConfig) -> Self {
        Self { http: Rc::new(Http::new(&config)), config: Rc::new(config) }
    }

    /// The Store's base URL.
    pub fn url(&self) -> &str {
        self.http.base()
    }

    /// Where downloaded archives are kept.
    pub fn cache_dir(&self) -> &Path {
        &self.config.cache_dir
    }

    /// The revision of each SDK for a workshop on `base` (`ubuntu@24.04`) and `arch` (a Debian
    /// architecture): one call for all of them, four platforms each, the highest revision
    /// wins. No SDKs, no call: a launch with only local SDKs works without the Store.
    pub async fn resolve(
        &self,
        sdks: &[StoreSdk],
        base: &str,
        arch: &str,
    ) -> Result<Vec<ResolvedSdk>, StoreError> {
        if sdks.is_empty() {
            return Ok(Vec::new());
        }
        let limits = self.http.limits();
        let platforms = resolve::platforms(base, arch)?;
        let request = resolve::request(sdks, &platforms, limits)?;
        let what = format!("resolve {}", resolve::names(sdks));
        let answer: ResolveResponse = self.http.post_json(&what, "/v2/revisions/resolve", &request).await?;
        resolve::pick(sdks, &platforms, &answer, limits)
    }

    /// The archive of a resolved revision, from the cache or downloaded, its size and sha3-384
    /// checked.
    pub async fn download(&self, sdk: &ResolvedSdk) -> Result<VerifiedArchive, StoreError> {
        download::download(&self.http, &self.config.cache_dir, sdk).await
    }

    /// The SDKs matching `query`, sorted by name.
    pub async fn find(&self, query: &str) -> Result<Vec<SdkSummary>, StoreError> {
        let what = format!("find SDKs matching {query:?}");
        let path = format!("/v2/sdks/find?q={}&fields={FIND_FIELDS}", encode(query));
        let answer: FindResponse = self.http.get_json(&what, &path).await?;
        Ok(catalog::summaries(answer))
    }

    /// What the Store says of `name` (a valid SDK name); [`StoreError::NotFound`] when it
    /// does not know it.
    pub async fn info(&self, name: &str) -> Result<SdkFullInfo, StoreError> {
        let what = format!("get information on the \"{name}\" SDK");
        let path = format!("/v2/sdks/info/{}?fields={INFO_FIELDS}", encode(name));
        match self.http.get_json::<InfoResponse>(&what, &path).await {
            Ok(answer) => catalog::store_info(name, answer),
            Err(StoreError::Status { status: 404, .. }) => Err(StoreError::NotFound(name.to_string())),
            Err(e) => Err(e),
        }
    }
}
