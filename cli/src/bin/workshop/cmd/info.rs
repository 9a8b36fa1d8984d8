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

    /// On a terminal, default mount sources under `$XDG_DATA_HOME/workshop/id/` are shortened
    /// to `…/<pid>/…`, a hyperlink to the whole path; elsewhere (a script reading it) they are
    /// whole, as the reference's.
    fn host_source(&self, path: &str) -> String {
        let prefix = self.data_home.as_ref().map(|d| d.join("workshop/id"));
        match prefix.as_ref().and_then(|p| path.strip_prefix(p.to_string_lossy().as_ref())) {
            Some(rest) if self.links => format!("\x1b]8;;file://{path}\x1b\\…{rest}\x1b]8;;\x1b\\"),
            _ => yaml_scalar(&self.contract(path)),
        }
    }
}

fn render(info: &WorkshopInfo, project_path: &str, paths: &Paths) -> String {
    let mut lines = vec![
        format!("name:\t{}", info.name),
        format!("base:\t{}", info.base),
        format!("project:\t{}", yaml_scalar(&paths.contract(project_path))),
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
        lines.push(installed_line(sdk));
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
        lines.push(format!("    tracking:\t{}", yaml_scalar(&tracking)));
    }
    lines.push(installed_line(sdk));
    if let Some(health) = &sdk.health_check {
        lines.push(format!("    message:\t{}", yaml_scalar(&health.message)));
    }
    let mut mounts: Vec<&Value> = sdk.mounts.iter().collect();
    mounts.sort_by_key(|m| plug_name(m));
    if !mounts.is_empty() {
        lines.push("    mounts:".into());
        for mount in mounts {
            lines.push(format!("      {}:", plug_name(mount)));
            if let Some(host) = text(mount, "host-source") {
                // Shortened (and linked) only when it has no control characters.
                let host = if host.chars().any(char::is_control) {
                    yaml_scalar(host)
                } else {
                    paths.host_source(host)
                };
                lines.push(format!("        host-source:\t{host}"));
            } else if let Some(source) = text(mount, "workshop-source") {
                lines.push(format!("        workshop-source:\t{}", yaml_scalar(source)));
            }
            let target = text(mount, "workshop-target").unwrap_or("-");
            lines.push(format!("        workshop-target:\t{}", yaml_scalar(target)));
        }
    }
    tunnel_lines(sdk, lines);
}

/// `installed:` version, build (else install) date and revision.
fn installed_line(sdk: &SdkInfo) -> String {
    let mut installed = String::from("    installed:");
    if let Some(version) = sdk.version.as_deref().filter(|v| !v.is_empty()) {
        installed.push_str(&format!("\t{version}"));
    }
    if let Some(date) = sdk.built_at.or(sdk.installed_at) {
        installed.push_str(&format!("\t{}", date.format("%Y-%m-%d")));
    }
    installed.push_str(&format!("\t({})", sdk.revision));
    installed
}

/// An SDK's tunnels, by plug name.
fn tunnel_lines(sdk: &SdkInfo, lines: &mut Vec<String>) {
    let mut tunnels: Vec<&Value> = sdk.tunnels.iter().collect();
    tunnels.sort_by_key(|t| plug_name(t));
    if !tunnels.is_empty() {
        lines.push("    tunnels:".into());
        for tunnel in tunnels {
            lines.push(format!("      {}:", plug_name(tunnel)));
            lines.push(format!("        from:\t{}", yaml_scalar(&endpoint(&tunnel["from"]))));
            lines.push(format!("        to:\t{}", yaml_scalar(&endpoint(&tunnel["to"]))));
        }
    }
}

/// `text` as a YAML scalar on a line of its own: plain when YAML reads it back as this
/// string, else quoted, in single quotes (the reference's), or double quotes with escapes when
/// it holds control characters (a line break would start a line that looks like a key; a
/// guest's health message could hold terminal escapes; `[::1]:80/tcp` or `@socket` are YAML
/// syntax unquoted).
fn yaml_scalar(text: &str) -> String {
    if text.chars().any(char::is_control) {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        return out;
    }
    if plain_is_safe(text) { text.to_string() } else { format!("'{}'", text.replace('\'', "''")) }
}

