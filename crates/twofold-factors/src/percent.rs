//! Minimal percent-encoding for the unreserved set of RFC 3986.
//!
//! Only what `otpauth` URIs and the Yubico query need: encode every byte outside
//! `A-Z a-z 0-9 - . _ ~`, and decode `%XX` escapes strictly. A full URL crate would be a heavy
//! dependency for these few lines.

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes `input`, leaving only RFC 3986 unreserved characters as they are.
pub(crate) fn encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as HTML forms write query
/// values). Returns `None` on a truncated or non-hex escape or when the result is not UTF-8.
pub(crate) fn decode(input: &str, plus_is_space: bool) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex_value(*bytes.get(i + 1)?)?;
                let lo = hex_value(*bytes.get(i + 2)?)?;
                out.push((hi << 4) | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn encodes_reserved_and_non_ascii() {
        assert_eq!(encode("Acme Co:alice@example.com"), "Acme%20Co%3Aalice%40example.com");
        assert_eq!(encode("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn decodes_strictly() {
        assert_eq!(decode("Acme%20Co", false).as_deref(), Some("Acme Co"));
        assert_eq!(decode("a+b", true).as_deref(), Some("a b"));
        assert_eq!(decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(decode("%C3%a9", false).as_deref(), Some("é"));
        assert_eq!(decode("%", false), None);
        assert_eq!(decode("%4", false), None);
        assert_eq!(decode("%zz", false), None);
        assert_eq!(decode("%FF", false), None);
    }

    #[test]
    fn round_trips() {
        for s in ["", "plain", "with space", "100%", "ü:/?#[]@!$&'()*+,;="] {
            assert_eq!(decode(&encode(s), false).as_deref(), Some(s));
        }
    }
}
