//! The interfaces the daemon knows (reference-inventory §4.1) and the checks of a plug's or
//! slot's attributes each one makes when an SDK declares it. A plug or slot of an unknown
//! interface, or one whose attributes fail these checks, is set aside ([`super::SdkInfo::bad`]).
//!
//! Only what can be told from the declaration alone is checked here (names and types of
//! attributes, path and endpoint grammar); what connecting needs (the host's state, the
//! other side) is for the interface layer.

use serde_json::Value;
use std::collections::BTreeMap;

use super::tunnel::TunnelEndpoint;
use super::{SDK_ROOT, kind};
use crate::definition::{InterfaceDef, SYSTEM_SDK};

/// One interface: its name and the checks of its plugs and slots.
pub struct Interface {
    pub name: &'static str,
    plug: Check,
    slot: Check,
}

/// Attributes of a plug or slot, normalised: defaults filled in, paths expanded, numbers as
/// numbers, ids in one form.
pub type Attributes = BTreeMap<String, Value>;

/// A check of a declaration: `(sdk, declaration)` → its normalised attributes, or the reason
/// it is refused.
type Check = fn(&str, &InterfaceDef) -> Result<Attributes, String>;

/// The built-in interfaces, by name.
pub const INTERFACES: [Interface; 7] = [
    Interface { name: "camera", plug: no_attributes, slot: no_attributes },
    Interface { name: "custom-device", plug: custom_device_plug, slot: no_attributes },
    Interface { name: "desktop", plug: no_attributes, slot: no_attributes },
    Interface { name: "gpu", plug: no_attributes, slot: no_attributes },
    Interface { name: "mount", plug: mount_plug, slot: mount_slot },
    Interface { name: "ssh-agent", plug: no_attributes, slot: no_attributes },
    Interface { name: "tunnel", plug: tunnel_plug, slot: tunnel_slot },
];

/// The built-in interface called `name`.
pub fn interface(name: &str) -> Option<&'static Interface> {
    INTERFACES.iter().find(|i| i.name == name)
}

impl Interface {
    /// Checks a plug declared by SDK `sdk`.
    pub fn check_plug(&self, sdk: &str, def: &InterfaceDef) -> Result<(), String> {
        (self.plug)(sdk, def).map(drop)
    }

    /// Checks a slot declared by SDK `sdk`.
    pub fn check_slot(&self, sdk: &str, def: &InterfaceDef) -> Result<(), String> {
        (self.slot)(sdk, def).map(drop)
    }

    /// The normalised attributes of a plug declared by SDK `sdk` (reference
    /// `BeforePreparePlug`).
    pub fn normalise_plug(&self, sdk: &str, def: &InterfaceDef) -> Result<Attributes, String> {
        (self.plug)(sdk, def)
    }

    /// The normalised attributes of a slot declared by SDK `sdk`.
    pub fn normalise_slot(&self, sdk: &str, def: &InterfaceDef) -> Result<Attributes, String> {
        (self.slot)(sdk, def)
    }
}

/// Interfaces without attributes: whatever is written is kept as it is (the reference
/// ignores it).
fn no_attributes(_: &str, def: &InterfaceDef) -> Result<Attributes, String> {
    Ok(def.attributes.clone())
}

fn only_known(attrs: &BTreeMap<String, Value>, known: &[&str], what: &str) -> Result<(), String> {
    match attrs.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(format!("unknown attribute for {what}: \"{unknown}\"")),
        None => Ok(()),
    }
}

const MOUNT_PLUG_ATTRIBUTES: [&str; 5] = ["workshop-target", "mode", "uid", "gid", "read-only"];
/// Where files a plug mounts are owned by the workshop user when no uid/gid is given.
const USER_PREFIXES: [&str; 3] = ["/home/workshop", "/project", "/run/user/1000"];
/// Ids below this are valid owners (`(uid_t)-1` means "unchanged").
const FLAG_ID: i64 = 0xffff_ffff;

