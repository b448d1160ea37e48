//! `pingid.properties`, the file every PingID client is configured with (spec §1.8).
//!
//! Reading is tolerant (Java `.properties` escapes such as `\=`, CRLF, comments, `:` as a
//! separator) because operators bring files downloaded from PingOne. Writing is strict:
//! exactly the documented keys, LF endings, no escapes and no comments, because Vault
//! refuses unknown keys and the Python samples split every line on `=`.

use std::fmt::Write as _;

use crate::envelope::KEY_ENCODING;

/// The contents of a `pingid.properties` file.
#[derive(Clone, PartialEq, Eq)]
pub struct Properties {
    /// `use_base64_key`: the HMAC key, standard base64.
    pub use_base64_key: String,
    /// `use_signature`: always `true` in practice.
    pub use_signature: bool,
    /// `token`: the API client id.
    pub token: String,
    /// `idp_url`: the API base, including `/pingid`.
    pub idp_url: String,
    /// `org_alias`: the organization id.
    pub org_alias: String,
    /// `admin_url`: the admin base; Twofold writes the same value as `idp_url`.
    pub admin_url: String,
    /// `authenticator_url`: the browser-redirect base, when the server has one.
    pub authenticator_url: Option<String>,
}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Properties")
            .field("use_base64_key", &"<redacted>")
            .field("token", &self.token)
            .field("idp_url", &self.idp_url)
            .field("org_alias", &self.org_alias)
            .field("admin_url", &self.admin_url)
            .finish_non_exhaustive()
    }
}

/// Why a properties file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertiesError {
    /// A required key is absent.
    #[error("pingid.properties has no {0}")]
    MissingKey(&'static str),
    /// `use_base64_key` is not base64.
    #[error("use_base64_key is not valid base64")]
    BadKey,
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Properties {
    /// Parses a properties file.
    ///
    /// # Errors
    /// [`PropertiesError::MissingKey`] when `use_base64_key`, `token`, `idp_url` or
    /// `org_alias` is absent.
    pub fn parse(text: &str) -> Result<Self, PropertiesError> {
        let mut get = std::collections::HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let split = line
                .char_indices()
                .find(|&(i, c)| (c == '=' || c == ':') && !line[..i].ends_with('\\'));
            let Some((i, _)) = split else { continue };
            get.insert(unescape(line[..i].trim()), unescape(line[i + 1..].trim()));
        }
        let take = |k: &'static str| get.get(k).cloned().ok_or(PropertiesError::MissingKey(k));
        let idp_url = take("idp_url")?;
        Ok(Self {
            use_base64_key: take("use_base64_key")?,
            use_signature: get.get("use_signature").is_none_or(|v| v.eq_ignore_ascii_case("true")),
            token: take("token")?,
            admin_url: get.get("admin_url").cloned().unwrap_or_else(|| idp_url.clone()),
            idp_url,
            org_alias: take("org_alias")?,
            authenticator_url: get.get("authenticator_url").cloned(),
        })
    }

    /// The decoded HMAC key. Accepts standard or URL-safe base64, padded or not, since
    /// clients decode it both ways (spec §1.5).
    ///
    /// # Errors
    /// [`PropertiesError::BadKey`].
    pub fn key_bytes(&self) -> Result<Vec<u8>, PropertiesError> {
        let normal: String = self
            .use_base64_key
            .trim()
            .trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                other => other,
            })
            .collect();
        data_encoding::BASE64_NOPAD
            .decode(normal.as_bytes())
            .map_err(|_| PropertiesError::BadKey)
    }

    /// The file text Twofold writes: the documented keys in the documented order, LF line
    /// endings, no escapes, no comments.
    #[must_use]
    pub fn to_file_string(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "use_base64_key={}", self.use_base64_key);
        let _ = writeln!(out, "use_signature={}", self.use_signature);
        let _ = writeln!(out, "token={}", self.token);
        let _ = writeln!(out, "idp_url={}", self.idp_url);
        let _ = writeln!(out, "org_alias={}", self.org_alias);
        let _ = writeln!(out, "admin_url={}", self.admin_url);
        if let Some(url) = &self.authenticator_url {
            let _ = writeln!(out, "authenticator_url={url}");
        }
        out
    }
}

/// Encodes a 32-byte key the way `use_base64_key` spells it (standard base64, padded).
#[must_use]
pub fn encode_key(key: &[u8]) -> String {
    KEY_ENCODING.encode(key)
}

/// Whether a key's standard and URL-safe base64 spellings are the same (no `+` or `/`),
/// so every client's decoder reads it; Twofold only issues such keys.
#[must_use]
pub fn key_is_alphabet_neutral(key: &[u8]) -> bool {
    !encode_key(key).contains(['+', '/'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_java_escapes_and_writes_plain() {
        let text = "#Auto-Generated\r\nuse_base64_key=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\\=\r\nuse_signature=true\r\ntoken=abc\r\nidp_url=https\\://h/pingid\r\norg_alias=o\r\n";
        let p = Properties::parse(text).unwrap();
        assert_eq!(p.use_base64_key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        assert_eq!(p.idp_url, "https://h/pingid");
        assert_eq!(p.admin_url, "https://h/pingid");
        assert_eq!(p.key_bytes().unwrap(), (0u8..32).collect::<Vec<_>>());
        let out = p.to_file_string();
        assert!(!out.contains('\r') && !out.contains('\\') && !out.contains('#'));
        assert_eq!(out.lines().count(), 6);
        assert_eq!(Properties::parse(&out).unwrap(), p);
    }

    #[test]
    fn missing_keys_are_named() {
        assert_eq!(
            Properties::parse("token=a\n").unwrap_err(),
            PropertiesError::MissingKey("idp_url")
        );
    }
}
