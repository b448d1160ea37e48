//! What every operation handler shares: the failure type and the `admin_op!` runner.

use serde::Serialize;
use twofold_core::DomainError;
use twofold_proto::body::FieldError;

/// A failed operation: the error, and the operation's error-time fields.
pub struct Failure {
    /// What went wrong.
    pub error: DomainError,
    /// Fields to send with the error (e.g. getuserdetails' `userDetails: null`).
    pub shape: Option<Fields>,
}

/// An operation's response fields, serialised once, straight from the typed response, as
/// a JSON object; the reply splices them into the payload
/// ([`twofold_proto::response::payload_json`]) instead of building a `Value` tree first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields(String);

impl Fields {
    /// No operation fields: the common four only.
    pub fn none() -> Self {
        Self(String::new())
    }

    /// The serialised object (empty for [`Fields::none`]).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<DomainError> for Failure {
    fn from(error: DomainError) -> Self {
        Self { error, shape: None }
    }
}

/// Serialises a response type (a struct or map, hence a JSON object).
pub fn json<T: Serialize>(value: &T) -> Fields {
    Fields(serde_json::to_string(value).expect("response types serialise"))
}

/// Field problems: missing or mistyped → 400; well-typed but out of range → 422.
pub fn field_error(e: FieldError) -> DomainError {
    match e {
        FieldError::OutOfRange(_) => DomainError::InvalidValue(e.to_string()),
        FieldError::Missing(_) | FieldError::WrongType(_) => DomainError::InvalidInput(e.to_string()),
    }
}

/// Runs an admin operation: scope check, body decoding, then `$run` with the admin
/// capability and the typed request; `$run` yields the response (errorId 200), or with
/// the `status` form a `(ErrorId, response)` pair for flow statuses such as 30016.
/// Errors carry the operation's error-time fields.
#[macro_export]
macro_rules! admin_op {
    ($core:ident, $caller:ident, $body:ident, $op:ty, |$admin:ident, $req:ident| $run:expr) => {
        $crate::admin_op!(status $core, $caller, $body, $op, |$admin, $req| {
            let response: Result<<$op as twofold_proto::ops::Operation>::Response, twofold_core::DomainError> = $run;
            response.map(|r| (twofold_proto::ErrorId::Ok, r))
        })
    };
    (status $core:ident, $caller:ident, $body:ident, $op:ty, |$admin:ident, $req:ident| $run:expr) => {{
        use twofold_proto::ops::{ErrorShape as _, Operation as _};
        let result: Result<(twofold_proto::ErrorId, <$op as twofold_proto::ops::Operation>::Response), twofold_core::DomainError> =
            async {
                let $admin = $caller.admin()?;
                let $req = <$op>::from_body($body).map_err($crate::http::ops::field_error)?;
                $run
            }
            .await;
        result.map(|(id, r)| (id, $crate::http::ops::json(&r))).map_err(|error| $crate::http::ops::Failure {
            error,
            shape: <<$op as twofold_proto::ops::Operation>::Response>::error_shape().map(|s| $crate::http::ops::json(&s)),
        })
    }};
}
