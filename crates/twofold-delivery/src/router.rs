//! [`Delivery`]: the one [`MessageSender`] the server wires in. It picks the backend for
//! each message's organization and channel, retries within the backend's timeout, and
//! drops a message id it has already delivered.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use twofold_core::delivery::{Channel, DeliveryError, MessageSender, OutboundMessage};

use crate::config::{ChannelsConfig, ConfigError, DeliveryConfig, EmailConfig, GatewayConfig};
use crate::file::FileOutbox;
use crate::retry::{RetryPolicy, Retrying};
use crate::smtp::SmtpSender;
use crate::templates::Templates;
use crate::twilio::TwilioSender;
use crate::webhook::WebhookSender;

/// Which kind of backend serves a route (for start-up messages and for refusing the
/// file outbox where real delivery is required).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// The JSON-lines file outbox (nothing leaves the machine).
    File,
    /// An SMTP server.
    Smtp,
    /// A signed JSON webhook.
    Webhook,
    /// Twilio's REST API.
    Twilio,
}

struct Route {
    kind: BackendKind,
    /// The longest one send through this route may take, retries included.
    deadline: Duration,
    sender: Box<dyn MessageSender>,
}

/// A file append is local and quick; this only bounds a stuck disk.
const FILE_DEADLINE: Duration = Duration::from_secs(5);

struct Routes {
    email: Route,
    sms: Route,
    voice: Route,
}

impl Routes {
    fn get(&self, channel: Channel) -> &Route {
        match channel {
            Channel::Email => &self.email,
            Channel::Sms => &self.sms,
            Channel::Voice => &self.voice,
        }
    }

    fn all(&self) -> [&Route; 3] {
        [&self.email, &self.sms, &self.voice]
    }
}

/// How many delivered message ids are remembered to drop repeats.
const REMEMBERED_IDS: usize = 4096;

/// Ids being sent now, and the latest ones delivered.
#[derive(Default)]
struct Recent {
    in_flight: HashSet<String>,
    sent: HashSet<String>,
    order: VecDeque<String>,
}

/// Routes messages to the configured backends. See [`DeliveryConfig`] for how a
/// backend is chosen.
pub struct Delivery {
    default: Routes,
    orgs: HashMap<String, Routes>,
    outbox: FileOutbox,
    recent: Mutex<Recent>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds = |r: &Routes| [r.email.kind, r.sms.kind, r.voice.kind];
        f.debug_struct("Delivery")
            .field("default", &kinds(&self.default))
            .field(
                "orgs",
                &self.orgs.iter().map(|(k, r)| (k, kinds(r))).collect::<HashMap<_, _>>(),
            )
            .field("outbox", &self.outbox.path())
            .finish_non_exhaustive()
    }
}

fn rescope(scope: &str) -> impl Fn(ConfigError) -> ConfigError + '_ {
    move |e| ConfigError::new(scope, e.message)
}

fn email_route(
    config: Option<&EmailConfig>,
    templates: &Templates,
    outbox: &FileOutbox,
    scope: &str,
) -> Result<Route, ConfigError> {
    let Some(config) = config else {
        return Ok(file_route(templates, outbox));
    };
    let sender = SmtpSender::new(config, templates.clone()).map_err(rescope(scope))?;
    let policy = RetryPolicy::within(Duration::from_secs(config.timeout_secs));
    Ok(Route {
        kind: BackendKind::Smtp,
        deadline: policy.deadline,
        sender: Box::new(Retrying::new(sender, policy)),
    })
}

fn gateway_route(
    config: Option<&GatewayConfig>,
    templates: &Templates,
    outbox: &FileOutbox,
    scope: &str,
) -> Result<Route, ConfigError> {
    let Some(config) = config else {
        return Ok(file_route(templates, outbox));
    };
    let policy = RetryPolicy::within(Duration::from_secs(config.timeout_secs()));
    Ok(match config {
        GatewayConfig::Webhook(c) => Route {
            kind: BackendKind::Webhook,
            deadline: policy.deadline,
            sender: Box::new(Retrying::new(
                WebhookSender::new(c, templates.clone()).map_err(rescope(scope))?,
                policy,
            )),
        },
        GatewayConfig::Twilio(c) => Route {
            kind: BackendKind::Twilio,
            deadline: policy.deadline,
            sender: Box::new(Retrying::new(
                TwilioSender::new(c, templates.clone()).map_err(rescope(scope))?,
                policy,
            )),
        },
    })
}

fn file_route(templates: &Templates, outbox: &FileOutbox) -> Route {
    Route {
        kind: BackendKind::File,
        deadline: FILE_DEADLINE,
        sender: Box::new(outbox.with_templates(templates.clone())),
    }
}

