//! One test per catalog row that user management can produce (docs/errors.md), each
//! asserting HTTP status, errorId, message, and that the store was left as it was.

use serde_json::json;
use twofold_core::model::UserStatus;
use twofold_proto::ErrorId;
use twofold_proto::ops::devices::GetActivationCode;
use twofold_proto::ops::users::{AddUser, UserBypass};
use twofold_testkit::{Fault, TestApp};

use crate::assert_error;

async fn app_with(users: &[(&str, bool)]) -> TestApp {
    let app = TestApp::start().await;
    for (name, active) in users {
        let reply = app
            .client
            .add_user(&AddUser {
                user_name: (*name).into(),
                ..AddUser::default()
            })
            .await
            .unwrap();
        assert_eq!(reply.error_id, 200);
        if *active {
            app.make_active(name).await;
        }
    }
    app
}

#[tokio::test]
async fn e400_missing_or_mistyped_field() {
    let app = app_with(&[]).await;
    assert_error(
        &app.client
            .call_raw("adduser", &json!({"activateUser": true}))
            .await
            .unwrap(),
        ErrorId::InvalidInput,
    );
    assert_error(
        &app.client
            .call_raw("adduser", &json!({"username": ["a"]}))
            .await
            .unwrap(),
        ErrorId::InvalidInput,
    );
    assert_error(
        &app.client
            .call_raw("adduser", &json!({"username": "a", "activateUser": "maybe"}))
            .await
            .unwrap(),
        ErrorId::InvalidInput,
    );
    assert!(app.stored_user("a").await.is_none());
}

#[tokio::test]
async fn e422_hours_out_of_range_and_bypass_in_the_past() {
    let app = app_with(&[("kim", true)]).await;
    for hours in [0, 337, -1] {
        let req = GetActivationCode {
            user_name: "kim".into(),
            device_type: None,
            hours_until_expiration: Some(hours),
        };
        assert_error(
            &app.client.get_activation_code(&req).await.unwrap(),
            ErrorId::InvalidParameterValues,
        );
    }
    let req = UserBypass {
        user_name: "kim".into(),
        bypass_until: Some(1),
        sp_aliases: None,
    };
    assert_error(
        &app.client.user_bypass(&req).await.unwrap(),
        ErrorId::InvalidParameterValues,
    );
    assert_error(
        &app.client
            .call_raw("adduser", &json!({"username": "lee", "role": "OWNER"}))
            .await
            .unwrap(),
        ErrorId::InvalidParameterValues,
    );
    assert!(app.stored_user("lee").await.is_none());
}

#[tokio::test]
async fn e10551_lost_race_is_retryable() {
    let app = app_with(&[("kim", false)]).await;
    app.faults.fail("transition_with_code", Fault::Conflict);
    let req = GetActivationCode {
        user_name: "kim".into(),
        device_type: None,
        hours_until_expiration: None,
    };
    assert_error(
        &app.client.get_activation_code(&req).await.unwrap(),
        ErrorId::FailedTransaction,
    );
    assert_eq!(app.stored_user("kim").await.unwrap().status, UserStatus::NotActive);
    app.faults.clear();
    assert_eq!(app.client.get_activation_code(&req).await.unwrap().error_id, 200);
}

#[tokio::test]
async fn e10552_removeservice_not_a_member() {
    let app = app_with(&[("kim", true)]).await;
    assert_error(
        &app.client.remove_service("kim", "vpn").await.unwrap(),
        ErrorId::ServiceRemovalFailed,
    );
}

#[tokio::test]
async fn e10553_delete_refused_mid_way() {
    let app = app_with(&[("kim", false)]).await;
    app.faults.fail("delete_user", Fault::Conflict);
    assert_error(
        &app.client.delete_user("kim").await.unwrap(),
        ErrorId::UserDeletionFailed,
    );
    assert!(app.stored_user("kim").await.is_some());
}

#[tokio::test]
async fn e10554_addservice_unknown_alias() {
    let app = app_with(&[("kim", true)]).await;
    assert_error(
        &app.client.add_service("kim", "teleport").await.unwrap(),
        ErrorId::UnknownServiceProvider,
    );
}