/// Whether YAML reads `text`, written plain, back as that string.
fn plain_is_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else { return false };
    if first.is_whitespace() || text.ends_with(char::is_whitespace) || text.ends_with(':') {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-`, `?` and `:` only start an indicator before a space (or alone).
        let indicator =
            !matches!(first, '-' | '?' | ':') || text.chars().nth(1).is_none_or(char::is_whitespace);
        if indicator {
            return false;
        }
    }
    if text.contains(": ") || text.contains(" #") {
        return false;
    }
    // What YAML would read as another type.
    let lower = text.to_ascii_lowercase();
    let special = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", ".nan"];
    if special.contains(&lower.as_str()) {
        return false;
    }
    let numeric = text.trim_start_matches(['-', '+']);
    !(numeric.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && numeric.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '+' | '-')))
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
                     host-source:      ~/.local/share/workshop/id/0a1b2c3d/ws-basic/mount/test-sdk-basic-2/one\n        \
                     workshop-target:  /mnt/one\n    \
                 tunnels:\n      \
                   postgres:\n        \
                     from:  '[::1]:5432/tcp'\n        \
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
                "  system:\n    installed:  (2)\n    tunnels:\n      alpha:\n        from:  127.0.0.1:8002/tcp\n        \
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

    /// `info` parsed as YAML, its `notes:` line dropped first (its `-` placeholder is not
    /// YAML, as the acceptance conventions say).
    fn parsed(text: &str) -> serde_yaml_ng::Value {
        let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("notes:")).collect();
        serde_yaml_ng::from_str(&kept.join("\n")).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn every_value_reads_back_as_yaml() {
        let tunnel = |from: Value, to: Value| json!({"plug": "p", "from": from, "to": to});
        let info: WorkshopInfo = serde_json::from_value(json!({
            "project-id": "p", "name": "ws", "base": "ubuntu@22.04", "status": "Ready",
            "sdks": [{"name": "s", "revision": "x1", "installed-at": "2024-06-02T10:00:00Z",
                "health-check": {"timestamp": "2024-06-02T10:00:00Z", "message": "- a: b # c"},
                "tunnels": [
                    tunnel(json!({"protocol": "tcp", "host": "::1", "port": 8000}), json!({"protocol": "unix", "path": "@abstract"})),
                ]}]
        }))
        .unwrap();
        let text = render(&info, "/srv/p", &paths());
        let back = parsed(&text);
        let s = &back["sdks"]["s"];
        assert_eq!(s["message"].as_str(), Some("- a: b # c"), "{text}");
        assert_eq!(s["tunnels"]["p"]["from"].as_str(), Some("[::1]:8000/tcp"), "{text}");
        assert_eq!(s["tunnels"]["p"]["to"].as_str(), Some("@abstract"), "{text}");
        for plain in ["/home/u/x", "1.22/stable", "127.0.0.1:80/tcp", "x1", "a-b", "-x"] {
            assert_eq!(yaml_scalar(plain), plain);
        }
        for quoted in [
            "",
            "-",
            "@s",
            "[::1]:80",
            "true",
            "no",
            "~",
            "123",
            "1.5",
            "2024-05-01",
            "a: b",
            "x #y",
            "it's:",
        ] {
            let text = format!("k: {}\n", yaml_scalar(quoted));
            let back: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert_eq!(back["k"].as_str(), Some(quoted), "{text}");
        }
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
        assert!(ends(r#"  "ok\nstatus: fake\x1b[2J""#), "{text}");
        assert!(ends(r#"  "/home/u/new\nline""#), "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains("\nline"), "{text}");
        assert_eq!(parsed(&text)["sdks"]["s"]["message"].as_str(), Some("ok\nstatus: fake\u{1b}[2J"));
    }
}