fn mount_plug(sdk: &str, def: &InterfaceDef) -> Result<Attributes, String> {
    let attrs = &def.attributes;
    only_known(attrs, &MOUNT_PLUG_ATTRIBUTES, "mount interface plug")?;
    let target = mount_path(attrs, "plug", "workshop-target", sdk)?;
    check_target(&target)?;
    let read_only = bool_attr(attrs, "read-only", "mount interface plug")?;
    let under_user = USER_PREFIXES.iter().any(|p| target == *p || target.starts_with(&format!("{p}/")));
    let fallback = if under_user { 1000 } else { 0 };
    let uid = int_attr(attrs, "uid")?.unwrap_or(fallback);
    let gid = int_attr(attrs, "gid")?.unwrap_or(fallback);
    for (key, id) in [("uid", uid), ("gid", gid)] {
        if !(0..FLAG_ID).contains(&id) {
            return Err(format!(
                "invalid value {id} in key \"{key}\" for mount interface plug: must be between 0 and {FLAG_ID:#x}"
            ));
        }
    }
    let mode = match int_attr(attrs, "mode")? {
        Some(mode) if !(0..=0o777).contains(&mode) => {
            return Err(format!(
                "invalid value 0{mode:o} in key \"mode\" for mount interface plug: permissions limited to 0777"
            ));
        }
        Some(mode) => mode,
        None if uid == 0 => 0o755,
        None => 0o775,
    };
    Ok(BTreeMap::from([
        ("workshop-target".to_string(), Value::from(target)),
        ("mode".to_string(), Value::from(mode)),
        ("uid".to_string(), Value::from(uid)),
        ("gid".to_string(), Value::from(gid)),
        ("read-only".to_string(), Value::from(read_only)),
    ]))
}

fn mount_slot(sdk: &str, def: &InterfaceDef) -> Result<Attributes, String> {
    let attrs = &def.attributes;
    if sdk == SYSTEM_SDK {
        only_known(attrs, &[], "system mount interface slot")?;
        return Ok(Attributes::new());
    }
    only_known(attrs, &["workshop-source"], "mount interface slot")?;
    let source = mount_path(attrs, "slot", "workshop-source", sdk)?;
    Ok(BTreeMap::from([("workshop-source".to_string(), Value::from(source))]))
}

/// The absolute, clean path of a mount attribute, with `$SDK` expanded.
fn mount_path(attrs: &BTreeMap<String, Value>, what: &str, key: &str, sdk: &str) -> Result<String, String> {
    let template = match attrs.get(key) {
        None => return Err(format!("mount {what} must contain \"{key}\"")),
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("mount {what} \"{key}\" is not a string (found {})", kind(other))),
    };
    let path = expand(template, sdk)?;
    if !path.starts_with('/') {
        return Err(format!("mount {what} \"{key}\" must be absolute: \"{path}\""));
    }
    if !is_clean(&path) {
        return Err(format!("mount {what} \"{key}\" is not clean: \"{path}\""));
    }
    Ok(path)
}

/// Refuses a plug's target no mount can have: the root, and the project directory itself (a
/// mount would hide it; one below it is the reference's, and the user's choice).
fn check_target(target: &str) -> Result<(), String> {
    let why = match target {
        "/" => "the workshop's root",
        "/project" => "the project directory",
        _ => return Ok(()),
    };
    Err(format!("mount plug \"workshop-target\" cannot be {why}: \"{target}\""))
}

/// Expands `$SDK`/`${SDK}` (the SDK's directory in the workshop) and `$$` (a dollar sign);
/// any other variable is refused. A `$` at the end stays.
fn expand(template: &str, sdk: &str) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, used) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => return Err(format!("unterminated variable in \"{template}\"")),
            }
        } else if after.starts_with('$') {
            ("$", 1)
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..end], end)
        };
        match name {
            "SDK" => out.push_str(&format!("{SDK_ROOT}/{sdk}")),
            "$" => out.push('$'),
            "" if used == 0 => out.push('$'),
            other => return Err(format!("unexpected variable \"{other}\"")),
        }
        rest = &after[used..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether an absolute path is in its shortest form: no empty, `.` or `..` components and no
/// trailing slash.
fn is_clean(path: &str) -> bool {
    path == "/" || path[1..].split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

fn bool_attr(attrs: &BTreeMap<String, Value>, key: &str, what: &str) -> Result<bool, String> {
    match attrs.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if matches!(s.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True") => {
            Ok(true)
        }
        Some(Value::String(s)) if matches!(s.as_str(), "0" | "f" | "F" | "false" | "FALSE" | "False") => {
            Ok(false)
        }
        Some(Value::String(s)) => Err(format!(
            "unknown value \"{s}\" in key \"{key}\" for {what}. Accepted values are the booleans true or false, or the strings \"true\" or \"false\""
        )),
        Some(other) => Err(format!(
            "unknown value type {} in key \"{key}\" for {what}. Accepted types are \"bool\" or \"string\"",
            kind(other)
        )),
    }
}

fn int_attr(attrs: &BTreeMap<String, Value>, key: &str) -> Result<Option<i64>, String> {
    let refuse = |shown: String| {
        format!(
            "unknown value {shown} in key \"{key}\" for mount interface plug. Accepted types are \"int64\" or \"string\""
        )
    };
    match attrs.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| refuse(n.to_string())),
        // The reference's words: a string that is no number names only the type it should be.
        Some(Value::String(s)) => parse_int(s).map(Some).ok_or_else(|| {
            format!("unknown value \"{s}\" in key \"{key}\" for mount interface plug. Accepted types are \"int64\"")
        }),
        Some(other) => Err(refuse(format!("type {}", kind(other)))),
    }
}

