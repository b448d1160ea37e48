//! Scale of waiting (issue 5, point 5): 1,000 authonline requests held at once, each
//! approved by its own simulated phone, all answer 200, and the process's memory stays
//! bounded. Held requests are futures on the signal port, not threads, so the runtime's
//! few worker threads carry all of them.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use twofold_authenticator::{DeviceClient, Pairing};
use twofold_client::Client;
use twofold_core::Clock as _;
use twofold_proto::device_api::DeviceFacts;
use twofold_testkit::TestApp;

use crate::push::{base, new_user_code};

const USERS: usize = 1_000;

/// Resident memory of this process (server, clients and phones together), in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn pair(app: &TestApp, i: usize) -> DeviceClient {
    let name = format!("load{i:04}");
    let code = new_user_code(app, &name).await;
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let pairing = Pairing::new(&base(app)).unwrap();
    pairing.claim(&code).await.unwrap();
    let facts = DeviceFacts {
        push_enabled: true,
        ..DeviceFacts::default()
    };
    let registered = pairing.register(&code, &key, "Android", facts).await.unwrap();
    let clock = app.clock.clone();
    DeviceClient::new(&base(app), key, registered.device_id, Arc::new(move || clock.now_ms())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_held_authonline_requests_are_all_approved() {
    let app = TestApp::start().await;
    let org = app.core.find_org("default").await.unwrap();
    let mut settings = org.settings.clone();
    // Room for a slow debug build on a busy machine.
    settings.set("push_timeout_secs", "300").unwrap();
    settings.set("reachability_secs", "300").unwrap();
    app.store().update_org_settings(org.id, &settings).await.unwrap();

    // Pair 16 at a time (a roll-out, not a test of pairing).
    let app = Arc::new(app);
    let mut phones = Vec::with_capacity(USERS);
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(16) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let app = app.clone();
                tokio::spawn(async move { pair(&app, i).await })
            })
            .collect();
        for t in tasks {
            phones.push(t.await.unwrap());
        }
    }
    let before = rss_kib();
    let started = Instant::now();
    let client = Client::new(app.properties()).unwrap();
    let mut held = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let client = client.clone();
        held.push(tokio::spawn(async move {
            let body = json!({"spAlias": "web", "userName": format!("load{i:04}"), "authType": "CONFIRM"});
            client.call_raw("authonline", &body).await.unwrap()
        }));
    }
    let mut answering = Vec::with_capacity(USERS);
    for phone in phones {
        answering.push(tokio::spawn(async move {
            // Like the real companion, a phone retries a refused poll (a server busy
            // with 2,000 open requests on a shared 2-core machine may refuse one).
            let mut refused = 0;
            // Bounded: a phone whose push never comes (its authonline failed) gives up,
            // and the test then reports that request's answer instead of hanging.
            let give_up = Instant::now() + std::time::Duration::from_secs(240);
            while Instant::now() < give_up {
                let answered = match phone.poll(20, None).await {
                    Ok(list) => match list.pushes.first() {
                        Some(p) => phone.answer(&p.push_id, true, None).await.map(|a| Some(a.outcome)),
                        None => Ok(None),
                    },
                    Err(e) => Err(e),
                };
                match answered {
                    Ok(Some(outcome)) => return (outcome, refused),
                    Ok(None) => {}
                    Err(_) => {
                        refused += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
            ("no push arrived within 240 s".to_string(), refused)
        }));
    }
    let mut peak = 0;
    let mut refused = 0;
    let mut outcomes = Vec::with_capacity(USERS);
    for phone in answering {
        let (outcome, retries) = phone.await.unwrap();
        outcomes.push(outcome);
        refused += retries;
        peak = peak.max(rss_kib());
    }
    let mut ok = 0;
    for (reply, outcome) in held.into_iter().zip(&outcomes) {
        // A held request is answered within the push timeout (300 s) at the latest.
        let reply = tokio::time::timeout(std::time::Duration::from_secs(330), reply)
            .await
            .expect("a held authonline ends by its push timeout")
            .expect("the request task ran");
        assert_eq!(outcome, "approved", "answer {:?}", reply.body);
        assert_eq!((reply.http_status, reply.error_id), (200, 200), "{:?}", reply.body);
        ok += 1;
    }
    let after = rss_kib();
    eprintln!(
        "push scale: {ok} held authonline approved in {:.1} s ({refused} phone calls retried); RSS before {} MiB, \
         peak {} MiB, after {} MiB",
        started.elapsed().as_secs_f64(),
        before / 1024,
        peak.max(after) / 1024,
        after / 1024
    );
    assert_eq!(ok, USERS);
    // Bounded: the whole test process (server, 1,000 PingID connections, 1,000 phone
    // clients) grows by less than 512 MiB while all of them wait.
    assert!(
        peak.max(after).saturating_sub(before) < 512 * 1024,
        "RSS grew by {} KiB",
        peak - before
    );
}
