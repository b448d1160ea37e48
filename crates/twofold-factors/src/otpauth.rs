//! `otpauth://` key URIs (the QR code an authenticator app scans) and base32 secrets.
//!
//! Format (Google Authenticator's "Key Uri Format", which every app follows):
//! `otpauth://TYPE/LABEL?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`, where
//! `LABEL` is `ISSUER:ACCOUNT` with both parts percent-encoded and neither containing a colon.
//! The issuer is written twice (label prefix and parameter) because older apps read only one.
//! The parser exists for tests, fuzzing and importing; it never panics on any input.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use rand::RngCore;

use crate::hotp::{Algorithm, Digits};
use crate::percent;
use crate::totp::Period;

/// Secret length used when none is given: 160 bits, the HMAC-SHA-1 output size that RFC 4226
/// recommends, and what apps expect.
pub const DEFAULT_SECRET_LEN: usize = 20;

/// TOTP or HOTP, with the parameter specific to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtpKind {
    /// Time-based; `period` goes in the URI.
    Totp {
        /// Step length.
        period: Period,
    },
    /// Counter-based; `counter` is the initial counter value (required by the format).
    Hotp {
        /// Initial counter.
        counter: u64,
    },
}

/// The content of a key URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyUri {
    /// TOTP or HOTP.
    pub kind: OtpKind,
    /// Who issued the key (shown by the app as the entry's title). Non-empty; must not
    /// contain `:`.
    pub issuer: Option<String>,
    /// The user's account name. Non-empty; must not contain `:` or start with whitespace.
    pub account: String,
    /// The raw shared secret (base32-encoded in the URI).
    pub secret: Vec<u8>,
    /// Hash function.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: Digits,
}

/// Why a key URI could not be built or parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// Not `otpauth://totp/…` or `otpauth://hotp/…`.
    BadScheme,
    /// Empty account, a colon inside issuer or account, or a bad percent escape in the label.
    BadLabel,
    /// A bad percent escape or a parameter without `=`.
    BadQuery,
    /// The same parameter appears twice.
    DuplicateParameter,
    /// `secret` is missing, empty or not base32.
    BadSecret,
    /// `algorithm` is not SHA1, SHA256 or SHA512.
    BadAlgorithm,
    /// `digits` is not 6 or 8.
    BadDigits,
    /// `period` is not 30 or 60.
    BadPeriod,
    /// `counter` is missing (HOTP) or not a number.
    BadCounter,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadScheme => "not an otpauth://totp/ or otpauth://hotp/ URI",
            Self::BadLabel => "invalid label (empty account, colon, or bad escape)",
            Self::BadQuery => "invalid query string",
            Self::DuplicateParameter => "a parameter appears twice",
            Self::BadSecret => "missing or invalid base32 secret",
            Self::BadAlgorithm => "algorithm must be SHA1, SHA256 or SHA512",
            Self::BadDigits => "digits must be 6 or 8",
            Self::BadPeriod => "period must be 30 or 60",
            Self::BadCounter => "missing or invalid counter",
        })
    }
}

impl std::error::Error for UriError {}

impl KeyUri {
    /// Renders the URI. Every parameter is written explicitly, even defaults, because some
    /// apps ignore missing ones in surprising ways.
    pub fn to_uri(&self) -> Result<String, UriError> {
        // A colon would move the issuer/account split; leading whitespace on the account and an
        // empty issuer are dropped by parsers. Refusing them keeps build -> parse lossless.
        let account_ok =
            !self.account.is_empty() && !self.account.contains(':') && !self.account.starts_with(char::is_whitespace);
        let issuer_ok = self.issuer.as_deref().is_none_or(|i| !i.is_empty() && !i.contains(':'));
        if !account_ok || !issuer_ok {
            return Err(UriError::BadLabel);
        }
        if self.secret.is_empty() {
            return Err(UriError::BadSecret);
        }
        let (kind, kind_param) = match self.kind {
            OtpKind::Totp { period } => ("totp", format!("period={}", period.seconds())),
            OtpKind::Hotp { counter } => ("hotp", format!("counter={counter}")),
        };
        let mut uri = format!("otpauth://{kind}/");
        if let Some(issuer) = &self.issuer {
            uri.push_str(&percent::encode(issuer));
            uri.push(':');
        }
        uri.push_str(&percent::encode(&self.account));
        uri.push_str("?secret=");
        uri.push_str(&encode_secret(&self.secret));
        if let Some(issuer) = &self.issuer {
            uri.push_str("&issuer=");
            uri.push_str(&percent::encode(issuer));
        }
        uri.push_str(&format!(
            "&algorithm={}&digits={}&{kind_param}",
            self.algorithm.as_str(),
            self.digits.count()
        ));
        Ok(uri)
    }

