//! Counting what happened and printing it: throughput, latency quantiles per operation,
//! answers by errorId, failures by kind, and one `summary` line for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::histogram::Histogram;
use crate::wire::{Exchange, Failure};

/// The operations the scenarios send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Work {
    StartAuthentication,
    AuthOffline,
    GetUserDetails,
    AddUser,
    /// privacyIDEA's `/validate/check` (the `privacyidea` scenario).
    ValidateCheck,
    /// `startauthentication {async: true}` to a user with a paired phone (auth-push).
    StartPush,
    /// `authstatus` polls of an asynchronous push (auth-push).
    AuthStatus,
    /// `cancelauthentication` of a push the client gave up on (auth-push).
    CancelAuthentication,
    /// The phones' long-polls `GET /device/v1/pushes`, by HTTP status (auth-push).
    DevicePoll,
    /// The phones' `POST /device/v1/pushes/answer`, by HTTP status (auth-push).
    DeviceAnswer,
    /// `GET /healthz`, by HTTP status (the `healthz` floor).
    Healthz,
}

impl Work {
    /// The operation name.
    pub fn name(self) -> &'static str {
        match self {
            Self::StartAuthentication => "startauthentication",
            Self::AuthOffline => "authoffline",
            Self::GetUserDetails => "getuserdetails",
            Self::AddUser => "adduser",
            Self::ValidateCheck => "validate/check",
            Self::StartPush => "startauth (async)",
            Self::AuthStatus => "authstatus",
            Self::CancelAuthentication => "cancelauthentication",
            Self::DevicePoll => "device pushes (poll)",
            Self::DeviceAnswer => "device answer",
            Self::Healthz => "GET /healthz",
        }
    }

    /// The errorId of success in the scenarios (30015: the app's code is awaited; for
    /// `/validate/check`, [`crate::privacyidea::ACCEPT`]).
    pub fn expected(self) -> u32 {
        match self {
            Self::StartAuthentication => 30_015,
            Self::ValidateCheck => crate::privacyidea::ACCEPT,
            Self::StartPush => 30_010,
            _ => 200,
        }
    }

    /// Whether `error_id` is a normal answer (not an error): the expected one, and for
    /// `authstatus` also 30010 (the user has not answered yet).
    pub fn accepts(self, error_id: u32) -> bool {
        error_id == self.expected() || (self == Self::AuthStatus && error_id == 30_010)
    }
}

/// Counts for one operation.
#[derive(Debug, Clone, Default)]
pub struct OpStats {
    /// Latency of every answered request (µs), whatever its errorId.
    pub latency: Histogram,
    /// Answers by errorId.
    pub answers: BTreeMap<u32, u64>,
    /// Requests without a usable answer, by kind.
    pub failures: BTreeMap<Failure, u64>,
}

impl OpStats {
    fn requests(&self) -> u64 {
        self.answers.values().sum::<u64>() + self.failures.values().sum::<u64>()
    }

    fn errors(&self, work: Work) -> u64 {
        let wrong: u64 = self
            .answers
            .iter()
            .filter(|(id, _)| !work.accepts(**id))
            .map(|(_, n)| n)
            .sum();
        wrong + self.failures.values().sum::<u64>()
    }
}

/// Everything one worker (or, merged, the run) counted.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub ops: BTreeMap<Work, OpStats>,
    /// Complete authentications (startauthentication sent → authoffline 200; for
    /// privacyIDEA one accepted `/validate/check`), µs.
    pub authentication: Histogram,
    pub auths_ok: u64,
    pub auths_failed: u64,
    /// Per iteration (one authentication or admin request): scheduled start (with
    /// --rate; actual start otherwise) to end, µs, whatever the outcome.
    pub iteration: Histogram,
    /// Time workers waited because every user had signed in during the current step.
    pub starved: Duration,
    /// Authentications still waiting when the run ended (auth-push): neither ok nor failed.
    pub auths_unfinished: u64,
    /// What became of the phones' answers (auth-push): `approved`, `expired`, …
    pub push_outcomes: BTreeMap<String, u64>,
}

