//! Domain values → PingID wire objects. Wire names live here and in twofold-proto,
//! never in twofold-core.

use twofold_core::model::UserStatus;
use twofold_core::services::UserView;
use twofold_proto::ops::users::{SpEntry, UserDetails};

/// `userDetails` of a user (spec §3.1).
pub fn user_details(view: &UserView) -> UserDetails {
    let now = view.now_ms;
    let sp_list: Vec<SpEntry> = view
        .memberships
        .iter()
        .map(|m| {
            let bypass = m.in_bypass(now);
            SpEntry {
                sp_alias: m.service.alias().to_string(),
                sp_name: m.service.display_name().to_string(),
                status: if bypass {
                    "BYPASS"
                } else if m.active {
                    "ACTIVE"
                } else {
                    "NOT_ACTIVE"
                }
                .to_string(),
                bypass_expiration: if bypass { m.bypass_until_ms } else { None },
            }
        })
        .collect();
    let bypass_expiration = view
        .memberships
        .iter()
        .filter(|m| m.in_bypass(now))
        .filter_map(|m| m.bypass_until_ms)
        .max();
    let user = &view.user;
    UserDetails {
        user_name: user.username.clone(),
        user_id: user.id.0,
        fname: user.profile.fname.clone(),
        lname: user.profile.lname.clone(),
        email: user.profile.email.clone(),
        pic_url: user.profile.pic_url.clone(),
        role: user.profile.role.as_str().to_string(),
        status: view.status.as_str().to_string(),
        user_enabled: view.status == UserStatus::Active,
        user_in_bypass: bypass_expiration.is_some(),
        bypass_expiration,
        last_login: user.last_login_ms,
        sp_list,
        device_details: None,
        devices_details: Vec::new(),
        last_transactions: Vec::new(),
    }
}
