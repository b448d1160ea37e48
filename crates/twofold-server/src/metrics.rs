//! Prometheus metrics: request counts per operation and errorId, and latencies per
//! operation. Labels are bounded: the operation label is a known segment or `unknown`,
//! never a username or anything else a caller chooses.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics recorder (the `metrics` facade is process-wide by design, so
/// several servers in one test process share it).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
                ])
                .expect("static buckets are valid")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            // Without upkeep, histogram buffers grow without bound.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::park_timeout(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .expect("spawning the metrics upkeep thread");
            handle
        })
        .clone()
}

/// Records one PingID request.
pub fn record(op: &'static str, error_id: u32, elapsed: Duration) {
    metrics::counter!("twofold_requests_total", "op" => op, "error_id" => error_id.to_string()).increment(1);
    metrics::histogram!("twofold_request_duration_seconds", "op" => op).record(elapsed.as_secs_f64());
}
