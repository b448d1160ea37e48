//! The `auth-push` scenario: complete push authentications as a deployment runs them.
//!
//! One iteration is what a sign-in page and the user's phone do together: the client sends
//! `startauthentication {async: true}` (30010, with `numberForMatching` when the
//! organization has number matching on), the user's companion app receives the push on its
//! long-poll (`GET /device/v1/pushes`, Ed25519-signed) and approves it, picking the number
//! the sign-in page shows, and the client polls `authstatus` until it answers 200. Only that
//! 200 counts as a success; the latency is the whole iteration.
//!
//! Setup pairs `--push-users` fresh users through the public APIs only, as a real rollout
//! does: `adduser {activateUser: true}` gives an activation code, and a phone with its own
//! Ed25519 key claims it, registers and finishes pairing through the device API. The signing
//! and the device API calls are `twofold-authenticator`'s, the companion app's own library,
//! so the bench exercises the server exactly as that app does. Each phone is one task that
//! keeps its long-poll open from the moment it is paired (a phone not heard from for
//! `reachability_secs` would get 30006 instead of a push).
//!
//! A user has at most one open push (a second answers 20523), so every user belongs to one
//! client worker: worker `w` of `c` signs in users `w`, `w + c`, `w + 2c`, … in turn, and
//! `--concurrency` may not exceed `--push-users`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use twofold_authenticator::{DeviceClient, KeyFile, Pairing, client::system_now};
use twofold_proto::device_api::{DeviceFacts, PushList, paths};

use crate::report::{Stats, Work};
use crate::wire::{Answer, Exchange, Failure, Wire};
use crate::{Shared, unix_now_ms};

/// No number shown (the sign-in page shows numbers of two digits).
const NO_NUMBER: u32 = u32::MAX;
/// Users paired at the same time during setup.
pub const PAIRING_PARALLELISM: usize = 8;
/// How long a phone waits for the sign-in page's number before leaving a push unanswered.
const NUMBER_WAIT: Duration = Duration::from_secs(10);
/// A phone's pause after a failed long-poll, as the device API asks ("back off").
const POLL_BACKOFF: Duration = Duration::from_millis(500);

/// One paired user: the name, and the number the sign-in page shows for the current push
/// (what the human reads off the screen and taps on the phone).
struct PushUser {
    name: String,
    shown: AtomicU32,
    shown_changed: Notify,
}

/// The paired users and what their phones share.
pub struct Push {
    users: Vec<PushUser>,
    /// Phones count their calls only while measuring (not during setup).
    measuring: AtomicBool,
    /// Set once the run is over: every phone ends its long-poll and returns its counts.
    stop: watch::Sender<bool>,
    /// Pause between two `authstatus` polls of one sign-in.
    poll: Duration,
}

/// The phones' tasks.
pub struct Phones(Vec<JoinHandle<Stats>>);

impl Push {
    /// Number of paired users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Starts or stops counting the phones' calls.
    pub fn measure(&self, on: bool) {
        self.measuring.store(on, Ordering::Release);
    }

    /// The user that worker `worker` of `workers` signs in at its `turn`-th iteration.
    pub fn user_of(&self, worker: usize, workers: usize, turn: usize) -> usize {
        let owned = (self.users.len() - worker).div_ceil(workers);
        worker + (turn % owned) * workers
    }

    fn show(&self, user: usize, number: u32) {
        self.users[user].shown.store(number, Ordering::Release);
        self.users[user].shown_changed.notify_waiters();
    }

    /// The shown number once it is one of `choices` (a number left from an earlier push
    /// is not), or None after [`NUMBER_WAIT`].
    async fn number_for(&self, user: usize, choices: &[u32]) -> Option<u32> {
        let slot = &self.users[user];
        let bounded = tokio::time::timeout(NUMBER_WAIT, async {
            loop {
                let changed = slot.shown_changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                let n = slot.shown.load(Ordering::Acquire);
                if choices.contains(&n) {
                    return n;
                }
                changed.await;
            }
        });
        bounded.await.ok()
    }