#[tokio::test]
async fn e10555_addservice_disabled_by_org() {
    let app = app_with(&[("kim", true)]).await;
    let org = app.core.find_org("default").await.unwrap();
    app.core
        .set_org_setting(&org, "disabled_services", "vpn")
        .await
        .unwrap();
    assert_error(
        &app.client.add_service("kim", "vpn").await.unwrap(),
        ErrorId::ServiceProviderDisabled,
    );
    assert!(
        app.store()
            .memberships(app.stored_user("kim").await.unwrap().id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn e10556_duplicate_username() {
    let app = app_with(&[("kim", false)]).await;
    assert_error(
        &app.client
            .add_user(&AddUser {
                user_name: "KIM".into(),
                ..AddUser::default()
            })
            .await
            .unwrap(),
        ErrorId::UserAlreadyExists,
    );
}

#[tokio::test]
async fn e10557_bypass_for_service_user_is_not_in() {
    let app = app_with(&[("kim", true)]).await;
    app.client.add_service("kim", "web").await.unwrap();
    let req = UserBypass {
        user_name: "kim".into(),
        bypass_until: Some(twofold_testkit::T0_MS + 1000),
        sp_aliases: Some(vec!["web".into(), "vpn".into()]),
    };
    assert_error(
        &app.client.user_bypass(&req).await.unwrap(),
        ErrorId::CannotUpdateServiceProvider,
    );
    let web = app
        .store()
        .memberships(app.stored_user("kim").await.unwrap().id)
        .await
        .unwrap();
    assert_eq!(web[0].bypass_until_ms, None, "nothing half-written");
}

#[tokio::test]
async fn e10558_edituser_bad_role_or_lost_race() {
    let app = app_with(&[("kim", false)]).await;
    assert_error(
        &app.client
            .call_raw("edituser", &json!({"userName": "kim", "role": "GOD", "fname": "K"}))
            .await
            .unwrap(),
        ErrorId::CannotUpdateUser,
    );
    assert_eq!(app.stored_user("kim").await.unwrap().profile.fname, None);
    app.faults.fail("update_profile", Fault::Conflict);
    assert_error(
        &app.client
            .call_raw("edituser", &json!({"userName": "kim", "fname": "K"}))
            .await
            .unwrap(),
        ErrorId::CannotUpdateUser,
    );
}

#[tokio::test]
async fn e10559_suspend_lost_race() {
    let app = app_with(&[("kim", true)]).await;
    app.faults.fail("transition_status", Fault::Conflict);
    assert_error(
        &app.client.suspend_user("kim").await.unwrap(),
        ErrorId::UserSuspensionFailed,
    );
    assert_eq!(app.stored_user("kim").await.unwrap().status, UserStatus::Active);
}

#[tokio::test]
async fn e10561_suspend_not_active() {
    let app = app_with(&[("kim", false)]).await;
    assert_error(
        &app.client.suspend_user("kim").await.unwrap(),
        ErrorId::CannotSuspendInactiveUser,
    );
    assert_eq!(app.stored_user("kim").await.unwrap().status, UserStatus::NotActive);
}

#[tokio::test]
async fn e10562_activate_active_user() {
    let app = app_with(&[("kim", true)]).await;
    assert_error(
        &app.client.activate_user("kim", None).await.unwrap(),
        ErrorId::UserAlreadyActive,
    );
}

#[tokio::test]
async fn e10563_addservice_already_member() {
    let app = app_with(&[("kim", true)]).await;
    app.client.add_service("kim", "web").await.unwrap();
    assert_error(
        &app.client.add_service("kim", "web").await.unwrap(),
        ErrorId::UserAlreadyInService,
    );
}

#[tokio::test]
async fn e10564_unknown_user_for_every_admin_op() {
    let app = app_with(&[]).await;
    let body =
        json!({"userName": "ghost", "username": "ghost", "spAlias": "web", "bypassUntil": twofold_testkit::T0_MS + 10});
    for op in [
        "getuserdetails",
        "edituser",
        "deleteuser",
        "suspenduser",
        "activateuser",
        "addservice",
        "removeservice",
        "userbypass",
        "getactivationcode",
    ] {
        let reply = app.client.call_raw(op, &body).await.unwrap();
        assert_error(&reply, ErrorId::UserDoesNotExist);
    }
}

#[tokio::test]
async fn e10565_activation_lost_race() {
    let app = app_with(&[("kim", false)]).await;
    app.faults.fail("transition_with_code", Fault::Conflict);
    assert_error(
        &app.client.activate_user("kim", None).await.unwrap(),
        ErrorId::UserActivationFailed,
    );
    assert_eq!(app.stored_user("kim").await.unwrap().status, UserStatus::NotActive);
}

#[tokio::test]
async fn e10568_malformed_username() {
    let app = app_with(&[]).await;
    for name in [String::new(), "   ".into(), "x".repeat(251), "tab\there".into()] {
        let reply = app
            .client
            .add_user(&AddUser {
                user_name: name.clone(),
                ..AddUser::default()
            })
            .await
            .unwrap();
        assert_error(&reply, ErrorId::InvalidUsername);
        assert_error(
            &app.client.get_user_details(&name).await.unwrap(),
            ErrorId::InvalidUsername,
        );
    }
    assert_eq!(app.core.store.count_users(app.org_id().await).await.unwrap(), 0);
}

#[tokio::test]
async fn e10570_activation_code_for_suspended_user() {
    let app = app_with(&[("kim", true)]).await;
    app.client.suspend_user("kim").await.unwrap();
    let req = GetActivationCode {
        user_name: "kim".into(),
        device_type: None,
        hours_until_expiration: None,
    };
    assert_error(
        &app.client.get_activation_code(&req).await.unwrap(),
        ErrorId::DeviceChangeNotAllowed,
    );
}

#[tokio::test]
async fn e10571_store_failure_fixed_message() {
    let app = app_with(&[]).await;
    app.faults.fail("user_by_name", Fault::Unavailable);
    let reply = app.client.get_user_details("kim").await.unwrap();
    assert_error(&reply, ErrorId::DatabaseError);
    assert!(
        !format!("{:?}", reply.body).contains("injected"),
        "the cause never reaches the client"
    );
    app.faults.fail("insert_user", Fault::Unavailable);
    assert_error(
        &app.client
            .add_user(&AddUser {
                user_name: "kim".into(),
                ..AddUser::default()
            })
            .await
            .unwrap(),
        ErrorId::DatabaseError,
    );
    app.faults.clear();
    assert!(app.stored_user("kim").await.is_none());
}

#[tokio::test]
async fn e10572_bypass_unknown_service() {
    let app = app_with(&[("kim", true)]).await;
    let req = UserBypass {
        user_name: "kim".into(),
        bypass_until: None,
        sp_aliases: Some(vec!["teleport".into()]),
    };
    assert_error(
        &app.client.user_bypass(&req).await.unwrap(),
        ErrorId::ServiceProviderNotFound,
    );
}

#[tokio::test]
async fn e10576_user_must_be_active() {
    let app = app_with(&[("kim", false)]).await;
    assert_error(
        &app.client.add_service("kim", "web").await.unwrap(),
        ErrorId::UserNotActive,
    );
    let req = UserBypass {
        user_name: "kim".into(),
        bypass_until: Some(twofold_testkit::T0_MS + 1000),
        sp_aliases: None,
    };
    assert_error(&app.client.user_bypass(&req).await.unwrap(), ErrorId::UserNotActive);
    assert!(
        app.store()
            .memberships(app.stored_user("kim").await.unwrap().id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn e10580_user_quota() {
    let app = app_with(&[("kim", false)]).await;
    let org = app.core.find_org("default").await.unwrap();
    app.core.set_org_setting(&org, "max_users", "1").await.unwrap();
    assert_error(
        &app.client
            .add_user(&AddUser {
                user_name: "lou".into(),
                ..AddUser::default()
            })
            .await
            .unwrap(),
        ErrorId::MaxUsersExceeded,
    );
    assert!(app.stored_user("lou").await.is_none());
}

#[tokio::test]
async fn e20542_unknown_device_type_and_unimplemented_ops() {
    let app = app_with(&[("kim", false)]).await;
    assert_error(
        &app.client.activate_user("kim", Some("WATCH")).await.unwrap(),
        ErrorId::UnsupportedRequest,
    );
    assert_eq!(app.stored_user("kim").await.unwrap().status, UserStatus::NotActive);
    assert_error(
        &app.client.call_raw("nosuchop", &json!({})).await.unwrap(),
        ErrorId::UnsupportedRequest,
    );
}

#[tokio::test]
async fn e10556_unicode_caseless_and_e10568_hidden_characters() {
    let app = app_with(&[("straße", false), ("ΟΔΟΣ", false), ("bob", false)]).await;
    for twin in ["STRASSE", "οδος", " bob", "bob\u{a0}"] {
        let reply = app
            .client
            .add_user(&AddUser {
                user_name: twin.into(),
                ..AddUser::default()
            })
            .await
            .unwrap();
        assert_error(&reply, ErrorId::UserAlreadyExists);
    }
    assert_eq!(
        app.client.get_user_details("STRASSE").await.unwrap().body["userDetails"]["userName"],
        "straße"
    );
    for hidden in ["b\u{200b}ob", "\u{202e}bob", "bob\u{feff}"] {
        let reply = app
            .client
            .add_user(&AddUser {
                user_name: hidden.into(),
                ..AddUser::default()
            })
            .await
            .unwrap();
        assert_error(&reply, ErrorId::InvalidUsername);
    }
    assert_eq!(app.core.store.count_users(app.org_id().await).await.unwrap(), 3);
}

#[tokio::test]
async fn e422_numbers_beyond_range_and_empty_service_list() {
    let app = app_with(&[("kim", true)]).await;
    app.client.add_service("kim", "web").await.unwrap();
    for until in [
        json!(1e300),
        json!("9223372036854775808"),
        json!(9_007_199_254_740_992_i64),
    ] {
        let reply = app
            .client
            .call_raw("userbypass", &json!({"userName": "kim", "bypassUntil": until}))
            .await
            .unwrap();
        assert_error(&reply, ErrorId::InvalidParameterValues);
    }
    let reply = app
        .client
        .call_raw(
            "userbypass",
            &json!({"userName": "kim", "bypassUntil": twofold_testkit::T0_MS + 5, "spAliases": []}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::InvalidParameterValues);
    let reply = app
        .client
        .call_raw(
            "getactivationcode",
            &json!({"userName": "kim", "hoursUntilExpiration": 24.0}),
        )
        .await
        .unwrap();
    assert_eq!(reply.error_id, 200, "24.0 is the integer 24");
    let web = app
        .store()
        .memberships(app.stored_user("kim").await.unwrap().id)
        .await
        .unwrap();
    assert_eq!(web[0].bypass_until_ms, None);
}
