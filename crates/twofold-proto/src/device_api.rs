//! The device API (`/device/v1/...`) between the server and a companion authenticator:
//! online pairing with an activation code, pushes, answers and device facts.
//! docs/device-api.md is the prose form of this module; a companion needs only these
//! types (and an Ed25519 implementation).
//!
//! Every call after pairing is signed with the device's Ed25519 key over
//! [`canonical_request`]; the server refuses a timestamp outside [`MAX_CLOCK_SKEW_MS`] and
//! a nonce it has seen before, so a captured request cannot be replayed.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// First line of every signed string: names the scheme and its version.
pub const SIGNATURE_SCHEME: &str = "TWOFOLD-DEVICE-V1";
/// Header carrying the device id (decimal).
pub const HEADER_DEVICE: &str = "x-twofold-device";
/// Header carrying the request time, epoch milliseconds (decimal).
pub const HEADER_TIMESTAMP: &str = "x-twofold-timestamp";
/// Header carrying a fresh random nonce: 16 to 64 characters of `[A-Za-z0-9_-]`.
pub const HEADER_NONCE: &str = "x-twofold-nonce";
/// Header carrying the signature: standard base64 of the 64-byte Ed25519 signature.
pub const HEADER_SIGNATURE: &str = "x-twofold-signature";
/// How far a request's timestamp may be from the server's clock.
pub const MAX_CLOCK_SKEW_MS: i64 = 300_000;
/// Longest a `GET /device/v1/pushes?wait=` long-poll is held, in seconds.
pub const MAX_POLL_WAIT_SECS: u64 = 25;

/// Path of the pairing steps and the signed calls.
pub mod paths {
    /// `POST`: check an activation code (pairing status NOT_CLAIMED → VERIFIED).
    pub const PAIR_CLAIM: &str = "/device/v1/pair/claim";
    /// `POST`: register the device's public key (VERIFIED → PAIRED; the user is ACTIVE).
    pub const PAIR_REGISTER: &str = "/device/v1/pair/register";
    /// `POST`, signed: the app finished its registration (PAIRED → SUCCESS).
    pub const PAIR_FINISH: &str = "/device/v1/pair/finish";
    /// `GET`, signed, long-poll: open pushes and recent cancellations.
    pub const PUSHES: &str = "/device/v1/pushes";
    /// `POST`, signed: approve or deny one push.
    pub const ANSWER: &str = "/device/v1/pushes/answer";
    /// `POST`, signed: report model, OS, app version and push availability.
    pub const FACTS: &str = "/device/v1/facts";
    /// `GET`, signed: what the server knows about this device.
    pub const STATUS: &str = "/device/v1/status";
}

/// The exact text a device signs (UTF-8 bytes, lines joined by `\n`, no trailing newline):
///
/// ```text
/// TWOFOLD-DEVICE-V1
/// <METHOD upper case>
/// <path and query exactly as sent, e.g. /device/v1/pushes?wait=25>
/// <device id, decimal>
/// <timestamp ms, decimal>
/// <nonce>
/// <lower-case hex SHA-256 of the request body (of zero bytes for GET)>
/// ```
#[must_use]
pub fn canonical_request(
    method: &str,
    path_and_query: &str,
    device_id: i64,
    timestamp_ms: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{SIGNATURE_SCHEME}\n{}\n{path_and_query}\n{device_id}\n{timestamp_ms}\n{nonce}\n{hex}",
        method.to_ascii_uppercase()
    )
}

/// Whether a nonce has the allowed shape (16–64 URL-safe characters).
#[must_use]
pub fn nonce_is_valid(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the app reports about itself; shown in `deviceDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceFacts {
    /// Device model, e.g. `Pixel 8` (at most 100 characters).
    pub model: Option<String>,
    /// Operating system and version, e.g. `Android 15` (at most 100 characters).
    pub os_version: Option<String>,
    /// App version, e.g. `0.1.0` (at most 100 characters).
    pub app_version: Option<String>,
    /// Whether the app accepts pushes; false makes sign-ins ask for the app's OTP (30003).
    pub push_enabled: bool,
}

/// `POST /device/v1/pair/claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRequest {
    /// The 12-digit activation code.
    pub activation_code: String,
}

/// Answer of a claim: who is being paired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimResponse {
    /// The organization's name.
    pub org_name: String,
    /// The user the code pairs.
    pub user_name: String,
    /// `MOBILE`, `DESKTOP`, or null when the code allows both.
    pub device_kind: Option<String>,
}

