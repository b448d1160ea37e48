//! Authentication operations. They take the verified caller directly: an
//! authentication-only token may call them.

use twofold_core::services::PushDecision;
use twofold_core::services::{AuthRequest, AuthStart, OfflineOutcome};
use twofold_core::{Core, DomainError, OrgCaller};
use twofold_proto::ops::auth::{
    AuthFinished, AuthStarted, AuthStatus, AuthStatusResponse, AuthenticateOffline, AuthenticateOnline,
    CancelAuthentication, ExtendedAuthenticationDetails, ExtendedOnlineDetails, StartAuthentication,
};
use twofold_proto::ops::devices::EmbeddedParameters;
use twofold_proto::ops::{ErrorShape as _, Operation};
use twofold_proto::response::Empty;
use twofold_proto::{ErrorId, ReqBody};

use super::ops::{Failure, Fields, field_error, json};
use crate::views::device_details;

/// Holds the push of a held authonline while it waits. When the request future is
/// dropped before the push ended (the client disconnected, or the request timed out),
/// the push is abandoned on a task of its own, so the phone stops showing it.
struct AbandonOnDrop {
    core: Core,
    push: std::sync::Mutex<Option<String>>,
}

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        let pending = self
            .push
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let (Some(id), Ok(runtime)) = (pending, tokio::runtime::Handle::try_current()) {
            let core = self.core.clone();
            runtime.spawn(async move {
                if let Err(e) = core.abandon_push(&id).await {
                    tracing::warn!(error = %e, "abandoning a push failed");
                }
            });
        }
    }
}

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
                number_for_matching: start.number_for_matching.map(i64::from),
                ..ExtendedAuthenticationDetails::default()
            },
            extended_online_details: start.online.map(|o| ExtendedOnlineDetails {
                last_successful_login: start.last_login_ms,
                device_os_version: o.os_version,
                device_fp: Some(o.device_fp),
                performed_form_type: Some("SLIDER".into()),
                grace_period: None,
                admin_help: None,
                device_type: Some(o.device_type),
                gps_location: None,
            }),
            cookie: None,
            authenticating_device_id: None,
            local_fallback_device_list: None,
            allowed_authentication_methods: None,
            exclude_authentication_methods: Vec::new(),
            error_params: None,
        },
    )
}

async fn run<O: Operation, F>(body: &ReqBody, f: F) -> Result<(ErrorId, Fields), Failure>
where
    F: AsyncFnOnce(O) -> Result<(ErrorId, O::Response), DomainError>,
{
    let result = match O::from_body(body) {
        Ok(req) => f(req).await,
        Err(e) => Err(field_error(e)),
    };
    result.map(|(id, r)| (id, json(&r))).map_err(|e| {
        // An unreachable device leaves the session open for the app's OTP: its id goes
        // with the error (spec §2.1 authonline, offline mode).
        let shape = match &e {
            DomainError::DeviceUnreachable { session_id } => {
                Some(json(&serde_json::json!({ "sessionId": session_id })))
            }
            _ => O::Response::error_shape().map(|s| json(&s)),
        };
        Failure {
            error: auth_error(e),
            shape,
        }
    })
}

/// Runs the authentication operation named `op`; `None` when it is not one.
pub async fn dispatch(
    core: &Core,
    caller: &OrgCaller,
    op: &str,
    body: &ReqBody,
) -> Option<Result<(ErrorId, Fields), Failure>> {
    Some(match op {
        StartAuthentication::NAME => {
            run::<StartAuthentication, _>(body, async |req| {
                let request = AuthRequest {
                    username: req.user_name,
                    sp_alias: req.sp_alias,
                    device_id: req.device_id,
                    session_id: req.session_id,
                    source_ip: req.ip_addr,
                    async_push: req.async_push,
                    sp_name: req.form_parameters.sp_name,
                    sp_logo: req.form_parameters.sp_logo,
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
                    async_push: false,
                    sp_name: req.form_parameters.sp_name,
                    sp_logo: req.form_parameters.sp_logo,
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
                    | "FINGERPRINT_HARD_RESTRICTIVE" => {
                        let guard = AbandonOnDrop {
                            core: core.clone(),
                            push: std::sync::Mutex::new(None),
                        };
                        core.online_push(caller, &request, &guard.push).await?
                    }
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
                    ..AuthRequest::default()
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
        AuthStatus::NAME => {
            run::<AuthStatus, _>(body, async |req| {
                let status = match core.auth_status(caller, &req.session_id).await? {
                    PushDecision::Waiting => ErrorId::AwaitingAsyncResponse,
                    PushDecision::Approved => ErrorId::Ok,
                };
                Ok((
                    status,
                    AuthStatusResponse {
                        session_id: Some(req.session_id),
                        cookie: None,
                    },
                ))
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
