//! `twofold-bench`: a load generator that behaves like a real PingID client. It reads a
//! `pingid.properties`, signs every request freshly, keeps connections alive, verifies
//! every signed answer, runs a bounded number of requests or a bounded time against a
//! loopback server only, and reports throughput, latency quantiles and errors by errorId.
//!
//! Scenarios (see `bench/README.md`):
//! - `auth-totp`: startauthentication (30015) + authoffline with a fresh TOTP code, one
//!   complete authentication per user and 30-s time step;
//! - `getuserdetails`: a random seeded user per request;
//! - `adduser`: a fresh unique username per request;
//! - `mixed`: 90 % auth-totp, 5 % getuserdetails, 5 % adduser;
//! - `privacyidea`: privacyIDEA's `/validate/check` with PIN + a fresh TOTP code, one per
//!   user and 30-s step, for the side-by-side run of `bench/compare-privacyidea.sh`;
//! - `auth-push`: startauthentication (async push), the user's simulated phone approves on
//!   the device API, authstatus until 200 (`push.rs`; it pairs its own users);
//! - `healthz`: `GET /healthz` (no signing, no database): the floor, what the HTTP client
//!   and server cost on their own on this machine.

mod histogram;
mod privacyidea;
mod push;
mod report;
mod users;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use twofold_proto::properties::Properties;

use crate::privacyidea::PiWire;
use crate::push::Push;
use crate::report::{Stats, Work};
use crate::users::Users;
use crate::wire::Wire;

/// Longest run allowed, whatever the flags: every run is bounded.
const MAX_DURATION_SECS: f64 = 3_600.0;
/// Most requests allowed in one run.
const MAX_REQUESTS: u64 = 100_000_000;
/// Most concurrent connections.
const MAX_CONCURRENCY: usize = 4_096;

/// Load generator for Twofold (loopback servers only).
#[derive(Debug, Parser)]
#[command(name = "twofold-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The properties file of a full-scope token (its idp_url must be loopback).
    #[arg(
        long,
        global = true,
        env = "TWOFOLD_PROPS",
        default_value = "twofold-data/pingid.properties"
    )]
    props: PathBuf,
    /// Concurrent requests in flight (one keep-alive connection each).
    #[arg(long, short = 'c', global = true, default_value_t = 32)]
    concurrency: usize,
    /// Run for this many seconds (at most 3600). The default, when --requests is not
    /// given either, is 10 s.
    #[arg(long, short = 'd', global = true)]
    duration: Option<f64>,
    /// Stop after this many HTTP requests (an authentication is two; it is started only
    /// when both fit).
    #[arg(long, short = 'n', global = true)]
    requests: Option<u64>,
    /// Number of seeded users (`twofold seed --users N`), named `<prefix><n>`.
    #[arg(long, global = true, default_value_t = 20_000)]
    users: usize,
    /// Username prefix of the seeded users.
    #[arg(long, global = true, default_value = "user")]
    prefix: String,
    /// The key given to `twofold seed --bench-key` (auth-totp and mixed).
    #[arg(long, global = true, env = "TWOFOLD_BENCH_KEY", hide_env_values = true)]
    bench_key: Option<String>,
    /// Worker threads of the load generator (it shares the machine with the server).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    /// Per-request timeout in milliseconds.
    #[arg(long, global = true, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Clock ticks per second of /proc/self/stat (`getconf CLK_TCK`), for the client's
    /// own CPU time.
    #[arg(long, global = true, default_value_t = 100)]
    clk_tck: u64,
    /// Open-loop pacing: start at most this many iterations per second (an iteration is
    /// one authentication or one admin request), on a fixed schedule. Latency is then
    /// also reported from each iteration's scheduled start, so a server that falls
    /// behind shows it (no coordinated omission). Default: as fast as answers come.
    #[arg(long, global = true)]
    rate: Option<f64>,
    /// Start authentication scenarios at once instead of waiting for the next 30-s time
    /// step. Without it the run starts on a fresh step, because an earlier run in the
    /// current step may have spent some users' codes (20532).
    #[arg(long, global = true)]
    no_step_wait: bool,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, global = true, default_value_t = 5)]
    progress: u64,
    /// privacyidea: the server's base URL (loopback only), e.g. http://127.0.0.1:5000.
    #[arg(long, global = true)]
    pi_url: Option<String>,
    /// privacyidea: the token PIN sent before every code (empty: tokens without a PIN).
    #[arg(long, global = true, default_value = "")]
    pi_pin: String,
    /// privacyidea: the realm sent with every check (default: the server's default realm).
    #[arg(long, global = true)]
    pi_realm: Option<String>,
    /// auth-push: users to add and pair with a simulated phone before the run (at least
    /// --concurrency: a user has one open push at a time).
    #[arg(long, global = true, default_value_t = 200)]
    push_users: usize,
    /// auth-push: milliseconds between two authstatus polls of one sign-in (PingID's guide
    /// says about a second; less makes the latency show the server rather than the pause).
    #[arg(long, global = true, default_value_t = 200)]
    push_poll_ms: u64,
    /// auth-push: seconds allowed for adding and pairing the users.
    #[arg(long, global = true, default_value_t = 120)]
    push_setup_secs: u64,
    /// The server's process id: its CPU seconds over the measured run alone (not the
    /// set-up, e.g. auth-push's pairing) are reported, read from `/proc/<pid>/stat`.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
