//! OATH token stock and jobs (spec §2.3 createorgtokens / revokeorgtokens /
//! resyncoathtoken, §2.4 getjobstatus).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ErrorShape, Operation, Scope};
use crate::body::{FieldError, Otp, ReqBody};

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

/// One token of createorgtokens (all fields are strings on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRow {
    /// Serial number.
    pub serial_number: String,
    /// `HOTP` or `TOTP`.
    pub token_type: String,
    /// The seed (hex or base32).
    pub secret_key: String,
    /// `"6"` or `"8"`.
    pub otp_length: Option<String>,
    /// `"30"` or `"60"` (TOTP).
    pub time_step: Option<String>,
}

/// `createorgtokens` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOrgTokens {
    /// The tokens to add.
    pub tokens: Vec<TokenRow>,
}
admin_operation!(CreateOrgTokens, "createorgtokens", JobStarted, |b| {
    let Some(Value::Array(items)) = b.get("tokens") else {
        return Err(FieldError::Missing("tokens"));
    };
    let mut tokens = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(map) = item else {
            return Err(FieldError::WrongType("tokens"));
        };
        let row = ReqBody::from(map.clone());
        tokens.push(TokenRow {
            serial_number: row.req_str("serialNumber")?,
            token_type: row.req_str("tokenType")?,
            secret_key: row.req_str("secretKey")?,
            otp_length: row.opt_str("otpLength")?,
            time_step: row.opt_str("timeStep")?,
        });
    }
    Ok(Self { tokens })
});

/// `revokeorgtokens` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeOrgTokens {
    /// Unpair paired tokens first (default false: fail if any is paired).
    pub unpair_before_delete: bool,
    /// The serials to remove.
    pub serial_numbers: Vec<String>,
}
admin_operation!(RevokeOrgTokens, "revokeorgtokens", JobStarted, |b| Ok(Self {
    unpair_before_delete: b.opt_bool("unpairBeforeDelete")?.unwrap_or(false),
    serial_numbers: b
        .opt_str_list("serialNumbers")?
        .ok_or(FieldError::Missing("serialNumbers"))?,
}));

/// Response of the job-starting operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStarted {
    /// Poll getjobstatus with it.
    pub job_token: String,
}
impl ErrorShape for JobStarted {}

/// `getjobstatus` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetJobStatus {
    /// From createjob, createorgtokens or revokeorgtokens.
    pub job_token: String,
}
admin_operation!(GetJobStatus, "getjobstatus", JobStatus, |b| Ok(Self {
    job_token: b.req_str("jobToken")?
}));

/// Response of getjobstatus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// `pending`, `in_progress`, `done` or `failure`.
    pub status: String,
    /// The job's result object (`type`, upper-case `status`, and job-specific fields).
    pub job_result: Value,
}
impl ErrorShape for JobStatus {}

/// `resyncoathtoken` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResyncOathToken {
    /// The token.
    pub serial_number: String,
    /// One or two codes.
    pub otps: Vec<Otp>,
    /// From a previous one-code step.
    pub session_id: Option<String>,
}
admin_operation!(ResyncOathToken, "resyncoathtoken", ResyncAnswer, |b| {
    let otps = match b.get("otps") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(Otp::from(s.trim().to_string())),
                Value::Number(n) => n
                    .as_u64()
                    .map(|n| Otp::numeric(n.to_string()))
                    .ok_or(FieldError::WrongType("otps")),
                _ => Err(FieldError::WrongType("otps")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(FieldError::WrongType("otps")),
        None => return Err(FieldError::Missing("otps")),
    };
    Ok(Self {
        serial_number: b.req_str("serialNumber")?,
        otps,
        session_id: b.opt_str("sessionId")?,
    })
});

/// Response of resyncoathtoken: the session while it waits for the next code (30016),
/// null when done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResyncAnswer {
    /// `oarys_…` while waiting, else null.
    pub session_id: Option<String>,
}
impl ErrorShape for ResyncAnswer {}

/// `createjob` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJob {
    /// Only `USER_REPORTS`.
    pub job_type: String,
}
admin_operation!(CreateJob, "createjob", JobStarted, |b| Ok(Self {
    job_type: b.req_str("jobType")?
}));

/// `getbulkjobstatus` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetBulkJobStatus {
    /// The jobs.
    pub job_tokens: Vec<String>,
}
admin_operation!(GetBulkJobStatus, "getbulkjobstatus", BulkJobStatus, |b| Ok(Self {
    job_tokens: b.opt_str_list("jobTokens")?.ok_or(FieldError::Missing("jobTokens"))?,
}));

/// Response of getbulkjobstatus: job token → `{status, type}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkJobStatus {
    /// One entry per job token.
    pub job_results: serde_json::Map<String, Value>,
}
impl ErrorShape for BulkJobStatus {}

/// `getorgreport` request (the answer is the raw file, not a JWS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetOrgReport {
    /// `CSV` or `JSON`.
    pub file_type: String,
}
admin_operation!(GetOrgReport, "getorgreport", crate::response::Empty, |b| Ok(Self {
    file_type: b.req_str("fileType")?
}));
