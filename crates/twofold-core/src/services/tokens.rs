//! OATH hardware tokens from the organization's stock (spec §2.3 TOKEN pairing,
//! createorgtokens, revokeorgtokens, resyncoathtoken) and the jobs that record their
//! bulk operations.
//!
//! Counters move only through `swap_counter(expected → new)`, one conditional write, so
//! a code accepted once is spent for every later request on any node.

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD, HEXLOWER_PERMISSIVE};
use twofold_factors::{Verification, hotp, totp};
use twofold_proto::Otp;

use super::Core;
use super::pairing::{device_context, hotp_params, totp_params};
use crate::caller::AdminCaller;
use crate::device::{Device, DeviceType, OathKind, OathParams};
use crate::error::DomainError;
use crate::model::Org;
use crate::store::{JobRecord, NewDevice, PairingSession, StockToken};

/// HOTP codes accepted ahead of the stored counter in normal use.
pub const HOTP_LOOK_AHEAD: u64 = 10;
/// HOTP codes searched ahead when resynchronising a token.
pub const HOTP_RESYNC_WINDOW: u64 = 100;
/// TOTP steps searched either side of now when resynchronising a token.
pub const TOTP_RESYNC_STEPS: u64 = 10;
const RESYNC_SESSION_MS: i64 = 10 * 60 * 1000;

/// The seal context of a stock token's seed: bound to its organization and serial.
#[must_use]
pub fn stock_context(org: &Org, serial: &str) -> String {
    format!("oath-stock:{}:{serial}", org.id.0)
}

/// A token to add to the stock, as an operator or createorgtokens gives it.
#[derive(Clone)]
pub struct TokenInput {
    /// Serial number.
    pub serial: String,
    /// `HOTP` or `TOTP`.
    pub kind: String,
    /// The seed: hex (an even number of hex digits, the usual form of token seed files)
    /// or base32.
    pub secret: String,
    /// 6 or 8 (default 6).
    pub digits: Option<String>,
    /// 30 or 60 for TOTP (default 30).
    pub period: Option<String>,
}

impl std::fmt::Debug for TokenInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenInput")
            .field("serial", &self.serial)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// The outcome of revokeorgtokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Removed (and unpaired where asked).
    Done,
    /// Refused: these serials are paired and unpairing was not asked for.
    Paired(Vec<(String, String)>),
}

fn decode_seed(text: &str) -> Option<Vec<u8>> {
    let t = text.trim().replace([' ', '-'], "");
    if !t.is_empty() && t.len().is_multiple_of(2) && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return HEXLOWER_PERMISSIVE.decode(t.as_bytes()).ok();
    }
    BASE32_NOPAD
        .decode(t.trim_end_matches('=').to_ascii_uppercase().as_bytes())
        .ok()
}

fn parse_token(input: &TokenInput) -> Result<(OathParams, Vec<u8>), String> {
    let kind = OathKind::parse(&input.kind).ok_or_else(|| format!("tokenType {:?} is not HOTP or TOTP", input.kind))?;
    let digits = match input.digits.as_deref().map(str::trim) {
        None | Some("" | "6") => 6,
        Some("8") => 8,
        Some(other) => return Err(format!("otpLength {other:?} is not 6 or 8")),
    };
    let period = match input.period.as_deref().map(str::trim) {
        None | Some("" | "30") => 30,
        Some("60") => 60,
        Some(other) => return Err(format!("timeStep {other:?} is not 30 or 60")),
    };
    let seed = decode_seed(&input.secret)
        .filter(|s| s.len() >= 10)
        .ok_or_else(|| "secretKey is not a hex or base32 seed of 80 bits or more".to_string())?;
    if input.serial.trim().is_empty() || input.serial.len() > 64 {
        return Err("serialNumber must have 1 to 64 characters".into());
    }
    Ok((
        OathParams {
            kind,
            algorithm: "SHA1",
            digits,
            period,
        },
        seed,
    ))
}

impl Core {
    fn now_secs(&self) -> u64 {
        u64::try_from(self.now() / 1000).unwrap_or(0)
    }

