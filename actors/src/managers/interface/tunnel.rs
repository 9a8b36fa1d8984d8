//! The tunnel interface's devices (reference-inventory §4.1, `tunnel`): an LXD proxy device
//! per connection. Only TCP and UDP tunnels are made so far: a unix socket on the host would
//! be created by LXD as root at a path the user names, which needs the user-path checks of
//! the host side first.

use std::collections::BTreeMap;

use workshop_api::sdk::tunnel::TunnelEndpoint;

use super::policy::{self, Direction};
use super::repo::Endpoint;
use crate::backend::Device;

/// Whether the tunnel between `plug` and `slot` can be made here (both sides IP endpoints
/// that pair).
pub fn is_built(plug: &Endpoint, slot: &Endpoint) -> bool {
    matches!(
        policy::tunnel_pair(plug, slot),
        Ok(p) if matches!(p.listen, TunnelEndpoint::Inet { .. }) && matches!(p.connect, TunnelEndpoint::Inet { .. })
    )
}

/// `tcp:127.0.0.1:80`, `udp:[::1]:53`.
fn address(e: &TunnelEndpoint) -> Option<String> {
    let TunnelEndpoint::Inet { ip, port: Some(port), .. } = e else { return None };
    let host = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
    Some(format!("{}:{host}:{port}", e.protocol()))
}

/// The proxy device of a tunnel: a system plug listens on the host and connects inside the
/// workshop; a plug on a system slot listens inside and connects on the host.
pub fn device(plug: &Endpoint, slot: &Endpoint) -> Result<Device, String> {
    let pair = policy::tunnel_pair(plug, slot)?;
    let (listen, connect) = match (address(&pair.listen), address(&pair.connect)) {
        (Some(l), Some(c)) => (l, c),
        _ => return Err("cannot make a tunnel of a unix socket yet".into()),
    };
    let bind = match pair.direction {
        Direction::HostToWorkshop => "host",
        Direction::WorkshopToHost => "instance",
    };
    Ok(BTreeMap::from([
        ("type".to_string(), "proxy".to_string()),
        ("bind".to_string(), bind.to_string()),
        ("listen".to_string(), listen),
        ("connect".to_string(), connect),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn tunnel(sdk: &str, name: &str, endpoint: &str) -> Endpoint {
        let normal = TunnelEndpoint::parse(endpoint).unwrap().to_string();
        Endpoint {
            sdk: sdk.into(),
            name: name.into(),
            interface: "tunnel".into(),
            label: None,
            attrs: BTreeMap::from([("endpoint".to_string(), Value::from(normal))]),
            system: sdk == "system",
        }
    }

    #[test]
    fn proxy_devices_both_ways() {
        let d = device(&tunnel("system", "web", "127.0.0.1:8989"), &tunnel("web", "http", "8080")).unwrap();
        assert_eq!(d["bind"], "host");
        assert_eq!(d["listen"], "tcp:127.0.0.1:8989");
        assert_eq!(d["connect"], "tcp:127.0.0.1:8080");
        let d = device(&tunnel("dev", "postgres", "5432"), &tunnel("system", "postgres", "54321")).unwrap();
        assert_eq!((d["bind"].as_str(), d["listen"].as_str()), ("instance", "tcp:127.0.0.1:5432"));
        assert_eq!(d["connect"], "tcp:127.0.0.1:54321");
        let d = device(&tunnel("system", "t", "tcp"), &tunnel("dev", "http", "[::1]:8000")).unwrap();
        assert_eq!((d["listen"].as_str(), d["connect"].as_str()), ("tcp:127.0.0.1:8000", "tcp:[::1]:8000"));
        let d = device(&tunnel("system", "u", "1053/udp"), &tunnel("dev", "dns", "udp")).unwrap();
        assert_eq!(
            (d["listen"].as_str(), d["connect"].as_str()),
            ("udp:127.0.0.1:1053", "udp:127.0.0.1:1053")
        );
        // Unix sockets are not made yet.
        let unix = (tunnel("system", "acbn", "@workshopacbn"), tunnel("dev", "acbn", "9999"));
        assert!(!is_built(&unix.0, &unix.1));
        assert!(device(&unix.0, &unix.1).is_err());
        assert!(is_built(&tunnel("system", "web", "8989"), &tunnel("web", "http", "8080")));
    }
}
