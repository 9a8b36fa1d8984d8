//! The guest side of the daemon: `workshopctl` is copied to `$WORKSHOP/guest/` at start, and
//! that directory is mounted read-only into every workshop.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Finds `workshopctl` (`$WORKSHOPCTL_PATH`, else next to this executable) and installs it
/// into `<base>/guest/`, returning that directory.
pub fn install_workshopctl(base: &Path) -> anyhow::Result<PathBuf> {
    let source = match std::env::var_os("WORKSHOPCTL_PATH").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()
            .context("cannot find the workshopd executable")?
            .with_file_name("workshopctl"),
    };
    if !source.is_file() {
        bail!("cannot find workshopctl at {} (set WORKSHOPCTL_PATH)", source.display());
    }
    let dir = base.join("guest");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let tmp = dir.join(".workshopctl.tmp");
    std::fs::copy(&source, &tmp).with_context(|| format!("cannot copy {}", source.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, dir.join("workshopctl")).context("cannot install workshopctl")?;
    Ok(dir)
}