/// An integer written in C style: `0x` hex, `0o`/leading-zero octal, `0b` binary, decimal;
/// with an optional sign.
fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(h) = lower.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (8, o)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    let value = i64::from_str_radix(body, radix).ok()?;
    Some(if negative { -value } else { value })
}

const CUSTOM_DEVICE_ATTRIBUTES: [&str; 3] = ["subsystem", "vendorid", "productid"];

fn custom_device_plug(_: &str, def: &InterfaceDef) -> Result<Attributes, String> {
    let attrs = &def.attributes;
    only_known(attrs, &CUSTOM_DEVICE_ATTRIBUTES, "custom-device interface plug")?;
    let mut normalised = Attributes::new();
    for key in CUSTOM_DEVICE_ATTRIBUTES {
        let Some(value) = attrs.get(key) else { continue };
        let Value::String(text) = value else {
            return Err(format!("custom-device plug \"{key}\" is not a string (found {})", kind(value)));
        };
        let text = if key == "subsystem" {
            text.clone()
        } else {
            let digits = text.strip_prefix("0x").unwrap_or(text);
            match u16::from_str_radix(digits, 16) {
                Ok(id) if !digits.starts_with(['+', '-']) => format!("{id:04x}"),
                _ => return Err(format!("custom-device plug \"{key}\" must be a hexadecimal number")),
            }
        };
        normalised.insert(key.to_string(), Value::from(text));
    }
    let has = |k: &str| normalised.contains_key(k);
    match (has("subsystem"), has("vendorid"), has("productid")) {
        (false, false, false) => {
            Err("custom-device plug must contain \"subsystem\", \"vendorid\", or \"productid\"".into())
        }
        (_, false, true) => Err("custom-device plug contains \"productid\" without \"vendorid\"".into()),
        _ => Ok(normalised),
    }
}

/// A tunnel plug's attribute asking for a free host port when its own is taken.
pub const AUTO_PORT: &str = "auto-port";

fn tunnel_plug(_: &str, def: &InterfaceDef) -> Result<Attributes, String> {
    const WHAT: &str = "tunnel interface plug";
    only_known(&def.attributes, &["endpoint", AUTO_PORT], WHAT)?;
    let mut attrs = tunnel_endpoint(&def.attributes)?;
    if bool_attr(&def.attributes, AUTO_PORT, WHAT)? {
        attrs.insert(AUTO_PORT.to_string(), Value::from(true));
    }
    Ok(attrs)
}

fn tunnel_slot(_: &str, def: &InterfaceDef) -> Result<Attributes, String> {
    only_known(&def.attributes, &["endpoint"], "tunnel interface slot")?;
    tunnel_endpoint(&def.attributes)
}