    /// Parses a key URI. Lenient where apps differ (scheme and type case, lower-case or padded
    /// base32, `+` for space in parameters, a `%3A` label separator, unknown parameters such as
    /// `image`), strict where a wrong guess would produce wrong codes (bad algorithm, digits or
    /// period are errors, not defaults). The `issuer` parameter wins over the label prefix.
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        let scheme = "otpauth://";
        let rest = match uri.get(..scheme.len()) {
            Some(s) if s.eq_ignore_ascii_case(scheme) => &uri[scheme.len()..],
            _ => return Err(UriError::BadScheme),
        };
        let (kind_name, rest) = rest.split_once('/').ok_or(UriError::BadScheme)?;
        let (raw_label, query) = rest.split_once('?').unwrap_or((rest, ""));

        let (label_issuer, account) = parse_label(raw_label)?;
        let mut params = Params::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or(UriError::BadQuery)?;
            let value = percent::decode(value, true).ok_or(UriError::BadQuery)?;
            params.set(key, value)?;
        }

        let secret = params
            .secret
            .as_deref()
            .map_or(Err(UriError::BadSecret), decode_secret)?;
        let algorithm = match params.algorithm.as_deref() {
            None => Algorithm::Sha1,
            Some(name) => Algorithm::from_name(name).ok_or(UriError::BadAlgorithm)?,
        };
        let digits = match params.digits.as_deref() {
            None => Digits::Six,
            Some(d) => d.parse().ok().and_then(Digits::from_count).ok_or(UriError::BadDigits)?,
        };
        let kind = if kind_name.eq_ignore_ascii_case("totp") {
            let period = match params.period.as_deref() {
                None => Period::Secs30,
                Some(p) => p
                    .parse()
                    .ok()
                    .and_then(Period::from_seconds)
                    .ok_or(UriError::BadPeriod)?,
            };
            OtpKind::Totp { period }
        } else if kind_name.eq_ignore_ascii_case("hotp") {
            let counter = params.counter.as_deref().ok_or(UriError::BadCounter)?;
            OtpKind::Hotp {
                counter: counter.parse().map_err(|_| UriError::BadCounter)?,
            }
        } else {
            return Err(UriError::BadScheme);
        };
        let issuer = params.issuer.filter(|i| !i.is_empty()).or(label_issuer);
        Ok(Self {
            kind,
            issuer,
            account,
            secret,
            algorithm,
            digits,
        })
    }
}

/// The recognized parameters, each at most once.
#[derive(Default)]
struct Params {
    secret: Option<String>,
    issuer: Option<String>,
    algorithm: Option<String>,
    digits: Option<String>,
    period: Option<String>,
    counter: Option<String>,
}

impl Params {
    fn set(&mut self, key: &str, value: String) -> Result<(), UriError> {
        let slot = match key {
            "secret" => &mut self.secret,
            "issuer" => &mut self.issuer,
            "algorithm" => &mut self.algorithm,
            "digits" => &mut self.digits,
            "period" => &mut self.period,
            "counter" => &mut self.counter,
            _ => return Ok(()),
        };
        if slot.replace(value).is_some() {
            return Err(UriError::DuplicateParameter);
        }
        Ok(())
    }
}

/// Splits `ISSUER:ACCOUNT` at a literal colon, or else at a decoded `%3A`.
fn parse_label(raw: &str) -> Result<(Option<String>, String), UriError> {
    let decode = |s: &str| percent::decode(s, false).ok_or(UriError::BadLabel);
    let (issuer, account) = match raw.split_once(':') {
        Some((issuer, account)) => (Some(decode(issuer)?), decode(account)?),
        None => match decode(raw)?.split_once(':') {
            Some((issuer, account)) => (Some(issuer.to_owned()), account.to_owned()),
            None => (None, decode(raw)?),
        },
    };
    // Some apps put a space after the colon ("Acme: alice"); it is not part of the account.
    let account = account.trim_start().to_owned();
    if account.is_empty() || account.contains(':') {
        return Err(UriError::BadLabel);
    }
    Ok((issuer.filter(|i| !i.is_empty()), account))
}

/// Base32 without padding, as key URIs and "enter this key" screens use.
#[must_use]
pub fn encode_secret(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// Decodes a base32 secret as people and apps write it: any case, optional `=` padding, spaces
/// and dashes between groups ignored.
pub fn decode_secret(text: &str) -> Result<Vec<u8>, UriError> {
    let cleaned: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'-' | b'='))
        .map(|b| b.to_ascii_uppercase())
        .collect();
    match BASE32_NOPAD.decode(&cleaned) {
        Ok(secret) if !secret.is_empty() => Ok(secret),
        _ => Err(UriError::BadSecret),
    }
}

/// `len` random secret bytes from the caller's RNG.
#[must_use]
pub fn generate_secret(rng: &mut impl RngCore, len: usize) -> Vec<u8> {
    let mut secret = vec![0u8; len];
    rng.fill_bytes(&mut secret);
    secret
}

/// A fresh [`DEFAULT_SECRET_LEN`]-byte secret, base32-encoded (32 characters).
#[must_use]
pub fn generate_secret_base32(rng: &mut impl RngCore) -> String {
    encode_secret(&generate_secret(rng, DEFAULT_SECRET_LEN))
}

