//! What `sdk find` and `sdk info` show: the Store's answers turned into the API's views, every
//! text from the Store cleaned of control characters (it ends up on terminals) and bounded,
//! and the Store's channels put together with the SDK trees installed here.

use chrono::{DateTime, NaiveDateTime, Utc};
use workshop_api::definition::validate_sdk_name;
use workshop_api::sdks::{SdkFullInfo, SdkRevision, SdkSummary, StoreAccount};

use super::error::StoreError;
use super::installed::InstalledTree;
use super::wire::{FindResponse, InfoResponse, Metadata, Publisher, Release};

/// Longest one-line text kept from the Store (names, summaries, versions).
const MAX_LINE: usize = 256;
/// Longest description kept from the Store.
const MAX_DESCRIPTION: usize = 16 << 10;

/// `text` without control characters (but newlines and tabs where `multiline`), cut after
/// `max` characters.
fn clean(text: &str, max: usize, multiline: bool) -> String {
    text.chars().filter(|&c| !c.is_control() || (multiline && (c == '\n' || c == '\t'))).take(max).collect()
}

fn line(text: &str) -> String {
    clean(text, MAX_LINE, false)
}

/// A Store timestamp: RFC 3339, or without a zone (then UTC), as the Store writes them.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc())
}

fn account(publisher: &Option<Publisher>) -> Option<StoreAccount> {
    publisher.as_ref().map(|p| StoreAccount {
        id: line(&p.id),
        username: line(&p.username),
        display_name: line(&p.display_name),
        validation: line(&p.validation),
    })
}

