#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use twofold_proto::ErrorId;
use twofold_proto::envelope::{Alg, request_header_json, sign_compact, verify_compact};
use twofold_proto::ops::Operation;
use twofold_proto::ops::devices::{GetActivationCode, PairingStatus, PairingStatusResponse};
use twofold_proto::ops::users::{
    ActivateUser, ActivationCodeResponse, AddService, AddUser, DeleteUser, EditUser, GetUserDetails, RemoveService,
    ServiceChange, SuspendUser, UserBypass, UserDetailsResponse, UserRef, UserWithCode,
};
use twofold_proto::properties::Properties;
use twofold_proto::response::Empty;

/// A failure to get a PingID answer at all (as opposed to an answer with an error code).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The properties file could not be read or used.
    #[error("properties: {0}")]
    Properties(String),
    /// The HTTP exchange failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The response signature did not verify, or its header names another token/org.
    #[error("the response signature does not verify: {0}")]
    BadSignature(String),
    /// The response is neither a JWS nor `{"responseBody":...}` JSON.
    #[error("malformed response: {0}")]
    Malformed(String),
}

/// One PingID answer.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    /// The HTTP status.
    pub http_status: u16,
    /// Whether the body was a signed JWS (false for plain-JSON refusals).
    pub signed: bool,
    /// `errorId`.
    pub error_id: u32,
    /// `errorMsg`.
    pub error_msg: Option<String>,
    /// `uniqueMsgId`.
    pub unique_msg_id: String,
    /// `clientData`.
    pub client_data: Value,
    /// The whole decoded `responseBody`.
    pub body: Map<String, Value>,
    /// The operation fields, decoded, when the answer is a success (200 or 300xx).
    pub fields: Option<T>,
}

impl<T> Reply<T> {
    /// The errorId as a catalog entry (None for codes the catalog does not know).
    #[must_use]
    pub fn error(&self) -> Option<ErrorId> {
        ErrorId::from_code(self.error_id)
    }
}

/// A PingID API client for one properties file.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    props: Properties,
    key: Vec<u8>,
    alg: Alg,
}

impl Client {
    /// A client for a parsed properties file.
    ///
    /// # Errors
    /// [`ClientError::Properties`] when the key is not base64.
    pub fn new(props: Properties) -> Result<Self, ClientError> {
        let key = props.key_bytes().map_err(|e| ClientError::Properties(e.to_string()))?;
        // Clients pick the algorithm from the key length (spec §1.3).
        let alg = match key.len() {
            64.. => Alg::HS512,
            48..=63 => Alg::HS384,
            _ => Alg::HS256,
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()?;
        Ok(Self { http, props, key, alg })
    }

    /// A client for a properties file on disk.
    ///
    /// # Errors
    /// When the file cannot be read or parsed.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|e| ClientError::Properties(format!("{}: {e}", path.display())))?;
        let props = Properties::parse(&text).map_err(|e| ClientError::Properties(e.to_string()))?;
        Self::new(props)
    }

    /// The properties in use.
    #[must_use]
    pub fn properties(&self) -> &Properties {
        &self.props
    }