/// Formats a base32 key for people to type: groups of 4 separated by spaces
/// (`"ABCD EFGH IJ"`), which halves typing mistakes compared with one long run.
#[must_use]
pub fn format_key_groups(base32: &str) -> String {
    let chars: Vec<char> = base32.chars().collect();
    chars
        .chunks(4)
        .map(|g| g.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> KeyUri {
        KeyUri {
            kind: OtpKind::Totp { period: Period::Secs30 },
            issuer: Some("Acme Co".into()),
            account: "alice@example.com".into(),
            secret: b"12345678901234567890".to_vec(),
            algorithm: Algorithm::Sha1,
            digits: Digits::Six,
        }
    }

    #[test]
    fn builds_the_documented_shape() {
        assert_eq!(
            example().to_uri().unwrap(),
            "otpauth://totp/Acme%20Co:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Co&algorithm=SHA1&digits=6&period=30"
        );
        let hotp = KeyUri {
            kind: OtpKind::Hotp { counter: 7 },
            issuer: None,
            digits: Digits::Eight,
            algorithm: Algorithm::Sha512,
            ..example()
        };
        assert_eq!(
            hotp.to_uri().unwrap(),
            "otpauth://hotp/alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &algorithm=SHA512&digits=8&counter=7"
        );
    }

    #[test]
    fn refuses_unrepresentable_labels() {
        assert_eq!(
            KeyUri {
                account: String::new(),
                ..example()
            }
            .to_uri(),
            Err(UriError::BadLabel)
        );
        assert_eq!(
            KeyUri {
                account: "a:b".into(),
                ..example()
            }
            .to_uri(),
            Err(UriError::BadLabel)
        );
        assert_eq!(
            KeyUri {
                issuer: Some("A:B".into()),
                ..example()
            }
            .to_uri(),
            Err(UriError::BadLabel)
        );
        assert_eq!(
            KeyUri {
                account: " a".into(),
                ..example()
            }
            .to_uri(),
            Err(UriError::BadLabel)
        );
        assert_eq!(
            KeyUri {
                issuer: Some(String::new()),
                ..example()
            }
            .to_uri(),
            Err(UriError::BadLabel)
        );
        assert_eq!(
            KeyUri {
                secret: vec![],
                ..example()
            }
            .to_uri(),
            Err(UriError::BadSecret)
        );
    }

    #[test]
    fn parses_third_party_variants() {
        let parsed = KeyUri::parse(
            "OTPAUTH://TOTP/Acme%20Co%3A%20alice%40example.com?secret=gezdgnbvgy3tqojqgezdgnbvgy3tqojq\
             &issuer=Acme+Co&image=https%3A%2F%2Fexample.com%2Flogo.png",
        )
        .unwrap();
        assert_eq!(parsed, example());
        let minimal = KeyUri::parse("otpauth://totp/alice?secret=GEZDGNBV").unwrap();
        assert_eq!(minimal.issuer, None);
        assert_eq!(minimal.account, "alice");
        assert_eq!(minimal.kind, OtpKind::Totp { period: Period::Secs30 });
    }

    #[test]
    fn parse_errors() {
        let cases = [
            ("https://example.com", UriError::BadScheme),
            ("otpauth://motp/a?secret=GEZDGNBV", UriError::BadScheme),
            ("otpauth://totp", UriError::BadScheme),
            ("otpauth://totp/?secret=GEZDGNBV", UriError::BadLabel),
            ("otpauth://totp/a%ZZ?secret=GEZDGNBV", UriError::BadLabel),
            ("otpauth://totp/a", UriError::BadSecret),
            ("otpauth://totp/a?secret=1111", UriError::BadSecret),
            (
                "otpauth://totp/a?secret=GEZDGNBV&secret=GEZDGNBV",
                UriError::DuplicateParameter,
            ),
            ("otpauth://totp/a?secret=GEZDGNBV&digits=7", UriError::BadDigits),
            ("otpauth://totp/a?secret=GEZDGNBV&period=45", UriError::BadPeriod),
            ("otpauth://totp/a?secret=GEZDGNBV&algorithm=MD5", UriError::BadAlgorithm),
            ("otpauth://hotp/a?secret=GEZDGNBV", UriError::BadCounter),
            ("otpauth://hotp/a?secret=GEZDGNBV&counter=-1", UriError::BadCounter),
            ("otpauth://totp/a?secret", UriError::BadQuery),
            ("otpauth://totp/a?issuer=%E2%82", UriError::BadQuery),
            ("otpaut", UriError::BadScheme),
            ("otpauth:/é", UriError::BadScheme),
        ];
        for (uri, err) in cases {
            assert_eq!(KeyUri::parse(uri), Err(err), "{uri}");
        }
    }

    #[test]
    fn secrets_and_groups() {
        assert_eq!(decode_secret("gezd gnbv-gy3t qojq=").unwrap(), b"1234567890");
        assert_eq!(format_key_groups("ABCDEFGHIJ"), "ABCD EFGH IJ");
        assert_eq!(format_key_groups(""), "");
        assert_eq!(format_key_groups("ABCD"), "ABCD");
    }
}
