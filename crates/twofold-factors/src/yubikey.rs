//! Yubico OTP: the 32–48 character string a YubiKey types when touched.
//!
//! Layout: a modhex public id (0–16 chars, identifies the key so the server can find its AES key)
//! followed by 32 modhex chars, one AES-128 block. Decrypted, the block holds the 6-byte private
//! id, a use counter (u16 LE, bumped per power-up), a 24-bit timestamp, a session counter (u8,
//! bumped per touch), 2 random bytes and a CRC-16 over all of it. A code is fresh when its
//! `(use_counter, session_counter)` pair is strictly greater than the last accepted pair.
//!
//! Modhex uses only letters whose position is the same on most keyboard layouts, so the key can
//! "type" its OTP as a USB keyboard everywhere.

use aes::Aes128;
use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

use crate::ct::constant_time_eq;

/// The modhex alphabet: digit values 0–15 mapped to `cbdefghijklnrtuv`.
pub const MODHEX_ALPHABET: &[u8; 16] = b"cbdefghijklnrtuv";
/// Length of the encrypted token part, in modhex characters.
pub const TOKEN_LEN: usize = 32;
/// Longest public id, in modhex characters (8 bytes).
pub const MAX_PUBLIC_ID_LEN: usize = 16;
/// The CRC-16 (ISO 13239) of data followed by its own complemented CRC is this constant.
const CRC_RESIDUAL: u16 = 0xf0b8;

/// Encodes bytes as modhex, two characters per byte, high nibble first.
#[must_use]
pub fn modhex_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(MODHEX_ALPHABET[usize::from(b >> 4)]));
        out.push(char::from(MODHEX_ALPHABET[usize::from(b & 0x0f)]));
    }
    out
}

fn modhex_value(c: u8) -> Option<u8> {
    let lower = c.to_ascii_lowercase();
    MODHEX_ALPHABET
        .iter()
        .position(|&m| m == lower)
        .and_then(|p| u8::try_from(p).ok())
}

/// Decodes modhex. Upper case is accepted (Caps Lock makes a key type it); odd length or any
/// character outside the alphabet gives `None`.
#[must_use]
pub fn modhex_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some((modhex_value(pair[0])? << 4) | modhex_value(pair[1])?))
        .collect()
}

/// Why an OTP was rejected. Useful for logs and audit; the user only ever hears "wrong code".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Not 32–48 modhex characters (or an odd-length public id).
    Malformed,
    /// The decrypted block fails its CRC: wrong AES key, or a typo/tampered character.
    BadCrc,
    /// The CRC holds but the private id differs from the stored one.
    WrongPrivateId,
}

/// An OTP split into its two parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SplitOtp {
    /// The public id in lower-case modhex (may be empty); the key to look up the device by.
    pub public_id: String,
    /// The 16-byte AES block, still encrypted.
    pub token: [u8; 16],
}

/// Splits an OTP into public id (everything before the last 32 characters) and token.
///
/// The server calls this first, looks the device up by `public_id`, and then calls [`verify`]
/// with that device's key.
pub fn split_otp(otp: &str) -> Result<SplitOtp, RejectReason> {
    let len = otp.len();
    if !(TOKEN_LEN..=TOKEN_LEN + MAX_PUBLIC_ID_LEN).contains(&len) || !otp.is_ascii() {
        return Err(RejectReason::Malformed);
    }
    let (public, token) = otp.split_at(len - TOKEN_LEN);
    modhex_decode(public).ok_or(RejectReason::Malformed)?;
    let token = modhex_decode(token).ok_or(RejectReason::Malformed)?;
    let token: [u8; 16] = token.try_into().map_err(|_| RejectReason::Malformed)?;
    Ok(SplitOtp {
        public_id: public.to_ascii_lowercase(),
        token,
    })
}

/// The plaintext fields of one OTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OtpFields {
    /// Secret per-key id, known only to the key and the validation server.
    pub private_id: [u8; 6],
    /// Non-volatile counter, incremented on each power-up (and when the session counter wraps).
    pub use_counter: u16,
    /// 8 Hz timer since power-up; only the low 24 bits exist.
    pub timestamp: u32,
    /// Volatile counter, incremented on each touch within one power-up.
    pub session_counter: u8,
    /// Random bytes that make equal fields encrypt differently.
    pub random: u16,
}

/// CRC-16/ISO-13239 (X.25 polynomial, reflected, initial value 0xFFFF, no final XOR).
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for &byte in data {
        crc ^= u16::from(byte);
        for _ in 0..8 {
            let lsb = crc & 1;
            crc >>= 1;
            if lsb != 0 {
                crc ^= 0x8408;
            }
        }
    }
    crc
}

