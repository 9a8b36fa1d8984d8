//! The post-stop hooks of workshop instances, without a half-second sleep lxcfs adds to every
//! stop.
//!
//! LXD has LXC include `common.conf.d/` of its template directory; Debian's lxcfs puts a
//! post-stop hook there whose whole script is `sleep 0.5s` (meant for a guest that reboots).
//! Measured here, a forced stop of a workshop took 0.8 s, of which 0.53 s was that sleep
//! (strace of LXC's monitor: the sleep runs between LXD's `stopns` and `stop` hooks, and LXD
//! answers the stop only after its `stop` hook).
//!
//! LXC has no way to drop one hook: an empty `lxc.hook.post-stop` clears them all, LXD's own
//! `stop` hook with them, without which a stop waits 30 s for LXD's time-out. So the line LXD
//! generated is learned from the `lxc.conf` it wrote for an instance it started (read through
//! its API), checked to be rebuilt exactly, and the workshop's `raw.lxc` (which LXC reads last)
//! clears the post-stop hooks and adds them again: the included ones in order, a sleep-only
//! one made to sleep only when the guest reboots, then LXD's for the instance's own name.
//! Every start checks the instance's `raw.lxc` against its name before LXD starts it, and
//! learns again from the `lxc.conf` of the start.

use std::path::{Path, PathBuf};

use tracing::{debug, info};

use super::{LxdBackend, layout};
use crate::backend::Target;
use crate::lxd::Endpoint;

/// The config key LXC lines go into.
pub(super) const KEY: &str = "raw.lxc";
/// Largest hook script read to tell whether it only sleeps.
const MAX_SCRIPT: u64 = 4096;
/// Most files of an included directory looked at.
const MAX_INCLUDED: usize = 64;
const HOOK: &str = "lxc.hook.post-stop";

/// What a workshop's post-stop hooks are made of, learned from LXD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PostStop {
    /// LXD's hook command before `callhook` (its executable).
    exec: String,
    /// LXD's directory, the argument after `callhook`.
    dir: String,
    /// The included files' post-stop hooks, in order, as they are added again.
    included: Vec<String>,
}

/// How the daemon reads what LXC includes (the host's files, as root).
pub(super) trait IncludedFiles {
    /// The files an `lxc.include` names: a directory's `*.conf` files (sorted; LXC reads them
    /// in directory order), else the file itself; `None` when the directory cannot be read or
    /// holds too many.
    fn included(&self, include: &Path) -> Option<Vec<PathBuf>>;
    /// A file's text, `None` when it cannot be read or is larger than `max` bytes.
    fn read(&self, path: &Path, max: u64) -> Option<String>;
}

/// The host's own files.
pub(super) struct HostFiles;

impl IncludedFiles for HostFiles {
    fn included(&self, include: &Path) -> Option<Vec<PathBuf>> {
        if !include.is_dir() {
            return Some(vec![include.to_path_buf()]);
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(include).ok()? {
            let path = entry.ok()?.path();
            if path.extension().is_some_and(|ext| ext == "conf") {
                files.push(path);
            }
            if files.len() > MAX_INCLUDED {
                return None;
            }
        }
        files.sort();
        Some(files)
    }

    fn read(&self, path: &Path, max: u64) -> Option<String> {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(path).ok()?.take(max + 1).read_to_string(&mut text).ok()?;
        (text.len() as u64 <= max).then_some(text)
    }
}

impl PostStop {
    /// Learns from `conf`, the `lxc.conf` LXD wrote for instance `name` of `project`. `None`
    /// when no included hook only sleeps (nothing to gain), or when anything is not as
    /// expected: then a workshop's hooks are left as LXD makes them.
    pub(super) fn learn(conf: &str, project: &str, name: &str, files: &impl IncludedFiles) -> Option<Self> {
        let mut lxd = None;
        let mut includes = Vec::new();
        for (key, value) in entries(conf) {
            match key {
                "lxc.include" => includes.push(PathBuf::from(value)),
                // LXD's line comes before those of raw.lxc, which may hold a copy of it.
                HOOK if lxd.is_none() => lxd = parse_lxd_hook(value, project, name),
                _ => {}
            }
        }
        let (exec, dir) = lxd?;
        let mut included = Vec::new();
        let mut gain = false;
        let mut hooked_files = 0;
        for include in includes {
            for path in files.included(&include)? {
                let text = files.read(&path, MAX_SCRIPT)?;
                let mut hooked = false;
                for (key, value) in entries(&text) {
                    hooked |= key == HOOK;
                    match key {
                        // Nested includes are not followed: their hooks would be lost.
                        "lxc.include" => return None,
                        HOOK if value.is_empty() => included.clear(),
                        HOOK => match sleep_only(value, files) {
                            Some(args) => {
                                gain = true;
                                included.push(format!(
                                    "/bin/sh -c '[ \"$LXC_TARGET\" != reboot ] || sleep {args}'"
                                ));
                            }
                            None => included.push(value.to_string()),
                        },
                        _ => {}
                    }
                }
                // LXC reads a directory in its own order: the hooks of two files could be added
                // again in another order than LXC's.
                hooked_files += usize::from(hooked);
                if hooked_files > 1 {
                    return None;
                }
            }
        }
        let learned = Self { exec, dir, included };
        // What LXD wrote must come out again, else the guess of its form is wrong.
        let check = learned.lxd_hook(project, name)?;
        (gain && check == lxd_value(conf)?).then_some(learned)
    }

