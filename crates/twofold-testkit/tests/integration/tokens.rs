//! OATH hardware tokens: the stock, TOKEN pairing, resync, and the job results.

use serde_json::{Value, json};
use twofold_proto::ErrorId;
use twofold_proto::ops::users::AddUser;
use twofold_testkit::TestApp;

use crate::{assert_error, assert_ok};

/// RFC 4226 Appendix D: the secret "12345678901234567890" in hex, and its codes for
/// counters 0..=9.
const RFC_SEED_HEX: &str = "3132333435363738393031323334353637383930";
const RFC_CODES: [&str; 10] = [
    "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
];

async fn with_stock(app: &TestApp) -> String {
    let reply = app
        .client
        .call_raw(
            "createorgtokens",
            &json!({"tokens": [
                {"serialNumber": "T-1", "tokenType": "HOTP", "secretKey": RFC_SEED_HEX, "otpLength": "6"},
                {"serialNumber": "T-2", "tokenType": "HOTP", "secretKey": RFC_SEED_HEX},
            ]}),
        )
        .await
        .unwrap();
    assert_ok(&reply);
    reply.body["jobToken"].as_str().unwrap().to_string()
}

async fn user(app: &TestApp, name: &str) {
    app.client
        .add_user(&AddUser {
            user_name: name.into(),
            ..AddUser::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn createorgtokens_job_reports_duplicates_without_secrets() {
    let app = TestApp::start().await;
    let first = with_stock(&app).await;
    let status = app
        .client
        .call_raw("getjobstatus", &json!({"jobToken": first}))
        .await
        .unwrap();
    assert_ok(&status);
    assert_eq!(status.body["status"], "done");
    assert_eq!(
        status.body["jobResult"],
        json!({"type": "CreateOath", "status": "DONE", "duplicates": [], "numberOfDuplicates": 0})
    );
    let again = with_stock(&app).await;
    let status = app
        .client
        .call_raw("getjobstatus", &json!({"jobToken": again}))
        .await
        .unwrap();
    assert_eq!(status.body["jobResult"]["numberOfDuplicates"], 2);
    assert_eq!(
        status.body["jobResult"]["duplicates"][0],
        json!({"row": 1, "serial": "T-1", "password": null})
    );
    assert_error(
        &app.client
            .call_raw("getjobstatus", &json!({"jobToken": "nope"}))
            .await
            .unwrap(),
        ErrorId::JobNotFound,
    );
    // A bad row refuses the whole upload.
    let bad = app
        .client
        .call_raw(
            "createorgtokens",
            &json!({"tokens": [{"serialNumber": "T-3", "tokenType": "XOTP", "secretKey": RFC_SEED_HEX}]}),
        )
        .await
        .unwrap();
    assert_error(&bad, ErrorId::InvalidParameterValues);
}

#[tokio::test]
async fn token_pairing_from_stock_then_resync() {
    let app = TestApp::start().await;
    with_stock(&app).await;
    user(&app, "tia").await;
    // A serial outside the stock: 20574.
    let reply = app
        .client
        .call_raw(
            "startofflinepairing",
            &json!({"username": "tia", "type": "TOKEN", "pairingData": "NOPE"}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::InvalidOathToken);
    let start = app
        .client
        .call_raw(
            "startofflinepairing",
            &json!({"username": "tia", "type": "TOKEN", "pairingData": "T-1"}),
        )
        .await
        .unwrap();
    assert_ok(&start);
    assert_eq!(start.body["tokenType"], "HOTP");
    let session = start.body["sessionId"].as_str().unwrap().to_string();
    // The token was pressed 20 times unseen: code 25 is beyond the look-ahead of 10...
    let far = twofold_factors::hotp::generate(
        b"12345678901234567890",
        25,
        twofold_factors::hotp::HotpParams::default(),
    );
    let reply = app
        .client
        .call_raw("finalizeofflinepairing", &json!({"sessionId": session, "otp": far}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::IncorrectPassword);
    // ...so resync: 30016, then the next code pairs.
    let reply = app
        .client
        .call_raw(
            "finalizeofflinepairing",
            &json!({"sessionId": session, "otp": far, "oathResync": true}),
        )
        .await
        .unwrap();
    assert_eq!((reply.http_status, reply.error_id), (200, 30016));
    assert_eq!(
        reply.error_msg.as_deref(),
        Some(ErrorId::OathResyncNextPasscode.message())
    );
    let next = twofold_factors::hotp::generate(
        b"12345678901234567890",
        26,
        twofold_factors::hotp::HotpParams::default(),
    );
    let reply = app
        .client
        .call_raw("finalizeofflinepairing", &json!({"sessionId": session, "otp": next}))
        .await
        .unwrap();
    assert_ok(&reply);
    assert_eq!(
        reply.body["embeddedParameters"],
        json!({"oathSerialNumber": "T-1", "oathTokenType": "HOTP"})
    );
    let d = app.client.get_user_details("tia").await.unwrap().body["userDetails"]["deviceDetails"].clone();
    assert_eq!(
        (d["type"].clone(), d["oathSerialNumber"].clone(), d["displayID"].clone()),
        (json!("Hardware Token"), json!("T-1"), json!("T-1"))
    );
    let stored = app
        .store()
        .devices_of(app.stored_user("tia").await.unwrap().id)
        .await
        .unwrap();
    assert_eq!(
        stored[0].counter,
        Some(27),
        "the next counter, stored by one conditional write"
    );
    // The same serial cannot be paired twice.
    user(&app, "uma").await;
    let reply = app
        .client
        .call_raw(
            "offlinepairing",
            &json!({"username": "uma", "type": "TOKEN", "pairingData": "T-1"}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::DeviceAlreadyInUse);
}

#[tokio::test]
async fn resyncoathtoken_one_and_two_step() {
    let app = TestApp::start().await;
    with_stock(&app).await;
    user(&app, "val").await;
    let reply = app
        .client
        .call_raw(
            "offlinepairing",
            &json!({"username": "val", "type": "TOKEN", "pairingData": "T-2"}),
        )
        .await
        .unwrap();
    assert_ok(&reply);
    assert_eq!(reply.body["tokenType"], "HOTP");
    // Two consecutive codes far ahead: resynced in one call.
    let reply = app
        .client
        .call_raw(
            "resyncoathtoken",
            &json!({"serialNumber": "T-2", "otps": [RFC_CODES[7], RFC_CODES[8]]}),
        )
        .await
        .unwrap();
    assert_ok(&reply);
    assert_eq!(reply.body["sessionId"], Value::Null);
    let stored = app
        .store()
        .devices_of(app.stored_user("val").await.unwrap().id)
        .await
        .unwrap();
    assert_eq!(stored[0].counter, Some(9));
    // Not consecutive: 20539. Unknown codes: 20579 naming the serial.
    let reply = app
        .client
        .call_raw(
            "resyncoathtoken",
            &json!({"serialNumber": "T-2", "otps": [RFC_CODES[9], "000000"]}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::ResyncPasscodesDoNotMatch);
    let reply = app
        .client
        .call_raw(
            "resyncoathtoken",
            &json!({"serialNumber": "T-2", "otps": ["111111", "222222"]}),
        )
        .await
        .unwrap();
    assert_eq!((reply.http_status, reply.error_id), (400, 20579));
    assert_eq!(reply.error_msg.as_deref(), Some("Couldn’t resync token ‘T-2’."));
    // Two steps: 30016 with an oarys_ session, then the next code.
    let code = |c: u64| {
        twofold_factors::hotp::generate(b"12345678901234567890", c, twofold_factors::hotp::HotpParams::default())
    };
    let reply = app
        .client
        .call_raw("resyncoathtoken", &json!({"serialNumber": "T-2", "otps": [code(40)]}))
        .await
        .unwrap();
    assert_eq!(reply.error_id, 30016);
    let session = reply.body["sessionId"].as_str().unwrap().to_string();
    assert!(session.starts_with("oarys_"));
    let reply = app
        .client
        .call_raw(
            "resyncoathtoken",
            &json!({"serialNumber": "T-2", "otps": [code(41)], "sessionId": session}),
        )
        .await
        .unwrap();
    assert_ok(&reply);
    let stored = app
        .store()
        .devices_of(app.stored_user("val").await.unwrap().id)
        .await
        .unwrap();
    assert_eq!(stored[0].counter, Some(42));
    // The session is spent.
    let reply = app
        .client
        .call_raw(
            "resyncoathtoken",
            &json!({"serialNumber": "T-2", "otps": [code(42)], "sessionId": session}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::InvalidSession);
}

#[tokio::test]
async fn revokeorgtokens_refuses_paired_tokens_unless_asked() {
    let app = TestApp::start().await;
    with_stock(&app).await;
    user(&app, "wes").await;
    app.client
        .call_raw(
            "offlinepairing",
            &json!({"username": "wes", "type": "TOKEN", "pairingData": "T-1"}),
        )
        .await
        .unwrap();
    let reply = app
        .client
        .call_raw("revokeorgtokens", &json!({"serialNumbers": ["T-1", "T-2"]}))
        .await
        .unwrap();
    assert_ok(&reply);
    let job = app
        .client
        .call_raw("getjobstatus", &json!({"jobToken": reply.body["jobToken"]}))
        .await
        .unwrap();
    assert_ok(&job);
    assert_eq!(job.body["status"], "failure");
    assert_eq!(job.body["jobResult"]["type"], "RevokeOathTokensJobResult");
    assert_eq!(job.body["jobResult"]["status"], "FAILURE");
    assert_eq!(job.body["jobResult"]["pairedSerials"], json!({"T-1": "wes"}));
    let org = app.org_id().await;
    assert!(
        app.store().stock_token(org, "T-2").await.unwrap().is_some(),
        "nothing removed on failure"
    );
    let reply = app
        .client
        .call_raw(
            "revokeorgtokens",
            &json!({"serialNumbers": ["T-1", "T-2"], "unpairBeforeDelete": "true"}),
        )
        .await
        .unwrap();
    let job = app
        .client
        .call_raw("getjobstatus", &json!({"jobToken": reply.body["jobToken"]}))
        .await
        .unwrap();
    assert_eq!(job.body["jobResult"], json!({"type": "JobResult", "status": "DONE"}));
    assert!(app.store().stock_token(org, "T-1").await.unwrap().is_none());
    let d = app.client.get_user_details("wes").await.unwrap().body["userDetails"].clone();
    assert_eq!(
        (d["status"].clone(), d["devicesDetails"].clone()),
        (json!("PENDING_CHANGE_DEVICE"), json!([]))
    );
}

#[tokio::test]
async fn oath_disabled_is_20572() {
    let app = TestApp::start().await;
    with_stock(&app).await;
    user(&app, "xan").await;
    let org = app.core.find_org("default").await.unwrap();
    app.core.set_org_setting(&org, "oath_enabled", "false").await.unwrap();
    let reply = app
        .client
        .call_raw(
            "startofflinepairing",
            &json!({"username": "xan", "type": "TOKEN", "pairingData": "T-1"}),
        )
        .await
        .unwrap();
    assert_error(&reply, ErrorId::OathTokenDisabled);
}

mod yubikeys {
    use serde_json::json;
    use twofold_core::services::YubikeyInput;
    use twofold_factors::yubikey::{OtpFields, encode_otp};
    use twofold_proto::ErrorId;
    use twofold_testkit::TestApp;

    use super::user;
    use crate::{assert_error, assert_ok};

    const PUBLIC_ID: &str = "cccccbcdefgh";
    const AES: [u8; 16] = [
        0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f,
    ];
    const PRIVATE: [u8; 6] = [1, 2, 3, 4, 5, 6];

    fn otp(use_counter: u16, session_counter: u8) -> String {
        let fields = OtpFields {
            private_id: PRIVATE,
            use_counter,
            timestamp: 1000,
            session_counter,
            random: 77,
        };
        encode_otp(PUBLIC_ID, &AES, &fields).unwrap()
    }

    async fn imported() -> TestApp {
        let app = TestApp::start().await;
        let org = app.core.find_org("default").await.unwrap();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let key = YubikeyInput {
            serial: Some("5550001".into()),
            public_id: PUBLIC_ID.into(),
            private_id: hex(&PRIVATE),
            aes_key: hex(&AES),
        };
        assert!(app.core.import_yubikeys(&org, &[key]).await.unwrap().is_empty());
        app
    }

    #[tokio::test]
    async fn pairyubikey_validates_locally_and_refuses_replays() {
        let app = imported().await;
        user(&app, "yan").await;
        let reply = app
            .client
            .call_raw("pairyubikey", &json!({"username": "yan", "otp": otp(5, 1)}))
            .await
            .unwrap();
        assert_ok(&reply);
        assert!(reply.body["deviceId"].as_i64().is_some_and(|id| id > 0 && id < 1 << 53));
        let d = app.client.get_user_details("yan").await.unwrap().body["userDetails"].clone();
        assert_eq!(
            (
                d["status"].clone(),
                d["deviceDetails"]["type"].clone(),
                d["deviceDetails"]["nickname"].clone()
            ),
            (json!("ACTIVE"), json!("YubiKey"), json!("YubiKey 1"))
        );
        // The same OTP again, or an older one: spent (20532).
        user(&app, "zoe").await;
        for stale in [otp(5, 1), otp(4, 9)] {
            let reply = app
                .client
                .call_raw("pairyubikey", &json!({"username": "zoe", "otp": stale}))
                .await
                .unwrap();
            assert_error(&reply, ErrorId::PasscodeAlreadyUsed);
        }
        // validateUniqueDevice: the key is yan's.
        let reply = app
            .client
            .call_raw(
                "pairyubikey",
                &json!({"username": "zoe", "otp": otp(6, 0), "validateUniqueDevice": true}),
            )
            .await
            .unwrap();
        assert_error(&reply, ErrorId::DeviceAlreadyInUse);
        // A tampered OTP does not decrypt: 20513; an unknown key: 20527.
        let mut bad = otp(7, 0);
        bad.replace_range(20..21, if &bad[20..21] == "c" { "b" } else { "c" });
        assert_error(
            &app.client
                .call_raw("pairyubikey", &json!({"username": "zoe", "otp": bad}))
                .await
                .unwrap(),
            ErrorId::IncorrectPassword,
        );
        let stranger = encode_otp(
            "vvvvvvvvvvvv",
            &AES,
            &OtpFields {
                private_id: PRIVATE,
                use_counter: 1,
                timestamp: 1,
                session_counter: 0,
                random: 0,
            },
        )
        .unwrap();
        assert_error(
            &app.client
                .call_raw("pairyubikey", &json!({"username": "zoe", "otp": stranger}))
                .await
                .unwrap(),
            ErrorId::InvalidDevice,
        );
        assert!(
            app.store()
                .devices_of(app.stored_user("zoe").await.unwrap().id)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn yubikey_disabled_is_20555() {
        let app = imported().await;
        user(&app, "ada").await;
        let org = app.core.find_org("default").await.unwrap();
        app.core
            .set_org_setting(&org, "yubikey_enabled", "false")
            .await
            .unwrap();
        let reply = app
            .client
            .call_raw("pairyubikey", &json!({"username": "ada", "otp": otp(1, 0)}))
            .await
            .unwrap();
        assert_error(&reply, ErrorId::YubikeyDisabled);
    }
}

mod remote_yubico {
    use std::sync::Arc;

    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use twofold_factors::yubico_protocol::build_response;
    use twofold_proto::ErrorId;
    use twofold_testkit::TestApp;

    use super::user;
    use crate::{assert_error, assert_ok};

    const API_KEY: &[u8] = b"0123456789abcdefghij";

    /// A validation server on loopback: OK the first time it sees an OTP, REPLAYED_OTP
    /// after; every answer signed with the API key and echoing otp and nonce.
    async fn fake_validation_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            for _ in 0..20 {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let query = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.split_once('?'))
                    .map(|(_, q)| q.to_string())
                    .unwrap_or_default();
                let get = |k: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                        .unwrap_or("")
                        .to_string()
                };
                let (otp, nonce) = (get("otp"), get("nonce"));
                let status = if seen.insert(otp.clone()) { "OK" } else { "REPLAYED_OTP" };
                let body = build_response(
                    &[
                        ("otp", &otp),
                        ("nonce", &nonce),
                        ("t", "2026-12-03T00:00:00Z0000"),
                        ("status", status),
                    ],
                    API_KEY,
                );
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        format!("http://{addr}/wsapi/2.0/verify")
    }

    #[tokio::test]
    async fn pairyubikey_through_a_validation_server() {
        let url = fake_validation_server().await;
        let config = twofold_delivery::YubicoConfig {
            url,
            client_id: 42,
            api_key: data_encoding::BASE64.encode(API_KEY).into(),
            timeout_secs: 5,
        };
        let client = Arc::new(twofold_delivery::YubicoClient::new(&config).unwrap());
        let app = TestApp::start_with(|core| core.with_yubico_validator(client)).await;
        user(&app, "rae").await;
        user(&app, "sid").await;
        let otp = "ccccccbcdefgkrtlbhjgbnglgihfdklbvndlbvcnvbbf";
        assert_ok(
            &app.client
                .call_raw("pairyubikey", &json!({"username": "rae", "otp": otp}))
                .await
                .unwrap(),
        );
        let d = app.client.get_user_details("rae").await.unwrap().body["userDetails"]["deviceDetails"].clone();
        assert_eq!(
            (d["type"].clone(), d["displayID"].clone()),
            (json!("YubiKey"), json!("ccccccbcdefg"))
        );
        let reply = app
            .client
            .call_raw("pairyubikey", &json!({"username": "sid", "otp": otp}))
            .await
            .unwrap();
        assert_error(&reply, ErrorId::PasscodeAlreadyUsed);
    }
}