/// The routes of one scope: each channel from `own`, else from `base`, else the outbox;
/// each text from `own`, else from `base`, else built in.
fn routes(
    own: &ChannelsConfig,
    base: &ChannelsConfig,
    outbox: &FileOutbox,
    scope: &str,
) -> Result<Routes, ConfigError> {
    let templates = own.templates.or(&base.templates);
    Ok(Routes {
        email: email_route(
            own.email.as_ref().or(base.email.as_ref()),
            &templates,
            outbox,
            &format!("{scope}.email"),
        )?,
        sms: gateway_route(
            own.sms.as_ref().or(base.sms.as_ref()),
            &templates,
            outbox,
            &format!("{scope}.sms"),
        )?,
        voice: gateway_route(
            own.voice.as_ref().or(base.voice.as_ref()),
            &templates,
            outbox,
            &format!("{scope}.voice"),
        )?,
    })
}

impl Delivery {
    /// Builds every route of `config`; channels without a backend write to the file at
    /// `outbox_path` (created on the first such message, not now).
    ///
    /// # Errors
    /// The first unusable setting, with its place (`orgs.acme.sms: …`).
    pub fn new(config: &DeliveryConfig, outbox_path: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let outbox = FileOutbox::new(outbox_path, Templates::default());
        let empty = ChannelsConfig::default();
        let default = routes(&config.default, &empty, &outbox, "default")?;
        let mut orgs = HashMap::with_capacity(config.orgs.len());
        for (key, own) in &config.orgs {
            orgs.insert(
                key.clone(),
                routes(own, &config.default, &outbox, &format!("orgs.{key}"))?,
            );
        }
        Ok(Delivery {
            default,
            orgs,
            outbox,
            recent: Mutex::default(),
        })
    }

    fn routes_for(&self, org_alias: &str, org_name: &str) -> &Routes {
        self.orgs
            .get(org_alias)
            .or_else(|| self.orgs.get(org_name))
            .unwrap_or(&self.default)
    }

    /// The backend a message of this organization and channel goes to.
    #[must_use]
    pub fn backend_for(&self, org_alias: &str, org_name: &str, channel: Channel) -> BackendKind {
        self.routes_for(org_alias, org_name).get(channel).kind
    }

    /// Whether any organization's channel ends in the file outbox.
    #[must_use]
    pub fn uses_file_outbox(&self) -> bool {
        std::iter::once(&self.default)
            .chain(self.orgs.values())
            .any(|r| r.all().iter().any(|route| route.kind == BackendKind::File))
    }

    /// The longest any route may take for one message, retries included: how long a
    /// request waits for its code to go out.
    #[must_use]
    pub fn longest_deadline(&self) -> Duration {
        std::iter::once(&self.default)
            .chain(self.orgs.values())
            .flat_map(|r| r.all().map(|route| route.deadline))
            .max()
            .unwrap_or(FILE_DEADLINE)
    }

    /// The file outbox's path.
    #[must_use]
    pub fn outbox_path(&self) -> &Path {
        self.outbox.path()
    }

    fn recent(&self) -> MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Clears an id's in-flight mark however the send ends, cancellation included, so an
/// abandoned send does not block the id forever.
struct InFlight<'a> {
    delivery: &'a Delivery,
    id: &'a str,
    delivered: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut recent = self.delivery.recent();
        recent.in_flight.remove(self.id);
        if self.delivered {
            recent.sent.insert(self.id.to_owned());
            recent.order.push_back(self.id.to_owned());
            if recent.order.len() > REMEMBERED_IDS
                && let Some(oldest) = recent.order.pop_front()
            {
                recent.sent.remove(&oldest);
            }
        }
    }
}

#[async_trait]
impl MessageSender for Delivery {
    async fn send(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        let route = self
            .routes_for(&message.org_alias, &message.org_name)
            .get(message.channel);
        {
            let mut recent = self.recent();
            if recent.sent.contains(&message.id) {
                tracing::debug!(id = %message.id, "message already delivered; not sending it again");
                return Ok(());
            }
            if !recent.in_flight.insert(message.id.clone()) {
                return Err(DeliveryError::Transient(format!(
                    "message {} is already being sent",
                    message.id
                )));
            }
        }
        let mut guard = InFlight {
            delivery: self,
            id: &message.id,
            delivered: false,
        };
        let result = route.sender.send(message).await;
        let (id, org, channel, backend) = (&message.id, &message.org_alias, message.channel.as_str(), route.kind);
        match &result {
            Ok(()) => {
                guard.delivered = true;
                tracing::debug!(%id, %org, channel, ?backend, "message delivered");
            }
            Err(error) => tracing::warn!(%id, %org, channel, ?backend, %error, "message not delivered"),
        }
        result
    }
}
