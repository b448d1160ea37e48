//! Generator and drift test for `src/error_catalog.rs`.
//!
//! The PingID error catalog lives in `data/pingid-error-codes.txt` (a verbatim copy of the
//! published table). This test parses it, joins it with [`VARIANTS`] (our names and short
//! conditions, taken from the team's error-conditions spec) and renders the Rust source of
//! `src/error_catalog.rs`. The checked-in file must equal the rendering; to update it run
//!
//! ```text
//! TWOFOLD_REGENERATE=1 cargo test -p twofold-proto --test catalog
//! ```

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use twofold_proto::error_catalog::{ErrorId, RATE_LIMITED_HTTP_STATUS, RATE_LIMITED_MESSAGE, message_with_serial};

/// The catalog as published by Ping Identity.
const DATA: &str = include_str!("../data/pingid-error-codes.txt");

/// First line of the data file.
const TITLE: &str = "PingID API Error Codes";

/// Column header that opens the table of every section.
const HEADER: &str = "HTTP Status errorId Value Description";

/// Message that `ErrorId::Ok` carries on the wire. The catalog's text for 200 ("None
/// (indicates OK status)") describes the row; real PingID answers `errorMsg: "ok"`.
const OK_MESSAGE: &str = "ok";

/// Placeholder inside the 20579 message that `message_with_serial` fills in.
const SERIAL_PLACEHOLDER: &str = "<serial number of the token>";

