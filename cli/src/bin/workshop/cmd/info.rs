//! `workshop info`: a YAML-like description of one workshop.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use workshop_api::workshops::{SdkInfo, WorkshopInfo};

use crate::cmd::Format;
use crate::context::Ctx;
use crate::table;
use workshop_client::style::contract_home;

/// Arguments of `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The workshop (default: the project's only workshop)
    #[arg(value_name = "WORKSHOP")]
    pub name: Option<String>,
}

/// `workshop info`.
pub fn run(ctx: &Ctx, args: &InfoArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => ctx.single_workshop_name(&project)?,
    };
    let info = ctx.client.workshop(&project.id, &name)?;
    if let Some(data) = args.format.data(&info)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    let paths = Paths {
        home: std::env::var("HOME").ok(),
        data_home: crate::context::data_home(),
        links: crate::term::is_tty(1),
    };
    workshop_client::out!("{}", render(&info, &project.path, &paths));
    Ok(())
}

/// How host paths are shown.
struct Paths {
    home: Option<String>,
    /// `$XDG_DATA_HOME` (default `~/.local/share`), where default mount sources live.
    data_home: Option<PathBuf>,
    /// Whether shortened paths become terminal hyperlinks.
    links: bool,
}

impl Paths {
    fn contract(&self, path: &str) -> String {
        match &self.home {
            Some(home) if !home.is_empty() && home != "/" => contract_home(path, home),
            _ => path.to_string(),
        }
    }

    /// Default mount sources under `$XDG_DATA_HOME/workshop/id/` are shortened to `…/<pid>/…`.
    fn host_source(&self, path: &str) -> String {
        let prefix = self.data_home.as_ref().map(|d| d.join("workshop/id"));
        let Some(rest) = prefix.as_ref().and_then(|p| path.strip_prefix(p.to_string_lossy().as_ref())) else {
            return self.contract(path);
        };
        let short = format!("…{rest}");
        if self.links { format!("\x1b]8;;file://{path}\x1b\\{short}\x1b]8;;\x1b\\") } else { short }
    }
}

fn render(info: &WorkshopInfo, project_path: &str, paths: &Paths) -> String {
    let mut lines = vec![
        format!("name:\t{}", info.name),
        format!("base:\t{}", info.base),
        format!("project:\t{}", paths.contract(project_path)),
    ];
    if let Some(hostname) = info.hostname.as_deref().filter(|h| !h.is_empty()) {
        lines.push(format!("hostname:\t{hostname}"));
    }
    lines.push(format!("status:\t{}", info.status.as_str().to_lowercase()));
    let mut notes = info.notes.clone();
    notes.extend(
        info.sdks
            .iter()
            .filter_map(|s| s.health_check.as_ref())
            .map(|h| h.code.clone())
            .filter(|c| !c.is_empty()),
    );
    lines.push(format!("notes:\t{}", if notes.is_empty() { "-".to_string() } else { notes.join(",") }));
    if let Some(hash) = &info.env_hash {
        lines.push(format!("env-hash:\t{hash}"));
    }
    // The system SDK only with its tunnels (those listening on the host), as the reference.
    let sdks: Vec<&SdkInfo> =
        info.sdks.iter().filter(|s| s.name != "system" || !s.tunnels.is_empty()).collect();
    if !sdks.is_empty() {
        lines.push("sdks:".into());
        for sdk in sdks {
            sdk_lines(sdk, paths, &mut lines);
        }
    }
    table::align(&lines, &[])
}

