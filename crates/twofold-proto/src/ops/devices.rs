//! Devices and online pairing (spec §2.3, §3.2): the device object, getactivationcode and
//! pairingstatus.

use serde::{Deserialize, Serialize};

use super::users::ActivationCodeResponse;
use super::{ErrorShape, Operation, Scope};
use crate::body::{FieldError, ReqBody};

/// The device object of `deviceDetails`, `devicesDetails[]` and `userDevices[]` (spec §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceDetails {
    /// Unique id, a JSON integer below 2^53 so JavaScript clients keep it exact.
    pub device_id: i64,
    /// UUID of the device.
    pub device_uuid: String,
    /// Device type name (spec §4.3): `SMS`, `Email`, `Authenticator App`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// `PRIMARY` or `SECONDARY`; exactly one device of a user is PRIMARY.
    pub device_role: String,
    /// User-visible name, e.g. `SMS 1`.
    pub nickname: String,
    /// Type-dependent label (phone number, email, serial, model).
    #[serde(rename = "displayID")]
    pub display_id: String,
    /// Pairing time, `yyyy-MM-dd HH:mm:ss.SSS`.
    pub enrollment: String,
    /// Whether push notifications reach the device.
    pub push_enabled: bool,
    /// Apple Watch paired.
    pub has_watch: bool,
    /// Companion app version.
    pub app_version: Option<String>,
    /// Operating system version.
    pub os_version: Option<String>,
    /// Device model.
    pub device_model: Option<String>,
    /// Phone number (string).
    pub phone_number: Option<String>,
    /// Country calling code (string).
    pub country_code: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Remaining daily quota of unused SMS/voice codes.
    pub available_not_claimed_sms: i64,
    /// Remaining daily quota of used SMS/voice codes.
    pub available_claimed_sms: i64,
    /// Deprecated, always -1.
    pub sent_not_claimed_sms: i64,
    /// Deprecated, always -1.
    pub sent_claimed_sms: i64,
    /// OATH token serial.
    pub oath_serial_number: Option<String>,
    /// `HOTP` or `TOTP` for OATH tokens.
    pub oath_token_type: Option<String>,
}

/// `deviceDetails` is the primary device, or `[]` for a user without devices (what real
/// PingID answers; spec §10). Reading also accepts `null` and `{}`-less variants.
pub mod primary_device {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::DeviceDetails;

    /// Writes the device, or `[]`.
    ///
    /// # Errors
    /// Whatever the serializer reports.
    pub fn serialize<S: Serializer>(value: &Option<DeviceDetails>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => d.serialize(s),
            None => <[u8; 0]>::serialize(&[], s),
        }
    }

    /// Reads a device object, or `null`/`[]` as none.
    ///
    /// # Errors
    /// When the value is an object that is not a device.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DeviceDetails>, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::Object(_) => serde_json::from_value(v).map(Some).map_err(serde::de::Error::custom),
            _ => Ok(None),
        }
    }
}

/// `getactivationcode` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetActivationCode {
    /// The user.
    pub user_name: String,
    /// `DESKTOP` or `MOBILE`.
    pub device_type: Option<String>,
    /// Validity in hours, 1–336; default 48.
    pub hours_until_expiration: Option<i64>,
}

impl Operation for GetActivationCode {
    const NAME: &'static str = "getactivationcode";
    const SCOPE: Scope = Scope::Admin;
    type Response = ActivationCodeResponse;
    fn from_body(b: &ReqBody) -> Result<Self, FieldError> {
        Ok(Self {
            user_name: b.req_str("userName")?,
            device_type: b.opt_str("deviceType")?,
            hours_until_expiration: b.opt_i64("hoursUntilExpiration")?,
        })
    }
}

/// `pairingstatus` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingStatus {
    /// The 12-digit activation code (a number is left-padded back to 12 digits).
    pub activation_code: String,
}

