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

/// A validated username: 1–250 characters, no control characters (error-conditions:
/// 10568/20520 otherwise). Its [`fold`](Username::fold) is the case-insensitive key the
/// database keeps unique per organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

/// Longest username PingID accepts (spec §2.2).
pub const MAX_USERNAME_CHARS: usize = 250;

impl Username {
    /// Validates a username as sent.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let count = raw.chars().count();
        if count == 0 || count > MAX_USERNAME_CHARS || raw.chars().any(char::is_control) || raw.trim().is_empty() {
            return None;
        }
        Some(Self(raw.to_string()))
    }

    /// The name as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form used for uniqueness and lookup (Unicode lower case, so
    /// `ÅSA` and `åsa` are one user).
    #[must_use]
    pub fn fold(&self) -> String {
        self.0.to_lowercase()
    }
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
    }
}
