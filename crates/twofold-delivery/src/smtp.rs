//! Email over SMTP (lettre, rustls with aws-lc-rs, Mozilla's root certificates).
//!
//! Outcomes: 2xx is sent; 4xx replies, timeouts, connection and TLS failures are
//! Transient (the server or network may recover); 5xx replies and client-side refusals
//! (the server does not offer STARTTLS, an invalid recipient address) are Permanent.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use twofold_core::delivery::{Channel, DeliveryError, MessageSender, OutboundMessage};

use crate::config::{ConfigError, EmailConfig, SmtpTls, check_timeout};
use crate::templates::Templates;

/// Sends email through one SMTP server. Each send opens its own connection: codes are
/// rare enough that a pool would mostly hold idle connections the server times out.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    templates: Templates,
    endpoint: String,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender")
            .field("endpoint", &self.endpoint)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl SmtpSender {
    /// A sender for `config`, rendering texts with `templates`.
    ///
    /// # Errors
    /// An invalid sender address or timeout, a password without user name (or the
    /// reverse), or `tls = "none"` for a host that is not loopback.
    pub fn new(config: &EmailConfig, templates: Templates) -> Result<Self, ConfigError> {
        let scope = "email";
        let timeout = check_timeout(scope, config.timeout_secs)?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| ConfigError::new(scope, format!("invalid from address: {e}")))?;
        let port = config.port.unwrap_or(config.tls.default_port());
        let tls_parameters =
            || TlsParameters::new(config.host.clone()).map_err(|e| ConfigError::new(scope, format!("tls: {e}")));
        let tls = match config.tls {
            SmtpTls::Starttls => Tls::Required(tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
            SmtpTls::None if is_loopback(&config.host) => Tls::None,
            SmtpTls::None => {
                return Err(ConfigError::new(
                    scope,
                    "tls = \"none\" is only allowed for a loopback host (codes would cross the network in clear)",
                ));
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
            .port(port)
            .tls(tls)
            .timeout(Some(timeout));
        match (&config.username, &config.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
            }
            (None, None) => {}
            _ => return Err(ConfigError::new(scope, "username and password go together")),
        }
        Ok(SmtpSender {
            transport: builder.build(),
            from,
            timeout,
            templates,
            endpoint: format!("{}:{port}", config.host),
        })
    }

    fn email(&self, message: &OutboundMessage) -> Result<Message, DeliveryError> {
        let to: Mailbox = message
            .to
            .parse()
            .map_err(|e| DeliveryError::Permanent(format!("invalid email address: {e}")))?;
        let rendered = self.templates.render(message);
        let created = u64::try_from(message.created_ms).unwrap_or(0);
        let id_is_safe = !message.id.is_empty()
            && message
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let message_id = id_is_safe.then(|| format!("<{}@{}>", message.id, self.from.email.domain()));
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.unwrap_or_default())
            .date(SystemTime::UNIX_EPOCH + Duration::from_millis(created))
            .message_id(message_id)
            .header(ContentType::TEXT_PLAIN)
            .body(rendered.body)
            .map_err(|e| DeliveryError::Permanent(format!("cannot build the email: {e}")))
    }
}

fn classify(err: &lettre::transport::smtp::Error) -> DeliveryError {
    if err.is_permanent() || err.is_client() {
        DeliveryError::Permanent(format!("smtp: {err}"))
    } else {
        DeliveryError::Transient(format!("smtp: {err}"))
    }
}

#[async_trait]
impl MessageSender for SmtpSender {
    async fn send(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        if message.channel != Channel::Email {
            return Err(DeliveryError::Permanent("smtp sends email only".to_owned()));
        }
        let email = self.email(message)?;
        // lettre's timeout bounds each command; this bounds the whole conversation.
        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(classify(&err)),
            Err(_) => Err(DeliveryError::Transient(format!(
                "smtp: no answer from {} within {:?}",
                self.endpoint, self.timeout
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"] {
            assert!(super::is_loopback(host), "{host}");
        }
        for host in ["mail.example.com", "10.0.0.1", "localhost.example.com"] {
            assert!(!super::is_loopback(host), "{host}");
        }
    }
}
