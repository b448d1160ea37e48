//! Capability types for authorization. A service that changes an organization takes an
//! [`AdminCaller`]; the only way to get one is [`OrgCaller::admin`], and the only way to
//! get an `OrgCaller` is a request whose signature verified under a live token
//! ([`Core::authenticate`](crate::Core::authenticate)). A handler that skipped the checks
//! cannot even name the service methods.

use crate::error::DomainError;
use crate::ids::ApiTokenId;
use crate::model::{Org, TokenScope};

/// A verified API call on behalf of an organization.
#[derive(Debug, Clone)]
pub struct OrgCaller {
    org: Org,
    token: ApiTokenId,
    scope: TokenScope,
}

impl OrgCaller {
    pub(crate) fn new(org: Org, token: ApiTokenId, scope: TokenScope) -> Self {
        Self { org, token, scope }
    }

    /// The caller's organization.
    #[must_use]
    pub fn org(&self) -> &Org {
        &self.org
    }

    /// The token that signed the request.
    #[must_use]
    pub fn token(&self) -> &ApiTokenId {
        &self.token
    }

    /// Refuses a request that names another organization than its token's (in the JWS
    /// header or in `reqHeader`): 10569 for admin operations, 20529 for authentication.
    ///
    /// # Errors
    /// [`DomainError::OrgMismatch`] / [`DomainError::AuthOrgMismatch`].
    pub fn check_org_aliases(&self, aliases: &[String], auth_op: bool) -> Result<(), DomainError> {
        if aliases.iter().all(|a| a.eq_ignore_ascii_case(&self.org.alias.0)) {
            Ok(())
        } else if auth_op {
            Err(DomainError::AuthOrgMismatch)
        } else {
            Err(DomainError::OrgMismatch)
        }
    }

    /// The admin capability, for full-scope tokens only.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] for an authentication-only token.
    pub fn admin(&self) -> Result<AdminCaller<'_>, DomainError> {
        match self.scope {
            TokenScope::Full => Ok(AdminCaller { caller: self }),
            TokenScope::AuthOnly => Err(DomainError::Forbidden("authentication-only token")),
        }
    }
}

/// A verified call by a full-scope token: may manage users and devices.
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller<'a> {
    caller: &'a OrgCaller,
}

impl AdminCaller<'_> {
    /// The organization being administered.
    #[must_use]
    pub fn org(&self) -> &Org {
        &self.caller.org
    }
}
