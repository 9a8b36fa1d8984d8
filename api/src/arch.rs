//! Architectures as Debian names them (`dpkg --print-architecture`): what `sdk.yaml`, the SDK
//! Store and `sdk info --arch` use (../shared/spec/reference-inventory.md §1.3).

/// The architectures SDKs may be built for.
pub const ALLOWED: [&str; 7] = ["amd64", "arm64", "armhf", "i386", "ppc64el", "riscv64", "s390x"];

/// An SDK that runs on every architecture.
pub const ALL: &str = "all";

/// The Debian name of the architecture this program was built for.
pub fn host() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "x86" => "i386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64el",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// Whether `arch` is one of [`ALLOWED`].
pub fn is_allowed(arch: &str) -> bool {
    ALLOWED.contains(&arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_has_a_debian_name() {
        assert!(is_allowed(host()), "{}", host());
        #[cfg(target_arch = "x86_64")]
        assert_eq!(host(), "amd64");
        assert!(!is_allowed(ALL) && !is_allowed("x86_64"));
    }
}