/// errorId → (variant name, short condition). Conditions follow the team's
/// error-conditions spec; each is one sentence ending in a full stop.
const VARIANTS: &[(u32, &str, &str)] = &[
    // Flow statuses (HTTP 200).
    (200, "Ok", "The operation succeeded or the user is authenticated."),
    (
        30001,
        "EnterSmsOtp",
        "The chosen device is SMS: an OTP was just sent by text message.",
    ),
    (
        30002,
        "EnterVoiceOtp",
        "The chosen device is Voice: an OTP was just read out by a voice call.",
    ),
    (
        30003,
        "PushDisabled",
        "The chosen mobile app device has push disabled: use the app's OTP.",
    ),
    (30004, "EnterYubikeyOtp", "The chosen device is a YubiKey."),
    (
        30005,
        "EnterEmailOtp",
        "The chosen device is Email: an OTP was just sent by email.",
    ),
    (
        30006,
        "UseMobileAppOtp",
        "The mobile app did not acknowledge the push within the reachability window.",
    ),
    (
        30007,
        "ContinueOnline",
        "A reachable mobile app was chosen on a synchronous call: continue with authonline.",
    ),
    (
        30008,
        "MultipleDevicesSelection",
        "Device-selection mode, the user has two or more devices and no deviceId was given.",
    ),
    (
        30009,
        "EnterDesktopAppOtp",
        "The chosen device is the desktop app (no push): enter its OTP.",
    ),
    (
        30010,
        "AwaitingAsyncResponse",
        "async=true and a push was sent: poll authstatus.",
    ),
    (30011, "UseFidoSecurityKey", "The chosen device is a FIDO security key."),
    (
        30012,
        "EnterOathTokenOtp",
        "The chosen device is an OATH hardware token.",
    ),
    (
        30013,
        "UseFidoBiometrics",
        "The chosen device is FIDO platform biometrics.",
    ),
    (
        30014,
        "PasswordlessPolicyEnforced",
        "Passwordless finish succeeded but the org enforces policy: call startauthentication.",
    ),
    (
        30015,
        "EnterAuthenticatorAppOtp",
        "The chosen device is an authenticator app (TOTP).",
    ),
    (
        30016,
        "OathResyncNextPasscode",
        "OATH resync step one was accepted: send the next code.",
    ),
    (30018, "UseFido2", "The chosen device is a FIDO2 passkey."),
    // Client errors.
    (
        400,
        "InvalidInput",
        "Malformed JWS or JSON, missing reqBody, or a required field missing or mistyped.",
    ),
    (
        10551,
        "FailedTransaction",
        "A write lost a concurrency race after the store's retries: safe to retry.",
    ),
    (
        10552,
        "ServiceRemovalFailed",
        "Removing a service from a user who is not in it.",
    ),
    (
        10553,
        "UserDeletionFailed",
        "Deleting a user failed for a reason other than the user not existing.",
    ),
    (
        10554,
        "UnknownServiceProvider",
        "addservice with an spAlias that is not a known service.",
    ),
    (
        10555,
        "ServiceProviderDisabled",
        "addservice for a service that the organization has disabled.",
    ),
    (
        10556,
        "UserAlreadyExists",
        "adduser with a username that already exists in the org (case-insensitive).",
    ),
    (
        10557,
        "CannotUpdateServiceProvider",
        "userbypass naming a service the user is not a member of.",
    ),
    (
        10558,
        "CannotUpdateUser",
        "edituser would leave the user invalid, or lost an update race.",
    ),
    (
        10559,
        "UserSuspensionFailed",
        "suspenduser failed for a reason other than the user not being active.",
    ),
    (
        10561,
        "CannotSuspendInactiveUser",
        "suspenduser on a user who is not ACTIVE.",
    ),
    (
        10562,
        "UserAlreadyActive",
        "activateuser on a user who is already ACTIVE.",
    ),
    (
        10563,
        "UserAlreadyInService",
        "addservice for a service the user is already in.",
    ),
    (10564, "UserDoesNotExist", "Admin ops: the userName does not exist."),
    (
        10565,
        "UserActivationFailed",
        "activateuser failed for a reason other than the user being active already.",
    ),
    (
        10568,
        "InvalidUsername",
        "Admin ops: the username is malformed (empty, too long, control characters).",
    ),
    (
        10569,
        "InvalidOrganization",
        "Admin ops: the org alias does not match the org of the token.",
    ),
    (
        10570,
        "DeviceChangeNotAllowed",
        "Pairing, unpairing or a device change for a SUSPENDED or LOCKED user.",
    ),
    (
        10571,
        "DatabaseError",
        "The store failed: the cause is only in the server log.",
    ),
    (
        10572,
        "ServiceProviderNotFound",
        "Admin ops: an spAlias that is not a known service.",
    ),
    (
        10575,
        "ValueAlreadyExists",
        "A value that must be unique already exists (device nickname, application id).",
    ),
    (
        10576,
        "UserNotActive",
        "userbypass, addservice or updatedeviceattr on a user who is not ACTIVE.",
    ),
    (
        10580,
        "MaxUsersExceeded",
        "adduser when the org already has its maximum number of users.",
    ),
    (
        10589,
        "AttributeDoesNotExist",
        "updatedeviceattr with an attributeName other than SET_PRIMARY, NICKNAME, ORDER.",
    ),
    (
        10608,
        "SessionDeviceRemoved",
        "The session's device was unpaired after the session started.",
    ),
    (
        10610,
        "StalePolicyVersion",
        "createbulkauthenticationpolicy with a policyVersion that is not the current one.",
    ),
    (20513, "IncorrectPassword", "A wrong OTP while attempts remain."),
    (
        20514,
        "PasscodeRetriesExceeded",
        "A wrong OTP used up the session's allowed attempts: the session is closed.",
    ),
    (
        20515,
        "NoPairedDevice",
        "An auth op for a user who has no paired device.",
    ),
    (20516, "LoginRejected", "The user denied the push on the device."),
    (
        20517,
        "InvalidSession",
        "The sessionId is unknown, expired, of another user or of another kind of session.",
    ),
    (
        20519,
        "AuthServiceProviderNotFound",
        "Auth ops: the spAlias is not a known service.",
    ),
    (20520, "AuthInvalidUsername", "Auth ops: the username is malformed."),
    (
        20521,
        "MobileDeviceUnreachable",
        "authonline could not reach the mobile app: use an app OTP via authoffline.",
    ),
    (
        20522,
        "PushTimedOut",
        "A delivered push was not answered before the push timeout.",
    ),
    (
        20523,
        "PushAlreadyPending",
        "A push was requested for a device that already has one pending.",
    ),
    (20524, "UserLocked", "The user's status is LOCKED (an admin lock)."),
    (
        20525,
        "UserNotLoggedIn",
        "A step that needs an earlier successful factor was called without it.",
    ),
    (
        20526,
        "AccountTemporarilyLocked",
        "Too many consecutive failed factor attempts: locked until the lockout period ends.",
    ),
    (20527, "InvalidDevice", "The deviceId does not belong to the user."),
    (
        20529,
        "AuthInvalidOrganization",
        "Auth ops: the org alias does not match the org of the token.",
    ),
    (
        20531,
        "ServiceNotSupported",
        "The operation does not apply to the device.",
    ),
    (
        20532,
        "PasscodeAlreadyUsed",
        "An OTP that was valid once but is spent (replayed or not newer than the last one).",
    ),
    (
        20534,
        "NoUsableDevice",
        "None of the user's devices may be used here (org settings, policy, formParameters).",
    ),
    (
        20535,
        "MobileAppNotInstalled",
        "The user's only mobile device never finished pairing.",
    ),
    (
        20536,
        "ServiceNotEnabledForUser",
        "The user is not enabled for the requested service.",
    ),
    (20537, "AccountSuspended", "An auth op for a SUSPENDED user."),
    (
        20538,
        "PushNotAcknowledged",
        "An async push was never acknowledged by the device before the push timeout.",
    ),
    (
        20539,
        "ResyncPasscodesDoNotMatch",
        "resyncoathtoken with two OTPs that are not consecutive codes of the token.",
    ),
    (20541, "UserNotDefined", "Auth ops: the userName does not exist."),
    (
        20542,
        "UnsupportedRequest",
        "Unknown operation, or an enum value the operation does not support.",
    ),
    (
        20543,
        "LoginInProcess",
        "The session is already being processed by a concurrent call.",
    ),
    (
        20544,
        "MultipleUsersPerDevice",
        "A mobile app paired to another user pairs again and the org forbids it.",
    ),
    (
        20545,
        "SessionAlreadyUsed",
        "A session that already ended (approved or failed) is used again.",
    ),
    (
        20548,
        "TooManyOtpSends",
        "More OTP sends than the org allows per session, or per device in 10 minutes.",
    ),
    (
        20549,
        "RegistrationUserExists",
        "Self-service registration with a username that already exists.",
    ),
    (
        20550,
        "UserQuotaExceeded",
        "An operation that creates the user implicitly while the org is at its user quota.",
    ),
    (20551, "SmsSendFailed", "The SMS gateway refused or timed out."),
    (
        20552,
        "SmsVoiceDisabled",
        "An SMS or Voice operation while the org has SMS/Voice disabled.",
    ),
    (
        20555,
        "YubikeyDisabled",
        "A YubiKey operation while the org has YubiKey disabled.",
    ),
    (
        20557,
        "EmailDisabled",
        "An Email operation while the org has email disabled.",
    ),
    (
        20558,
        "OtpSendFailed",
        "The email or voice gateway refused or timed out.",
    ),
    (
        20559,
        "InvalidPhoneNumber",
        "A phone number that is not a valid international number.",
    ),
    (
        20560,
        "PolicyDenied",
        "The org's authentication policy says DENY for this request.",
    ),
    (
        20561,
        "AuthenticationCancelled",
        "authstatus or authoffline on a session that was cancelled.",
    ),
    (
        20562,
        "DeviceLimitExceeded",
        "A pairing would give the user more devices than the org allows.",
    ),
    (
        20563,
        "DailyClaimedSmsLimitExceeded",
        "The user's SMS/voice OTPs used today reached the org's daily limit.",
    ),
    (
        20564,
        "DailyUnclaimedSmsLimitExceeded",
        "The user's SMS/voice OTPs sent but never used today reached the org's daily limit.",
    ),
    (
        20565,
        "OtpBlocked",
        "An admin blocked OTP authentication for this user.",
    ),
    (
        20570,
        "WebauthnNotSupported",
        "The browser lacks WebAuthn and the user has no other device.",
    ),
    (
        20571,
        "DeviceAlreadyInUse",
        "validateUniqueDevice=true and the device is paired to another user.",
    ),
    (
        20572,
        "OathTokenDisabled",
        "An OATH token operation while the org has OATH tokens disabled.",
    ),
    (
        20573,
        "WebauthnDisabled",
        "A WebAuthn operation while the org has WebAuthn disabled.",
    ),
    (
        20574,
        "InvalidOathToken",
        "An OATH token serial that is not in the org's token stock, or was revoked.",
    ),
    (
        20575,
        "WrongPasswordlessDeviceType",
        "Passwordless finish with a credential that is not allowed for passwordless.",
    ),
    (
        20579,
        "TokenResyncFailed",
        "OATH resync found no matching codes in the resync window.",
    ),
    (
        20585,
        "WrongNumberChosen",
        "Number matching: the user picked the wrong number.",
    ),
    (
        40001,
        "JobNotFound",
        "getjobstatus with a jobToken that does not exist or expired.",
    ),
    (
        40002,
        "ReportNotAvailable",
        "getorgreport when no finished report is available.",
    ),
    (
        401,
        "Unauthorized",
        "Bad JWS signature, unknown or revoked token, or an algorithm other than HS256/384/512.",
    ),
    (
        403,
        "Forbidden",
        "A valid token whose scope does not allow the operation, or a disabled org.",
    ),
    (
        20512,
        "OtpChallengeExpired",
        "authoffline after the session's OTP challenge expired.",
    ),
    (
        422,
        "InvalidParameterValues",
        "Fields present and typed right, but with out-of-range values.",
    ),
    // Service errors.
    (500, "InternalServerError", "An unexpected failure in an admin op."),
    (20511, "ErrorLoggingIn", "An unexpected failure in an auth op."),
];

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

