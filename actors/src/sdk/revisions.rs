//! Local revisions of a user's own SDKs (project, try and sketch SDKs): `x1`, `x2`, ...
//! numbered per (user, project, workshop, SDK), each with the digest of its tree, kept in the
//! daemon's state under [`LOCAL_SDKS`]. Content addressed: committing a tree whose digest a
//! kept revision has gives that revision again (an unchanged SDK is not reinstalled, and
//! going back to an earlier content goes back to its number); a new digest gets the next
//! number. The two revisions committed last (a content met again counts as committed then)
//! and the installed one are kept ([`kept`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::TreeId;
use crate::state::{Key, State};

/// Where every user's local revisions are kept in the state's data.
pub const LOCAL_SDKS: Key<BTreeMap<String, Revisions>> = Key::new("local-sdks");

/// How many of the revisions committed last are kept besides the installed one.
pub const KEEP_NEWEST: usize = 2;

/// One local SDK: which user's, in which project, for which workshop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalSdkRef {
    pub uid: u32,
    pub project_id: String,
    pub workshop: String,
    /// The bare SDK name (`foo` for `project-foo`).
    pub sdk: String,
}

impl LocalSdkRef {
    fn key(&self) -> String {
        format!("{}/{}/{}/{}", self.uid, self.project_id, self.workshop, self.sdk)
    }

    /// The key prefix of every SDK of one workshop.
    fn workshop_prefix(uid: u32, project_id: &str, workshop: &str) -> String {
        format!("{uid}/{project_id}/{workshop}/")
    }
}

/// A local revision: its number and its tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub revision: u32,
    pub digest: TreeId,
}

/// The revisions of one local SDK: the last number given and those kept, in the order they
/// were last committed (oldest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Revisions {
    pub last: u32,
    pub kept: Vec<Revision>,
}

impl Revisions {
    /// The revision of a tree with `digest`: a kept revision with that digest, or the next
    /// number. Whether it is a new revision.
    pub fn commit(&mut self, digest: &TreeId) -> (u32, bool) {
        if let Some(at) = self.kept.iter().position(|r| r.digest == *digest) {
            // Used again: it is the most recent now.
            let found = self.kept.remove(at);
            let revision = found.revision;
            self.kept.push(found);
            return (revision, false);
        }
        self.last += 1;
        self.kept.push(Revision { revision: self.last, digest: digest.clone() });
        (self.last, true)
    }

    /// Drops the revisions [`kept`] does not keep; returns them.
    pub fn prune(&mut self, installed: Option<u32>) -> Vec<Revision> {
        let numbers: Vec<u32> = self.kept.iter().map(|r| r.revision).collect();
        let keep = kept(&numbers, installed);
        let (stay, dropped) = self.kept.drain(..).partition(|r| keep.contains(&r.revision));
        self.kept = stay;
        dropped
    }

    /// The tree of `revision`, if it is kept.
    pub fn digest(&self, revision: u32) -> Option<&TreeId> {
        self.kept.iter().find(|r| r.revision == revision).map(|r| &r.digest)
    }
}

/// Which of `revisions` (in the order they were last committed, oldest first) to keep: the
/// [`KEEP_NEWEST`] last, and `installed` if it is one of them.
pub fn kept(revisions: &[u32], installed: Option<u32>) -> BTreeSet<u32> {
    let mut keep: BTreeSet<u32> = BTreeSet::new();
    for revision in revisions.iter().rev() {
        if keep.len() == KEEP_NEWEST {
            break;
        }
        keep.insert(*revision);
    }
    if let Some(installed) = installed.filter(|i| revisions.contains(i)) {
        keep.insert(installed);
    }
    keep
}

/// How a revision is shown: `x3`.
pub fn label(revision: u32) -> String {
    format!("x{revision}")
}

/// What a commit recorded: the tree's revision, whether it is new, and the revisions no
/// longer kept (whose trees the SDK manager removes when nothing else uses them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub revision: u32,
    pub new: bool,
    pub dropped: Vec<Revision>,
}

/// Records in the state that `sdk` was committed as the tree `digest`, while revision
/// `installed` of it is in the workshop (run inside the engine's `Transact`).
pub fn record(st: &mut State, sdk: &LocalSdkRef, digest: &TreeId, installed: Option<u32>) -> Recorded {
    let mut all = st.read(&LOCAL_SDKS).unwrap_or_default();
    let revisions = all.entry(sdk.key()).or_default();
    let (revision, new) = revisions.commit(digest);
    let dropped = revisions.prune(installed);
    st.write(&LOCAL_SDKS, &all);
    Recorded { revision, new, dropped }
}

/// The revisions of `sdk`.
pub fn revisions(st: &State, sdk: &LocalSdkRef) -> Revisions {
    st.read(&LOCAL_SDKS).and_then(|mut all| all.remove(&sdk.key())).unwrap_or_default()
}

/// Forgets the revisions of every SDK of a removed workshop; returns them.
pub fn forget_workshop(st: &mut State, uid: u32, project_id: &str, workshop: &str) -> Vec<Revision> {
    let Some(mut all) = st.read(&LOCAL_SDKS) else { return Vec::new() };
    let prefix = LocalSdkRef::workshop_prefix(uid, project_id, workshop);
    let doomed: Vec<String> = all.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
    let forgotten = doomed.iter().filter_map(|k| all.remove(k)).flat_map(|r| r.kept).collect();
    st.write(&LOCAL_SDKS, &all);
    forgotten
}

