//! Asking the bridge's dnsmasq whether it serves a name yet: a write of `raw.dnsmasq` makes
//! LXD restart dnsmasq early on and then go on with the network's set-up for as long again,
//! so a workshop whose new name is answered may boot (its DHCP request can no longer fall
//! into the restart) before the write returns.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tracing::debug;

/// How often to ask, and how long each question waits for its answer.
const INTERVAL: Duration = Duration::from_millis(25);
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;

/// The IPv4 address of a bridge whose `ipv4.address` is `cidr` (`10.0.0.1/24`).
pub(super) fn bridge_address(cidr: &str) -> Option<Ipv4Addr> {
    cidr.split('/').next()?.parse().ok()
}

/// Returns once the DNS server at `server` answers `name` with at least one record (a
/// `cname=` line is answered even while its target is unknown). Never returns while it
/// does not: race it with something that does.
pub(super) async fn served(server: Ipv4Addr, name: &str) {
    let socket = match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await {
        Ok(socket) => socket,
        Err(e) => {
            debug!(error = %e, "cannot ask the bridge's DNS server");
            return std::future::pending().await;
        }
    };
    let server = SocketAddr::from((server, 53));
    let mut buf = [0u8; 512];
    loop {
        let id: u16 = rand::random();
        let asked = actix_rt::time::sleep(INTERVAL);
        futures_util::pin_mut!(asked);
        if socket.send_to(&query(id, name), server).await.is_ok() {
            loop {
                tokio::select! {
                    _ = &mut asked => break,
                    received = socket.recv_from(&mut buf) => match received {
                        Ok((n, from)) if from == server && answered(id, &buf[..n]) => return,
                        Ok(_) => {}
                        // An ICMP refusal: nobody listens (yet).
                        Err(_) => {}
                    },
                }
            }
        }
        (&mut asked).await;
    }
}

/// A standard query for the A records of `name`, with recursion desired.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&1u16.to_be_bytes()); // one question
    q.extend_from_slice(&[0; 6]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.push(0);
    q.extend_from_slice(&TYPE_A.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    q
}

/// Whether `reply` answers query `id` without error and with at least one record.
fn answered(id: u16, reply: &[u8]) -> bool {
    let Some(header) = reply.get(..12) else { return false };
    let field = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let flags = field(2);
    field(0) == id && flags & 0x8000 != 0 && flags & 0x000f == 0 && field(6) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_of_a_bridge() {
        assert_eq!(bridge_address("10.231.7.1/24"), Some(Ipv4Addr::new(10, 231, 7, 1)));
        assert_eq!(bridge_address("none"), None);
        assert_eq!(bridge_address(""), None);
    }

    #[test]
    fn a_query_for_a_records() {
        let q = query(0x1234, "dev.0123abcd.wp");
        assert_eq!(&q[..12], &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x03dev\x080123abcd\x02wp\x00\x00\x01\x00\x01");
    }

    #[test]
    fn only_an_answer_to_the_query_counts() {
        let mut reply = query(7, "x.wp");
        reply[2] = 0x81; // QR, RD
        reply[3] = 0x80; // RA, NOERROR
        reply[7] = 1; // one answer
        assert!(answered(7, &reply));
        assert!(!answered(8, &reply), "another query's");
        let mut nxdomain = reply.clone();
        nxdomain[3] = 0x83;
        assert!(!answered(7, &nxdomain));
        let mut empty = reply.clone();
        empty[7] = 0;
        assert!(!answered(7, &empty));
        assert!(!answered(7, &query(7, "x.wp")), "a question is no answer");
        assert!(!answered(7, &reply[..11]));
    }
}
