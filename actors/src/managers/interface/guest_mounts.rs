//! Mounts of a plug onto another SDK's slot (reference-inventory §4.1, `mount` with a regular
//! slot): a bind mount inside the workshop from the slot's `workshop-source` to the plug's
//! `workshop-target`. LXD cannot make it (a disk device's source is a host path), so the
//! daemon makes it in the guest:
//!
//! - while the workshop runs, one root shell script run by exec unmounts the targets that
//!   are no longer wanted and mounts the wanted ones (idempotent: a target already showing
//!   its source is left alone); a failure puts back what was mounted before;
//! - for every boot, the same mounts are written through the LXD file API (which also works
//!   on a stopped workshop) as `/usr/local/lib/workshop/mounts`, run by
//!   `workshop-mounts.service`, which a drop-in of `local-fs.target` pulls in (no enabling
//!   symlink needed); at boot a mount that fails is reported and skipped, never failing the
//!   boot.
//!
//! What was applied is recorded in the instance's config (`user.workshop.guest-mounts`), so
//! that a mount no longer wanted is undone without reading anything the guest controls. A
//! refresh rebuilds the instance from its template: the new one starts with none.

use serde::{Deserialize, Serialize};

use super::conns::{self, WorkshopConns};
use super::handlers::Env;
use super::mount::MountPlug;
use super::repo::{ConnRef, Repo};
use crate::backend::{ExecSpec, GetInstance, GuestFile, PushFile, RunCommand, RunLimits, SetConfig};
use crate::managers::task::TaskTarget;

/// The instance config key recording the mounts applied in the guest (JSON).
pub const APPLIED_KEY: &str = "user.workshop.guest-mounts";
/// The boot script holding the mounts.
pub const SCRIPT_PATH: &str = "/usr/local/lib/workshop/mounts";
/// The unit running it at boot.
pub const UNIT_PATH: &str = "/etc/systemd/system/workshop-mounts.service";
/// The drop-in of `local-fs.target` that pulls the unit in.
pub const DROP_IN_PATH: &str = "/etc/systemd/system/local-fs.target.d/workshop-mounts.conf";

/// One bind mount inside the workshop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GuestMount {
    pub target: String,
    pub source: String,
    #[serde(default)]
    pub read_only: bool,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Whether `conn` mounts a plug onto a regular SDK's slot (inside the workshop).
pub fn is_guest_mount(conn: &ConnRef, repo: &Repo) -> bool {
    let (Some(plug), Some(slot)) = (repo.plug(&conn.plug), repo.slot(&conn.slot)) else { return false };
    plug.interface == "mount"
        && slot.interface == "mount"
        && !slot.system
        && slot.attrs.get("workshop-source").and_then(|v| v.as_str()).is_some()
}

/// The slot's source of a guest mount connection.
pub fn source_of(conn: &ConnRef, repo: &Repo) -> Option<String> {
    repo.slot(&conn.slot)?.attrs.get("workshop-source")?.as_str().map(str::to_string)
}

/// The guest mounts the workshop's connections want, parents before what is mounted inside
/// them (sorted by target).
pub fn wanted(repo: &Repo, all: &WorkshopConns) -> Result<Vec<GuestMount>, String> {
    let mut out = Vec::new();
    for (key, conn) in all {
        let (Some(r), true) = (conns::parse_key(key), conn.connected()) else { continue };
        if !is_guest_mount(&r, repo) {
            continue;
        }
        let plug = repo.plug(&r.plug).ok_or_else(|| format!("no plug {}", r.plug))?;
        let mount = MountPlug::from_attrs(&plug.attrs)?;
        let source = source_of(&r, repo).ok_or_else(|| format!("no source for slot {}", r.slot))?;
        out.push(GuestMount {
            target: mount.target,
            source,
            read_only: mount.read_only,
            uid: mount.uid,
            gid: mount.gid,
            mode: mount.mode,
        });
    }
    out.sort();
    out.dedup_by(|a, b| a.target == b.target);
    Ok(out)
}

/// The mounts recorded in an instance's config (none, or unreadable: none).
pub fn applied(config: &std::collections::BTreeMap<String, String>) -> Vec<GuestMount> {
    config.get(APPLIED_KEY).and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default()
}

/// `s` quoted for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell functions the scripts use. `STRICT=1`: the first failure ends the script
/// with status 1; otherwise failures are reported on stderr and the script goes on.
const FUNCTIONS: &str = r#"fail() { echo "$1" >&2; if [ "$STRICT" = 1 ]; then exit 1; fi; }
same() { [ "$(stat -L -c %d:%i -- "$1" 2>/dev/null)" = "$(stat -L -c %d:%i -- "$2" 2>/dev/null)" ]; }
unmount_one() {
  if mountpoint -q -- "$1"; then umount -- "$1" || fail "cannot unmount $1"; fi
}
mount_one() {
  src=$1; dst=$2; ro=$3
  if [ ! -e "$src" ]; then fail "cannot mount $src at $dst: stat $src: file does not exist"; return 0; fi
  if [ ! -e "$dst" ] && [ ! -L "$dst" ]; then
    if [ -d "$src" ]; then mkdir -p -- "$dst"; else mkdir -p -- "$(dirname -- "$dst")" && : > "$dst"; fi \
      && chown -- "$4:$5" "$dst" && chmod -- "$6" "$dst" \
      || { fail "cannot mount $src at $dst: cannot create $dst"; return 0; }
  fi
  if mountpoint -q -- "$dst" && same "$src" "$dst"; then return 0; fi
  mount --bind -- "$src" "$dst" || { fail "cannot mount $src at $dst"; return 0; }
  if [ "$ro" = ro ]; then
    mount -o remount,bind,ro -- "$dst" || { umount -- "$dst"; fail "cannot mount $src at $dst read-only"; }
  fi
}
"#;

