//! The key file: the device's Ed25519 signing key and its paired accounts (each with the
//! app's TOTP seed). It holds secrets, so it is written with mode 0600 and replaced
//! atomically (write a sibling, rename).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use ed25519_dalek::SigningKey;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use twofold_factors::hotp::{Algorithm, Digits, HotpParams};
use twofold_factors::totp::{self, Period, TotpParams};
use twofold_proto::device_api::TotpSeed;

/// One pairing: a user on a server, through one device id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Base URL of the server (`http://host:port`).
    pub server: String,
    /// The device id (the `x-twofold-device` header).
    pub device_id: i64,
    /// Its UUID.
    pub device_uuid: String,
    /// The user.
    pub user_name: String,
    /// The organization's name.
    pub org_name: String,
    /// `Android`, `iPhone` or `Desktop`.
    pub platform: String,
    /// The app's OTP seed.
    pub totp: TotpSeed,
}

impl Account {
    /// The app's OTP at `now_unix_secs`.
    ///
    /// # Errors
    /// When the stored seed is not base32.
    pub fn otp_at(&self, now_unix_secs: u64) -> anyhow::Result<String> {
        let secret = data_encoding::BASE32_NOPAD
            .decode(self.totp.secret.trim_end_matches('=').as_bytes())
            .context("the stored TOTP secret is not base32")?;
        let params = TotpParams {
            hotp: HotpParams {
                algorithm: Algorithm::from_name(&self.totp.algorithm).unwrap_or(Algorithm::Sha1),
                digits: Digits::from_count(u64::from(self.totp.digits)).unwrap_or(Digits::Six),
            },
            period: Period::from_seconds(u64::from(self.totp.period)).unwrap_or(Period::Secs30),
        };
        Ok(totp::generate(&secret, now_unix_secs, params))
    }

    /// Whether this account receives pushes.
    #[must_use]
    pub fn receives_push(&self) -> bool {
        self.platform != "Desktop"
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    /// Standard base64 of the 32-byte Ed25519 secret key.
    signing_key: String,
    accounts: Vec<Account>,
}

/// The device's key and accounts.
pub struct KeyFile {
    /// The signing key.
    pub key: SigningKey,
    /// Paired accounts.
    pub accounts: Vec<Account>,
    path: PathBuf,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("accounts", &self.accounts.len())
            .finish_non_exhaustive()
    }
}

impl KeyFile {
    /// A new key (not yet saved) for `path`.
    #[must_use]
    pub fn generate(path: &Path) -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        Self {
            key: SigningKey::from_bytes(&secret),
            accounts: Vec::new(),
            path: path.to_path_buf(),
        }
    }

    /// Loads the file, or a new key when it does not exist.
    ///
    /// # Errors
    /// When the file exists but cannot be read or parsed, or is readable by others.
    pub fn load_or_generate(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    let mode = std::fs::metadata(path)?.permissions().mode();
                    if mode & 0o077 != 0 {
                        bail!(
                            "{} is readable by others (mode {:o}); chmod 600 it",
                            path.display(),
                            mode & 0o777
                        );
                    }
                }
                let stored: Stored =
                    serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?;
                let secret: [u8; 32] = data_encoding::BASE64
                    .decode(stored.signing_key.as_bytes())
                    .ok()
                    .and_then(|k| k.try_into().ok())
                    .context("signingKey is not 32 bytes of base64")?;
                Ok(Self {
                    key: SigningKey::from_bytes(&secret),
                    accounts: stored.accounts,
                    path: path.to_path_buf(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::generate(path)),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the file with mode 0600 (a sibling file renamed over it).
    ///
    /// # Errors
    /// IO failures.
    pub fn save(&self) -> anyhow::Result<()> {
        let stored = Stored {
            signing_key: data_encoding::BASE64.encode(&self.key.to_bytes()),
            accounts: self.accounts.clone(),
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = self.path.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        std::io::Write::write_all(&mut file, &serde_json::to_vec_pretty(&stored)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path).with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_key_files_are_private_and_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/key.json");
        let file = KeyFile::generate(&path);
        file.save().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let back = KeyFile::load_or_generate(&path).unwrap();
        assert_eq!(back.key.to_bytes(), file.key.to_bytes());
    }

    #[test]
    fn the_app_otp_is_rfc_6238() {
        // RFC 6238 appendix B, SHA1, T = 59 s: 94287082 → 6 digits 287082.
        let account = Account {
            server: String::new(),
            device_id: 1,
            device_uuid: String::new(),
            user_name: String::new(),
            org_name: String::new(),
            platform: "Android".into(),
            totp: TotpSeed {
                secret: data_encoding::BASE32_NOPAD.encode(b"12345678901234567890"),
                algorithm: "SHA1".into(),
                digits: 6,
                period: 30,
            },
        };
        assert_eq!(account.otp_at(59).unwrap(), "287082");
    }
}