    /// Tells every phone to stop, and collects their counts (waiting at most `bound`).
    pub async fn finish(&self, phones: Phones, bound: Duration) -> Stats {
        self.stop.send_replace(true);
        let mut total = Stats::default();
        let until = tokio::time::Instant::now() + bound;
        for handle in phones.0 {
            let abort = handle.abort_handle();
            match tokio::time::timeout_at(until, handle).await {
                Ok(Ok(stats)) => total.merge(&stats),
                Ok(Err(_)) => {}
                Err(_) => abort.abort(),
            }
        }
        total
    }
}

/// The device API's base URL (`http://host:port`) of the server behind `idp_url`.
fn device_base(idp_url: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(idp_url).with_context(|| format!("idp_url {idp_url:?}"))?;
    Ok(url.origin().ascii_serialization())
}

/// Pairs `count` fresh users, each with a phone task that long-polls and approves, within
/// `bound`. `wire` is a signing client of the same organization (loopback only, like every
/// [`Wire`]).
///
/// # Errors
/// When a user cannot be added or paired, or setup takes longer than `bound`.
pub async fn setup(
    wire: Arc<Wire>,
    count: usize,
    poll: Duration,
    bound: Duration,
) -> anyhow::Result<(Arc<Push>, Phones)> {
    let base = device_base(wire.idp_url())?;
    let run = format!("push{}", unix_now_ms());
    let users = (0..count)
        .map(|i| PushUser {
            name: format!("{run}-{i}"),
            shown: AtomicU32::new(NO_NUMBER),
            shown_changed: Notify::new(),
        })
        .collect();
    let push = Arc::new(Push {
        users,
        measuring: AtomicBool::new(false),
        stop: watch::Sender::new(false),
        poll,
    });
    let mut pairers = JoinSet::new();
    for lane in 0..PAIRING_PARALLELISM.min(count) {
        let (wire, push, base) = (wire.clone(), push.clone(), base.clone());
        pairers.spawn(async move {
            let mut phones = Vec::new();
            for user in (lane..push.len()).step_by(PAIRING_PARALLELISM) {
                let device = pair(&wire, &base, &push.users[user].name).await?;
                phones.push(tokio::spawn(phone(push.clone(), user, device)));
            }
            anyhow::Ok(phones)
        });
    }
    let mut phones = Vec::with_capacity(count);
    let collected = tokio::time::timeout(bound, async {
        while let Some(done) = pairers.join_next().await {
            phones.extend(done.context("a pairing task panicked")??);
        }
        anyhow::Ok(())
    })
    .await;
    let failed = match collected {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(anyhow::anyhow!(
            "pairing {count} users took longer than {} s",
            bound.as_secs()
        )),
    };
    if let Some(e) = failed {
        pairers.abort_all();
        for handle in &phones {
            handle.abort();
        }
        return Err(e);
    }
    Ok((push, Phones(phones)))
}

/// One user's rollout: adduser (activation code), then the phone's claim, register (a new
/// Ed25519 key, kept in memory only) and finish.
async fn pair(wire: &Wire, base: &str, name: &str) -> anyhow::Result<DeviceClient> {
    let added = wire
        .call("adduser", &json!({ "userName": name, "activateUser": true }))
        .await;
    let code = match &added.outcome {
        Ok(Answer {
            error_id: 200,
            activation_code,
            ..
        }) => activation_code.clone(),
        Ok(a) => bail!("adduser {name} answered errorId {}", a.error_id),
        Err(f) => bail!(
            "adduser {name}: {} failure (is the server up at {}?)",
            f.label(),
            wire.idp_url()
        ),
    };
    let code = code.with_context(|| format!("adduser {name} answered no activationCode"))?;
    let key = KeyFile::generate(Path::new("/dev/null")).key;
    let pairing = Pairing::new(base)?;
    pairing
        .claim(&code)
        .await
        .with_context(|| format!("claiming {name}'s code"))?;
    let facts = DeviceFacts {
        push_enabled: true,
        ..DeviceFacts::default()
    };
    let registered = pairing
        .register(&code, &key, "Android", facts)
        .await
        .with_context(|| format!("registering {name}'s phone"))?;
    let device = DeviceClient::new(base, key, registered.device_id, system_now())?;
    device
        .finish_pairing()
        .await
        .with_context(|| format!("finishing {name}'s pairing"))?;
    Ok(device)
}