fn mount_line(m: &GuestMount) -> String {
    format!(
        "mount_one {} {} {} {} {} {:o}\n",
        quote(&m.source),
        quote(&m.target),
        if m.read_only { "ro" } else { "rw" },
        m.uid,
        m.gid,
        m.mode
    )
}

/// The script that unmounts `gone` (innermost first) and mounts `wanted` (outermost first).
pub fn script(gone: &[GuestMount], wanted: &[GuestMount], strict: bool) -> String {
    let mut s = format!("STRICT={}\n{FUNCTIONS}", u8::from(strict));
    for m in gone.iter().rev() {
        s.push_str(&format!("unmount_one {}\n", quote(&m.target)));
    }
    for m in wanted {
        s.push_str(&mount_line(m));
    }
    s.push_str("exit 0\n");
    s
}

/// The boot script: every wanted mount, failures reported and skipped.
pub fn boot_script(wanted: &[GuestMount]) -> String {
    format!(
        "#!/bin/sh\n# Written by workshopd: the mounts between this workshop's SDKs.\n{}",
        script(&[], wanted, false)
    )
}

/// The unit running the boot script before `local-fs.target`.
pub const UNIT: &str = "[Unit]
Description=Workshop mounts between SDKs
DefaultDependencies=no
After=local-fs-pre.target
Before=local-fs.target
ConditionPathExists=/usr/local/lib/workshop/mounts

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh /usr/local/lib/workshop/mounts
";

/// The drop-in of `local-fs.target` that pulls the unit in.
pub const DROP_IN: &str = "[Unit]\nWants=workshop-mounts.service\n";

/// The files written for the boot.
pub fn boot_files(wanted: &[GuestMount]) -> Vec<GuestFile> {
    let file = |path: &str, content: String, mode: u32| GuestFile {
        path: path.to_string(),
        content: content.into_bytes(),
        uid: 0,
        gid: 0,
        mode,
    };
    vec![
        file(SCRIPT_PATH, boot_script(wanted), 0o755),
        file(UNIT_PATH, UNIT.to_string(), 0o644),
        file(DROP_IN_PATH, DROP_IN.to_string(), 0o644),
    ]
}

/// Makes the guest mounts of the workshop exactly `wanted`: while it runs, unmounts what is
/// no longer wanted and mounts the rest (a failure puts back what was there); in every case
/// writes the boot files and records what is applied. Nothing to do for a workshop that
/// has, and had, none.
pub async fn apply(env: &Env, t: &TaskTarget, wanted: &[GuestMount]) -> Result<(), String> {
    let Some(instance) = env.call(GetInstance { target: t.backend() }).await? else { return Ok(()) };
    let before = applied(&instance.config);
    // The boot files of a stopped instance already say what its record says (each apply
    // writes them before the record): none is written into it again (a file operation on a
    // stopped instance, e.g. one a failed refresh just renamed back, leaves LXD 5.0 a file
    // server that dies with the next rename).
    if before.as_slice() == wanted && !instance.running {
        return Ok(());
    }
    if before.is_empty() && wanted.is_empty() {
        return Ok(());
    }
    let undone = gone(&before, wanted);
    if instance.running {
        let out = env
            .call(RunCommand { target: t.backend(), spec: exec_spec(script(&undone, wanted, true)) })
            .await?;
        if out.exit_code != 0 {
            // Back to what was mounted before: what this run mounted goes, the rest comes back.
            let added = gone(wanted, &before);
            let back = env
                .call(RunCommand { target: t.backend(), spec: exec_spec(script(&added, &before, false)) })
                .await;
            if let Err(e) = back {
                tracing::warn!(workshop = %t.name, error = %e, "cannot put the guest mounts back");
            }
            return Err(format!("cannot mount inside {:?}: {}", t.name, out.combined().trim()));
        }
    }
    for file in boot_files(wanted) {
        env.call(PushFile { target: t.backend(), file }).await?;
    }
    let value = serde_json::to_string(wanted).map_err(|e| e.to_string())?;
    let value = (!wanted.is_empty()).then_some(value);
    env.call(SetConfig { target: t.backend(), changes: vec![(APPLIED_KEY.to_string(), value)] }).await?;
    Ok(())
}

