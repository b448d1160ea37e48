//! The wire envelope end to end: tolerances of real clients, signatures, refusals.

use serde_json::{Value, json};
use twofold_core::model::TokenScope;
use twofold_proto::ErrorId;
use twofold_proto::envelope::{Alg, sign_compact};
use twofold_testkit::TestApp;

use crate::{assert_error, assert_ok};

fn payload(app: &TestApp, timestamp: Value, body: Value) -> Vec<u8> {
    let p = app.properties();
    json!({
        "reqHeader": {"locale": "en", "orgAlias": p.org_alias, "secretKey": p.token, "timestamp": timestamp, "version": 4.9},
        "reqBody": body,
    })
    .to_string()
    .into_bytes()
}

fn sign(app: &TestApp, alg: Alg, header: Value, payload: &[u8]) -> String {
    let key = app.properties().key_bytes().unwrap();
    sign_compact(alg, &key, header.to_string().as_bytes(), payload)
}

#[tokio::test]
async fn header_variants_timestamps_and_algorithms_are_accepted() {
    let app = TestApp::start().await;
    let p = app.properties();
    let headers = [
        json!({"alg": "HS256", "org_alias": p.org_alias, "token": p.token}),
        json!({"alg": "HS256", "orgAlias": p.org_alias, "token": p.token, "typ": "JWT"}),
        json!({"alg": "HS256", "org_alias": p.org_alias, "orgAlias": p.org_alias, "token": p.token}),
    ];
    let stamps = [
        json!("2024-01-02 03:04:05.678"),
        json!("2024-01-02T03:04:05.678Z"),
        json!("\\/Date(1704164645678)\\/"),
        json!("2024-01-02  03:04:05.000"),
        Value::Null,
    ];
    let mut n = 0;
    for header in &headers {
        for stamp in &stamps {
            for alg in [Alg::HS256, Alg::HS384, Alg::HS512] {
                let mut h = header.clone();
                h["alg"] = json!(alg.name());
                let body = json!({"username": format!("user{n}"), "activateUser": "false"});
                let jws = sign(&app, alg, h, &payload(&app, stamp.clone(), body));
                let reply = app.client.send_text("adduser", jws).await.unwrap();
                assert_ok(&reply);
                n += 1;
            }
        }
    }
    assert!(app.stored_user("user44").await.is_some());
}

#[tokio::test]
async fn quoted_body_trailing_whitespace_and_case_insensitive_op() {
    let app = TestApp::start().await;
    let jws = app.client.sign(&json!({"userName": "nobody"}));
    for text in [format!("\"{jws}\""), format!("{jws}\r\n  ")] {
        let reply = app.client.send_text("GetUserDetails", text).await.unwrap();
        assert_error(&reply, ErrorId::UserDoesNotExist);
        // Real PingID answers 10564 with these two fields (spec §10).
        assert_eq!(reply.body["userDetails"], Value::Null);
        assert_eq!(reply.body["sameDeviceUsersDetails"], json!([]));
    }
}

#[tokio::test]
async fn wrong_key_gets_401_and_changes_nothing() {
    let app = TestApp::start().await;
    let bad = app.client_with_wrong_key();
    let reply = bad.call_raw("adduser", &json!({"username": "mallory"})).await;
    // The refusal is signed with the real key, so the wrong-key client cannot verify it.
    assert!(matches!(reply, Err(twofold_client::ClientError::BadSignature(_))));
    let raw = reqwest_post(&app, "adduser", bad.sign(&json!({"username": "mallory"}))).await;
    assert_eq!(raw.0, 401);
    assert!(app.stored_user("mallory").await.is_none());
}

#[tokio::test]
async fn unknown_token_gets_plain_401() {
    let app = TestApp::start().await;
    let mut props = app.properties();
    props.token = "00000000000000000000000000000000".into();
    let stranger = twofold_client::Client::new(props).unwrap();
    let reply = stranger.call_raw("adduser", &json!({"username": "x"})).await.unwrap();
    assert!(!reply.signed);
    assert_eq!((reply.http_status, reply.error_id), (401, 401));
    assert_eq!(reply.error_msg.as_deref(), Some(ErrorId::Unauthorized.message()));
    assert!(app.stored_user("x").await.is_none());
}

