//! Resolving the Store SDKs of a launch: one request for all of them, four platforms each
//! (the base and the architecture, any base, any architecture, neither), the highest revision
//! found wins; SDKs that resolve nowhere are reported together
//! (../shared/spec/reference-inventory.md §8.1).

use serde::{Deserialize, Serialize};
use workshop_api::definition::{Channel, validate_sdk_name};

use super::archive::is_digest;
use super::config::Limits;
use super::error::{StoreError, sanitized};
use super::wire::{NAMESPACE, PackageResult, Platform, ResolvePackage, ResolveRequest, ResolveResponse};

/// The channel asked for when a definition names none (the reference sends `stable`).
pub const DEFAULT_CHANNEL: &str = "stable";

/// The Store's error code for "nothing released for this platform": it counts only when no
/// platform gives a revision and no other error is there to report.
const REVISION_NOT_FOUND: &str = "revision-not-found";

/// A Store SDK a definition names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSdk {
    /// The bare name (no prefix).
    pub name: String,
    /// The channel as written in the definition, if any.
    pub channel: Option<String>,
}

/// The revision the Store gives for one SDK: what the launch installs, and how to download it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ResolvedSdk {
    pub name: String,
    /// The Store's id of the SDK (part of the download path).
    pub package_id: String,
    pub revision: u64,
    /// The channel that gave it, in full (`latest/stable`).
    pub channel: String,
    pub version: String,
    /// The archive's sha3-384, lowercase hexadecimal.
    pub sha3_384: String,
    /// The archive's size in bytes.
    pub size: u64,
    /// `ubuntu@24.04`, or empty when it runs on every base.
    pub base: String,
    /// A Debian architecture, or `all`.
    pub architecture: String,
}

/// The four platforms asked for each SDK, best match first.
pub fn platforms(base: &str, arch: &str) -> Result<[Platform; 4], StoreError> {
    let invalid = |why: String| StoreError::Invalid { what: "resolve SDKs".into(), why };
    let (name, version) = base
        .split_once('@')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty() && !v.contains('@'))
        .ok_or_else(|| invalid(format!("invalid base {base:?} (expected <NAME>@<VERSION>)")))?;
    if arch.is_empty() || arch == "all" {
        return Err(invalid(format!("invalid architecture {arch:?}")));
    }
    let platform = |name: &str, channel: &str, architecture: &str| Platform {
        name: name.into(),
        channel: channel.into(),
        architecture: architecture.into(),
    };
    Ok([
        platform(name, version, arch),
        platform("all", "all", arch),
        platform(name, version, "all"),
        platform("all", "all", "all"),
    ])
}

fn instance_key(sdk: usize, platform: usize) -> String {
    format!("{sdk}_{platform}")
}

/// The one request for every SDK on every platform.
pub fn request(
    sdks: &[StoreSdk],
    platforms: &[Platform; 4],
    limits: &Limits,
) -> Result<ResolveRequest, StoreError> {
    let what = || format!("resolve {}", names(sdks));
    if sdks.len() > limits.max_sdks {
        return Err(StoreError::Invalid {
            what: what(),
            why: format!("{} SDKs, more than the {} resolved at once", sdks.len(), limits.max_sdks),
        });
    }
    let mut packages = Vec::with_capacity(sdks.len() * platforms.len());
    for (i, sdk) in sdks.iter().enumerate() {
        validate_sdk_name(&sdk.name).map_err(|why| StoreError::Invalid { what: what(), why })?;
        let channel = sdk.channel.clone().unwrap_or_else(|| DEFAULT_CHANNEL.to_string());
        Channel::parse(&channel).map_err(|why| StoreError::Invalid { what: what(), why })?;
        for (p, platform) in platforms.iter().enumerate() {
            packages.push(ResolvePackage {
                instance_key: instance_key(i, p),
                namespace: NAMESPACE,
                name: sdk.name.clone(),
                channel: channel.clone(),
                platform: platform.clone(),
            });
        }
    }
    Ok(ResolveRequest { packages })
}

/// `"a", "b" SDKs` for messages.
pub fn names(sdks: &[StoreSdk]) -> String {
    let quoted: Vec<String> = sdks.iter().map(|s| format!("{:?}", s.name)).collect();
    match quoted.len() {
        1 => format!("{} SDK", quoted[0]),
        _ => format!("{} SDKs", quoted.join(", ")),
    }
}

