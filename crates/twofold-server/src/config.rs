//! Server settings. Built once at start-up from command-line flags and `TWOFOLD_*`
//! environment variables (clap reads both) and passed down; there is no global config.

use std::net::SocketAddr;

use serde::Deserialize as _;
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
    /// Configuration file with the `[delivery]` and `[yubico]` sections (default
    /// `<data-dir>/twofold.toml` when it exists; `TWOFOLD_DELIVERY__…` and
    /// `TWOFOLD_YUBICO__…` variables override its keys).
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
    /// `<data-dir>/twofold.toml` when present, else the defaults; then applies the
    /// `TWOFOLD_DELIVERY__…` and `TWOFOLD_YUBICO__…` environment variables over it (see
    /// [`overlay_env`]).
    ///
    /// # Errors
    /// When the file cannot be read or has unknown or malformed keys.
    pub fn file_config(&self) -> anyhow::Result<FileConfig> {
        use anyhow::Context as _;
        let (path, required) = match &self.config {
            Some(p) => (p.clone(), true),
            None => (self.data_dir.join("twofold.toml"), false),
        };
        let mut table = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => toml::Table::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let applied = overlay_env(&mut table, std::env::vars()).context("the TWOFOLD_* configuration variables")?;
        let exists = path.exists();
        FileConfig::deserialize(toml::Value::Table(table)).with_context(|| match (exists, applied.is_empty()) {
            (true, true) => format!("reading {}", path.display()),
            (true, false) => format!("reading {} with the variables {}", path.display(), applied.join(", ")),
            // No file: the variables are the whole configuration.
            (false, _) => format!("the configuration variables {}", applied.join(", ")),
        })
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

/// The sections of the configuration file that environment variables may set.
const ENV_SECTIONS: [&str; 2] = ["delivery", "yubico"];

/// Applies `TWOFOLD_<SECTION>__<KEY>__…=value` variables to a parsed configuration file,
/// so a container can be configured without a file: `TWOFOLD_DELIVERY__DEFAULT__SMS__KIND=twilio`
/// sets `[delivery.default.sms] kind = "twilio"`. Path segments are separated by `__` and
/// lower-cased (so per-organization sections are reached by their lower-case alias or
/// name). Values are text; the numeric keys (`port`, `timeout_secs`, `client_id`) accept
/// a number written as text, so nothing needs quoting. A variable wins over the file. Returns the names of the variables applied, for error messages (never values:
/// they may be passwords).
///
/// # Errors
/// When a variable's path runs into a key that holds a value rather than a section.
pub fn overlay_env(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Vec<String>> {
    let mut applied = Vec::new();
    let mut vars: Vec<_> = vars.into_iter().collect();
    vars.sort();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix("TWOFOLD_") else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        if path.len() < 2 || !ENV_SECTIONS.contains(&path[0].as_str()) || path.iter().any(String::is_empty) {
            continue;
        }
        let (last, sections) = path.split_last().expect("two segments or more");
        let mut here = &mut *table;
        for key in sections {
            let entry = here
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            here = entry
                .as_table_mut()
                .ok_or_else(|| anyhow::anyhow!("{name}: `{key}` is a value, not a section"))?;
        }
        here.insert(last.clone(), toml::Value::String(raw));
        applied.push(name);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    fn config(file: &str, env: &[(&str, &str)]) -> anyhow::Result<FileConfig> {
        let mut table: toml::Table = toml::from_str(file)?;
        overlay_env(&mut table, vars(env))?;
        Ok(FileConfig::deserialize(toml::Value::Table(table))?)
    }

    #[test]
    fn variables_configure_a_gateway_without_a_file() {
        let c = config(
            "",
            &[
                ("TWOFOLD_DELIVERY__DEFAULT__SMS__KIND", "webhook"),
                ("TWOFOLD_DELIVERY__DEFAULT__SMS__URL", "http://127.0.0.1:9/sms"),
                ("TWOFOLD_DELIVERY__DEFAULT__SMS__SECRET", "123456"),
                ("TWOFOLD_DELIVERY__DEFAULT__SMS__TIMEOUT_SECS", "3"),
                ("TWOFOLD_LISTEN", "127.0.0.1:1"),
                ("HOME", "/root"),
            ],
        )
        .unwrap();
        let Some(twofold_delivery::GatewayConfig::Webhook(sms)) = c.delivery.default.sms else {
            panic!("a webhook SMS gateway: {:?}", c.delivery.default.sms);
        };
        assert_eq!(sms.url, "http://127.0.0.1:9/sms");
        assert_eq!(sms.timeout_secs, 3);
    }

    #[test]
    fn a_variable_wins_over_the_file_and_keeps_its_siblings() {
        let file = "[delivery.default.email]\nhost = \"smtp.example.com\"\nfrom = \"a@example.com\"\nport = 25\n";
        let c = config(file, &[("TWOFOLD_DELIVERY__DEFAULT__EMAIL__PORT", "2525")]).unwrap();
        let email = c.delivery.default.email.unwrap();
        assert_eq!((email.host.as_str(), email.port), ("smtp.example.com", Some(2525)));
    }

    #[test]
    fn numeric_keys_take_text_and_refuse_what_is_not_a_number() {
        let base = [
            ("TWOFOLD_YUBICO__URL", "https://127.0.0.1:9/wsapi/2.0/verify"),
            ("TWOFOLD_YUBICO__CLIENT_ID", "42"),
            ("TWOFOLD_YUBICO__API_KEY", "c2VjcmV0IGtleSBieXRlcw=="),
        ];
        let c = config("", &base).unwrap();
        assert_eq!(c.yubico.map(|y| y.client_id), Some(42));
        let bad = [base[0], ("TWOFOLD_YUBICO__CLIENT_ID", "forty-two"), base[2]];
        assert!(config("", &bad).is_err());
    }

    #[test]
    fn a_path_through_a_value_and_a_misspelt_key_are_refused() {
        let mut t: toml::Table = toml::from_str("[delivery]\ndefault = 3\n").unwrap();
        let err = overlay_env(&mut t, vars(&[("TWOFOLD_DELIVERY__DEFAULT__SMS", "x")])).unwrap_err();
        assert!(err.to_string().contains("TWOFOLD_DELIVERY__DEFAULT__SMS"), "{err}");
        assert!(config("", &[("TWOFOLD_DELIVERY__DEFAULT__SMSS__KIND", "webhook")]).is_err());
    }
}