enum Command {
    /// Complete TOTP authentications: startauthentication + authoffline.
    AuthTotp,
    /// getuserdetails of a random seeded user.
    Getuserdetails,
    /// adduser with fresh unique usernames.
    Adduser,
    /// 90 % auth-totp, 5 % getuserdetails, 5 % adduser.
    Mixed,
    /// privacyIDEA's /validate/check with PIN + the current TOTP code (needs --pi-url).
    Privacyidea,
    /// Complete push authentications: startauthentication (async), the phone approves,
    /// authstatus until 200. Pairs --push-users users of its own first.
    AuthPush,
    /// GET /healthz on the same keep-alive connections: no signing, no database; the
    /// ceiling of this client and the server's HTTP stack on this machine.
    Healthz,
    /// Print a free loopback TCP port (for scripts) and exit.
    FreePort,
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Self::AuthTotp => "auth-totp",
            Self::Getuserdetails => "getuserdetails",
            Self::Adduser => "adduser",
            Self::Mixed => "mixed",
            Self::Privacyidea => "privacyidea",
            Self::AuthPush => "auth-push",
            Self::Healthz => "healthz",
            Self::FreePort => "free-port",
        }
    }

    fn authenticates(self) -> bool {
        matches!(self, Self::AuthTotp | Self::Mixed | Self::Privacyidea)
    }
}

/// The wall clock, as a phone's authenticator app reads it. Everything else measures
/// with `Instant`; the server's time is injected, but a load generator plays the user's
/// device and must read the real time to show a valid code.
#[expect(clippy::disallowed_methods, reason = "the client side plays the phone's clock")]
fn unix_now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// A small xorshift generator for picking users and operations (not for secrets).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so neighbouring seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next() % n64).unwrap_or(0)
    }
}

/// The server under load.
enum Target {
    /// Twofold (or any PingID API server).
    PingId(Wire),
    /// privacyIDEA, for the comparison.
    PrivacyIdea(PiWire),
}

impl Target {
    fn url(&self) -> &str {
        match self {
            Self::PingId(wire) => wire.idp_url(),
            Self::PrivacyIdea(pi) => pi.base_url(),
        }
    }

    fn pingid(&self) -> Option<&Wire> {
        match self {
            Self::PingId(wire) => Some(wire),
            Self::PrivacyIdea(_) => None,
        }
    }
}

