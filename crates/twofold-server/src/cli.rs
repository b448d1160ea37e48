//! The command line of `twofold`. Every subcommand reads the same settings (flags or
//! `TWOFOLD_*` variables), so `twofold org list` looks at the same database as `serve`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use twofold_core::ids::ApiTokenId;
use twofold_core::model::TokenScope;
use twofold_core::{Core, OsRandom, SystemClock};
use twofold_server::bootstrap::{self, new_token_properties, properties_for};
use twofold_server::{AppState, Settings, router};

/// Twofold: a self-hostable MFA server that speaks the PingID API.
#[derive(Debug, Parser)]
#[command(
    name = "twofold",
    version,
    about,
    after_help = "Logging: TWOFOLD_LOG (tracing filter, default info). Documentation: docs/configuration.md, docs/deployment.md."
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve,
    /// Apply pending database migrations (SQLite or PostgreSQL) and exit.
    Migrate,
    /// Copy an installation from SQLite to an empty PostgreSQL database: every table, rows
    /// as stored (secrets stay sealed under the same master key), in one transaction,
    /// with row counts verified. Stop the server first; keep the master key.
    MigrateData {
        /// The source, `sqlite://PATH` (brought to this build's schema first).
        #[arg(long)]
        from: String,
        /// The target, `postgres://...`; must hold no rows.
        #[arg(long)]
        to: String,
    },
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage API tokens (the token + key pairs of pingid.properties files).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the organization's stock of OATH hardware tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Administrator's guards on a user: lock (20524) or block OTP authentication (20565).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage imported YubiKey key material (local Yubico OTP validation).
    #[command(subcommand)]
    Yubikey(YubikeyCommand),
    /// Write an organization's user report (the getorgreport columns) to stdout.
    Report {
        /// Organization alias or name.
        #[arg(long)]
        org: String,
        /// `csv` or `json`.
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// Create many users with devices directly in the store, for benchmarks and report
    /// tests (not through the API, so it is fast): `seed --org ORG --users 100000`.
    Seed {
        /// Organization alias or name.
        #[arg(long)]
        org: String,
        /// Number of users to create (named `<prefix><n>`).
        #[arg(long)]
        users: u64,
        /// Username prefix.
        #[arg(long, default_value = "user")]
        prefix: String,
        /// Derive each authenticator-app secret from this key and the username
        /// (HMAC-SHA256), so a load generator can compute codes. Benchmarks only.
        #[arg(long)]
        bench_key: Option<String>,
    },
    /// Exit 0 when a running server answers /readyz (for container health checks).
    Healthcheck,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Lock a user: every authentication answers 20524 until `unlock`.
    Lock {
        /// Organization alias or name.
        #[arg(long)]
        org: String,
        /// Username.
        user: String,
    },
    /// Lift an administrator's lock (20524) and end an automatic lockout (20526).
    Unlock {
        /// Organization alias or name.
        #[arg(long)]
        org: String,
        /// Username.
        user: String,
    },
    /// Block OTP authentication for a user (20565) until `unblock-otp`.
    BlockOtp {
        /// Organization alias or name.
        #[arg(long)]
        org: String,
        /// Username.
        user: String,
    },
    /// Lift an OTP block.
    UnblockOtp {
        /// Organization alias or name.
        #[arg(long)]
        org: String,
        /// Username.
        user: String,
    },
}