/// One data row of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    /// Heading of the section the row belongs to.
    section: String,
    /// HTTP status column.
    status: u16,
    /// errorId column; `None` for the 429 row, which has none.
    error_id: Option<u32>,
    /// Description column, verbatim.
    message: String,
}

/// Parsed data file.
#[derive(Debug)]
struct Catalog {
    /// Section headings in file order.
    sections: Vec<String>,
    /// Rows in file order.
    rows: Vec<Row>,
}

impl Catalog {
    /// Rows that have an errorId, with it.
    fn coded_rows(&self) -> impl Iterator<Item = (u32, &Row)> {
        self.rows.iter().filter_map(|row| row.error_id.map(|id| (id, row)))
    }
}

/// Parses the data file: a title line, then sections made of a heading line, the
/// [`HEADER`] line and rows `STATUS ERRORID MESSAGE` (or `STATUS MESSAGE` when there is no
/// errorId). Blank lines are ignored. Panics with the line number on anything else.
fn parse(text: &str) -> Catalog {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_end_matches('\r')))
        .filter(|(_, line)| !line.trim().is_empty());

    let (_, title) = lines.next().expect("data file is empty");
    assert_eq!(title, TITLE, "line 1: unexpected title");

    let mut sections: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    // Whether the current section's header line has been seen.
    let mut header_seen = false;
    for (n, line) in lines {
        assert_eq!(line, line.trim(), "line {n}: stray whitespace");
        if line == HEADER {
            assert!(!sections.is_empty(), "line {n}: header before any section");
            assert!(!header_seen, "line {n}: second header in a section");
            header_seen = true;
            continue;
        }
        let (first, rest) = line.split_once(' ').unwrap_or((line, ""));
        let is_row = first.len() == 3 && first.bytes().all(|b| b.is_ascii_digit());
        if !is_row {
            // A section heading.
            assert!(
                sections.is_empty() || header_seen,
                "line {n}: section {:?} has no header line",
                sections.last()
            );
            sections.push(line.to_owned());
            header_seen = false;
            continue;
        }
        assert!(header_seen, "line {n}: row before the header line");
        let status: u16 = first.parse().unwrap();
        let (error_id, message) = match rest.split_once(' ') {
            Some((id, message)) if id.bytes().all(|b| b.is_ascii_digit()) => (
                Some(id.parse::<u32>().unwrap_or_else(|e| panic!("line {n}: errorId: {e}"))),
                message,
            ),
            _ => (None, rest),
        };
        assert!(!message.is_empty(), "line {n}: empty message");
        rows.push(Row {
            section: sections.last().unwrap().clone(),
            status,
            error_id,
            message: message.to_owned(),
        });
    }
    assert!(header_seen, "last section has no header line");
    Catalog { sections, rows }
}