impl Stats {
    /// Counts one exchange.
    pub fn record(&mut self, work: Work, exchange: &Exchange) {
        let op = self.ops.entry(work).or_default();
        match &exchange.outcome {
            Ok(answer) => {
                op.latency
                    .record(u64::try_from(exchange.latency.as_micros()).unwrap_or(u64::MAX));
                *op.answers.entry(answer.error_id).or_default() += 1;
            }
            Err(failure) => *op.failures.entry(*failure).or_default() += 1,
        }
    }

    /// Adds another worker's counts.
    pub fn merge(&mut self, other: &Self) {
        for (work, theirs) in &other.ops {
            let mine = self.ops.entry(*work).or_default();
            mine.latency.merge(&theirs.latency);
            for (id, n) in &theirs.answers {
                *mine.answers.entry(*id).or_default() += n;
            }
            for (kind, n) in &theirs.failures {
                *mine.failures.entry(*kind).or_default() += n;
            }
        }
        self.authentication.merge(&other.authentication);
        self.iteration.merge(&other.iteration);
        self.auths_ok += other.auths_ok;
        self.auths_failed += other.auths_failed;
        self.starved += other.starved;
        self.auths_unfinished += other.auths_unfinished;
        for (outcome, n) in &other.push_outcomes {
            *self.push_outcomes.entry(outcome.clone()).or_default() += n;
        }
    }
}

/// What the run was.
pub struct Header {
    pub scenario: &'static str,
    pub idp_url: String,
    pub concurrency: usize,
    pub threads: usize,
    /// Iterations per second of the schedule (--rate), when paced.
    pub rate: Option<f64>,
    pub users: usize,
    pub elapsed: Duration,
    /// The load generator's own CPU seconds during the run.
    pub client_cpu: Option<f64>,
    /// The server's CPU seconds during the run (with --server-pid).
    pub server_cpu: Option<f64>,
}

