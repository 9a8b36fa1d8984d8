//! `make install` and `make uninstall` with the built binaries: what is installed where, that
//! the units pass systemd's own check, that the completions load and complete in bash, zsh and
//! fish as installed, that the manual pages render with `man -l`, and that uninstall leaves no
//! file behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use workshop_integration::{bin_dir, tool_available};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `make TARGET VARS...` in the workspace, with the binaries this test runs on; the manual
/// pages are generated in `scratch` (tests run at the same time).
fn make(target: &str, scratch: &Path, vars: &[String]) -> Output {
    let out = Command::new("make")
        .arg("-s")
        .arg(target)
        .arg(format!("BUILD_DIR={}", bin_dir().display()))
        .arg(format!("MANPAGES_DIR={}", scratch.join("man").display()))
        .args(vars)
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(out.status.success(), "make {target} {vars:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Every file (and link) under `dir`, relative to it, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.symlink_metadata().unwrap().is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Runs `shell ARGS` with the installed binaries first on the PATH; its standard output.
fn shell(prefix: &Path, program: &str, args: &[&str]) -> String {
    let path = format!("{}:{}", prefix.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(program).args(args).env("PATH", path).env("HOME", prefix).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn install_puts_everything_in_place_and_uninstall_removes_exactly_it() {
    if !tool_available("install_puts_everything_in_place_and_uninstall_removes_exactly_it", "make") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    let vars = [format!("PREFIX={}", prefix.display())];
    make("install", tmp.path(), &vars);
    let installed = files(&prefix);
    for expected in [
        "bin/workshop",
        "bin/workshopd",
        "bin/workshopctl",
        "lib/systemd/system/workshopd.service",
        "lib/systemd/system/workshopd.socket",
        "lib/systemd/system/workshop-configure-dns.service",
        "share/bash-completion/completions/workshop",
        "share/zsh/site-functions/_workshop",
        "share/fish/vendor_completions.d/workshop.fish",
        "share/bash-completion/completions/sdk",
        "share/zsh/site-functions/_sdk",
        "share/fish/vendor_completions.d/sdk.fish",
        "share/man/man1/workshop.1",
        "share/man/man1/workshop-launch.1",
        "share/man/man1/workshop-exec.1",
        "share/man/man1/workshop-completion.1",
        "share/man/man1/workshopd.1",
        "share/man/man1/workshopd-run.1",
        "share/man/man1/workshopd-configure-dns.1",
    ] {
        assert!(installed.iter().any(|f| f == expected), "{expected} is not installed: {installed:?}");
    }
    let pages: Vec<&String> = installed.iter().filter(|f| f.starts_with("share/man/")).collect();
    // One page per command: the top-level pages and one for each visible subcommand.
    assert!(pages.len() >= 20, "{pages:?}");
    assert!(!pages.iter().any(|p| p.contains("generate-manpages") || p.contains("help")), "{pages:?}");

    let units = prefix.join("lib/systemd/system");
    let service = std::fs::read_to_string(units.join("workshopd.service")).unwrap();
    assert!(service.contains(&format!("ExecStart={}/bin/workshopd run", prefix.display())), "{service}");
    assert!(service.contains("Type=notify") && service.contains("WatchdogSec="), "{service}");
    let dns = std::fs::read_to_string(units.join("workshop-configure-dns.service")).unwrap();
    assert!(
        dns.contains(&format!("ExecStart={}/bin/workshopd configure-dns workshopbr0 wp\n", prefix.display())),
        "{dns}"
    );
    let socket = std::fs::read_to_string(units.join("workshopd.socket")).unwrap();
    for path in ["workshop.socket", "workshop.socket.untrusted", "guest/workshop.socket.untrusted"] {
        assert!(socket.contains(&format!("ListenStream=/var/lib/workshop/{path}\n")), "{socket}");
    }
    if tool_available("install_puts_everything_in_place_and_uninstall_removes_exactly_it", "systemd-analyze")
    {
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(units.join("workshopd.service"))
            .arg(units.join("workshopd.socket"))
            .arg(units.join("workshop-configure-dns.service"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
    }

    make("uninstall", tmp.path(), &vars);
    assert_eq!(files(&prefix), Vec::<String>::new(), "left behind after uninstall");
}

#[test]
fn destdir_stages_the_install_for_its_prefix() {
    if !tool_available("destdir_stages_the_install_for_its_prefix", "make") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let vars = [format!("DESTDIR={}", stage.display()), "PREFIX=/usr".to_string()];
    make("install", tmp.path(), &vars);
    let staged = files(&stage);
    assert!(staged.iter().all(|f| f.starts_with("usr/")), "{staged:?}");
    assert!(staged.contains(&"usr/bin/workshopd".to_string()), "{staged:?}");
    let service = std::fs::read_to_string(stage.join("usr/lib/systemd/system/workshopd.service")).unwrap();
    assert!(service.contains("ExecStart=/usr/bin/workshopd run --create-dirs\n"), "{service}");
    make("uninstall", tmp.path(), &vars);
    assert_eq!(files(&stage), Vec::<String>::new(), "left behind after uninstall");
}

/// A temp prefix with `make install` done, removed with its temp directory.
struct Installed {
    _tmp: tempfile::TempDir,
    prefix: PathBuf,
}

impl Installed {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let prefix = tmp.path().join("prefix");
        make("install", tmp.path(), &[format!("PREFIX={}", prefix.display())]);
        Self { _tmp: tmp, prefix }
    }

    fn file(&self, rel: &str) -> String {
        self.prefix.join(rel).display().to_string()
    }
}

#[test]
fn installed_completions_load_and_complete_in_bash_zsh_and_fish() {
    let test = "installed_completions_load_and_complete_in_bash_zsh_and_fish";
    let shells = ["make", "bash", "zsh", "fish"];
    if !shells.iter().all(|s| tool_available(test, s)) {
        return;
    }
    let i = Installed::new();
    // bash: as bash-completion sources it, then the completion function as bash calls it.
    let bash = format!(
        "source {}; complete -p workshop; COMP_WORDS=(workshop la); COMP_CWORD=1; COMP_LINE='workshop la'; \
         COMP_POINT=11; __start_workshop workshop la workshop; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        i.file("share/bash-completion/completions/workshop")
    );
    let out = shell(&i.prefix, "bash", &["--norc", "--noprofile", "-c", &bash]);
    assert!(out.contains("-F __start_workshop workshop"), "{out}");
    assert!(out.lines().any(|l| l == "launch"), "{out}");

    // zsh: autoloaded from $fpath by compinit, on the first completion (what `_describe` is
    // given to show is printed instead).
    let zsh = format!(
        "fpath=({} $fpath); autoload -Uz compinit; compinit -u -D; print -r -- \"comps: $_comps[workshop]\"; \
         _describe() {{ print -rl -- \"${{(@P)${{@[-1]}}}}\" }}; words=(workshop la); CURRENT=2; _workshop",
        i.file("share/zsh/site-functions")
    );
    let out = shell(&i.prefix, "zsh", &["-f", "-c", &zsh]);
    assert!(out.contains("comps: _workshop\n"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("launch:Construct")), "{out}");

    // fish: loaded from its completions path when `workshop` is completed.
    let fish = format!(
        "set -p fish_complete_path {}; complete -C 'workshop la'",
        i.file("share/fish/vendor_completions.d")
    );
    let out = shell(&i.prefix, "fish", &["--no-config", "-c", &fish]);
    assert!(out.lines().any(|l| l.starts_with("launch\t")), "{out}");
}

#[test]
fn installed_manual_pages_render_with_man() {
    let test = "installed_manual_pages_render_with_man";
    if !tool_available(test, "make") || !tool_available(test, "man") {
        return;
    }
    let i = Installed::new();
    let man1 = i.prefix.join("share/man/man1");
    for page in files(&man1) {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(man1.join(&page))
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "{page}: {stderr}");
        let name = page.trim_end_matches(".1");
        let mut lines = text.lines().map(str::trim);
        let named = lines.find(|l| *l == "NAME").and(lines.next()).unwrap_or_default();
        let (first, rest) = named.split_once(' ').unwrap_or_default();
        assert!(first == name && rest.trim_start().starts_with("- "), "{page}:\n{text}");
        assert!(text.contains("SYNOPSIS"), "{page}:\n{text}");
    }
    let run = std::fs::read_to_string(man1.join("workshopd-run.1")).unwrap();
    assert!(run.contains("WORKSHOP_STANDBY_AFTER"), "the environment variable is documented:\n{run}");
}

/// The README's two commands, as it gives them, and every script they run work in a root
/// shell on a machine without sudo: nothing runs `sudo` on the host (the guest image has its
/// own), and set-up does not install it.
#[test]
fn the_readme_commands_run_as_root_without_sudo() {
    let root = workspace();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = readme.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    let commands: Vec<&str> = block.lines().collect();
    assert_eq!(commands.len(), 2, "{block}");
    for command in commands {
        assert!(command.starts_with("bash scripts/") && command.contains("# as root"), "{command}");
    }
    let mut scripts: Vec<PathBuf> = Vec::new();
    for dir in ["scripts", "snap/hooks", "snap/local/commands"] {
        scripts.extend(std::fs::read_dir(root.join(dir)).unwrap().map(|e| e.unwrap().path()));
    }
    scripts.push(root.join("Makefile"));
    let word = regex_lite::Regex::new(r"(^|[^A-Za-z0-9_-])sudo([^A-Za-z0-9_-]|$)").unwrap();
    for script in scripts {
        let text = std::fs::read_to_string(&script).unwrap();
        for line in text.lines() {
            let code = line.split(" #").next().unwrap_or_default();
            if code.trim_start().starts_with('#') || code.starts_with("IMAGE_PACKAGES=") {
                continue;
            }
            assert!(!word.is_match(code), "{} needs sudo: {line}", script.display());
        }
    }
}
