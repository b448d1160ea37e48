//! Organizations, API tokens, and the verification of signed calls.

use data_encoding::HEXLOWER;

use super::Core;
use crate::caller::OrgCaller;
use crate::error::DomainError;
use crate::ids::ApiTokenId;
use crate::model::{ApiToken, Org, OrgSettings, TokenScope};
use crate::store::{NewOrg, StoreError};

/// A freshly issued API token with its plain key: shown once (in a properties file) and
/// stored only sealed.
#[derive(Clone)]
pub struct IssuedToken {
    /// The token text (32 lower-case hex characters, as PingID issues them).
    pub token: ApiTokenId,
    /// The 32-byte HMAC key.
    pub key: Vec<u8>,
    /// What it may call.
    pub scope: TokenScope,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &self.token)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The outcome of checking a signed call.
#[derive(Debug)]
pub enum Verification {
    /// The signature verified under a live token.
    Verified {
        /// The capability for the rest of the request.
        caller: OrgCaller,
        /// The key to sign the response with.
        key: Vec<u8>,
    },
    /// The call is refused with 401. `key` is the token's key when the token exists (the
    /// refusal can then be signed), `None` when nothing is known to sign with.
    Rejected {
        /// Key of the named token, if it is live.
        key: Option<Vec<u8>>,
        /// The token's organization alias, to sign the refusal under (never an alias the
        /// unverified request chose).
        org_alias: Option<String>,
    },
}

fn token_context(token: &ApiTokenId) -> String {
    format!("api-token:{}", token.0)
}

impl Core {
    /// A 32-byte HMAC key whose standard and URL-safe base64 spellings are identical (no
    /// `+` or `/`), so every client's decoder reads it (spec §1.5). Drawn uniformly from
    /// the keys with that property by rejection: about four draws on average.
    #[must_use]
    pub fn generate_hmac_key(&self) -> Vec<u8> {
        loop {
            let mut key = vec![0u8; 32];
            self.random.fill(&mut key);
            let text = data_encoding::BASE64.encode(&key);
            if !text.contains(['+', '/']) {
                return key;
            }
        }
    }

    /// A random version-4 UUID (organization aliases).
    fn random_uuid(&self) -> String {
        let mut bytes = [0u8; 16];
        self.random.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
    }

