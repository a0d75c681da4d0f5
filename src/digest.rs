//! sha256 digests as lowercase hex, the one spelling rtmig writes them in (journals,
//! transferred files' checks, `hash` filters). A leaf: it uses nothing of the crate.

use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(bytes)
}

/// The sha256 of `data`, as lowercase hex (what `sha256sum` prints).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_is_what_sha256sum_prints() {
        // printf abc | sha256sum
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex(&[0, 0xab, 0x0f]), "00ab0f");
    }
}
