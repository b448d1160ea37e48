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

/// Per-organization settings. Defaults are documented in docs/configuration.md; each
/// setting has one line in [`OrgSettings::KEYS`], which `twofold org show|set` and the
/// store's text form are built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSettings {
    /// Maximum number of users (`None`: unlimited). adduser beyond it answers 10580.
    pub max_users: Option<u32>,
    /// Services the organization has switched off (addservice answers 10555).
    pub disabled_services: Vec<String>,
    /// Digits of SMS, voice and email codes (4–10).
    pub otp_length: u32,
    /// How long a sent code stays valid, in seconds.
    pub otp_validity_secs: u32,
    /// Wrong codes a pairing or authentication session allows before it closes.
    pub attempts_per_session: u32,
    /// Devices a user may have.
    pub max_devices: u32,
    /// SMS/voice codes a user may use per day (20563 beyond).
    pub sms_daily_claimed: u32,
    /// SMS/voice codes a user may be sent and not use per day (20564 beyond).
    pub sms_daily_unclaimed: u32,
    /// SMS and voice devices allowed (20552 otherwise).
    pub sms_voice_enabled: bool,
    /// Email devices allowed (20557 otherwise).
    pub email_enabled: bool,
    /// YubiKeys allowed (20555 otherwise).
    pub yubikey_enabled: bool,
    /// OATH hardware tokens allowed (20572 otherwise).
    pub oath_enabled: bool,
    /// Authenticator apps allowed.
    pub authenticator_app_enabled: bool,
    /// WebAuthn devices allowed (20573 otherwise).
    pub webauthn_enabled: bool,
    /// Device-selection mode: a user with several devices picks one (30008) instead of
    /// the PRIMARY being used.
    pub device_selection: bool,
    /// How long an authentication session lives, in seconds.
    pub session_lifetime_secs: u32,
    /// Consecutive failed factor attempts (across sessions) that lock a user (20526).
    pub lockout_threshold: u32,
    /// How long such a lockout lasts, in seconds.
    pub lockout_secs: u32,
    /// Codes that may be sent to one phone or address within 10 minutes (20548 beyond).
    pub resend_limit: u32,
    /// API requests per second the organization may make (per node); beyond it HTTP
    /// 429 with `Retry-After`. 0 means unlimited.
    pub requests_per_second: u32,
    /// How long a push waits for the user's answer, in seconds (then 20522).
    pub push_timeout_secs: u32,
    /// How long the companion app has to pick a push up before the device counts as
    /// unreachable, in seconds (20521 for authonline; 30006 at startauthentication when
    /// the app has not been heard from for this long).
    pub reachability_secs: u32,
    /// Number matching for asynchronous pushes: the sign-in page shows a number the user
    /// picks in the app (20585 for a wrong pick).
    pub number_matching: bool,
    /// Whether one companion app (one key) may be paired to several users (20544 if not).
    pub multiple_users_per_device: bool,
    /// Pushes one device may be sent within 10 minutes (20548 beyond).
    pub push_rate_limit: u32,
}

impl Default for OrgSettings {
    fn default() -> Self {
        Self {
            max_users: None,
            disabled_services: Vec::new(),
            otp_length: 6,
            otp_validity_secs: 300,
            attempts_per_session: 3,
            max_devices: 15,
            sms_daily_claimed: 50,
            sms_daily_unclaimed: 50,
            sms_voice_enabled: true,
            email_enabled: true,
            yubikey_enabled: true,
            oath_enabled: true,
            authenticator_app_enabled: true,
            webauthn_enabled: true,
            device_selection: false,
            session_lifetime_secs: 600,
            lockout_threshold: 10,
            lockout_secs: 900,
            resend_limit: 10,
            requests_per_second: 0,
            push_timeout_secs: 60,
            reachability_secs: 10,
            number_matching: false,
            multiple_users_per_device: false,
            push_rate_limit: 20,
        }
    }
}

fn parse_num(key: &str, value: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32, String> {
    value.parse::<u32>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        format!(
            "{key} must be a number in {}..={}, not {value:?}",
            range.start(),
            range.end()
        )
    })
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" | "on" | "yes" => Ok(true),
        "false" | "off" | "no" => Ok(false),
        _ => Err(format!("{key} must be true or false, not {value:?}")),
    }
}

impl OrgSettings {
    /// Every setting name, in display order.
    pub const KEYS: [&'static str; 25] = [
        "max_users",
        "disabled_services",
        "otp_length",
        "otp_validity_secs",
        "attempts_per_session",
        "max_devices",
        "sms_daily_claimed",
        "sms_daily_unclaimed",
        "sms_voice_enabled",
        "email_enabled",
        "yubikey_enabled",
        "oath_enabled",
        "authenticator_app_enabled",
        "webauthn_enabled",
        "device_selection",
        "session_lifetime_secs",
        "lockout_threshold",
        "lockout_secs",
        "resend_limit",
        "requests_per_second",
        "push_timeout_secs",
        "reachability_secs",
        "number_matching",
        "multiple_users_per_device",
        "push_rate_limit",
    ];

