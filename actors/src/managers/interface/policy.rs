//! The policy of the built-in interfaces (reference-inventory §4.0, §4.1): who may declare a
//! plug or slot of each interface (installation), which plug may be connected to which slot
//! (connection), and which connections are made without being asked (auto-connection).
//!
//! Deliberate difference from the reference: a connection listed in the definition's
//! `connections:` is made at launch whenever a manual `workshop connect` of it would be
//! allowed, except for the interfaces whose auto-connection the reference denies outright
//! (camera, custom-device, desktop, ssh-agent: they reach the user's devices and session,
//! so only `workshop connect` makes them). See ARCHITECTURE.md, "Interfaces".

use workshop_api::sdk::tunnel::TunnelEndpoint;

use super::repo::Endpoint;

/// A plug or a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Plug,
    Slot,
}

impl Side {
    fn word(self) -> &'static str {
        match self {
            Side::Plug => "plug",
            Side::Slot => "slot",
        }
    }
}

/// Interfaces whose auto-connection is denied: they connect only by `workshop connect`.
const MANUAL_ONLY: [&str; 4] = ["camera", "custom-device", "desktop", "ssh-agent"];

/// Whether the SDK of `endpoint` may declare it (checked when an SDK is installed and when
/// a definition grafts plugs and slots). The refusal is the reference's:
/// `installation not allowed by "<name>" <plug|slot> rule of interface "<interface>"`.
pub fn check_installation(endpoint: &Endpoint, side: Side) -> Result<(), String> {
    let (interface, name, system) = (endpoint.interface.as_str(), endpoint.name.as_str(), endpoint.system);
    let allowed = match (interface, side) {
        // Tunnels go both ways: any SDK may declare either side.
        ("tunnel", _) => true,
        // A mount source is the host (the system `mount` slot) or another SDK's directory.
        ("mount", Side::Plug) => !system,
        ("mount", Side::Slot) => !system || name == "mount",
        // Any name: several devices may be asked for.
        ("custom-device", Side::Plug) => !system,
        // The host's devices and session: one plug of the interface's name per regular SDK,
        // and the system SDK's own slot.
        ("gpu" | "camera" | "ssh-agent" | "desktop", Side::Plug) => !system && name == interface,
        ("gpu" | "camera" | "ssh-agent" | "desktop" | "custom-device", Side::Slot) => {
            system && name == interface
        }
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(format!("installation not allowed by {name:?} {} rule of interface {interface:?}", side.word()))
    }
}

/// Whether `plug` may be connected to `slot` by `workshop connect` (both of one workshop,
/// both installed). Tunnel endpoints are checked to pair ([`tunnel_pair`]).
pub fn check_connection(plug: &Endpoint, slot: &Endpoint) -> Result<(), String> {
    if plug.interface != slot.interface {
        return Err(format!(
            "cannot connect {}:{} ({:?} interface) to {}:{} ({:?} interface)",
            plug.sdk, plug.name, plug.interface, slot.sdk, slot.name, slot.interface
        ));
    }
    if plug.interface == "tunnel" {
        tunnel_pair(plug, slot)?;
    }
    Ok(())
}

/// Whether a plug of `interface` connects to one slot at a time: a mount plug has one
/// target (a second source would be mounted over the first, and a disconnect could not take
/// the one below away), a tunnel plug one endpoint (a second tunnel would listen on it too).
pub fn one_slot_only(interface: &str) -> bool {
    matches!(interface, "mount" | "tunnel")
}

/// Whether the interface lets `plug` connect to `slot` without being asked; `explicit` when
/// the definition lists the connection (the reference's `auto-explicit`).
pub fn allows_auto_connection(plug: &Endpoint, slot: &Endpoint, explicit: bool) -> bool {
    auto_connection_rule(plug, slot, explicit) && check_connection(plug, slot).is_ok()
}

/// The interface's rule for connections made without being asked, before the endpoints
/// are checked to pair: a listed (`explicit`) connection whose rule holds and whose
/// endpoints do not pair is the definition's error.
pub fn auto_connection_rule(plug: &Endpoint, slot: &Endpoint, explicit: bool) -> bool {
    if plug.interface != slot.interface || MANUAL_ONLY.contains(&plug.interface.as_str()) {
        return false;
    }
    match plug.interface.as_str() {
        "mount" => explicit || slot.system,
        "gpu" => true,
        // A host port opened by itself only for a system plug on a regular SDK's slot of its
        // name (or listed), and only on the host's loopback (or a unix socket), listed or
        // not: never reachable from other machines.
        "tunnel" => {
            plug.system
                && !slot.system
                && (explicit || plug.name == slot.name)
                && endpoint_of(plug).map(|e| e.is_local()).unwrap_or(false)
        }
        _ => explicit,
    }
}