// ---------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------

/// Path of the generated, checked-in file.
fn generated_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/error_catalog.rs")
}

/// Looks up our name and condition for an errorId.
fn variant(code: u32) -> (&'static str, &'static str) {
    let matches: Vec<_> = VARIANTS.iter().filter(|(c, _, _)| *c == code).collect();
    match matches.as_slice() {
        [(_, name, condition)] => (name, condition),
        [] => panic!("errorId {code} is in the data file but not in VARIANTS"),
        _ => panic!("errorId {code} is in VARIANTS more than once"),
    }
}

/// The message `ErrorId::message` returns for a row.
fn wire_message(code: u32, row: &Row) -> &str {
    if code == 200 { OK_MESSAGE } else { &row.message }
}

/// A Rust string literal for `s` (the catalog text has no characters that need escaping
/// beyond what `escape_debug`-style quoting does; non-ASCII is kept as is).
fn literal(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => write!(out, "\\u{{{:x}}}", u32::from(c)).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for a doc comment: `<` and `>` are escaped so rustdoc does not read HTML tags.
fn doc_text(s: &str) -> String {
    s.replace('<', "\\<").replace('>', "\\>")
}

/// Pushes a match arm `pattern => value,` the way rustfmt lays it out: on one line when it
/// fits in 100 columns, else with the value in a block.
fn push_arm(out: &mut String, indent: &str, pattern: &str, value: &str) {
    let line = format!("{indent}{pattern} => {value},");
    if line.chars().count() <= 100 {
        out.push_str(&line);
        out.push('\n');
    } else {
        writeln!(out, "{indent}{pattern} => {{").unwrap();
        writeln!(out, "{indent}    {value}").unwrap();
        writeln!(out, "{indent}}}").unwrap();
    }
}

/// Renders the full source of `src/error_catalog.rs`. The output is laid out as rustfmt
/// would (and the drift test additionally runs rustfmt over it when it is available).
fn render(catalog: &Catalog) -> String {
    let coded: Vec<(u32, &Row, &str, &str)> = catalog
        .coded_rows()
        .map(|(code, row)| {
            let (name, condition) = variant(code);
            (code, row, name, condition)
        })
        .collect();
    let rate_limited: Vec<&Row> = catalog.rows.iter().filter(|row| row.error_id.is_none()).collect();
    let [rate_limited] = rate_limited.as_slice() else {
        panic!("expected exactly one row without errorId, found {rate_limited:?}");
    };
    let (serial_name, _) = variant(20579);
    let serial_message = &coded
        .iter()
        .find(|(code, ..)| *code == 20579)
        .expect("20579 is in the catalog")
        .1
        .message;
    assert!(
        serial_message.contains(SERIAL_PLACEHOLDER),
        "20579 message lacks the placeholder"
    );

    let mut s = String::new();
    s.push_str(
        "// @generated by crates/twofold-proto/tests/catalog.rs from\n\
         // crates/twofold-proto/data/pingid-error-codes.txt. Do not edit by hand; regenerate with\n\
         //     TWOFOLD_REGENERATE=1 cargo test -p twofold-proto --test catalog\n\
         \n\
         //! The PingID error catalog: every errorId with its HTTP status and message.\n\
         //!\n\
         //! Codes 200 and 300xx are flow statuses that go out with HTTP 200 (see\n\
         //! [`ErrorId::is_success`]). The 429 row of the catalog has no errorId; it is described\n\
         //! by [`RATE_LIMITED_HTTP_STATUS`] and [`RATE_LIMITED_MESSAGE`]. `docs/errors.md` says\n\
         //! when Twofold returns each code.\n\
         \n\
         /// A PingID errorId: one variant per catalog row that has one, in catalog order.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n\
         pub enum ErrorId {\n",
    );
    let mut section = "";
    for (code, row, name, condition) in &coded {
        if row.section != section {
            if !section.is_empty() {
                s.push('\n');
            }
            section = &row.section;
            writeln!(s, "    // {section}").unwrap();
        }
        writeln!(
            s,
            "    /// {code} (HTTP {}): \"{}\"",
            row.status,
            doc_text(wire_message(*code, row))
        )
        .unwrap();
        s.push_str("    ///\n");
        writeln!(s, "    /// {}", doc_text(condition)).unwrap();
        writeln!(s, "    {name},").unwrap();
    }
    s.push_str("}\n\nimpl ErrorId {\n");

    s.push_str("    /// Every variant, in catalog order.\n");
    s.push_str("    pub const ALL: &'static [ErrorId] = &[\n");
    for (_, _, name, _) in &coded {
        writeln!(s, "        ErrorId::{name},").unwrap();
    }
    s.push_str("    ];\n\n");

    s.push_str("    /// The numeric errorId, e.g. 10564.\n");
    s.push_str("    pub const fn code(self) -> u32 {\n        match self {\n");
    for (code, _, name, _) in &coded {
        push_arm(&mut s, "            ", &format!("Self::{name}"), &code.to_string());
    }
    s.push_str("        }\n    }\n\n");

    s.push_str("    /// The HTTP status the catalog gives for this errorId.\n");
    s.push_str("    pub const fn http_status(self) -> u16 {\n        match self {\n");
    for (_, row, name, _) in &coded {
        push_arm(
            &mut s,
            "            ",
            &format!("Self::{name}"),
            &row.status.to_string(),
        );
    }
    s.push_str("        }\n    }\n\n");

    s.push_str(
        "    /// The `errorMsg` text: the catalog's message verbatim, except 200 which answers \
         \"ok\".\n",
    );
    s.push_str("    ///\n");
    writeln!(
        s,
        "    /// For [`ErrorId::{}`] the message contains the placeholder `{SERIAL_PLACEHOLDER}`; use",
        serial_name
    )
    .unwrap();
    s.push_str("    /// [`message_with_serial`] to fill it in.\n");
    s.push_str("    pub const fn message(self) -> &'static str {\n        match self {\n");
    for (code, row, name, _) in &coded {
        push_arm(
            &mut s,
            "            ",
            &format!("Self::{name}"),
            &literal(wire_message(*code, row)),
        );
    }
    s.push_str("        }\n    }\n\n");

    s.push_str("    /// The variant for a numeric errorId, if the catalog has it.\n");
    s.push_str("    pub fn from_code(code: u32) -> Option<ErrorId> {\n        match code {\n");
    for (code, _, name, _) in &coded {
        push_arm(
            &mut s,
            "            ",
            &code.to_string(),
            &format!("Some(Self::{name})"),
        );
    }
    s.push_str("            _ => None,\n        }\n    }\n\n");

    s.push_str(
        "    /// True for 200 and the 300xx flow statuses, which go out as HTTP 200.\n\
         \x20   pub const fn is_success(self) -> bool {\n\
         \x20       self.http_status() == 200\n\
         \x20   }\n\
         }\n\n",
    );

    s.push_str(
        "impl std::fmt::Display for ErrorId {\n\
         \x20   /// Prints the numeric errorId.\n\
         \x20   fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {\n\
         \x20       write!(f, \"{}\", self.code())\n\
         \x20   }\n\
         }\n\n",
    );

    writeln!(
        s,
        "/// HTTP status of a rate-limited request (the catalog row without errorId)."
    )
    .unwrap();
    writeln!(
        s,
        "pub const RATE_LIMITED_HTTP_STATUS: u16 = {};\n",
        rate_limited.status
    )
    .unwrap();
    writeln!(s, "/// Message of a rate-limited request, verbatim from the catalog.").unwrap();
    writeln!(
        s,
        "pub const RATE_LIMITED_MESSAGE: &str = {};\n",
        literal(&rate_limited.message)
    )
    .unwrap();

    writeln!(s, "/// The placeholder in the [`ErrorId::{}`] message.", serial_name).unwrap();
    writeln!(s, "const SERIAL_PLACEHOLDER: &str = {};\n", literal(SERIAL_PLACEHOLDER)).unwrap();
    writeln!(
        s,
        "/// The [`ErrorId::{}`] message (errorId 20579) with the token's serial filled in.",
        serial_name
    )
    .unwrap();
    writeln!(
        s,
        "pub fn message_with_serial(serial: &str) -> String {{\n    \
         ErrorId::{serial_name}\n        \
         .message()\n        \
         .replacen(SERIAL_PLACEHOLDER, serial, 1)\n}}"
    )
    .unwrap();
    s
}

/// Candidate rustfmt programs: `$RUSTFMT`, the one next to the `cargo` running the test, and
/// whatever `rustfmt` is on `PATH`.
fn rustfmt_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("RUSTFMT") {
        out.push(PathBuf::from(p));
    }
    if let Some(cargo) = std::env::var_os("CARGO") {
        let sibling = Path::new(&cargo).with_file_name(format!("rustfmt{}", std::env::consts::EXE_SUFFIX));
        if sibling.is_file() {
            out.push(sibling);
        }
    }
    out.push(PathBuf::from("rustfmt"));
    out
}