    /// Signs a request body for `op` the way PingID's samples do (`reqHeader` with the
    /// UTC `yyyy-MM-dd HH:mm:ss.SSS` timestamp and version 4.9).
    #[must_use]
    pub fn sign(&self, body: &Value) -> String {
        /// Serialised straight from borrowed parts (the load generator signs with this).
        #[derive(Serialize)]
        struct Payload<'a> {
            #[serde(rename = "reqHeader")]
            req_header: ReqHeader<'a>,
            #[serde(rename = "reqBody")]
            req_body: &'a Value,
        }
        #[derive(Serialize)]
        struct ReqHeader<'a> {
            locale: &'a str,
            #[serde(rename = "orgAlias")]
            org_alias: &'a str,
            #[serde(rename = "secretKey")]
            secret_key: &'a str,
            timestamp: String,
            version: &'a str,
        }
        let payload = Payload {
            req_header: ReqHeader {
                locale: "en",
                org_alias: &self.props.org_alias,
                secret_key: &self.props.token,
                timestamp: timestamp(chrono::Utc::now()),
                version: "4.9",
            },
            req_body: body,
        };
        let payload = serde_json::to_vec(&payload).expect("strings and a Value always serialise");
        let header = request_header_json(self.alg, &self.props.org_alias, &self.props.token);
        sign_compact(self.alg, &self.key, &header, &payload)
    }

    /// The URL of an operation.
    #[must_use]
    pub fn url(&self, op: &str) -> String {
        format!("{}/rest/4/{op}/do", self.props.idp_url.trim_end_matches('/'))
    }

    /// Sends a pre-built body text (already signed, or deliberately broken) to `op`.
    ///
    /// # Errors
    /// Transport failures, bad signatures, malformed answers.
    pub async fn send_text(&self, op: &str, text: String) -> Result<Reply<Value>, ClientError> {
        let response = self
            .http
            .post(self.url(op))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(text)
            .send()
            .await?;
        let http_status = response.status().as_u16();
        let text = response.text().await?;
        self.decode(http_status, &text)
    }

    fn decode(&self, http_status: u16, text: &str) -> Result<Reply<Value>, ClientError> {
        let trimmed = text.trim();
        let (signed, payload) = if trimmed.starts_with('{') {
            let v: Value = serde_json::from_str(trimmed).map_err(|e| ClientError::Malformed(e.to_string()))?;
            (false, v)
        } else {
            let (header, payload) =
                verify_compact(trimmed, &self.key).map_err(|e| ClientError::BadSignature(e.to_string()))?;
            let org = header.get("orgAlias").or_else(|| header.get("org_alias"));
            if header.get("token").and_then(Value::as_str) != Some(self.props.token.as_str())
                || org.and_then(Value::as_str) != Some(self.props.org_alias.as_str())
            {
                return Err(ClientError::BadSignature(
                    "the header names another token or organization".into(),
                ));
            }
            (true, payload)
        };
        let Some(Value::Object(body)) = payload.get("responseBody").cloned() else {
            return Err(ClientError::Malformed("no responseBody".into()));
        };
        let error_id = body
            .get("errorId")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| ClientError::Malformed("errorId is not an integer".into()))?;
        Ok(Reply {
            http_status,
            signed,
            error_id,
            error_msg: body.get("errorMsg").and_then(Value::as_str).map(str::to_string),
            unique_msg_id: body
                .get("uniqueMsgId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            client_data: body.get("clientData").cloned().unwrap_or(Value::Null),
            fields: Some(Value::Object(body.clone())),
            body,
        })
    }

    /// Calls `op` with a raw JSON `reqBody`.
    ///
    /// # Errors
    /// Transport failures, bad signatures, malformed answers.
    pub async fn call_raw(&self, op: &str, body: &Value) -> Result<Reply<Value>, ClientError> {
        self.send_text(op, self.sign(body)).await
    }

    /// Calls a typed operation; `fields` is decoded for successful answers.
    ///
    /// # Errors
    /// Transport failures, bad signatures, malformed answers, or success fields that do
    /// not match the operation's response type.
    pub async fn call<O: Operation + Serialize>(&self, request: &O) -> Result<Reply<O::Response>, ClientError> {
        let body = serde_json::to_value(request).map_err(|e| ClientError::Malformed(e.to_string()))?;
        let raw = self.call_raw(O::NAME, &body).await?;
        typed(raw)
    }

    /// adduser.
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn add_user(&self, request: &AddUser) -> Result<Reply<UserWithCode>, ClientError> {
        self.call(request).await
    }

    /// getuserdetails.
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn get_user_details(&self, user: &str) -> Result<Reply<UserDetailsResponse>, ClientError> {
        self.call(&GetUserDetails {
            user_name: user.into(),
            get_same_device_users: false,
        })
        .await
    }

    /// edituser.
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn edit_user(&self, request: &EditUser) -> Result<Reply<UserWithCode>, ClientError> {
        self.call(request).await
    }

    /// deleteuser.
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn delete_user(&self, user: &str) -> Result<Reply<Empty>, ClientError> {
        self.call(&DeleteUser(UserRef { user_name: user.into() })).await
    }

    /// suspenduser.
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn suspend_user(&self, user: &str) -> Result<Reply<Empty>, ClientError> {
        self.call(&SuspendUser(UserRef { user_name: user.into() })).await
    }

    /// activateuser.
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn activate_user(
        &self,
        user: &str,
        device_type: Option<&str>,
    ) -> Result<Reply<ActivationCodeResponse>, ClientError> {
        self.call(&ActivateUser {
            user_name: user.into(),
            device_type: device_type.map(Into::into),
        })
        .await
    }

    /// addservice.
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn add_service(&self, user: &str, sp_alias: &str) -> Result<Reply<Empty>, ClientError> {
        self.call(&AddService(ServiceChange {
            user_name: user.into(),
            sp_alias: sp_alias.into(),
        }))
        .await
    }

    /// removeservice (Twofold extension).
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn remove_service(&self, user: &str, sp_alias: &str) -> Result<Reply<Empty>, ClientError> {
        self.call(&RemoveService(ServiceChange {
            user_name: user.into(),
            sp_alias: sp_alias.into(),
        }))
        .await
    }

    /// userbypass.
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn user_bypass(&self, request: &UserBypass) -> Result<Reply<Empty>, ClientError> {
        self.call(request).await
    }

    /// getactivationcode.
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn get_activation_code(
        &self,
        request: &GetActivationCode,
    ) -> Result<Reply<ActivationCodeResponse>, ClientError> {
        self.call(request).await
    }

    /// pairingstatus.
    ///
    /// # Errors
    /// See [`Client::call`].
    pub async fn pairing_status(&self, code: &str) -> Result<Reply<PairingStatusResponse>, ClientError> {
        self.call(&PairingStatus {
            activation_code: code.into(),
        })
        .await
    }
}

