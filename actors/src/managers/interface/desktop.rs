//! The desktop interface's devices (reference-inventory §4.1, `desktop`): the caller's
//! graphical session in the workshop. Wayland: a proxy of the host's socket at
//! `/run/user/1000/wayland-0`; X11: a proxy of the host's local display `:n` always at
//! `/tmp/.X11-unix/X0` (`:0`), with a copy of the caller's X authority file; and a
//! `profile.d` snippet that gives login shells the session's variables. The host side is
//! `session.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use super::session::{self, HostFile, WAYLAND_SOCKET, X11_DISPLAY, XAUTHORITY};
use crate::backend::Device;
use crate::managers::UserRef;

/// Where login shells read the session's variables from.
pub const GUEST_ENV: &str = "/etc/profile.d/workshop-desktop.sh";
/// Where the copy of the X authority file is in the workshop.
pub const GUEST_XAUTHORITY: &str = "/var/lib/workshop/run/Xauthority";
/// The Wayland display in the workshop.
const GUEST_WAYLAND_DISPLAY: &str = "wayland-0";
/// The X11 socket in the workshop (display `:0`).
const GUEST_X11: &str = "/tmp/.X11-unix/X0";
/// The snippet's name among the workshop's session files.
const ENV_FILE: &str = "desktop.sh";
/// The X authority copy's name among the workshop's session files.
const XAUTHORITY_FILE: &str = "Xauthority";

/// The host socket of local X display `n`.
pub fn host_x11_socket(n: &str) -> String {
    format!("/tmp/.X11-unix/X{n}")
}

/// The display number of a local X display (`:1`, `:1.0`, `unix:1`); the screen is ignored.
fn x11_display(text: &str) -> Result<u32, String> {
    let bad = || format!("DISPLAY {:?} is not a local X display", text.chars().take(64).collect::<String>());
    let rest = text.strip_prefix("unix").unwrap_or(text).strip_prefix(':').ok_or_else(bad)?;
    let number = rest.split_once('.').map_or(rest, |(n, screen)| {
        if screen.is_empty() || !screen.bytes().all(|b| b.is_ascii_digit()) { "" } else { n }
    });
    if number.is_empty() || number.len() > 5 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    number.parse().map_err(|_| bad())
}

/// What a desktop connection keeps of the caller's variables: the Wayland socket
/// (`WAYLAND_DISPLAY`, relative to `XDG_RUNTIME_DIR`, else `/run/user/<uid>`), the X display
/// (`DISPLAY`) and its authority file (`XAUTHORITY`). One of the displays is required.
pub fn session(env: &BTreeMap<String, String>, uid: u32) -> Result<BTreeMap<String, String>, String> {
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty());
    let mut out = BTreeMap::new();
    if let Some(display) = get("WAYLAND_DISPLAY") {
        let path = if display.starts_with('/') {
            display.clone()
        } else {
            if display.contains('/') || display == ".." {
                return Err(format!("WAYLAND_DISPLAY {display:?} is not a socket name"));
            }
            let runtime = match get("XDG_RUNTIME_DIR") {
                Some(dir) => session::clean_path("XDG_RUNTIME_DIR", dir)?,
                None => format!("/run/user/{uid}"),
            };
            format!("{runtime}/{display}")
        };
        out.insert(WAYLAND_SOCKET.to_string(), session::clean_path("WAYLAND_DISPLAY", &path)?);
    }
    if let Some(display) = get("DISPLAY") {
        out.insert(X11_DISPLAY.to_string(), x11_display(display)?.to_string());
        if let Some(file) = get("XAUTHORITY") {
            out.insert(XAUTHORITY.to_string(), session::clean_path("XAUTHORITY", file)?);
        }
    }
    if out.is_empty() {
        return Err("neither DISPLAY nor WAYLAND_DISPLAY is set in the environment of the caller".into());
    }
    Ok(out)
}

