//! The workshops' lines in the bridge's `raw.dnsmasq`, as pure functions: their format, and
//! the edit of a whole configuration (publish, withdraw, prune) that one ETag-guarded write
//! applies.
//!
//! A workshop's line is `cname=<ws>.<pid>.<domain>[,<ws>.<label>.<domain>],<ws>-<pid>.<domain>,0
//! # <LXD project> <unix time written> <project directory name>`: the target is the name the
//! workshop's DHCP client registers, the comment says whose line it is (and lets a line
//! whose instance is gone be pruned). Other lines are left as they are; their names count as
//! taken. dnsmasq refuses to start on a name given to two `cname=` lines, so no edit ever
//! writes one twice.

use std::collections::{BTreeSet, HashSet};

use crate::backend::hostname::{self, HostName};

/// A line whose instance does not exist is pruned only this long after it was written: an
/// instance is published while LXD creates it.
pub(super) const PRUNE_GRACE_SECS: u64 = 600;
/// How much of the project directory's name a line's comment keeps.
const MAX_COMMENT_CHARS: usize = 64;
const PREFIX: &str = "cname=";
/// dnsmasq's TTL for the names: 0, so that guests never cache a name that changes.
const TTL: &str = "0";

/// A workshop's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The LXD project of the instance.
    pub lxd_project: String,
    pub workshop: String,
    pub project_id: String,
    /// The label of the friendly name, when the workshop has it.
    pub label: Option<String>,
    /// When the line was written (unix seconds).
    pub written: u64,
    /// The project directory's name, for people reading the configuration.
    pub project_name: String,
}

impl Entry {
    /// The instance: `<ws>-<pid>`.
    pub fn instance(&self) -> String {
        format!("{}-{}", self.workshop, self.project_id)
    }

    fn key(&self) -> (String, String) {
        (self.lxd_project.clone(), self.instance())
    }

    /// The names the line gives the instance (not its own name, the target).
    fn aliases(&self, domain: &str) -> Vec<String> {
        let mut names = vec![hostname::project_name(&self.workshop, &self.project_id, domain)];
        names.extend(self.label.iter().map(|l| hostname::friendly_name(&self.workshop, l, domain)));
        names
    }

    /// The name the workshop is known by.
    pub fn host_name(&self, domain: &str) -> HostName {
        match &self.label {
            Some(label) => {
                HostName { name: hostname::friendly_name(&self.workshop, label, domain), fallback: false }
            }
            None => HostName {
                name: hostname::fallback_name(&self.workshop, &self.project_id, domain),
                fallback: true,
            },
        }
    }

    pub fn line(&self, domain: &str) -> String {
        let target = hostname::fallback_name(&self.workshop, &self.project_id, domain);
        format!(
            "{PREFIX}{},{target},{TTL}  # {} {} {}",
            self.aliases(domain).join(","),
            self.lxd_project,
            self.written,
            comment_text(&self.project_name)
        )
    }

    /// The entry a line holds, when it is a workshop's line.
    pub fn parse(line: &str, domain: &str) -> Option<Self> {
        let (value, comment) = line.strip_prefix(PREFIX)?.split_once('#')?;
        let mut fields: Vec<&str> = value.trim().split(',').collect();
        if fields.pop()? != TTL || !(2..=3).contains(&fields.len()) {
            return None;
        }
        let target = fields.pop()?;
        let instance = target.strip_suffix(domain)?.strip_suffix('.')?;
        let (workshop, project_id) = instance.rsplit_once('-')?;
        if workshop.is_empty() || !workshop_api::ids::is_project_id(project_id) {
            return None;
        }
        if fields[0] != hostname::project_name(workshop, project_id, domain) {
            return None;
        }
        let label = match fields.get(1) {
            Some(name) => {
                let label = name
                    .strip_prefix(workshop)?
                    .strip_prefix('.')?
                    .strip_suffix(domain)?
                    .strip_suffix('.')?;
                if label.is_empty() || label.contains('.') {
                    return None;
                }
                Some(label.to_string())
            }
            None => None,
        };
        let mut words = comment.trim().splitn(3, ' ');
        let lxd_project = words.next().filter(|p| !p.is_empty())?.to_string();
        let written = words.next()?.parse().ok()?;
        let project_name = words.next().unwrap_or_default().to_string();
        Some(Self {
            lxd_project,
            workshop: workshop.to_string(),
            project_id: project_id.to_string(),
            label,
            written,
            project_name,
        })
    }
}

