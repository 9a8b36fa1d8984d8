//! The `endpoint` of a tunnel plug or slot (reference-inventory §4.1, `tunnel`): a port, an
//! address with an optional port and protocol, or a unix socket.
//!
//! Written forms: `1234`, `1234/udp`, `tcp`, `udp`, `<host>`, `<host>:<port>[/tcp|/udp]`,
//! `[<v6>]:<port>`; no endpoint means `localhost/tcp`. Hosts are IP addresses or the
//! loopback aliases (`localhost` → 127.0.0.1, `ip6-localhost`/`ip6-loopback` → ::1), never
//! DNS names. Unix sockets: an absolute path, `@abstract`, or a path starting with `$`
//! (`$HOME`, `$XDG_RUNTIME_DIR`), expanded when connected.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use super::kind;

/// A parsed tunnel endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelEndpoint {
    /// An IP endpoint; `port` may be left for the other side to give.
    Inet { ip: IpAddr, port: Option<u16>, udp: bool },
    /// A unix socket: `/path`, `@abstract` or `$VAR/...`.
    Unix(String),
}

impl TunnelEndpoint {
    /// The endpoint when none is written: `localhost/tcp`.
    pub const DEFAULT: TunnelEndpoint =
        TunnelEndpoint::Inet { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port: None, udp: false };

    /// Reads the `endpoint` attribute (absent: [`TunnelEndpoint::DEFAULT`]).
    pub fn from_attr(value: Option<&Value>) -> Result<TunnelEndpoint, String> {
        match value {
            None => Ok(TunnelEndpoint::DEFAULT),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(port) => TunnelEndpoint::parse(&port.to_string()),
                None => Err(format!("invalid port \"{n}\": invalid syntax")),
            },
            Some(Value::String(s)) => TunnelEndpoint::parse(s),
            Some(other) => {
                Err(format!("tunnel endpoint is not a number or a string (found {})", kind(other)))
            }
        }
    }

    /// Parses a written endpoint.
    pub fn parse(text: &str) -> Result<TunnelEndpoint, String> {
        if text.starts_with(['/', '@', '$']) {
            return Ok(TunnelEndpoint::Unix(text.to_string()));
        }
        let (address, udp) = match text {
            "tcp" => ("", false),
            "udp" => ("", true),
            _ => match (text.strip_suffix("/udp"), text.strip_suffix("/tcp")) {
                (Some(a), _) => (a, true),
                (_, Some(a)) => (a, false),
                _ => (text, false),
            },
        };
        if address.is_empty() {
            return Ok(TunnelEndpoint::Inet { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port: None, udp });
        }
        let (host, port) = split_address(address);
        if address.starts_with('[') && !host.contains(':') {
            return Err(format!("invalid bracketed address \"{address}\""));
        }
        let ip = match host {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            "ip6-localhost" | "ip6-loopback" => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => other.parse::<IpAddr>().map_err(|_| format!("invalid IP address \"{other}\""))?,
        };
        let port = if port.is_empty() {
            None
        } else {
            let why = if port.bytes().all(|b| b.is_ascii_digit()) {
                "value out of range"
            } else {
                "invalid syntax"
            };
            Some(port.parse::<u16>().map_err(|_| format!("invalid port \"{port}\": {why}"))?)
        };
        Ok(TunnelEndpoint::Inet { ip, port, udp })
    }

    /// Whether a connection may be made automatically from this (host-side) endpoint: a
    /// loopback address or a unix socket, never one other machines can reach.
    pub fn is_local(&self) -> bool {
        match self {
            TunnelEndpoint::Inet { ip, .. } => ip.is_loopback(),
            TunnelEndpoint::Unix(_) => true,
        }
    }

    /// `tcp`, `udp` or `unix`.
    pub fn protocol(&self) -> &'static str {
        match self {
            TunnelEndpoint::Inet { udp: false, .. } => "tcp",
            TunnelEndpoint::Inet { udp: true, .. } => "udp",
            TunnelEndpoint::Unix(_) => "unix",
        }
    }
}