fn typed<T: DeserializeOwned>(raw: Reply<Value>) -> Result<Reply<T>, ClientError> {
    let success = ErrorId::from_code(raw.error_id).is_some_and(ErrorId::is_success);
    let fields = if success {
        Some(
            serde_json::from_value(Value::Object(raw.body.clone()))
                .map_err(|e| ClientError::Malformed(e.to_string()))?,
        )
    } else {
        None
    };
    Ok(Reply {
        http_status: raw.http_status,
        signed: raw.signed,
        error_id: raw.error_id,
        error_msg: raw.error_msg,
        unique_msg_id: raw.unique_msg_id,
        client_data: raw.client_data,
        body: raw.body,
        fields,
    })
}

/// `reqHeader.timestamp` as PingID's samples send it, `2024-01-02 03:04:05.678` (UTC):
/// fixed-width integers written directly, a tenth of what chrono's `format` costs.
fn timestamp(now: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike as _, Timelike as _};
    use std::fmt::Write as _;
    let mut out = String::with_capacity(23);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        now.year(),
        now.month(),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        // A leap second's nanoseconds run past 1e9; the milliseconds stay three digits.
        (now.nanosecond() / 1_000_000).min(999)
    );
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    #[test]
    fn timestamp_matches_the_samples_format() {
        for (secs, nanos) in [
            (0, 0),
            (1_704_164_645, 678_000_000),
            (4_102_444_799, 999_999_999),
            (951_782_400, 5_000_000),
        ] {
            let at = chrono::Utc.timestamp_opt(secs, nanos).unwrap();
            assert_eq!(super::timestamp(at), at.format("%Y-%m-%d %H:%M:%S%.3f").to_string());
        }
        let at = chrono::Utc.timestamp_opt(1_704_164_645, 678_000_000).unwrap();
        assert_eq!(super::timestamp(at), "2024-01-02 03:04:05.678");
    }
}
