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
