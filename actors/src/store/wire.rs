//! The SDK Store's JSON protocol, as the daemon speaks it.
//!
//! The resolve call and the download path are the reference's
//! (../shared/spec/reference-inventory.md §11; the reference's `internal/sdkstore`):
//!
//! - `POST /v2/revisions/resolve` with `{"packages":[{"instance-key","namespace":"sdk","name",
//!   "channel","platform":{"name","channel","architecture"}}]}`, answered by
//!   `{"package-results":[{"instance-key","status":"ok"|"error","name","id","result":{"channel":
//!   {"name","track","risk","effective-channel","released-at","platform"},"revision":{"revision",
//!   "version","created-at","download":{"url","size","sha3-384"}}},"error":{"code","message"}}]}`;
//! - `GET /api/v1/sdks/download/<package id>_<revision>.sdk`.
//!
//! The inventory does not spell out `find` and `info`; the reference's own tests show their
//! fields (publisher, default release, channel map, the revision's `sdk-yaml` metadata). Their
//! JSON layout here follows the Canonical store family the resolve call belongs to (Charmhub's
//! v2 API): an entry is `{"id","name","result":{metadata},"default-release"|"channel-map"}`,
//! a release is `{"channel":{...},"revision":{...}}`, an error answer is
//! `{"error-list":[{"code","message"}]}`:
//!
//! - `GET /v2/sdks/find?q=<words>&fields=...` → `{"results":[{"id","name","result":{"summary",
//!   "description","license","title","publisher":{"id","username","display-name","validation"}},
//!   "default-release":{"channel":{...},"revision":{"revision","version"}}}]}`;
//! - `GET /v2/sdks/info/<name>?fields=...` → `{"id","name","result":{...},"channel-map":[{"channel":
//!   {...},"revision":{"revision","version","created-at","download":{"size"},"sdk-yaml":{...}}}]}`,
//!   404 for an unknown SDK.
//!
//! Fields the daemon does not need are ignored; missing optional ones take their defaults.

use serde::{Deserialize, Serialize};

/// The namespace of SDKs in the Store.
pub const NAMESPACE: &str = "sdk";

/// A platform in the Store's terms: `{ubuntu, 24.04, amd64}`, `all` for any part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Platform {
    pub name: String,
    pub channel: String,
    pub architecture: String,
}

impl Default for Platform {
    fn default() -> Self {
        Self { name: ALL.into(), channel: ALL.into(), architecture: ALL.into() }
    }
}

const ALL: &str = "all";

impl Platform {
    /// `ubuntu@24.04` for a base, empty for any base.
    pub fn base(&self) -> String {
        if self.name == ALL || self.name.is_empty() {
            String::new()
        } else {
            format!("{}@{}", self.name, self.channel)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolveRequest {
    pub packages: Vec<ResolvePackage>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ResolvePackage {
    pub instance_key: String,
    pub namespace: &'static str,
    pub name: String,
    pub channel: String,
    pub platform: Platform,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ResolveResponse {
    pub package_results: Vec<PackageResult>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct PackageResult {
    pub instance_key: String,
    pub status: String,
    pub name: String,
    pub id: String,
    pub result: Option<Release>,
    pub error: Option<ErrorBody>,
}

/// A revision released in a channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Release {
    pub channel: ChannelInfo,
    pub revision: RevisionInfo,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ChannelInfo {
    pub name: String,
    pub track: String,
    pub risk: String,
    pub effective_channel: String,
    pub released_at: Option<String>,
    pub platform: Platform,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct RevisionInfo {
    pub revision: u64,
    pub version: String,
    pub created_at: Option<String>,
    pub download: Download,
    /// Metadata from the SDK's `sdk.yaml` (e.g. `sdkcraft-started-at`, `website`).
    pub sdk_yaml: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Download {
    pub size: u64,
    #[serde(rename = "sha3-384")]
    pub sha3_384: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// The body of an error status.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ErrorList {
    #[serde(rename = "error-list")]
    pub errors: Vec<ErrorBody>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Metadata {
    pub title: String,
    pub summary: String,
    pub description: String,
    pub license: String,
    pub publisher: Option<Publisher>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Publisher {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub validation: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FindResponse {
    pub results: Vec<FindResult>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct FindResult {
    pub id: String,
    pub name: String,
    pub result: Metadata,
    pub default_release: Option<Release>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct InfoResponse {
    pub id: String,
    pub name: String,
    pub result: Metadata,
    pub channel_map: Vec<Release>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_references_resolve_answer_reads() {
        // The answer recorded in the reference's tests (internal/sdkstore).
        let text = r#"{"package-results":[{"instance-key":"random123","status":"ok","namespace":"sdk",
            "name":"test-sdk-info-multi-base-1","id":"x2hQwbuopxeELn5p1G9h3b9ZB3XM0JeG","result":{
            "channel":{"name":"latest/edge","released-at":"2026-04-15T03:46:16.565275","track":"latest",
            "risk":"edge","branch":null,"effective-channel":"latest/edge","platform":{"name":"ubuntu",
            "channel":"22.04","architecture":"riscv64"}},"revision":{"created-at":"2026-04-15T03:46:15.158932",
            "platforms":[{"name":"ubuntu","channel":"22.04","architecture":"riscv64"}],"download":{
            "url":"https://api.pkg.store/api/v1/sdks/download/x2hQwbuopxeELn5p1G9h3b9ZB3XM0JeG_17.sdk",
            "size":460,"sha3-384":"8a002dbaa099217fd304cfc04c828afd9b35e079cb27961c3537ec83e422ee0e9ddc0df43d9a98e8a59f55db32c5ea4f"},
            "revision":17,"version":"0.3"}}}],"craft-results":[]}"#;
        let answer: ResolveResponse = serde_json::from_str(text).unwrap();
        let result = &answer.package_results[0];
        assert_eq!(result.status, "ok");
        let release = result.result.as_ref().unwrap();
        assert_eq!(release.revision.revision, 17);
        assert_eq!(release.revision.download.size, 460);
        assert_eq!(release.channel.effective_channel, "latest/edge");
        assert_eq!(release.channel.platform.base(), "ubuntu@22.04");
        assert_eq!(Platform::default().base(), "");
    }
}