impl Operation for PairingStatus {
    const NAME: &'static str = "pairingstatus";
    const SCOPE: Scope = Scope::Admin;
    type Response = PairingStatusResponse;
    fn from_body(b: &ReqBody) -> Result<Self, FieldError> {
        Ok(Self {
            activation_code: b
                .opt_code("activationCode", 12)?
                .ok_or(FieldError::Missing("activationCode"))?,
        })
    }
}

/// `pairingstatus` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingStatusResponse {
    /// `NOT_EXIST`, `NOT_CLAIMED`, `VERIFIED`, `PAIRED` or `SUCCESS`.
    pub pairing_status: String,
    /// The paired device once there is one, else null.
    pub device_id: Option<i64>,
}
impl ErrorShape for PairingStatusResponse {}

macro_rules! admin_operation {
    ($ty:ty, $name:literal, $resp:ty, |$b:ident| $read:expr) => {
        impl Operation for $ty {
            const NAME: &'static str = $name;
            const SCOPE: Scope = Scope::Admin;
            type Response = $resp;
            fn from_body($b: &ReqBody) -> Result<Self, FieldError> {
                $read
            }
        }
    };
}

/// `offlinepairing` and `startofflinepairing` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfflinePairingRequest {
    /// The user (`username` in Ping's docs; `userName` accepted).
    #[serde(rename = "username")]
    pub user_name: String,
    /// `SMS`, `VOICE`, `EMAIL`, `TOKEN`, `AUTHENTICATOR_APP` (offlinepairing only).
    #[serde(rename = "type")]
    pub kind: String,
    /// Phone number, email address, token serial, or authenticator-app secret.
    pub pairing_data: String,
    /// Refuse a target already paired to another user (20571).
    pub validate_unique_device: bool,
}

impl OfflinePairingRequest {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        Ok(Self {
            user_name: b.req_str("userName")?,
            kind: b.req_str("type")?,
            pairing_data: b.req_str("pairingData")?,
            validate_unique_device: b.opt_bool("validateUniqueDevice")?.unwrap_or(false),
        })
    }
}

/// `offlinepairing`: pairs without verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflinePairing(pub OfflinePairingRequest);
admin_operation!(OfflinePairing, "offlinepairing", PairingStarted, |b| {
    OfflinePairingRequest::read(b).map(Self)
});

/// `startofflinepairing`: sends a code (or waits for a token's code).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartOfflinePairing(pub OfflinePairingRequest);
admin_operation!(StartOfflinePairing, "startofflinepairing", PairingStarted, |b| {
    OfflinePairingRequest::read(b).map(Self)
});

/// Response of offlinepairing and startofflinepairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingStarted {
    /// `oacts_…` for startofflinepairing; null for offlinepairing (nothing to finish).
    pub session_id: Option<String>,
    /// The device (to be) paired.
    pub device_id: i64,
    /// Its UUID.
    pub device_uuid: String,
    /// `HOTP`/`TOTP` for TOKEN pairings, else null.
    pub token_type: Option<String>,
}
impl ErrorShape for PairingStarted {}

/// `finalizeofflinepairing` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeOfflinePairing {
    /// From startofflinepairing.
    pub session_id: String,
    /// The code received (or shown by the token).
    pub otp: crate::body::Otp,
    /// The token is out of sync: search wider, answer 30016, and take the next code.
    pub oath_resync: bool,
}
admin_operation!(FinalizeOfflinePairing, "finalizeofflinepairing", PairingFinished, |b| {
    Ok(Self {
        session_id: b.req_str("sessionId")?,
        otp: b.req_otp("otp")?,
        oath_resync: b.opt_bool("oathResync")?.unwrap_or(false),
    })
});

/// `embeddedParameters` of a finished TOKEN pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedParameters {
    /// The token's serial.
    pub oath_serial_number: String,
    /// `HOTP`/`TOTP`.
    pub oath_token_type: String,
}

