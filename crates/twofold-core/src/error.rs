//! Domain errors and the one place where they become PingID errorIds.
//!
//! Policy (crates.io's rule): library code returns typed errors; `anyhow` is used only in
//! binaries, CLI code, startup and tests. A `DomainError` says what went wrong in domain
//! terms; [`DomainError::error_id`] is a single exhaustive `match` without a `_` arm, so a
//! new variant does not compile until someone decides its errorId. Internal causes (store
//! failures) are carried for the log only: the client sees the catalog's fixed message.

use twofold_proto::ErrorId;

use crate::store::StoreError;

/// Everything a Twofold operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A required field is missing or mistyped, or the body is not a JWS.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A value is out of range (hoursUntilExpiration 0, bypassUntil in the past...).
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// The signature, token or algorithm is not acceptable.
    #[error("unauthorized")]
    Unauthorized,
    /// The token's scope does not allow the operation.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The operation segment, or an enum value, is not supported.
    #[error("unsupported request: {0}")]
    UnsupportedRequest(String),
    /// Admin op: the org alias of the request is not the token's organization.
    #[error("organization mismatch")]
    OrgMismatch,
    /// Auth op: the org alias of the request is not the token's organization.
    #[error("organization mismatch (authentication)")]
    AuthOrgMismatch,
    /// Admin op: the username is malformed.
    #[error("malformed username")]
    MalformedUsername,
    /// Admin op: the user does not exist.
    #[error("user not found")]
    UserNotFound,
    /// adduser: the username exists (case-insensitively).
    #[error("user already exists")]
    UserAlreadyExists,
    /// adduser: the organization is at its user quota.
    #[error("user quota reached")]
    UserQuotaReached,
    /// suspenduser: the user is not ACTIVE.
    #[error("user not active, cannot suspend")]
    SuspendNotActive,
    /// suspenduser lost a race with another change of the user.
    #[error("suspension failed")]
    SuspendFailed,
    /// activateuser: the user is ACTIVE already.
    #[error("user already active")]
    AlreadyActive,
    /// activateuser lost a race, or the user cannot be activated.
    #[error("activation failed")]
    ActivationFailed,
    /// deleteuser did not complete.
    #[error("deletion failed")]
    DeleteFailed,
    /// edituser would leave the user invalid, or lost a race.
    #[error("edit failed: {0}")]
    EditFailed(String),
    /// addservice: unknown service alias.
    #[error("unknown service {0}")]
    AddUnknownService(String),
    /// addservice: the organization disabled the service.
    #[error("service disabled")]
    ServiceDisabled,
    /// addservice: the user is already in the service.
    #[error("already in service")]
    AlreadyInService,
    /// removeservice: the user is not in the service.
    #[error("not in service")]
    NotInServiceForRemoval,
    /// userbypass: names a service the user is not in.
    #[error("not in service")]
    NotInServiceForBypass,
    /// userbypass: names an unknown service alias.
    #[error("unknown service {0}")]
    UnknownService(String),
    /// The operation needs an ACTIVE user.
    #[error("user must be active")]
    UserMustBeActive,
    /// Pairing or device change for a SUSPENDED user.
    #[error("user status does not allow device changes")]
    DeviceChangeNotAllowed,
    /// A phone number that is not a valid international number.
    #[error("invalid phone number")]
    InvalidPhone,
    /// SMS/voice switched off for the organization.
    #[error("SMS/voice disabled")]
    SmsVoiceDisabled,
    /// Email switched off for the organization.
    #[error("email disabled")]
    EmailDisabled,
    /// YubiKeys switched off for the organization.
    #[error("YubiKey disabled")]
    YubikeyDisabled,
    /// OATH tokens switched off for the organization.
    #[error("OATH tokens disabled")]
    OathDisabled,
    /// The operation does not apply to this device, or its factor is switched off.
    #[error("not supported for this device: {0}")]
    NotSupported(&'static str),
    /// The pairing would exceed the organization's devices per user.
    #[error("device limit reached")]
    DeviceLimit,
    /// validateUniqueDevice: the target is paired to another user.
    #[error("device already in use")]
    DeviceInUse,
    /// An OATH serial not in the organization's stock, or revoked.
    #[error("invalid OATH token")]
    InvalidOathToken,
    /// The SMS gateway refused or timed out.
    #[error("SMS send failed")]
    SmsSendFailed,
    /// The email or voice gateway refused or timed out.
    #[error("OTP send failed")]
    OtpSendFailed,
    /// Daily limit of used SMS/voice codes.
    #[error("daily claimed SMS limit")]
    DailyClaimedLimit,
    /// Daily limit of unused SMS/voice codes.
    #[error("daily unclaimed SMS limit")]
    DailyUnclaimedLimit,
    /// A wrong code while attempts remain.
    #[error("wrong code")]
    WrongCode,
    /// A wrong code that used the last attempt: the session is closed.
    #[error("retries exceeded")]
    RetriesExceeded,
    /// Unknown, expired, foreign or wrong-kind session.
    #[error("invalid session")]
    InvalidSession,
    /// The session already ended.
    #[error("session already used")]
    SessionUsed,
    /// A concurrent call is processing (or just finished) the same session.
    #[error("session in process")]
    SessionInProcess,
    /// A value that must be unique exists (device nickname).
    #[error("value already exists")]
    ValueExists,
    /// updatedeviceattr with an unknown attributeName.
    #[error("unknown attribute {0}")]
    UnknownAttribute(String),
    /// The deviceId does not belong to the user.
    #[error("device is not the user's")]
    ForeignDevice,
    /// A code that was valid once but is spent (replayed, counter not increasing).
    #[error("code already used")]
    CodeSpent,
    /// OATH resync found no matching codes; carries the serial for the message.
    #[error("resync failed for {0}")]
    ResyncFailed(String),
    /// Resync codes are not consecutive.
    #[error("resync codes do not match")]
    ResyncMismatch,
    /// More codes asked for one phone or address within 10 minutes than allowed.
    #[error("too many code sends")]
    TooManySends,
    /// Auth op: the username is malformed.
    #[error("malformed username (authentication)")]
    AuthMalformedUsername,
    /// Auth op: the user does not exist.
    #[error("user not defined")]
    AuthUserNotFound,
    /// Auth op: an unknown service alias.
    #[error("unknown service (authentication)")]
    AuthUnknownService,
    /// The user is not enabled for the service.
    #[error("service not active for the user")]
    ServiceNotActive,
    /// Auth op for a SUSPENDED user.
    #[error("user suspended")]
    UserSuspended,
    /// An administrator locked the user.
    #[error("user locked by an administrator")]
    AdminLocked,
    /// Too many consecutive failures: locked until the lockout period ends.
    #[error("user temporarily locked")]
    LockedOut,
    /// An administrator blocked OTP authentication for the user.
    #[error("OTP blocked")]
    OtpBlocked,
    /// Auth op for a user without devices.
    #[error("no paired device")]
    NoDevice,
    /// None of the user's devices may be used here.
    #[error("no usable device")]
    NoUsableDevice,
    /// The session's device was unpaired after the session started.
    #[error("session device removed")]
    SessionDeviceGone,
    /// The session's code expired.
    #[error("code expired")]
    CodeExpired,
    /// The session was cancelled.
    #[error("authentication cancelled")]
    Cancelled,
    /// The user denied the push.
    #[error("push denied")]
    PushDenied,
    /// The push was delivered but not answered in time.
    #[error("push timed out")]
    PushTimedOut,
    /// A synchronous push was not picked up within the reachability window; the session
    /// waits for the app's OTP.
    #[error("device unreachable")]
    DeviceUnreachable {
        /// The session to finish with authoffline.
        session_id: String,
    },
    /// The device already has an open push.
    #[error("push already pending")]
    PushPending,
    /// An asynchronous push was never picked up before the push timeout.
    #[error("push not acknowledged")]
    PushUnacknowledged,
    /// Number matching: the wrong number was picked.
    #[error("wrong number chosen")]
    WrongNumber,
    /// The app's key is paired to another user and the organization forbids it.
    #[error("several users per device not allowed")]
    MultipleUsersPerDevice,
    /// An unexpected failure in an auth op.
    #[error("authentication failure: {0}")]
    AuthInternal(String),
    /// getorgreport with no finished report in the cache.
    #[error("no report available")]
    ReportNotAvailable,
    /// getjobstatus with an unknown or expired job token.
    #[error("job not found")]
    JobNotFound,
    /// A write lost a concurrency race after retries.
    #[error("transaction conflict: {0}")]
    Conflict(String),
    /// The store failed.
    #[error("store failure: {0}")]
    Store(String),
    /// An unexpected failure in an admin op.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => DomainError::Store(cause),
            StoreError::Conflict(cause) => DomainError::Conflict(cause),
            StoreError::Gone(_) => DomainError::UserNotFound,
        }
    }
}

