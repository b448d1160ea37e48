//! User management (spec §2.2, §3.1, §3.3): adduser, getuserdetails, edituser, deleteuser,
//! suspenduser, activateuser, addservice, removeservice (a Twofold extension), userbypass.

use serde::{Deserialize, Serialize};

use super::devices::{DeviceDetails, primary_device};
use super::{ErrorShape, Operation, Scope};
use crate::body::{FieldError, ReqBody};
use crate::response::Empty;

/// `userDetails` (spec §3.1). Unknown values are JSON null, never absent or `""`;
/// booleans are never null; ids and epoch-ms times are JSON integers (spec §10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDetails {
    /// The username as it was created.
    pub user_name: String,
    /// Twofold's numeric id of the user.
    pub user_id: i64,
    /// First name.
    pub fname: Option<String>,
    /// Last name.
    pub lname: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Picture URL, as given to adduser.
    #[serde(rename = "picURL")]
    pub pic_url: Option<String>,
    /// `REGULAR` or `ADMIN`.
    pub role: String,
    /// User status (spec §4.2).
    pub status: String,
    /// True while the user may authenticate (ACTIVE).
    pub user_enabled: bool,
    /// Deprecated by PingID but still read: true while any service bypass is active.
    pub user_in_bypass: bool,
    /// Deprecated: the latest active bypass expiry (epoch ms) or null.
    pub bypass_expiration: Option<i64>,
    /// Epoch ms of the last successful authentication, null before the first.
    pub last_login: Option<i64>,
    /// Service memberships.
    pub sp_list: Vec<SpEntry>,
    /// The primary device; `[]` when the user has none (what real PingID answers).
    #[serde(with = "primary_device")]
    pub device_details: Option<DeviceDetails>,
    /// Every device of the user.
    pub devices_details: Vec<DeviceDetails>,
    /// Recent authentication events.
    pub last_transactions: Vec<Transaction>,
}

/// One `spList` entry (spec §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpEntry {
    /// Service alias (`web`, `vpn`, ...).
    pub sp_alias: String,
    /// Display name (`WEB`, `SSO`, `VPN`, ...).
    pub sp_name: String,
    /// `ACTIVE`, `NOT_ACTIVE` or `BYPASS`.
    pub status: String,
    /// Bypass expiry in epoch ms while the status is `BYPASS`, else null.
    pub bypass_expiration: Option<i64>,
}

/// One `lastTransactions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// What happened (e.g. `AUTHENTICATION`).
    #[serde(rename = "type")]
    pub kind: String,
    /// When, in epoch ms.
    pub date: i64,
    /// A human-readable detail.
    #[serde(rename = "Details")]
    pub details: Option<String>,
}

/// Reads the username, spelled `userName` or `username` (matched case-insensitively).
fn username(body: &ReqBody) -> Result<String, FieldError> {
    body.req_str("userName")
}

macro_rules! operation {
    ($ty:ty, $name:literal, $resp:ty) => {
        impl Operation for $ty {
            const NAME: &'static str = $name;
            const SCOPE: Scope = Scope::Admin;
            type Response = $resp;
            fn from_body(body: &ReqBody) -> Result<Self, FieldError> {
                Self::read(body)
            }
        }
    };
}

/// `adduser` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddUser {
    /// Unique per org, case-insensitively.
    #[serde(rename = "username")]
    pub user_name: String,
    /// Also issue an activation code (status PENDING_ACTIVATION).
    pub activate_user: bool,
    /// `REGULAR` (default) or `ADMIN`.
    pub role: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// First name (`fName` accepted).
    pub fname: Option<String>,
    /// Last name (`lName` accepted).
    pub lname: Option<String>,
    /// `DESKTOP` or `MOBILE`: restricts the activation code.
    pub device_type: Option<String>,
    /// Picture URL.
    pub pic_url: Option<String>,
}

impl AddUser {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        Ok(Self {
            user_name: username(b)?,
            activate_user: b.opt_bool("activateUser")?.unwrap_or(false),
            role: b.opt_str("role")?,
            email: b.opt_str("email")?,
            fname: b.opt_str("fname")?,
            lname: b.opt_str("lname")?,
            device_type: b.opt_str("deviceType")?,
            pic_url: b.opt_str("picUrl")?,
        })
    }
}
operation!(AddUser, "adduser", UserWithCode);

/// Response of adduser and edituser: the user and, when activated, the activation code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserWithCode {
    /// 12-digit activation code (a JSON string), null when none was issued.
    pub activation_code: Option<String>,
    /// The user after the change.
    pub user_details: UserDetails,
    /// Always `[]` here; present because edituser's documented response lists it.
    #[serde(default)]
    pub same_device_users_details: Vec<UserDetails>,
}
impl ErrorShape for UserWithCode {}