    /// Whether LXD's executable and directory are still there (LXD may have moved since).
    fn still_there(&self) -> bool {
        Path::new(&self.exec).is_file() && Path::new(&self.dir).is_dir()
    }

    /// The lines to append to the workshop's `raw.lxc` for instance `name` of `project`;
    /// `None` for a name LXD would quote differently.
    pub(super) fn raw_lines(&self, project: &str, name: &str) -> Option<String> {
        let lxd = self.lxd_hook(project, name)?;
        let mut lines = format!("{HOOK} =\n");
        for hook in self.included.iter().chain([&lxd]) {
            lines.push_str(&format!("{HOOK} = {hook}\n"));
        }
        Some(lines)
    }

    fn lxd_hook(&self, project: &str, name: &str) -> Option<String> {
        Some(format!("{} callhook {} {} {} stop", self.exec, self.dir, quote(project)?, quote(name)?))
    }
}

/// What the backend knows of the workshops' post-stop hooks.
#[derive(Debug, Default)]
pub(super) struct Learned {
    hooks: Option<PostStop>,
    /// Whether an `lxc.conf` was read since the daemon started.
    read: bool,
}

impl LxdBackend {
    /// The `raw.lxc` the instance of `target` is to start with.
    pub(super) fn raw_lxc(&self, target: &Target) -> String {
        let project = layout::instances_project(&target.user);
        let learned = self.post_stop.borrow();
        let hooks = learned.hooks.as_ref().filter(|h| h.still_there());
        let lines = hooks.and_then(|h| h.raw_lines(&project, &target.instance_name()));
        layout::workshop_raw_lxc(lines.as_deref())
    }

    /// Whether an `lxc.conf` was read since the daemon started.
    pub(super) fn post_stop_read(&self) -> bool {
        self.post_stop.borrow().read
    }

    /// Learns the post-stop hooks from the `lxc.conf` LXD wrote at the last start of instance
    /// `name` of `user`'s workshops project. Nothing for a remote LXD (what it includes is not
    /// on this host) or an instance that never started.
    pub(super) async fn learn_post_stop(&self, user: &str, name: &str) {
        if !matches!(self.client.endpoint(), Endpoint::Unix(_)) {
            return;
        }
        let conf = match self.instances_client(user).instance_log(name, "lxc.conf").await {
            Ok(conf) => conf,
            Err(e) => {
                debug!(instance = %name, error = %e, "no lxc.conf to learn the post-stop hooks from");
                return;
            }
        };
        let hooks = PostStop::learn(&conf, &layout::instances_project(user), name, &HostFiles);
        let mut learned = self.post_stop.borrow_mut();
        if learned.hooks != hooks {
            info!(instance = %name, learned = hooks.is_some(), "post-stop hooks of workshops learned from LXD");
        }
        *learned = Learned { hooks, read: true };
    }
}

/// The `key = value` lines of an LXC config, comments and blanks left out.
fn entries(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        let (key, value) = line.split_once('=')?;
        Some((key.trim(), value.trim()))
    })
}

/// The first post-stop hook of an `lxc.conf`: the one LXD generated.
fn lxd_value(conf: &str) -> Option<String> {
    entries(conf).find(|(key, _)| *key == HOOK).map(|(_, value)| value.to_string())
}

/// `<exec> callhook <dir> "<project>" "<name>" stop` → `(exec, dir)`.
fn parse_lxd_hook(value: &str, project: &str, name: &str) -> Option<(String, String)> {
    let rest = value.strip_suffix(" stop")?;
    let rest = rest.strip_suffix(&format!(" {} {}", quote(project)?, quote(name)?))?;
    let (exec, dir) = rest.split_once(" callhook ")?;
    let plain = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
    (plain(exec) && plain(dir)).then(|| (exec.to_string(), dir.to_string()))
}

/// Go's `strconv.Quote` of a name made of the characters LXD allows in names, else `None`.
fn quote(name: &str) -> Option<String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    (!name.is_empty() && name.chars().all(fine)).then(|| format!("\"{name}\""))
}

