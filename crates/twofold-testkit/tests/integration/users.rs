//! User management: shapes, the status machine, concurrency.

use serde_json::{Value, json};
use twofold_core::model::UserStatus;
use twofold_proto::ErrorId;
use twofold_proto::ops::devices::GetActivationCode;
use twofold_proto::ops::users::{AddUser, EditUser, UserBypass};
use twofold_testkit::{T0_MS, TestApp};

use crate::{assert_error, assert_ok};

fn add(name: &str, activate: bool) -> AddUser {
    AddUser {
        user_name: name.into(),
        activate_user: activate,
        ..AddUser::default()
    }
}

#[tokio::test]
async fn adduser_shapes_and_activation_code() {
    let app = TestApp::start().await;
    let reply = app
        .client
        .add_user(&AddUser {
            user_name: "Carl Jones".into(),
            activate_user: true,
            role: Some("REGULAR".into()),
            fname: Some("Carl".into()),
            lname: Some("Jones".into()),
            email: Some("cjones@example.org".into()),
            ..AddUser::default()
        })
        .await
        .unwrap();
    assert_ok(&reply);
    let code = reply.body["activationCode"]
        .as_str()
        .expect("activationCode is a JSON string");
    assert!(code.len() == 12 && code.bytes().all(|b| b.is_ascii_digit()));
    let details = &reply.body["userDetails"];
    assert_eq!(details["status"], "PENDING_ACTIVATION");
    assert_eq!(details["userEnabled"], false);
    assert_eq!(details["deviceDetails"], json!([]));
    assert_eq!(details["devicesDetails"], json!([]));
    assert_eq!(details["lastLogin"], Value::Null);
    assert_eq!(details["bypassExpiration"], Value::Null);
    assert_eq!(details["picURL"], Value::Null);
    assert!(details["userId"].is_i64());
    // Stored row.
    let stored = app.stored_user("carl jones").await.unwrap();
    assert_eq!(stored.status, UserStatus::PendingActivation);
    assert_eq!(stored.activation_expires_ms, Some(T0_MS + 48 * 3_600_000));
    assert_eq!(stored.profile.email.as_deref(), Some("cjones@example.org"));
    // The code pairs nothing yet: NOT_CLAIMED; an unknown code: NOT_EXIST.
    let status = app.client.pairing_status(code).await.unwrap();
    assert_eq!(status.body["pairingStatus"], "NOT_CLAIMED");
    assert_eq!(status.body["deviceId"], Value::Null);
    let status = app
        .client
        .call_raw("pairingstatus", &json!({"activationCode": 123}))
        .await
        .unwrap();
    assert_eq!(status.body["pairingStatus"], "NOT_EXIST");
    // Not activated: NOT_ACTIVE, null code.
    let reply = app.client.add_user(&add("dora", false)).await.unwrap();
    assert_eq!(reply.body["activationCode"], Value::Null);
    assert_eq!(reply.body["userDetails"]["status"], "NOT_ACTIVE");
}

#[tokio::test]
async fn activation_code_expiry_makes_the_user_not_active() {
    let app = TestApp::start().await;
    let reply = app.client.add_user(&add("erin", true)).await.unwrap();
    let code = reply.body["activationCode"].as_str().unwrap().to_string();
    app.clock.advance(48 * 3_600_000 - 1);
    assert_eq!(
        app.client.pairing_status(&code).await.unwrap().body["pairingStatus"],
        "NOT_CLAIMED"
    );
    app.clock.advance(1);
    assert_eq!(
        app.client.pairing_status(&code).await.unwrap().body["pairingStatus"],
        "NOT_EXIST"
    );
    let details = app.client.get_user_details("erin").await.unwrap();
    assert_eq!(details.body["userDetails"]["status"], "NOT_ACTIVE");
    // A new code, valid 1 hour, brings it back to PENDING_ACTIVATION.
    let fresh = app
        .client
        .get_activation_code(&GetActivationCode {
            user_name: "erin".into(),
            device_type: Some("MOBILE".into()),
            hours_until_expiration: Some(1),
        })
        .await
        .unwrap();
    assert_ok(&fresh);
    let new_code = fresh.body["activationCode"].as_str().unwrap();
    assert_ne!(new_code, code);
    assert_eq!(
        app.client.get_user_details("erin").await.unwrap().body["userDetails"]["status"],
        "PENDING_ACTIVATION"
    );
    assert_eq!(
        app.stored_user("erin").await.unwrap().activation_expires_ms,
        Some(app.clock_now() + 3_600_000)
    );
}