fn sdk_lines(sdk: &SdkInfo, paths: &Paths, lines: &mut Vec<String>) {
    lines.push(format!("  {}:", sdk.name));
    if sdk.name == "system" {
        tunnel_lines(sdk, lines);
        return;
    }
    let source = sdk.source.as_deref().filter(|s| !s.is_empty());
    let channel = sdk.channel.as_deref().filter(|c| !c.is_empty());
    let tracking = match (sdk.revision.starts_with('x'), source, channel) {
        (true, Some(source), _) | (false, Some(source), None) => Some(paths.contract(source)),
        (_, _, Some(channel)) => Some(channel.to_string()),
        _ => None,
    };
    if let Some(tracking) = tracking {
        lines.push(format!("    tracking:\t{tracking}"));
    }
    let mut installed = String::from("    installed:");
    if let Some(version) = sdk.version.as_deref().filter(|v| !v.is_empty()) {
        installed.push_str(&format!("\t{version}"));
    }
    if let Some(date) = sdk.built_at.or(sdk.installed_at) {
        installed.push_str(&format!("\t{}", date.format("%Y-%m-%d")));
    }
    installed.push_str(&format!("\t({})", sdk.revision));
    lines.push(installed);
    if let Some(health) = &sdk.health_check {
        lines.push(format!("    message:\t{}", shown(&health.message)));
    }
    let mut mounts: Vec<&Value> = sdk.mounts.iter().collect();
    mounts.sort_by_key(|m| plug_name(m));
    if !mounts.is_empty() {
        lines.push("    mounts:".into());
        for mount in mounts {
            lines.push(format!("      {}:", plug_name(mount)));
            if let Some(host) = text(mount, "host-source") {
                // Shortened (and linked) only when it has no control characters.
                let host =
                    if host.chars().any(char::is_control) { shown(host) } else { paths.host_source(host) };
                lines.push(format!("        host-source:\t{host}"));
            } else if let Some(source) = text(mount, "workshop-source") {
                lines.push(format!("        workshop-source:\t{}", shown(source)));
            }
            let target = text(mount, "workshop-target").unwrap_or("-");
            lines.push(format!("        workshop-target:\t{}", shown(target)));
        }
    }
    tunnel_lines(sdk, lines);
}

/// An SDK's tunnels, by plug name.
fn tunnel_lines(sdk: &SdkInfo, lines: &mut Vec<String>) {
    let mut tunnels: Vec<&Value> = sdk.tunnels.iter().collect();
    tunnels.sort_by_key(|t| plug_name(t));
    if !tunnels.is_empty() {
        lines.push("    tunnels:".into());
        for tunnel in tunnels {
            lines.push(format!("      {}:", plug_name(tunnel)));
            lines.push(format!("        from:\t{}", shown(&endpoint(&tunnel["from"]))));
            lines.push(format!("        to:\t{}", shown(&endpoint(&tunnel["to"]))));
        }
    }
}

