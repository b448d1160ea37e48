//! Devices: what a user pairs, and the factor state each kind keeps.

use crate::ids::{OrgId, UserId};

/// A device's id: a positive integer below 2^53, so JavaScript and PowerShell clients
/// keep it exact (spec §1.9.6), drawn at random so ids reveal nothing about counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub i64);

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Largest device id + 1.
pub const DEVICE_ID_BOUND: u64 = 1 << 53;

/// The kinds of device (spec §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// SMS codes to a phone.
    Sms,
    /// Codes read out by a phone call.
    Voice,
    /// Codes by email.
    Email,
    /// A TOTP authenticator app (Google Authenticator, ...).
    AuthenticatorApp,
    /// An OATH hardware token (HOTP or TOTP) from the organization's stock.
    HardwareToken,
    /// A YubiKey in Yubico OTP mode.
    YubiKey,
    /// The companion app on an Android phone: pushes and the app's OTP.
    Android,
    /// The companion app on an iPhone: pushes and the app's OTP.
    IPhone,
    /// The companion app on a desktop: the app's OTP only (no push).
    Desktop,
}

impl DeviceType {
    /// Every type.
    pub const ALL: [DeviceType; 9] = [
        DeviceType::Sms,
        DeviceType::Voice,
        DeviceType::Email,
        DeviceType::AuthenticatorApp,
        DeviceType::HardwareToken,
        DeviceType::YubiKey,
        DeviceType::Android,
        DeviceType::IPhone,
        DeviceType::Desktop,
    ];

    /// Whether this is the companion app (paired online, signs its calls, has an OTP).
    #[must_use]
    pub const fn is_companion(self) -> bool {
        matches!(self, DeviceType::Android | DeviceType::IPhone | DeviceType::Desktop)
    }

    /// Whether this kind receives pushes (the mobile companion app).
    #[must_use]
    pub const fn receives_push(self) -> bool {
        matches!(self, DeviceType::Android | DeviceType::IPhone)
    }

    /// The `type` name of device objects (spec §4.3), also the stored name.
    #[must_use]
    pub const fn wire_name(self) -> &'static str {
        match self {
            DeviceType::Sms => "SMS",
            DeviceType::Voice => "Voice",
            DeviceType::Email => "Email",
            DeviceType::AuthenticatorApp => "Authenticator App",
            DeviceType::HardwareToken => "Hardware Token",
            DeviceType::YubiKey => "YubiKey",
            DeviceType::Android => "Android",
            DeviceType::IPhone => "iPhone",
            DeviceType::Desktop => "Desktop",
        }
    }

    /// The stem of default nicknames: "SMS 1", "Email 2", "YubiKey 1".
    #[must_use]
    pub const fn nickname_stem(self) -> &'static str {
        self.wire_name()
    }

    /// Parses a stored name.
    #[must_use]
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.wire_name() == name)
    }

    /// Parses the pairing-request spelling (`SMS`, `VOICE`, `EMAIL`, `TOKEN`,
    /// `AUTHENTICATOR_APP`; spec §4.3), in any case.
    #[must_use]
    pub fn from_pairing_type(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "SMS" => Some(DeviceType::Sms),
            "VOICE" => Some(DeviceType::Voice),
            "EMAIL" => Some(DeviceType::Email),
            "TOKEN" => Some(DeviceType::HardwareToken),
            "AUTHENTICATOR_APP" => Some(DeviceType::AuthenticatorApp),
            _ => None,
        }
    }
}

/// OATH parameters of a TOTP/HOTP device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OathParams {
    /// `HOTP` (counter) or `TOTP` (time).
    pub kind: OathKind,
    /// HMAC algorithm name: SHA1, SHA256, SHA512.
    pub algorithm: &'static str,
    /// 6 or 8.
    pub digits: u32,
    /// TOTP step in seconds (30 or 60); unused for HOTP.
    pub period: u32,
}

/// Counter- or time-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OathKind {
    /// RFC 4226.
    Hotp,
    /// RFC 6238.
    Totp,
}

impl OathKind {
    /// `HOTP` / `TOTP`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            OathKind::Hotp => "HOTP",
            OathKind::Totp => "TOTP",
        }
    }

    /// Parses `HOTP`/`TOTP` in any case.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "HOTP" => Some(OathKind::Hotp),
            "TOTP" => Some(OathKind::Totp),
            _ => None,
        }
    }
}

impl OathParams {
    /// The authenticator-app default: TOTP, SHA1, 6 digits, 30 s (what every app supports).
    pub const APP_DEFAULT: OathParams = OathParams {
        kind: OathKind::Totp,
        algorithm: "SHA1",
        digits: 6,
        period: 30,
    };
}

/// A paired device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Id.
    pub id: DeviceId,
    /// UUID.
    pub uuid: String,
    /// Owner.
    pub user_id: UserId,
    /// Organization.
    pub org_id: OrgId,
    /// Kind.
    pub kind: DeviceType,
    /// Position in the user's fallback order, 1 = PRIMARY.
    pub position: i64,
    /// User-visible name, unique among the user's devices.
    pub nickname: String,
    /// Phone number (E.164 digits without `+`) for SMS/voice; may carry `,ext` for voice.
    pub phone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// OATH token serial or YubiKey public id/serial.
    pub serial: Option<String>,
    /// OATH parameters for authenticator apps and tokens.
    pub oath: Option<OathParams>,
    /// The factor secret (TOTP/HOTP seed, YubiKey AES key + private id), sealed with the
    /// master key bound to the device uuid.
    pub sealed_secret: Option<Vec<u8>>,
    /// HOTP: next counter; TOTP: last accepted step; YubiKey: last (use << 8 | session).
    pub counter: Option<i64>,
    /// Pairing time, epoch ms.
    pub enrolled_ms: i64,
    /// Last successful use, epoch ms.
    pub last_used_ms: Option<i64>,
}

impl Device {
    /// Whether this is the user's primary device.
    #[must_use]
    pub fn is_primary(&self) -> bool {
        self.position == 1
    }
}
