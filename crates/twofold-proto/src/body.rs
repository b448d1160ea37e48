//! A lenient reader for `reqBody`.
//!
//! Real PingID clients disagree on spelling and types (spec §1.9, §10): `userName` and
//! `username`, `fName` and `fname`; booleans as `"true"`; ids and OTPs as numbers or
//! strings; unknown keys everywhere. Every operation reads its fields through
//! [`ReqBody`], so the tolerance lives in one place:
//!
//! * keys match case-insensitively (the first non-null match wins);
//! * a JSON `null` counts as absent (PowerShell sends `spAlias: null`);
//! * strings accept numbers (a numeric username is still a username);
//! * booleans accept `"true"`/`"false"` in any case;
//! * integers accept numeric strings;
//! * OTPs sent as numbers are left-padded with zeros to the expected length (spec §1.9.7).

use serde_json::{Map, Value};

/// A field that is missing or has the wrong JSON type. The server answers errorId 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// A required field is absent or null.
    #[error("required field {0} is missing")]
    Missing(&'static str),
    /// A field has a JSON type that cannot mean what the operation needs.
    #[error("field {0} has the wrong type")]
    WrongType(&'static str),
    /// A number of the right type but beyond what the field can hold (the server
    /// answers 422, like any other out-of-range value).
    #[error("field {0} is out of range")]
    OutOfRange(&'static str),
}

/// The `reqBody` of one request.
#[derive(Debug, Clone, Default)]
pub struct ReqBody {
    fields: Map<String, Value>,
}

impl From<Map<String, Value>> for ReqBody {
    fn from(fields: Map<String, Value>) -> Self {
        Self { fields }
    }
}

impl ReqBody {
    /// The value of `name`, matched case-insensitively; `null` counts as absent.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Some(v) = self.fields.get(name).filter(|v| !v.is_null()) {
            return Some(v);
        }
        self.fields
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_null())
            .map(|(_, v)| v)
    }

    /// Whether `name` is present with any value, `null` included (edituser tells "absent"
    /// and "null" apart from "set").
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.fields.keys().any(|k| k.eq_ignore_ascii_case(name))
    }

    /// An optional string; numbers and booleans are taken as their text.
    ///
    /// # Errors
    /// [`FieldError::WrongType`] for arrays and objects.
    pub fn opt_str(&self, name: &'static str) -> Result<Option<String>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(FieldError::WrongType(name)),
        }
    }

    /// A required string.
    ///
    /// # Errors
    /// [`FieldError::Missing`] or [`FieldError::WrongType`].
    pub fn req_str(&self, name: &'static str) -> Result<String, FieldError> {
        self.opt_str(name)?.ok_or(FieldError::Missing(name))
    }

    /// An optional boolean: `true`, `"true"`, `"TRUE"`, and the same for false.
    ///
    /// # Errors
    /// [`FieldError::WrongType`] for anything else.
    pub fn opt_bool(&self, name: &'static str) -> Result<Option<bool>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(FieldError::WrongType(name)),
        }
    }

    /// An optional integer: a JSON integer (`24.0` included) or a string of digits with
    /// an optional sign.
    ///
    /// # Errors
    /// [`FieldError::WrongType`] for fractions and text; [`FieldError::OutOfRange`] for
    /// numbers beyond i64.
    pub fn opt_i64(&self, name: &'static str) -> Result<Option<i64>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                if let Some(v) = n.as_i64() {
                    return Ok(Some(v));
                }
                match n.as_f64() {
                    Some(f) if f.fract() != 0.0 => Err(FieldError::WrongType(name)),
                    #[expect(clippy::cast_possible_truncation, reason = "range checked just before")]
                    Some(f) if f.abs() < 9.0e15 => Ok(Some(f as i64)),
                    _ => Err(FieldError::OutOfRange(name)),
                }
            }
            Some(Value::String(s)) => {
                let t = s.trim();
                let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(FieldError::WrongType(name));
                }
                t.parse::<i64>().map(Some).map_err(|_| FieldError::OutOfRange(name))
            }
            Some(_) => Err(FieldError::WrongType(name)),
        }
    }

    /// An optional identifier sent as a number or a string of digits (spec §1.9.6:
    /// Postman sends 20-digit strings larger than i64). Returned as its decimal text so
    /// that an id no server could have issued is simply "not found", not a type error.
    ///
    /// # Errors
    /// [`FieldError::WrongType`] for non-digit text, fractions, negatives or other types.
    pub fn opt_id(&self, name: &'static str) -> Result<Option<String>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(|v| Some(v.to_string()))
                .ok_or(FieldError::WrongType(name)),
            Some(Value::String(s)) => {
                let s = s.trim();
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    let digits = s.trim_start_matches('0');
                    Ok(Some(if digits.is_empty() {
                        "0".to_string()
                    } else {
                        digits.to_string()
                    }))
                } else {
                    Err(FieldError::WrongType(name))
                }
            }
            Some(_) => Err(FieldError::WrongType(name)),
        }
    }

    /// An optional numeric code (OTP, activation code) of `len` digits. A JSON number
    /// lost its leading zeros on the way (Java clients send `Long otp`), so it is
    /// left-padded to `len`; strings are taken as sent, trimmed.
    ///
    /// # Errors
    /// [`FieldError::WrongType`] for negative or fractional numbers and other types.
    pub fn opt_code(&self, name: &'static str, len: usize) -> Result<Option<String>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                let v = n.as_u64().ok_or(FieldError::WrongType(name))?;
                Ok(Some(format!("{v:0len$}")))
            }
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(FieldError::WrongType(name)),
        }
    }

    /// An optional list of strings (a single string is taken as a list of one).
    ///
    /// # Errors
    /// [`FieldError::WrongType`] when an element is not a string.
    pub fn opt_str_list(&self, name: &'static str) -> Result<Option<Vec<String>>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or(FieldError::WrongType(name)))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(FieldError::WrongType(name)),
        }
    }

    /// `clientData`, echoed back unchanged in every response (null when absent).
    #[must_use]
    pub fn client_data(&self) -> Value {
        self.get("clientData").cloned().unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> ReqBody {
        match v {
            Value::Object(m) => ReqBody::from(m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn keys_match_case_insensitively_and_null_is_absent() {
        let b = body(json!({"username": "alice", "fName": "A", "spAlias": null}));
        assert_eq!(b.req_str("userName").unwrap(), "alice");
        assert_eq!(b.opt_str("fname").unwrap().as_deref(), Some("A"));
        assert_eq!(b.opt_str("spAlias").unwrap(), None);
        assert!(b.has("spalias"));
        assert_eq!(b.req_str("email").unwrap_err(), FieldError::Missing("email"));
    }

    #[test]
    fn scalar_leniency() {
        let b = body(
            json!({"a": "TRUE", "b": false, "c": "12", "d": 7, "otp": 1234, "id": "00042", "big": "12345678901234567890", "x": [1]}),
        );
        assert_eq!(b.opt_bool("a").unwrap(), Some(true));
        assert_eq!(b.opt_bool("b").unwrap(), Some(false));
        assert_eq!(b.opt_bool("c").unwrap_err(), FieldError::WrongType("c"));
        assert_eq!(b.opt_i64("c").unwrap(), Some(12));
        assert_eq!(b.opt_i64("d").unwrap(), Some(7));
        let n = body(json!({"f": 24.0, "h": 1e300, "s": "99999999999999999999", "g": 2.5}));
        assert_eq!(n.opt_i64("f").unwrap(), Some(24));
        assert_eq!(n.opt_i64("h").unwrap_err(), FieldError::OutOfRange("h"));
        assert_eq!(n.opt_i64("s").unwrap_err(), FieldError::OutOfRange("s"));
        assert_eq!(n.opt_i64("g").unwrap_err(), FieldError::WrongType("g"));
        assert_eq!(b.opt_code("otp", 6).unwrap().as_deref(), Some("001234"));
        assert_eq!(b.opt_id("id").unwrap().as_deref(), Some("42"));
        assert_eq!(b.opt_id("big").unwrap().as_deref(), Some("12345678901234567890"));
        assert_eq!(b.opt_str("x").unwrap_err(), FieldError::WrongType("x"));
        assert_eq!(b.opt_str("d").unwrap().as_deref(), Some("7"));
    }
}

/// A one-time passcode as sent. Java clients send codes as JSON numbers, which loses
/// leading zeros (spec §1.9.7); only the verifier knows the expected length, so the
/// padding happens there, through [`Otp::padded`].
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Otp {
    text: String,
    numeric: bool,
}

impl std::fmt::Debug for Otp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Otp(<redacted>)")
    }
}

impl From<String> for Otp {
    fn from(text: String) -> Self {
        Self { text, numeric: false }
    }
}

impl From<Otp> for String {
    fn from(otp: Otp) -> Self {
        otp.text
    }
}

impl Otp {
    /// A code that arrived as a JSON number (its leading zeros are lost).
    #[must_use]
    pub fn numeric(digits: String) -> Self {
        Self {
            text: digits,
            numeric: true,
        }
    }

    /// The code as sent (trimmed).
    #[must_use]
    pub fn as_sent(&self) -> &str {
        &self.text
    }

    /// The code, left-padded with zeros to `len` when it arrived as a JSON number.
    #[must_use]
    pub fn padded(&self, len: usize) -> String {
        if self.numeric && self.text.len() < len {
            format!("{:0>len$}", self.text)
        } else {
            self.text.clone()
        }
    }
}

impl ReqBody {
    /// An optional OTP (string or JSON number).
    ///
    /// # Errors
    /// [`FieldError::WrongType`] for other types or negative/fractional numbers.
    pub fn opt_otp(&self, name: &'static str) -> Result<Option<Otp>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                let v = n.as_u64().ok_or(FieldError::WrongType(name))?;
                Ok(Some(Otp {
                    text: v.to_string(),
                    numeric: true,
                }))
            }
            Some(Value::String(s)) => Ok(Some(Otp {
                text: s.trim().to_string(),
                numeric: false,
            })),
            Some(_) => Err(FieldError::WrongType(name)),
        }
    }

    /// A required OTP.
    ///
    /// # Errors
    /// [`FieldError::Missing`] or [`FieldError::WrongType`].
    pub fn req_otp(&self, name: &'static str) -> Result<Otp, FieldError> {
        self.opt_otp(name)?.ok_or(FieldError::Missing(name))
    }
}
