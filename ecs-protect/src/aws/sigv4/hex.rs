//! Lowercase hexadecimal encoding through a lookup table (an encoding, not crypto).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the lowercase hex form of `bytes` to `out`.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

/// The lowercase hex form of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_nibble_lowercase() {
        assert_eq!(
            to_hex(&[0x00, 0x01, 0x7f, 0x80, 0xab, 0xff]),
            "00017f80abff"
        );
        assert_eq!(to_hex(&[]), "");
    }
}
