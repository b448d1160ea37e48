//! The `file` backend: every message becomes one JSON line in `outbox.jsonl`.
//!
//! It is the zero-configuration default and the documented way for developers and CI to
//! read the codes a server sent, so it is the one place where the code is written out.
//! The file is created with mode 0600 for that reason.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat};
use serde::Serialize;
use twofold_core::delivery::{DeliveryError, MessageSender, OutboundMessage};

use crate::templates::Templates;

/// Appends messages to a JSON-lines file.
///
/// The file is opened for each message (append, create) rather than held open, so that
/// a developer who deletes or rotates it sees the next message in a fresh file instead
/// of losing it to an unlinked inode. Each line is one `write` under a lock shared by
/// every clone, so lines from concurrent sends never interleave.
#[derive(Debug, Clone)]
pub struct FileOutbox {
    path: Arc<PathBuf>,
    lock: Arc<Mutex<()>>,
    templates: Templates,
}

/// One line of the outbox. The field order is the documented one.
#[derive(Serialize)]
struct Line<'a> {
    channel: &'static str,
    to: &'a str,
    subject: Option<&'a str>,
    body: &'a str,
    otp: &'a str,
    #[serde(rename = "createdAt")]
    created_at: String,
}

impl FileOutbox {
    /// An outbox writing to `path`, rendering texts with `templates`. Nothing is
    /// touched on disk until the first message.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>, templates: Templates) -> Self {
        FileOutbox {
            path: Arc::new(path.into()),
            lock: Arc::new(Mutex::new(())),
            templates,
        }
    }

    /// The same file (and lock) with other templates, for an organization that
    /// overrides texts but has no gateway of its own.
    #[must_use]
    pub fn with_templates(&self, templates: Templates) -> Self {
        FileOutbox {
            path: Arc::clone(&self.path),
            lock: Arc::clone(&self.lock),
            templates,
        }
    }

    /// Where the lines go.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The JSON line (with its newline) for `message`.
    fn line(&self, message: &OutboundMessage) -> Result<Vec<u8>, DeliveryError> {
        let rendered = self.templates.render(message);
        let line = Line {
            channel: message.channel.as_str(),
            to: &message.to,
            subject: rendered.subject.as_deref(),
            body: &rendered.body,
            otp: &message.otp,
            created_at: rfc3339_millis(message.created_ms),
        };
        let mut bytes =
            serde_json::to_vec(&line).map_err(|e| DeliveryError::Permanent(format!("outbox encoding: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// Formats epoch milliseconds as `2024-05-01T12:00:00.123Z`. The time comes from the
/// message, never from the clock, so the outbox is reproducible under a fixed clock.
#[must_use]
pub fn rfc3339_millis(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn append(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // One write call for the whole line: with O_APPEND it lands at the end as a unit.
    let written = file.write(line)?;
    if written == line.len() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            "short write to the outbox",
        ))
    }
}

#[async_trait]
impl MessageSender for FileOutbox {
    async fn send(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        let line = self.line(message)?;
        let path = Arc::clone(&self.path);
        let lock = Arc::clone(&self.lock);
        let result = tokio::task::spawn_blocking(move || {
            let _guard = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            append(&path, &line)
        })
        .await
        .map_err(|e| DeliveryError::Transient(format!("outbox writer stopped: {e}")))?;
        result.map_err(|e| DeliveryError::Transient(format!("cannot append to {}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339_millis;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
    }
}
