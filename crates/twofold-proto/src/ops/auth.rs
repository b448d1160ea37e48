//! Authentication operations (spec §2.1): startauthentication, authonline, authoffline,
//! cancelauthentication. Callable with authentication-only tokens.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::devices::{DeviceDetails, EmbeddedParameters};
use super::{ErrorShape, Operation, Scope};
use crate::body::{FieldError, Otp, ReqBody};
use crate::response::Empty;

macro_rules! auth_operation {
    ($ty:ty, $name:literal, $resp:ty, |$b:ident| $read:expr) => {
        impl Operation for $ty {
            const NAME: &'static str = $name;
            const SCOPE: Scope = Scope::Auth;
            type Response = $resp;
            fn from_body($b: &ReqBody) -> Result<Self, FieldError> {
                $read
            }
        }
    };
}

/// `startauthentication` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartAuthentication {
    /// The service, `web`.
    pub sp_alias: String,
    /// The user.
    pub user_name: String,
    /// A chosen device (second call in device-selection mode).
    pub device_id: Option<String>,
    /// The session of the first call.
    pub session_id: Option<String>,
    /// The accessing client's IP (audit trail).
    pub ip_addr: Option<String>,
}
auth_operation!(StartAuthentication, "startauthentication", AuthStarted, |b| Ok(Self {
    sp_alias: b.opt_str("spAlias")?.unwrap_or_else(|| "web".into()),
    user_name: b.req_str("userName")?,
    device_id: b.opt_id("deviceId")?,
    session_id: b.opt_str("sessionId")?,
    ip_addr: b.opt_str("ipAddr")?,
}));

/// `extendedAuthenticationDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtendedAuthenticationDetails {
    /// Help text for the user.
    pub admin_help: Option<String>,
    /// Grace period (epoch ms).
    pub grace_period: Option<i64>,
    /// The last successful authentication (epoch ms).
    pub last_successful_login: Option<i64>,
    /// Number matching (push only).
    pub number_for_matching: Option<i64>,
}

/// Response of startauthentication and authonline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthStarted {
    /// The flow session (null when no challenge was needed).
    pub session_id: Option<String>,
    /// The user's devices.
    pub user_devices: Vec<DeviceDetails>,
    /// Whether the organization is in device-selection mode.
    pub multiple_devices_enabled: bool,
    /// Details for the login page.
    pub extended_authentication_details: ExtendedAuthenticationDetails,
    /// Policy cookie (policies are not implemented: null).
    pub cookie: Option<String>,
    /// UUID of the device challenged.
    pub authenticating_device_id: Option<String>,
    /// Seen null.
    pub local_fallback_device_list: Option<Vec<Value>>,
    /// Seen null.
    pub allowed_authentication_methods: Option<Vec<Value>>,
    /// Methods the client must not offer.
    pub exclude_authentication_methods: Vec<String>,
    /// Seen null.
    pub error_params: Option<Value>,
}
impl ErrorShape for AuthStarted {}

/// `authonline` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateOnline {
    /// `web`, or `rescuecode` for backup authentication.
    pub sp_alias: String,
    /// The user.
    pub user_name: String,
    /// `CONFIRM`, `OTP`, `ONE_TIME_DEVICE`, …
    pub auth_type: String,
    /// A chosen device.
    pub device_id: Option<String>,
    /// A session from startauthentication.
    pub session_id: Option<String>,
    /// Backup: `Email`, `SMS` or `Voice`.
    pub device_type: Option<String>,
    /// Backup: the address or phone number.
    pub device_data: Option<String>,
    /// The accessing client's IP.
    pub ip_addr: Option<String>,
}
auth_operation!(AuthenticateOnline, "authonline", AuthStarted, |b| Ok(Self {
    sp_alias: b.opt_str("spAlias")?.unwrap_or_else(|| "web".into()),
    user_name: b.req_str("userName")?,
    auth_type: b.opt_str("authType")?.unwrap_or_else(|| "CONFIRM".into()),
    device_id: b.opt_id("deviceId")?,
    session_id: b.opt_str("sessionId")?,
    device_type: b.opt_str("deviceType")?,
    device_data: b.opt_str("deviceData")?,
    ip_addr: b.opt_str("ipAddr")?,
}));

/// `authoffline` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateOffline {
    /// `web` or `rescuecode`.
    pub sp_alias: String,
    /// The user.
    pub user_name: String,
    /// The code.
    pub otp: Otp,
    /// The session.
    pub session_id: Option<String>,
    /// OATH token resync: answer 30016 for the first code, take the next.
    pub oath_resync: bool,
    /// The accessing client's IP.
    pub ip_addr: Option<String>,
}
auth_operation!(AuthenticateOffline, "authoffline", AuthFinished, |b| Ok(Self {
    sp_alias: b.opt_str("spAlias")?.unwrap_or_else(|| "web".into()),
    user_name: b.req_str("userName")?,
    otp: b.req_otp("otp")?,
    session_id: b.opt_str("sessionId")?,
    // Spec §2.1 puts it in formParameters; some clients send it at the top level.
    oath_resync: match b.opt_bool("oathResync")? {
        Some(v) => v,
        None => form_parameter_bool(b, "oathResync")?.unwrap_or(false),
    },
    ip_addr: b.opt_str("ipAddr")?,
}));

/// A boolean inside `formParameters` (a map of strings).
fn form_parameter_bool(b: &ReqBody, name: &'static str) -> Result<Option<bool>, FieldError> {
    match b.get("formParameters") {
        Some(Value::Object(map)) => ReqBody::from(map.clone()).opt_bool(name),
        Some(_) => Err(FieldError::WrongType("formParameters")),
        None => Ok(None),
    }
}

/// Response of authoffline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthFinished {
    /// The session.
    pub session_id: Option<String>,
    /// Policy cookie (null: policies are not implemented).
    pub cookie: Option<String>,
    /// OATH token details, else null.
    pub embedded_parameters: Option<EmbeddedParameters>,
}
impl ErrorShape for AuthFinished {}

/// `cancelauthentication` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAuthentication {
    /// The session.
    pub session_id: String,
    /// `CHANGE_DEVICE`, `ADD_DEVICE` or `DEFAULT`.
    pub cancel_authentication_type: Option<String>,
}
auth_operation!(CancelAuthentication, "cancelauthentication", Empty, |b| Ok(Self {
    session_id: b.req_str("sessionId")?,
    cancel_authentication_type: b.opt_str("cancelAuthenticationType")?,
}));
