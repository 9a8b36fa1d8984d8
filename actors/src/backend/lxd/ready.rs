//! The system check: probe LXD, make sure the shared objects exist (storage pool, bridge) the
//! first time, and watch the pool's free space.

use std::collections::BTreeMap;

use tracing::{info, warn};

use super::LxdBackend;
use super::layout::{self, DNS_DOMAIN};
use crate::health::LxdStatus;
use crate::lxd::ServerInfo;

/// API extensions the backend relies on.
const REQUIRED_EXTENSIONS: &[&str] = &["projects", "container_exec_user_group_cwd"];
/// Storage drivers with cheap snapshots and copies, in order of preference.
pub(super) const POOL_DRIVERS: &[&str] = &["zfs", "btrfs"];
/// Size of a pool the backend creates (a loop file).
const POOL_SIZE: &str = "8GiB";

impl LxdBackend {
    pub(super) async fn check(&self) -> (LxdStatus, Result<(), String>) {
        let mut status =
            LxdStatus { endpoint: Some(self.client.endpoint().describe()), ..Default::default() };
        let info = match self.client.server().await {
            Ok(info) => info,
            Err(e) => return (status, Err(e.to_string())),
        };
        status.reachable = true;
        status.server_version =
            Some(info.environment.server_version.clone()).filter(|version| !version.is_empty());
        let result = self.check_ready(&info, &mut status).await;
        (status, result)
    }

    async fn check_ready(&self, info: &ServerInfo, status: &mut LxdStatus) -> Result<(), String> {
        check_server(info)?;
        let known_driver = self.pool_driver.borrow().clone();
        let driver = match known_driver {
            Some(driver) => driver,
            None => {
                let driver = self.ensure_pool(info).await?;
                self.ensure_network().await?;
                info!(pool = %self.config.pool, driver = %driver, network = %self.config.network, "LXD is ready");
                *self.pool_driver.borrow_mut() = Some(driver.clone());
                driver
            }
        };
        status.storage_driver = Some(driver);
        let space = self.check_space().await;
        status.pool_full = space.is_err();
        space
    }

    /// Makes sure the storage pool exists with a usable driver; returns the driver.
    async fn ensure_pool(&self, info: &ServerInfo) -> Result<String, String> {
        let pool = &self.config.pool;
        match self.client.get_storage_pool(pool).await {
            Ok((existing, _)) if POOL_DRIVERS.contains(&existing.driver.as_str()) => Ok(existing.driver),
            Ok((existing, _)) => Err(format!(
                "storage pool {pool:?} uses the {:?} driver but workshop needs zfs or btrfs: remove it \
                 ('lxc storage delete {pool}') to have it recreated, or run scripts/setup-lxd.sh",
                existing.driver
            )),
            Err(e) if e.is_not_found() => self.create_pool(info).await,
            Err(e) => Err(format!("cannot get storage pool {pool:?}: {e}")),
        }
    }

    async fn create_pool(&self, info: &ServerInfo) -> Result<String, String> {
        let pool = &self.config.pool;
        let supported = info.storage_drivers();
        let candidates: Vec<&str> =
            POOL_DRIVERS.iter().copied().filter(|d| supported.iter().any(|s| s == d)).collect();
        if candidates.is_empty() {
            return Err(crate::messages::no_storage_driver(&supported));
        }
        let config = BTreeMap::from([("size".to_string(), POOL_SIZE.to_string())]);
        let mut failures = Vec::new();
        for driver in candidates {
            match self.client.create_storage_pool(pool, driver, &config).await {
                Ok(()) => {
                    info!(pool = %pool, driver, size = POOL_SIZE, "created storage pool");
                    return Ok(driver.to_string());
                }
                Err(e) => {
                    warn!(pool = %pool, driver, error = %e, "cannot create storage pool");
                    failures.push(format!("{driver}: {e}"));
                }
            }
        }
        Err(format!("cannot create storage pool {pool:?}: {}", failures.join("; ")))
    }

    /// Makes sure the bridge exists and serves the workshop DNS domain.
    async fn ensure_network(&self) -> Result<(), String> {
        let name = &self.config.network;
        match self.client.get_network(name).await {
            Ok((network, etag)) => {
                if network.kind != "bridge" || !network.managed {
                    return Err(format!(
                        "network {name:?} is not a bridge managed by LXD: remove it or run \
                         scripts/setup-lxd.sh on a machine without it"
                    ));
                }
                if network.config.get("dns.domain").map(String::as_str) == Some(DNS_DOMAIN) {
                    return Ok(());
                }
                let mut put = network.writable();
                put.config.insert("dns.domain".into(), DNS_DOMAIN.into());
                self.client
                    .update_network(name, &put, &etag)
                    .await
                    .map_err(|e| format!("cannot set dns.domain={DNS_DOMAIN} on network {name:?}: {e}"))?;
                info!(network = %name, domain = DNS_DOMAIN, "set the bridge's DNS domain");
                Ok(())
            }
            Err(e) if e.is_not_found() => {
                let config = BTreeMap::from([("dns.domain".to_string(), DNS_DOMAIN.to_string())]);
                self.client.create_network(name, "bridge", &config).await.map_err(|e| {
                    format!(
                        "cannot create network {name:?}: {e}. Create the bridge on a free subnet: run \
                         scripts/setup-lxd.sh, or 'lxc network create {name} ipv4.address=<free \
                         address>/24 dns.domain={DNS_DOMAIN}'"
                    )
                })?;
                info!(network = %name, "created network");
                Ok(())
            }
            Err(e) => Err(format!("cannot get network {name:?}: {e}")),
        }
    }

    async fn check_space(&self) -> Result<(), String> {
        let pool = &self.config.pool;
        let usage = self
            .client
            .storage_pool_usage(pool)
            .await
            .map_err(|e| format!("cannot get the usage of storage pool {pool:?}: {e}"))?;
        match layout::space_problem(pool, usage.used, usage.total) {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}

/// The server must trust this client and have the API extensions the backend uses.
pub(super) fn check_server(info: &ServerInfo) -> Result<(), String> {
    if !info.is_trusted() {
        return Err(
            "LXD does not trust this client: add its certificate with 'lxc config trust add <client.crt>'"
                .to_string(),
        );
    }
    let missing: Vec<&str> = REQUIRED_EXTENSIONS.iter().copied().filter(|e| !info.has_extension(e)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(crate::messages::incompatible_server(&info.environment.server_version, &missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(auth: &str, extensions: &[&str]) -> ServerInfo {
        let json = serde_json::json!({
            "auth": auth,
            "api_extensions": extensions,
            "environment": {"server_version": "4.0.0"},
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn server_requirements() {
        assert!(check_server(&server("trusted", REQUIRED_EXTENSIONS)).is_ok());
        let err = check_server(&server("untrusted", REQUIRED_EXTENSIONS)).unwrap_err();
        assert!(err.starts_with("LXD does not trust this client"), "{err}");
        let err = check_server(&server("trusted", &["projects"])).unwrap_err();
        assert_eq!(
            err,
            "incompatible backend: LXD server version \"4.0.0\" is not supported; it lacks the API \
             extension(s) container_exec_user_group_cwd, so a newer LXD is needed"
        );
    }
}
