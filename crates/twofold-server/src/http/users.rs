//! User-management operations: wire request → core service → wire response.

use twofold_core::services::{NewUserInput, ProfileInput};
use twofold_core::{Core, OrgCaller};
use twofold_proto::ops::Operation;
use twofold_proto::ops::devices::{GetActivationCode, PairingStatus, PairingStatusResponse};
use twofold_proto::ops::users::{
    ActivateUser, ActivationCodeResponse, AddService, AddUser, DeleteUser, EditUser, GetUserDetails, RemoveService,
    SuspendUser, UserBypass, UserDetailsResponse, UserWithCode,
};
use twofold_proto::response::Empty;
use twofold_proto::{ErrorId, ReqBody};

use super::ops::{Failure, Fields};
use crate::admin_op;
use crate::views::user_details;

/// Runs the operation named `op`; `None` when it is not a user-management operation.
pub async fn dispatch(
    core: &Core,
    caller: &OrgCaller,
    op: &str,
    body: &ReqBody,
) -> Option<Result<(ErrorId, Fields), Failure>> {
    Some(match op {
        AddUser::NAME => admin_op!(core, caller, body, AddUser, |admin, req| {
            let input = NewUserInput {
                username: req.user_name,
                activate: req.activate_user,
                profile: ProfileInput {
                    role: req.role,
                    email: req.email,
                    fname: req.fname,
                    lname: req.lname,
                },
                device_type: req.device_type,
                pic_url: req.pic_url,
            };
            let (view, code) = core.add_user(&admin, input).await?;
            Ok(UserWithCode {
                activation_code: code,
                user_details: user_details(&view),
                same_device_users_details: vec![],
            })
        }),
        GetUserDetails::NAME => admin_op!(core, caller, body, GetUserDetails, |admin, req| {
            let view = core.user_details(&admin, &req.user_name).await?;
            // Users sharing a mobile device appear once mobile pairing exists; until
            // then no device is shared, so the list is empty whether asked for or not.
            Ok(UserDetailsResponse {
                user_details: Some(user_details(&view)),
                same_device_users_details: vec![],
            })
        }),
        EditUser::NAME => admin_op!(core, caller, body, EditUser, |admin, req| {
            let profile = ProfileInput {
                role: req.role,
                email: req.email,
                fname: req.fname,
                lname: req.lname,
            };
            let (view, code) = core
                .edit_user(&admin, &req.user_name, &profile, req.activate_user.unwrap_or(false))
                .await?;
            Ok(UserWithCode {
                activation_code: code,
                user_details: user_details(&view),
                same_device_users_details: vec![],
            })
        }),
        DeleteUser::NAME => admin_op!(core, caller, body, DeleteUser, |admin, req| {
            core.delete_user(&admin, &req.0.user_name).await.map(|()| Empty {})
        }),
        SuspendUser::NAME => admin_op!(core, caller, body, SuspendUser, |admin, req| {
            core.suspend_user(&admin, &req.0.user_name).await.map(|()| Empty {})
        }),
        ActivateUser::NAME => admin_op!(core, caller, body, ActivateUser, |admin, req| {
            let code = core
                .activate_user(&admin, &req.user_name, req.device_type.as_deref())
                .await?;
            Ok(ActivationCodeResponse { activation_code: code })
        }),
        AddService::NAME => admin_op!(core, caller, body, AddService, |admin, req| {
            core.add_service(&admin, &req.0.user_name, &req.0.sp_alias)
                .await
                .map(|()| Empty {})
        }),
        RemoveService::NAME => admin_op!(core, caller, body, RemoveService, |admin, req| {
            core.remove_service(&admin, &req.0.user_name, &req.0.sp_alias)
                .await
                .map(|()| Empty {})
        }),
        UserBypass::NAME => admin_op!(core, caller, body, UserBypass, |admin, req| {
            core.set_bypass(&admin, &req.user_name, req.bypass_until, req.sp_aliases.as_deref())
                .await
                .map(|()| Empty {})
        }),
        GetActivationCode::NAME => admin_op!(core, caller, body, GetActivationCode, |admin, req| {
            let code = core
                .get_activation_code(
                    &admin,
                    &req.user_name,
                    req.device_type.as_deref(),
                    req.hours_until_expiration,
                )
                .await?;
            Ok(ActivationCodeResponse {
                activation_code: Some(code),
            })
        }),
        PairingStatus::NAME => admin_op!(core, caller, body, PairingStatus, |admin, req| {
            let (state, device_id) = core.pairing_status(&admin, &req.activation_code).await?;
            Ok(PairingStatusResponse {
                pairing_status: state.map_or("NOT_EXIST", |s| s.as_str()).to_string(),
                device_id,
            })
        }),
        _ => return None,
    })
}
