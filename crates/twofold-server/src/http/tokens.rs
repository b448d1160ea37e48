//! OATH token stock and jobs. createorgtokens and revokeorgtokens run to completion
//! within the request (a stock import is one transaction) and record their result as a
//! finished job, which getjobstatus then reports in PingID's job-result shapes (spec §2.3).

use serde_json::{Map, Value, json};
use twofold_core::services::{RevokeOutcome, TokenInput};
use twofold_core::{Core, DomainError, OrgCaller};
use twofold_proto::ops::Operation;
use twofold_proto::ops::tokens::{
    BulkJobStatus, CreateJob, CreateOrgTokens, GetBulkJobStatus, GetJobStatus, GetOrgReport, JobStarted, JobStatus,
    ResyncAnswer, ResyncOathToken, RevokeOrgTokens,
};
use twofold_proto::{ErrorId, ReqBody};

use super::ops::{Failure, Fields};
use crate::admin_op;
use crate::report::{Format, REPORT_TTL_MS, report_path};

/// Runs the token or job operation named `op`; `None` when it is not one.
pub async fn dispatch(
    core: &Core,
    caller: &OrgCaller,
    op: &str,
    body: &ReqBody,
) -> Option<Result<(ErrorId, Fields), Failure>> {
    Some(match op {
        CreateOrgTokens::NAME => admin_op!(core, caller, body, CreateOrgTokens, |admin, req| {
            let inputs: Vec<TokenInput> = req
                .tokens
                .into_iter()
                .map(|t| TokenInput {
                    serial: t.serial_number,
                    kind: t.token_type,
                    secret: t.secret_key,
                    digits: t.otp_length,
                    period: t.time_step,
                })
                .collect();
            let duplicates = core.import_tokens(admin.org(), &inputs).await?;
            // The seed of a duplicate is never echoed: `password` stays null.
            let rows: Vec<Value> = duplicates
                .iter()
                .map(|(row, serial)| json!({"row": row, "serial": serial, "password": null}))
                .collect();
            let result =
                json!({"type": "CreateOath", "status": "DONE", "duplicates": rows, "numberOfDuplicates": rows.len()});
            let job_token = core
                .record_job(&admin, "CreateOath", "done", result.to_string())
                .await?;
            Ok(JobStarted { job_token })
        }),
        RevokeOrgTokens::NAME => admin_op!(core, caller, body, RevokeOrgTokens, |admin, req| {
            let (status, result) = match core
                .revoke_tokens(&admin, &req.serial_numbers, req.unpair_before_delete)
                .await?
            {
                RevokeOutcome::Done => ("done", json!({"type": "JobResult", "status": "DONE"})),
                RevokeOutcome::Paired(paired) => {
                    let map: Map<String, Value> = paired.into_iter().map(|(s, u)| (s, Value::from(u))).collect();
                    (
                        "failure",
                        json!({
                            "type": "RevokeOathTokensJobResult",
                            "status": "FAILURE",
                            "pairedSerials": map,
                            "message": "Some tokens are paired; revoke them with unpairBeforeDelete=true to unpair them first.",
                        }),
                    )
                }
            };
            let job_token = core
                .record_job(&admin, "RevokeOath", status, result.to_string())
                .await?;
            Ok(JobStarted { job_token })
        }),
        CreateJob::NAME => admin_op!(core, caller, body, CreateJob, |admin, req| {
            Ok(JobStarted {
                job_token: core.create_job(&admin, &req.job_type).await?,
            })
        }),
        GetBulkJobStatus::NAME => admin_op!(core, caller, body, GetBulkJobStatus, |admin, req| {
            let mut job_results = Map::new();
            for token in &req.job_tokens {
                let job = core.job(&admin, token).await?.ok_or(DomainError::JobNotFound)?;
                job_results.insert(token.clone(), json!({"status": job.status, "type": "JobResult"}));
            }
            Ok(BulkJobStatus { job_results })
        }),
        GetJobStatus::NAME => admin_op!(core, caller, body, GetJobStatus, |admin, req| {
            let job = core
                .job(&admin, &req.job_token)
                .await?
                .ok_or(DomainError::JobNotFound)?;
            let job_result = job
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or(Value::Null);
            Ok(JobStatus {
                status: job.status,
                job_result,
            })
        }),
        ResyncOathToken::NAME => admin_op!(status core, caller, body, ResyncOathToken, |admin, req| {
            match core.resync_token(&admin, &req.serial_number, &req.otps, req.session_id.as_deref()).await? {
                Some(session) => Ok((ErrorId::OathResyncNextPasscode, ResyncAnswer { session_id: Some(session) })),
                None => Ok((ErrorId::Ok, ResyncAnswer { session_id: None })),
            }
        }),
        _ => return None,
    })
}

/// getorgreport: the last report finished within two hours, streamed from its file.
///
/// # Errors
/// 403 for authentication-only tokens, 400 without fileType, 20542 for a fileType other
/// than CSV or JSON, 40002 when no report is available.
pub async fn report_file(
    core: &Core,
    caller: &OrgCaller,
    body: &ReqBody,
    dir: &std::path::Path,
) -> Result<axum::body::Body, Failure> {
    let admin = caller.admin().map_err(Failure::from)?;
    let req = GetOrgReport::from_body(body).map_err(|e| Failure::from(super::ops::field_error(e)))?;
    let format = Format::parse(&req.file_type)
        .ok_or_else(|| Failure::from(DomainError::UnsupportedRequest(format!("fileType {:?}", req.file_type))))?;
    let job = core.latest_report(&admin, REPORT_TTL_MS).await.map_err(Failure::from)?;
    let file = match tokio::fs::File::open(report_path(dir, &job.token, format)).await {
        Ok(file) => file,
        // Another node ran the job: build this node's copy now.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let path = crate::report::rebuild_file(core, admin.org().id, &job.token, format, dir)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "rebuilding a report file failed");
                    Failure::from(DomainError::ReportNotAvailable)
                })?;
            tokio::fs::File::open(path)
                .await
                .map_err(|_| Failure::from(DomainError::ReportNotAvailable))?
        }
        Err(_) => return Err(Failure::from(DomainError::ReportNotAvailable)),
    };
    Ok(axum::body::Body::from_stream(
        tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024),
    ))
}