    /// Creates an organization and its first full-scope token.
    ///
    /// # Errors
    /// [`DomainError::InvalidValue`] when the name is empty or taken; store failures.
    pub async fn create_org(&self, name: &str) -> Result<(Org, IssuedToken), DomainError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(DomainError::InvalidValue("the organization name is empty".into()));
        }
        let new = NewOrg {
            alias: self.random_uuid(),
            name: name.to_string(),
            created_ms: self.now(),
        };
        let org = self
            .store
            .create_org(&new)
            .await?
            .ok_or_else(|| DomainError::InvalidValue(format!("an organization named {name:?} exists")))?;
        let token = self.create_token(&org, TokenScope::Full).await?;
        Ok((org, token))
    }

    /// Issues a new token for an organization.
    ///
    /// # Errors
    /// Store failures.
    pub async fn create_token(&self, org: &Org, scope: TokenScope) -> Result<IssuedToken, DomainError> {
        let mut id = [0u8; 16];
        self.random.fill(&mut id);
        let token = ApiTokenId(HEXLOWER.encode(&id));
        let key = self.generate_hmac_key();
        let sealed_key = self.master.seal(self.random.as_ref(), &token_context(&token), &key);
        self.store
            .insert_token(&ApiToken {
                token: token.clone(),
                org_id: org.id,
                scope,
                sealed_key,
                created_ms: self.now(),
                revoked_ms: None,
            })
            .await?;
        Ok(IssuedToken { token, key, scope })
    }

    /// The plain key of a live token (to print a properties file).
    ///
    /// # Errors
    /// [`DomainError::InvalidValue`] for unknown or revoked tokens;
    /// [`DomainError::Internal`] when the key does not open with this master key.
    pub async fn token_key(&self, token: &ApiTokenId) -> Result<(ApiToken, Vec<u8>), DomainError> {
        let stored = self
            .store
            .token(token)
            .await?
            .filter(|t| t.revoked_ms.is_none())
            .ok_or_else(|| DomainError::InvalidValue(format!("no live token {token}")))?;
        let key = self
            .master
            .open(&token_context(token), &stored.sealed_key)
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        Ok((stored, key))
    }

    /// Revokes a token: later calls signed with it get 401.
    ///
    /// # Errors
    /// [`DomainError::InvalidValue`] when there is no live token by that name.
    pub async fn revoke_token(&self, token: &ApiTokenId) -> Result<(), DomainError> {
        if self.store.revoke_token(token, self.now()).await? {
            Ok(())
        } else {
            Err(DomainError::InvalidValue(format!("no live token {token}")))
        }
    }

    /// Checks that the master key opens the stored API keys: refuses to run with a
    /// replaced or regenerated master key, which would otherwise answer every client with
    /// 401 and seal new keys under a second master key.
    ///
    /// # Errors
    /// [`DomainError::Internal`] naming the problem; store failures.
    pub async fn check_master_key(&self) -> Result<(), DomainError> {
        for org in self.store.list_orgs().await? {
            for token in self.store.tokens_of(org.id).await? {
                if self
                    .master
                    .open(&token_context(&token.token), &token.sealed_key)
                    .is_err()
                {
                    return Err(DomainError::Internal(format!(
                        "the master key does not open the key of token {} (organization {}): \
                         is this the master key the database was created with?",
                        token.token, org.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Finds an organization by alias or name.
    ///
    /// # Errors
    /// [`DomainError::InvalidValue`] when there is none.
    pub async fn find_org(&self, alias_or_name: &str) -> Result<Org, DomainError> {
        self.store
            .find_org(alias_or_name)
            .await?
            .ok_or_else(|| DomainError::InvalidValue(format!("no organization {alias_or_name:?}")))
    }

    /// Changes one organization setting.
    ///
    /// # Errors
    /// [`DomainError::InvalidValue`] for unknown keys or bad values.
    pub async fn set_org_setting(&self, org: &Org, key: &str, value: &str) -> Result<OrgSettings, DomainError> {
        let mut settings = org.settings.clone();
        settings.set(key, value).map_err(DomainError::InvalidValue)?;
        self.store.update_org_settings(org.id, &settings).await?;
        Ok(settings)
    }

    /// Checks a signed call: finds the live token, opens its key, and lets `verify` check
    /// the MAC with it. Nothing of the request is executed before this says `Verified`.
    ///
    /// # Errors
    /// Store failures (the server answers 10571 unsigned).
    pub async fn authenticate(
        &self,
        token: &str,
        verify: impl FnOnce(&[u8]) -> bool,
    ) -> Result<Verification, StoreError> {
        let id = ApiTokenId(token.to_string());
        let Some((stored, org)) = self
            .store
            .token_with_org(&id)
            .await?
            .filter(|(t, _)| t.revoked_ms.is_none())
        else {
            return Ok(Verification::Rejected {
                key: None,
                org_alias: None,
            });
        };
        // A sealed key that does not open means the master key changed; the call is refused
        // like an unknown token (the server's startup check reports a wrong master key).
        let Ok(key) = self.master.open(&token_context(&id), &stored.sealed_key) else {
            return Ok(Verification::Rejected {
                key: None,
                org_alias: None,
            });
        };
        let Some(org) = org else {
            return Ok(Verification::Rejected {
                key: None,
                org_alias: None,
            });
        };
        if !verify(&key) {
            return Ok(Verification::Rejected {
                key: Some(key),
                org_alias: Some(org.alias.0),
            });
        }
        Ok(Verification::Verified {
            caller: OrgCaller::new(org, id, stored.scope),
            key,
        })
    }
}
