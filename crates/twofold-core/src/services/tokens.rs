//! OATH hardware tokens from the organization's stock (spec §2.3 TOKEN pairing,
//! createorgtokens, revokeorgtokens, resyncoathtoken).

use super::Core;
use crate::caller::AdminCaller;
use crate::device::Device;
use crate::error::DomainError;
use crate::model::Org;
use crate::store::{NewDevice, PairingSession};

impl Core {
    /// Takes the token `serial` from the organization's stock into `device`.
    ///
    /// The stock does not exist yet, so every serial is unknown: 20574.
    pub(crate) async fn take_token(&self, org: &Org, device: &mut NewDevice, serial: &str) -> Result<(), DomainError> {
        if !org.settings.oath_enabled {
            return Err(DomainError::OathDisabled);
        }
        let _ = (device, serial);
        Err(DomainError::InvalidOathToken)
    }

    /// Verifies a token's code for a TOKEN pairing session.
    pub(crate) async fn finalize_token(
        &self,
        admin: &AdminCaller<'_>,
        session: &PairingSession,
        otp: &twofold_proto::Otp,
        resync: bool,
    ) -> Result<Option<Device>, DomainError> {
        let _ = (admin, session, otp, resync);
        Err(DomainError::InvalidOathToken)
    }
}