/// `getuserdetails` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetUserDetails {
    /// The user.
    pub user_name: String,
    /// Also list the other users paired to the same mobile device.
    pub get_same_device_users: bool,
}
impl GetUserDetails {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        Ok(Self {
            user_name: username(b)?,
            get_same_device_users: b.opt_bool("getSameDeviceUsers")?.unwrap_or(false),
        })
    }
}
operation!(GetUserDetails, "getuserdetails", UserDetailsResponse);

/// Response of getuserdetails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDetailsResponse {
    /// The user; null in the error answer.
    pub user_details: Option<UserDetails>,
    /// Other users on the same device; `[]` when not requested.
    pub same_device_users_details: Vec<UserDetails>,
}
impl ErrorShape for UserDetailsResponse {
    /// Real PingID answers 10564 with `userDetails: null, sameDeviceUsersDetails: []`.
    fn error_shape() -> Option<Self> {
        Some(Self {
            user_details: None,
            same_device_users_details: Vec::new(),
        })
    }
}

/// `edituser` request. Fields not supplied are cleared, as PingID does (spec §2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditUser {
    /// The user.
    pub user_name: String,
    /// Issue an activation code when the user is not active.
    pub activate_user: Option<bool>,
    /// New email, null clears.
    pub email: Option<String>,
    /// New first name, null clears.
    pub fname: Option<String>,
    /// New last name, null clears.
    pub lname: Option<String>,
    /// New role; absent means `REGULAR`.
    pub role: Option<String>,
}
impl EditUser {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        Ok(Self {
            user_name: username(b)?,
            activate_user: b.opt_bool("activateUser")?,
            email: b.opt_str("email")?,
            fname: b.opt_str("fname")?,
            lname: b.opt_str("lname")?,
            role: b.opt_str("role")?,
        })
    }
}
operation!(EditUser, "edituser", UserWithCode);

/// A request naming only a user: deleteuser, suspenduser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    /// The user.
    pub user_name: String,
}
impl UserRef {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        Ok(Self {
            user_name: username(b)?,
        })
    }
}

/// `deleteuser` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteUser(pub UserRef);
impl DeleteUser {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        UserRef::read(b).map(Self)
    }
}
operation!(DeleteUser, "deleteuser", Empty);

/// `suspenduser` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspendUser(pub UserRef);
impl SuspendUser {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        UserRef::read(b).map(Self)
    }
}
operation!(SuspendUser, "suspenduser", Empty);

/// `activateuser` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivateUser {
    /// The user.
    pub user_name: String,
    /// `DESKTOP` or `MOBILE`.
    pub device_type: Option<String>,
}
impl ActivateUser {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        Ok(Self {
            user_name: username(b)?,
            device_type: b.opt_str("deviceType")?,
        })
    }
}
operation!(ActivateUser, "activateuser", ActivationCodeResponse);

/// A response carrying an activation code (activateuser, getactivationcode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationCodeResponse {
    /// 12 digits, always a JSON string (Java clients cast it to String); null when
    /// activateuser re-enabled a suspended user and issued no code.
    pub activation_code: Option<String>,
}
impl ErrorShape for ActivationCodeResponse {}

/// `addservice` and `removeservice` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceChange {
    /// The user.
    pub user_name: String,
    /// The service alias (spec §4.5).
    pub sp_alias: String,
}
impl ServiceChange {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        Ok(Self {
            user_name: username(b)?,
            sp_alias: b.req_str("spAlias")?,
        })
    }
}

/// `addservice` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddService(pub ServiceChange);
impl AddService {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        ServiceChange::read(b).map(Self)
    }
}
operation!(AddService, "addservice", Empty);

/// `removeservice` request: a Twofold extension, the inverse of addservice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveService(pub ServiceChange);
impl RemoveService {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        ServiceChange::read(b).map(Self)
    }
}
operation!(RemoveService, "removeservice", Empty);

/// `userbypass` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBypass {
    /// The user.
    pub user_name: String,
    /// Epoch ms until which the bypass holds; null removes it.
    pub bypass_until: Option<i64>,
    /// The services to bypass; absent means all of the user's services.
    pub sp_aliases: Option<Vec<String>>,
}
impl UserBypass {
    fn read(b: &ReqBody) -> Result<Self, FieldError> {
        Ok(Self {
            user_name: username(b)?,
            bypass_until: b.opt_i64("bypassUntil")?,
            sp_aliases: b.opt_str_list("spAliases")?,
        })
    }
}
operation!(UserBypass, "userbypass", Empty);