/// The arguments of `sleep` when the hook is a script whose only command is a `sleep`.
fn sleep_only(hook: &str, files: &impl IncludedFiles) -> Option<String> {
    if hook.contains(char::is_whitespace) || !hook.starts_with('/') {
        return None;
    }
    let script = files.read(Path::new(hook), MAX_SCRIPT)?;
    let mut commands = script.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let args = commands.next()?.strip_prefix("sleep ")?.trim();
    let duration = |a: &str| {
        let digits = a.trim_end_matches(['s', 'm', 'h', 'd']);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
    };
    (commands.next().is_none() && args.split_whitespace().all(duration)).then(|| args.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Files in memory; a path ending in `/` is a directory of the files below it.
    struct Files(BTreeMap<&'static str, &'static str>);

    impl IncludedFiles for Files {
        fn included(&self, include: &Path) -> Option<Vec<PathBuf>> {
            let include = include.to_str().unwrap();
            if !include.ends_with('/') {
                return Some(vec![PathBuf::from(include)]);
            }
            let files = self.0.keys().filter(|p| p.starts_with(include) && p.ends_with(".conf"));
            Some(files.map(PathBuf::from).collect())
        }

        fn read(&self, path: &Path, max: u64) -> Option<String> {
            self.0.get(path.to_str()?).filter(|t| t.len() as u64 <= max).map(|t| t.to_string())
        }
    }

    const CONF: &str = "lxc.arch = linux64\n\
        lxc.include = /usr/share/lxc/config/common.conf.d/\n\
        lxc.hook.version = 1\n\
        lxc.hook.pre-start = /proc/23013/exe callhook /var/lib/lxd \"workshop.alice\" \"dev-p1\" start\n\
        lxc.hook.stop = /usr/bin/lxd callhook /var/lib/lxd \"workshop.alice\" \"dev-p1\" stopns\n\
        lxc.hook.post-stop = /usr/bin/lxd callhook /var/lib/lxd \"workshop.alice\" \"dev-p1\" stop\n\
        lxc.mount.entry = tmpfs tmp tmpfs defaults\n";

    fn lxcfs() -> Files {
        Files(BTreeMap::from([
            (
                "/usr/share/lxc/config/common.conf.d/00-lxcfs.conf",
                "lxc.hook.mount = /usr/share/lxcfs/lxc.mount.hook\nlxc.hook.post-stop = /usr/share/lxcfs/lxc.reboot.hook",
            ),
            ("/usr/share/lxcfs/lxc.reboot.hook", "#!/bin/sh -eu\n\nsleep 0.5s"),
        ]))
    }

    fn learned(files: &Files) -> Option<PostStop> {
        PostStop::learn(CONF, "workshop.alice", "dev-p1", files)
    }

    #[test]
    fn lxcfs_sleep_becomes_reboot_only_and_lxd_hook_follows() {
        let post = learned(&lxcfs()).expect("learned");
        let lines = post.raw_lines("workshop.alice", "web-p2").unwrap();
        assert_eq!(
            lines,
            "lxc.hook.post-stop =\n\
             lxc.hook.post-stop = /bin/sh -c '[ \"$LXC_TARGET\" != reboot ] || sleep 0.5s'\n\
             lxc.hook.post-stop = /usr/bin/lxd callhook /var/lib/lxd \"workshop.alice\" \"web-p2\" stop\n"
        );
    }

    #[test]
    fn raw_lines_of_a_previous_start_do_not_mislead() {
        let post = learned(&lxcfs()).unwrap();
        let old = post.raw_lines("workshop.alice", "dev-p1").unwrap();
        let conf = format!("{CONF}{old}");
        assert_eq!(PostStop::learn(&conf, "workshop.alice", "dev-p1", &lxcfs()), Some(post));
    }

    #[test]
    fn nothing_learned_without_a_sleep_to_drop() {
        let mut files = lxcfs();
        files.0.insert("/usr/share/lxcfs/lxc.reboot.hook", "#!/bin/sh\nsleep 0.5s\nrm -f /run/x\n");
        assert_eq!(learned(&files), None, "a hook doing more than sleeping is no sleep-only hook");
        files.0.remove("/usr/share/lxcfs/lxc.reboot.hook");
        assert_eq!(learned(&files), None, "an unreadable hook is kept as it is: nothing to gain");
    }

    #[test]
    fn other_included_hooks_are_kept_in_order() {
        let mut files = lxcfs();
        files.0.insert(
            "/usr/share/lxc/config/common.conf.d/00-lxcfs.conf",
            "lxc.hook.post-stop = /opt/a\nlxc.hook.post-stop = /usr/share/lxcfs/lxc.reboot.hook\nlxc.hook.post-stop = /opt/b arg",
        );
        let lines = learned(&files).unwrap().raw_lines("workshop.alice", "dev-p1").unwrap();
        let hooks: Vec<&str> = lines.lines().map(|l| l.split_once(" = ").map_or("", |(_, v)| v)).collect();
        assert_eq!(hooks[1], "/opt/a");
        assert!(hooks[2].ends_with("sleep 0.5s'"));
        assert_eq!(hooks[3], "/opt/b arg");
        assert!(hooks[4].ends_with("\"dev-p1\" stop"));
        // Hooks in two files: LXC's order between them is not known.
        files.0.insert("/usr/share/lxc/config/common.conf.d/01-other.conf", "lxc.hook.post-stop = /opt/c");
        assert_eq!(learned(&files), None);
        files.0.insert("/usr/share/lxc/config/common.conf.d/01-other.conf", "lxc.hook.mount = /opt/c");
        assert!(learned(&files).is_some(), "a file without post-stop hooks does not count");
    }

    #[test]
    fn unexpected_forms_learn_nothing() {
        let files = lxcfs();
        let conf = CONF;
        // Another instance's lxc.conf, a hook of another shape, none at all.
        assert_eq!(PostStop::learn(conf, "workshop.alice", "web-p2", &files), None);
        assert_eq!(
            PostStop::learn(&conf.replace(" callhook", " hook"), "workshop.alice", "dev-p1", &files),
            None
        );
        let none: String = conf.lines().filter(|l| !l.starts_with(HOOK)).map(|l| format!("{l}\n")).collect();
        assert_eq!(PostStop::learn(&none, "workshop.alice", "dev-p1", &files), None);
        // A nested include could hide hooks.
        let mut nested = lxcfs();
        nested.0.insert(
            "/usr/share/lxc/config/common.conf.d/00-lxcfs.conf",
            "lxc.include = /etc/x\nlxc.hook.post-stop = /usr/share/lxcfs/lxc.reboot.hook",
        );
        assert_eq!(PostStop::learn(conf, "workshop.alice", "dev-p1", &nested), None);
        // An included file that cannot be read could hide hooks too.
        let gone = conf.replace("common.conf.d/", "common.conf.d/01-gone.conf");
        assert_eq!(PostStop::learn(&gone, "workshop.alice", "dev-p1", &files), None);
    }

    #[test]
    fn names_go_in_quotes_or_not_at_all() {
        assert_eq!(quote("dev-p1").as_deref(), Some("\"dev-p1\""));
        assert_eq!(quote("workshop.alice_2").as_deref(), Some("\"workshop.alice_2\""));
        assert_eq!(quote("a\"b"), None);
        assert_eq!(quote("a b"), None);
        assert_eq!(quote(""), None);
    }

    #[test]
    fn sleep_only_reads_durations() {
        let files = Files(BTreeMap::from([
            ("/h/1", "#!/bin/sh -eu\n\nsleep 0.5s"),
            ("/h/2", "sleep 1 2m\n"),
            ("/h/3", "sleep $(rm -rf /)\n"),
            ("/h/4", "sleep 1; reboot\n"),
            ("/h/5", "#!/bin/sh\n"),
        ]));
        assert_eq!(sleep_only("/h/1", &files).as_deref(), Some("0.5s"));
        assert_eq!(sleep_only("/h/2", &files).as_deref(), Some("1 2m"));
        assert_eq!(sleep_only("/h/3", &files), None);
        assert_eq!(sleep_only("/h/4", &files), None);
        assert_eq!(sleep_only("/h/5", &files), None);
        assert_eq!(sleep_only("/h/1 arg", &files), None);
        assert_eq!(sleep_only("relative", &files), None);
    }

    #[test]
    fn host_files_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.conf"), "x").unwrap();
        std::fs::write(dir.path().join("a.conf"), "y".repeat(10)).unwrap();
        std::fs::write(dir.path().join("c.txt"), "z").unwrap();
        let files = HostFiles.included(dir.path()).unwrap();
        assert_eq!(files, vec![dir.path().join("a.conf"), dir.path().join("b.conf")]);
        assert_eq!(HostFiles.included(&files[1]), Some(vec![files[1].clone()]));
        for i in 0..MAX_INCLUDED {
            std::fs::write(dir.path().join(format!("{i}.conf")), "").unwrap();
        }
        assert_eq!(HostFiles.included(dir.path()), None, "too many files to read them all");
        assert_eq!(HostFiles.read(&files[0], 10).as_deref(), Some("yyyyyyyyyy"));
        assert_eq!(HostFiles.read(&files[0], 9), None);
    }
}