trait Now {
    fn clock_now(&self) -> i64;
}
impl Now for TestApp {
    fn clock_now(&self) -> i64 {
        use twofold_core::Clock;
        self.clock.now_ms()
    }
}

#[tokio::test]
async fn usernames_are_unique_case_insensitively_and_lookups_fold_case() {
    let app = TestApp::start().await;
    assert_ok(&app.client.add_user(&add("Åsa", false)).await.unwrap());
    assert_error(
        &app.client.add_user(&add("åSA", false)).await.unwrap(),
        ErrorId::UserAlreadyExists,
    );
    let reply = app.client.get_user_details("ÅSA").await.unwrap();
    assert_eq!(reply.body["userDetails"]["userName"], "Åsa");
}

#[tokio::test]
async fn twenty_concurrent_addusers_one_wins() {
    let app = TestApp::start().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = app.client.clone();
        tasks.push(tokio::spawn(async move {
            client.add_user(&add("racer", true)).await.unwrap()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap().error_id);
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 10556).count(), 19, "{codes:?}");
    assert_eq!(app.core.store.count_users(app.org_id().await).await.unwrap(), 1);
}

#[tokio::test]
async fn edituser_clears_fields_not_supplied() {
    let app = TestApp::start().await;
    let mut req = add("fay", false);
    req.fname = Some("Fay".into());
    req.lname = Some("Old".into());
    req.email = Some("fay@example.org".into());
    app.client.add_user(&req).await.unwrap();
    let reply = app
        .client
        .call_raw(
            "edituser",
            &json!({"userName": "fay", "fName": "Faye", "role": "ADMIN"}),
        )
        .await
        .unwrap();
    assert_ok(&reply);
    let d = &reply.body["userDetails"];
    assert_eq!(
        (
            d["fname"].clone(),
            d["lname"].clone(),
            d["email"].clone(),
            d["role"].clone()
        ),
        (json!("Faye"), Value::Null, Value::Null, json!("ADMIN"))
    );
    assert_eq!(reply.body["sameDeviceUsersDetails"], json!([]));
    // activateUser on a NOT_ACTIVE user issues a code.
    let reply = app
        .client
        .edit_user(&EditUser {
            user_name: "fay".into(),
            activate_user: Some(true),
            ..EditUser::default()
        })
        .await
        .unwrap();
    assert!(reply.body["activationCode"].as_str().is_some_and(|c| c.len() == 12));
    assert_eq!(reply.body["userDetails"]["status"], "PENDING_ACTIVATION");
    assert_eq!(reply.body["userDetails"]["role"], "REGULAR");
}

#[tokio::test]
async fn suspend_activate_delete_cycle() {
    let app = TestApp::start().await;
    app.client.add_user(&add("gus", false)).await.unwrap();
    app.make_active("gus").await;
    assert_ok(&app.client.suspend_user("gus").await.unwrap());
    assert_eq!(app.stored_user("gus").await.unwrap().status, UserStatus::Suspended);
    let details = app.client.get_user_details("gus").await.unwrap();
    assert_eq!(
        (
            details.body["userDetails"]["status"].clone(),
            details.body["userDetails"]["userEnabled"].clone()
        ),
        (json!("SUSPENDED"), json!(false))
    );
    let reply = app.client.activate_user("gus", None).await.unwrap();
    assert_ok(&reply);
    assert_eq!(reply.body["activationCode"], Value::Null);
    assert_eq!(app.stored_user("gus").await.unwrap().status, UserStatus::Active);
    assert_eq!(
        app.client.get_user_details("gus").await.unwrap().body["userDetails"]["userEnabled"],
        true
    );
    assert_ok(&app.client.delete_user("GUS").await.unwrap());
    assert!(app.stored_user("gus").await.is_none());
    assert_error(&app.client.delete_user("gus").await.unwrap(), ErrorId::UserDoesNotExist);
}

