//! Typed request and response bodies, one module per operation family.
//!
//! Each request type implements [`Operation`]: its path segment, the token scope it needs,
//! its response type, and a `from_body` that reads the fields through the lenient
//! [`ReqBody`]. Request types also serialise (camelCase, as the PingID
//! docs spell them) so the client SDK sends exactly what the server reads.

pub mod auth;
pub mod devices;
pub mod tokens;
pub mod users;

use serde::{Serialize, de::DeserializeOwned};

use crate::body::{FieldError, ReqBody};

/// Which tokens may call an operation. PingID issues restricted properties files for
/// Windows/Mac login and SSH that allow authentication calls only (spec §1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Authentication operations: any token.
    Auth,
    /// Everything else: full-scope tokens only (403 otherwise).
    Admin,
}

/// A PingID operation.
pub trait Operation: Sized {
    /// The lower-case path segment (`/rest/4/<NAME>/do`).
    const NAME: &'static str;
    /// The scope a token needs.
    const SCOPE: Scope;
    /// The operation-specific response fields.
    type Response: Serialize + DeserializeOwned + ErrorShape;
    /// Reads the request from a lenient body.
    ///
    /// # Errors
    /// [`FieldError`] when a required field is missing or of the wrong type.
    fn from_body(body: &ReqBody) -> Result<Self, FieldError>;
}

/// The operation-specific fields an error response carries. Most operations answer errors
/// with the common fields only; a few carry empty values (real getuserdetails answers
/// 10564 with `userDetails: null, sameDeviceUsersDetails: []`; spec §10).
pub trait ErrorShape: Sized {
    /// The fields to send with an error, if any.
    fn error_shape() -> Option<Self> {
        None
    }
}

impl ErrorShape for crate::response::Empty {}

/// Every operation segment of the PingID API (spec §2.0) plus Twofold's `removeservice`.
/// Segments outside this list answer 20542; the list also bounds the metrics labels.
pub const OPERATIONS: &[&str] = &[
    "startauthentication",
    "authstatus",
    "cancelauthentication",
    "authonline",
    "authoffline",
    "webauthnstartauth",
    "startwebauthnpasswordlessauth",
    "finishwebauthnpasswordlessauth",
    "adduser",
    "getuserdetails",
    "edituser",
    "deleteuser",
    "suspenduser",
    "activateuser",
    "addservice",
    "removeservice",
    "userbypass",
    "getactivationcode",
    "pairingstatus",
    "startofflinepairing",
    "finalizeofflinepairing",
    "offlinepairing",
    "pairyubikey",
    "authenticatorappstartpairing",
    "authenticatorappfinishpairing",
    "webauthnstartpairing",
    "webauthnfinishpairing",
    "unpairdevice",
    "updatedeviceattr",
    "resyncoathtoken",
    "createorgtokens",
    "revokeorgtokens",
    "createjob",
    "getjobstatus",
    "getbulkjobstatus",
    "getorgreport",
    "readbulkauthenticationpolicy",
    "createbulkauthenticationpolicy",
    "addapplication",
    "getapplications",
    "updateapplications",
    "deleteapplications",
];

/// The authentication operations: callable with an authentication-only token.
pub const AUTH_OPERATIONS: &[&str] = &[
    "startauthentication",
    "authstatus",
    "cancelauthentication",
    "authonline",
    "authoffline",
    "webauthnstartauth",
    "startwebauthnpasswordlessauth",
    "finishwebauthnpasswordlessauth",
];

/// Whether `segment` (lower-case) is an authentication operation.
#[must_use]
pub fn scope_of(segment: &str) -> Scope {
    if AUTH_OPERATIONS.contains(&segment) {
        Scope::Auth
    } else {
        Scope::Admin
    }
}
