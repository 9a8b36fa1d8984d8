//! `snap/snapcraft.yaml` against snapcraft's documented schema, offline (snapcraft itself is not
//! installable here): the keys snapcraft documents for core24 at each level (an unknown or
//! misspelt key fails, as it fails `snapcraft pack`), their types and allowed values, and the
//! rules between them. Then what must agree with the rest of the tree: every command and `$SNAP/`
//! path resolves to a file a part installs, hooks exist and are executable, and the daemon's
//! three sockets are the ones snapd listens on for it (standby needs all three).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

// The model is parsed to check each documented key's type and values; most are not read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Snapcraft {
    name: String,
    title: Option<String>,
    version: Option<String>,
    adopt_info: Option<String>,
    summary: String,
    description: String,
    #[serde(rename = "type")]
    kind: Option<SnapType>,
    base: Base,
    build_base: Option<String>,
    confinement: Confinement,
    grade: Option<Grade>,
    icon: Option<String>,
    license: Option<String>,
    contact: Option<OneOrMany>,
    donation: Option<OneOrMany>,
    issues: Option<OneOrMany>,
    source_code: Option<OneOrMany>,
    website: Option<OneOrMany>,
    platforms: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    assumes: Option<Vec<String>>,
    epoch: Option<serde_yaml_ng::Value>,
    environment: Option<BTreeMap<String, String>>,
    #[serde(default)]
    apps: BTreeMap<String, App>,
    parts: BTreeMap<String, BTreeMap<String, serde_yaml_ng::Value>>,
    #[serde(default)]
    hooks: BTreeMap<String, Hook>,
    plugs: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    slots: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    layout: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    package_repositories: Option<Vec<serde_yaml_ng::Value>>,
    passthrough: Option<serde_yaml_ng::Value>,
    compression: Option<Compression>,
    system_usernames: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    components: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    lint: Option<serde_yaml_ng::Value>,
}