fn fields_to_block(fields: &OtpFields) -> [u8; 16] {
    let mut block = [0u8; 16];
    block[..6].copy_from_slice(&fields.private_id);
    block[6..8].copy_from_slice(&fields.use_counter.to_le_bytes());
    block[8..11].copy_from_slice(&fields.timestamp.to_le_bytes()[..3]);
    block[11] = fields.session_counter;
    block[12..14].copy_from_slice(&fields.random.to_le_bytes());
    let crc = !crc16(&block[..14]);
    block[14..].copy_from_slice(&crc.to_le_bytes());
    block
}

fn block_to_fields(block: &[u8; 16]) -> OtpFields {
    let mut private_id = [0u8; 6];
    private_id.copy_from_slice(&block[..6]);
    OtpFields {
        private_id,
        use_counter: u16::from_le_bytes([block[6], block[7]]),
        timestamp: u32::from_le_bytes([block[8], block[9], block[10], 0]),
        session_counter: block[11],
        random: u16::from_le_bytes([block[12], block[13]]),
    }
}

/// Decrypts a token with the device's AES key and checks its CRC. The private id is *not*
/// checked here; [`verify`] does that in constant time.
pub fn decrypt_token(token: &[u8; 16], aes_key: &[u8; 16]) -> Result<OtpFields, RejectReason> {
    let cipher = Aes128::new(&Array::from(*aes_key));
    let mut block = Array::from(*token);
    cipher.decrypt_block(&mut block);
    let plain: [u8; 16] = block.into();
    if crc16(&plain) != CRC_RESIDUAL {
        return Err(RejectReason::BadCrc);
    }
    Ok(block_to_fields(&plain))
}

/// Builds the OTP a key with this `public_id` (modhex, at most 16 chars, even length) and AES
/// key would type for `fields`. Used to simulate a YubiKey in tests and in the test kit.
/// The timestamp is truncated to its 24 bits. `None` when the public id is not valid modhex.
pub fn encode_otp(public_id: &str, aes_key: &[u8; 16], fields: &OtpFields) -> Option<String> {
    if public_id.len() > MAX_PUBLIC_ID_LEN {
        return None;
    }
    modhex_decode(public_id)?;
    let cipher = Aes128::new(&Array::from(*aes_key));
    let mut block = Array::from(fields_to_block(fields));
    cipher.encrypt_block(&mut block);
    let token: [u8; 16] = block.into();
    Some(format!("{}{}", public_id.to_ascii_lowercase(), modhex_encode(&token)))
}

/// The verdict of a Yubico OTP check.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum YubiVerification {
    /// Valid and fresh. Store `(use_ctr, session_ctr)` as the new last pair, conditionally on the
    /// stored pair still being lower, so two concurrent requests cannot both accept it.
    Accepted {
        /// The OTP's use counter.
        use_ctr: u16,
        /// The OTP's session counter.
        session_ctr: u8,
    },
    /// Valid but not newer than the stored counters: a captured OTP being replayed.
    Replayed,
    /// Not a valid OTP for this key.
    Rejected(RejectReason),
}