/// Picks each SDK's highest revision among its platforms, or collects why it has none.
pub fn pick(
    sdks: &[StoreSdk],
    platforms: &[Platform; 4],
    answer: &ResolveResponse,
    limits: &Limits,
) -> Result<Vec<ResolvedSdk>, StoreError> {
    let mut resolved = Vec::with_capacity(sdks.len());
    let mut errors = Vec::new();
    for (i, sdk) in sdks.iter().enumerate() {
        let mut best: Option<ResolvedSdk> = None;
        let (mut failure, mut not_found) = (None, None);
        for (p, platform) in platforms.iter().enumerate() {
            let key = instance_key(i, p);
            let Some(result) = answer.package_results.iter().find(|r| r.instance_key == key) else {
                failure.get_or_insert_with(|| format!("\"{}\" SDK: not in the SDK Store's answer", sdk.name));
                continue;
            };
            match accept(sdk, platform, result, limits) {
                Ok(candidate) => {
                    if best.as_ref().is_none_or(|b| candidate.revision > b.revision) {
                        best = Some(candidate);
                    }
                }
                Err(Refusal::NotFound(why)) => {
                    not_found.get_or_insert(why);
                }
                Err(Refusal::Failed(why)) => {
                    failure.get_or_insert(why);
                }
            }
        }
        match (best, failure, not_found) {
            (Some(best), _, _) => resolved.push(best),
            (None, Some(why), _) | (None, None, Some(why)) => errors.push(why),
            (None, None, None) => errors.push(format!("\"{}\" SDK: no answer from the SDK Store", sdk.name)),
        }
    }
    if errors.is_empty() { Ok(resolved) } else { Err(StoreError::Resolve(errors)) }
}

enum Refusal {
    /// Nothing released for that platform.
    NotFound(String),
    /// Any other error, or an answer that cannot be used.
    Failed(String),
}

/// One platform's answer, checked: it must be the SDK asked for, with a usable revision,
/// digest, size and channel.
fn accept(
    sdk: &StoreSdk,
    platform: &Platform,
    result: &PackageResult,
    limits: &Limits,
) -> Result<ResolvedSdk, Refusal> {
    let label = if result.name.is_empty() {
        "unknown SDK".to_string()
    } else {
        format!("\"{}\" SDK", sanitized(&result.name))
    };
    if result.status == "error" || result.error.is_some() {
        let error = result.error.clone().unwrap_or_default();
        let message =
            if error.message.trim().is_empty() { "unknown error".into() } else { sanitized(&error.message) };
        let why = format!("{label}: {message}");
        return Err(if error.code == REVISION_NOT_FOUND {
            Refusal::NotFound(why)
        } else {
            Refusal::Failed(why)
        });
    }
    let failed = |why: String| {
        Refusal::Failed(format!("\"{}\" SDK: invalid answer from the SDK Store: {why}", sdk.name))
    };
    if result.name != sdk.name {
        return Err(failed(format!("answered for {:?}", sanitized(&result.name))));
    }
    let Some(release) = &result.result else {
        return Err(failed("no revision".into()));
    };
    if !is_package_id(&result.id) {
        return Err(failed(format!("invalid package id {:?}", sanitized(&result.id))));
    }
    let revision = &release.revision;
    if revision.revision == 0 {
        return Err(failed("revision 0".into()));
    }
    let digest = &revision.download.sha3_384;
    if !is_digest(digest) {
        return Err(failed(format!("invalid sha3-384 {:?}", sanitized(digest))));
    }
    let size = revision.download.size;
    if size == 0 || size > limits.max_archive {
        return Err(failed(format!(
            "download size {size} (at most {} bytes are accepted)",
            limits.max_archive
        )));
    }
    let channel = Channel::parse(&release.channel.effective_channel)
        .map_err(|why| failed(format!("effective channel: {}", sanitized(&why))))?;
    Ok(ResolvedSdk {
        name: sdk.name.clone(),
        package_id: result.id.clone(),
        revision: revision.revision,
        channel: channel.full(),
        version: sanitized(&revision.version),
        sha3_384: digest.to_ascii_lowercase(),
        size,
        base: platform.base(),
        architecture: platform.architecture.clone(),
    })
}