// The model is parsed to check each documented key's type and values; most are not read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum SnapType {
    App,
    Base,
    Gadget,
    Kernel,
    Snapd,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum Base {
    Core22,
    Core24,
    Bare,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum Confinement {
    Strict,
    Devmode,
    Classic,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum Grade {
    Stable,
    Devel,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum Compression {
    Xz,
    Lzo,
}

// The model is parsed to check each documented key's type and values; most are not read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct App {
    command: String,
    command_chain: Option<Vec<String>>,
    common_id: Option<String>,
    completer: Option<String>,
    desktop: Option<String>,
    environment: Option<BTreeMap<String, String>>,
    extensions: Option<Vec<String>>,
    passthrough: Option<serde_yaml_ng::Value>,
    plugs: Option<Vec<String>>,
    slots: Option<Vec<String>>,
    autostart: Option<String>,
    // Services only.
    daemon: Option<Daemon>,
    daemon_scope: Option<DaemonScope>,
    after: Option<Vec<String>>,
    before: Option<Vec<String>>,
    activates_on: Option<Vec<String>>,
    bus_name: Option<String>,
    install_mode: Option<InstallMode>,
    refresh_mode: Option<RefreshMode>,
    restart_condition: Option<RestartCondition>,
    restart_delay: Option<String>,
    start_timeout: Option<String>,
    stop_timeout: Option<String>,
    watchdog_timeout: Option<String>,
    stop_command: Option<String>,
    reload_command: Option<String>,
    post_stop_command: Option<String>,
    stop_mode: Option<StopMode>,
    sockets: Option<BTreeMap<String, Socket>>,
    timer: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Daemon {
    Simple,
    Forking,
    Oneshot,
    Notify,
    Dbus,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum DaemonScope {
    System,
    User,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum InstallMode {
    Enable,
    Disable,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RefreshMode {
    Endure,
    Restart,
    IgnoreRunning,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RestartCondition {
    OnFailure,
    OnSuccess,
    OnAbnormal,
    OnAbort,
    OnWatchdog,
    Always,
    Never,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum StopMode {
    Sigterm,
    SigtermAll,
    Sighup,
    SighupAll,
    Sigusr1,
    Sigusr1All,
    Sigusr2,
    Sigusr2All,
    Sigint,
    SigintAll,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Socket {
    listen_stream: String,
    socket_mode: Option<SocketMode>,
}

/// snapcraft reads YAML 1.1, where `0666` is an octal number; this reader (YAML 1.2) sees text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SocketMode {
    Number(u32),
    Octal(String),
}

impl SocketMode {
    fn value(&self) -> Option<u32> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Octal(text) => {
                text.strip_prefix('0').and_then(|digits| u32::from_str_radix(digits, 8).ok())
            }
        }
    }
}

// The model is parsed to check each documented key's type and values; most are not read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Hook {
    command_chain: Option<Vec<String>>,
    environment: Option<BTreeMap<String, String>>,
    plugs: Option<Vec<String>>,
    passthrough: Option<serde_yaml_ng::Value>,
}

/// Keys every part may have; a plugin's own keys start with its name (`rust-channel`).
const PART_KEYS: &[&str] = &[
    "plugin",
    "source",
    "source-type",
    "source-branch",
    "source-checksum",
    "source-commit",
    "source-depth",
    "source-subdir",
    "source-submodules",
    "source-tag",
    "after",
    "build-attributes",
    "build-environment",
    "build-packages",
    "build-snaps",
    "stage-packages",
    "stage-snaps",
    "stage",
    "prime",
    "organize",
    "override-pull",
    "override-build",
    "override-stage",
    "override-prime",
    "parse-info",
];

/// The plugins snapcraft has for core22 and core24.
const PLUGINS: &[&str] = &[
    "ant",
    "autotools",
    "cmake",
    "colcon",
    "conda",
    "dotnet",
    "dump",
    "flutter",
    "go",
    "gradle",
    "make",
    "maven",
    "meson",
    "nil",
    "npm",
    "python",
    "qmake",
    "rust",
    "scons",
    "uv",
    "poetry",
    "matter-sdk",
];

/// The hooks snapd runs.
const HOOKS: &[&str] = &[
    "install",
    "configure",
    "default-configure",
    "pre-refresh",
    "post-refresh",
    "remove",
    "check-health",
    "gate-auto-refresh",
    "install-device",
    "prepare-device",
    "fde-setup",
];

fn name_ok(name: &str, upper: bool) -> bool {
    let ok = |c: char| c.is_ascii_digit() || c.is_ascii_lowercase() || (upper && c.is_ascii_uppercase());
    !name.is_empty()
        && name.chars().all(|c| ok(c) || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn duration_ok(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "ms", "s", "m", "h"].into_iter().find(|u| rest.starts_with(u));
        let Some(unit) = unit else { return false };
        rest = &rest[unit.len()..];
    }
    true
}

/// What snapcraft would refuse in `yaml`: parse errors (unknown keys, wrong types and values)
/// and broken rules between keys.
fn schema_errors(yaml: &str) -> Vec<String> {
    let snap: Snapcraft = match serde_yaml_ng::from_str(yaml) {
        Ok(snap) => snap,
        Err(e) => return vec![e.to_string()],
    };
    let mut errors = Vec::new();
    let mut fail = |e: String| errors.push(e);
    if !name_ok(&snap.name, false)
        || snap.name.len() > 40
        || !snap.name.chars().any(|c| c.is_ascii_lowercase())
    {
        fail(format!("invalid snap name {:?}", snap.name));
    }
    if snap.summary.chars().count() > 78 {
        fail("summary is longer than 78 characters".into());
    }
    match (&snap.version, &snap.adopt_info) {
        (None, None) => fail("version or adopt-info is required".into()),
        (_, Some(part)) if !snap.parts.contains_key(part) => {
            fail(format!("adopt-info names no part: {part}"))
        }
        _ => {}
    }
    for (name, app) in &snap.apps {
        if !name_ok(name, true) {
            fail(format!("invalid app name {name:?}"));
        }
        if app.command.starts_with('/') || app.command.starts_with('$') {
            fail(format!("apps.{name}.command must be relative to the snap: {}", app.command));
        }
        let service_only = [
            ("restart-condition", app.restart_condition.is_some()),
            ("sockets", app.sockets.is_some()),
            ("watchdog-timeout", app.watchdog_timeout.is_some()),
            ("stop-timeout", app.stop_timeout.is_some()),
            ("start-timeout", app.start_timeout.is_some()),
            ("after", app.after.is_some()),
            ("before", app.before.is_some()),
            ("timer", app.timer.is_some()),
        ];
        for (key, set) in service_only {
            if set && app.daemon.is_none() {
                fail(format!("apps.{name}.{key} needs a daemon"));
            }
        }
        for (key, value) in [
            ("start-timeout", &app.start_timeout),
            ("stop-timeout", &app.stop_timeout),
            ("watchdog-timeout", &app.watchdog_timeout),
            ("restart-delay", &app.restart_delay),
        ] {
            if let Some(value) = value
                && !duration_ok(value)
            {
                fail(format!("apps.{name}.{key} is not a duration: {value}"));
            }
        }
        for other in app.after.iter().chain(&app.before).flatten() {
            if snap.apps.get(other).is_none_or(|a| a.daemon.is_none()) {
                fail(format!("apps.{name} is ordered against {other:?}, which is not a service"));
            }
        }
        for (socket, spec) in app.sockets.iter().flatten() {
            if !name_ok(socket, false) {
                fail(format!("invalid socket name {socket:?}"));
            }
            if spec.socket_mode.as_ref().is_some_and(|m| m.value().is_none_or(|v| v > 0o777)) {
                fail(format!(
                    "apps.{name}.sockets.{socket}.socket-mode is not a file mode: {:?}",
                    spec.socket_mode
                ));
            }
            let path = &spec.listen_stream;
            let allowed = ["$SNAP_DATA/", "$SNAP_COMMON/", "$XDG_RUNTIME_DIR/"];
            if !allowed.iter().any(|prefix| path.starts_with(prefix)) {
                fail(format!(
                    "apps.{name}.sockets.{socket}: {path} is not under $SNAP_DATA, $SNAP_COMMON or $XDG_RUNTIME_DIR"
                ));
            }
            // sun_path holds 107 bytes; a long revision in $SNAP_DATA, as snapd checks.
            let expanded = path
                .replace("$SNAP_DATA", &format!("/var/snap/{}/x99999", snap.name))
                .replace("$SNAP_COMMON", &format!("/var/snap/{}/common", snap.name));
            if expanded.len() > 107 {
                fail(format!("apps.{name}.sockets.{socket}: {path} is too long for a unix socket"));
            }
        }
    }
    for (name, part) in &snap.parts {
        let plugin = part.get("plugin").and_then(|p| p.as_str()).unwrap_or_default();
        if !PLUGINS.contains(&plugin) {
            fail(format!("parts.{name}.plugin: unknown plugin {plugin:?}"));
        }
        for key in part.keys() {
            if !PART_KEYS.contains(&key.as_str()) && !key.starts_with(&format!("{plugin}-")) {
                fail(format!("parts.{name}: unknown key {key:?}"));
            }
        }
        for other in part.get("after").and_then(|a| a.as_sequence()).into_iter().flatten() {
            if other.as_str().is_none_or(|o| !snap.parts.contains_key(o)) {
                fail(format!("parts.{name}.after names no part: {other:?}"));
            }
        }
    }
    for hook in snap.hooks.keys() {
        if !HOOKS.contains(&hook.as_str()) {
            fail(format!("unknown hook {hook:?}"));
        }
    }
    errors
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn snapcraft_yaml() -> String {
    std::fs::read_to_string(workspace().join("snap/snapcraft.yaml")).unwrap()
}

#[test]
fn snapcraft_yaml_passes_the_schema() {
    assert_eq!(schema_errors(&snapcraft_yaml()), Vec::<String>::new());
}

#[test]
fn the_schema_check_refuses_what_snapcraft_refuses() {
    let good = snapcraft_yaml();
    let broken = [
        (
            "    restart-condition: on-failure",
            "    restart-condtion: on-failure",
            "unknown field `restart-condtion`",
        ),
        ("    daemon: notify", "    daemon: notified", "unknown variant `notified`"),
        ("confinement: classic", "confinement: loose", "unknown variant `loose`"),
        ("    watchdog-timeout: 60s", "    watchdog-timeout: a minute", "is not a duration"),
        (
            "listen-stream: $SNAP_COMMON/workshop/workshop.socket.untrusted",
            "listen-stream: /run/workshop.socket.untrusted",
            "is not under $SNAP_DATA",
        ),
        ("    plugin: rust", "    plugin: rust\n    go-channel: stable", "unknown key \"go-channel\""),
        ("adopt-info: workshop", "adopt-info: nothing", "adopt-info names no part"),
        ("        socket-mode: 0666", "        socket-mode: 0999", "is not a file mode"),
    ];
    for (from, to, expected) in broken {
        assert!(good.contains(from), "snapcraft.yaml has no {from:?} any more: update this test");
        let errors = schema_errors(&good.replacen(from, to, 1));
        assert!(errors.iter().any(|e| e.contains(expected)), "{to:?} gave {errors:?}");
    }
}

/// The files the parts put in the snap, as far as they can be known without building: the
/// `dump` part's tree (after `organize`) and the `$CRAFT_PART_INSTALL/...` paths that the
/// build overrides install.
fn snap_files(yaml: &str) -> BTreeSet<String> {
    let snap: Snapcraft = serde_yaml_ng::from_str(yaml).unwrap();
    let mut files = BTreeSet::new();
    for part in snap.parts.values() {
        let plugin = part.get("plugin").and_then(|p| p.as_str());
        if plugin == Some("dump") {
            let source = workspace().join(part["source"].as_str().unwrap());
            let organize: Vec<(String, String)> = part
                .get("organize")
                .and_then(|o| o.as_mapping())
                .into_iter()
                .flatten()
                .map(|(from, to)| (from.as_str().unwrap().to_string(), to.as_str().unwrap().to_string()))
                .collect();
            for file in walk(&source) {
                let rel = file.strip_prefix(&source).unwrap().display().to_string();
                let organized = organize.iter().find_map(|(from, to)| {
                    rel.strip_prefix(&format!("{from}/")).map(|rest| format!("{to}/{rest}"))
                });
                files.insert(organized.unwrap_or(rel));
            }
        }
        if let Some(script) = part.get("override-build").and_then(|s| s.as_str()) {
            for piece in script.split("\"$CRAFT_PART_INSTALL/").skip(1) {
                files.insert(piece.split('"').next().unwrap().to_string());
            }
        }
    }
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn commands_hooks_and_sockets_agree_with_the_tree() {
    let yaml = snapcraft_yaml();
    let snap: Snapcraft = serde_yaml_ng::from_str(&yaml).unwrap();
    let files = snap_files(&yaml);
    let executable = |path: &Path| path.metadata().is_ok_and(|m| m.permissions().mode() & 0o111 == 0o111);

    // Every app command, and every $SNAP/ path that a hook or wrapper runs, is in the snap.
    for (name, app) in &snap.apps {
        let command = app.command.split_whitespace().next().unwrap();
        assert!(files.contains(command), "apps.{name}.command {command} is not in the snap: {files:?}");
    }
    let hooks = workspace().join("snap/hooks");
    let mut scripts: Vec<PathBuf> = walk(&hooks);
    scripts.extend(walk(&workspace().join("snap/local/commands")));
    for script in &scripts {
        assert!(executable(script), "{} is not executable", script.display());
        let text = std::fs::read_to_string(script).unwrap();
        for piece in text.split("\"$SNAP/").skip(1) {
            let path = piece.split('"').next().unwrap();
            assert!(files.contains(path), "{} runs $SNAP/{path}, which is not in the snap", script.display());
        }
        let name = script.file_name().unwrap().to_str().unwrap();
        if script.starts_with(&hooks) {
            assert!(HOOKS.contains(&name), "snap/hooks/{name} is not a hook snapd runs");
        }
    }

    // The daemon listens where its environment says (see workshopd's Paths): snapd must hold
    // exactly those three sockets, or the daemon never stands by.
    let daemon = &snap.apps["workshopd"];
    let env = daemon.environment.as_ref().unwrap();
    let socket = &env["WORKSHOP_SOCKET"];
    let expected: BTreeSet<String> = [
        socket.clone(),
        format!("{socket}.untrusted"),
        format!("{}/guest/workshop.socket.untrusted", env["WORKSHOP"]),
    ]
    .into();
    let listened: BTreeSet<String> =
        daemon.sockets.as_ref().unwrap().values().map(|s| s.listen_stream.clone()).collect();
    assert_eq!(listened, expected);
    assert!(
        daemon
            .sockets
            .as_ref()
            .unwrap()
            .values()
            .all(|s| s.socket_mode.as_ref().and_then(SocketMode::value) == Some(0o666))
    );
    assert_eq!(daemon.daemon, Some(Daemon::Notify));
    assert_eq!(snap.apps["workshop"].environment.as_ref().unwrap()["WORKSHOP_SOCKET"], *socket);
    assert_eq!(snap.apps["activate"].environment.as_ref().unwrap()["WORKSHOP_SOCKET"], *socket);
}
