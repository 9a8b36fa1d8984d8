//! The custom-device interface's devices (reference-inventory §4.1, `custom-device`): host
//! unix devices matched by the plug's kernel subsystem, vendor and product ids (normalised by
//! `workshop_api::sdk::interfaces`), hotplugged as they come and go.

use std::collections::BTreeMap;

use serde_json::Value;

use super::camera::hotplug_device;
use crate::backend::{Device, HotplugSupport};

/// The device of a custom-device plug (named `<sdk>_<plug>`), or a note when LXD cannot
/// match what the plug asks for (a subsystem on LXD 5.0): the match is never widened.
pub fn device(attrs: &BTreeMap<String, Value>, support: HotplugSupport) -> Result<Device, String> {
    let get = |key: &str| attrs.get(key).and_then(Value::as_str).filter(|v| !v.is_empty());
    let matches: Vec<(&str, &str)> =
        ["subsystem", "vendorid", "productid"].into_iter().filter_map(|k| get(k).map(|v| (k, v))).collect();
    if matches.is_empty() {
        return Err("the custom-device plug names no subsystem, vendorid or productid".into());
    }
    if get("subsystem").is_some() && !support.subsystem {
        return Err("This LXD cannot pass devices by subsystem: the custom-device connection gives the workshop no device".into());
    }
    Ok(hotplug_device(&matches, support))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect()
    }

    fn dev(pairs: &[(&str, &str)]) -> Device {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn hotplug_devices_from_the_plugs_attributes() {
        let full = HotplugSupport::FULL;
        let d = device(&attrs(&[("subsystem", "usb"), ("vendorid", "1d6b"), ("productid", "0002")]), full);
        assert_eq!(
            d.unwrap(),
            dev(&[
                ("type", "unix-hotplug"),
                ("required", "false"),
                ("ownership.inherit", "true"),
                ("subsystem", "usb"),
                ("vendorid", "1d6b"),
                ("productid", "0002"),
            ])
        );
        let d = device(&attrs(&[("subsystem", "tty")]), full).unwrap();
        assert_eq!(
            d,
            dev(&[
                ("type", "unix-hotplug"),
                ("required", "false"),
                ("ownership.inherit", "true"),
                ("subsystem", "tty")
            ])
        );
        assert!(device(&attrs(&[]), full).is_err());
    }

    #[test]
    fn an_older_lxd_never_gets_a_wider_match() {
        let old = HotplugSupport { subsystem: false, ownership_inherit: false };
        let d = device(&attrs(&[("vendorid", "0403"), ("productid", "6001")]), old).unwrap();
        assert_eq!(
            d,
            dev(&[
                ("type", "unix-hotplug"),
                ("required", "false"),
                ("vendorid", "0403"),
                ("productid", "6001")
            ])
        );
        let refused = device(&attrs(&[("subsystem", "usb"), ("vendorid", "0403")]), old).unwrap_err();
        assert!(refused.contains("no device"), "{refused}");
    }
}
