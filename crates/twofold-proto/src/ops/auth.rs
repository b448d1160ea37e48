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
    /// `true`: send the push now and answer 30010; the client polls `authstatus`.
    #[serde(rename = "async")]
    pub async_push: bool,
    /// `sp_name` / `sp_logo` shown by the companion app.
    pub form_parameters: PushForm,
}
auth_operation!(StartAuthentication, "startauthentication", AuthStarted, |b| Ok(Self {
    sp_alias: b.opt_str("spAlias")?.unwrap_or_else(|| "web".into()),
    user_name: b.req_str("userName")?,
    device_id: b.opt_id("deviceId")?,
    session_id: b.opt_str("sessionId")?,
    ip_addr: b.opt_str("ipAddr")?,
    async_push: b.opt_bool("async")?.unwrap_or(false),
    form_parameters: PushForm::read(b)?,
}));

/// The `formParameters` a push shows (spec §2.1 authonline): the service's name and logo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushForm {
    /// The service name shown in the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sp_name: Option<String>,
    /// A PNG URL shown in the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sp_logo: Option<String>,
}

impl PushForm {
    /// Reads `formParameters.sp_name` and `.sp_logo` (each cut to 500 characters).
    ///
    /// # Errors
    /// [`FieldError::WrongType`] when `formParameters` is not an object or a value is
    /// not text.
    pub fn read(b: &ReqBody) -> Result<Self, FieldError> {
        match b.get("formParameters") {
            Some(Value::Object(map)) => {
                let form = ReqBody::from(map.clone());
                let cut = |v: Option<String>| v.map(|s| s.chars().take(500).collect());
                Ok(Self {
                    sp_name: cut(form.opt_str("sp_name")?),
                    sp_logo: cut(form.opt_str("sp_logo")?),
                })
            }
            Some(_) => Err(FieldError::WrongType("formParameters")),
            None => Ok(Self::default()),
        }
    }
}

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
    /// authonline approved by a push: what the device reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_online_details: Option<ExtendedOnlineDetails>,
}
impl ErrorShape for AuthStarted {}

/// `extendedOnlineDetails` of an approved authonline (spec §2.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtendedOnlineDetails {
    /// The previous successful authentication (epoch ms).
    pub last_successful_login: Option<i64>,
    /// The device's OS version.
    #[serde(rename = "deviceOSVersion")]
    pub device_os_version: Option<String>,
    /// Base64 device fingerprint (Twofold: of the device's public key).
    pub device_fp: Option<String>,
    /// How the user answered: `SLIDER`.
    pub performed_form_type: Option<String>,
    /// Grace period (epoch ms).
    pub grace_period: Option<i64>,
    /// Help text.
    pub admin_help: Option<String>,
    /// `Android` or `iPhone`.
    pub device_type: Option<String>,
    /// Not collected: null.
    pub gps_location: Option<Value>,
}

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
    /// `sp_name` / `sp_logo` shown by the companion app.
    pub form_parameters: PushForm,
}
auth_operation!(AuthenticateOnline, "authonline", AuthStarted, |b| Ok(Self {
    form_parameters: PushForm::read(b)?,
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

/// `authstatus` request: poll an asynchronous authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthStatus {
    /// The session of the asynchronous startauthentication.
    pub session_id: String,
}
auth_operation!(AuthStatus, "authstatus", AuthStatusResponse, |b| Ok(Self {
    session_id: b.req_str("sessionId")?,
}));

/// Response of authstatus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthStatusResponse {
    /// The session.
    pub session_id: Option<String>,
    /// Policy cookie (null: policies are not implemented).
    pub cookie: Option<String>,
}
impl ErrorShape for AuthStatusResponse {}

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