/// Gives workshop `to` the revisions of every SDK of workshop `from` (a fork), in place of
/// any it had.
pub fn copy_workshop(st: &mut State, uid: u32, project_id: &str, from: &str, to: &str) {
    forget_workshop(st, uid, project_id, to);
    let Some(mut all) = st.read(&LOCAL_SDKS) else { return };
    let (from, to) = (
        LocalSdkRef::workshop_prefix(uid, project_id, from),
        LocalSdkRef::workshop_prefix(uid, project_id, to),
    );
    let copies: Vec<(String, Revisions)> = all
        .iter()
        .filter_map(|(k, r)| Some((format!("{to}{}", k.strip_prefix(&from)?), r.clone())))
        .collect();
    all.extend(copies);
    st.write(&LOCAL_SDKS, &all);
}

/// Every tree a kept local revision of any user refers to.
pub fn referenced(st: &State) -> BTreeSet<TreeId> {
    st.read(&LOCAL_SDKS).unwrap_or_default().into_values().flat_map(|r| r.kept).map(|r| r.digest).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TreeId {
        TreeId::of_digest(&[n; 48])
    }

    fn sdk(uid: u32, workshop: &str, name: &str) -> LocalSdkRef {
        LocalSdkRef { uid, project_id: "0123abcd".into(), workshop: workshop.into(), sdk: name.into() }
    }

    #[test]
    fn a_fork_gets_the_revisions_of_its_source_and_keeps_them_apart() {
        let mut st = State::new();
        record(&mut st, &sdk(1000, "dev", "tools"), &id(1), None);
        record(&mut st, &sdk(1000, "dev", "tools"), &id(2), Some(1));
        record(&mut st, &sdk(1000, "copy", "old"), &id(9), None);
        record(&mut st, &sdk(1001, "dev", "tools"), &id(7), None);
        copy_workshop(&mut st, 1000, "0123abcd", "dev", "copy");
        assert_eq!(revisions(&st, &sdk(1000, "copy", "tools")), revisions(&st, &sdk(1000, "dev", "tools")));
        assert_eq!(revisions(&st, &sdk(1000, "copy", "old")), Revisions::default(), "replaced");
        // A new commit in the copy numbers on from the source's, and leaves the source alone.
        let recorded = record(&mut st, &sdk(1000, "copy", "tools"), &id(3), Some(2));
        assert_eq!(recorded.revision, 3);
        assert_eq!(revisions(&st, &sdk(1000, "dev", "tools")).last, 2);
        // Another user's workshop of the same name is not copied from.
        assert_eq!(revisions(&st, &sdk(1001, "copy", "tools")), Revisions::default());
    }

    #[test]
    fn the_two_committed_last_and_the_installed_one_are_kept() {
        assert_eq!(kept(&[], None), BTreeSet::new());
        assert_eq!(kept(&[1], Some(1)), [1].into());
        assert_eq!(kept(&[1, 2, 3], None), [2, 3].into());
        assert_eq!(kept(&[3, 1, 2], Some(3)), [1, 2, 3].into());
        // Order of use, not of number.
        assert_eq!(kept(&[2, 3, 1], None), [1, 3].into());
        assert_eq!(kept(&[1, 2, 3, 4], Some(3)), [3, 4].into());
        // An installed revision that is no longer there keeps nothing more.
        assert_eq!(kept(&[5, 6, 7], Some(1)), [6, 7].into());
    }

    #[test]
    fn revisions_are_content_addressed() {
        // K-10: v1 is x1, v2 is x2, v1 again is x1 again.
        let mut r = Revisions::default();
        assert_eq!(r.commit(&id(1)), (1, true));
        assert_eq!(r.commit(&id(1)), (1, false));
        assert_eq!(r.commit(&id(2)), (2, true));
        assert_eq!(r.commit(&id(1)), (1, false));
        assert_eq!(r.commit(&id(3)), (3, true));
        // x1 was used after x2: x2 goes.
        let dropped = r.prune(Some(3));
        assert_eq!(dropped, [Revision { revision: 2, digest: id(2) }]);
        assert_eq!(r.commit(&id(1)), (1, false));
        // A content whose revision was dropped gets a new number.
        assert_eq!(r.commit(&id(2)), (4, true));
        assert_eq!(r.digest(1), Some(&id(1)));
        assert_eq!(r.digest(2), None);
        assert_eq!(label(4), "x4");
    }

    #[test]
    fn revisions_are_kept_per_user_project_workshop_and_sdk_in_the_state() {
        let mut st = State::new();
        let mine = sdk(1000, "dev", "tools");
        let theirs = sdk(1001, "dev", "tools");
        let other = sdk(1000, "prod", "tools");
        assert_eq!(record(&mut st, &mine, &id(1), None).revision, 1);
        assert_eq!(record(&mut st, &theirs, &id(9), None).revision, 1);
        let second = record(&mut st, &mine, &id(2), Some(1));
        assert_eq!((second.revision, second.new), (2, true));
        assert_eq!(record(&mut st, &other, &id(1), None).revision, 1);
        // x1 installed, x2 and x3 committed without installing: all three stay.
        let third = record(&mut st, &mine, &id(3), Some(1));
        assert_eq!((third.revision, third.dropped.len()), (3, 0));
        let fourth = record(&mut st, &mine, &id(4), Some(3));
        assert_eq!(fourth.dropped.iter().map(|r| r.revision).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(revisions(&st, &mine).kept.iter().map(|r| r.revision).collect::<Vec<_>>(), [3, 4]);
        // The state keeps them across a save.
        let st = State::from_json(&st.to_json()).unwrap();
        assert_eq!(revisions(&st, &theirs).kept, [Revision { revision: 1, digest: id(9) }]);
        let mut st = st;
        let forgotten = forget_workshop(&mut st, 1000, "0123abcd", "dev");
        assert_eq!(forgotten.len(), 2);
        assert_eq!(revisions(&st, &mine), Revisions::default());
        assert_eq!(referenced(&st), [id(1), id(9)].into());
    }
}