/// Which way a tunnel goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// A system plug: listens on the host, connects inside the workshop.
    HostToWorkshop,
    /// A regular plug on the system slot: listens inside, connects on the host.
    WorkshopToHost,
}

/// A tunnel ready to become a proxy device: where it listens and where it connects, ports
/// filled in from the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelPair {
    pub direction: Direction,
    pub listen: TunnelEndpoint,
    pub connect: TunnelEndpoint,
}

impl TunnelPair {
    /// The pair listening on `host_port` instead, when it listens on a host IP port.
    pub fn on_host_port(mut self, host_port: Option<u16>) -> TunnelPair {
        if let (Direction::HostToWorkshop, TunnelEndpoint::Inet { port, .. }, Some(p)) =
            (&self.direction, &mut self.listen, host_port)
        {
            *port = Some(p);
        }
        self
    }
}

fn endpoint_of(e: &Endpoint) -> Result<TunnelEndpoint, String> {
    let text = e.attrs.get("endpoint").and_then(|v| v.as_str()).unwrap_or("127.0.0.1/tcp");
    TunnelEndpoint::parse(text)
}

/// The tunnel between `plug` and `slot` (reference `tunnel.go`): one side on the system
/// SDK, the other on a regular one; UDP pairs only with UDP; a port missing on one side is
/// the other side's; the host side listens only on ports from 1024. Errors in the reference's
/// words.
pub fn tunnel_pair(plug: &Endpoint, slot: &Endpoint) -> Result<TunnelPair, String> {
    let direction = match (plug.system, slot.system) {
        (true, false) => Direction::HostToWorkshop,
        (false, true) => Direction::WorkshopToHost,
        (false, false) => return Err("cannot connect regular SDKs from the same workshop".into()),
        (true, true) => return Err("cannot connect system SDK to itself".into()),
    };
    let (mut listen, mut connect) = (endpoint_of(plug)?, endpoint_of(slot)?);
    let udp = |e: &TunnelEndpoint| matches!(e, TunnelEndpoint::Inet { udp: true, .. });
    if udp(&listen) != udp(&connect) {
        return Err(format!("{} and {} are incompatible", listen.protocol(), connect.protocol()));
    }
    let port = |e: &TunnelEndpoint| match e {
        TunnelEndpoint::Inet { port, .. } => *port,
        TunnelEndpoint::Unix(_) => None,
    };
    let (lp, cp) = (port(&listen), port(&connect));
    let is_inet = |e: &TunnelEndpoint| matches!(e, TunnelEndpoint::Inet { .. });
    match (lp, cp) {
        // A unix socket has no port to give the other side: the reference's words all the same.
        (None, None) if is_inet(&listen) || is_inet(&connect) => return Err("both ports unspecified".into()),
        (Some(0), _) | (_, Some(0)) => return Err("port 0 not currently supported".into()),
        _ => {}
    }
    for (e, other) in [(&mut listen, cp), (&mut connect, lp)] {
        if let TunnelEndpoint::Inet { port: p @ None, .. } = e {
            *p = other;
        }
    }
    if direction == Direction::HostToWorkshop
        && let TunnelEndpoint::Inet { port: Some(p), .. } = listen
        && p < 1024
    {
        return Err(format!("port {p} is privileged (a host port below 1024)"));
    }
    Ok(TunnelPair { direction, listen, connect })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn ep(sdk: &str, name: &str, interface: &str, attrs: &[(&str, Value)]) -> Endpoint {
        Endpoint {
            sdk: sdk.into(),
            name: name.into(),
            interface: interface.into(),
            label: None,
            attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            system: sdk == "system",
        }
    }

    fn tunnel(sdk: &str, name: &str, endpoint: &str) -> Endpoint {
        let normal = TunnelEndpoint::parse(endpoint).unwrap().to_string();
        ep(sdk, name, "tunnel", &[("endpoint", Value::from(normal))])
    }

    fn installs(sdk: &str, name: &str, interface: &str, side: Side) -> Result<(), String> {
        check_installation(&ep(sdk, name, interface, &[]), side)
    }

    #[test]
    fn installation_rules_of_every_interface() {
        let allowed = [
            ("dev", "data", "mount", Side::Plug),
            ("dev", "venv", "mount", Side::Slot),
            ("system", "mount", "mount", Side::Slot),
            ("dev", "gpu", "gpu", Side::Plug),
            ("system", "gpu", "gpu", Side::Slot),
            ("dev", "camera", "camera", Side::Plug),
            ("system", "camera", "camera", Side::Slot),
            ("dev", "stick", "custom-device", Side::Plug),
            ("system", "custom-device", "custom-device", Side::Slot),
            ("dev", "ssh-agent", "ssh-agent", Side::Plug),
            ("system", "ssh-agent", "ssh-agent", Side::Slot),
            ("dev", "desktop", "desktop", Side::Plug),
            ("system", "desktop", "desktop", Side::Slot),
            ("dev", "http", "tunnel", Side::Plug),
            ("dev", "http", "tunnel", Side::Slot),
            ("system", "web", "tunnel", Side::Plug),
            ("system", "postgres", "tunnel", Side::Slot),
        ];
        for (sdk, name, interface, side) in allowed {
            assert_eq!(installs(sdk, name, interface, side), Ok(()), "{sdk}:{name} {interface} {side:?}");
        }
        let refused = [
            ("system", "data", "mount", Side::Plug),
            ("system", "other", "mount", Side::Slot),
            ("dev", "graphics", "gpu", Side::Plug),
            ("system", "gpu", "gpu", Side::Plug),
            ("dev", "gpu", "gpu", Side::Slot),
            ("system", "user-camera", "camera", Side::Slot),
            ("dev", "camera", "camera", Side::Slot),
            ("system", "user-desktop", "desktop", Side::Slot),
            ("system", "user-ssh", "ssh-agent", Side::Slot),
            ("dev", "ssh", "ssh-agent", Side::Plug),
            ("system", "stick", "custom-device", Side::Plug),
            ("dev", "custom-device", "custom-device", Side::Slot),
        ];
        for (sdk, name, interface, side) in refused {
            assert!(installs(sdk, name, interface, side).is_err(), "{sdk}:{name} {interface} {side:?}");
        }
        // The reference's words (C-11).
        assert_eq!(
            installs("system", "user-camera", "camera", Side::Slot).unwrap_err(),
            "installation not allowed by \"user-camera\" slot rule of interface \"camera\""
        );
        assert_eq!(
            installs("system", "data", "mount", Side::Plug).unwrap_err(),
            "installation not allowed by \"data\" plug rule of interface \"mount\""
        );
    }

    #[test]
    fn mount_connects_by_itself_only_to_the_host() {
        let plug = ep("dev", "one", "mount", &[("workshop-target", Value::from("/mnt/one"))]);
        let host = ep("system", "mount", "mount", &[]);
        let other = ep("uv", "venv", "mount", &[("workshop-source", Value::from("/x"))]);
        assert!(allows_auto_connection(&plug, &host, false));
        assert!(!allows_auto_connection(&plug, &other, false));
        assert!(allows_auto_connection(&plug, &other, true), "listed in connections:");
        assert_eq!(check_connection(&plug, &other), Ok(()), "manual");
        assert_eq!(check_connection(&plug, &host), Ok(()), "manual");
        let gpu = ep("system", "gpu", "gpu", &[]);
        assert_eq!(
            check_connection(&plug, &gpu).unwrap_err(),
            "cannot connect dev:one (\"mount\" interface) to system:gpu (\"gpu\" interface)"
        );
        assert!(!allows_auto_connection(&plug, &gpu, true));
    }

    #[test]
    fn gpu_connects_by_itself() {
        let plug = ep("dev", "gpu", "gpu", &[]);
        let slot = ep("system", "gpu", "gpu", &[]);
        assert!(allows_auto_connection(&plug, &slot, false));
        assert_eq!(check_connection(&plug, &slot), Ok(()));
    }

    #[test]
    fn device_and_session_interfaces_connect_only_by_hand() {
        for interface in ["camera", "custom-device", "desktop", "ssh-agent"] {
            let plug = ep("dev", interface, interface, &[]);
            let slot = ep("system", interface, interface, &[]);
            assert_eq!(check_connection(&plug, &slot), Ok(()), "{interface} manual");
            assert!(!allows_auto_connection(&plug, &slot, false), "{interface} auto");
            // Not even when the definition lists it (C-13).
            assert!(!allows_auto_connection(&plug, &slot, true), "{interface} listed");
        }
        // A custom-device plug may have any name; another interface's slot is refused.
        let stick = ep("dev", "stick", "custom-device", &[("vendorid", Value::from("0403"))]);
        assert_eq!(check_connection(&stick, &ep("system", "custom-device", "custom-device", &[])), Ok(()));
        let camera = ep("dev", "camera", "camera", &[]);
        assert_eq!(
            check_connection(&camera, &ep("system", "desktop", "desktop", &[])).unwrap_err(),
            "cannot connect dev:camera (\"camera\" interface) to system:desktop (\"desktop\" interface)"
        );
        assert!(!allows_auto_connection(&camera, &ep("system", "desktop", "desktop", &[]), true));
    }

    #[test]
    fn tunnels_connect_by_themselves_by_name_on_loopback() {
        let by_name = tunnel("system", "acbn", "@workshopacbn");
        let slot = tunnel("dev", "acbn", "9999");
        assert!(allows_auto_connection(&by_name, &slot, false));
        // Other names only when listed; an address others can reach only when listed.
        let http = tunnel("system", "test-sdk-http", "8001");
        let dev_http = tunnel("dev", "http", "[::1]:8000");
        assert!(!allows_auto_connection(&http, &dev_http, false));
        assert!(allows_auto_connection(&http, &dev_http, true));
        // An address others can reach never, listed or not (the reference's AutoConnect).
        let open = tunnel("system", "conflict", "0.0.0.0:8000");
        let dev_conflict = tunnel("dev", "conflict", "8000");
        assert!(!allows_auto_connection(&open, &dev_conflict, false));
        assert!(!allows_auto_connection(&open, &dev_conflict, true));
        // A regular plug on a system slot connects only by hand, listed or not.
        let postgres = tunnel("dev", "postgres", "5432");
        let host_postgres = tunnel("system", "postgres", "54321");
        assert!(!allows_auto_connection(&postgres, &host_postgres, false));
        assert!(!allows_auto_connection(&postgres, &host_postgres, true));
        assert_eq!(check_connection(&postgres, &host_postgres), Ok(()));
    }

    #[test]
    fn tunnel_pairs() {
        let pair =
            tunnel_pair(&tunnel("system", "web", "127.0.0.1:8989"), &tunnel("web", "http", "8080")).unwrap();
        assert_eq!(pair.direction, Direction::HostToWorkshop);
        assert_eq!(pair.listen.to_string(), "127.0.0.1:8989/tcp");
        assert_eq!(pair.connect.to_string(), "127.0.0.1:8080/tcp");
        // A missing port is the other side's.
        let pair =
            tunnel_pair(&tunnel("dev", "alias", "tcp"), &tunnel("system", "postgres", "54321")).unwrap();
        assert_eq!(pair.direction, Direction::WorkshopToHost);
        assert_eq!(pair.listen.to_string(), "127.0.0.1:54321/tcp");
        let pair =
            tunnel_pair(&tunnel("system", "tunnel", "tcp"), &tunnel("dev", "http", "[::1]:8000")).unwrap();
        assert_eq!(pair.listen.to_string(), "127.0.0.1:8000/tcp");
        // Unix sockets need no port.
        let pair =
            tunnel_pair(&tunnel("system", "u", "$HOME/t.sock"), &tunnel("dev", "u", "@abstract")).unwrap();
        assert_eq!(pair.listen, TunnelEndpoint::Unix("$HOME/t.sock".into()));
        let refused = [
            (
                tunnel("dev", "a", "1"),
                tunnel("dev", "b", "2"),
                "cannot connect regular SDKs from the same workshop",
            ),
            (
                tunnel("system", "a", "2000"),
                tunnel("system", "b", "2"),
                "cannot connect system SDK to itself",
            ),
            (tunnel("system", "a", "tcp"), tunnel("dev", "b", "udp"), "tcp and udp are incompatible"),
            (tunnel("system", "a", "tcp"), tunnel("dev", "b", "tcp"), "both ports unspecified"),
            (tunnel("system", "a", "0"), tunnel("dev", "b", "3"), "port 0 not currently supported"),
            (
                tunnel("system", "a", "tcp"),
                tunnel("dev", "b", "80"),
                "port 80 is privileged (a host port below 1024)",
            ),
        ];
        for (plug, slot, want) in refused {
            assert_eq!(tunnel_pair(&plug, &slot).unwrap_err(), want);
            assert!(!allows_auto_connection(&plug, &slot, true));
        }
    }
}