/// What every worker shares.
struct Shared {
    target: Target,
    users: Users,
    scenario: Command,
    deadline: Instant,
    /// HTTP requests still allowed.
    budget: AtomicU64,
    stop: AtomicBool,
    /// Prefix of this run's adduser names.
    run_id: String,
    requests_done: AtomicU64,
    auths_done: AtomicU64,
    /// With --rate: the start and interval of the schedule, and the next slot.
    pacing: Option<(Instant, f64)>,
    next_slot: AtomicU64,
    /// auth-push: the paired users and their phones.
    push: Option<Arc<Push>>,
    /// Number of workers (auth-push gives each its own users).
    workers: usize,
}

impl Shared {
    /// Takes `n` requests from the budget; false when they do not fit (and stops
    /// everyone).
    fn take(&self, n: u64) -> bool {
        let taken = self
            .budget
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(n));
        if taken.is_err() {
            self.stop.store(true, Ordering::Release);
        }
        taken.is_ok()
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Acquire) && Instant::now() < self.deadline
    }

    /// With --rate, waits for the next slot of the schedule and returns its time; without,
    /// returns now. None when the next slot is past the deadline.
    async fn next_start(&self) -> Option<Instant> {
        let Some((start, interval)) = self.pacing else {
            return Some(Instant::now());
        };
        let k = self.next_slot.fetch_add(1, Ordering::Relaxed);
        #[expect(clippy::cast_precision_loss, reason = "slot numbers stay far below 2^52")]
        let slot = start + Duration::from_secs_f64(k as f64 * interval);
        if slot >= self.deadline {
            self.stop.store(true, Ordering::Release);
            return None;
        }
        tokio::time::sleep_until(slot.into()).await;
        Some(slot)
    }
}

/// One operation picked by a worker.
#[derive(Debug, Clone, Copy)]
enum Op {
    Auth,
    Details,
    Add,
    Push,
    Healthz,
}

async fn worker(shared: Arc<Shared>, id: usize) -> Stats {
    let mut stats = Stats::default();
    let mut rng = Rng::new(unix_now_ms() ^ (u64::try_from(id).unwrap_or(0) << 32));
    let mut added = 0u64;
    let mut turn = 0usize;
    while shared.running() {
        let Some(scheduled) = shared.next_start().await else {
            break;
        };
        let op = match shared.scenario {
            Command::AuthTotp | Command::Privacyidea => Op::Auth,
            Command::Getuserdetails => Op::Details,
            Command::Adduser => Op::Add,
            Command::AuthPush => Op::Push,
            Command::Healthz => Op::Healthz,
            _ => match rng.below(100) {
                0..90 => Op::Auth,
                90..95 => Op::Details,
                _ => Op::Add,
            },
        };
        match op {
            Op::Auth => {
                let now_ms = unix_now_ms();
                let step = now_ms / 30_000;
                let Some(user) = shared.users.claim(step) else {
                    // Every user has signed in during this step: wait for the next one,
                    // as their phones would, but not past the deadline.
                    let next = Duration::from_millis((step + 1) * 30_000 - now_ms + 5);
                    let wait = next.min(shared.deadline.saturating_duration_since(Instant::now()));
                    let since = Instant::now();
                    tokio::time::sleep(wait).await;
                    stats.starved += since.elapsed();
                    continue;
                };
                match &shared.target {
                    Target::PingId(wire) => {
                        if !shared.take(2) {
                            break;
                        }
                        authenticate(&shared, wire, &mut stats, user, step).await;
                    }
                    Target::PrivacyIdea(pi) => {
                        if !shared.take(1) {
                            break;
                        }
                        validate_check(&shared, pi, &mut stats, user, step).await;
                    }
                }
            }
            Op::Details => {
                let Some(wire) = shared.target.pingid() else { break };
                if !shared.take(1) {
                    break;
                }
                let user = rng.below(shared.users.len());
                let body = json!({ "userName": shared.users.name(user) });
                let exchange = wire.call("getuserdetails", &body).await;
                stats.record(Work::GetUserDetails, &exchange);
                shared.requests_done.fetch_add(1, Ordering::Relaxed);
            }
            Op::Add => {
                let Some(wire) = shared.target.pingid() else { break };
                if !shared.take(1) {
                    break;
                }
                added += 1;
                let name = format!("{}-{id}-{added}", shared.run_id);
                let body = json!({
                    "userName": name,
                    "email": format!("{name}@example.test"),
                    "fname": "Bench",
                    "lname": "User",
                    "activateUser": false,
                });
                let exchange = wire.call("adduser", &body).await;
                stats.record(Work::AddUser, &exchange);
                shared.requests_done.fetch_add(1, Ordering::Relaxed);
            }
            Op::Healthz => {
                let Some(wire) = shared.target.pingid() else { break };
                if !shared.take(1) {
                    break;
                }
                let exchange = wire.healthz().await;
                stats.record(Work::Healthz, &exchange);
                shared.requests_done.fetch_add(1, Ordering::Relaxed);
            }
            Op::Push => {
                let (Some(wire), Some(push)) = (shared.target.pingid(), shared.push.as_deref()) else {
                    break;
                };
                let user = push.user_of(id, shared.workers, turn);
                turn += 1;
                if !push::authenticate(&shared, wire, push, &mut stats, user).await {
                    break;
                }
            }
        }
        stats.iteration.record(micros(scheduled.elapsed()));
    }
    stats
}

