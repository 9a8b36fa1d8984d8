//! The guest's machine id (`/etc/machine-id`): chosen by the daemon when a workshop is made,
//! kept in the instance's config under [`KEY`], and written into the guest by an LXD template
//! when a new instance (created or copied) first starts, before its init runs. A rebuilt
//! instance is given the key of the one it replaces, so a refresh or a restore keeps the
//! workshop's id without a file operation on a stopped instance; a fork, a layer snapshot's
//! copy or a new workshop gets its own. A copy of an instance whose key is empty gets an empty
//! file, and systemd makes an id at the boot.

/// Config key holding the machine id the guest is given.
pub(super) const KEY: &str = "user.workshop.machine-id";
/// Where systemd keeps the machine id (`/var/lib/dbus/machine-id` links to it in the image).
pub(super) const PATH: &str = "/etc/machine-id";
/// The template's file name in the instance's templates.
pub(super) const TEMPLATE_FILE: &str = "workshop-machine-id.tpl";

/// The file's content as an LXD (pongo2) template: the id and a newline, or nothing.
pub(super) fn template() -> String {
    let get = format!("config_get(\"{KEY}\", \"\")");
    format!("{{% if {get} %}}{{{{ {get} }}}}\n{{% endif %}}")
}

/// A new random id, as systemd makes them (a version 4 UUID without dashes).
pub(super) fn new_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The machine id `body` holds: 32 lowercase hex digits and an optional newline, nothing else.
pub(super) fn parse(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let id = text.strip_suffix('\n').unwrap_or(text);
    let valid = id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    valid.then(|| id.to_string())
}

/// The valid id an instance's config gives its guest, if any.
pub(super) fn of_config(config: &std::collections::BTreeMap<String, String>) -> Option<String> {
    config.get(KEY).and_then(|id| parse(id.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_machine_id_is_kept() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(parse(format!("{id}\n").as_bytes()).as_deref(), Some(id));
        assert_eq!(parse(id.as_bytes()).as_deref(), Some(id));
        for bad in [
            String::new(),
            "\n".to_string(),
            "uninitialized\n".to_string(),
            format!("{}\n", id.to_uppercase()),
            format!("{id}\n\n"),
            format!("{id}0\n"),
            format!(" {id}"),
            format!("{}\n", &id[..31]),
            "root:*:20228:0:99999:7:::\n".to_string(),
            // What the template would turn into more than one line.
            format!("{id}\n{{% endif %}}"),
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse(&[0xff; 33]), None);
    }

    #[test]
    fn new_ids_are_valid_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(parse(a.as_bytes()).as_deref(), Some(a.as_str()));
        assert_ne!(a, b);
        assert_eq!(&a[12..13], "4", "{a}");
    }

    #[test]
    fn the_template_renders_the_key_or_nothing() {
        assert_eq!(
            template(),
            r#"{% if config_get("user.workshop.machine-id", "") %}{{ config_get("user.workshop.machine-id", "") }}
{% endif %}"#
        );
        let config = std::collections::BTreeMap::from([(
            KEY.to_string(),
            "0123456789abcdef0123456789abcdef".to_string(),
        )]);
        assert_eq!(of_config(&config).as_deref(), Some("0123456789abcdef0123456789abcdef"));
        let bad = std::collections::BTreeMap::from([(KEY.to_string(), "{{ x }}".to_string())]);
        assert_eq!(of_config(&bad), None);
    }
}
