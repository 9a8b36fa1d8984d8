//! `.sdk` archives whose sha3-384 the daemon checked: the file in a root-owned directory and
//! an open descriptor of it (which stays valid if the file is replaced or removed later).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use sha3::{Digest, Sha3_384};

/// A checked archive, ready to be extracted into the tree store.
#[derive(Debug)]
pub struct VerifiedArchive {
    /// Where it is cached (root-owned).
    pub path: PathBuf,
    /// The file, opened before it was checked; read it from the start.
    pub file: File,
    /// Its sha3-384, lowercase hexadecimal.
    pub sha3_384: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The length of a sha3-384 in hexadecimal.
pub const DIGEST_HEX_LEN: usize = 96;

/// Whether `text` is a sha3-384 in hexadecimal (either case).
pub fn is_digest(text: &str) -> bool {
    text.len() == DIGEST_HEX_LEN && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The sha3-384 of `bytes`, lowercase hexadecimal.
pub fn sha3_384_hex(bytes: &[u8]) -> String {
    hex(&Sha3_384::digest(bytes))
}

/// sha3-384 computed as bytes go by.
#[derive(Default)]
pub(crate) struct Hasher {
    state: Sha3_384,
    size: u64,
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.state.update(bytes);
        self.size += bytes.len() as u64;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest (lowercase hexadecimal) and the number of bytes seen.
    pub fn finish(self) -> (String, u64) {
        (hex(&self.state.finalize()), self.size)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies `from` into `to` while hashing it; more than `limit` bytes is an error. Returns the
/// digest and the size.
pub(crate) fn copy_hashing(
    from: &mut impl Read,
    to: &mut impl Write,
    limit: u64,
) -> io::Result<(String, u64)> {
    let mut hasher = Hasher::default();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if hasher.size() + n as u64 > limit {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, format!("larger than {limit} bytes")));
        }
        hasher.update(&buffer[..n]);
        to.write_all(&buffer[..n])?;
    }
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha3_384() {
        // sha3-384 of the empty string (FIPS 202 test vector).
        let empty = "0c63a75b845e4f7d01107d852e4c2485c51a50aaaa94fc61995e71bbee983a2ac3713831264adb47fb6bd1e058d5f004";
        assert_eq!(sha3_384_hex(b""), empty);
        assert!(is_digest(empty) && !is_digest("abc") && !is_digest(&"g".repeat(96)));
        let mut out = Vec::new();
        assert_eq!(copy_hashing(&mut &b"hello"[..], &mut out, 5).unwrap(), (sha3_384_hex(b"hello"), 5));
        assert_eq!(out, b"hello");
        let err = copy_hashing(&mut &b"hello"[..], &mut Vec::new(), 4).unwrap_err();
        assert_eq!(err.to_string(), "larger than 4 bytes");
    }
}
