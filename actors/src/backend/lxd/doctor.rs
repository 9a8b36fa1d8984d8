//! `workshop doctor`, LXD's side: the server (version, trust, API extensions), Workshop's
//! storage pool (driver, free space), its bridge, and where base images come from. Reads
//! only; what to run to fix each problem is in the check.

use std::net::ToSocketAddrs;
use std::time::Duration;

use workshop_api::definition::SUPPORTED_BASES;
use workshop_api::doctor::{Check, CheckStatus};

use super::images::ImageServer;
use super::layout::{DNS_DOMAIN, FULL_PERCENT};
use super::{LxdBackend, ready};
use crate::doctor::{self, HostQuery, HostSetup};
use crate::lxd::LxdError;

/// Pool use from which the check warns.
const WARN_PERCENT: u64 = 80;
/// How long the image server may take to accept a connection.
const SERVER_TIMEOUT: Duration = Duration::from_secs(3);
const SET_UP: &str = "scripts/setup-lxd.sh";

impl LxdBackend {
    /// The addresses of `network`'s own dnsmasq (its `ipv4.address` and `ipv6.address`
    /// without their prefix length), for `workshopd configure-dns`.
    pub async fn network_dns_addresses(&self, network: &str) -> Result<Vec<String>, LxdError> {
        let (network, _) = self.client.unscoped().get_network(network).await?;
        Ok(["ipv4.address", "ipv6.address"]
            .iter()
            .filter_map(|key| network.config.get(*key))
            .filter_map(|cidr| cidr.split('/').next())
            .filter(|a| a.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_string)
            .collect())
    }

    /// LXD's checks, then the host's (after its fixes when asked for).
    pub(super) async fn diagnose(&self, host: &HostQuery) -> Vec<Check> {
        let bridge_address = match self.client.get_network(&self.config.network).await {
            Ok((network, _)) => {
                network.config.get("ipv4.address").and_then(|a| a.split('/').next()).map(str::to_string)
            }
            Err(_) => None,
        };
        let setup = HostSetup {
            uid: host.uid,
            gid: host.gid,
            bridge: self.config.network.clone(),
            bridge_address,
            guest_socket: host.guest_socket.clone(),
            snap_lxd: self.client.endpoint().describe().contains("/snap/"),
        };
        let fix = host.fix;
        let host_checks = tokio::task::spawn_blocking(move || doctor::examine(&setup, fix));
        let mut checks = self.lxd_checks().await;
        match host_checks.await {
            Ok(host) => checks.extend(host),
            Err(e) => {
                checks.push(Check::new("host", CheckStatus::Failed, format!("cannot check the host: {e}")))
            }
        }
        checks
    }

    async fn lxd_checks(&self) -> Vec<Check> {
        let endpoint = self.client.endpoint().describe();
        let info = match self.client.server().await {
            Ok(info) => info,
            Err(e) => {
                let lxd =
                    Check::new("lxd", CheckStatus::Failed, format!("cannot reach LXD at {endpoint}: {e}"))
                        .fix(format!("start LXD (systemctl start lxd, or snap start lxd), or run {SET_UP}"));
                let skipped = |name: &str| Check::new(name, CheckStatus::Skipped, "LXD is not reachable");
                return vec![lxd, skipped("storage-pool"), skipped("network"), skipped("images")];
            }
        };
        let lxd = match ready::check_server(&info) {
            Ok(()) => Check::ok(
                "lxd",
                format!(
                    "LXD {} at {endpoint}, {} API extensions (those workshop needs are there)",
                    info.environment.server_version,
                    info.api_extensions.len()
                ),
            ),
            Err(why) => Check::new("lxd", CheckStatus::Failed, why)
                .fix("install a newer LXD (Debian 12: apt install lxd; or the snap: snap install lxd)"),
        };
        vec![lxd, self.pool_check().await, self.network_check().await, self.images_check().await]
    }

    async fn pool_check(&self) -> Check {
        let pool = &self.config.pool;
        let existing = match self.client.get_storage_pool(pool).await {
            Ok((existing, _)) => existing,
            Err(e) if e.is_not_found() => {
                return Check::new(
                    "storage-pool",
                    CheckStatus::Failed,
                    format!("storage pool {pool:?} does not exist"),
                )
                .fix(format!("run {SET_UP}, or restart workshopd (it creates the pool)"));
            }
            Err(e) => {
                return Check::new(
                    "storage-pool",
                    CheckStatus::Failed,
                    format!("cannot get storage pool {pool:?}: {e}"),
                );
            }
        };
        if !ready::POOL_DRIVERS.contains(&existing.driver.as_str()) {
            return Check::new(
                "storage-pool",
                CheckStatus::Failed,
                format!(
                    "storage pool {pool:?} uses the {:?} driver; workshop needs zfs or btrfs",
                    existing.driver
                ),
            )
            .fix(format!("lxc storage delete {pool} (when it holds nothing), then run {SET_UP}"));
        }
        match self.client.storage_pool_usage(pool).await {
            Ok(usage) => pool_space(pool, &existing.driver, usage.used, usage.total),
            Err(e) => Check::new(
                "storage-pool",
                CheckStatus::Warning,
                format!("{} pool {pool:?}; cannot get its usage: {e}", existing.driver),
            ),
        }
    }

