//! Domain values → PingID wire objects. Wire names live here and in twofold-proto,
//! never in twofold-core.

use twofold_core::device::DeviceType;
use twofold_core::model::UserStatus;
use twofold_core::phone::Phone;
use twofold_core::services::{DeviceView, UserView};
use twofold_proto::ops::devices::DeviceDetails;
use twofold_proto::ops::users::{SpEntry, Transaction, UserDetails};

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
        device_details: view.devices.first().map(device_details),
        devices_details: view.devices.iter().map(device_details).collect(),
        last_transactions: view
            .transactions
            .iter()
            .map(|t| Transaction {
                kind: "AUTHENTICATION".into(),
                date: t.created_ms,
                details: Some(format!(
                    "{} {}",
                    t.op,
                    if t.error_id == 200 {
                        "succeeded".to_string()
                    } else {
                        format!("answered {}", t.error_id)
                    }
                )),
            })
            .collect(),
    }
}

/// `yyyy-MM-dd HH:mm:ss.SSS` in UTC (PingID documents Mountain time; a server that moves
/// between zones cannot honour that, so Twofold states UTC in docs/api.md).
fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// A device object (spec §3.2).
pub fn device_details(view: &DeviceView) -> DeviceDetails {
    let d = &view.device;
    let phone = d.phone.as_deref().and_then(|p| Phone::parse(p, true));
    let display_id = match d.kind {
        DeviceType::Sms | DeviceType::Voice => phone
            .as_ref()
            .map_or_else(String::new, |p| format!("+{} {}", p.country_code, p.national)),
        DeviceType::Email => d.email.clone().unwrap_or_default(),
        DeviceType::HardwareToken | DeviceType::YubiKey => d.serial.clone().unwrap_or_default(),
        DeviceType::AuthenticatorApp => d.kind.wire_name().to_string(),
        // Mobile devices show their model (spec §3.2).
        DeviceType::Android | DeviceType::IPhone | DeviceType::Desktop => view
            .app
            .as_ref()
            .and_then(|a| a.model.clone())
            .unwrap_or_else(|| d.kind.wire_name().to_string()),
    };
    let app = view.app.as_ref();
    DeviceDetails {
        device_id: d.id.0,
        device_uuid: d.uuid.clone(),
        kind: d.kind.wire_name().to_string(),
        device_role: if d.is_primary() { "PRIMARY" } else { "SECONDARY" }.to_string(),
        nickname: d.nickname.clone(),
        display_id,
        enrollment: timestamp(d.enrolled_ms),
        push_enabled: app.is_some_and(|a| a.push_enabled),
        has_watch: false,
        app_version: app.and_then(|a| a.app_version.clone()),
        os_version: app.and_then(|a| a.os_version.clone()),
        device_model: app.and_then(|a| a.model.clone()),
        phone_number: phone
            .as_ref()
            .map(|p| format!("{}{}", p.national, p.extension.as_deref().unwrap_or(""))),
        country_code: phone.as_ref().map(|p| p.country_code.clone()),
        email: d.email.clone(),
        available_not_claimed_sms: view.available_unclaimed,
        available_claimed_sms: view.available_claimed,
        sent_not_claimed_sms: -1,
        sent_claimed_sms: -1,
        oath_serial_number: if d.kind == DeviceType::HardwareToken {
            d.serial.clone()
        } else {
            None
        },
        oath_token_type: if d.kind == DeviceType::HardwareToken {
            d.oath.map(|o| o.kind.as_str().to_string())
        } else {
            None
        },
    }
}
