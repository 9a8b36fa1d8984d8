//! Where the Store is and how much the daemon takes from it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use awc::http::Uri;

use super::error::StoreError;

/// The Store the reference uses by default.
pub const DEFAULT_URL: &str = "https://api.pkg.store";
/// Our variable for the Store's URL; it wins over [`REFERENCE_URL_ENV`] when both are set.
pub const URL_ENV: &str = "WORKSHOP_STORE_URL";
/// The reference's variable for the Store's URL (the snap's `store.url` option sets it).
pub const REFERENCE_URL_ENV: &str = "SDK_STORE_URL";

/// Bounds on what the daemon takes from the Store.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest JSON answer read (resolve, find, info).
    pub max_json: usize,
    /// Largest `.sdk` archive downloaded (or copied from a try area).
    pub max_archive: u64,
    /// Connecting, including the TLS handshake.
    pub connect_timeout: Duration,
    /// From sending a request to the end of a JSON answer.
    pub request_timeout: Duration,
    /// Longest pause in a download before it is abandoned.
    pub idle_timeout: Duration,
    /// Most SDKs resolved in one call.
    pub max_sdks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_json: 8 << 20,
            max_archive: 16 << 30,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_sdks: 64,
        }
    }
}

/// How the daemon reaches the Store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Base URL, without a trailing slash, e.g. `https://api.pkg.store`.
    pub url: String,
    /// `$WORKSHOP_CACHE/sdk`: downloaded archives, `<name>_<revision>.sdk`.
    pub cache_dir: PathBuf,
    pub limits: Limits,
}

impl StoreConfig {
    /// The Store at `url`; `from` says where the URL came from, for messages.
    pub fn new(url: &str, from: &'static str, cache_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            url: checked_url(url, from)?,
            cache_dir: cache_dir.to_path_buf(),
            limits: Limits::default(),
        })
    }

    /// The Store named by `$WORKSHOP_STORE_URL`, else `$SDK_STORE_URL`, else [`DEFAULT_URL`];
    /// archives are cached in `<cache>/sdk`.
    pub fn from_env(cache: &Path) -> Result<Self, StoreError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (url, from) = choose(var(URL_ENV), var(REFERENCE_URL_ENV));
        Self::new(&url, from, &cache.join("sdk"))
    }
}

/// Our variable first, then the reference's, then the default.
fn choose(ours: Option<String>, reference: Option<String>) -> (String, &'static str) {
    match (ours, reference) {
        (Some(url), _) => (url, URL_ENV),
        (None, Some(url)) => (url, REFERENCE_URL_ENV),
        (None, None) => (DEFAULT_URL.to_string(), "the default"),
    }
}

/// An `http` or `https` URL with a host and neither query nor fragment, without its trailing
/// slash.
fn checked_url(url: &str, from: &'static str) -> Result<String, StoreError> {
    let bad = |why: &str| StoreError::BadUrl { url: url.to_string(), from, why: why.to_string() };
    let url = url.trim();
    if url.contains(['?', '#']) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("want scheme://host[:port][/path], without query, fragment or spaces"));
    }
    let uri: Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad("credentials in the URL are not supported"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_variable_wins_over_the_references() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(choose(s("http://a"), s("http://b")), ("http://a".to_string(), URL_ENV));
        assert_eq!(choose(None, s("http://b")), ("http://b".to_string(), REFERENCE_URL_ENV));
        assert_eq!(choose(None, None), (DEFAULT_URL.to_string(), "the default"));
    }

    #[test]
    fn urls_are_checked() {
        let ok = |u: &str| checked_url(u, URL_ENV).unwrap();
        assert_eq!(ok("https://api.pkg.store/"), "https://api.pkg.store");
        assert_eq!(ok("http://127.0.0.1:8080/prefix"), "http://127.0.0.1:8080/prefix");
        for bad in [
            "ftp://x",
            "api.pkg.store",
            "http://",
            "http://x/?a=b",
            "http://x/#f",
            "http://u:p@x",
            "http://a b",
        ] {
            let err = checked_url(bad, URL_ENV).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("cannot use SDK Store URL {bad:?} (from WORKSHOP_STORE_URL): ")),
                "{err}"
            );
        }
    }
}
