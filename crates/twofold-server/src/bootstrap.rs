//! Start-up: the data directory, the master key, the store, and the zero-config first run
//! (an organization, a full-scope token and `pingid.properties` on an empty data dir).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use twofold_core::ids::ApiTokenId;
use twofold_core::model::TokenScope;
use twofold_core::{Clock, Core, MasterKey, Random, Store};
use twofold_proto::properties::{Properties, encode_key};
use twofold_store::postgres::PgNotifier;
use twofold_store::{PoolSettings, PostgresStore, SqliteStore};

use twofold_delivery::{DurableOutbox, OutboxPolicy};

use crate::config::Settings;

/// A ready core plus what start-up found or created.
pub struct Bootstrapped {
    /// The application core.
    pub core: Core,
    /// True when this start created the first organization.
    pub first_start: bool,
    /// The durable outbox core sends through; whoever serves requests runs its worker
    /// ([`DurableOutbox::spawn_worker`]).
    pub outbox: DurableOutbox,
}

/// Reads the master key (base64 text of 32 bytes, or 32 raw bytes), creating it with
/// mode 0600 when `create` is set and the file does not exist.
///
/// # Errors
/// When the file is unreadable or does not hold 32 bytes.
pub fn master_key(path: &Path, random: &dyn Random, create: bool) -> anyhow::Result<MasterKey> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let decoded = data_encoding_decode(text.trim()).or_else(|| (bytes.len() == 32).then(|| bytes.clone()));
            let key: [u8; 32] = decoded
                .and_then(|d| d.try_into().ok())
                .with_context(|| format!("{} does not hold a 32-byte key (base64)", path.display()))?;
            Ok(MasterKey::from_bytes(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let (bytes, key) = MasterKey::generate(random);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            writeln!(file, "{}", encode_key(&bytes))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading master key {}", path.display())),
    }
}

fn data_encoding_decode(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE64
        .decode(text.as_bytes())
        .ok()
        .filter(|k| k.len() == 32)
}

/// An open store, and on PostgreSQL the notifier that wakes waiters on other nodes.
pub struct OpenedStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// `LISTEN`/`NOTIFY` on the same database (PostgreSQL only).
    pub notifier: Option<PgNotifier>,
}

/// Opens the store named by the settings.
///
/// # Errors
/// Unsupported schemes, unreachable databases, failed migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<OpenedStore> {
    let url = settings.database_url();
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(&url)
            .await
            .with_context(|| format!("opening {url}"))?;
        Ok(OpenedStore {
            store: Arc::new(store),
            notifier: None,
        })
    } else if is_postgres_url(&url) {
        let pool = PoolSettings {
            max_connections: settings.database_max_connections,
            acquire_timeout: std::time::Duration::from_secs(settings.database_acquire_timeout),
            ..PoolSettings::default()
        };
        let store = PostgresStore::connect_with(&url, pool)
            .await
            .with_context(|| format!("opening {}", redact_url(&url)))?;
        Ok(OpenedStore {
            notifier: Some(PgNotifier::new(&store)),
            store: Arc::new(store),
        })
    } else {
        bail!(
            "unsupported database URL {:?}: use sqlite://PATH or postgres://...",
            redact_url(&url)
        )
    }
}

/// `twofold migrate-data`: copies the SQLite database at `from` into the empty
/// PostgreSQL database at `to` (see `twofold_store::copy`).
///
/// # Errors
/// Wrong schemes, a missing source file, a non-empty target, any copy failure.
pub async fn migrate_data(from: &str, to: &str) -> anyhow::Result<Vec<(String, u64)>> {
    let Some(path) = from.strip_prefix("sqlite://").or_else(|| from.strip_prefix("sqlite:")) else {
        bail!("--from must be sqlite://PATH");
    };
    if !is_postgres_url(to) {
        bail!("--to must be postgres://...");
    }
    let path = path.split('?').next().unwrap_or(path);
    if !Path::new(path).is_file() {
        bail!("{path} does not exist");
    }
    let source = SqliteStore::connect(from)
        .await
        .with_context(|| format!("opening {from}"))?;
    let target = PostgresStore::connect(to)
        .await
        .with_context(|| format!("opening {}", redact_url(to)))?;
    let counts = twofold_store::copy::sqlite_to_postgres(&source, &target)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    source.close().await;
    target.close().await;
    Ok(counts)
}

/// Whether `url` names a PostgreSQL database.
#[must_use]
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres:") || url.starts_with("postgresql:")
}