/// The project directory's name as a comment can hold it: one line of printable text (a
/// newline would start a directive of the user's choosing), cut after 64 characters.
fn comment_text(name: &str) -> String {
    name.chars().take(MAX_COMMENT_CHARS).map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// The names (aliases, not targets) of every `cname=` line, lowercase.
fn cname_aliases(line: &str) -> Vec<String> {
    let Some(value) = line.trim_start().strip_prefix(PREFIX) else { return Vec::new() };
    let value = value.split('#').next().unwrap_or_default();
    let mut fields: Vec<&str> = value.split(',').map(str::trim).collect();
    if fields.last().is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())) {
        fields.pop();
    }
    fields.pop(); // the target
    fields.into_iter().map(str::to_ascii_lowercase).collect()
}

/// A change to the workshops' lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Edit {
    /// Make sure the workshop has its line: kept as it is when its names are still the right
    /// ones, else (re)written with the friendly name of `project_name` when it is valid and
    /// free.
    Publish { lxd_project: String, workshop: String, project_id: String, project_name: String },
    /// Remove the workshop's line.
    Withdraw { lxd_project: String, workshop: String, project_id: String },
}

/// What an edit came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The workshop is known by this name.
    Published(HostName),
    /// Another line gives `name`, one of the workshop's own names, to something else: the
    /// workshop has no line.
    Blocked {
        name: String,
    },
    Withdrawn,
}

