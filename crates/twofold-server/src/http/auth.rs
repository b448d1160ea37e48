//! Authentication operations. They take the verified caller directly: an
//! authentication-only token may call them.

use serde_json::Value;
use twofold_core::services::{AuthRequest, AuthStart, OfflineOutcome};
use twofold_core::{Core, DomainError, OrgCaller};
use twofold_proto::ops::auth::{
    AuthFinished, AuthStarted, AuthenticateOffline, AuthenticateOnline, CancelAuthentication,
    ExtendedAuthenticationDetails, StartAuthentication,
};
use twofold_proto::ops::devices::EmbeddedParameters;
use twofold_proto::ops::{ErrorShape as _, Operation};
use twofold_proto::response::Empty;
use twofold_proto::{ErrorId, ReqBody};

use super::ops::{Failure, field_error, json};
use crate::views::device_details;

/// An unexpected failure in an authentication operation answers 20511, not 500.
fn auth_error(e: DomainError) -> DomainError {
    match e {
        DomainError::Internal(cause) => DomainError::AuthInternal(cause),
        other => other,
    }
}

fn started(caller: &OrgCaller, start: AuthStart) -> (ErrorId, AuthStarted) {
    (
        start.step.error_id(),
        AuthStarted {
            session_id: start.session_id,
            user_devices: start.devices.iter().map(device_details).collect(),
            multiple_devices_enabled: caller.org().settings.device_selection,
            extended_authentication_details: ExtendedAuthenticationDetails {
                last_successful_login: start.last_login_ms,
                ..ExtendedAuthenticationDetails::default()
            },
            cookie: None,
            authenticating_device_id: None,
            local_fallback_device_list: None,
            allowed_authentication_methods: None,
            exclude_authentication_methods: Vec::new(),
            error_params: None,
        },
    )
}

async fn run<O: Operation, F>(body: &ReqBody, f: F) -> Result<(ErrorId, Value), Failure>
where
    F: AsyncFnOnce(O) -> Result<(ErrorId, O::Response), DomainError>,
{
    let result = match O::from_body(body) {
        Ok(req) => f(req).await,
        Err(e) => Err(field_error(e)),
    };
    result.map(|(id, r)| (id, json(&r))).map_err(|e| Failure {
        error: auth_error(e),
        shape: O::Response::error_shape().map(|s| json(&s)),
    })
}

/// Runs the authentication operation named `op`; `None` when it is not one.
pub async fn dispatch(
    core: &Core,
    caller: &OrgCaller,
    op: &str,
    body: &ReqBody,
) -> Option<Result<(ErrorId, Value), Failure>> {
    Some(match op {
        StartAuthentication::NAME => {
            run::<StartAuthentication, _>(body, async |req| {
                let request = AuthRequest {
                    username: req.user_name,
                    sp_alias: req.sp_alias,
                    device_id: req.device_id,
                    session_id: req.session_id,
                    source_ip: req.ip_addr,
                };
                let start = core
                    .start_authentication(caller, &request, StartAuthentication::NAME)
                    .await?;
                Ok(started(caller, start))
            })
            .await
        }
        AuthenticateOnline::NAME => {
            run::<AuthenticateOnline, _>(body, async |req| {
                let request = AuthRequest {
                    username: req.user_name,
                    sp_alias: req.sp_alias,
                    device_id: req.device_id,
                    session_id: req.session_id,
                    source_ip: req.ip_addr,
                };
                let start = match req.auth_type.to_ascii_uppercase().as_str() {
                    "OTP" => {
                        core.start_authentication(caller, &request, AuthenticateOnline::NAME)
                            .await?
                    }
                    "ONE_TIME_DEVICE" => {
                        let kind = req
                            .device_type
                            .ok_or_else(|| DomainError::InvalidInput("deviceType is required".into()))?;
                        let data = req
                            .device_data
                            .ok_or_else(|| DomainError::InvalidInput("deviceData is required".into()))?;
                        core.start_backup(caller, &request, &kind, &data).await?
                    }
                    "CONFIRM"
                    | "FINGERPRINT_PERMISSIVE"
                    | "FINGERPRINT_RESTRICTIVE"
                    | "FINGERPRINT_HARD_RESTRICTIVE" => core.online_push(caller, &request).await?,
                    other => return Err(DomainError::UnsupportedRequest(format!("authType {other:?}"))),
                };
                Ok(started(caller, start))
            })
            .await
        }
        AuthenticateOffline::NAME => {
            run::<AuthenticateOffline, _>(body, async |req| {
                let session_id = req.session_id.clone();
                let request = AuthRequest {
                    username: req.user_name,
                    sp_alias: req.sp_alias,
                    device_id: None,
                    session_id: req.session_id,
                    source_ip: req.ip_addr,
                };
                match core
                    .authenticate_offline(caller, &request, &req.otp, req.oath_resync)
                    .await?
                {
                    OfflineOutcome::ResyncNext => Ok((
                        ErrorId::OathResyncNextPasscode,
                        AuthFinished {
                            session_id,
                            cookie: None,
                            embedded_parameters: None,
                        },
                    )),
                    OfflineOutcome::Approved(device) => {
                        let embedded = device
                            .filter(|d| d.kind == twofold_core::device::DeviceType::HardwareToken)
                            .and_then(|d| {
                                Some(EmbeddedParameters {
                                    oath_serial_number: d.serial.clone()?,
                                    oath_token_type: d.oath?.kind.as_str().to_string(),
                                })
                            });
                        Ok((
                            ErrorId::Ok,
                            AuthFinished {
                                session_id,
                                cookie: None,
                                embedded_parameters: embedded,
                            },
                        ))
                    }
                }
            })
            .await
        }
        CancelAuthentication::NAME => {
            run::<CancelAuthentication, _>(body, async |req| {
                core.cancel_authentication(caller, &req.session_id).await?;
                Ok((ErrorId::Ok, Empty {}))
            })
            .await
        }
        _ => return None,
    })
}
