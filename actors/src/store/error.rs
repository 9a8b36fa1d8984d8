//! What can go wrong with the SDK Store, in words that say what failed and why.

use std::path::PathBuf;
use std::time::Duration;

/// Errors of the Store client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configured URL cannot be used.
    #[error("cannot use SDK Store URL {url:?} (from {from}): {why}")]
    BadUrl { url: String, from: &'static str, why: String },
    /// No connection to the Store.
    #[error("cannot {what}: cannot reach the SDK Store at {url}: {why}")]
    Unreachable { what: String, url: String, why: String },
    /// The Store answered with an error status.
    #[error("cannot {what}: the SDK Store answered {status}{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status { what: String, status: u16, message: Option<String> },
    /// The Store's answer is not what its protocol says.
    #[error("cannot {what}: invalid answer from the SDK Store: {why}")]
    Invalid { what: String, why: String },
    /// The Store's answer is larger than the daemon accepts.
    #[error("cannot {what}: the SDK Store's answer is larger than {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    /// The Store did not answer in time.
    #[error("cannot {what}: the SDK Store did not answer within {}", span(*.after))]
    TimedOut { what: String, after: Duration },
    /// The Store knows no SDK of that name (`GET /v1/sdks/{name}` answers 404).
    #[error("SDK {0:?} not found")]
    NotFound(String),
    /// Some SDKs of a launch cannot be resolved, each with the Store's reason (the
    /// reference's words: `"x" SDK: <reason>`, several under `multiple SDK Store errors:`).
    #[error("{}", resolve_message(.0))]
    Resolve(Vec<String>),
    /// A download failed or did not match what the Store announced.
    #[error("cannot download \"{name}\" SDK (revision {revision}): {why}")]
    Download { name: String, revision: u64, why: String },
    /// The archive cache cannot be used.
    #[error("cannot {op} {}: {source}", .path.display())]
    Cache {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `3 s`, or `500 ms` below a second.
fn span(d: Duration) -> String {
    if d.as_millis() < 1000 { format!("{} ms", d.as_millis()) } else { format!("{} s", d.as_secs()) }
}

fn resolve_message(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => {
            let lines: Vec<String> = many.iter().map(|e| format!("- {e}")).collect();
            format!("multiple SDK Store errors:\n{}", lines.join("\n"))
        }
    }
}

impl StoreError {
    pub(crate) fn cache(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Cache { op, path: path.into(), source }
    }

    /// Whether the Store could not be reached at all (as opposed to answering).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, StoreError::Unreachable { .. } | StoreError::TimedOut { .. })
    }
}

/// At most this much of a text the Store sent goes into a message.
const MAX_QUOTED: usize = 200;

/// A text from the Store, safe to put in a message: control characters dropped, cut after
/// [`MAX_QUOTED`] characters.
pub(crate) fn sanitized(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(MAX_QUOTED).collect();
    if text.chars().filter(|c| !c.is_control()).nth(MAX_QUOTED).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_errors_are_aggregated_in_the_reference_words() {
        let one = StoreError::Resolve(vec![r#""nonexistent" SDK: Package not found"#.into()]);
        assert_eq!(one.to_string(), r#""nonexistent" SDK: Package not found"#);
        let two = StoreError::Resolve(vec![
            r#""nonexistent1" SDK: Package not found"#.into(),
            r#""nonexistent2" SDK: Package not found"#.into(),
        ]);
        assert_eq!(
            two.to_string(),
            "multiple SDK Store errors:\n- \"nonexistent1\" SDK: Package not found\n- \"nonexistent2\" SDK: Package not found"
        );
    }

    #[test]
    fn store_texts_are_cut_and_cleaned() {
        assert_eq!(sanitized("a\nb\u{1b}[31mc"), "ab[31mc");
        let long = "x".repeat(500);
        assert_eq!(sanitized(&long), format!("{}…", "x".repeat(200)));
    }
}