/// Runs rustfmt (edition 2024, the workspace's configuration) over `source`. Returns `None`
/// when no rustfmt can be started; panics when rustfmt runs but rejects the source.
fn rustfmt(source: &str) -> Option<String> {
    let dir = generated_path().parent().unwrap().to_owned();
    for program in rustfmt_candidates() {
        let Ok(mut child) = Command::new(&program)
            .args(["--edition", "2024", "--emit", "stdout"])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            continue;
        };
        let mut stdin = child.stdin.take().unwrap();
        let input = source.to_owned();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let output = child.wait_with_output().expect("rustfmt did not finish");
        writer.join().unwrap().expect("writing to rustfmt");
        assert!(
            output.status.success(),
            "{} rejected the generated source:\n{}",
            program.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        return Some(String::from_utf8(output.stdout).expect("rustfmt output is UTF-8"));
    }
    None
}

/// The expected contents of `src/error_catalog.rs`.
fn expected_source() -> String {
    let rendered = render(&parse(DATA));
    match rustfmt(&rendered) {
        Some(formatted) => formatted,
        None => {
            eprintln!("note: rustfmt not found; comparing the unformatted rendering");
            rendered
        }
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn generated_source_matches_checked_in_file() {
    let expected = expected_source();
    let path = generated_path();
    if std::env::var("TWOFOLD_REGENERATE").as_deref() == Ok("1") {
        std::fs::write(&path, &expected).expect("writing error_catalog.rs");
        eprintln!("regenerated {}", path.display());
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let mismatch = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .map_or_else(
                || "the files differ in length or line endings".to_owned(),
                |i| {
                    format!(
                        "first difference at line {}:\n  checked in: {:?}\n  generated:  {:?}",
                        i + 1,
                        actual.lines().nth(i).unwrap(),
                        expected.lines().nth(i).unwrap()
                    )
                },
            );
        panic!(
            "{} is out of date; {mismatch}\n\
             regenerate with: TWOFOLD_REGENERATE=1 cargo test -p twofold-proto --test catalog",
            path.display()
        );
    }
}

#[test]
fn parser_reads_sections_and_rows() {
    let catalog = parse(DATA);
    assert_eq!(
        catalog.sections,
        [
            "Successful Error Responses",
            "Client Error Codes",
            "PingID Service Errors"
        ]
    );
    let nonblank = DATA.lines().filter(|l| !l.trim().is_empty()).count();
    // Title, then per section a heading and a header line.
    assert_eq!(catalog.rows.len(), nonblank - 1 - 2 * catalog.sections.len());
    let first = &catalog.rows[0];
    assert_eq!(
        (first.status, first.error_id, first.message.as_str()),
        (200, Some(200), "None (indicates OK status)")
    );
}

#[test]
fn every_catalog_row_is_in_all_with_its_status_and_message() {
    let catalog = parse(DATA);
    let coded: Vec<(u32, &Row)> = catalog.coded_rows().collect();
    assert_eq!(ErrorId::ALL.len(), coded.len());
    for (&id, (code, row)) in ErrorId::ALL.iter().zip(&coded) {
        assert_eq!(id.code(), *code, "ALL is not in catalog order");
        assert_eq!(id.http_status(), row.status, "{id:?}");
        let expected = if *code == 200 { OK_MESSAGE } else { row.message.as_str() };
        assert_eq!(id.message(), expected, "{id:?}");
        assert_eq!(format!("{id:?}"), variant(*code).0);
    }
}

#[test]
fn variant_table_matches_catalog() {
    let catalog = parse(DATA);
    let in_data: BTreeSet<u32> = catalog.coded_rows().map(|(code, _)| code).collect();
    let in_table: BTreeSet<u32> = VARIANTS.iter().map(|(code, _, _)| *code).collect();
    assert_eq!(in_data, in_table);
    assert_eq!(in_table.len(), VARIANTS.len(), "duplicate code in VARIANTS");
    let names: BTreeSet<&str> = VARIANTS.iter().map(|(_, name, _)| *name).collect();
    assert_eq!(names.len(), VARIANTS.len(), "duplicate name in VARIANTS");
    for (code, name, condition) in VARIANTS {
        let mut chars = name.chars();
        assert!(
            chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric()),
            "{code}: {name} is not UpperCamelCase"
        );
        assert!(condition.ends_with('.'), "{code}: condition needs a full stop");
    }
}

#[test]
fn from_code_round_trips() {
    for &id in ErrorId::ALL {
        assert_eq!(ErrorId::from_code(id.code()), Some(id));
        assert_eq!(id.to_string(), id.code().to_string());
    }
    for code in [0, 1, 100, 201, 429, 30017, 30019, 10560, 20518, 99999, u32::MAX] {
        assert_eq!(ErrorId::from_code(code), None, "{code}");
    }
}

#[test]
fn is_success_exactly_for_200_and_300xx() {
    for &id in ErrorId::ALL {
        let code = id.code();
        let expected = code == 200 || (30001..=30018).contains(&code);
        assert_eq!(id.is_success(), expected, "{id:?}");
        if expected {
            assert_eq!(id.http_status(), 200, "{id:?}");
        } else {
            assert_ne!(id.http_status(), 200, "{id:?}");
        }
    }
    assert!(ErrorId::Ok.is_success());
    assert!(!ErrorId::UserDoesNotExist.is_success());
}

#[test]
fn rate_limited_constants_match_table() {
    let catalog = parse(DATA);
    let rows: Vec<&Row> = catalog.rows.iter().filter(|row| row.error_id.is_none()).collect();
    assert_eq!(rows.len(), 1, "exactly one row has no errorId");
    assert_eq!(rows[0].status, RATE_LIMITED_HTTP_STATUS);
    assert_eq!(RATE_LIMITED_HTTP_STATUS, 429);
    assert_eq!(rows[0].message, RATE_LIMITED_MESSAGE);
    assert!(ErrorId::ALL.iter().all(|id| id.http_status() != 429));
}

#[test]
fn no_duplicate_codes() {
    let catalog = parse(DATA);
    let mut seen = BTreeSet::new();
    for (code, _) in catalog.coded_rows() {
        assert!(seen.insert(code), "errorId {code} appears twice in the data file");
    }
    let mut seen = BTreeSet::new();
    for id in ErrorId::ALL {
        assert!(seen.insert(id.code()), "errorId {} appears twice in ALL", id.code());
    }
    let unique: BTreeSet<&ErrorId> = ErrorId::ALL.iter().collect();
    assert_eq!(unique.len(), ErrorId::ALL.len());
}

#[test]
fn message_with_serial_fills_in_the_serial() {
    assert_eq!(
        message_with_serial("OATH-123"),
        "Couldn\u{2019}t resync token \u{2018}OATH-123\u{2019}."
    );
    assert!(ErrorId::TokenResyncFailed.message().contains(SERIAL_PLACEHOLDER));
}

#[test]
fn ok_answers_lowercase_ok() {
    assert_eq!(ErrorId::Ok.message(), "ok");
    assert_eq!(ErrorId::Ok.code(), 200);
    assert_eq!(ErrorId::from_code(200), Some(ErrorId::Ok));
}
