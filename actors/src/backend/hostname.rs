//! The names of workshops on the network (reference-inventory.md §7, DNS): every workshop is known by
//! `<ws>-<project id>.<domain>` (its instance name, which its DHCP client sends) and
//! `<ws>.<project id>.<domain>` (so that, with `<project id>.<domain>` first in its search
//! list, a workshop reaches the others of its project by their bare name), and when it can,
//! by the friendly `<ws>.<project label>.<domain>`, the label made from the project
//! directory's name. When the label is invalid or another workshop holds the friendly name,
//! the workshop is known by the fallback `<ws>-<project id>.<domain>` (note
//! [`FALLBACK_NOTE`]).

use workshop_api::ids::is_project_id;

/// The note of a workshop known by its fallback name.
pub const FALLBACK_NOTE: &str = "hostname-fallback";

/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// The name a workshop is known by on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostName {
    /// `<ws>.<project label>.<domain>`, or the fallback `<ws>-<project id>.<domain>`.
    pub name: String,
    /// The friendly name was invalid or taken.
    pub fallback: bool,
}

/// The label of a project directory named `basename`: spaces, `_` and `.` become `-`, then
/// IDNA (UTS #46, as a DNS lookup would encode it: lowercase, punycode). None when the result
/// is not a DNS label (letters, digits and inner hyphens, at most 63 bytes), or when it has
/// the form of a project id: that name belongs to the project with that id.
pub fn project_label(basename: &str) -> Option<String> {
    let mapped: String =
        basename.chars().map(|c| if matches!(c, ' ' | '_' | '.') { '-' } else { c }).collect();
    let label = idna::domain_to_ascii_strict(&mapped).ok()?;
    (is_dns_label(&label) && !is_project_id(&label)).then_some(label)
}

/// Letters, digits and hyphens, not first or last, at most 63 bytes.
fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// `<ws>.<label>.<domain>`.
pub fn friendly_name(workshop: &str, label: &str, domain: &str) -> String {
    format!("{workshop}.{label}.{domain}")
}

/// `<ws>.<project id>.<domain>`: the name a bare `<ws>` resolves to in the project's
/// workshops.
pub fn project_name(workshop: &str, project_id: &str, domain: &str) -> String {
    format!("{workshop}.{project_id}.{domain}")
}

/// `<ws>-<project id>.<domain>`: the instance's own name, the fallback.
pub fn fallback_name(workshop: &str, project_id: &str, domain: &str) -> String {
    format!("{workshop}-{project_id}.{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_underscores_and_dots_become_hyphens() {
        assert_eq!(project_label("my project").as_deref(), Some("my-project"));
        assert_eq!(project_label("my_app.v2").as_deref(), Some("my-app-v2"));
        assert_eq!(project_label("a b_c.d").as_deref(), Some("a-b-c-d"));
        assert_eq!(project_label("plain").as_deref(), Some("plain"));
    }

    #[test]
    fn labels_are_idna_encoded() {
        assert_eq!(project_label("MyApp").as_deref(), Some("myapp"));
        assert_eq!(project_label("café").as_deref(), Some("xn--caf-dma"));
        assert_eq!(project_label("Bücher_2").as_deref(), Some("xn--bcher-2-n2a"));
        assert_eq!(project_label("日本").as_deref(), Some("xn--wgv71a"));
    }

    #[test]
    fn names_that_are_no_dns_label_are_refused() {
        for invalid in [
            "",
            "_private",
            "trailing.",
            "a@b",
            "semi;colon",
            "new\nline",
            "slash/",
            "x--y-", // trailing hyphen
            &"a".repeat(64),
        ] {
            assert_eq!(project_label(invalid), None, "{invalid:?}");
        }
        assert_eq!(project_label(&"a".repeat(63)).as_deref(), Some("a".repeat(63).as_str()));
    }

    #[test]
    fn a_label_shaped_like_a_project_id_is_refused() {
        // `<ws>.0123abcd.wp` is the name of the workshop `<ws>` of project 0123abcd.
        assert_eq!(project_label("0123abcd"), None);
        assert_eq!(project_label("0123ABCD"), None);
        assert_eq!(project_label("0123abcd0").as_deref(), Some("0123abcd0"));
    }

    #[test]
    fn names_of_a_workshop() {
        assert_eq!(friendly_name("dev", "my-app", "wp"), "dev.my-app.wp");
        assert_eq!(project_name("dev", "0123abcd", "wp"), "dev.0123abcd.wp");
        assert_eq!(fallback_name("dev", "0123abcd", "wp"), "dev-0123abcd.wp");
    }
}