/// The normalised form: `<ip>[:<port>]/<tcp|udp>` (IPv6 in brackets when a port follows), or
/// the unix socket as written.
impl fmt::Display for TunnelEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelEndpoint::Unix(path) => f.write_str(path),
            TunnelEndpoint::Inet { ip, port, udp } => {
                let proto = if *udp { "udp" } else { "tcp" };
                match (ip, port) {
                    (IpAddr::V6(v6), Some(p)) => write!(f, "[{v6}]:{p}/{proto}"),
                    (ip, Some(p)) => write!(f, "{ip}:{p}/{proto}"),
                    (ip, None) => write!(f, "{ip}/{proto}"),
                }
            }
        }
    }
}

/// Host and port of an address; a string of digits is a port on localhost.
fn split_address(address: &str) -> (&str, &str) {
    if address.bytes().all(|b| b.is_ascii_digit()) {
        return ("localhost", address);
    }
    if let Some(inner) = address.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((host, "")) => (host, ""),
            Some((host, rest)) => match rest.strip_prefix(':') {
                Some(port) if !port.is_empty() && !host.is_empty() => (host, port),
                _ => (address, ""),
            },
            None => (address, ""),
        };
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.is_empty() && !host.contains(':') => (host, port),
        Some((host, "")) if !host.is_empty() && !host.contains(':') => (host, ""),
        _ => (address, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> String {
        TunnelEndpoint::parse(text).unwrap().to_string()
    }

    #[test]
    fn written_forms_normalise() {
        let cases = [
            ("1234", "127.0.0.1:1234/tcp"),
            ("1234/udp", "127.0.0.1:1234/udp"),
            ("tcp", "127.0.0.1/tcp"),
            ("udp", "127.0.0.1/udp"),
            ("localhost", "127.0.0.1/tcp"),
            ("ip6-localhost:9", "[::1]:9/tcp"),
            ("[::1]:8000", "[::1]:8000/tcp"),
            ("::1", "::1/tcp"),
            ("0.0.0.0:8000", "0.0.0.0:8000/tcp"),
            ("10.0.0.1:80/tcp", "10.0.0.1:80/tcp"),
            ("@abstract", "@abstract"),
            ("$HOME/x.sock", "$HOME/x.sock"),
            ("/run/x.sock", "/run/x.sock"),
        ];
        for (text, want) in cases {
            assert_eq!(norm(text), want, "{text}");
        }
        assert_eq!(TunnelEndpoint::from_attr(None).unwrap().to_string(), "127.0.0.1/tcp");
        assert_eq!(
            TunnelEndpoint::from_attr(Some(&Value::from(54321))).unwrap().to_string(),
            "127.0.0.1:54321/tcp"
        );
        // The normalised form reads back as itself.
        for text in ["127.0.0.1:1/udp", "[::1]:8000/tcp", "127.0.0.1/tcp"] {
            assert_eq!(norm(&norm(text)), text);
        }
    }

    #[test]
    fn only_loopback_and_unix_endpoints_are_local() {
        assert!(TunnelEndpoint::parse("8001").unwrap().is_local());
        assert!(TunnelEndpoint::parse("@workshopacbn").unwrap().is_local());
        assert!(TunnelEndpoint::parse("[::1]:1").unwrap().is_local());
        assert!(!TunnelEndpoint::parse("0.0.0.0:8000").unwrap().is_local());
        assert!(!TunnelEndpoint::parse("10.1.2.3:8000").unwrap().is_local());
    }

    #[test]
    fn bad_endpoints_say_why() {
        let cases = [
            ("example.com:80", "invalid IP address \"example.com\""),
            ("[127.0.0.1]:80", "invalid bracketed address \"[127.0.0.1]:80\""),
            ("localhost:70000", "invalid port \"70000\": value out of range"),
            ("localhost:http", "invalid port \"http\": invalid syntax"),
            ("-1", "invalid IP address \"-1\""),
        ];
        for (text, want) in cases {
            assert_eq!(TunnelEndpoint::parse(text).unwrap_err(), want, "{text}");
        }
        assert_eq!(
            TunnelEndpoint::from_attr(Some(&Value::from(vec![1]))).unwrap_err(),
            "tunnel endpoint is not a number or a string (found a list)"
        );
    }
}
