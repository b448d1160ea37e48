//! Device management: the device list of a user, unpairdevice, updatedeviceattr.

use super::Core;
use crate::caller::AdminCaller;
use crate::device::{Device, DeviceId, DeviceType};
use crate::error::DomainError;
use crate::model::{Org, User, UserStatus};

/// A device with the daily SMS/voice quota left to its user.
#[derive(Debug, Clone)]
pub struct DeviceView {
    /// The device.
    pub device: Device,
    /// Codes the user may still use today (SMS/voice devices; 0 for others).
    pub available_claimed: i64,
    /// Codes the user may still be sent and not use today (SMS/voice; 0 for others).
    pub available_unclaimed: i64,
    /// The companion app's facts (Android, iPhone, Desktop devices).
    pub app: Option<crate::push::AppFacts>,
}

impl Core {
    /// The user's devices, primary first, with today's SMS/voice quota.
    pub(crate) async fn device_views(&self, org: &Org, user: &User) -> Result<Vec<DeviceView>, DomainError> {
        let devices = self.store.devices_of(user.id).await?;
        let needs_quota = devices
            .iter()
            .any(|d| matches!(d.kind, DeviceType::Sms | DeviceType::Voice));
        let (claimed, unclaimed) = if needs_quota {
            let usage = self.store.sms_usage(user.id, self.now().div_euclid(86_400_000)).await?;
            let s = &org.settings;
            (
                i64::from(s.sms_daily_claimed.saturating_sub(usage.claimed)),
                i64::from(
                    s.sms_daily_unclaimed
                        .saturating_sub(usage.sent.saturating_sub(usage.claimed)),
                ),
            )
        } else {
            (0, 0)
        };
        let apps = if devices.iter().any(|d| d.kind.is_companion()) {
            self.store.app_devices_of(user.id).await?
        } else {
            Vec::new()
        };
        Ok(devices
            .into_iter()
            .map(|device| {
                let phone = matches!(device.kind, DeviceType::Sms | DeviceType::Voice);
                DeviceView {
                    available_claimed: if phone { claimed } else { 0 },
                    available_unclaimed: if phone { unclaimed } else { 0 },
                    app: apps.iter().find(|a| a.device_id == device.id).map(|a| a.facts.clone()),
                    device,
                }
            })
            .collect())
    }

    /// Finds the user's device by the id a client sent (decimal text; ids no server
    /// could have issued simply are not found).
    async fn users_device(&self, user: &User, raw_id: &str) -> Result<Device, DomainError> {
        let id = raw_id.parse::<i64>().ok().map(DeviceId);
        self.store
            .devices_of(user.id)
            .await?
            .into_iter()
            .find(|d| Some(d.id) == id)
            .ok_or(DomainError::ForeignDevice)
    }

    /// unpairdevice: one device, or every device when `device_id` is `None`. A user left
    /// without devices moves to PENDING_CHANGE_DEVICE.
    ///
    /// # Errors
    /// 10568, 10564, 10570 (SUSPENDED), 20527 (not the user's device).
    pub async fn unpair_device(
        &self,
        admin: &AdminCaller<'_>,
        username: &str,
        device_id: Option<&str>,
    ) -> Result<(), DomainError> {
        let user = self.find_user(admin, username).await?;
        if user.status_at(self.now()) == UserStatus::Suspended {
            return Err(DomainError::DeviceChangeNotAllowed);
        }
        let which = match device_id {
            Some(raw) => Some(self.users_device(&user, raw).await?.id),
            None => None,
        };
        if which.is_some() && self.store.unpair(user.id, which).await? == 0 {
            return Err(DomainError::ForeignDevice);
        }
        if which.is_none() {
            self.store.unpair(user.id, None).await?;
        }
        Ok(())
    }

    /// updatedeviceattr: `SET_PRIMARY` (value "true"), `NICKNAME` (unique among the
    /// user's devices), `ORDER` (1..=device count; 1 is the same as SET_PRIMARY).
    ///
    /// # Errors
    /// 10589 unknown attribute, 10570 user SUSPENDED, 10576 user otherwise not ACTIVE,
    /// 20527 foreign device, 10575
    /// nickname taken, 422 bad value.
    pub async fn update_device_attr(
        &self,
        admin: &AdminCaller<'_>,
        username: &str,
        device_id: &str,
        attribute: &str,
        value: &str,
    ) -> Result<(), DomainError> {
        let attribute = attribute.to_ascii_uppercase();
        if !matches!(attribute.as_str(), "SET_PRIMARY" | "NICKNAME" | "ORDER") {
            return Err(DomainError::UnknownAttribute(attribute));
        }
        let user = self.find_user(admin, username).await?;
        match user.status_at(self.now()) {
            UserStatus::Active => {}
            UserStatus::Suspended => return Err(DomainError::DeviceChangeNotAllowed),
            _ => return Err(DomainError::UserMustBeActive),
        }
        let device = self.users_device(&user, device_id).await?;
        match attribute.as_str() {
            "SET_PRIMARY" => {
                if !value.trim().eq_ignore_ascii_case("true") {
                    return Err(DomainError::InvalidValue("SET_PRIMARY takes the value \"true\"".into()));
                }
                self.move_to(&user, &device, 1).await
            }
            "ORDER" => {
                let count = i64::try_from(self.store.devices_of(user.id).await?.len()).unwrap_or(i64::MAX);
                let position = value
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|p| (1..=count).contains(p))
                    .ok_or_else(|| DomainError::InvalidValue(format!("ORDER must be within 1..={count}")))?;
                self.move_to(&user, &device, position).await
            }
            _ => {
                let nickname = value.trim();
                if nickname.is_empty() || nickname.chars().count() > 100 || nickname.chars().any(char::is_control) {
                    return Err(DomainError::InvalidValue(
                        "a nickname has 1 to 100 printable characters".into(),
                    ));
                }
                match self.store.rename_device(user.id, device.id, nickname).await? {
                    Some(true) => Ok(()),
                    Some(false) => Err(DomainError::ValueExists),
                    None => Err(DomainError::ForeignDevice),
                }
            }
        }
    }

    async fn move_to(&self, user: &User, device: &Device, position: i64) -> Result<(), DomainError> {
        if self.store.move_device(user.id, device.id, position).await? {
            Ok(())
        } else {
            Err(DomainError::ForeignDevice)
        }
    }
}
