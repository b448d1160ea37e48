//! Device operations: pairing and device management.

use twofold_core::{Core, OrgCaller};
use twofold_proto::ops::Operation;
use twofold_proto::ops::devices::{
    AppPairingStarted, AuthenticatorAppFinishPairing, AuthenticatorAppStartPairing, EmbeddedParameters,
    FinalizeOfflinePairing, OfflinePairing, PairYubiKey, PairedDevice, PairingFinished, PairingStarted,
    StartOfflinePairing, UnpairDevice, UpdateDeviceAttr,
};
use twofold_proto::response::Empty;
use twofold_proto::{ErrorId, ReqBody};

use super::ops::{Failure, Fields};
use crate::admin_op;

fn finished(device: &twofold_core::device::Device) -> PairingFinished {
    PairingFinished {
        device_id: Some(device.id.0),
        device_uuid: Some(device.uuid.clone()),
        embedded_parameters: match (&device.serial, &device.oath) {
            (Some(serial), Some(oath)) if device.kind == twofold_core::device::DeviceType::HardwareToken => {
                Some(EmbeddedParameters {
                    oath_serial_number: serial.clone(),
                    oath_token_type: oath.kind.as_str().into(),
                })
            }
            _ => None,
        },
        session_id: None,
    }
}

/// Runs the device operation named `op`; `None` when it is not one.
pub async fn dispatch(
    core: &Core,
    caller: &OrgCaller,
    op: &str,
    body: &ReqBody,
) -> Option<Result<(ErrorId, Fields), Failure>> {
    Some(match op {
        OfflinePairing::NAME => admin_op!(core, caller, body, OfflinePairing, |admin, req| {
            let r = req.0;
            let device = core
                .offline_pairing(&admin, &r.user_name, &r.kind, &r.pairing_data, r.validate_unique_device)
                .await?;
            Ok(PairingStarted {
                session_id: None,
                device_id: device.id.0,
                device_uuid: device.uuid.clone(),
                token_type: device
                    .oath
                    .filter(|_| device.serial.is_some())
                    .map(|o| o.kind.as_str().to_string()),
            })
        }),
        StartOfflinePairing::NAME => admin_op!(core, caller, body, StartOfflinePairing, |admin, req| {
            let r = req.0;
            let (start, device) = core
                .start_offline_pairing(&admin, &r.user_name, &r.kind, &r.pairing_data, r.validate_unique_device)
                .await?;
            Ok(PairingStarted {
                session_id: Some(start.session_id),
                device_id: start.device_id.0,
                device_uuid: start.device_uuid,
                token_type: device
                    .oath
                    .filter(|_| device.serial.is_some())
                    .map(|o| o.kind.as_str().to_string()),
            })
        }),
        FinalizeOfflinePairing::NAME => admin_op!(status core, caller, body, FinalizeOfflinePairing, |admin, req| {
            match core.finalize_offline_pairing(&admin, &req.session_id, &req.otp, req.oath_resync).await? {
                Some(device) => Ok((ErrorId::Ok, finished(&device))),
                None => Ok((
                    ErrorId::OathResyncNextPasscode,
                    PairingFinished { device_id: None, device_uuid: None, embedded_parameters: None, session_id: Some(req.session_id) },
                )),
            }
        }),
        AuthenticatorAppStartPairing::NAME => {
            admin_op!(core, caller, body, AuthenticatorAppStartPairing, |admin, req| {
                if req
                    .pairing_type
                    .as_deref()
                    .is_some_and(|t| !t.eq_ignore_ascii_case("TOTP"))
                {
                    return Err(twofold_core::DomainError::UnsupportedRequest("pairingType".into()));
                }
                let p = core.start_app_pairing(&admin, &req.user_name).await?;
                Ok(AppPairingStarted {
                    session_id: p.start.session_id,
                    pairing_key_uri: p.key_uri,
                    pairing_key: p.key_groups,
                    device_id: p.start.device_id.0,
                    device_uuid: p.start.device_uuid,
                })
            })
        }
        AuthenticatorAppFinishPairing::NAME => {
            admin_op!(core, caller, body, AuthenticatorAppFinishPairing, |admin, req| {
                let device = core.finish_app_pairing(&admin, &req.session_id, &req.otp).await?;
                Ok(finished(&device))
            })
        }
        PairYubiKey::NAME => admin_op!(core, caller, body, PairYubiKey, |admin, req| {
            let device = core
                .pair_yubikey(&admin, &req.user_name, &req.otp, req.validate_unique_device)
                .await?;
            Ok(PairedDevice {
                device_id: device.id.0,
                device_uuid: device.uuid,
            })
        }),
        UnpairDevice::NAME => admin_op!(core, caller, body, UnpairDevice, |admin, req| {
            core.unpair_device(&admin, &req.user_name, req.device_id.as_deref())
                .await
                .map(|()| Empty {})
        }),
        UpdateDeviceAttr::NAME => admin_op!(core, caller, body, UpdateDeviceAttr, |admin, req| {
            core.update_device_attr(
                &admin,
                &req.user_name,
                &req.device_id,
                &req.attribute_name,
                &req.attribute_value,
            )
            .await
            .map(|()| Empty {})
        }),
        _ => return None,
    })
}