#[derive(Debug, Subcommand)]
enum YubikeyCommand {
    /// Import keys from the CSV that YubiKey personalization tools write:
    /// `serial,public id (modhex),private id (hex),AES key (hex)` per line, or the
    /// `Yubico OTP,<date>,<slot>,<public id>,<private id>,<AES key>,...` log format.
    /// Lines starting with # and a header line are skipped; known public ids are kept.
    Import {
        /// Organization alias or name.
        #[arg(long)]
        org: String,
        /// The CSV file.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Import tokens from a CSV file: `serial,type,secret[,digits[,period]]` per line
    /// (type HOTP or TOTP; secret in hex, or base32; digits 6 or 8; period 30 or 60).
    /// A header line and lines starting with # are skipped. Existing serials are kept.
    Import {
        /// Organization alias or name.
        #[arg(long)]
        org: String,
        /// The CSV file.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organization with a full-scope token; prints its properties file.
    Create {
        /// Unique name.
        name: String,
    },
    /// List organizations.
    List,
    /// Show an organization's settings.
    Show {
        /// Alias or name.
        org: String,
    },
    /// Change settings: `twofold org set ORG max_users=100 disabled_services=vpn,ssh`.
    Set {
        /// Alias or name.
        org: String,
        /// `key=value` pairs; the keys are the ones `twofold org show ORG` prints with their
        /// current values (each described in docs/configuration.md).
        #[arg(required = true)]
        settings: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; prints its properties file (the only time the key is shown,
    /// besides `token properties`).
    Create {
        /// Organization alias or name.
        #[arg(long)]
        org: String,
        /// `full` (every operation) or `auth-only` (authentication operations only).
        #[arg(long, default_value = "full")]
        scope: String,
    },
    /// List an organization's tokens (never their keys).
    List {
        /// Organization alias or name.
        #[arg(long)]
        org: String,
    },
    /// Revoke a token: requests signed with it get 401 from now on.
    Revoke {
        /// The token.
        token: String,
    },
    /// Print the properties file of a live token.
    Properties {
        /// The token.
        token: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn operator_core(settings: &Settings) -> anyhow::Result<Core> {
    let random: Arc<dyn twofold_core::Random> = Arc::new(OsRandom);
    let master = bootstrap::master_key(&settings.master_key_file(), random.as_ref(), false).with_context(|| {
        format!(
            "no master key yet: start the server once (cargo run --release) to create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let opened = bootstrap::open_store(settings).await?;
    let (core, outbox) = bootstrap::wire(opened, Arc::new(SystemClock), random, master, settings)?;
    // Operator commands send no codes today; a worker keeps any that would from waiting.
    drop(outbox.spawn_worker());
    Ok(core)
}

fn domain(e: twofold_core::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            bootstrap::open_store(&settings).await?;
            println!(
                "migrations applied to {}",
                bootstrap::redact_url(&settings.database_url())
            );
            Ok(())
        }
        Command::MigrateData { from, to } => {
            let counts = bootstrap::migrate_data(&from, &to).await?;
            for (table, rows) in &counts {
                println!("{table}\t{rows} rows");
            }
            println!("copied {} tables to {}", counts.len(), bootstrap::redact_url(&to));
            Ok(())
        }
        Command::Org(cmd) => org(cmd, &settings).await,
        Command::Token(cmd) => token(cmd, &settings).await,
        Command::Tokens(TokensCommand::Import { org, file }) => import_tokens(&settings, &org, &file).await,
        Command::Yubikey(YubikeyCommand::Import { org, file }) => import_yubikeys(&settings, &org, &file).await,
        Command::User(cmd) => user_guard(&settings, cmd).await,
        Command::Report { org, format } => report(&settings, &org, &format).await,
        Command::Seed {
            org,
            users,
            prefix,
            bench_key,
        } => seed(&settings, &org, users, &prefix, bench_key.as_deref()).await,
        Command::Healthcheck => healthcheck(&settings).await,
    }
}

async fn org(cmd: OrgCommand, settings: &Settings) -> anyhow::Result<()> {
    let core = operator_core(settings).await?;
    match cmd {
        OrgCommand::Create { name } => {
            let (_, issued) = core.create_org(&name).await.map_err(domain)?;
            print!(
                "{}",
                properties_for(&core, settings, &issued.token).await?.to_file_string()
            );
        }
        OrgCommand::List => {
            for o in core.store.list_orgs().await.map_err(|e| anyhow::anyhow!("{e}"))? {
                let users = core.store.count_users(o.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("{}\t{}\t{} users", o.alias, o.name, users);
            }
        }
        OrgCommand::Show { org } => {
            let o = core.find_org(&org).await.map_err(domain)?;
            println!("alias={}\nname={}", o.alias, o.name);
            for (k, v) in o.settings.to_pairs() {
                println!("{k}={v}");
            }
        }
        OrgCommand::Set { org, settings: pairs } => {
            let mut o = core.find_org(&org).await.map_err(domain)?;
            for pair in pairs {
                let (k, v) = pair
                    .split_once('=')
                    .with_context(|| format!("{pair:?} is not key=value"))?;
                o.settings = core.set_org_setting(&o, k.trim(), v.trim()).await.map_err(domain)?;
            }
            for (k, v) in o.settings.to_pairs() {
                println!("{k}={v}");
            }
        }
    }
    Ok(())
}

async fn token(cmd: TokenCommand, settings: &Settings) -> anyhow::Result<()> {
    let core = operator_core(settings).await?;
    match cmd {
        TokenCommand::Create { org, scope } => {
            let scope =
                TokenScope::parse(&scope).with_context(|| format!("scope {scope:?} is not full or auth-only"))?;
            print!(
                "{}",
                new_token_properties(&core, settings, &org, scope)
                    .await?
                    .to_file_string()
            );
        }
        TokenCommand::List { org } => {
            let o = core.find_org(&org).await.map_err(domain)?;
            for t in core.store.tokens_of(o.id).await.map_err(|e| anyhow::anyhow!("{e}"))? {
                let state = if t.revoked_ms.is_some() { "revoked" } else { "live" };
                println!("{}\t{}\t{}", t.token, t.scope.as_str(), state);
            }
        }
        TokenCommand::Revoke { token } => {
            core.revoke_token(&ApiTokenId(token.clone())).await.map_err(domain)?;
            println!("revoked {token}");
        }
        TokenCommand::Properties { token } => {
            print!(
                "{}",
                properties_for(&core, settings, &ApiTokenId(token))
                    .await?
                    .to_file_string()
            );
        }
    }
    Ok(())
}

/// Splits a CSV line of simple fields (no embedded commas), trimming spaces and quotes.
fn csv_fields(line: &str) -> Vec<String> {
    line.split(',')
        .map(|f| f.trim().trim_matches('"').trim().to_string())
        .collect()
}

async fn import_tokens(settings: &Settings, org: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let core = operator_core(settings).await?;
    let org = core.find_org(org).await.map_err(domain)?;
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut tokens = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let f = csv_fields(line);
        if f.len() < 3 {
            anyhow::bail!("{line:?}: expected serial,type,secret[,digits[,period]]");
        }
        if f[1].eq_ignore_ascii_case("type") || f[1].eq_ignore_ascii_case("tokentype") {
            continue; // header
        }
        tokens.push(twofold_core::services::TokenInput {
            serial: f[0].clone(),
            kind: f[1].clone(),
            secret: f[2].clone(),
            digits: f.get(3).cloned(),
            period: f.get(4).cloned(),
        });
    }
    let duplicates = core.import_tokens(&org, &tokens).await.map_err(domain)?;
    println!("imported {} tokens into {}", tokens.len() - duplicates.len(), org.name);
    for (row, serial) in duplicates {
        println!("skipped row {row}: serial {serial} is already in the stock");
    }
    Ok(())
}

async fn import_yubikeys(settings: &Settings, org: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let core = operator_core(settings).await?;
    let org = core.find_org(org).await.map_err(domain)?;
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut keys = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let f = csv_fields(line);
        let key = if f.first().is_some_and(|k| k.eq_ignore_ascii_case("Yubico OTP")) && f.len() >= 6 {
            twofold_core::services::YubikeyInput {
                serial: None,
                public_id: f[3].clone(),
                private_id: f[4].clone(),
                aes_key: f[5].clone(),
            }
        } else if f.len() >= 4 {
            if f[1].to_ascii_lowercase().contains("public") {
                continue; // header
            }
            twofold_core::services::YubikeyInput {
                serial: Some(f[0].clone()),
                public_id: f[1].clone(),
                private_id: f[2].clone(),
                aes_key: f[3].clone(),
            }
        } else {
            anyhow::bail!("{line:?}: expected serial,public id,private id,AES key");
        };
        keys.push(key);
    }
    let duplicates = core.import_yubikeys(&org, &keys).await.map_err(domain)?;
    println!("imported {} YubiKeys into {}", keys.len() - duplicates.len(), org.name);
    for public_id in duplicates {
        println!("skipped {public_id}: already imported");
    }
    Ok(())
}

async fn user_guard(settings: &Settings, cmd: UserCommand) -> anyhow::Result<()> {
    let core = operator_core(settings).await?;
    let (org, user, lock, block, what) = match cmd {
        UserCommand::Lock { org, user } => (org, user, Some(true), None, "locked"),
        UserCommand::Unlock { org, user } => (org, user, Some(false), None, "unlocked"),
        UserCommand::BlockOtp { org, user } => (org, user, None, Some(true), "OTP-blocked"),
        UserCommand::UnblockOtp { org, user } => (org, user, None, Some(false), "OTP-unblocked"),
    };
    let org = core.find_org(&org).await.map_err(domain)?;
    core.set_user_guard(&org, &user, lock, block).await.map_err(domain)?;
    println!("{user} {what}");
    Ok(())
}

async fn report(settings: &Settings, org: &str, format: &str) -> anyhow::Result<()> {
    let format = twofold_server::report::Format::parse(format)
        .with_context(|| format!("format {format:?} is not csv or json"))?;
    let core = operator_core(settings).await?;
    let org = core.find_org(org).await.map_err(domain)?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout());
    twofold_server::report::write_report(&core, org.id, format, &mut out).await
}

async fn seed(settings: &Settings, org: &str, users: u64, prefix: &str, bench_key: Option<&str>) -> anyhow::Result<()> {
    let core = operator_core(settings).await?;
    let org = core.find_org(org).await.map_err(domain)?;
    let started = std::time::Instant::now();
    let created = twofold_server::seed::seed_users(&core, &org, users, prefix, bench_key).await?;
    println!(
        "created {created} users with an SMS and an authenticator-app device in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(settings.listen)
        .await
        .with_context(|| format!("connecting to {}", settings.listen))?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    anyhow::ensure!(
        answer.starts_with("HTTP/1.1 200"),
        "not ready: {}",
        answer.lines().next().unwrap_or("")
    );
    println!("ready");
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TWOFOLD_LOG")
                .unwrap_or_else(|_| "info,sqlx::postgres::notice=warn".into()),
        )
        .init();
    // One server per data directory: a second one would rewrite pingid.properties to its
    // own address and race the first on the same database file.
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let lock_path = settings.data_dir.join("serve.lock");
    let lock = std::fs::File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        anyhow::bail!(
            "another twofold server is running on the data directory {}; stop it or use --data-dir",
            settings.data_dir.display()
        );
    }
    // Bind before touching anything, so a start that cannot listen changes nothing.
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let boot = bootstrap::open(&settings, Arc::new(SystemClock), Arc::new(OsRandom)).await?;
    let props = settings.properties_file();
    if boot.first_start {
        println!("Twofold created organization 'default' and wrote {}", props.display());
    }
    println!(
        "Twofold listening on {} (PingID API at {})",
        settings.listen,
        settings.idp_url()
    );
    println!("  database:   {}", bootstrap::redact_url(&settings.database_url()));
    println!("  properties: {}", props.display());
    println!("  admin URL:  {}", settings.idp_url());
    println!(
        "  try:        cargo run --release -p twofold-cli -- --props {} adduser --user alice --activate",
        props.display()
    );
    let reports_dir = settings.data_dir.join("reports");
    let worker = twofold_server::report::spawn_worker(boot.core.clone(), reports_dir.clone());
    let sender = boot.outbox.spawn_worker();
    let sweeper = twofold_server::sweep::spawn_sweeper(boot.core.clone(), twofold_server::sweep::SWEEP_EVERY);
    let state = AppState {
        core: boot.core,
        metrics: twofold_server::metrics::handle(),
        reports_dir,
        limits: std::sync::Arc::default(),
    };
    twofold_server::serve::serve(listener, router(state), shutdown_signal()).await;
    worker.abort();
    sender.abort();
    sweeper.abort();
    println!("Twofold stopped");
    drop(lock);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
