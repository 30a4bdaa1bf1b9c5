//! Snapshot files as artifacts: named by the SHA-256 of their bytes,
//! `sha256-<64 hex digits>.hlsnap`, so that a name in a configuration pins the exact
//! contents, and the worker refuses a file whose bytes are not the ones named.
//!
//! The library's own header (ABI version, layout, CPU vendor, checksum) still guards
//! against a file from another build or machine; the digest adds "the file the
//! operator meant", which a checksum inside the file cannot say.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::value_json::to_hex;

/// The file-name prefix.
pub const PREFIX: &str = "sha256-";
/// The file-name extension.
pub const EXTENSION: &str = "hlsnap";

/// Why a snapshot file is refused.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// The file cannot be read.
    #[error("cannot read the snapshot file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Its name is not `sha256-<hex>.hlsnap`.
    #[error("snapshot file {}: the name must be {PREFIX}<64 hex digits>.{EXTENSION} (as `hyperlight-worker snapshot` writes it)", path.display())]
    Name {
        /// The file.
        path: PathBuf,
    },
    /// Its bytes have another digest than its name says.
    #[error("snapshot file {}: its contents have digest sha256:{actual}, not the sha256:{named} of its name", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The digest in the name.
        named: String,
        /// The digest of the bytes.
        actual: String,
    },
}

/// The hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// The file name for contents of digest `hex`.
pub fn file_name(hex: &str) -> String {
    format!("{PREFIX}{hex}.{EXTENSION}")
}

/// The file's bytes, after checking that their digest is the one in its name.
pub fn read_verified(path: &Path) -> Result<Vec<u8>, DigestError> {
    let named = named_digest(path).ok_or_else(|| DigestError::Name { path: path.to_path_buf() })?;
    let bytes = std::fs::read(path).map_err(|source| DigestError::Read { path: path.to_path_buf(), source })?;
    let actual = digest(&bytes);
    if actual != named {
        return Err(DigestError::Mismatch { path: path.to_path_buf(), named, actual });
    }
    Ok(bytes)
}

/// The digest a file's name claims (lower-cased).
fn named_digest(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let hex = name.strip_prefix(PREFIX)?.strip_suffix(EXTENSION)?.strip_suffix('.')?;
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| hex.to_ascii_lowercase())
}

/// Writes `bytes` into `dir` under their digest's name (atomically: a temporary
/// file renamed into place) and returns the path.
pub fn write(dir: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(&digest(bytes)));
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hl-worker-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_written_file_verifies_and_a_changed_one_does_not() {
        let dir = temp_dir("digest");
        let path = write(&dir, b"frozen guest").unwrap();
        assert_eq!(read_verified(&path).unwrap(), b"frozen guest");
        std::fs::write(&path, b"another guest").unwrap();
        assert!(matches!(read_verified(&path), Err(DigestError::Mismatch { .. })));
        let misnamed = dir.join("guest.hlsnap");
        std::fs::write(&misnamed, b"x").unwrap();
        assert!(matches!(read_verified(&misnamed), Err(DigestError::Name { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_digest_is_sha256() {
        // FIPS 180-2's example: SHA-256("abc").
        assert_eq!(digest(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
