//! The organization report (spec §2.4, §6.12) and the job worker that builds it.
//!
//! The report streams: users are read in pages of [`PAGE_USERS`] and written through a
//! buffered writer, so memory stays flat whatever the organization's size. Jobs come from
//! the `jobs` table: a worker claims one with a conditional write (so it runs once across
//! nodes), and a job whose worker died is claimed again once its lease has passed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use twofold_core::Core;
use twofold_core::ids::OrgId;
use twofold_core::model::UserStatus;
use twofold_core::phone::Phone;
use twofold_core::store::ReportRow;

/// Users read per page.
pub const PAGE_USERS: u32 = 500;
/// How long a finished report is served (spec §2.4: cached up to 2 hours).
pub const REPORT_TTL_MS: i64 = 2 * 3_600_000;
/// A claimed job not finished within this is assumed abandoned and claimed again.
const JOB_LEASE_MS: i64 = 30 * 60 * 1000;
/// The job kind of createjob.
pub const USER_REPORTS: &str = "USER_REPORTS";

/// The columns, in documented order.
const COLUMNS: [&str; 19] = [
    "username",
    "deviceID",
    "status",
    "userCreationTime",
    "orgEmail",
    "deviceCount",
    "deviceType",
    "deviceRole",
    "devicePairingDate",
    "deviceModel",
    "osVersion",
    "appVersion",
    "countryCode",
    "phoneNumber",
    "yubikeySerialNumber",
    "deviceEmail",
    "lastTrxTime",
    "bypassUntil",
    "lastDeviceTrxTime",
];

/// CSV or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Header row, `yyyy/MM/dd HH:mm:ss` UTC times.
    Csv,
    /// `{"data":[...]}`, epoch-ms times, null for unknown values.
    Json,
}

impl Format {
    /// Parses `CSV`/`JSON` in any case.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "CSV" => Some(Format::Csv),
            "JSON" => Some(Format::Json),
            _ => None,
        }
    }

    /// The file extension.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// The report file of a job.
#[must_use]
pub fn report_path(dir: &Path, token: &str, format: Format) -> PathBuf {
    dir.join(format!("{token}.{}", format.extension()))
}

fn csv_time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y/%m/%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A cell that a spreadsheet would run as a formula gets a leading apostrophe.
fn neutralize(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// The values of one row, as JSON values (times as epoch ms), in column order.
fn values(row: &ReportRow, now_ms: i64) -> [Value; 19] {
    let status = if row.status == UserStatus::PendingActivation.as_str()
        && row.activation_expires_ms.is_some_and(|e| e <= now_ms)
    {
        UserStatus::NotActive.as_str().to_string()
    } else {
        row.status.clone()
    };
    let d = row.device.as_ref();
    let phone = d.and_then(|d| d.phone.as_deref()).and_then(|p| Phone::parse(p, true));
    let kind = d.map(|d| d.kind.as_str());
    [
        json!(row.username),
        json!(d.map(|d| d.id.to_string())),
        json!(status),
        json!(row.created_ms),
        json!(row.email),
        json!(row.device_count),
        json!(kind),
        json!(d.map(|d| if d.position == 1 { "Primary" } else { "Secondary" })),
        json!(d.map(|d| d.enrolled_ms)),
        Value::Null,
        Value::Null,
        Value::Null,
        json!(phone.as_ref().map(|p| p.country_code.clone())),
        json!(
            phone
                .as_ref()
                .map(|p| format!("{}{}", p.national, p.extension.as_deref().unwrap_or("")))
        ),
        json!(if kind == Some("YubiKey") {
            d.and_then(|d| d.serial.clone())
        } else {
            None
        }),
        json!(d.and_then(|d| d.email.clone())),
        json!(row.last_login_ms),
        json!(row.bypass_until_ms),
        json!(d.and_then(|d| d.last_used_ms)),
    ]
}

/// Columns holding epoch-ms times (formatted in CSV).
const TIME_COLUMNS: [usize; 5] = [3, 8, 16, 17, 18];

/// Calls `f` for every row of the organization, reading one page of users at a time.
async fn for_each_row(
    core: &Core,
    org: OrgId,
    f: &mut (dyn FnMut(&ReportRow) -> anyhow::Result<()> + Send),
) -> anyhow::Result<()> {
    let mut after = 0;
    loop {
        let page = core
            .store
            .report_page(org, after, PAGE_USERS)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(last) = page.last() else { return Ok(()) };
        after = last.user_id;
        for row in &page {
            f(row)?;
        }
    }
}

fn csv_cells(vals: &[Value; 19]) -> impl Iterator<Item = String> + '_ {
    vals.iter().enumerate().map(|(i, v)| {
        if TIME_COLUMNS.contains(&i) {
            csv_time(v.as_i64())
        } else {
            match v {
                Value::Null => String::new(),
                Value::String(s) => neutralize(s.clone()),
                other => other.to_string(),
            }
        }
    })
}

