//! Where the daemon keeps its files, from the environment (../shared/spec/reference-inventory.md §9 variables).

use std::path::PathBuf;

/// Paths of one daemon instance.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `$WORKSHOP`, default `/var/lib/workshop`: state.json + state.journal, the lock, run/, tls/.
    pub base: PathBuf,
    /// `$WORKSHOP_CACHE`, default `$WORKSHOP/cache`.
    pub cache: PathBuf,
    /// `$WORKSHOP_SOCKET`, default `$WORKSHOP/workshop.socket`.
    pub socket: PathBuf,
}

impl Paths {
    pub fn from_env() -> Self {
        let base = env_path("WORKSHOP").unwrap_or_else(|| PathBuf::from("/var/lib/workshop"));
        let cache = env_path("WORKSHOP_CACHE").unwrap_or_else(|| base.join("cache"));
        let socket = env_path("WORKSHOP_SOCKET").unwrap_or_else(|| base.join("workshop.socket"));
        Self { base, cache, socket }
    }

    /// The untrusted socket: the trusted path plus `.untrusted`.
    pub fn untrusted_socket(&self) -> PathBuf {
        let mut s = self.socket.clone().into_os_string();
        s.push(".untrusted");
        PathBuf::from(s)
    }

    /// Root-only staging directories of project mounts (see `userfs::stage`).
    pub fn mounts(&self) -> PathBuf {
        self.base.join("run/mounts")
    }

    /// The directories `run --create-dirs` makes.
    pub fn dirs(&self) -> Vec<PathBuf> {
        vec![
            self.base.clone(),
            self.cache.clone(),
            self.cache.join("base"),
            self.cache.join("sdk"),
            self.base.join("run/workshopd/locks"),
            self.base.join("tls"),
        ]
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}