    async fn network_check(&self) -> Check {
        let name = &self.config.network;
        match self.client.get_network(name).await {
            Ok((network, _)) if network.kind == "bridge" && network.managed => {
                let address = network.config.get("ipv4.address").map_or("no IPv4 address", String::as_str);
                let domain = network.config.get("dns.domain").map(String::as_str).unwrap_or_default();
                if domain == DNS_DOMAIN {
                    Check::ok("network", format!("bridge {name} ({address}), DNS domain {DNS_DOMAIN}"))
                } else {
                    Check::new(
                        "network",
                        CheckStatus::Warning,
                        format!("bridge {name} ({address}) does not serve the DNS domain {DNS_DOMAIN}"),
                    )
                    .fix(format!("lxc network set {name} dns.domain={DNS_DOMAIN}"))
                }
            }
            Ok(_) => {
                Check::new("network", CheckStatus::Failed, format!("{name:?} is not a bridge managed by LXD"))
                    .fix(format!("lxc network delete {name} (when nothing uses it), then run {SET_UP}"))
            }
            Err(e) if e.is_not_found() => {
                Check::new("network", CheckStatus::Failed, format!("network {name:?} does not exist"))
                    .fix(format!("run {SET_UP}, or restart workshopd (it creates the bridge)"))
            }
            Err(e) => Check::new("network", CheckStatus::Failed, format!("cannot get network {name:?}: {e}")),
        }
    }

    async fn images_check(&self) -> Check {
        match &self.config.image_server {
            ImageServer::Local => {
                let images = self.client.unscoped();
                let mut present = Vec::new();
                for base in SUPPORTED_BASES {
                    if images.get_image_alias(base).await.is_ok() {
                        present.push(base);
                    }
                }
                local_images(&present)
            }
            ImageServer::Remote { url, .. } => {
                let url = url.clone();
                let reached = tokio::task::spawn_blocking(move || reach(&url)).await;
                let url = match &self.config.image_server {
                    ImageServer::Remote { url, .. } => url.as_str(),
                    ImageServer::Local => "",
                };
                match reached {
                    Ok(Ok(())) => Check::ok("images", format!("base images come from {url}, which answers")),
                    Ok(Err(why)) => Check::new(
                        "images",
                        CheckStatus::Warning,
                        format!("cannot reach the image server {url}: {why}; only bases copied before can be launched"),
                    )
                    .fix("check the network and proxy settings of this machine, or set WORKSHOP_IMAGE_SERVER=local and import images"),
                    Err(e) => Check::new("images", CheckStatus::Warning, format!("cannot check the image server {url}: {e}")),
                }
            }
        }
    }
}

/// The pool check from its usage.
fn pool_space(pool: &str, driver: &str, used: u64, total: u64) -> Check {
    if total == 0 {
        return Check::ok("storage-pool", format!("{driver} pool {pool:?} (its size is not known)"));
    }
    let percent = used.saturating_mul(100) / total;
    let message = format!("{driver} pool {pool:?}, {} of {} used ({percent}%)", gib(used), gib(total));
    let fix = format!(
        "remove workshops you no longer need (workshop remove), or grow the pool (lxc storage set {pool} size=...)"
    );
    if percent >= FULL_PERCENT {
        Check::new("storage-pool", CheckStatus::Failed, message + ": too full to launch").fix(fix)
    } else if percent >= WARN_PERCENT {
        Check::new("storage-pool", CheckStatus::Warning, message).fix(fix)
    } else {
        Check::ok("storage-pool", message)
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// The images check for a local image server, from the bases that have an image.
fn local_images(present: &[&str]) -> Check {
    let missing: Vec<&str> = SUPPORTED_BASES.iter().copied().filter(|b| !present.contains(b)).collect();
    let fix = "run scripts/setup-lxd.sh (imports an offline image), or set WORKSHOP_IMAGE_SERVER=simplestreams:https://cloud-images.ubuntu.com/releases";
    if present.is_empty() {
        return Check::new(
            "images",
            CheckStatus::Failed,
            "LXD has no image for any base, and no image server is set",
        )
        .fix(fix);
    }
    if missing.is_empty() {
        return Check::ok("images", format!("local images for every base: {}", present.join(", ")));
    }
    Check::new(
        "images",
        CheckStatus::Warning,
        format!(
            "local images for {}; none for {} (no image server is set)",
            present.join(", "),
            missing.join(", ")
        ),
    )
    .fix(fix)
}

/// Whether a TCP connection to the server of `url` opens within [`SERVER_TIMEOUT`].
fn reach(url: &str) -> Result<(), String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let with_port = if authority.contains(':') { authority.to_string() } else { format!("{authority}:443") };
    let address = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} has no address"))?;
    std::net::TcpStream::connect_timeout(&address, SERVER_TIMEOUT).map(drop).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_space_warns_then_fails() {
        let gb = 1u64 << 30;
        assert_eq!(pool_space("workshop", "zfs", 2 * gb, 8 * gb).status, CheckStatus::Ok);
        let warn = pool_space("workshop", "zfs", 7 * gb, 8 * gb);
        assert_eq!(warn.status, CheckStatus::Warning);
        assert!(warn.message.contains("7.0 GiB of 8.0 GiB used (87%)"), "{}", warn.message);
        let full = pool_space("workshop", "btrfs", 8 * gb, 8 * gb);
        assert_eq!(full.status, CheckStatus::Failed);
        assert!(full.fix.unwrap().contains("workshop remove"));
        assert_eq!(pool_space("workshop", "zfs", 5, 0).status, CheckStatus::Ok);
    }

    #[test]
    fn local_images_name_what_is_missing() {
        assert_eq!(local_images(&[]).status, CheckStatus::Failed);
        assert_eq!(local_images(&SUPPORTED_BASES).status, CheckStatus::Ok);
        let some = local_images(&["debian@12"]);
        assert_eq!(some.status, CheckStatus::Warning);
        assert!(some.message.starts_with("local images for debian@12; none for "), "{}", some.message);
    }

    #[test]
    fn an_unreachable_server_is_reported_not_waited_for() {
        // A port nothing listens on, on this machine: refused at once.
        let err = reach("https://127.0.0.1:9/images").unwrap_err();
        assert!(!err.is_empty());
    }
}