    /// Adds tokens to the organization's stock; returns the serials (with their 1-based
    /// row) that were already there and were skipped.
    ///
    /// # Errors
    /// [`DomainError::InvalidValue`] naming the first bad row (nothing is added then).
    pub async fn import_tokens(&self, org: &Org, tokens: &[TokenInput]) -> Result<Vec<(usize, String)>, DomainError> {
        let mut stock = Vec::with_capacity(tokens.len());
        for (i, input) in tokens.iter().enumerate() {
            let (params, seed) =
                parse_token(input).map_err(|e| DomainError::InvalidValue(format!("row {}: {e}", i + 1)))?;
            let serial = input.serial.trim().to_string();
            stock.push(StockToken {
                org_id: org.id,
                sealed_secret: self
                    .master
                    .seal(self.random.as_ref(), &stock_context(org, &serial), &seed),
                serial,
                params,
                created_ms: self.now(),
            });
        }
        let duplicates = self.store.insert_stock(&stock).await?;
        Ok(tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| duplicates.contains(&t.serial.trim().to_string()))
            .map(|(i, t)| (i + 1, t.serial.trim().to_string()))
            .collect())
    }

    /// revokeorgtokens' work: removes the serials from the stock, unpairing their devices
    /// when `unpair` is set, else refusing if any is paired.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_tokens(
        &self,
        admin: &AdminCaller<'_>,
        serials: &[String],
        unpair: bool,
    ) -> Result<RevokeOutcome, DomainError> {
        let org = admin.org();
        let paired = self.store.paired_serials(org.id, serials).await?;
        if !paired.is_empty() && !unpair {
            return Ok(RevokeOutcome::Paired(paired));
        }
        self.store.revoke_stock(org.id, serials).await?;
        Ok(RevokeOutcome::Done)
    }

    /// Stores a job with a fresh `jobToken` (24 base64url characters) and returns it.
    async fn new_job(
        &self,
        admin: &AdminCaller<'_>,
        kind: &str,
        status: &str,
        result: Option<String>,
    ) -> Result<String, DomainError> {
        let mut bytes = [0u8; 18];
        self.random.fill(&mut bytes);
        let token = BASE64URL_NOPAD.encode(&bytes);
        let finished = result.is_some().then(|| self.now());
        self.store
            .insert_job(&JobRecord {
                token: token.clone(),
                org_id: admin.org().id,
                kind: kind.into(),
                status: status.into(),
                result,
                created_ms: self.now(),
                finished_ms: finished,
            })
            .await?;
        Ok(token)
    }

    /// Records a job that completed within the request (createorgtokens,
    /// revokeorgtokens) and returns its `jobToken`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn record_job(
        &self,
        admin: &AdminCaller<'_>,
        kind: &str,
        status: &str,
        result: String,
    ) -> Result<String, DomainError> {
        self.new_job(admin, kind, status, Some(result)).await
    }

    /// createjob: queues a `USER_REPORTS` job for the background worker.
    ///
    /// # Errors
    /// 20542 for any other jobType; store failures.
    pub async fn create_job(&self, admin: &AdminCaller<'_>, job_type: &str) -> Result<String, DomainError> {
        if !job_type.eq_ignore_ascii_case("USER_REPORTS") {
            return Err(DomainError::UnsupportedRequest(format!("jobType {job_type:?}")));
        }
        self.new_job(admin, "USER_REPORTS", "pending", None).await
    }

    /// The latest report finished within `ttl_ms` (getorgreport).
    ///
    /// # Errors
    /// 40002 when there is none.
    pub async fn latest_report(&self, admin: &AdminCaller<'_>, ttl_ms: i64) -> Result<JobRecord, DomainError> {
        self.store
            .latest_finished_job(admin.org().id, "USER_REPORTS", self.now() - ttl_ms)
            .await?
            .ok_or(DomainError::ReportNotAvailable)
    }

    /// A job of the caller's organization; `None` for unknown tokens (40001).
    ///
    /// # Errors
    /// Store failures.
    pub async fn job(&self, admin: &AdminCaller<'_>, token: &str) -> Result<Option<JobRecord>, DomainError> {
        Ok(self.store.job(admin.org().id, token).await?)
    }

    /// Takes the token `serial` from the organization's stock into `device`: its seed is
    /// re-sealed for the device, its parameters copied.
    pub(crate) async fn take_token(&self, org: &Org, device: &mut NewDevice, serial: &str) -> Result<(), DomainError> {
        if !org.settings.oath_enabled {
            return Err(DomainError::OathDisabled);
        }
        let serial = serial.trim();
        let stock = self
            .store
            .stock_token(org.id, serial)
            .await?
            .ok_or(DomainError::InvalidOathToken)?;
        if !self
            .store
            .paired_serials(org.id, &[serial.to_string()])
            .await?
            .is_empty()
        {
            return Err(DomainError::DeviceInUse);
        }
        let seed = self
            .master
            .open(&stock_context(org, serial), &stock.sealed_secret)
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        device.serial = Some(serial.to_string());
        device.oath = Some(stock.params);
        device.sealed_secret = Some(
            self.master
                .seal(self.random.as_ref(), &device_context(&device.uuid), &seed),
        );
        device.counter = None;
        Ok(())
    }

    fn device_seed(&self, uuid: &str, sealed: Option<&[u8]>) -> Result<Vec<u8>, DomainError> {
        self.master
            .open(&device_context(uuid), sealed.ok_or(DomainError::InvalidSession)?)
            .map_err(|e| DomainError::Internal(e.to_string()))
    }

    /// Verifies a token's code for a TOKEN pairing session. With `resync` (the token
    /// drifted), the first code is searched in a wide window and answered with `Ok(None)`
    /// (30016); the next code then pairs.
    pub(crate) async fn finalize_token(
        &self,
        admin: &AdminCaller<'_>,
        session: &PairingSession,
        otp: &Otp,
        resync: bool,
    ) -> Result<Option<Device>, DomainError> {
        let mut device = session.device.clone();
        // The token may have been revoked since the pairing started.
        let serial = device.serial.clone().unwrap_or_default();
        if self.store.stock_token(admin.org().id, &serial).await?.is_none() {
            return Err(DomainError::InvalidOathToken);
        }
        let params = device.oath.ok_or(DomainError::InvalidSession)?;
        let seed = self.device_seed(&device.uuid, device.sealed_secret.as_deref())?;
        let code = otp.padded(usize::try_from(params.digits).unwrap_or(6));
        // A session that already matched a resync code takes the next code normally.
        let wide = resync && device.counter.is_none();
        let verdict = match params.kind {
            OathKind::Hotp => {
                let next = u64::try_from(device.counter.unwrap_or(0)).unwrap_or(0);
                let window = if wide { HOTP_RESYNC_WINDOW } else { HOTP_LOOK_AHEAD };
                hotp::verify(&seed, &code, next, window, hotp_params(&params))
            }
            OathKind::Totp => {
                let last = device.counter.and_then(|c| u64::try_from(c).ok());
                let drift = if wide {
                    TOTP_RESYNC_STEPS
                } else {
                    super::pairing::TOTP_DRIFT_STEPS
                };
                totp::verify(&seed, &code, self.now_secs(), totp_params(&params), drift, last)
            }
        };
        let Verification::Accepted { step_or_counter } = verdict else {
            return Err(self.wrong_code(admin, &session.id).await);
        };
        let matched = i64::try_from(step_or_counter).unwrap_or(i64::MAX);
        // HOTP stores the next counter; TOTP the last accepted step.
        let stored = if params.kind == OathKind::Hotp {
            matched + 1
        } else {
            matched
        };
        if wide {
            self.store.set_session_counter(&session.id, stored).await?;
            return Ok(None);
        }
        device.counter = Some(stored);
        device.enrolled_ms = self.now();
        self.finish_pair(admin.org(), &device, Some(&session.id))
            .await
            .map(Some)
    }

    /// resyncoathtoken: brings a paired token's counter back in step. Two consecutive
    /// codes in one call resync at once; one code opens a resync session (30016, `oarys_`
    /// session id) that the next code completes. Returns the session id while waiting.
    ///
    /// # Errors
    /// 20574 unknown serial, 20531 not paired, 20579 no match in the window, 20539 codes
    /// not consecutive, 20517 bad resync session, 400 wrong number of codes.
    pub async fn resync_token(
        &self,
        admin: &AdminCaller<'_>,
        serial: &str,
        otps: &[Otp],
        session: Option<&str>,
    ) -> Result<Option<String>, DomainError> {
        let org = admin.org();
        if !org.settings.oath_enabled {
            return Err(DomainError::OathDisabled);
        }
        if otps.is_empty() || otps.len() > 2 {
            return Err(DomainError::InvalidInput("otps must hold one or two codes".into()));
        }
        self.store
            .stock_token(org.id, serial)
            .await?
            .ok_or(DomainError::InvalidOathToken)?;
        let device = self.paired_token(org, serial).await?;
        let params = device.oath.ok_or(DomainError::NotSupported("not an OATH token"))?;
        let seed = self.device_seed(&device.uuid, device.sealed_secret.as_deref())?;
        let codes: Vec<String> = otps
            .iter()
            .map(|o| o.padded(usize::try_from(params.digits).unwrap_or(6)))
            .collect();
        let find = |code: &str, from: i64| -> Option<i64> {
            match params.kind {
                OathKind::Hotp => {
                    match hotp::verify(
                        &seed,
                        code,
                        u64::try_from(from).unwrap_or(0),
                        HOTP_RESYNC_WINDOW,
                        hotp_params(&params),
                    ) {
                        Verification::Accepted { step_or_counter } => i64::try_from(step_or_counter).ok(),
                        _ => None,
                    }
                }
                OathKind::Totp => match totp::verify(
                    &seed,
                    code,
                    self.now_secs(),
                    totp_params(&params),
                    TOTP_RESYNC_STEPS,
                    None,
                ) {
                    Verification::Accepted { step_or_counter } => i64::try_from(step_or_counter).ok(),
                    _ => None,
                },
            }
        };
        let start = if params.kind == OathKind::Hotp {
            device.counter.unwrap_or(0)
        } else {
            0
        };
        let (first_match, second_code) = match (session, codes.as_slice()) {
            (Some(id), [next]) => {
                let (dev, matched) = self
                    .store
                    .take_resync(id, org.id, self.now())
                    .await?
                    .ok_or(DomainError::InvalidSession)?;
                if dev != device.id {
                    return Err(DomainError::InvalidSession);
                }
                (matched, next.clone())
            }
            (None, [only]) => {
                let matched = find(only, start).ok_or_else(|| DomainError::ResyncFailed(serial.to_string()))?;
                let mut bytes = [0u8; 32];
                self.random.fill(&mut bytes);
                let id = format!("oarys_{}", BASE64URL_NOPAD.encode(&bytes));
                self.store
                    .create_resync(&id, org.id, device.id, matched, self.now() + RESYNC_SESSION_MS)
                    .await?;
                return Ok(Some(id));
            }
            (_, [one, two]) => (
                find(one, start).ok_or_else(|| DomainError::ResyncFailed(serial.to_string()))?,
                two.clone(),
            ),
            _ => {
                return Err(DomainError::InvalidInput(
                    "a resync session takes exactly one more code".into(),
                ));
            }
        };
        let second = find(&second_code, first_match + 1)
            .filter(|m| *m == first_match + 1)
            .ok_or(DomainError::ResyncMismatch)?;
        // HOTP stores the next counter. A TOTP token's last accepted step never moves back,
        // or a code already spent would work again.
        let stored = if params.kind == OathKind::Hotp {
            second + 1
        } else {
            second.max(device.counter.unwrap_or(0))
        };
        if !self.store.swap_counter(device.id, device.counter, stored).await? {
            return Err(DomainError::SessionInProcess);
        }
        Ok(None)
    }

    async fn paired_token(&self, org: &Org, serial: &str) -> Result<Device, DomainError> {
        let paired = self.store.paired_serials(org.id, &[serial.to_string()]).await?;
        let (_, username) = paired
            .first()
            .ok_or(DomainError::NotSupported("the token is not paired"))?;
        let user = self
            .store
            .user_by_name(
                org.id,
                &crate::ids::Username::parse(username)
                    .ok_or(DomainError::UserNotFound)?
                    .fold(),
            )
            .await?
            .ok_or(DomainError::UserNotFound)?;
        self.store
            .devices_of(user.id)
            .await?
            .into_iter()
            .find(|d| d.kind == DeviceType::HardwareToken && d.serial.as_deref() == Some(serial))
            .ok_or(DomainError::NotSupported("the token is not paired"))
    }
}
