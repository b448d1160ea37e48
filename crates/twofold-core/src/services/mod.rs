//! Services: the operations of Twofold, combining the ports. One file per family.

mod auth;
mod companion;
mod devices;
mod orgs;
mod pairing;
mod push;
mod sweep;
mod tokens;
mod users;
mod yubikey;

use std::sync::Arc;

pub use auth::{AuthRequest, AuthStart, AuthStep, OfflineOutcome};
pub use companion::{DeviceCall, PairedApp, PollOutcome};
pub use devices::DeviceView;
pub use orgs::{IssuedToken, Verification};
pub use pairing::{AppPairing, PairingStart};
pub use push::{OnlineApproval, PushDecision};
pub use sweep::SESSION_KEEP_MS;
pub use tokens::{RevokeOutcome, TokenInput, stock_context};
pub use users::{NewUserInput, ProfileInput, UserView};
pub use yubikey::YubikeyInput;

use crate::clock::Clock;
use crate::crypto::MasterKey;
use crate::delivery::{MessageSender, YubicoValidator};
use crate::push::PushSignals;
use crate::random::Random;
use crate::store::Store;

/// The application core: the ports plus the master key. Cheap to clone.
#[derive(Clone)]
pub struct Core {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub random: Arc<dyn Random>,
    /// Seals secrets at rest.
    pub master: MasterKey,
    /// Sends SMS, voice and email codes.
    pub sender: Arc<dyn MessageSender>,
    /// A remote Yubico validation service; `None` validates against imported keys.
    pub yubico: Option<Arc<dyn YubicoValidator>>,
    /// Wakes held push requests and device long-polls; without it, pushes answer 20511.
    pub signals: Option<Arc<dyn PushSignals>>,
}

impl Core {
    /// Wires a core.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
        master: MasterKey,
        sender: Arc<dyn MessageSender>,
    ) -> Self {
        Self {
            store,
            clock,
            random,
            master,
            sender,
            yubico: None,
            signals: None,
        }
    }

    /// Lets held pushes and device long-polls sleep until woken.
    #[must_use]
    pub fn with_signals(mut self, signals: Arc<dyn PushSignals>) -> Self {
        self.signals = Some(signals);
        self
    }

    /// Validates YubiKey OTPs with a remote validation service instead of imported keys.
    #[must_use]
    pub fn with_yubico_validator(mut self, validator: Arc<dyn YubicoValidator>) -> Self {
        self.yubico = Some(validator);
        self
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}
