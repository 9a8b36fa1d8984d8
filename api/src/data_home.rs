//! The caller's data directory (`$XDG_DATA_HOME`), which the reference reads from the user's
//! session and the CLI sends with each request in a header, percent-encoded: default mount
//! sources, the try area and sketches live below it (else below `~/.local/share`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The request header.
pub const HEADER: &str = "x-workshop-data-home";

/// The longest data directory (bytes, decoded).
pub const MAX_LEN: usize = 4096;

/// The header value for the value of `$XDG_DATA_HOME`: None when it is unset, empty or
/// relative (the XDG base directory specification has relative paths ignored). A `..` in it
/// (which the daemon refuses) is resolved here, by the directory it names when there is one.
pub fn from_env(value: Option<&OsStr>) -> Option<String> {
    resolve(value).map(|path| encode(&path))
}

/// The data directory the value of `$XDG_DATA_HOME` names, as [`from_env`] sends it: None
/// when it is unset, empty or relative; a `..` in it resolved.
pub fn resolve(value: Option<&OsStr>) -> Option<PathBuf> {
    let path = Path::new(value.filter(|v| !v.is_empty())?);
    if !path.is_absolute() {
        return None;
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Some(std::fs::canonicalize(path).unwrap_or_else(|_| lexical(path)));
    }
    Some(path.to_path_buf())
}

/// `path` with each `..` taking the component before it away (`/..` is `/`).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every byte but `A-Z a-z 0-9 / . _ ~ -` as `%XX`.
pub fn encode(path: &Path) -> String {
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/._~-".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The data directory a header value names: absolute, at most [`MAX_LEN`] bytes, without
/// `..`, NUL or a byte that should have been encoded. The error says what is wrong.
pub fn decode(value: &[u8]) -> Result<PathBuf, String> {
    let shown = String::from_utf8_lossy(&value[..value.len().min(64)]).into_owned();
    let bad = |why: &str| format!("cannot use data directory {shown:?}: {why}");
    if value.len() > 3 * MAX_LEN {
        return Err(bad("too long"));
    }
    let mut bytes = Vec::with_capacity(value.len());
    let mut at = 0;
    while at < value.len() {
        let b = value[at];
        if b == b'%' {
            let hex = value.get(at + 1..at + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| bad("bad %-escape"))?;
            bytes.push(byte);
            at += 3;
        } else if b.is_ascii_alphanumeric() || b"/._~-".contains(&b) {
            bytes.push(b);
            at += 1;
        } else {
            return Err(bad("unencoded character"));
        }
    }
    if bytes.len() > MAX_LEN {
        return Err(bad("too long"));
    }
    if bytes.contains(&0) {
        return Err(bad("NUL byte"));
    }
    let path = PathBuf::from(OsStr::from_bytes(&bytes));
    if !path.is_absolute() {
        return Err(bad("not an absolute path"));
    }
    if path.components().any(|c| !matches!(c, Component::RootDir | Component::Normal(_))) {
        return Err(bad("\"..\" is not allowed"));
    }
    Ok(path.components().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cross_the_header_unchanged() {
        for path in ["/home/u/data", "/tmp/with space/ünï", "/a/%41/b,c;d\te"] {
            let value = from_env(Some(OsStr::new(path))).unwrap();
            assert!(value.bytes().all(|b| b.is_ascii_graphic()), "{value}");
            assert_eq!(decode(value.as_bytes()).unwrap(), Path::new(path));
        }
        assert_eq!(decode(b"/x/./y//z/").unwrap(), Path::new("/x/y/z"));
    }

    #[test]
    fn unset_empty_and_relative_values_are_ignored() {
        assert_eq!(from_env(None), None);
        assert_eq!(from_env(Some(OsStr::new(""))), None);
        assert_eq!(from_env(Some(OsStr::new("data"))), None);
    }

    #[test]
    fn a_parent_component_is_resolved_before_it_is_sent() {
        let sent = |v: &str| decode(from_env(Some(OsStr::new(v))).unwrap().as_bytes()).unwrap();
        assert_eq!(sent("/no-such-wst-dir/a/../b"), Path::new("/no-such-wst-dir/b"));
        assert_eq!(sent("/../x"), Path::new("/x"));
        let dir = std::env::temp_dir().canonicalize().unwrap();
        let made = dir.join(format!("wst-data-home-{}", std::process::id()));
        std::fs::create_dir_all(&made).unwrap();
        let via = format!("{}/..", made.display());
        let resolved = sent(&via);
        std::fs::remove_dir(&made).unwrap();
        assert_eq!(resolved, dir);
    }

    #[test]
    fn hostile_values_are_refused_by_what_is_wrong() {
        let said = |v: &[u8]| decode(v).unwrap_err();
        assert_eq!(said(b"rel/ative"), "cannot use data directory \"rel/ative\": not an absolute path");
        assert!(said(b"/a/../etc").ends_with("\"..\" is not allowed"));
        assert!(said(b"/a/%2E%2E/etc").ends_with("\"..\" is not allowed"));
        assert!(said(b"/a%00b").ends_with("NUL byte"));
        assert!(said(b"/a%0").ends_with("bad %-escape"));
        assert!(said(b"/a%zz").ends_with("bad %-escape"));
        assert!(said(b"/a b").ends_with("unencoded character"));
        assert!(said(b"/a\nb").ends_with("unencoded character"));
        assert!(said(b"").ends_with("not an absolute path"));
        let long = format!("/{}", "a".repeat(MAX_LEN));
        assert!(said(long.as_bytes()).ends_with("too long"));
        assert!(said("%41".repeat(MAX_LEN + 1).as_bytes()).ends_with("too long"));
    }
}
