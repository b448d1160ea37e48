//! createjob → getjobstatus → getorgreport, and the report's columns.

use serde_json::{Value, json};
use twofold_proto::ErrorId;
use twofold_proto::ops::users::AddUser;
use twofold_testkit::TestApp;

use crate::envelope::raw_tcp;
use crate::{assert_error, assert_ok};

async fn finished_report(app: &TestApp) -> String {
    let job = app
        .client
        .call_raw("createjob", &json!({"jobType": "USER_REPORTS"}))
        .await
        .unwrap();
    assert_ok(&job);
    let token = job.body["jobToken"].as_str().unwrap().to_string();
    for _ in 0..100 {
        let status = app
            .client
            .call_raw("getjobstatus", &json!({"jobToken": token}))
            .await
            .unwrap();
        assert_ok(&status);
        if status.body["status"] == "done" {
            assert_eq!(status.body["jobResult"], json!({"type": "JobResult", "status": "DONE"}));
            return token;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the report job did not finish");
}

/// getorgreport's raw answer: (status line, content type, body).
async fn org_report(app: &TestApp, file_type: &str) -> (String, String, String) {
    let jws = app.client.sign(&json!({"fileType": file_type}));
    let request = format!(
        "POST /pingid/rest/4/getorgreport/do HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{jws}",
        jws.len()
    );
    let answer = raw_tcp(app, request.as_bytes()).await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap().to_string();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    // Chunked bodies: keep only the data lines.
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (status, content_type, body)
}

#[tokio::test]
async fn report_lists_users_with_and_without_devices() {
    let app = TestApp::start().await;
    // No report yet: 40002.
    let reply = app
        .client
        .call_raw("getorgreport", &json!({"fileType": "JSON"}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::ReportNotAvailable);
    app.client
        .add_user(&AddUser {
            user_name: "=cmd".into(),
            email: Some("x@example.org".into()),
            ..AddUser::default()
        })
        .await
        .unwrap();
    app.client
        .add_user(&AddUser {
            user_name: "bea".into(),
            ..AddUser::default()
        })
        .await
        .unwrap();
    app.client
        .call_raw(
            "offlinepairing",
            &json!({"username": "bea", "type": "SMS", "pairingData": "+13035550100"}),
        )
        .await
        .unwrap();
    app.client
        .call_raw(
            "offlinepairing",
            &json!({"username": "bea", "type": "EMAIL", "pairingData": "bea@example.org"}),
        )
        .await
        .unwrap();
    finished_report(&app).await;

    let (status, content_type, body) = org_report(&app, "JSON").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(content_type, "application/octet-stream");
    let report: Value = serde_json::from_str(&body).unwrap();
    let rows = report["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "one row for the user without devices, one per device");
    let lonely = rows.iter().find(|r| r["username"] == "=cmd").unwrap();
    assert_eq!(lonely["deviceID"], Value::Null);
    assert_eq!(lonely["deviceCount"], 0);
    assert_eq!(lonely["status"], "NOT_ACTIVE");
    assert_eq!(lonely["lastTrxTime"], Value::Null);
    assert_eq!(lonely["userCreationTime"], twofold_testkit::T0_MS);
    let sms = rows.iter().find(|r| r["deviceType"] == "SMS").unwrap();
    assert_eq!(
        (
            sms["countryCode"].clone(),
            sms["phoneNumber"].clone(),
            sms["deviceRole"].clone()
        ),
        (json!("1"), json!("3035550100"), json!("Primary"))
    );
    assert!(sms["deviceID"].is_string());
    assert_eq!(sms["deviceCount"], 2);
    let email = rows.iter().find(|r| r["deviceType"] == "Email").unwrap();
    assert_eq!(
        (email["deviceEmail"].clone(), email["deviceRole"].clone()),
        (json!("bea@example.org"), json!("Secondary"))
    );

    let (_, _, csv) = org_report(&app, "csv").await;
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "username,deviceID,status,userCreationTime,orgEmail,deviceCount,deviceType,deviceRole,devicePairingDate,deviceModel,osVersion,appVersion,countryCode,phoneNumber,yubikeySerialNumber,deviceEmail,lastTrxTime,bypassUntil,lastDeviceTrxTime"
    );
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), 3);
    assert!(
        rest.iter()
            .any(|l| l.starts_with("'=cmd,,NOT_ACTIVE,2024/01/02 03:04:05,x@example.org,0,")),
        "{rest:?}"
    );
    // An unknown fileType: 20542. An unknown job token: 40001.
    assert_error(
        &app.client
            .call_raw("getorgreport", &json!({"fileType": "XML"}))
            .await
            .unwrap(),
        ErrorId::UnsupportedRequest,
    );
    assert_error(
        &app.client
            .call_raw("createjob", &json!({"jobType": "CLEANUP"}))
            .await
            .unwrap(),
        ErrorId::UnsupportedRequest,
    );
    // The report is served for two hours, then 40002.
    app.clock.advance(2 * 3_600_000 + 1);
    assert_error(
        &app.client
            .call_raw("getorgreport", &json!({"fileType": "CSV"}))
            .await
            .unwrap(),
        ErrorId::ReportNotAvailable,
    );
}

#[tokio::test]
async fn bulk_job_status() {
    let app = TestApp::start().await;
    let a = finished_report(&app).await;
    let reply = app
        .client
        .call_raw("getbulkjobstatus", &json!({"jobTokens": [a]}))
        .await
        .unwrap();
    assert_ok(&reply);
    assert_eq!(
        reply.body["jobResults"][a.as_str()],
        json!({"status": "done", "type": "JobResult"})
    );
    let reply = app
        .client
        .call_raw("getbulkjobstatus", &json!({"jobTokens": [a, "nope"]}))
        .await
        .unwrap();
    assert_error(&reply, ErrorId::JobNotFound);
}
