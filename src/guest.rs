//! The guest side of the daemon: `workshopctl` and `workshop-exec` are installed into
//! `$WORKSHOP/guest/` at start, and that directory is mounted read-only into every workshop.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The user-switching wrapper exec prefixes use (see the script's header).
const WORKSHOP_EXEC: &str = include_str!("guest/workshop-exec");

/// Writes an executable file into `dir` atomically.
fn install_file(dir: &Path, name: &str, content: &[u8]) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, content).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, dir.join(name)).with_context(|| format!("cannot install {name}"))
}

/// Installs `workshopctl` (from `$WORKSHOPCTL_PATH`, else next to this executable) and
/// `workshop-exec` into `<base>/guest/`, returning that directory.
pub fn install_guest_files(base: &Path) -> anyhow::Result<PathBuf> {
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
    let workshopctl = std::fs::read(&source).with_context(|| format!("cannot read {}", source.display()))?;
    install_file(&dir, "workshopctl", &workshopctl)?;
    install_file(&dir, "workshop-exec", WORKSHOP_EXEC.as_bytes())?;
    Ok(dir)
}