/// The snippet giving login shells the session's variables.
fn profile_script(session: &BTreeMap<String, String>) -> String {
    let wayland = session.contains_key(WAYLAND_SOCKET);
    let x11 = session.contains_key(X11_DISPLAY);
    let mut lines =
        vec!["# The desktop session of the workshop's desktop connection (workshopd).".to_string()];
    if wayland {
        lines.push(format!("export WAYLAND_DISPLAY={GUEST_WAYLAND_DISPLAY}"));
    }
    if x11 {
        lines.push("export DISPLAY=:0".into());
        if session.contains_key(XAUTHORITY) {
            lines.push(format!("export XAUTHORITY={GUEST_XAUTHORITY}"));
        }
    }
    let (kind, qt) = if wayland { ("wayland", "wayland-egl") } else { ("x11", "xcb") };
    lines.push(format!("export XDG_SESSION_TYPE={kind}"));
    lines.push(format!("export XDG_BACKEND={kind}"));
    lines.push(format!("export QT_QPA_PLATFORM={qt}"));
    lines.push("export ELECTRON_OZONE_PLATFORM_HINT=auto".into());
    lines.join("\n") + "\n"
}

/// The devices of SDK `sdk`'s desktop plug (`<sdk>_desktop_{wayland,x11,xauth,env}`) and the
/// files they show, kept in `files_dir`; `user` connected it.
pub fn devices(
    sdk: &str,
    session: &BTreeMap<String, String>,
    files_dir: &Path,
    user: &UserRef,
) -> (BTreeMap<String, Device>, Vec<HostFile>) {
    let mut devices = BTreeMap::new();
    let mut files = Vec::new();
    if let Some(socket) = session.get(WAYLAND_SOCKET) {
        let listen = format!("/run/user/1000/{GUEST_WAYLAND_DISPLAY}");
        devices.insert(format!("{sdk}_desktop_wayland"), session::proxy(&listen, socket, user));
    }
    if let Some(n) = session.get(X11_DISPLAY) {
        devices.insert(format!("{sdk}_desktop_x11"), session::proxy(GUEST_X11, &host_x11_socket(n), user));
        if let Some(from) = session.get(XAUTHORITY) {
            let source = files_dir.join(XAUTHORITY_FILE);
            devices.insert(format!("{sdk}_desktop_xauth"), session::file_device(&source, GUEST_XAUTHORITY));
            files.push(HostFile::CopyOf { name: XAUTHORITY_FILE, from: from.clone() });
        }
    }
    devices.insert(format!("{sdk}_desktop_env"), session::file_device(&files_dir.join(ENV_FILE), GUEST_ENV));
    files.push(HostFile::Text { name: ENV_FILE, text: profile_script(session) });
    (devices, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn user() -> UserRef {
        UserRef { name: "u".into(), uid: 1100, gid: 1100, data_home: None }
    }

    #[test]
    fn sessions_from_the_callers_variables() {
        let s = session(&env(&[("WAYLAND_DISPLAY", "wayland-1")]), 1100).unwrap();
        assert_eq!(s, env(&[(WAYLAND_SOCKET, "/run/user/1100/wayland-1")]));
        let s = session(&env(&[("WAYLAND_DISPLAY", "wayland-1"), ("XDG_RUNTIME_DIR", "/home/u/run/")]), 1)
            .unwrap();
        assert_eq!(s[WAYLAND_SOCKET], "/home/u/run/wayland-1");
        let s = session(&env(&[("WAYLAND_DISPLAY", "/tmp/w.sock")]), 1).unwrap();
        assert_eq!(s[WAYLAND_SOCKET], "/tmp/w.sock");
        let s = session(&env(&[("DISPLAY", ":1.0"), ("XAUTHORITY", "/tmp/.Xauthority")]), 1).unwrap();
        assert_eq!(s, env(&[(X11_DISPLAY, "1"), (XAUTHORITY, "/tmp/.Xauthority")]));
        assert_eq!(session(&env(&[("DISPLAY", "unix:12")]), 1).unwrap()[X11_DISPLAY], "12");
        // XAUTHORITY alone means nothing.
        let refused = [
            (env(&[]), "neither DISPLAY nor WAYLAND_DISPLAY is set in the environment of the caller"),
            (env(&[("XAUTHORITY", "/tmp/a")]), "neither DISPLAY"),
            (env(&[("DISPLAY", "remote:0")]), "DISPLAY \"remote:0\" is not a local X display"),
            (env(&[("DISPLAY", "localhost:10.0")]), "is not a local X display"),
            (env(&[("DISPLAY", ":")]), "is not a local X display"),
            (env(&[("DISPLAY", ":0.")]), "is not a local X display"),
            (env(&[("DISPLAY", ":123456")]), "is not a local X display"),
            (env(&[("DISPLAY", ":0"), ("XAUTHORITY", "rel")]), "XAUTHORITY \"rel\" is not an absolute path"),
            (env(&[("WAYLAND_DISPLAY", "../x")]), "is not a socket name"),
            (env(&[("WAYLAND_DISPLAY", "..")]), "is not a socket name"),
            (env(&[("WAYLAND_DISPLAY", "w"), ("XDG_RUNTIME_DIR", "run")]), "XDG_RUNTIME_DIR \"run\""),
            (env(&[("WAYLAND_DISPLAY", "/a/../b")]), "is not an absolute path"),
        ];
        for (e, want) in refused {
            let err = session(&e, 1).unwrap_err();
            assert!(err.contains(want), "{e:?}: {err}");
        }
    }

    #[test]
    fn wayland_devices_and_environment() {
        let s = session(&env(&[("WAYLAND_DISPLAY", "wayland-1")]), 1100).unwrap();
        let (devices, files) = devices("desk", &s, Path::new("/w/run/sessions/1100/p/ws"), &user());
        let names: Vec<&str> = devices.keys().map(String::as_str).collect();
        assert_eq!(names, ["desk_desktop_env", "desk_desktop_wayland"]);
        let w = &devices["desk_desktop_wayland"];
        assert_eq!(w["listen"], "unix:/run/user/1000/wayland-0");
        assert_eq!(w["connect"], "unix:/run/user/1100/wayland-1");
        assert_eq!((w["type"].as_str(), w["bind"].as_str()), ("proxy", "instance"));
        assert_eq!((w["security.uid"].as_str(), w["uid"].as_str()), ("1100", "1000"));
        let e = &devices["desk_desktop_env"];
        assert_eq!(e["source"], "/w/run/sessions/1100/p/ws/desktop.sh");
        assert_eq!((e["path"].as_str(), e["readonly"].as_str()), (GUEST_ENV, "true"));
        let [HostFile::Text { name: "desktop.sh", text }] = files.as_slice() else { panic!("{files:?}") };
        for line in [
            "export WAYLAND_DISPLAY=wayland-0",
            "export XDG_SESSION_TYPE=wayland",
            "export XDG_BACKEND=wayland",
            "export QT_QPA_PLATFORM=wayland-egl",
            "export ELECTRON_OZONE_PLATFORM_HINT=auto",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
        }
        assert!(!text.contains("DISPLAY=:"), "{text}");
    }

    #[test]
    fn x11_devices_always_show_display_zero() {
        let s = session(&env(&[("DISPLAY", ":1"), ("XAUTHORITY", "/tmp/.Xauthority")]), 1100).unwrap();
        let (made, files) = devices("desk", &s, Path::new("/s"), &user());
        let names: Vec<&str> = made.keys().map(String::as_str).collect();
        assert_eq!(names, ["desk_desktop_env", "desk_desktop_x11", "desk_desktop_xauth"]);
        let x = &made["desk_desktop_x11"];
        assert_eq!(x["listen"], "unix:/tmp/.X11-unix/X0");
        assert_eq!(x["connect"], "unix:/tmp/.X11-unix/X1");
        let a = &made["desk_desktop_xauth"];
        assert_eq!((a["source"].as_str(), a["path"].as_str()), ("/s/Xauthority", GUEST_XAUTHORITY));
        assert_eq!(files[0], HostFile::CopyOf { name: "Xauthority", from: "/tmp/.Xauthority".into() });
        let HostFile::Text { text, .. } = &files[1] else { panic!() };
        for line in [
            "export DISPLAY=:0",
            "export XAUTHORITY=/var/lib/workshop/run/Xauthority",
            "export XDG_SESSION_TYPE=x11",
            "export QT_QPA_PLATFORM=xcb",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
        }
        // Without an authority file: no copy, no XAUTHORITY.
        let s = session(&env(&[("DISPLAY", ":0")]), 1100).unwrap();
        let (devices, files) = devices("desk", &s, Path::new("/s"), &user());
        assert!(!devices.contains_key("desk_desktop_xauth"));
        assert_eq!(files.len(), 1);
    }
}