/// One complete authentication of `user` with the code of `step`.
async fn authenticate(shared: &Shared, wire: &Wire, stats: &mut Stats, user: usize, step: u64) {
    let name = shared.users.name(user);
    let started = Instant::now();
    let first = wire
        .call("startauthentication", &json!({ "spAlias": "web", "userName": name }))
        .await;
    stats.record(Work::StartAuthentication, &first);
    shared.requests_done.fetch_add(1, Ordering::Relaxed);
    let session = match &first.outcome {
        Ok(answer) if answer.error_id == Work::StartAuthentication.expected() => answer.session_id.clone(),
        _ => None,
    };
    let Some(session) = session else {
        stats.auths_failed += 1;
        return;
    };
    let body = json!({
        "spAlias": "web",
        "userName": name,
        "otp": shared.users.code(user, step),
        "sessionId": session,
    });
    let second = wire.call("authoffline", &body).await;
    stats.record(Work::AuthOffline, &second);
    shared.requests_done.fetch_add(1, Ordering::Relaxed);
    if matches!(&second.outcome, Ok(a) if a.error_id == Work::AuthOffline.expected()) {
        stats.authentication.record(micros(started.elapsed()));
        stats.auths_ok += 1;
        shared.auths_done.fetch_add(1, Ordering::Relaxed);
    } else {
        stats.auths_failed += 1;
    }
}

