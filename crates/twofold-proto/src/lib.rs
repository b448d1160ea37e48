#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod body;
pub mod device_api;
pub mod envelope;
pub mod error_catalog;
pub mod ops;
pub mod properties;
pub mod response;

pub use body::{FieldError, Otp, ReqBody};
pub use envelope::{Alg, EnvelopeError, UnverifiedRequest};
pub use error_catalog::ErrorId;
pub use response::{ResponseBody, ResponseEnvelope};
