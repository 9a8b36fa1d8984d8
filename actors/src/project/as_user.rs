//! The project operations the managers need, each run with the calling user's identity
//! ([`userfs::as_user`]): off the actor threads, bounded in time, seeing only what the user
//! may see.

use std::path::{Path, PathBuf};

use super::{Definition, DefinitionFile, Found, ProjectError};
use crate::managers::UserRef;
use crate::userfs::{self, Dir};

/// Looks at the project holding the absolute path `start`.
pub async fn inspect(user: &UserRef, start: PathBuf) -> Result<Found, ProjectError> {
    let uid = user.uid;
    userfs::as_user(user, move || super::inspect(&start, uid).map(|(_, found)| found)).await
}

/// Whether the directory at `path` holds the lock `id`.
pub async fn holds_lock(user: &UserRef, path: PathBuf, id: String) -> bool {
    userfs::as_user::<_, ProjectError, _>(user, move || Ok(super::holds_lock(&path, &id)))
        .await
        .unwrap_or(false)
}

/// Writes the lock file of the project at `root`, which must still be the user's own.
pub async fn write_lock(user: &UserRef, root: PathBuf, id: String) -> Result<(), ProjectError> {
    let uid = user.uid;
    userfs::as_user(user, move || {
        let dir = Dir::open(&root)?;
        if dir.owner()? != uid {
            return Ok(());
        }
        super::write_lock(&dir, &id)
    })
    .await
}

/// The definition of workshop `name` in the project at `root`, with its text and warnings
/// (which the caller raises for the user: [`crate::managers::warn_user`]).
pub async fn definition(user: &UserRef, root: &str, name: &str) -> Result<Definition, ProjectError> {
    let (root, name) = (PathBuf::from(root), name.to_string());
    userfs::as_user(user, move || super::load_definition(&Dir::open(&root)?, &name)).await
}

/// The definition files of the project at `root`.
pub async fn definitions(user: &UserRef, root: &str) -> Result<Vec<DefinitionFile>, ProjectError> {
    let root = PathBuf::from(root);
    userfs::as_user(user, move || super::definition_files(&Dir::open(&root)?)).await
}

/// For each of `roots`, whether it is a directory the user can open. When the answer cannot
/// be had (the user's file operations are stuck), every directory is taken to be there.
pub async fn existing(user: &UserRef, roots: Vec<String>) -> Vec<bool> {
    let count = roots.len();
    let found = userfs::as_user::<_, ProjectError, _>(user, move || {
        Ok(roots.iter().map(|r| Dir::open(Path::new(r)).is_ok()).collect::<Vec<bool>>())
    })
    .await;
    found.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot check project directories");
        vec![true; count]
    })
}