/// The SDKs a search found, those with a valid name, sorted by name.
pub fn summaries(answer: FindResponse) -> Vec<SdkSummary> {
    let mut out: Vec<SdkSummary> = answer
        .results
        .into_iter()
        .filter(|r| validate_sdk_name(&r.name).is_ok())
        .map(|r| {
            let release = r.default_release.unwrap_or_default();
            let Metadata { summary, description, license, publisher, .. } = &r.result;
            SdkSummary {
                name: r.name.clone(),
                package_id: line(&r.id),
                summary: line(summary),
                description: clean(description, MAX_DESCRIPTION, true),
                license: line(license),
                publisher: account(publisher),
                channel: line(&release.channel.name),
                track: line(&release.channel.track),
                risk: line(&release.channel.risk),
                revision: release_revision(&release),
                released_at: release.channel.released_at.as_deref().and_then(parse_time),
                version: line(&release.revision.version),
                base: line(&release.channel.platform.base()),
                arch: line(&release.channel.platform.architecture),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn release_revision(release: &Release) -> String {
    match release.revision.revision {
        0 => String::new(),
        n => n.to_string(),
    }
}

/// What the Store says of `name`: its metadata and every revision of its channel map.
pub fn store_info(name: &str, answer: InfoResponse) -> Result<SdkFullInfo, StoreError> {
    let what = || format!("get information on the \"{name}\" SDK");
    if answer.name != name {
        return Err(StoreError::Invalid {
            what: what(),
            why: format!("answered for {:?}", line(&answer.name)),
        });
    }
    let mut website = String::new();
    let mut channels = Vec::with_capacity(answer.channel_map.len());
    for release in &answer.channel_map {
        let revision = &release.revision;
        let (built_at, site) = sdk_yaml(name, revision.revision, revision.sdk_yaml.as_ref())?;
        if website.is_empty() {
            website = site;
        }
        channels.push(SdkRevision {
            channel: line(&release.channel.name),
            track: line(&release.channel.track),
            risk: line(&release.channel.risk),
            revision: release_revision(release),
            built_at,
            uploaded_at: revision.created_at.as_deref().and_then(parse_time),
            released_at: release.channel.released_at.as_deref().and_then(parse_time),
            version: line(&revision.version),
            base: line(&release.channel.platform.base()),
            arch: line(&release.channel.platform.architecture),
            download_size: revision.download.size,
        });
    }
    let meta = &answer.result;
    Ok(SdkFullInfo {
        name: name.to_string(),
        package_id: line(&answer.id),
        title: line(&meta.title),
        summary: line(&meta.summary),
        description: clean(&meta.description, MAX_DESCRIPTION, true),
        license: line(&meta.license),
        website,
        publisher: account(&meta.publisher),
        channels,
        installed: Vec::new(),
    })
}

/// `sdkcraft-started-at` (the build time) and `website` of a revision's metadata.
fn sdk_yaml(
    name: &str,
    revision: u64,
    meta: Option<&serde_json::Value>,
) -> Result<(Option<DateTime<Utc>>, String), StoreError> {
    let object = match meta {
        None | Some(serde_json::Value::Null) => return Ok((None, String::new())),
        Some(serde_json::Value::Object(object)) => object,
        Some(_) => {
            return Err(StoreError::Invalid {
                what: format!("get information on the \"{name}\" SDK"),
                why: format!("invalid \"{name}\" SDK ({revision}) metadata: not a mapping"),
            });
        }
    };
    let text = |key: &str| object.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    Ok((parse_time(text("sdkcraft-started-at")), line(text("website"))))
}

/// `GET /v1/sdks/{name}`: the Store's view with the caller's installations of it. Without the
/// Store (it does not know the SDK, or cannot be reached) the installed trees still give an
/// answer; with neither, the Store's error.
pub fn full_info(
    name: &str,
    store: Result<SdkFullInfo, StoreError>,
    installed: Vec<InstalledTree>,
) -> Result<SdkFullInfo, StoreError> {
    let mut info = match store {
        Ok(info) => info,
        Err(e) if installed.is_empty() => return Err(e),
        Err(e) => {
            if !matches!(e, StoreError::NotFound(_)) {
                tracing::debug!(sdk = %name, error = %e, "SDK Store unavailable; showing installed trees only");
            }
            // The newest installed revision describes the SDK.
            let newest = installed.iter().max_by_key(|t| t.tree.built_at).expect("not empty");
            SdkFullInfo {
                name: name.to_string(),
                title: newest.title.clone(),
                summary: newest.summary.clone(),
                description: newest.description.clone(),
                ..SdkFullInfo::default()
            }
        }
    };
    info.installed = installed.into_iter().flat_map(|t| t.installed).collect();
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::wire::{ChannelInfo, Download, FindResult, Platform, RevisionInfo};
    use workshop_api::sdks::{SdkInstalled, SdkTree};

    fn release(channel: &str, revision: u64, base: (&str, &str), arch: &str) -> Release {
        let (track, risk) = channel.split_once('/').unwrap();
        Release {
            channel: ChannelInfo {
                name: channel.into(),
                track: track.into(),
                risk: risk.into(),
                effective_channel: channel.into(),
                released_at: Some("2026-03-10T23:48:34.474879".into()),
                platform: Platform { name: base.0.into(), channel: base.1.into(), architecture: arch.into() },
            },
            revision: RevisionInfo {
                revision,
                version: "2.1\u{1b}[31m".into(),
                created_at: Some("2026-03-10T23:45:32+00:00".into()),
                download: Download { size: 1234, sha3_384: String::new() },
                sdk_yaml: Some(
                    serde_json::json!({"sdkcraft-started-at": "2024-11-20T00:00:00+00:00", "website": "https://openvino.ai"}),
                ),
            },
        }
    }

    #[test]
    fn find_results_are_sorted_cleaned_and_filtered() {
        let result = |name: &str| FindResult {
            id: "U9IB".into(),
            name: name.into(),
            result: Metadata {
                summary: "Intel\ntoolkit".into(),
                description: "line one\nline two\u{7}".into(),
                publisher: Some(Publisher {
                    display_name: "Intel".into(),
                    validation: "verified".into(),
                    ..Publisher::default()
                }),
                ..Metadata::default()
            },
            default_release: Some(release("latest/stable", 85, ("ubuntu", "24.04"), "amd64")),
        };
        let answer = FindResponse { results: vec![result("openvino"), result("../evil"), result("jupyter")] };
        let found = summaries(answer);
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["jupyter", "openvino"]);
        let s = &found[1];
        assert_eq!((s.summary.as_str(), s.description.as_str()), ("Inteltoolkit", "line one\nline two"));
        assert_eq!((s.revision.as_str(), s.version.as_str()), ("85", "2.1[31m"));
        assert_eq!(
            (s.base.as_str(), s.arch.as_str(), s.channel.as_str()),
            ("ubuntu@24.04", "amd64", "latest/stable")
        );
        assert_eq!(s.released_at.unwrap().to_rfc3339(), "2026-03-10T23:48:34.474879+00:00");
        assert_eq!(s.publisher.as_ref().unwrap().validation, "verified");
    }

    #[test]
    fn info_gives_every_channel_with_build_dates_and_the_website() {
        let answer = InfoResponse {
            id: "U9IB".into(),
            name: "openvino".into(),
            result: Metadata { license: "Apache-2.0".into(), ..Metadata::default() },
            channel_map: vec![
                release("latest/stable", 85, ("ubuntu", "24.04"), "amd64"),
                release("latest/edge", 91, ("all", "all"), "all"),
            ],
        };
        let info = store_info("openvino", answer.clone()).unwrap();
        assert_eq!(info.website, "https://openvino.ai");
        assert_eq!(info.channels.len(), 2);
        assert_eq!(info.channels[1].base, "");
        assert_eq!(info.channels[1].arch, "all");
        assert_eq!(info.channels[0].built_at.unwrap().to_rfc3339(), "2024-11-20T00:00:00+00:00");
        assert_eq!(info.channels[0].download_size, 1234);
        let mut bad = answer.clone();
        bad.channel_map[0].revision.sdk_yaml = Some(serde_json::json!("["));
        let e = store_info("openvino", bad).unwrap_err().to_string();
        assert!(e.ends_with("invalid \"openvino\" SDK (85) metadata: not a mapping"), "{e}");
        assert!(store_info("other", answer).is_err());
    }

    #[test]
    fn installed_trees_answer_without_the_store() {
        let tree = InstalledTree {
            tree: SdkTree { name: "go".into(), revision: "x1".into(), ..SdkTree::default() },
            title: String::new(),
            summary: "Go toolchain".into(),
            description: String::new(),
            installed: vec![SdkInstalled { workshop: "dev".into(), ..SdkInstalled::default() }],
        };
        let offline = StoreError::Unreachable { what: "x".into(), url: "u".into(), why: "down".into() };
        let info = full_info("go", Err(offline), vec![tree]).unwrap();
        assert_eq!((info.summary.as_str(), info.installed.len()), ("Go toolchain", 1));
        let e = full_info("go", Err(StoreError::NotFound("go".into())), Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "SDK \"go\" not found");
    }
}
