//! Where a user's data directory (`$XDG_DATA_HOME`, else `~/.local/share`) is reached from
//! when the daemon acts in it as the user.

use std::path::{Path, PathBuf};

use super::{Dir, UserFsError};
use crate::managers::UserRef;

/// A directory opened as the user (the home directory, or the data directory the caller
/// named), and the components of the data directory below it, which are never followed
/// through a symlink (`.local/share` below the home directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRoot {
    dir: PathBuf,
    below: Vec<String>,
}

impl DataRoot {
    /// The user's: the data directory the caller named, else `~/.local/share`; None for a
    /// user without a home directory.
    pub fn of(user: &UserRef) -> Option<DataRoot> {
        match &user.data_home {
            Some(dir) => Some(DataRoot { dir: dir.clone(), below: Vec::new() }),
            None => user.home().map(DataRoot::home),
        }
    }

    /// `~/.local/share` of home directory `home`.
    pub fn home(home: PathBuf) -> DataRoot {
        DataRoot { dir: home, below: vec![".local".into(), "share".into()] }
    }

    /// The directory opened first.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory's path.
    pub fn path(&self) -> PathBuf {
        self.below.iter().fold(self.dir.clone(), |p, c| p.join(c))
    }

    /// The components of `rest` (below the data directory) below [`DataRoot::dir`].
    pub fn components(&self, rest: &[&str]) -> Vec<String> {
        self.below.iter().cloned().chain(rest.iter().map(|c| c.to_string())).collect()
    }

    /// [`DataRoot::dir`] opened as the calling thread's user (within [`super::as_user`]);
    /// None when a data directory the caller named does not exist.
    pub fn open(&self) -> Result<Option<Dir>, UserFsError> {
        match Dir::open(&self.dir) {
            Ok(dir) => Ok(Some(dir)),
            Err(e) if e.is_not_found() && self.below.is_empty() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_data_directory_wins_over_the_home_one() {
        let mut user = UserRef { name: "u".into(), uid: 0, gid: 0, data_home: None };
        let home = DataRoot::home(PathBuf::from("/home/u"));
        assert_eq!(home.path(), Path::new("/home/u/.local/share"));
        assert_eq!(home.components(&["workshop", "try"]), [".local", "share", "workshop", "try"]);
        user.data_home = Some(PathBuf::from("/data/u"));
        let named = DataRoot::of(&user).unwrap();
        assert_eq!((named.dir(), named.path()), (Path::new("/data/u"), PathBuf::from("/data/u")));
        assert_eq!(named.components(&["workshop"]), ["workshop"]);
    }
}