/// `POST /device/v1/pair/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// The activation code that was claimed.
    pub activation_code: String,
    /// Standard base64 of the device's 32-byte Ed25519 public key.
    pub public_key: String,
    /// `Android`, `iPhone` (mobile, push) or `Desktop` (OTP only).
    pub platform: String,
    /// The app's facts.
    pub facts: DeviceFacts,
}

/// The app's offline one-time passcode generator (RFC 6238 TOTP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotpSeed {
    /// Base32 (RFC 4648, no padding) of the secret.
    pub secret: String,
    /// `SHA1`.
    pub algorithm: String,
    /// 6.
    pub digits: u32,
    /// 30 seconds.
    pub period: u32,
}

/// Answer of a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    /// The new device's id: the `x-twofold-device` of later calls.
    pub device_id: i64,
    /// Its UUID.
    pub device_uuid: String,
    /// The user.
    pub user_name: String,
    /// The organization's name.
    pub org_name: String,
    /// The app's OTP seed; keep it secret.
    pub totp: TotpSeed,
}

/// One push as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushNotice {
    /// Id to answer with.
    pub push_id: String,
    /// The user signing in.
    pub user_name: String,
    /// `formParameters.sp_name` of the sign-in (the service's name), if given.
    pub sp_name: Option<String>,
    /// `formParameters.sp_logo` (a PNG URL), if given.
    pub sp_logo: Option<String>,
    /// Number matching: the numbers to offer; the user picks the one the sign-in page
    /// shows. Null when number matching is off.
    pub number_choices: Option<Vec<u32>>,
    /// When the push was sent, epoch ms.
    pub created_ms: i64,
    /// When it stops being answerable, epoch ms.
    pub expires_ms: i64,
}

/// Answer of `GET /device/v1/pushes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushList {
    /// Pushes waiting for an answer (at most one per device).
    pub pushes: Vec<PushNotice>,
    /// Pushes cancelled by the sign-in since `since` (or in the last minutes): close
    /// their screens.
    pub cancelled: Vec<String>,
    /// The server's time of this answer: send it as `since` with the next poll.
    pub server_time_ms: i64,
}

/// `POST /device/v1/pushes/answer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerRequest {
    /// The push.
    pub push_id: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// The number the user picked (number matching), else null.
    pub number: Option<u32>,
}

/// What became of an answered push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerResponse {
    /// `approved`, `denied`, `wrong_number`, `expired`, `cancelled` or `unreachable`.
    pub outcome: String,
}

/// Answer of `GET /device/v1/status` and of `POST /device/v1/facts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatus {
    /// The device.
    pub device_id: i64,
    /// `Android`, `iPhone` or `Desktop`.
    pub platform: String,
    /// The user.
    pub user_name: String,
    /// The device's nickname.
    pub nickname: String,
    /// What the server last heard.
    pub facts: DeviceFacts,
}

/// Every refusal of the device API: HTTP 4xx/5xx with this body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceError {
    /// A stable code: `bad_request`, `bad_signature`, `replayed`, `unknown_code`,
    /// `not_found`, `user_not_pairable`, `device_limit`, `multiple_users_per_device`,
    /// `internal`.
    pub error: String,
    /// A sentence for people.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_string_is_the_documented_lines() {
        let s = canonical_request(
            "post",
            "/device/v1/pushes/answer",
            42,
            1_700_000_000_000,
            "abcdefghijklmnop",
            b"",
        );
        assert_eq!(
            s,
            "TWOFOLD-DEVICE-V1\nPOST\n/device/v1/pushes/answer\n42\n1700000000000\nabcdefghijklmnop\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn nonces_have_a_bounded_shape() {
        assert!(nonce_is_valid("abcdefghijklmnop"));
        assert!(!nonce_is_valid("short"));
        assert!(!nonce_is_valid("abcdefghijklmnop\n"));
        assert!(!nonce_is_valid(&"a".repeat(65)));
    }
}