    /// One setting's text form.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "max_users" => self.max_users.map_or_else(|| "unlimited".into(), |n| n.to_string()),
            "disabled_services" => self.disabled_services.join(","),
            "otp_length" => self.otp_length.to_string(),
            "otp_validity_secs" => self.otp_validity_secs.to_string(),
            "attempts_per_session" => self.attempts_per_session.to_string(),
            "max_devices" => self.max_devices.to_string(),
            "sms_daily_claimed" => self.sms_daily_claimed.to_string(),
            "sms_daily_unclaimed" => self.sms_daily_unclaimed.to_string(),
            "sms_voice_enabled" => self.sms_voice_enabled.to_string(),
            "email_enabled" => self.email_enabled.to_string(),
            "yubikey_enabled" => self.yubikey_enabled.to_string(),
            "oath_enabled" => self.oath_enabled.to_string(),
            "authenticator_app_enabled" => self.authenticator_app_enabled.to_string(),
            "webauthn_enabled" => self.webauthn_enabled.to_string(),
            "device_selection" => self.device_selection.to_string(),
            "session_lifetime_secs" => self.session_lifetime_secs.to_string(),
            "lockout_threshold" => self.lockout_threshold.to_string(),
            "lockout_secs" => self.lockout_secs.to_string(),
            "resend_limit" => self.resend_limit.to_string(),
            "requests_per_second" => self.requests_per_second.to_string(),
            "push_timeout_secs" => self.push_timeout_secs.to_string(),
            "reachability_secs" => self.reachability_secs.to_string(),
            "number_matching" => self.number_matching.to_string(),
            "multiple_users_per_device" => self.multiple_users_per_device.to_string(),
            "push_rate_limit" => self.push_rate_limit.to_string(),
            _ => return None,
        })
    }

    /// Settings as `key=value` pairs, the form `twofold org show` prints.
    #[must_use]
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        Self::KEYS
            .iter()
            .map(|k| ((*k).to_string(), self.get(k).unwrap_or_default()))
            .collect()
    }

    /// The stored text form: one `key=value` per line.
    #[must_use]
    pub fn to_text(&self) -> String {
        self.to_pairs().into_iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    /// Reads the stored text form; unknown keys (from a newer version) are ignored.
    ///
    /// # Errors
    /// A message naming the bad line.
    pub fn from_text(text: &str) -> Result<Self, String> {
        let mut settings = Self::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("bad settings line {line:?}"))?;
            if Self::KEYS.contains(&k) {
                settings.set(k, v)?;
            }
        }
        Ok(settings)
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
                    Some(parse_num(key, value, 0..=u32::MAX)?)
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
                    let known: Vec<&str> = Service::ALL.iter().map(|s| s.alias()).collect();
                    return Err(format!("unknown service {bad:?}; known: {}", known.join(", ")));
                }
                self.disabled_services = list;
            }
            "otp_length" => self.otp_length = parse_num(key, value, 4..=10)?,
            "otp_validity_secs" => self.otp_validity_secs = parse_num(key, value, 30..=86_400)?,
            "attempts_per_session" => self.attempts_per_session = parse_num(key, value, 1..=100)?,
            "max_devices" => self.max_devices = parse_num(key, value, 1..=1000)?,
            "sms_daily_claimed" => self.sms_daily_claimed = parse_num(key, value, 0..=100_000)?,
            "sms_daily_unclaimed" => self.sms_daily_unclaimed = parse_num(key, value, 0..=100_000)?,
            "sms_voice_enabled" => self.sms_voice_enabled = parse_bool(key, value)?,
            "email_enabled" => self.email_enabled = parse_bool(key, value)?,
            "yubikey_enabled" => self.yubikey_enabled = parse_bool(key, value)?,
            "oath_enabled" => self.oath_enabled = parse_bool(key, value)?,
            "authenticator_app_enabled" => self.authenticator_app_enabled = parse_bool(key, value)?,
            "webauthn_enabled" => self.webauthn_enabled = parse_bool(key, value)?,
            "device_selection" => self.device_selection = parse_bool(key, value)?,
            "session_lifetime_secs" => self.session_lifetime_secs = parse_num(key, value, 60..=86_400)?,
            "lockout_threshold" => self.lockout_threshold = parse_num(key, value, 1..=1000)?,
            "lockout_secs" => self.lockout_secs = parse_num(key, value, 1..=604_800)?,
            "resend_limit" => self.resend_limit = parse_num(key, value, 1..=1000)?,
            "requests_per_second" => self.requests_per_second = parse_num(key, value, 0..=1_000_000)?,
            "push_timeout_secs" => self.push_timeout_secs = parse_num(key, value, 1..=600)?,
            "reachability_secs" => self.reachability_secs = parse_num(key, value, 1..=600)?,
            "number_matching" => self.number_matching = parse_bool(key, value)?,
            "multiple_users_per_device" => self.multiple_users_per_device = parse_bool(key, value)?,
            "push_rate_limit" => self.push_rate_limit = parse_num(key, value, 1..=10_000)?,
            other => return Err(format!("unknown setting {other:?}; known: {}", Self::KEYS.join(", "))),
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