#[tokio::test]
async fn revoked_token_gets_401() {
    let app = TestApp::start().await;
    let other = app.client_with_scope(TokenScope::Full).await;
    // The new token works...
    assert_error(
        &other.get_user_details("nobody").await.unwrap(),
        ErrorId::UserDoesNotExist,
    );
    let token = twofold_core::ids::ApiTokenId(other.properties().token.clone());
    app.core.revoke_token(&token).await.unwrap();
    let reply = other
        .call_raw("getuserdetails", &json!({"userName": "a"}))
        .await
        .unwrap();
    assert_eq!((reply.http_status, reply.error_id, reply.signed), (401, 401, false));
}

#[tokio::test]
async fn malformed_bodies_get_400() {
    let app = TestApp::start().await;
    for text in ["", "not a jws", "a.b.c", "e30.e30"] {
        let (status, body) = reqwest_post(&app, "adduser", text.to_string()).await;
        assert_eq!(status, 400, "{text}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["responseBody"]["errorId"], 400);
    }
    // A verified request whose payload has no reqBody: signed 400.
    let p = app.properties();
    let jws = sign(
        &app,
        Alg::HS256,
        json!({"alg": "HS256", "org_alias": p.org_alias, "token": p.token}),
        b"{\"reqHeader\":{}}",
    );
    assert_error(
        &app.client.send_text("adduser", jws).await.unwrap(),
        ErrorId::InvalidInput,
    );
    // alg none is a 401.
    let none = sign(
        &app,
        Alg::HS256,
        json!({"alg": "none", "token": p.token}),
        b"{\"reqBody\":{}}",
    );
    assert_eq!(reqwest_post(&app, "adduser", none).await.0, 401);
    // A body over the size limit is refused, not buffered.
    let huge = "a".repeat(twofold_server::http::MAX_BODY_BYTES + 1);
    assert_eq!(reqwest_post(&app, "adduser", huge).await.0, 400);
}

#[tokio::test]
async fn unknown_operation_is_20542_and_auth_only_token_gets_403() {
    let app = TestApp::start().await;
    assert_error(
        &app.client.call_raw("makecoffee", &json!({})).await.unwrap(),
        ErrorId::UnsupportedRequest,
    );
    let auth_only = app.client_with_scope(TokenScope::AuthOnly).await;
    let reply = auth_only
        .call_raw("adduser", &json!({"username": "eve"}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::Forbidden);
    assert!(app.stored_user("eve").await.is_none());
}

#[tokio::test]
async fn org_alias_mismatch_is_10569() {
    let app = TestApp::start().await;
    let mut props = app.properties();
    props.org_alias = "99999999-2222-3333-4444-555555555555".into();
    let confused = twofold_client::Client::new(props).unwrap();
    // The answer is signed under the token's real organization, which this client does
    // not expect, so read it raw.
    let (status, _) = reqwest_post(&app, "adduser", confused.sign(&json!({"username": "zed"}))).await;
    assert_eq!(status, 400);
    let p = app.properties();
    let payload = json!({"reqHeader": {"orgAlias": "another-org"}, "reqBody": {"username": "zed"}}).to_string();
    let jws = sign(
        &app,
        Alg::HS256,
        json!({"alg": "HS256", "orgAlias": p.org_alias, "token": p.token}),
        payload.as_bytes(),
    );
    assert_error(
        &app.client.send_text("adduser", jws).await.unwrap(),
        ErrorId::InvalidOrganization,
    );
    assert!(app.stored_user("zed").await.is_none());
}

#[tokio::test]
async fn client_data_is_echoed_and_chunked_bodies_work() {
    let app = TestApp::start().await;
    let reply = app
        .client
        .call_raw("getuserdetails", &json!({"userName": "x", "clientData": "abc"}))
        .await
        .unwrap();
    assert_eq!(reply.client_data, json!("abc"));
    let reply = app
        .client
        .call_raw("getuserdetails", &json!({"userName": "x"}))
        .await
        .unwrap();
    assert_eq!(reply.client_data, Value::Null);
    assert!(reply.unique_msg_id.starts_with("webs_") && reply.unique_msg_id.len() == 48);
    // Chunked transfer encoding, written by hand over TCP.
    let jws = app.client.sign(&json!({"username": "chunky"}));
    let (a, b) = jws.split_at(jws.len() / 2);
    let request = format!(
        "POST /pingid/rest/4/adduser/do HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let answer = raw_tcp(&app, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(app.stored_user("chunky").await.is_some());
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = TestApp::start().await;
    assert!(
        raw_tcp(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        raw_tcp(&app, b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 200")
    );
    app.client.get_user_details("nobody").await.unwrap();
    let metrics = raw_tcp(&app, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(
        metrics.contains(r#"twofold_requests_total{op="getuserdetails",error_id="10564"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("twofold_request_duration_seconds_bucket"));
    app.faults.fail("ping", twofold_testkit::Fault::Unavailable);
    assert!(
        raw_tcp(&app, b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 503")
    );
}

pub async fn raw_tcp(app: &TestApp, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn reqwest_post(app: &TestApp, op: &str, body: String) -> (u16, String) {
    let request = format!(
        "POST /pingid/rest/4/{op}/do HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_tcp(app, request.as_bytes()).await;
    let status = answer[9..12].parse().unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn alg_none_with_empty_signature_and_garbled_signature_are_401() {
    let app = TestApp::start().await;
    let p = app.properties();
    let header = data_encoding::BASE64URL_NOPAD.encode(json!({"alg": "none", "token": p.token}).to_string().as_bytes());
    let payload = data_encoding::BASE64URL_NOPAD.encode(br#"{"reqBody":{"username":"x"}}"#);
    assert_eq!(
        reqwest_post(&app, "adduser", format!("{header}.{payload}.")).await.0,
        401
    );
    let good = app.client.sign(&json!({"username": "x"}));
    let garbled = format!("{}!!", &good[..good.len() - 2]);
    assert_eq!(reqwest_post(&app, "adduser", garbled).await.0, 401);
    assert!(app.stored_user("x").await.is_none());
}

#[tokio::test]
async fn signed_refusal_names_the_tokens_own_organization() {
    let app = TestApp::start().await;
    let p = app.properties();
    let payload = json!({"reqBody": {"username": "x"}}).to_string();
    let forged = sign_compact(
        Alg::HS256,
        &[1u8; 32],
        json!({"alg": "HS256", "org_alias": "attacker-chosen", "token": p.token})
            .to_string()
            .as_bytes(),
        payload.as_bytes(),
    );
    let (status, body) = reqwest_post(&app, "adduser", forged).await;
    assert_eq!(status, 401);
    let (header, _) = twofold_proto::envelope::verify_compact(&body, &p.key_bytes().unwrap()).unwrap();
    assert_eq!(header["orgAlias"], p.org_alias.as_str());
}

#[tokio::test]
async fn non_string_org_alias_claims_are_refused() {
    let app = TestApp::start().await;
    let p = app.properties();
    let payload = json!({"reqBody": {"username": "x"}}).to_string();
    for claim in [json!(5), json!(""), json!(["x"])] {
        let jws = sign(
            &app,
            Alg::HS256,
            json!({"alg": "HS256", "org_alias": claim, "orgAlias": p.org_alias, "token": p.token}),
            payload.as_bytes(),
        );
        let reply = app.client.send_text("adduser", jws).await.unwrap();
        assert_error(&reply, ErrorId::InvalidOrganization);
    }
    assert!(app.stored_user("x").await.is_none());
}

#[tokio::test]
async fn org_request_rate_answers_429_with_retry_after() {
    let app = TestApp::start().await;
    let org = app.core.find_org("default").await.unwrap();
    app.core
        .set_org_setting(&org, "requests_per_second", "2")
        .await
        .unwrap();
    let mut limited = 0;
    for _ in 0..10 {
        let jws = app.client.sign(&json!({"userName": "nobody"}));
        let request = format!(
            "POST /pingid/rest/4/getuserdetails/do HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{jws}",
            jws.len()
        );
        let answer = raw_tcp(&app, request.as_bytes()).await;
        if answer.starts_with("HTTP/1.1 429") {
            limited += 1;
            assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
            let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
            assert_eq!(
                body["responseBody"]["errorMsg"],
                twofold_proto::error_catalog::RATE_LIMITED_MESSAGE
            );
            assert!(
                body["responseBody"].get("errorId").is_none(),
                "the catalog's 429 row has no errorId"
            );
        }
    }
    assert!(limited >= 7, "at most a burst of 2 then 2/s: {limited} of 10 limited");
}