/// The new configuration (None when nothing changes) and each edit's outcome.
/// `existing` lists the instances of every LXD project as (project, instance): workshop lines
/// of other instances older than [`PRUNE_GRACE_SECS`] are dropped (None: nothing is pruned).
pub(super) fn apply(
    raw: &str,
    edits: &[Edit],
    existing: Option<&HashSet<(String, String)>>,
    now: u64,
    domain: &str,
) -> (Option<String>, Vec<Outcome>) {
    enum Line {
        Other(String),
        Ours(Entry),
    }
    let mut changed = false;
    let mut seen = HashSet::new();
    let mut lines: Vec<Line> = Vec::new();
    for text in raw.lines() {
        match Entry::parse(text, domain) {
            Some(entry) => {
                let stale = existing.is_some_and(|e| {
                    !e.contains(&entry.key())
                        && (now.saturating_sub(entry.written) > PRUNE_GRACE_SECS
                            || entry.written > now + PRUNE_GRACE_SECS)
                });
                // A second line of the same instance is dropped too (its names would repeat).
                if stale || !seen.insert(entry.key()) {
                    changed = true;
                } else {
                    lines.push(Line::Ours(entry));
                }
            }
            None => lines.push(Line::Other(text.to_string())),
        }
    }
    let taken_except = |lines: &[Line], skip: Option<usize>| -> BTreeSet<String> {
        lines
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .flat_map(|(_, line)| match line {
                Line::Other(text) => cname_aliases(text),
                Line::Ours(entry) => entry.aliases(domain),
            })
            .collect()
    };
    let position = |lines: &[Line], key: &(String, String)| {
        lines.iter().position(|l| matches!(l, Line::Ours(e) if e.key() == *key))
    };
    let mut outcomes = Vec::with_capacity(edits.len());
    for edit in edits {
        match edit {
            Edit::Withdraw { lxd_project, workshop, project_id } => {
                let key = (lxd_project.clone(), format!("{workshop}-{project_id}"));
                if let Some(at) = position(&lines, &key) {
                    lines.remove(at);
                    changed = true;
                }
                outcomes.push(Outcome::Withdrawn);
            }
            Edit::Publish { lxd_project, workshop, project_id, project_name } => {
                let key = (lxd_project.clone(), format!("{workshop}-{project_id}"));
                let at = position(&lines, &key);
                let taken = taken_except(&lines, at);
                let own = hostname::project_name(workshop, project_id, domain);
                if taken.contains(&own) {
                    outcomes.push(Outcome::Blocked { name: own });
                    continue;
                }
                let label = hostname::project_label(project_name)
                    .filter(|l| !taken.contains(&hostname::friendly_name(workshop, l, domain)));
                let current = at.and_then(|i| match &lines[i] {
                    Line::Ours(entry) => Some(entry),
                    Line::Other(_) => None,
                });
                if let Some(entry) = current.filter(|e| e.label == label) {
                    outcomes.push(Outcome::Published(entry.host_name(domain)));
                    continue;
                }
                let entry = Entry {
                    lxd_project: lxd_project.clone(),
                    workshop: workshop.clone(),
                    project_id: project_id.clone(),
                    label,
                    written: now,
                    project_name: comment_text(project_name),
                };
                outcomes.push(Outcome::Published(entry.host_name(domain)));
                match at {
                    Some(i) => lines[i] = Line::Ours(entry),
                    None => lines.push(Line::Ours(entry)),
                }
                changed = true;
            }
        }
    }
    let text = changed.then(|| {
        lines
            .iter()
            .map(|line| match line {
                Line::Other(text) => text.clone(),
                Line::Ours(entry) => entry.line(domain),
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    (text, outcomes)
}

/// The workshops' lines of a configuration.
pub(super) fn entries(raw: &str, domain: &str) -> Vec<Entry> {
    raw.lines().filter_map(|line| Entry::parse(line, domain)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn publish(user: &str, ws: &str, pid: &str, dir: &str) -> Edit {
        Edit::Publish {
            lxd_project: format!("workshop.{user}"),
            workshop: ws.into(),
            project_id: pid.into(),
            project_name: dir.into(),
        }
    }

    fn withdraw(user: &str, ws: &str, pid: &str) -> Edit {
        Edit::Withdraw {
            lxd_project: format!("workshop.{user}"),
            workshop: ws.into(),
            project_id: pid.into(),
        }
    }

    fn friendly(name: &str) -> Outcome {
        Outcome::Published(HostName { name: name.into(), fallback: false })
    }

    fn fallback(name: &str) -> Outcome {
        Outcome::Published(HostName { name: name.into(), fallback: true })
    }

    fn run(raw: &str, edits: &[Edit]) -> (String, Vec<Outcome>) {
        let (text, outcomes) = apply(raw, edits, None, NOW, "wp");
        (text.unwrap_or_else(|| raw.to_string()), outcomes)
    }

    #[test]
    fn the_line_has_the_references_shape() {
        let (text, outcomes) = run("", &[publish("alice", "dev", "0123abcd", "My App")]);
        assert_eq!(
            text,
            "cname=dev.0123abcd.wp,dev.my-app.wp,dev-0123abcd.wp,0  # workshop.alice 1800000000 My App"
        );
        assert_eq!(outcomes, [friendly("dev.my-app.wp")]);
        let entry = Entry::parse(&text, "wp").unwrap();
        assert_eq!((entry.instance().as_str(), entry.label.as_deref()), ("dev-0123abcd", Some("my-app")));
        assert_eq!(entry.project_name, "My App");
    }

    #[test]
    fn an_invalid_label_falls_back() {
        let (text, outcomes) = run("", &[publish("alice", "dev", "0123abcd", "_hidden")]);
        assert_eq!(text, "cname=dev.0123abcd.wp,dev-0123abcd.wp,0  # workshop.alice 1800000000 _hidden");
        assert_eq!(outcomes, [fallback("dev-0123abcd.wp")]);
    }

    #[test]
    fn a_friendly_name_held_by_another_workshop_falls_back() {
        let (text, _) = run("", &[publish("alice", "dev", "0123abcd", "app")]);
        // Another project with the same directory name, of the same or of another user.
        let (text, outcomes) = run(
            &text,
            &[publish("alice", "dev", "89abcdef", "app"), publish("bob", "dev", "00000001", "app")],
        );
        assert_eq!(outcomes, [fallback("dev-89abcdef.wp"), fallback("dev-00000001.wp")]);
        assert_eq!(text.lines().count(), 3);
        // Another workshop name in that project is free.
        let (_, outcomes) = run(&text, &[publish("alice", "web", "89abcdef", "app")]);
        assert_eq!(outcomes, [friendly("web.app.wp")]);
        // Once the holder is gone, the next publish takes the friendly name.
        let (text, _) = run(&text, &[withdraw("alice", "dev", "0123abcd")]);
        let (text, outcomes) = run(&text, &[publish("alice", "dev", "89abcdef", "app")]);
        assert_eq!(outcomes, [friendly("dev.app.wp")]);
        assert!(text.contains("cname=dev.89abcdef.wp,dev.app.wp,dev-89abcdef.wp,0"), "{text}");
    }

    #[test]
    fn names_given_by_other_lines_are_taken_too() {
        let raw =
            "# the administrator's\ncname=dev.app.wp,elsewhere.wp\ncname=dev.89abcdef.wp, other.wp, 300";
        let (text, outcomes) =
            run(raw, &[publish("alice", "dev", "0123abcd", "App"), publish("alice", "dev", "89abcdef", "x")]);
        assert_eq!(
            outcomes,
            [fallback("dev-0123abcd.wp"), Outcome::Blocked { name: "dev.89abcdef.wp".into() }]
        );
        // Their lines are kept as they are, in place.
        assert!(text.starts_with(raw), "{text}");
        assert_eq!(text.lines().count(), 4);
    }

    #[test]
    fn the_same_instance_name_of_another_user_is_blocked() {
        // Two users may hold the same project id (a copied lock file).
        let (text, _) = run("", &[publish("alice", "dev", "0123abcd", "app")]);
        let (after, outcomes) = apply(&text, &[publish("bob", "dev", "0123abcd", "other")], None, NOW, "wp");
        assert_eq!(outcomes, [Outcome::Blocked { name: "dev.0123abcd.wp".into() }]);
        assert_eq!(after, None);
    }

    #[test]
    fn no_name_is_ever_written_twice() {
        let mut raw = String::new();
        let mut edits = Vec::new();
        for (i, dir) in ["app", "App", "app", "a_p_p", "a.p.p", "a p p"].iter().enumerate() {
            edits.push(publish(&format!("u{i}"), "dev", &format!("0000000{i}"), dir));
            edits.push(publish(&format!("u{i}"), "web", &format!("0000000{i}"), dir));
        }
        for _ in 0..2 {
            raw = run(&raw, &edits).0;
        }
        let mut names = HashSet::new();
        for line in raw.lines() {
            for alias in cname_aliases(line) {
                assert!(names.insert(alias.clone()), "{alias} twice in\n{raw}");
            }
        }
        assert_eq!(raw.lines().count(), 12);
    }

    #[test]
    fn publishing_again_changes_nothing() {
        let (text, _) = run("", &[publish("alice", "dev", "0123abcd", "app")]);
        let (again, outcomes) =
            apply(&text, &[publish("alice", "dev", "0123abcd", "app")], None, NOW + 50, "wp");
        assert_eq!(again, None);
        assert_eq!(outcomes, [friendly("dev.app.wp")]);
        // A fallback whose friendly name is still taken stays as it is too.
        let (text, _) = run(&text, &[publish("bob", "dev", "00000001", "app")]);
        assert_eq!(apply(&text, &[publish("bob", "dev", "00000001", "app")], None, NOW, "wp").0, None);
    }

    #[test]
    fn a_renamed_project_gets_its_new_name() {
        let (text, _) = run("", &[publish("alice", "dev", "0123abcd", "app")]);
        let (text, outcomes) = run(&text, &[publish("alice", "dev", "0123abcd", "app2")]);
        assert_eq!(outcomes, [friendly("dev.app2.wp")]);
        assert_eq!(text.lines().count(), 1);
        assert!(text.starts_with("cname=dev.0123abcd.wp,dev.app2.wp,dev-0123abcd.wp,0"));
    }

    #[test]
    fn withdraw_removes_only_that_workshops_line() {
        let (text, _) = run(
            "keep=this",
            &[publish("alice", "dev", "0123abcd", "app"), publish("bob", "dev", "00000001", "b")],
        );
        let (text, outcomes) = run(&text, &[withdraw("alice", "dev", "0123abcd")]);
        assert_eq!(outcomes, [Outcome::Withdrawn]);
        let entries = entries(&text, "wp");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].lxd_project, "workshop.bob");
        assert!(text.starts_with("keep=this\n"));
        // Withdrawing what is not there changes nothing.
        assert_eq!(apply(&text, &[withdraw("alice", "dev", "0123abcd")], None, NOW, "wp").0, None);
    }

    #[test]
    fn lines_of_instances_that_are_gone_are_pruned_after_the_grace() {
        let (text, _) = run(
            "",
            &[publish("alice", "gone", "0123abcd", "app"), publish("alice", "dev", "0123abcd", "app")],
        );
        let existing: HashSet<_> = [("workshop.alice".to_string(), "dev-0123abcd".to_string())].into();
        // Young lines stay: their instance may be being created.
        let (young, _) = apply(&text, &[], Some(&existing), NOW + PRUNE_GRACE_SECS, "wp");
        assert_eq!(young, None);
        let (old, _) = apply(&text, &[], Some(&existing), NOW + PRUNE_GRACE_SECS + 1, "wp");
        let old = old.unwrap();
        assert_eq!(entries(&old, "wp").iter().map(Entry::instance).collect::<Vec<_>>(), ["dev-0123abcd"]);
        // A line claiming to be from the future does not escape pruning.
        let (future, _) = apply(&text, &[], Some(&existing), NOW - PRUNE_GRACE_SECS - 1, "wp");
        assert_eq!(entries(&future.unwrap(), "wp").len(), 1);
        // The pruned line's friendly name is free again.
        let (_, outcomes) =
            apply(&text, &[publish("bob", "gone", "00000001", "app")], Some(&existing), NOW + 3600, "wp");
        assert_eq!(outcomes, [friendly("gone.app.wp")]);
    }

    #[test]
    fn duplicate_lines_of_one_instance_are_merged() {
        let line = Entry {
            lxd_project: "workshop.alice".into(),
            workshop: "dev".into(),
            project_id: "0123abcd".into(),
            label: None,
            written: NOW,
            project_name: "x".into(),
        }
        .line("wp");
        let (text, _) = apply(&format!("{line}\n{line}"), &[], None, NOW, "wp");
        assert_eq!(text.unwrap(), line);
    }

    #[test]
    fn a_project_name_cannot_inject_a_directive() {
        let (text, _) = run("", &[publish("alice", "dev", "0123abcd", "x\naddress=/example.com/10.0.0.1\r")]);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.ends_with("x?address=/example.com/10.0.0.1?"), "{text}");
        let long = "é".repeat(200);
        let (text, _) = run("", &[publish("alice", "dev", "0123abcd", &long)]);
        assert!(text.ends_with(&"é".repeat(MAX_COMMENT_CHARS)), "{text}");
        assert_eq!(entries(&text, "wp").len(), 1);
    }

    #[test]
    fn lines_that_are_not_a_workshops_are_left_alone() {
        for line in [
            "cname=dev.0123abcd.wp,dev-0123abcd.wp,0", // no comment
            "cname=dev.0123abcd.wp,dev-0123abcd.wp,60  # workshop.a 1 x", // another TTL
            "cname=dev.0123abcd.wp,dev-0123abcz.wp,0  # workshop.a 1 x", // not a project id
            "cname=web.0123abcd.wp,dev-0123abcd.wp,0  # workshop.a 1 x", // another workshop
            "cname=dev.0123abcd.wp,dev.a.b.wp,dev-0123abcd.wp,0  # workshop.a 1 x", // dotted label
            "cname=dev.0123abcd.wp,dev-0123abcd.wp,0  # workshop.a soon x", // no time
            "dhcp-option=6,10.0.0.1",
        ] {
            assert_eq!(Entry::parse(line, "wp"), None, "{line}");
            assert_eq!(apply(line, &[], Some(&HashSet::new()), NOW, "wp").0, None, "{line}");
        }
    }
}