impl DomainError {
    /// The message the client receives: the catalog's text, with the token serial filled
    /// in for 20579.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            DomainError::ResyncFailed(serial) => twofold_proto::error_catalog::message_with_serial(serial),
            other => other.error_id().message().to_string(),
        }
    }

    /// The errorId the client receives. The one exhaustive mapping of the project.
    #[must_use]
    pub fn error_id(&self) -> ErrorId {
        match self {
            DomainError::InvalidInput(_) => ErrorId::InvalidInput,
            DomainError::InvalidValue(_) => ErrorId::InvalidParameterValues,
            DomainError::Unauthorized => ErrorId::Unauthorized,
            DomainError::Forbidden(_) => ErrorId::Forbidden,
            DomainError::UnsupportedRequest(_) => ErrorId::UnsupportedRequest,
            DomainError::OrgMismatch => ErrorId::InvalidOrganization,
            DomainError::AuthOrgMismatch => ErrorId::AuthInvalidOrganization,
            DomainError::MalformedUsername => ErrorId::InvalidUsername,
            DomainError::UserNotFound => ErrorId::UserDoesNotExist,
            DomainError::UserAlreadyExists => ErrorId::UserAlreadyExists,
            DomainError::UserQuotaReached => ErrorId::MaxUsersExceeded,
            DomainError::SuspendNotActive => ErrorId::CannotSuspendInactiveUser,
            DomainError::SuspendFailed => ErrorId::UserSuspensionFailed,
            DomainError::AlreadyActive => ErrorId::UserAlreadyActive,
            DomainError::ActivationFailed => ErrorId::UserActivationFailed,
            DomainError::DeleteFailed => ErrorId::UserDeletionFailed,
            DomainError::EditFailed(_) => ErrorId::CannotUpdateUser,
            DomainError::AddUnknownService(_) => ErrorId::UnknownServiceProvider,
            DomainError::ServiceDisabled => ErrorId::ServiceProviderDisabled,
            DomainError::AlreadyInService => ErrorId::UserAlreadyInService,
            DomainError::NotInServiceForRemoval => ErrorId::ServiceRemovalFailed,
            DomainError::NotInServiceForBypass => ErrorId::CannotUpdateServiceProvider,
            DomainError::UnknownService(_) => ErrorId::ServiceProviderNotFound,
            DomainError::UserMustBeActive => ErrorId::UserNotActive,
            DomainError::DeviceChangeNotAllowed => ErrorId::DeviceChangeNotAllowed,
            DomainError::InvalidPhone => ErrorId::InvalidPhoneNumber,
            DomainError::SmsVoiceDisabled => ErrorId::SmsVoiceDisabled,
            DomainError::EmailDisabled => ErrorId::EmailDisabled,
            DomainError::YubikeyDisabled => ErrorId::YubikeyDisabled,
            DomainError::OathDisabled => ErrorId::OathTokenDisabled,
            DomainError::NotSupported(_) => ErrorId::ServiceNotSupported,
            DomainError::DeviceLimit => ErrorId::DeviceLimitExceeded,
            DomainError::DeviceInUse => ErrorId::DeviceAlreadyInUse,
            DomainError::InvalidOathToken => ErrorId::InvalidOathToken,
            DomainError::SmsSendFailed => ErrorId::SmsSendFailed,
            DomainError::OtpSendFailed => ErrorId::OtpSendFailed,
            DomainError::DailyClaimedLimit => ErrorId::DailyClaimedSmsLimitExceeded,
            DomainError::DailyUnclaimedLimit => ErrorId::DailyUnclaimedSmsLimitExceeded,
            DomainError::WrongCode => ErrorId::IncorrectPassword,
            DomainError::RetriesExceeded => ErrorId::PasscodeRetriesExceeded,
            DomainError::InvalidSession => ErrorId::InvalidSession,
            DomainError::SessionUsed => ErrorId::SessionAlreadyUsed,
            DomainError::SessionInProcess => ErrorId::LoginInProcess,
            DomainError::ValueExists => ErrorId::ValueAlreadyExists,
            DomainError::UnknownAttribute(_) => ErrorId::AttributeDoesNotExist,
            DomainError::ForeignDevice => ErrorId::InvalidDevice,
            DomainError::CodeSpent => ErrorId::PasscodeAlreadyUsed,
            DomainError::ResyncFailed(_) => ErrorId::TokenResyncFailed,
            DomainError::ResyncMismatch => ErrorId::ResyncPasscodesDoNotMatch,
            DomainError::JobNotFound => ErrorId::JobNotFound,
            DomainError::ReportNotAvailable => ErrorId::ReportNotAvailable,
            DomainError::TooManySends => ErrorId::TooManyOtpSends,
            DomainError::AuthMalformedUsername => ErrorId::AuthInvalidUsername,
            DomainError::AuthUserNotFound => ErrorId::UserNotDefined,
            DomainError::AuthUnknownService => ErrorId::AuthServiceProviderNotFound,
            DomainError::ServiceNotActive => ErrorId::ServiceNotEnabledForUser,
            DomainError::UserSuspended => ErrorId::AccountSuspended,
            DomainError::AdminLocked => ErrorId::UserLocked,
            DomainError::LockedOut => ErrorId::AccountTemporarilyLocked,
            DomainError::OtpBlocked => ErrorId::OtpBlocked,
            DomainError::NoDevice => ErrorId::NoPairedDevice,
            DomainError::NoUsableDevice => ErrorId::NoUsableDevice,
            DomainError::SessionDeviceGone => ErrorId::SessionDeviceRemoved,
            DomainError::CodeExpired => ErrorId::OtpChallengeExpired,
            DomainError::Cancelled => ErrorId::AuthenticationCancelled,
            DomainError::PushDenied => ErrorId::LoginRejected,
            DomainError::PushTimedOut => ErrorId::PushTimedOut,
            DomainError::DeviceUnreachable { .. } => ErrorId::MobileDeviceUnreachable,
            DomainError::PushPending => ErrorId::PushAlreadyPending,
            DomainError::PushUnacknowledged => ErrorId::PushNotAcknowledged,
            DomainError::WrongNumber => ErrorId::WrongNumberChosen,
            DomainError::MultipleUsersPerDevice => ErrorId::MultipleUsersPerDevice,
            DomainError::AuthInternal(_) => ErrorId::ErrorLoggingIn,
            DomainError::Conflict(_) => ErrorId::FailedTransaction,
            DomainError::Store(_) => ErrorId::DatabaseError,
            DomainError::Internal(_) => ErrorId::InternalServerError,
        }
    }
}