/// `text` as shown on a line of its own: quoted, with escapes, when it holds control
/// characters (a line break would start a line that looks like a key; a guest's health
/// message could hold terminal escapes).
fn shown(text: &str) -> String {
    if text.chars().any(char::is_control) { format!("{text:?}") } else { text.to_string() }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The plug of a mount or tunnel: a plug reference (`{"plug": name, ...}`) or a bare name.
fn plug_name(v: &Value) -> String {
    match &v["plug"] {
        Value::String(name) => name.clone(),
        plug => {
            plug.get("plug").or_else(|| plug.get("name")).and_then(Value::as_str).unwrap_or("-").to_string()
        }
    }
}

/// `host:port/protocol`, or the socket path.
fn endpoint(v: &Value) -> String {
    if let Some(path) = text(v, "path") {
        return path.to_string();
    }
    let host = text(v, "host").unwrap_or("");
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
    let port = match &v["port"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    let mut out = format!("{host}:{port}");
    if let Some(protocol) = text(v, "protocol") {
        out.push_str(&format!("/{protocol}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths() -> Paths {
        Paths {
            home: Some("/home/u".into()),
            data_home: Some(PathBuf::from("/home/u/.local/share")),
            links: false,
        }
    }

    #[test]
    fn info_layout() {
        let info: WorkshopInfo = serde_json::from_value(json!({
            "project-id": "0a1b2c3d", "name": "ws-basic", "base": "ubuntu@22.04", "status": "Ready",
            "sdks": [
                {"name": "system", "revision": "2"},
                {"name": "test-sdk-basic-2", "version": "1.0", "source": "/srv/acc/L-08/.workshop/test-sdk-basic-2",
                 "revision": "x1", "built-at": "2024-05-01T10:00:00Z",
                 "health-check": {"timestamp": "2024-05-01T10:00:00Z", "message": "Cannot finish health check", "code": "try-later"},
                 "mounts": [{"plug": {"project-id": "0a1b2c3d", "workshop": "ws-basic", "sdk": "test-sdk-basic-2", "plug": "one"},
                             "host-source": "/home/u/.local/share/workshop/id/0a1b2c3d/ws-basic/mount/test-sdk-basic-2/one",
                             "workshop-target": "/mnt/one"}],
                 "tunnels": [{"plug": "postgres", "from": {"protocol": "tcp", "host": "::1", "port": 5432},
                              "to": {"protocol": "tcp", "host": "127.0.0.1", "port": 5432}}]}
            ]
        }))
        .unwrap();
        let text = render(&info, "/home/u/acc/L-08", &paths());
        assert_eq!(
            text,
            "name:     ws-basic\n\
             base:     ubuntu@22.04\n\
             project:  ~/acc/L-08\n\
             status:   ready\n\
             notes:    try-later\n\
             sdks:\n  \
               test-sdk-basic-2:\n    \
                 tracking:   /srv/acc/L-08/.workshop/test-sdk-basic-2\n    \
                 installed:  1.0  2024-05-01  (x1)\n    \
                 message:    Cannot finish health check\n    \
                 mounts:\n      \
                   one:\n        \
                     host-source:      …/0a1b2c3d/ws-basic/mount/test-sdk-basic-2/one\n        \
                     workshop-target:  /mnt/one\n    \
                 tunnels:\n      \
                   postgres:\n        \
                     from:  [::1]:5432/tcp\n        \
                     to:    127.0.0.1:5432/tcp\n"
        );
    }

    #[test]
    fn the_system_sdk_shows_only_its_tunnels_sorted_by_plug() {
        let tunnel = |plug: &str, port: u16| {
            json!({"plug": {"project-id": "p", "workshop": "ws", "sdk": "system", "plug": plug},
                   "from": {"protocol": "tcp", "host": "127.0.0.1", "port": port},
                   "to": {"protocol": "unix", "path": "/home/workshop/app.sock"}})
        };
        let info: WorkshopInfo = serde_json::from_value(json!({
            "project-id": "p", "name": "ws", "base": "ubuntu@22.04", "status": "Ready",
            "sdks": [
                {"name": "system", "revision": "2", "tunnels": [tunnel("web", 8001), tunnel("alpha", 8002)]},
                {"name": "t", "revision": "x1", "installed-at": "2024-06-02T10:00:00Z"}
            ]
        }))
        .unwrap();
        let text = render(&info, "/srv/p", &paths());
        assert!(
            text.ends_with(
                "  system:\n    tunnels:\n      alpha:\n        from:  127.0.0.1:8002/tcp\n        \
                 to:    /home/workshop/app.sock\n      web:\n        from:  127.0.0.1:8001/tcp\n        \
                 to:    /home/workshop/app.sock\n  t:\n    installed:  2024-06-02  (x1)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn store_sdk_tracks_its_channel_and_no_notes_is_a_dash() {
        let info: WorkshopInfo = serde_json::from_value(json!({
            "project-id": "p", "name": "dev", "base": "ubuntu@24.04", "status": "Stopped", "hostname": "dev.p.wp",
            "env-hash": "0123456789ab",
            "sdks": [{"name": "go", "channel": "1.22/stable", "revision": "12", "installed-at": "2024-06-02T10:00:00Z"}]
        }))
        .unwrap();
        let text = render(&info, "/srv/p", &paths());
        assert!(text.contains("hostname:  dev.p.wp\n"), "{text}");
        assert!(text.contains("notes:     -\nenv-hash:  0123456789ab\n"), "{text}");
        assert!(text.contains("    tracking:   1.22/stable\n    installed:  2024-06-02  (12)\n"), "{text}");
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        let info: WorkshopInfo = serde_json::from_value(json!({
            "project-id": "p", "name": "dev", "base": "ubuntu@24.04", "status": "Ready",
            "sdks": [{"name": "s", "revision": "x1", "installed-at": "2024-06-02T10:00:00Z",
                "health-check": {"timestamp": "2024-06-02T10:00:00Z", "message": "ok\nstatus: fake\u{1b}[2J"},
                "mounts": [{"plug": {"project-id": "p", "workshop": "dev", "sdk": "s", "plug": "one"},
                    "host-source": "/home/u/new\nline", "workshop-target": "/mnt/one"}]}]
        }))
        .unwrap();
        let text = render(&info, "/srv/p", &paths());
        let ends = |tail: &str| text.lines().any(|l| l.ends_with(tail));
        assert!(ends(r#"  "ok\nstatus: fake\u{1b}[2J""#), "{text}");
        assert!(ends(r#"  "/home/u/new\nline""#), "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains("\nline"), "{text}");
    }
}
