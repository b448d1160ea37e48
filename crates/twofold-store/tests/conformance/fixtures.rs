//! Rows the tests start from.

use twofold_core::Store;
use twofold_core::device::{DeviceId, DeviceType, OathKind, OathParams};
use twofold_core::ids::{OrgId, UserId};
use twofold_core::model::{Profile, Role, UserStatus};
use twofold_core::store::{InsertUser, NewDevice, NewOrg, NewUser};

pub const T0: i64 = 1_704_164_645_678;

pub async fn org(store: &dyn Store, name: &str) -> OrgId {
    store
        .create_org(&NewOrg {
            alias: format!("alias-{name}"),
            name: name.to_string(),
            created_ms: T0,
        })
        .await
        .expect("store")
        .expect("new org")
        .id
}

pub fn new_user(org: OrgId, name: &str) -> NewUser {
    NewUser {
        org_id: org,
        username: name.to_string(),
        username_fold: name.to_lowercase(),
        profile: Profile {
            fname: Some("Ada".into()),
            lname: None,
            email: Some(format!("{}@example.com", name.to_lowercase())),
            pic_url: None,
            role: Role::Regular,
        },
        status: UserStatus::NotActive,
        created_ms: T0,
        activation: None,
    }
}

pub async fn user(store: &dyn Store, org: OrgId, name: &str) -> UserId {
    match store.insert_user(&new_user(org, name), None).await.expect("store") {
        InsertUser::Created(u) => u.id,
        other => panic!("insert {name}: {other:?}"),
    }
}

pub fn totp_device(org: OrgId, user: UserId, id: i64) -> NewDevice {
    NewDevice {
        id: DeviceId(id),
        uuid: format!("uuid-{id}"),
        user_id: user,
        org_id: org,
        kind: DeviceType::AuthenticatorApp,
        phone: None,
        email: None,
        serial: None,
        oath: Some(OathParams {
            kind: OathKind::Totp,
            algorithm: "SHA1",
            digits: 6,
            period: 30,
        }),
        sealed_secret: Some(vec![1, 2, 3, 0, 255]),
        counter: None,
        enrolled_ms: T0,
    }
}

pub fn sms_device(org: OrgId, user: UserId, id: i64, phone: &str) -> NewDevice {
    NewDevice {
        kind: DeviceType::Sms,
        phone: Some(phone.to_string()),
        oath: None,
        sealed_secret: None,
        ..totp_device(org, user, id)
    }
}
