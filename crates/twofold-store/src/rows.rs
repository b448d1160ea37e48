//! Row ↔ domain conversions shared by the engines. Stored enum names are the domain's
//! own `as_str` names, so a row that holds anything else is reported as a store fault
//! rather than guessed at.

use twofold_core::StoreError;
use twofold_core::device::{DeviceType, OathKind, OathParams};
use twofold_core::ids::{ApiTokenId, OrgAlias, OrgId, UserId};
use twofold_core::model::{
    ActivationCode, ApiToken, DeviceKind, Membership, Org, OrgSettings, PairingState, Profile, Role, Service,
    TokenScope, User, UserStatus,
};
use twofold_core::push::{Push, PushState};

pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Unavailable(format!("stored {what} {value:?} is not valid"))
}

/// An `orgs` row.
pub(crate) struct OrgRow {
    pub id: i64,
    pub alias: String,
    pub name: String,
    pub settings: String,
    pub created_ms: i64,
}

impl OrgRow {
    pub fn into_org(self) -> Result<Org, StoreError> {
        Ok(Org {
            id: OrgId(self.id),
            alias: OrgAlias(self.alias),
            name: self.name,
            settings: OrgSettings::from_text(&self.settings).map_err(|e| corrupt("settings", &e))?,
            created_ms: self.created_ms,
        })
    }
}

/// An `api_tokens` row.
pub(crate) struct TokenRow {
    pub token: String,
    pub org_id: i64,
    pub scope: String,
    pub sealed_key: Vec<u8>,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

impl TokenRow {
    pub fn into_token(self) -> Result<ApiToken, StoreError> {
        Ok(ApiToken {
            scope: TokenScope::parse(&self.scope).ok_or_else(|| corrupt("scope", &self.scope))?,
            token: ApiTokenId(self.token),
            org_id: OrgId(self.org_id),
            sealed_key: self.sealed_key,
            created_ms: self.created_ms,
            revoked_ms: self.revoked_ms,
        })
    }
}

/// A `users` row.
pub(crate) struct UserRow {
    pub id: i64,
    pub org_id: i64,
    pub username: String,
    pub fname: Option<String>,
    pub lname: Option<String>,
    pub email: Option<String>,
    pub pic_url: Option<String>,
    pub role: String,
    pub status: String,
    pub device_kind: Option<String>,
    pub activation_expires_ms: Option<i64>,
    pub last_login_ms: Option<i64>,
    pub created_ms: i64,
}

impl UserRow {
    pub fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId(self.id),
            org_id: OrgId(self.org_id),
            username: self.username,
            profile: Profile {
                fname: self.fname,
                lname: self.lname,
                email: self.email,
                pic_url: self.pic_url,
                role: Role::parse(&self.role).ok_or_else(|| corrupt("role", &self.role))?,
            },
            status: UserStatus::parse(&self.status).ok_or_else(|| corrupt("status", &self.status))?,
            device_kind: self
                .device_kind
                .map(|k| DeviceKind::parse(&k).ok_or_else(|| corrupt("device kind", &k)))
                .transpose()?,
            activation_expires_ms: self.activation_expires_ms,
            last_login_ms: self.last_login_ms,
            created_ms: self.created_ms,
        })
    }
}

pub(crate) fn membership(alias: &str, active: bool, bypass_until_ms: Option<i64>) -> Result<Membership, StoreError> {
    Ok(Membership {
        service: Service::from_alias(alias).ok_or_else(|| corrupt("service", alias))?,
        active,
        bypass_until_ms,
    })
}

pub(crate) fn activation_code(
    user_id: i64,
    expires_ms: i64,
    device_kind: Option<String>,
    state: &str,
    device_id: Option<i64>,
) -> Result<ActivationCode, StoreError> {
    Ok(ActivationCode {
        user_id: UserId(user_id),
        expires_ms,
        device_kind: device_kind
            .map(|k| DeviceKind::parse(&k).ok_or_else(|| corrupt("device kind", &k)))
            .transpose()?,
        state: PairingState::parse(state).ok_or_else(|| corrupt("pairing state", state))?,
        device_id,
    })
}

/// The OATH columns of a device or pairing-session row.
pub(crate) fn oath(
    kind: Option<String>,
    algorithm: Option<String>,
    digits: Option<i64>,
    period: Option<i64>,
) -> Result<Option<OathParams>, StoreError> {
    let Some(kind) = kind else { return Ok(None) };
    let parsed = OathKind::parse(&kind).ok_or_else(|| corrupt("oath kind", &kind))?;
    let algorithm = match algorithm.as_deref() {
        Some("SHA1") | None => "SHA1",
        Some("SHA256") => "SHA256",
        Some("SHA512") => "SHA512",
        Some(other) => return Err(corrupt("oath algorithm", other)),
    };
    Ok(Some(OathParams {
        kind: parsed,
        algorithm,
        digits: digits.and_then(|d| u32::try_from(d).ok()).unwrap_or(6),
        period: period.and_then(|p| u32::try_from(p).ok()).unwrap_or(30),
    }))
}

pub(crate) fn device_type(name: &str) -> Result<DeviceType, StoreError> {
    DeviceType::from_wire(name).ok_or_else(|| corrupt("device kind", name))
}

/// A `pushes` row as both engines read it (flags already as booleans).
pub(crate) struct PushRow {
    pub id: String,
    pub session_id: String,
    pub org_id: i64,
    pub user_id: i64,
    pub device_id: i64,
    pub state: String,
    pub number: Option<i64>,
    pub choices: String,
    pub sp_name: Option<String>,
    pub sp_logo: Option<String>,
    pub is_async: bool,
    pub created_ms: i64,
    pub ack_deadline_ms: i64,
    pub expires_ms: i64,
    pub updated_ms: i64,
}

impl PushRow {
    pub fn into_push(self) -> Result<Push, StoreError> {
        Ok(Push {
            state: PushState::parse(&self.state).ok_or_else(|| corrupt("push state", &self.state))?,
            id: self.id,
            session_id: self.session_id,
            org_id: OrgId(self.org_id),
            user_id: UserId(self.user_id),
            device_id: twofold_core::device::DeviceId(self.device_id),
            number: self.number.and_then(|n| u32::try_from(n).ok()),
            choices: self.choices.split(',').filter_map(|c| c.trim().parse().ok()).collect(),
            sp_name: self.sp_name,
            sp_logo: self.sp_logo,
            is_async: self.is_async,
            created_ms: self.created_ms,
            ack_deadline_ms: self.ack_deadline_ms,
            expires_ms: self.expires_ms,
            updated_ms: self.updated_ms,
        })
    }
}

/// The number-matching choices as stored: `"12,47,83"`.
pub(crate) fn push_choices(choices: &[u32]) -> String {
    choices.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// `'pending', 'delivered'` for an `IN (…)` list; the names are the domain's own.
pub(crate) fn push_state_list(states: &[PushState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}
