//! Typed identifiers: an org id can never be passed where a user id is expected.

use std::fmt;

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// The database id of an organization.
    OrgId
);
int_id!(
    /// The database id of a user; shown as `userId`.
    UserId
);

/// An organization's public alias (a UUID), as clients send it in `org_alias`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrgAlias(pub String);

impl fmt::Display for OrgAlias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An API token (the `token` of a properties file): identifies a client, not a secret by
/// itself (the HMAC key is).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiTokenId(pub String);

impl fmt::Display for ApiTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated username: 1–250 characters, no control or invisible formatting characters
/// (error-conditions: 10568/20520 otherwise). Its [`fold`](Username::fold) is the
/// case-insensitive key the database keeps unique per organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

/// Longest username PingID accepts (spec §2.2).
pub const MAX_USERNAME_CHARS: usize = 250;

impl Username {
    /// Validates a username as sent.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let count = raw.chars().count();
        if count == 0 || count > MAX_USERNAME_CHARS || raw.chars().any(is_hidden) || raw.trim().is_empty() {
            return None;
        }
        Some(Self(raw.to_string()))
    }

    /// The name as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for uniqueness and lookup: Unicode compatibility caseless matching
    /// (NFKC of full case folding, per the Unicode standard §3.13), trimmed. So `ÅSA` and
    /// `åsa`, `straße` and `STRASSE`, `ΟΔΟΣ` and `οδος`, and `bob` and ` bob ` are each
    /// one user, as Java's `equalsIgnoreCase` and a careful operator would expect.
    #[must_use]
    pub fn fold(&self) -> String {
        fold(&self.0)
    }
}

/// See [`Username::fold`]. ASCII names (nearly all of them) take a shortcut with the same
/// result: normalization leaves ASCII unchanged and its case folding is lowercasing; the
/// full path cost a getuserdetails request 2 % of its instructions.
fn fold(name: &str) -> String {
    if name.is_ascii() {
        return name.trim().to_ascii_lowercase();
    }
    fold_unicode(name)
}

fn fold_unicode(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let once: String = caseless::default_case_fold_str(&name.nfd().collect::<String>())
        .nfkd()
        .collect();
    caseless::default_case_fold_str(&once)
        .nfkc()
        .collect::<String>()
        .trim()
        .to_string()
}

/// Control characters, and the invisible formatting characters (Unicode category Cf,
/// line and paragraph separators) that would let two different-looking names collide or
/// one name impersonate another (`b\u{200b}ob`, right-to-left overrides).
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert!(Username::parse("alice smith").is_some());
        assert!(Username::parse("").is_none());
        assert!(Username::parse("   ").is_none());
        assert!(Username::parse("a\u{7}b").is_none());
        assert!(Username::parse(&"x".repeat(250)).is_some());
        assert!(Username::parse(&"x".repeat(251)).is_none());
        assert_eq!(Username::parse("ÅSA").unwrap().fold(), "åsa");
        let same = |a: &str, b: &str| Username::parse(a).unwrap().fold() == Username::parse(b).unwrap().fold();
        for (a, b) in [
            ("ΑΣ", "ασ"),
            ("ΟΔΟΣ", "οδος"),
            ("\u{b5}", "\u{3bc}"),
            ("ſam", "sam"),
            ("straße", "STRASSE"),
            (" bob", "bob "),
            ("bob\u{a0}", "bob"),
            ("cafe\u{301}", "café"),
        ] {
            assert!(same(a, b), "{a:?} vs {b:?}");
        }
        assert!(!same("bob", "rob"));
        for hidden in ["b\u{200b}ob", "\u{202e}bob", "bob\u{feff}", "bob\u{2028}"] {
            assert!(Username::parse(hidden).is_none(), "{hidden:?}");
        }
    }

    proptest::proptest! {
        /// The ASCII shortcut folds exactly as the full Unicode path does.
        #[test]
        fn ascii_shortcut_equals_the_unicode_fold(name in "[\\x00-\\x7f]{0,40}") {
            proptest::prop_assert_eq!(fold(&name), fold_unicode(&name));
        }
    }
}
