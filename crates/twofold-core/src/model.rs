//! Domain entities and enumerations.

use crate::ids::{ApiTokenId, OrgAlias, OrgId, UserId};

/// An organization: the tenant every user, token and setting belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Database id.
    pub id: OrgId,
    /// Public alias (UUID).
    pub alias: OrgAlias,
    /// Human name, unique.
    pub name: String,
    /// Settings changed with `twofold org set`.
    pub settings: OrgSettings,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

/// Per-organization settings. Defaults are documented in docs/configuration.md.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrgSettings {
    /// Maximum number of users (`None`: unlimited). adduser beyond it answers 10580.
    pub max_users: Option<u32>,
    /// Services the organization has switched off (addservice answers 10555).
    pub disabled_services: Vec<String>,
}

impl OrgSettings {
    /// Settings as `key=value` lines, the form `twofold org show` prints and the store keeps.
    #[must_use]
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        vec![
            (
                "max_users".into(),
                self.max_users.map_or_else(|| "unlimited".into(), |n| n.to_string()),
            ),
            ("disabled_services".into(), self.disabled_services.join(",")),
        ]
    }

    /// Changes one setting from its text form.
    ///
    /// # Errors
    /// A message naming the problem, for the operator.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "max_users" => {
                self.max_users = if value == "unlimited" || value.is_empty() {
                    None
                } else {
                    Some(
                        value
                            .parse()
                            .map_err(|_| format!("max_users must be a number or 'unlimited', not {value:?}"))?,
                    )
                };
            }
            "disabled_services" => {
                let list: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(bad) = list.iter().find(|s| Service::from_alias(s).is_none()) {
                    return Err(format!(
                        "unknown service {bad:?}; known: {}",
                        Service::ALL.iter().map(|s| s.alias()).collect::<Vec<_>>().join(", ")
                    ));
                }
                self.disabled_services = list;
            }
            other => {
                return Err(format!(
                    "unknown setting {other:?}; known: max_users, disabled_services"
                ));
            }
        }
        Ok(())
    }
}

/// What an API token may call (restricted properties files allow authentication only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Every operation.
    Full,
    /// Authentication operations only.
    AuthOnly,
}

impl TokenScope {
    /// The stored and printed name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenScope::Full => "full",
            TokenScope::AuthOnly => "auth-only",
        }
    }

    /// Parses `full` or `auth-only`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(TokenScope::Full),
            "auth-only" => Some(TokenScope::AuthOnly),
            _ => None,
        }
    }
}

/// An API token as stored: its HMAC key is sealed with the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// The token text.
    pub token: ApiTokenId,
    /// Its organization.
    pub org_id: OrgId,
    /// What it may call.
    pub scope: TokenScope,
    /// The HMAC key sealed by [`MasterKey::seal`](crate::MasterKey::seal).
    pub sealed_key: Vec<u8>,
    /// Creation time.
    pub created_ms: i64,
    /// Revocation time; a revoked token gets 401.
    pub revoked_ms: Option<i64>,
}

/// User status (spec §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Paired; can authenticate.
    Active,
    /// The app claimed the code but pairing did not finish.
    Pending,
    /// Created but not activated, or the activation code expired.
    NotActive,
    /// An activation code was issued; not paired yet.
    PendingActivation,
    /// An admin suspended authentication.
    Suspended,
    /// The last device was unpaired; the user must pair a new one.
    PendingChangeDevice,
}

impl UserStatus {
    /// The wire and database name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Pending => "PENDING",
            UserStatus::NotActive => "NOT_ACTIVE",
            UserStatus::PendingActivation => "PENDING_ACTIVATION",
            UserStatus::Suspended => "SUSPENDED",
            UserStatus::PendingChangeDevice => "PENDING_CHANGE_DEVICE",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            UserStatus::Active,
            UserStatus::Pending,
            UserStatus::NotActive,
            UserStatus::PendingActivation,
            UserStatus::Suspended,
            UserStatus::PendingChangeDevice,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// User role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An ordinary user.
    Regular,
    /// An administrator.
    Admin,
}

impl Role {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Regular => "REGULAR",
            Role::Admin => "ADMIN",
        }
    }

    /// Parses `REGULAR`/`ADMIN`, in any case.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("REGULAR") {
            Some(Role::Regular)
        } else if s.eq_ignore_ascii_case("ADMIN") {
            Some(Role::Admin)
        } else {
            None
        }
    }
}

/// Which kind of device an activation code may pair (`deviceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// The desktop app.
    Desktop,
    /// A mobile app.
    Mobile,
}

impl DeviceKind {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Desktop => "DESKTOP",
            DeviceKind::Mobile => "MOBILE",
        }
    }

    /// Parses `DESKTOP`/`MOBILE`, in any case.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("DESKTOP") {
            Some(DeviceKind::Desktop)
        } else if s.eq_ignore_ascii_case("MOBILE") {
            Some(DeviceKind::Mobile)
        } else {
            None
        }
    }
}