/// Writes the organization's report to `out`, page by page.
///
/// # Errors
/// Store failures and write errors.
pub async fn write_report<W: Write + Send>(core: &Core, org: OrgId, format: Format, out: &mut W) -> anyhow::Result<()> {
    let now = core.clock.now_ms();
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(COLUMNS)?;
            for_each_row(core, org, &mut |row| Ok(w.write_record(csv_cells(&values(row, now)))?)).await?;
            w.flush()?;
        }
        Format::Json => {
            out.write_all(b"{\"data\":[")?;
            let mut first = true;
            for_each_row(core, org, &mut |row| {
                if !first {
                    out.write_all(b",")?;
                }
                first = false;
                let object: serde_json::Map<String, Value> = COLUMNS
                    .iter()
                    .zip(values(row, now))
                    .map(|(k, v)| ((*k).to_string(), v))
                    .collect();
                serde_json::to_writer(&mut *out, &object)?;
                Ok(())
            })
            .await?;
            out.write_all(b"]}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Writes the report file of a finished job that this node does not hold: with several
/// nodes, the job ran on whichever node claimed it, and report files live in each node's
/// own data directory. The rows are read now, so they are at least as recent as the
/// job's.
///
/// # Errors
/// Store or file-system failures.
pub async fn rebuild_file(core: &Core, org: OrgId, token: &str, format: Format, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = report_path(dir, token, format);
    write_file(core, org, format, &path).await?;
    Ok(path)
}

async fn write_file(core: &Core, org: OrgId, format: Format, path: &Path) -> anyhow::Result<()> {
    // A temporary name of its own per writer: two requests may rebuild one report at once.
    static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let writer = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}.{writer}.tmp", format.extension()));
    // Reports hold contact details: readable by the server's user only.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&tmp)?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    write_report(core, org, format, &mut out).await?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Runs one claimed job to its end; returns false when no job was waiting.
///
/// # Errors
/// Store failures while claiming or finishing.
pub async fn run_one_job(core: &Core, dir: &Path) -> anyhow::Result<bool> {
    let now = core.clock.now_ms();
    let Some(job) = core
        .store
        .claim_job(now, now - JOB_LEASE_MS)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        return Ok(false);
    };
    let outcome = if job.kind == USER_REPORTS {
        std::fs::create_dir_all(dir)?;
        let mut result = Ok(());
        for format in [Format::Csv, Format::Json] {
            if result.is_ok() {
                result = write_file(core, job.org_id, format, &report_path(dir, &job.token, format)).await;
            }
        }
        result
    } else {
        Err(anyhow::anyhow!("unknown job kind {}", job.kind))
    };
    let (status, result) = match &outcome {
        Ok(()) => ("done", json!({"type": "JobResult", "status": "DONE"})),
        Err(e) => {
            tracing::error!(job = %job.token, error = %e, "job failed");
            ("failure", json!({"type": "JobResult", "status": "FAILURE"}))
        }
    };
    core.store
        .finish_job(&job.token, status, &result.to_string(), core.clock.now_ms())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(true)
}

/// Deletes report files older than the cache period.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_millis(u64::try_from(REPORT_TTL_MS).unwrap_or(u64::MAX)));
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The background worker: runs jobs as they appear, prunes expired reports.
pub fn spawn_worker(core: Core, dir: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match run_one_job(&core, &dir).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "job worker"),
            }
            prune(&dir);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}
