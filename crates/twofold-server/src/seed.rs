//! Seeding many users quickly, straight into the store (not through the API): benchmark
//! data and the million-user report test. Each user gets an SMS device (a distinct
//! +1555… number) and an authenticator app (a random, properly sealed TOTP secret), and
//! is ACTIVE. App secrets are random, or with a benchmark key derivable by
//! [`bench_secret`] so a load generator can compute codes.

use twofold_core::Core;
use twofold_core::device::{DEVICE_ID_BOUND, DeviceId, DeviceType, OathParams};
use twofold_core::ids::Username;
use twofold_core::model::{Org, Profile, Role, UserStatus};
use twofold_core::store::{NewDevice, NewUser};

/// Users inserted per transaction.
const BATCH: u64 = 2_000;

fn device(core: &Core, org: &Org, kind: DeviceType, now: i64) -> NewDevice {
    let mut uuid = [0u8; 16];
    core.random.fill(&mut uuid);
    NewDevice {
        id: DeviceId(i64::try_from(core.random.below(DEVICE_ID_BOUND - 1) + 1).unwrap_or(1)),
        uuid: uuid::Builder::from_random_bytes(uuid).into_uuid().to_string(),
        user_id: twofold_core::ids::UserId(0),
        org_id: org.id,
        kind,
        phone: None,
        email: None,
        serial: None,
        oath: None,
        sealed_secret: None,
        counter: None,
        enrolled_ms: now,
    }
}

/// The authenticator-app secret of a seeded user when seeding with a benchmark key:
/// the first 20 bytes of HMAC-SHA256(key, username). Benchmarks compute TOTP codes from
/// it; never use a known key for real users.
#[must_use]
pub fn bench_secret(key: &str, username: &str) -> [u8; 20] {
    use hmac::{Hmac, KeyInit, Mac as _};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(username.as_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 20];
    out.copy_from_slice(&full[..20]);
    out
}

/// Creates `count` users named `<prefix><n>`; returns how many were new. With
/// `bench_key`, app secrets are [`bench_secret`]s instead of random.
///
/// # Errors
/// Store failures.
pub async fn seed_users(
    core: &Core,
    org: &Org,
    count: u64,
    prefix: &str,
    bench_key: Option<&str>,
) -> anyhow::Result<u64> {
    let now = core.clock.now_ms();
    let mut created = 0;
    let mut n = 0;
    while n < count {
        let end = (n + BATCH).min(count);
        let mut batch = Vec::with_capacity(usize::try_from(end - n).unwrap_or(0));
        for i in n..end {
            let name = Username::parse(&format!("{prefix}{i}")).ok_or_else(|| anyhow::anyhow!("bad prefix"))?;
            let user = NewUser {
                org_id: org.id,
                username: name.as_str().to_string(),
                username_fold: name.fold(),
                profile: Profile {
                    fname: None,
                    lname: None,
                    email: Some(format!("{}@example.test", name.as_str())),
                    pic_url: None,
                    role: Role::Regular,
                },
                status: UserStatus::Active,
                created_ms: now,
                activation: None,
            };
            let mut sms = device(core, org, DeviceType::Sms, now);
            sms.phone = Some(format!("+1555{:07}", i % 10_000_000));
            let mut app = device(core, org, DeviceType::AuthenticatorApp, now);
            let secret = match bench_key {
                Some(key) => bench_secret(key, name.as_str()),
                None => {
                    let mut random = [0u8; 20];
                    core.random.fill(&mut random);
                    random
                }
            };
            app.oath = Some(OathParams::APP_DEFAULT);
            app.sealed_secret = Some(
                core.master
                    .seal(core.random.as_ref(), &format!("device:{}", app.uuid), &secret),
            );
            batch.push((user, vec![app, sms]));
        }
        created += core
            .store
            .bulk_insert(&batch)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        n = end;
    }
    Ok(created)
}