/// The exec running `script` as root, bounded.
pub fn exec_spec(script: String) -> ExecSpec {
    ExecSpec {
        command: vec!["sh".into(), "-c".into(), script],
        limits: RunLimits::within(std::time::Duration::from_secs(60)),
        ..Default::default()
    }
}

/// What changes between `applied` and `wanted`: the mounts to undo (no longer wanted, or
/// wanted differently).
pub fn gone(applied: &[GuestMount], wanted: &[GuestMount]) -> Vec<GuestMount> {
    applied.iter().filter(|a| !wanted.contains(a)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::process::Command;

    fn m(target: &str, source: &str, ro: bool) -> GuestMount {
        GuestMount {
            target: target.into(),
            source: source.into(),
            read_only: ro,
            uid: 1000,
            gid: 1000,
            mode: 0o775,
        }
    }

    #[test]
    fn scripts_quote_paths_and_order_mounts() {
        let wanted = vec![m("/mnt/a", "/opt/x'; rm -rf /", true), m("/mnt/a/b", "/opt/y", false)];
        let s = script(&[m("/old", "/src", false), m("/old/in", "/src2", false)], &wanted, true);
        assert!(s.starts_with("STRICT=1\n"), "{s}");
        assert!(s.contains("mount_one '/opt/x'\\''; rm -rf /' '/mnt/a' ro 1000 1000 775\n"), "{s}");
        let inner = s.find("unmount_one '/old/in'").unwrap();
        let outer = s.find("unmount_one '/old'\n").unwrap();
        assert!(inner < outer, "innermost unmounted first:\n{s}");
        assert!(s.find("'/mnt/a' ro").unwrap() < s.find("'/mnt/a/b' rw").unwrap());
        let boot = boot_script(&wanted);
        assert!(boot.starts_with("#!/bin/sh\n") && boot.contains("STRICT=0\n"), "{boot}");
        assert!(!boot.contains("unmount_one '"), "{boot}");
        assert_eq!(boot_files(&wanted).len(), 3);
    }

    #[test]
    fn applied_mounts_round_trip_through_the_config() {
        let mounts = vec![m("/mnt/a", "/opt/x", true)];
        let config = BTreeMap::from([(APPLIED_KEY.to_string(), serde_json::to_string(&mounts).unwrap())]);
        assert_eq!(applied(&config), mounts);
        assert!(applied(&BTreeMap::new()).is_empty());
        let bad = BTreeMap::from([(APPLIED_KEY.to_string(), "nonsense".to_string())]);
        assert!(applied(&bad).is_empty());
        assert_eq!(gone(&mounts, &[]), mounts);
        assert!(gone(&mounts, &mounts).is_empty());
        let changed = vec![m("/mnt/a", "/opt/x", false)];
        assert_eq!(gone(&mounts, &changed), mounts, "a mount wanted differently is made again");
    }

    /// The script's functions with `mount`, `umount` and `mountpoint` stubbed: what it
    /// would run, in a scratch directory standing for the guest.
    fn run_stubbed(script_text: &str, mounted: &[&str]) -> (i32, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = dir.path().join("log");
        let stub = |name: &str, body: &str| {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        stub("mount", &format!("echo mount \"$@\" >> {}", log.display()));
        stub("umount", &format!("echo umount \"$@\" >> {}", log.display()));
        let mounted: Vec<String> =
            mounted.iter().map(|m| format!("[ \"$3\" = {} ] && exit 0", quote(m))).collect();
        stub("mountpoint", &format!("{}\nexit 1", mounted.join("\n")));
        stub("chown", "exit 0");
        let out = Command::new("sh")
            .arg("-c")
            .arg(script_text)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .current_dir(dir.path())
            .output()
            .unwrap();
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        (out.status.code().unwrap_or(-1), log, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    #[test]
    fn the_script_mounts_unmounts_and_fails_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let dst = dir.path().join("a/dst");
        let (src_s, dst_s) = (src.to_str().unwrap(), dst.to_str().unwrap());
        let ro = m(dst_s, src_s, true);
        let old = m("/old", "/x", false);
        let (code, log, err) =
            run_stubbed(&script(std::slice::from_ref(&old), std::slice::from_ref(&ro), true), &["/old"]);
        assert_eq!(code, 0, "{err}");
        assert!(dst.is_dir(), "the target is created");
        assert_eq!(
            log,
            format!("umount -- /old\nmount --bind -- {src_s} {dst_s}\nmount -o remount,bind,ro -- {dst_s}\n")
        );
        // A missing source fails a strict run at once, and is skipped at boot.
        let missing = m("/mnt/z", "/does/not/exist", false);
        let (code, log, err) = run_stubbed(&script(&[], &[missing.clone(), ro.clone()], true), &[]);
        assert_eq!(code, 1);
        assert!(
            err.contains("cannot mount /does/not/exist at /mnt/z: stat /does/not/exist: file does not exist"),
            "{err}"
        );
        assert!(log.is_empty(), "{log}");
        let (code, log, _) = run_stubbed(&boot_script(&[missing, ro]), &[]);
        assert_eq!(code, 0);
        assert!(log.contains(&format!("mount --bind -- {src_s} {dst_s}")), "{log}");
    }
}