/// Package ids name files and URL paths: letters and digits only, at most 64.
pub(crate) fn is_package_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::wire::{ChannelInfo, Download, ErrorBody, Release, RevisionInfo};

    fn sdk(name: &str, channel: Option<&str>) -> StoreSdk {
        StoreSdk { name: name.into(), channel: channel.map(str::to_string) }
    }

    fn ok(key: &str, name: &str, revision: u64) -> PackageResult {
        PackageResult {
            instance_key: key.into(),
            status: "ok".into(),
            name: name.into(),
            id: "Pkg0123".into(),
            result: Some(Release {
                channel: ChannelInfo { effective_channel: "latest/stable".into(), ..ChannelInfo::default() },
                revision: RevisionInfo {
                    revision,
                    version: "1.0".into(),
                    download: Download { size: 10, sha3_384: "A".repeat(96) },
                    ..RevisionInfo::default()
                },
            }),
            error: None,
        }
    }

    fn err(key: &str, name: &str, code: &str, message: &str) -> PackageResult {
        PackageResult {
            instance_key: key.into(),
            status: "error".into(),
            name: name.into(),
            error: Some(ErrorBody { code: code.into(), message: message.into() }),
            ..PackageResult::default()
        }
    }

    #[test]
    fn four_platforms_per_sdk_in_one_request() {
        let p = platforms("ubuntu@24.04", "amd64").unwrap();
        let bases: Vec<(String, String)> = p.iter().map(|p| (p.base(), p.architecture.clone())).collect();
        let pair = |b: &str, a: &str| (b.to_string(), a.to_string());
        assert_eq!(
            bases,
            [pair("ubuntu@24.04", "amd64"), pair("", "amd64"), pair("ubuntu@24.04", "all"), pair("", "all")]
        );
        let req = request(&[sdk("go", None), sdk("uv", Some("0.5/edge"))], &p, &Limits::default()).unwrap();
        assert_eq!(req.packages.len(), 8);
        assert_eq!(req.packages[0].channel, "stable");
        assert_eq!(req.packages[4].channel, "0.5/edge");
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json["packages"][1]["platform"],
            serde_json::json!({"name":"all","channel":"all","architecture":"amd64"})
        );
        assert_eq!(json["packages"][1]["namespace"], "sdk");
        assert!(platforms("ubuntu", "amd64").is_err() && platforms("ubuntu@24.04", "all").is_err());
        let too_many: Vec<StoreSdk> = (0..65).map(|i| sdk(&format!("s{i}"), None)).collect();
        assert!(request(&too_many, &p, &Limits::default()).is_err());
    }

    #[test]
    fn the_highest_revision_wins_and_its_platform_is_kept() {
        let p = platforms("ubuntu@24.04", "amd64").unwrap();
        let answer = ResolveResponse {
            package_results: vec![
                ok("0_0", "go", 3),
                err("0_1", "go", REVISION_NOT_FOUND, "No revision was found in the Store."),
                ok("0_2", "go", 7),
                ok("0_3", "go", 5),
            ],
        };
        let got = pick(&[sdk("go", None)], &p, &answer, &Limits::default()).unwrap();
        assert_eq!(got[0].revision, 7);
        assert_eq!((got[0].base.as_str(), got[0].architecture.as_str()), ("ubuntu@24.04", "all"));
        assert_eq!(got[0].sha3_384, "a".repeat(96));
        assert_eq!(got[0].channel, "latest/stable");
    }

    #[test]
    fn real_errors_come_before_revision_not_found_and_are_aggregated() {
        let p = platforms("ubuntu@24.04", "amd64").unwrap();
        let mut results = Vec::new();
        for i in 0..4 {
            results.push(err(
                &format!("0_{i}"),
                "a",
                REVISION_NOT_FOUND,
                "No revision was found in the Store.",
            ));
        }
        results.push(err("1_0", "b", REVISION_NOT_FOUND, "No revision"));
        results.push(err("1_1", "b", "package-not-found", "Package not found"));
        let answer = ResolveResponse { package_results: results };
        let e = pick(&[sdk("a", None), sdk("b", None)], &p, &answer, &Limits::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "multiple SDK Store errors:\n- \"a\" SDK: No revision was found in the Store.\n- \"b\" SDK: Package not found"
        );
    }

    #[test]
    fn answers_for_something_else_are_refused() {
        let p = platforms("ubuntu@24.04", "amd64").unwrap();
        let wrong_name = ok("0_0", "evil", 9);
        let mut bad_digest = ok("0_1", "go", 9);
        bad_digest.result.as_mut().unwrap().revision.download.sha3_384 = "../x".into();
        let mut bad_id = ok("0_2", "go", 9);
        bad_id.id = "../../etc".into();
        let mut huge = ok("0_3", "go", 9);
        huge.result.as_mut().unwrap().revision.download.size = u64::MAX;
        let answer = ResolveResponse { package_results: vec![wrong_name, bad_digest, bad_id, huge] };
        let e = pick(&[sdk("go", None)], &p, &answer, &Limits::default()).unwrap_err().to_string();
        assert_eq!(e, "\"go\" SDK: invalid answer from the SDK Store: answered for \"evil\"");
        let e = pick(&[sdk("go", None)], &p, &ResolveResponse::default(), &Limits::default()).unwrap_err();
        assert_eq!(e.to_string(), "\"go\" SDK: not in the SDK Store's answer");
    }
}
