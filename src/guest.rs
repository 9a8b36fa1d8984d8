//! The guest side of the daemon: `workshopctl` (also as `workshop-tty`, a link to it) and
//! `workshop-exec` are installed into `$WORKSHOP/guest/` at start, and that directory is
//! mounted read-only into every workshop.

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

/// Puts a relative symlink `name` → `target` into `dir` atomically.
fn install_link(dir: &Path, name: &str, target: &str) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", tmp.display()));
        }
        _ => {}
    }
    std::os::unix::fs::symlink(target, &tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
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
    install_from(base, &source)
}

/// Installs the guest files with `source` as workshopctl.
fn install_from(base: &Path, source: &Path) -> anyhow::Result<PathBuf> {
    let dir = base.join("guest");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let workshopctl = std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
    if needs_interpreter(&workshopctl) != Some(false) {
        tracing::warn!(
            path = %source.display(),
            "workshopctl is not a static executable: it runs only in workshops whose C library \
             is like the build host's (make release builds it static)"
        );
    }
    install_file(&dir, "workshopctl", &workshopctl)?;
    install_file(&dir, "workshop-exec", WORKSHOP_EXEC.as_bytes())?;
    install_link(&dir, "workshop-tty", "workshopctl")?;
    Ok(dir)
}

/// Whether a 64-bit little-endian ELF executable names a program interpreter (the dynamic
/// loader of the C library it was linked against); `None` when `elf` is not one.
/// `workshopctl` runs in workshops of any base, so it must not need one.
fn needs_interpreter(elf: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let offset = usize::try_from(u64::from_le_bytes(elf.get(0x20..0x28)?.try_into().ok()?)).ok()?;
    let (size, count) = (u16_at(0x36)?, u16_at(0x38)?);
    for i in 0..count {
        let at = offset.checked_add(i.checked_mul(size)?)?;
        let kind = u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?);
        if kind == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF64 header with `kinds` as its program header types.
    fn elf(kinds: &[u32]) -> Vec<u8> {
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&(kinds.len() as u16).to_le_bytes());
        for kind in kinds {
            let mut header = vec![0u8; 56];
            header[..4].copy_from_slice(&kind.to_le_bytes());
            elf.extend(header);
        }
        elf
    }

    #[test]
    fn the_guest_files_are_installed_and_installed_again() {
        let base = tempfile::tempdir().unwrap();
        let ctl = base.path().join("ctl");
        std::fs::write(&ctl, b"#!/bin/sh\n").unwrap();
        for _ in 0..2 {
            let dir = install_from(base.path(), &ctl).unwrap();
            assert_eq!(std::fs::read_link(dir.join("workshop-tty")).unwrap(), Path::new("workshopctl"));
            assert!(dir.join("workshop-exec").is_file() && dir.join("workshopctl").is_file());
        }
    }

    #[test]
    fn a_dynamic_loader_is_told_from_a_static_executable() {
        assert_eq!(needs_interpreter(&elf(&[6, 3, 1])), Some(true));
        assert_eq!(needs_interpreter(&elf(&[6, 1, 1])), Some(false));
        // This test program is linked dynamically.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(needs_interpreter(&me), Some(true));
        assert_eq!(needs_interpreter(b"#!/bin/sh\n"), None);
        let mut cut = elf(&[1, 3]);
        cut.truncate(100);
        assert_eq!(needs_interpreter(&cut), None, "a header past the end");
    }
}