/// Response of finalizeofflinepairing and authenticatorappfinishpairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingFinished {
    /// The paired device (null while a resync waits for the next code).
    pub device_id: Option<i64>,
    /// Its UUID.
    pub device_uuid: Option<String>,
    /// Token details for OATH tokens, else null.
    pub embedded_parameters: Option<EmbeddedParameters>,
    /// The session, while a resync waits for the next code (30016), else null.
    pub session_id: Option<String>,
}
impl ErrorShape for PairingFinished {}

/// `authenticatorappstartpairing` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorAppStartPairing {
    /// The user.
    #[serde(rename = "username")]
    pub user_name: String,
    /// Only `TOTP`.
    pub pairing_type: Option<String>,
}
admin_operation!(
    AuthenticatorAppStartPairing,
    "authenticatorappstartpairing",
    AppPairingStarted,
    |b| Ok(Self {
        user_name: b.req_str("userName")?,
        pairing_type: b.opt_str("pairingType")?,
    })
);

/// Response of authenticatorappstartpairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppPairingStarted {
    /// `oacts_…`.
    pub session_id: String,
    /// `otpauth://totp/Issuer:account?secret=…&issuer=…` for the QR code.
    pub pairing_key_uri: String,
    /// The secret in groups of four, for typing by hand.
    pub pairing_key: String,
    /// The device the finish creates.
    pub device_id: i64,
    /// Its UUID.
    pub device_uuid: String,
}
impl ErrorShape for AppPairingStarted {}

/// `authenticatorappfinishpairing` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorAppFinishPairing {
    /// From the start.
    pub session_id: String,
    /// The app's current code.
    pub otp: crate::body::Otp,
}
admin_operation!(
    AuthenticatorAppFinishPairing,
    "authenticatorappfinishpairing",
    PairingFinished,
    |b| Ok(Self {
        session_id: b.req_str("sessionId")?,
        otp: b.req_otp("otp")?,
    })
);

/// `unpairdevice` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnpairDevice {
    /// The user.
    pub user_name: String,
    /// The device; absent or null unpairs every device.
    pub device_id: Option<String>,
}
admin_operation!(UnpairDevice, "unpairdevice", crate::response::Empty, |b| Ok(Self {
    user_name: b.req_str("userName")?,
    device_id: b.opt_id("deviceId")?,
}));

/// `updatedeviceattr` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateDeviceAttr {
    /// The user.
    pub user_name: String,
    /// The device.
    pub device_id: String,
    /// `SET_PRIMARY`, `NICKNAME` or `ORDER`.
    pub attribute_name: String,
    /// `"true"`, the nickname, or the position.
    pub attribute_value: String,
}
admin_operation!(UpdateDeviceAttr, "updatedeviceattr", crate::response::Empty, |b| Ok(
    Self {
        user_name: b.req_str("userName")?,
        device_id: b.opt_id("deviceId")?.ok_or(FieldError::Missing("deviceId"))?,
        attribute_name: b.req_str("attributeName")?,
        attribute_value: b.req_str("attributeValue")?,
    }
));

/// `pairyubikey` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairYubiKey {
    /// The user (`username`; `userName` accepted).
    #[serde(rename = "username")]
    pub user_name: String,
    /// One OTP typed by the key (modhex, 32–48 characters).
    pub otp: String,
    /// Refuse a key already paired to another user (20571).
    pub validate_unique_device: bool,
}
admin_operation!(PairYubiKey, "pairyubikey", PairedDevice, |b| Ok(Self {
    user_name: b.req_str("userName")?,
    otp: b.req_str("otp")?,
    validate_unique_device: b.opt_bool("validateUniqueDevice")?.unwrap_or(false),
}));

/// Response of pairyubikey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedDevice {
    /// The new device.
    pub device_id: i64,
    /// Its UUID.
    pub device_uuid: String,
}
impl ErrorShape for PairedDevice {}