#[tokio::test]
async fn activateuser_on_not_active_user_issues_code() {
    let app = TestApp::start().await;
    app.client.add_user(&add("hal", false)).await.unwrap();
    let reply = app.client.activate_user("hal", Some("DESKTOP")).await.unwrap();
    assert_ok(&reply);
    assert!(reply.body["activationCode"].as_str().is_some_and(|c| c.len() == 12));
    let stored = app.stored_user("hal").await.unwrap();
    assert_eq!(stored.status, UserStatus::PendingActivation);
    assert_eq!(stored.device_kind, Some(twofold_core::model::DeviceKind::Desktop));
}

#[tokio::test]
async fn services_and_bypass() {
    let app = TestApp::start().await;
    app.client.add_user(&add("ivy", false)).await.unwrap();
    app.make_active("ivy").await;
    assert_ok(&app.client.add_service("ivy", "web").await.unwrap());
    assert_ok(&app.client.add_service("ivy", "VPN").await.unwrap());
    let until = T0_MS + 86_400_000;
    let reply = app
        .client
        .user_bypass(&UserBypass {
            user_name: "ivy".into(),
            bypass_until: Some(until),
            sp_aliases: Some(vec!["web".into()]),
        })
        .await
        .unwrap();
    assert_ok(&reply);
    let d = app.client.get_user_details("ivy").await.unwrap().body["userDetails"].clone();
    assert_eq!(
        d["spList"],
        json!([
            {"spAlias": "web", "spName": "WEB", "status": "BYPASS", "bypassExpiration": until},
            {"spAlias": "vpn", "spName": "VPN", "status": "ACTIVE", "bypassExpiration": null},
        ])
    );
    assert_eq!(
        (d["userInBypass"].clone(), d["bypassExpiration"].clone()),
        (json!(true), json!(until))
    );
    // The bypass ends on its own.
    app.clock.advance(86_400_000);
    let d = app.client.get_user_details("ivy").await.unwrap().body["userDetails"].clone();
    assert_eq!(d["spList"][0]["status"], "ACTIVE");
    assert_eq!(d["userInBypass"], false);
    // All services (no spAliases), then cleared with null.
    let later = T0_MS + 2 * 86_400_000 + 5;
    app.client
        .call_raw("userbypass", &json!({"userName": "ivy", "bypassUntil": later}))
        .await
        .unwrap();
    let d = app.client.get_user_details("ivy").await.unwrap().body["userDetails"].clone();
    assert!(d["spList"].as_array().unwrap().iter().all(|s| s["status"] == "BYPASS"));
    assert_ok(
        &app.client
            .call_raw(
                "userbypass",
                &json!({"userName": "ivy", "bypassUntil": null, "spAlias": null}),
            )
            .await
            .unwrap(),
    );
    let d = app.client.get_user_details("ivy").await.unwrap().body["userDetails"].clone();
    assert!(
        d["spList"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "ACTIVE" && s["bypassExpiration"].is_null())
    );
    // removeservice (our extension).
    assert_ok(&app.client.remove_service("ivy", "vpn").await.unwrap());
    assert_eq!(
        app.client.get_user_details("ivy").await.unwrap().body["userDetails"]["spList"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn bypass_for_all_joins_web_when_in_no_service() {
    let app = TestApp::start().await;
    app.client.add_user(&add("jan", false)).await.unwrap();
    app.make_active("jan").await;
    let until = T0_MS + 60_000;
    assert_ok(
        &app.client
            .call_raw(
                "userbypass",
                &json!({"userName": "jan", "bypassUntil": until.to_string()}),
            )
            .await
            .unwrap(),
    );
    let d = app.client.get_user_details("jan").await.unwrap().body["userDetails"].clone();
    assert_eq!(
        d["spList"],
        json!([{"spAlias": "web", "spName": "WEB", "status": "BYPASS", "bypassExpiration": until}])
    );
}
