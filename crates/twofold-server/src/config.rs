//! Server settings. Built once at start-up from command-line flags and `TWOFOLD_*`
//! environment variables (clap reads both) and passed down; there is no global config.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the server listens, keeps its data, and how clients reach it.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, global = true, env = "TWOFOLD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data directory: twofold.db, master.key and pingid.properties live here.
    #[arg(long, global = true, env = "TWOFOLD_DATA_DIR", default_value = "twofold-data")]
    pub data_dir: PathBuf,
    /// The URL clients use to reach this server (default `http://<listen>`); the
    /// properties file's idp_url is this plus /pingid.
    #[arg(long, global = true, env = "TWOFOLD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Database URL: `sqlite://PATH` (default `sqlite://<data-dir>/twofold.db`) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` for several nodes on one database.
    #[arg(long, global = true, env = "TWOFOLD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL only: most connections this node opens (N nodes open up to N times
    /// this many; keep the sum under the server's max_connections).
    #[arg(long, global = true, env = "TWOFOLD_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
    /// PostgreSQL only: seconds a request waits for a free connection before it fails
    /// with 10571.
    #[arg(long, global = true, env = "TWOFOLD_DATABASE_ACQUIRE_TIMEOUT", default_value_t = 10)]
    pub database_acquire_timeout: u64,
    /// Master key file (default `<data-dir>/master.key`, created on first start).
    #[arg(long, global = true, env = "TWOFOLD_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Configuration file with the `[delivery]` section (default `<data-dir>/twofold.toml`
    /// when it exists).
    #[arg(long, global = true, env = "TWOFOLD_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The contents of `twofold.toml`. Unknown keys are refused, so a misspelt key fails at
/// start-up instead of being ignored.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Where SMS, voice and email codes go (docs/configuration.md).
    pub delivery: twofold_delivery::DeliveryConfig,
    /// A Yubico validation service; without it YubiKeys validate against imported keys.
    pub yubico: Option<twofold_delivery::YubicoConfig>,
}

impl Settings {
    /// Settings for a data directory with every other value at its default (tests).
    #[must_use]
    pub fn for_data_dir(data_dir: PathBuf, listen: SocketAddr) -> Self {
        Self {
            listen,
            data_dir,
            public_url: None,
            database_url: None,
            database_max_connections: 16,
            database_acquire_timeout: 10,
            master_key_file: None,
            config: None,
        }
    }

    /// The public base URL, without a trailing slash.
    #[must_use]
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }

    /// `idp_url` of the properties files: the public URL + `/pingid`.
    #[must_use]
    pub fn idp_url(&self) -> String {
        format!("{}/pingid", self.public_url())
    }

    /// The database URL in effect.
    #[must_use]
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("twofold.db").display()))
    }

    /// The master key file in effect.
    #[must_use]
    pub fn master_key_file(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// Reads the configuration file: the one named by `--config` (which must exist), else
    /// `<data-dir>/twofold.toml` when present, else the defaults.
    ///
    /// # Errors
    /// When the file cannot be read or has unknown or malformed keys.
    pub fn file_config(&self) -> anyhow::Result<FileConfig> {
        use anyhow::Context as _;
        let (path, required) = match &self.config {
            Some(p) => (p.clone(), true),
            None => (self.data_dir.join("twofold.toml"), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("reading {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(FileConfig::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The file outbox of the `file` delivery backend.
    #[must_use]
    pub fn outbox_file(&self) -> PathBuf {
        self.data_dir.join("outbox.jsonl")
    }

    /// The properties file of the bootstrap organization.
    #[must_use]
    pub fn properties_file(&self) -> PathBuf {
        self.data_dir.join("pingid.properties")
    }
}