/// Counts a device API call by HTTP status, like PingID answers by errorId.
fn record(push: &Push, stats: &mut Stats, work: Work, started: Instant, result: Result<u16, &anyhow::Error>) {
    if !push.measuring.load(Ordering::Acquire) {
        return;
    }
    let outcome = match result {
        Ok(status) => Ok(Answer {
            error_id: u32::from(status),
            ..Answer::default()
        }),
        Err(e) => Err(match e.downcast_ref::<reqwest::Error>() {
            Some(r) if r.is_timeout() => Failure::Timeout,
            Some(r) if r.is_connect() => Failure::Connect,
            _ => Failure::Transport,
        }),
    };
    stats.record(
        work,
        &Exchange {
            latency: started.elapsed(),
            outcome,
        },
    );
}

/// The companion app of `user`: long-polls, and approves every push (with the shown number
/// under number matching) until told to stop.
async fn phone(push: Arc<Push>, user: usize, device: DeviceClient) -> Stats {
    let mut stats = Stats::default();
    let mut stop = push.stop.subscribe();
    let mut since: Option<i64> = None;
    while !*stop.borrow() {
        let mut path = format!(
            "{}?wait={}",
            paths::PUSHES,
            twofold_proto::device_api::MAX_POLL_WAIT_SECS
        );
        if let Some(t) = since {
            path.push_str(&format!("&since={t}"));
        }
        let nonce = DeviceClient::new_nonce();
        let started = Instant::now();
        let polled = tokio::select! {
            answer = device.signed_raw("GET", &path, b"", &nonce) => answer,
            _ = stop.wait_for(|s| *s) => break,
        };
        record(
            &push,
            &mut stats,
            Work::DevicePoll,
            started,
            polled.as_ref().map(|r| r.status),
        );
        let list = match polled {
            Ok(raw) if raw.status == 200 => serde_json::from_str::<PushList>(&raw.body).ok(),
            _ => None,
        };
        let Some(list) = list else {
            tokio::select! {
                () = tokio::time::sleep(POLL_BACKOFF) => continue,
                _ = stop.wait_for(|s| *s) => break,
            }
        };
        since = Some(list.server_time_ms);
        for notice in list.pushes {
            let number = match &notice.number_choices {
                None => None,
                Some(choices) => match push.number_for(user, choices).await {
                    Some(n) => Some(n),
                    None => {
                        *stats.push_outcomes.entry("left: no number shown".into()).or_default() += 1;
                        continue;
                    }
                },
            };
            let body = serde_json::to_vec(&json!({
                "pushId": notice.push_id,
                "decision": "approve",
                "number": number,
            }))
            .unwrap_or_default();
            let started = Instant::now();
            let answered = device
                .signed_raw("POST", paths::ANSWER, &body, &DeviceClient::new_nonce())
                .await;
            record(
                &push,
                &mut stats,
                Work::DeviceAnswer,
                started,
                answered.as_ref().map(|r| r.status),
            );
            if push.measuring.load(Ordering::Acquire)
                && let Ok(raw) = &answered
            {
                let outcome = serde_json::from_str::<Value>(&raw.body)
                    .ok()
                    .and_then(|v| v.get("outcome").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_else(|| format!("HTTP {}", raw.status));
                *stats.push_outcomes.entry(outcome).or_default() += 1;
            }
        }
    }
    stats
}

/// One complete push authentication of `user`. False when the request budget is spent.
pub async fn authenticate(shared: &Shared, wire: &Wire, push: &Push, stats: &mut Stats, user: usize) -> bool {
    if !shared.take(1) {
        return false;
    }
    let name = &push.users[user].name;
    let started = Instant::now();
    let first = wire
        .call(
            "startauthentication",
            &json!({ "spAlias": "web", "userName": name, "async": true }),
        )
        .await;
    stats.record(Work::StartPush, &first);
    shared.requests_done.fetch_add(1, Ordering::Relaxed);
    let (session, number) = match &first.outcome {
        Ok(a) if a.error_id == Work::StartPush.expected() => (a.session_id.clone(), a.number_for_matching()),
        _ => (None, None),
    };
    let Some(session) = session else {
        stats.auths_failed += 1;
        return true;
    };
    if let Some(n) = number {
        push.show(user, n);
    }
    loop {
        let pause = push.poll.min(shared.deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(pause).await;
        if !shared.running() || !shared.take(1) {
            // The run ended with this sign-in still waiting: neither a success nor a failure.
            stats.auths_unfinished += 1;
            push.show(user, NO_NUMBER);
            return false;
        }
        let status = wire.call("authstatus", &json!({ "sessionId": session })).await;
        stats.record(Work::AuthStatus, &status);
        shared.requests_done.fetch_add(1, Ordering::Relaxed);
        match &status.outcome {
            Ok(a) if a.error_id == 30_010 => {}
            Ok(a) if a.error_id == Work::AuthStatus.expected() => {
                stats.authentication.record(crate::micros(started.elapsed()));
                stats.auths_ok += 1;
                shared.auths_done.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Ok(_) => {
                stats.auths_failed += 1;
                break;
            }
            Err(_) => {
                // The push may still be open: cancel it, or the user's next sign-in would
                // meet 20523 (one open push per user) until it times out.
                stats.auths_failed += 1;
                if shared.take(1) {
                    let body = json!({ "sessionId": session, "cancelAuthenticationType": "DEFAULT" });
                    let cancel = wire.call("cancelauthentication", &body).await;
                    stats.record(Work::CancelAuthentication, &cancel);
                    shared.requests_done.fetch_add(1, Ordering::Relaxed);
                }
                break;
            }
        }
    }
    push.show(user, NO_NUMBER);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(users: usize) -> Push {
        Push {
            users: (0..users)
                .map(|i| PushUser {
                    name: format!("u{i}"),
                    shown: AtomicU32::new(NO_NUMBER),
                    shown_changed: Notify::new(),
                })
                .collect(),
            measuring: AtomicBool::new(false),
            stop: watch::Sender::new(false),
            poll: Duration::from_millis(1),
        }
    }

    #[test]
    fn every_user_belongs_to_exactly_one_worker() {
        let p = push(10);
        let mut owner = [None; 10];
        for worker in 0..3 {
            for turn in 0..20 {
                let user = p.user_of(worker, 3, turn);
                assert!(owner[user].is_none_or(|w| w == worker), "user {user}");
                owner[user] = Some(worker);
            }
        }
        assert!(owner.iter().all(Option::is_some));
    }

    #[tokio::test]
    async fn a_phone_picks_only_a_number_among_its_choices() {
        let p = Arc::new(push(1));
        p.show(0, 17);
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.number_for(0, &[42, 63, 88]).await }
        });
        tokio::task::yield_now().await;
        p.show(0, 63);
        assert_eq!(waiting.await.unwrap(), Some(63));
    }

    #[test]
    fn the_device_api_is_on_the_idp_url_origin() {
        assert_eq!(
            device_base("http://127.0.0.1:18080/pingid").unwrap(),
            "http://127.0.0.1:18080"
        );
    }
}