/// A PingID service (spec §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The authentication API.
    Web,
    /// Backup authentication.
    RescueCode,
    /// PingOne SSO.
    PingOne,
    /// Windows login, local.
    WinLocal,
    /// Windows login over RDP.
    WinRemote,
    /// Mac login.
    MacLocal,
    /// VPN / RADIUS.
    Vpn,
    /// PingID SSH.
    Ssh,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 8] = [
        Service::Web,
        Service::RescueCode,
        Service::PingOne,
        Service::WinLocal,
        Service::WinRemote,
        Service::MacLocal,
        Service::Vpn,
        Service::Ssh,
    ];

    /// The alias clients send.
    #[must_use]
    pub const fn alias(self) -> &'static str {
        match self {
            Service::Web => "web",
            Service::RescueCode => "rescuecode",
            Service::PingOne => "pingone",
            Service::WinLocal => "winlocal",
            Service::WinRemote => "winremote",
            Service::MacLocal => "maclocal",
            Service::Vpn => "vpn",
            Service::Ssh => "ssh",
        }
    }

    /// The `spName` shown in `spList` (real values: SSO, WEB, VPN; the others follow
    /// the same upper-case pattern).
    #[must_use]
    pub const fn display_name(self) -> &'static str {
        match self {
            Service::Web => "WEB",
            Service::RescueCode => "RESCUECODE",
            Service::PingOne => "SSO",
            Service::WinLocal => "WINLOCAL",
            Service::WinRemote => "WINREMOTE",
            Service::MacLocal => "MACLOCAL",
            Service::Vpn => "VPN",
            Service::Ssh => "SSH",
        }
    }

    /// Parses an alias, in any case.
    #[must_use]
    pub fn from_alias(alias: &str) -> Option<Self> {
        Service::ALL.into_iter().find(|s| s.alias().eq_ignore_ascii_case(alias))
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Database id.
    pub id: UserId,
    /// Organization.
    pub org_id: OrgId,
    /// The name as created.
    pub username: String,
    /// Profile.
    pub profile: Profile,
    /// Stored status; see [`User::status_at`].
    pub status: UserStatus,
    /// Device kind the pending activation code is restricted to.
    pub device_kind: Option<DeviceKind>,
    /// When the pending activation code expires (epoch ms).
    pub activation_expires_ms: Option<i64>,
    /// Last successful authentication.
    pub last_login_ms: Option<i64>,
    /// Creation time.
    pub created_ms: i64,
}

impl User {
    /// The status as of `now`: a PENDING_ACTIVATION user whose code expired reads
    /// NOT_ACTIVE (spec §4.2), without a background job having to rewrite the row.
    #[must_use]
    pub fn status_at(&self, now_ms: i64) -> UserStatus {
        match (self.status, self.activation_expires_ms) {
            (UserStatus::PendingActivation, Some(exp)) if exp <= now_ms => UserStatus::NotActive,
            (status, _) => status,
        }
    }
}

/// The editable part of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// First name.
    pub fname: Option<String>,
    /// Last name.
    pub lname: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Picture URL.
    pub pic_url: Option<String>,
    /// Role.
    pub role: Role,
}

/// A user's membership in a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The service.
    pub service: Service,
    /// Whether the service is active for the user (false: NOT_ACTIVE).
    pub active: bool,
    /// Bypass expiry, epoch ms.
    pub bypass_until_ms: Option<i64>,
}

impl Membership {
    /// Whether the bypass holds at `now`.
    #[must_use]
    pub fn in_bypass(&self, now_ms: i64) -> bool {
        self.bypass_until_ms.is_some_and(|until| until > now_ms)
    }
}

/// An activation code as stored (the code itself only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationCode {
    /// The user it pairs.
    pub user_id: UserId,
    /// Expiry, epoch ms.
    pub expires_ms: i64,
    /// Restriction.
    pub device_kind: Option<DeviceKind>,
    /// Pairing progress: NOT_CLAIMED until a device claims it.
    pub state: PairingState,
    /// The device paired with it.
    pub device_id: Option<i64>,
}

/// Online pairing progress of an activation code (spec §2.3 GetPairingStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingState {
    /// Not used yet.
    NotClaimed,
    /// The app verified the code.
    Verified,
    /// The device is paired; registration not finished.
    Paired,
    /// Done; reported once.
    Success,
}

impl PairingState {
    /// The wire and database name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PairingState::NotClaimed => "NOT_CLAIMED",
            PairingState::Verified => "VERIFIED",
            PairingState::Paired => "PAIRED",
            PairingState::Success => "SUCCESS",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            PairingState::NotClaimed,
            PairingState::Verified,
            PairingState::Paired,
            PairingState::Success,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}