/// The `endpoint` of a tunnel plug or slot, in its normalised form ([`TunnelEndpoint`]).
fn tunnel_endpoint(attrs: &BTreeMap<String, Value>) -> Result<Attributes, String> {
    let endpoint = TunnelEndpoint::from_attr(attrs.get("endpoint"))?;
    Ok(BTreeMap::from([("endpoint".to_string(), Value::from(endpoint.to_string()))]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(yaml: &str) -> InterfaceDef {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn plug(interface: &str, yaml: &str) -> Result<(), String> {
        crate::sdk::interfaces::interface(interface).unwrap().check_plug("dev", &def(yaml))
    }

    fn slot(sdk: &str, interface: &str, yaml: &str) -> Result<(), String> {
        interface_named(interface).check_slot(sdk, &def(yaml))
    }

    fn interface_named(name: &str) -> &'static Interface {
        interface(name).unwrap()
    }

    #[test]
    fn the_table_is_sorted_and_complete() {
        let names: Vec<&str> = INTERFACES.iter().map(|i| i.name).collect();
        assert_eq!(names, ["camera", "custom-device", "desktop", "gpu", "mount", "ssh-agent", "tunnel"]);
        assert!(interface("network").is_none());
    }

    #[test]
    fn mount_plugs() {
        assert_eq!(plug("mount", "workshop-target: /mnt/one"), Ok(()));
        assert_eq!(
            plug("mount", "workshop-target: $SDK/x\nmode: 0o755\nuid: '0x10'\nread-only: 'true'"),
            Ok(())
        );
        let cases = [
            ("{}", "mount plug must contain \"workshop-target\""),
            ("workshop-target: 3", "mount plug \"workshop-target\" is not a string (found a number)"),
            ("workshop-target: rel", "mount plug \"workshop-target\" must be absolute: \"rel\""),
            ("workshop-target: /a/../b", "mount plug \"workshop-target\" is not clean: \"/a/../b\""),
            ("workshop-target: /a/", "mount plug \"workshop-target\" is not clean: \"/a/\""),
            ("workshop-target: $HOME/x", "unexpected variable \"HOME\""),
            ("workshop-target: /", "mount plug \"workshop-target\" cannot be the workshop's root: \"/\""),
            (
                "workshop-target: /project",
                "mount plug \"workshop-target\" cannot be the project directory: \"/project\"",
            ),
            ("workshop-target: /x\nsize: 3", "unknown attribute for mount interface plug: \"size\""),
            (
                "workshop-target: /x\nmode: '0o1777'",
                "invalid value 01777 in key \"mode\" for mount interface plug: permissions limited to 0777",
            ),
            (
                "workshop-target: /x\nuid: -1",
                "invalid value -1 in key \"uid\" for mount interface plug: must be between 0 and 0xffffffff",
            ),
            (
                "workshop-target: /x\ngid: '4294967295'",
                "invalid value 4294967295 in key \"gid\" for mount interface plug: must be between 0 and 0xffffffff",
            ),
            (
                "workshop-target: /x\nuid: abc",
                "unknown value \"abc\" in key \"uid\" for mount interface plug. Accepted types are \"int64\"",
            ),
            (
                "workshop-target: /x\nread-only: yes please",
                "unknown value \"yes please\" in key \"read-only\" for mount interface plug. Accepted values are the booleans true or false, or the strings \"true\" or \"false\"",
            ),
            (
                "workshop-target: /x\nread-only: [1]",
                "unknown value type a list in key \"read-only\" for mount interface plug. Accepted types are \"bool\" or \"string\"",
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(plug("mount", yaml).unwrap_err(), want, "{yaml}");
        }
        assert_eq!(expand("/a/$$b/${SDK}/c$", "s").unwrap(), "/a/$b//var/lib/workshop/sdk/s/c$");
    }

    #[test]
    fn mount_slots() {
        assert_eq!(slot("dev", "mount", "workshop-source: $SDK/jobs"), Ok(()));
        assert_eq!(slot("system", "mount", "~"), Ok(()));
        assert_eq!(
            slot("system", "mount", "workshop-source: /x").unwrap_err(),
            "unknown attribute for system mount interface slot: \"workshop-source\""
        );
        assert_eq!(slot("dev", "mount", "~").unwrap_err(), "mount slot must contain \"workshop-source\"");
        assert_eq!(
            slot("dev", "mount", "workshop-target: /x").unwrap_err(),
            "unknown attribute for mount interface slot: \"workshop-target\""
        );
    }

    fn normalised_plug(interface: &str, yaml: &str) -> Attributes {
        super::interface(interface).unwrap().normalise_plug("dev", &def(yaml)).unwrap()
    }

    #[test]
    fn mount_plugs_get_their_defaults() {
        let attrs = normalised_plug("mount", "workshop-target: /mnt/one");
        let want = serde_json::json!({
            "workshop-target": "/mnt/one", "mode": 0o755, "uid": 0, "gid": 0, "read-only": false
        });
        assert_eq!(serde_json::to_value(&attrs).unwrap(), want);
        let attrs = normalised_plug("mount", "workshop-target: /home/workshop/data\nread-only: 'True'");
        let want = serde_json::json!({
            "workshop-target": "/home/workshop/data", "mode": 0o775, "uid": 1000, "gid": 1000, "read-only": true
        });
        assert_eq!(serde_json::to_value(&attrs).unwrap(), want);
        let attrs = normalised_plug("mount", "workshop-target: $SDK/x\nmode: '0o700'\nuid: 5\ngid: '0x10'");
        let want = serde_json::json!({
            "workshop-target": "/var/lib/workshop/sdk/dev/x", "mode": 0o700, "uid": 5, "gid": 16, "read-only": false
        });
        assert_eq!(serde_json::to_value(&attrs).unwrap(), want);
        // uid 0 given explicitly under the user's home: the root default mode.
        assert_eq!(normalised_plug("mount", "workshop-target: /project/x\nuid: 0")["mode"], 0o755);
        let slot =
            super::interface("mount").unwrap().normalise_slot("dev", &def("workshop-source: $SDK/jobs"));
        assert_eq!(slot.unwrap()["workshop-source"], "/var/lib/workshop/sdk/dev/jobs");
    }

    #[test]
    fn ids_and_endpoints_are_normalised() {
        let attrs = normalised_plug("custom-device", "vendorid: '0x1D6b'\nproductid: '2'\nsubsystem: usb");
        assert_eq!(
            serde_json::to_value(&attrs).unwrap(),
            serde_json::json!({"vendorid": "1d6b", "productid": "0002", "subsystem": "usb"})
        );
        assert_eq!(normalised_plug("tunnel", "~")["endpoint"], "127.0.0.1/tcp");
        assert_eq!(normalised_plug("tunnel", "endpoint: 8001")["endpoint"], "127.0.0.1:8001/tcp");
        assert_eq!(normalised_plug("tunnel", "endpoint: 8001\nauto-port: true")["auto-port"], true);
        assert!(!normalised_plug("tunnel", "endpoint: 8001\nauto-port: 'false'").contains_key("auto-port"));
        assert_eq!(normalised_plug("tunnel", "endpoint: '[::1]:8000'")["endpoint"], "[::1]:8000/tcp");
    }

    #[test]
    fn custom_devices() {
        assert_eq!(plug("custom-device", "subsystem: usb"), Ok(()));
        assert_eq!(plug("custom-device", "vendorid: '0x1D6b'\nproductid: '0002'"), Ok(()));
        let cases = [
            ("~", "custom-device plug must contain \"subsystem\", \"vendorid\", or \"productid\""),
            ("productid: '1'", "custom-device plug contains \"productid\" without \"vendorid\""),
            ("vendorid: 12345", "custom-device plug \"vendorid\" is not a string (found a number)"),
            ("vendorid: '12345'", "custom-device plug \"vendorid\" must be a hexadecimal number"),
            ("vendorid: 'xyz'", "custom-device plug \"vendorid\" must be a hexadecimal number"),
            ("model: x", "unknown attribute for custom-device interface plug: \"model\""),
        ];
        for (yaml, want) in cases {
            assert_eq!(plug("custom-device", yaml).unwrap_err(), want, "{yaml}");
        }
    }

    #[test]
    fn tunnel_endpoints() {
        for good in [
            "~",
            "endpoint: 5432",
            "endpoint: '8000'",
            "endpoint: '[::1]:8000'",
            "endpoint: '@abstract'",
            "endpoint: /run/x.sock",
            "endpoint: $XDG_RUNTIME_DIR/x",
            "endpoint: udp",
            "endpoint: 1234/udp",
            "endpoint: localhost",
            "endpoint: 10.0.0.1:80/tcp",
            "endpoint: '::1'",
            "endpoint: ip6-localhost:9",
        ] {
            assert_eq!(slot("dev", "tunnel", good), Ok(()), "{good}");
        }
        let cases = [
            ("endpoint: example.com:80", "invalid IP address \"example.com\""),
            ("endpoint: '[127.0.0.1]:80'", "invalid bracketed address \"[127.0.0.1]:80\""),
            ("endpoint: localhost:70000", "invalid port \"70000\": value out of range"),
            ("endpoint: localhost:http", "invalid port \"http\": invalid syntax"),
            ("endpoint: [1]", "tunnel endpoint is not a number or a string (found a list)"),
            ("port: 3", "unknown attribute for tunnel interface plug: \"port\""),
        ];
        for (yaml, want) in cases {
            assert_eq!(plug("tunnel", yaml).unwrap_err(), want, "{yaml}");
        }
    }

    #[test]
    fn device_interfaces_take_anything() {
        for name in ["gpu", "camera", "ssh-agent", "desktop"] {
            assert_eq!(plug(name, "extra: 1"), Ok(()));
        }
    }

    #[test]
    fn c_style_integers() {
        for (text, want) in
            [("10", 10), ("0x1f", 31), ("0o17", 15), ("017", 15), ("0b11", 3), ("-4", -4), ("0", 0)]
        {
            assert_eq!(parse_int(text), Some(want), "{text}");
        }
        for bad in ["", "0x", "abc", "--1", "08"] {
            assert_eq!(parse_int(bad), None, "{bad}");
        }
    }
}
