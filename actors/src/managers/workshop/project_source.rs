//! Which project directory a running workshop has at `/project`: its identity (device and
//! inode) when it was last mounted. A directory deleted and made again at the same path keeps
//! the project's id (the registry knows the path) but is another directory: the workshop
//! still has the deleted one until it starts again, which `list` and `info` say.

use std::collections::BTreeMap;

use crate::state::{Key, State};

/// A directory's identity: its device and inode numbers.
pub type SourceId = (u64, u64);

/// The identities of the directories workshops last mounted, by `<uid>/<project id>/<ws>`.
const SOURCES: Key<BTreeMap<String, SourceId>> = Key::new("project-sources");

/// The key of a workshop in [`SOURCES`] (as its connections are keyed).
pub use crate::managers::interface::conns::workshop_key as key;

/// Records that the workshop of `key` mounted the directory `id`.
pub fn record(st: &mut State, key: &str, id: SourceId) {
    let mut all = st.read(&SOURCES).unwrap_or_default();
    if all.get(key) != Some(&id) {
        all.insert(key.to_string(), id);
        st.write(&SOURCES, &all);
    }
}

/// The directories the workshops of `keys` last mounted.
pub fn recorded(st: &State, keys: &[String]) -> BTreeMap<String, SourceId> {
    let all = st.read(&SOURCES).unwrap_or_default();
    keys.iter().filter_map(|k| all.get(k).map(|id| (k.clone(), *id))).collect()
}

/// Forgets the workshop of `key` (removed).
pub fn forget(st: &mut State, key: &str) {
    let mut all = st.read(&SOURCES).unwrap_or_default();
    if all.remove(key).is_some() {
        st.write(&SOURCES, &all);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::userfs::Dir;

    #[test]
    fn a_directory_made_again_is_another() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("p");
        std::fs::create_dir(&path).unwrap();
        let first = Dir::open(&path).unwrap().identity().unwrap();
        assert_eq!(Dir::open(&path).unwrap().identity().unwrap(), first);
        // Something else takes the inode number the deleted one had, if any.
        let keep = tmp.path().join("keep");
        std::fs::rename(&path, &keep).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert_ne!(Dir::open(&path).unwrap().identity().unwrap(), first);

        let mut st = State::default();
        let k = key(1000, "0123abcd", "ws");
        record(&mut st, &k, first);
        assert_eq!(recorded(&st, &[k.clone(), "other".into()]), BTreeMap::from([(k.clone(), first)]));
        forget(&mut st, &k);
        assert!(recorded(&st, &[k]).is_empty());
    }
}