/// One privacyIDEA `/validate/check` of `user` with the PIN and the code of `step`: a
/// complete authentication in one request.
async fn validate_check(shared: &Shared, pi: &PiWire, stats: &mut Stats, user: usize, step: u64) {
    let exchange = pi.check(shared.users.name(user), &shared.users.code(user, step)).await;
    stats.record(Work::ValidateCheck, &exchange);
    shared.requests_done.fetch_add(1, Ordering::Relaxed);
    if matches!(&exchange.outcome, Ok(a) if a.error_id == Work::ValidateCheck.expected()) {
        stats.authentication.record(micros(exchange.latency));
        stats.auths_ok += 1;
        shared.auths_done.fetch_add(1, Ordering::Relaxed);
    } else {
        stats.auths_failed += 1;
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// utime + stime of this process, in clock ticks (Linux; None elsewhere).
fn own_cpu_ticks() -> Option<u64> {
    cpu_ticks("/proc/self/stat")
}

/// utime + stime of the process whose `/proc/<pid>/stat` is `path`, in clock ticks.
fn cpu_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Checks that the server answers and the seeded users exist before measuring.
async fn preflight(wire: &Wire, users: &Users) -> anyhow::Result<()> {
    let last = users.len() - 1;
    for index in [0, last] {
        let name = users.name(index);
        let exchange = wire.call("getuserdetails", &json!({ "userName": name })).await;
        match exchange.outcome {
            Ok(answer) if answer.error_id == 200 => {}
            Ok(answer) => bail!(
                "getuserdetails {name} answered errorId {} (seed the users first: twofold seed --org ORG --users {} --bench-key KEY)",
                answer.error_id,
                users.len()
            ),
            Err(failure) => bail!(
                "getuserdetails {name}: {} failure (is the server up at {}?)",
                failure.label(),
                wire.idp_url()
            ),
        }
    }
    Ok(())
}

async fn progress(shared: Arc<Shared>, every: u64, started: Instant) {
    if every == 0 {
        return;
    }
    let mut last = (0, 0);
    while shared.running() {
        let wait = Duration::from_secs(every).min(shared.deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(wait).await;
        if !shared.running() {
            break;
        }
        let now = (
            shared.requests_done.load(Ordering::Relaxed),
            shared.auths_done.load(Ordering::Relaxed),
        );
        eprintln!(
            "  t={:>5.1}s  requests {:>9} (+{}/{every}s)  authentications {:>8} (+{}/{every}s)",
            started.elapsed().as_secs_f64(),
            now.0,
            now.0 - last.0,
            now.1,
            now.1 - last.1
        );
        last = now;
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let scenario = cli.command;
    if scenario == Command::FreePort {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
        println!("{}", listener.local_addr()?.port());
        return Ok(());
    }
    if cli.concurrency == 0 || cli.concurrency > MAX_CONCURRENCY {
        bail!("--concurrency must be 1..={MAX_CONCURRENCY}");
    }
    if cli.users == 0 {
        bail!("--users must be at least 1");
    }
    if cli.threads == 0 || cli.threads > 64 {
        bail!("--threads must be 1..=64");
    }
    let duration = match (cli.duration, cli.requests) {
        (Some(d), _) if !(d > 0.0 && d <= MAX_DURATION_SECS) => bail!("--duration must be in (0, 3600] seconds"),
        (Some(d), _) => d,
        (None, Some(_)) => MAX_DURATION_SECS,
        (None, None) => 10.0,
    };
    let rate = match cli.rate {
        Some(r) if !(r > 0.0 && r <= 1e6) => bail!("--rate must be in (0, 1000000] per second"),
        other => other,
    };
    let requests = cli.requests.unwrap_or(MAX_REQUESTS);
    if requests == 0 || requests > MAX_REQUESTS {
        bail!("--requests must be 1..={MAX_REQUESTS}");
    }
    if scenario.authenticates() && cli.bench_key.is_none() {
        bail!(
            "{} needs --bench-key (the key given to `twofold seed --bench-key`)",
            scenario.name()
        );
    }
    if scenario == Command::AuthPush && !(cli.concurrency..=10_000).contains(&cli.push_users) {
        bail!("--push-users must be in --concurrency..=10000 (a user has one open push at a time)");
    }
    if !(1..=600).contains(&cli.push_setup_secs) || cli.push_poll_ms > 10_000 {
        bail!("--push-setup-secs must be 1..=600 and --push-poll-ms at most 10000");
    }
    let timeout = Duration::from_millis(cli.timeout_ms);
    let mut setup_props = None;
    let target = if scenario == Command::Privacyidea {
        let Some(url) = cli.pi_url.as_deref() else {
            bail!("privacyidea needs --pi-url (the privacyIDEA server, e.g. http://127.0.0.1:5000)");
        };
        Target::PrivacyIdea(PiWire::new(
            url,
            cli.pi_realm.clone(),
            cli.pi_pin.clone(),
            cli.concurrency,
            timeout,
        )?)
    } else {
        let text = std::fs::read_to_string(&cli.props).with_context(|| format!("reading {}", cli.props.display()))?;
        let props = Properties::parse(&text).with_context(|| format!("parsing {}", cli.props.display()))?;
        if scenario == Command::AuthPush {
            setup_props = Some(props.clone());
        }
        Target::PingId(Wire::new(props, cli.concurrency, timeout)?)
    };
    let users = Users::new(
        &cli.prefix,
        cli.users,
        if scenario.authenticates() {
            cli.bench_key.as_deref()
        } else {
            None
        },
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(async move {
        let mut phones = None;
        if let Some(props) = setup_props {
            let wire = Arc::new(Wire::new(props, push::PAIRING_PARALLELISM, timeout)?);
            let since = Instant::now();
            let (push, running) = push::setup(
                wire,
                cli.push_users,
                Duration::from_millis(cli.push_poll_ms),
                Duration::from_secs(cli.push_setup_secs),
            )
            .await?;
            eprintln!(
                "paired {} users with a simulated phone each in {:.1} s",
                push.len(),
                since.elapsed().as_secs_f64()
            );
            phones = Some((push, running));
        } else if let Some(wire) = target.pingid() {
            preflight(wire, &users).await?;
        }
        if scenario.authenticates() && !cli.no_step_wait {
            let now_ms = unix_now_ms();
            let wait = Duration::from_millis(30_000 - now_ms % 30_000 + 50);
            eprintln!(
                "waiting {:.1} s for a fresh 30-s time step (an earlier run may have used this one; --no-step-wait skips)",
                wait.as_secs_f64()
            );
            tokio::time::sleep(wait).await;
        }
        let server_stat = cli.server_pid.map(|pid| format!("/proc/{pid}/stat"));
        let server_before = server_stat.as_deref().and_then(cpu_ticks);
        let cpu_before = own_cpu_ticks();
        let started = Instant::now();
        let shared = Arc::new(Shared {
            target,
            users,
            scenario,
            deadline: started + Duration::from_secs_f64(duration),
            budget: AtomicU64::new(requests),
            stop: AtomicBool::new(false),
            run_id: format!("bench{}", unix_now_ms()),
            requests_done: AtomicU64::new(0),
            auths_done: AtomicU64::new(0),
            pacing: rate.map(|r| (started, 1.0 / r)),
            next_slot: AtomicU64::new(0),
            push: phones.as_ref().map(|(push, _)| push.clone()),
            workers: cli.concurrency,
        });
        if let Some(push) = &shared.push {
            push.measure(true);
        }
        let ticker = tokio::spawn(progress(shared.clone(), cli.progress, started));
        let handles: Vec<_> = (0..cli.concurrency)
            .map(|id| tokio::spawn(worker(shared.clone(), id)))
            .collect();
        let mut total = Stats::default();
        for handle in handles {
            total.merge(&handle.await.context("a worker panicked")?);
        }
        let elapsed = started.elapsed();
        let server_after = server_stat.as_deref().and_then(cpu_ticks);
        shared.stop.store(true, Ordering::Release);
        ticker.abort();
        if let Some((push, running)) = phones {
            push.measure(false);
            total.merge(&push.finish(running, Duration::from_secs(5)).await);
        }
        #[expect(clippy::cast_precision_loss, reason = "a printed figure")]
        let seconds = |before: Option<u64>, after: Option<u64>| match (before, after) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / cli.clk_tck.max(1) as f64),
            _ => None,
        };
        let client_cpu = seconds(cpu_before, own_cpu_ticks());
        let server_cpu = seconds(server_before, server_after);
        let header = report::Header {
            scenario: scenario.name(),
            idp_url: shared.target.url().to_string(),
            concurrency: cli.concurrency,
            threads: cli.threads,
            rate,
            users: shared.push.as_ref().map_or(shared.users.len(), |p| p.len()),
            elapsed,
            client_cpu,
            server_cpu,
        };
        print!("{}", report::render(&header, &total));
        Ok(())
    })
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twofold-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