#[expect(clippy::cast_precision_loss, reason = "printed figures")]
fn ms(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

#[expect(clippy::cast_precision_loss, reason = "printed figures")]
fn per_sec(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn latency_row(out: &mut String, name: &str, h: &Histogram) {
    let _ = writeln!(
        out,
        "  {name:<20} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        h.count(),
        h.mean() / 1_000.0,
        ms(h.quantile(0.50)),
        ms(h.quantile(0.90)),
        ms(h.quantile(0.99)),
        ms(h.max()),
    );
}

/// The report text.
pub fn render(header: &Header, stats: &Stats) -> String {
    let mut out = String::new();
    let secs = header.elapsed.as_secs_f64();
    let requests: u64 = stats.ops.values().map(OpStats::requests).sum();
    let errors: u64 = stats.ops.iter().map(|(w, s)| s.errors(*w)).sum();
    let pacing = header
        .rate
        .map_or_else(|| "closed loop".to_string(), |r| format!("paced at {r} iterations/s"));
    let _ = writeln!(
        out,
        "scenario {}: {} connections, {} client thread(s), {pacing}, {} users, {secs:.2} s against {}",
        header.scenario, header.concurrency, header.threads, header.users, header.idp_url
    );
    let _ = writeln!(
        out,
        "  requests             {requests} ({:.1} req/s), errors {errors}",
        per_sec(requests, header.elapsed)
    );
    if stats.auths_ok + stats.auths_failed > 0 {
        let _ = writeln!(
            out,
            "  authentications      {} complete ({:.1}/s), {} failed{}",
            stats.auths_ok,
            per_sec(stats.auths_ok, header.elapsed),
            stats.auths_failed,
            if stats.auths_unfinished > 0 {
                format!(", {} unfinished at the end", stats.auths_unfinished)
            } else {
                String::new()
            }
        );
    }
    if !stats.push_outcomes.is_empty() {
        let outcomes: Vec<String> = stats.push_outcomes.iter().map(|(o, n)| format!("{o} x{n}")).collect();
        let _ = writeln!(out, "  phones' answers      {}", outcomes.join(", "));
    }
    let _ = writeln!(
        out,
        "  latency (ms)         {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "count", "mean", "p50", "p90", "p99", "max"
    );
    if stats.authentication.count() > 0 {
        latency_row(&mut out, "authentication", &stats.authentication);
    }
    for (work, op) in &stats.ops {
        latency_row(&mut out, work.name(), &op.latency);
    }
    if header.rate.is_some() {
        latency_row(&mut out, "iteration (schedule)", &stats.iteration);
    }
    let _ = writeln!(out, "  answers by errorId (* = expected)");
    for (work, op) in &stats.ops {
        let answers: Vec<String> = op
            .answers
            .iter()
            .map(|(id, n)| format!("{id}{} x{n}", if work.accepts(*id) { "*" } else { "" }))
            .collect();
        let failures: Vec<String> = op.failures.iter().map(|(k, n)| format!("{} x{n}", k.label())).collect();
        let _ = writeln!(
            out,
            "    {:<20} {}{}",
            work.name(),
            answers.join(", "),
            if failures.is_empty() {
                String::new()
            } else {
                format!("; no answer: {}", failures.join(", "))
            }
        );
    }
    if stats.starved > Duration::ZERO {
        // The run starts on a fresh step, so within it every user can sign in once per
        // step: at most users / min(run, 30 s) authentications per second.
        let window = header.elapsed.as_secs_f64().clamp(1e-9, 30.0);
        #[expect(clippy::cast_precision_loss, reason = "a printed bound")]
        let bound = header.users as f64 / window;
        let _ = writeln!(
            out,
            "  NOTE: workers waited {:.1} worker-seconds for a new 30-s step (every user had signed in during \
             the current one): the authentication rate is bounded by users / min(run, 30 s) = {bound:.0}/s, \
             so it measures the users, not the server; seed more users",
            stats.starved.as_secs_f64()
        );
    }
    if let Some(cpu) = header.client_cpu {
        let _ = writeln!(
            out,
            "  load generator CPU   {cpu:.2} s ({:.0} % of one core)",
            100.0 * cpu / secs.max(1e-9)
        );
    }
    if let Some(cpu) = header.server_cpu {
        let _ = writeln!(
            out,
            "  server CPU           {cpu:.2} s ({:.0} % of one core)",
            100.0 * cpu / secs.max(1e-9)
        );
    }
    let auth = &stats.authentication;
    let _ = writeln!(
        out,
        "summary scenario={} seconds={secs:.3} requests={requests} errors={errors} req_per_s={:.1} auths={} \
         auth_per_s={:.1} auth_p50_ms={:.2} auth_p99_ms={:.2} iter_p99_ms={:.2} starved_s={:.1} client_cpu_s={} \
         server_cpu_s={}",
        header.scenario,
        per_sec(requests, header.elapsed),
        stats.auths_ok,
        per_sec(stats.auths_ok, header.elapsed),
        ms(auth.quantile(0.5)),
        ms(auth.quantile(0.99)),
        ms(stats.iteration.quantile(0.99)),
        stats.starved.as_secs_f64(),
        header
            .client_cpu
            .map_or_else(|| "na".to_string(), |c| format!("{c:.2}")),
        header
            .server_cpu
            .map_or_else(|| "na".to_string(), |c| format!("{c:.2}")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Answer;

    fn answered(error_id: u32, micros: u64) -> Exchange {
        Exchange {
            latency: Duration::from_micros(micros),
            outcome: Ok(Answer {
                error_id,
                ..Answer::default()
            }),
        }
    }

    #[test]
    fn errors_are_unexpected_error_ids_and_failures() {
        let mut a = Stats::default();
        a.record(Work::StartAuthentication, &answered(30_015, 1_000));
        a.record(Work::StartAuthentication, &answered(20_520, 2_000));
        let mut b = Stats::default();
        b.record(
            Work::AuthOffline,
            &Exchange {
                latency: Duration::from_millis(1),
                outcome: Err(Failure::Timeout),
            },
        );
        b.record(Work::AuthOffline, &answered(200, 500));
        a.merge(&b);
        let header = Header {
            scenario: "auth-totp",
            idp_url: "http://127.0.0.1:1/pingid".into(),
            concurrency: 1,
            threads: 1,
            rate: None,
            users: 1,
            elapsed: Duration::from_secs(2),
            client_cpu: None,
            server_cpu: None,
        };
        let text = render(&header, &a);
        assert!(text.contains("requests             4 (2.0 req/s), errors 2"), "{text}");
        assert!(text.contains("20520 x1, 30015* x1"), "{text}");
        assert!(text.contains("200* x1; no answer: timeout x1"), "{text}");
        assert!(text.contains("summary scenario=auth-totp "), "{text}");
    }
}