/// Verifies `otp` against the device's AES key and private id, given the last accepted
/// `(use_counter, session_counter)` pair (`None` for a key never used).
///
/// The public id is not checked: the caller found `aes_key` by it, so a wrong public id
/// selects a wrong key and fails the CRC.
pub fn verify(otp: &str, aes_key: &[u8; 16], private_id: &[u8; 6], last: Option<(u16, u8)>) -> YubiVerification {
    let fields = match split_otp(otp).and_then(|split| decrypt_token(&split.token, aes_key)) {
        Ok(fields) => fields,
        Err(reason) => return YubiVerification::Rejected(reason),
    };
    if !constant_time_eq(&fields.private_id, private_id) {
        return YubiVerification::Rejected(RejectReason::WrongPrivateId);
    }
    let pair = (fields.use_counter, fields.session_counter);
    if last.is_some_and(|last| pair <= last) {
        return YubiVerification::Replayed;
    }
    YubiVerification::Accepted {
        use_ctr: pair.0,
        session_ctr: pair.1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = [
        0xec, 0xde, 0x18, 0xdb, 0xe7, 0x6f, 0xbd, 0x0c, 0x33, 0x33, 0x0f, 0x1c, 0x35, 0x48, 0x71, 0xdb,
    ];

    /// The long-standing Yubico example OTP and its AES key (used across Yubico's own client
    /// libraries and docs); it decrypts to private id 8792ebfe26cc, use counter 0x13 and session
    /// counter 0x11.
    const OTP: &str = "dteffujehknhfjbrjnlnldnhcujvddbikngjrtgh";

    /// Second example: key 000102…0f, no public id.
    const OTP2: &str = "dvgtiblfkbgturecfllberrvkinnctnn";

    #[test]
    fn modhex_known_values() {
        assert_eq!(modhex_encode(b"test"), "ifhgieif");
        assert_eq!(modhex_decode("ifhgieif").as_deref(), Some(&b"test"[..]));
        assert_eq!(modhex_decode("IFHGIEIF").as_deref(), Some(&b"test"[..]));
        assert_eq!(modhex_encode(&[0x00, 0xff]), "ccvv");
        assert_eq!(modhex_decode("cca"), None);
        assert_eq!(modhex_decode("ccaa"), None);
        assert_eq!(modhex_decode("ccé"), None);
    }

    #[test]
    fn crc_residual_holds_for_encoded_blocks() {
        let block = fields_to_block(&OtpFields {
            use_counter: 7,
            ..OtpFields::default()
        });
        assert_eq!(crc16(&block), CRC_RESIDUAL);
    }

    #[test]
    fn yubico_reference_vectors() {
        let split = split_otp(OTP).unwrap();
        assert_eq!(split.public_id, "dteffuje");
        let fields = decrypt_token(&split.token, &KEY).unwrap();
        assert_eq!(fields.private_id, [0x87, 0x92, 0xeb, 0xfe, 0x26, 0xcc]);
        assert_eq!((fields.use_counter, fields.session_counter), (0x13, 0x11));
        assert_eq!(
            verify(OTP, &KEY, &fields.private_id, Some((0x13, 0x10))),
            YubiVerification::Accepted {
                use_ctr: 0x13,
                session_ctr: 0x11
            }
        );

        let key2: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(split_otp(OTP2).unwrap().public_id, "");
        assert_eq!(
            verify(OTP2, &key2, &[1, 2, 3, 4, 5, 6], None),
            YubiVerification::Accepted {
                use_ctr: 1,
                session_ctr: 1
            }
        );
    }

    #[test]
    fn counters_must_increase_lexicographically() {
        let private_id = [1, 2, 3, 4, 5, 6];
        let otp = |use_counter, session_counter| {
            let f = OtpFields {
                private_id,
                use_counter,
                session_counter,
                ..OtpFields::default()
            };
            encode_otp("ccccccbcgujh", &KEY, &f).unwrap()
        };
        let check = |o: &str, last| verify(o, &KEY, &private_id, last);
        assert_eq!(
            check(&otp(5, 0), None),
            YubiVerification::Accepted {
                use_ctr: 5,
                session_ctr: 0
            }
        );
        assert_eq!(
            check(&otp(5, 3), Some((5, 2))),
            YubiVerification::Accepted {
                use_ctr: 5,
                session_ctr: 3
            }
        );
        assert_eq!(
            check(&otp(6, 0), Some((5, 200))),
            YubiVerification::Accepted {
                use_ctr: 6,
                session_ctr: 0
            }
        );
        assert_eq!(check(&otp(5, 2), Some((5, 2))), YubiVerification::Replayed);
        assert_eq!(check(&otp(5, 9), Some((6, 0))), YubiVerification::Replayed);
        assert_eq!(
            verify(&otp(5, 0), &KEY, &[0; 6], None),
            YubiVerification::Rejected(RejectReason::WrongPrivateId)
        );
        assert_eq!(
            verify(&otp(5, 0), &[0; 16], &private_id, None),
            YubiVerification::Rejected(RejectReason::BadCrc)
        );
    }

    #[test]
    fn malformed_inputs() {
        for otp in [
            "",
            "cccc",
            &"c".repeat(31),
            &"c".repeat(49),
            &"c".repeat(33),
            &"x".repeat(32),
        ] {
            assert_eq!(split_otp(otp), Err(RejectReason::Malformed), "{otp:?}");
        }
        // Multi-byte characters must not make the split land inside a character.
        let tricky = format!("é{}", "c".repeat(31));
        assert_eq!(split_otp(&tricky), Err(RejectReason::Malformed));
        assert_eq!(encode_otp("ccc", &KEY, &OtpFields::default()), None);
        assert_eq!(encode_otp(&"c".repeat(18), &KEY, &OtpFields::default()), None);
    }
}