/// The URL with any password replaced by `***`, for messages and logs.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The properties file text for a token.
///
/// # Errors
/// When the token is unknown, revoked, or its key does not open.
pub async fn properties_for(core: &Core, settings: &Settings, token: &ApiTokenId) -> anyhow::Result<Properties> {
    let (stored, key) = core.token_key(token).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let org = core
        .store
        .org_by_id(stored.org_id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .context("the token's organization is gone")?;
    let idp_url = idp_url_for_operators(settings);
    Ok(Properties {
        use_base64_key: encode_key(&key),
        use_signature: true,
        token: token.0.clone(),
        admin_url: idp_url.clone(),
        idp_url,
        org_alias: org.alias.0,
        authenticator_url: None,
    })
}

/// The `idp_url` to print in properties files. `serve` knows its address; an operator
/// command run beside a server usually does not (its `--listen` is the default), so unless
/// `--public-url` is given it reuses the URL of the server's own `pingid.properties`.
fn idp_url_for_operators(settings: &Settings) -> String {
    if settings.public_url.is_none()
        && let Ok(text) = std::fs::read_to_string(settings.properties_file())
        && let Ok(existing) = Properties::parse(&text)
    {
        return existing.idp_url;
    }
    settings.idp_url()
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("properties.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Opens everything the server needs. On an empty data directory this creates the
/// master key, the database, the `default` organization with a full-scope token, and
/// `pingid.properties`; on later starts it rewrites the properties file when the public
/// URL changed, and checks that the master key opens the stored keys.
///
/// # Errors
/// Any start-up failure, with its cause.
pub async fn open(settings: &Settings, clock: Arc<dyn Clock>, random: Arc<dyn Random>) -> anyhow::Result<Bootstrapped> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    // The database, outbox and reports hold contact details: the directory is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&settings.data_dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", settings.data_dir.display()))?;
    }
    let opened = open_store(settings).await?;
    let orgs = opened.store.list_orgs().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    // A new master key only for a new database: regenerating it for a database that
    // holds sealed keys would lock every client out and split the secrets between keys.
    let key_file = settings.master_key_file();
    if !orgs.is_empty() && !key_file.exists() {
        bail!(
            "{} is missing but the database already holds organizations; restore the master key \
             (or point TWOFOLD_MASTER_KEY_FILE at it)",
            key_file.display()
        );
    }
    let master = master_key(&key_file, random.as_ref(), true)?;
    let (core, outbox) = wire(opened, clock, random, master, settings)?;
    core.check_master_key().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let props_path = settings.properties_file();
    let mut first_start = false;
    if orgs.is_empty() {
        let (_, issued) = core.create_org("default").await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let props = properties_for(&core, settings, &issued.token).await?;
        write_private(&props_path, &props.to_file_string())?;
        first_start = true;
    } else if let Ok(text) = std::fs::read_to_string(&props_path) {
        let existing = Properties::parse(&text).context("reading the existing pingid.properties")?;
        let token = ApiTokenId(existing.token.clone());
        match core.token_key(&token).await {
            Ok(_) => {
                let mut fresh = properties_for(&core, settings, &token).await?;
                fresh.idp_url = settings.idp_url();
                fresh.admin_url = settings.idp_url();
                if fresh != existing {
                    write_private(&props_path, &fresh.to_file_string())?;
                }
            }
            Err(twofold_core::DomainError::Internal(_)) => {
                bail!(
                    "the master key does not open the stored keys: is TWOFOLD_MASTER_KEY_FILE the one this database was created with?"
                )
            }
            Err(_) => {} // revoked or foreign token: leave the operator's file alone.
        }
    }
    Ok(Bootstrapped {
        core,
        first_start,
        outbox,
    })
}

/// Builds the core with the configured delivery backends behind the durable outbox,
/// Yubico validation, and the push signals (in-process; on PostgreSQL also broadcast to
/// every node, with this node's listener started here). The outbox's worker is not
/// started here: the caller that serves requests starts it.
///
/// # Errors
/// When `twofold.toml` is unreadable or its sections are invalid.
pub fn wire(
    opened: OpenedStore,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    master: MasterKey,
    settings: &Settings,
) -> anyhow::Result<(Core, DurableOutbox)> {
    let OpenedStore { store, notifier } = opened;
    let file = settings.file_config()?;
    let delivery = twofold_delivery::Delivery::new(&file.delivery, settings.outbox_file())
        .context("the [delivery] configuration")?;
    let policy = OutboxPolicy::for_deadline(delivery.longest_deadline());
    let outbox = DurableOutbox::new(
        store.clone(),
        master.clone(),
        clock.clone(),
        random.clone(),
        Arc::new(delivery),
        policy,
    );
    let local = Arc::new(crate::signals::TokioSignals::default());
    let signals: Arc<dyn twofold_core::push::PushSignals> = match notifier {
        Some(notifier) => {
            drop(crate::shared_signals::spawn_listener(local.clone(), notifier.clone()));
            Arc::new(crate::shared_signals::SharedSignals::new(local, notifier))
        }
        None => local,
    };
    let mut core = Core::new(store, clock, random, master, Arc::new(outbox.clone())).with_signals(signals);
    if let Some(yubico) = &file.yubico {
        let client = twofold_delivery::YubicoClient::new(yubico).context("the [yubico] configuration")?;
        core = core.with_yubico_validator(Arc::new(client));
    }
    Ok((core, outbox))
}

/// Creates a token for an organization and returns its properties.
///
/// # Errors
/// Unknown organization, store failures.
pub async fn new_token_properties(
    core: &Core,
    settings: &Settings,
    org: &str,
    scope: TokenScope,
) -> anyhow::Result<Properties> {
    let org = core.find_org(org).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let issued = core
        .create_token(&org, scope)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    properties_for(core, settings, &issued.token).await
}

#[cfg(test)]
mod tests {
    use super::{is_postgres_url, redact_url};

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://twofold:s3cret@db.internal:5432/twofold?sslmode=require"),
            "postgres://twofold:***@db.internal:5432/twofold?sslmode=require"
        );
        assert_eq!(redact_url("postgres://a:b:c@h/d"), "postgres://a:***@h/d");
        assert_eq!(redact_url("postgres://user@h/d"), "postgres://user@h/d");
        assert_eq!(
            redact_url("sqlite:///var/lib/twofold/twofold.db"),
            "sqlite:///var/lib/twofold/twofold.db"
        );
    }

    #[test]
    fn engines_are_picked_by_scheme() {
        assert!(is_postgres_url("postgres://h/d") && is_postgres_url("postgresql://h/d"));
        assert!(!is_postgres_url("sqlite://twofold.db") && !is_postgres_url("mysql://h/d"));
    }
}
