//! User management: the user status machine of spec §4.2, service memberships, bypass,
//! and activation codes.
//!
//! Status transitions are conditional writes (`transition_status(from, to)`): the service
//! reads the user, decides, and writes "only if the status is still what I read". A
//! request that loses a race gets the operation's failure code instead of overwriting a
//! change it never saw.

use super::Core;
use crate::caller::AdminCaller;
use crate::error::DomainError;
use crate::ids::{OrgId, Username};
use crate::model::{DeviceKind, Membership, Org, PairingState, Profile, Role, Service, User, UserStatus};
use crate::store::{InsertUser, NewActivationCode, NewUser, StoreError};

/// Activation codes live 48 hours unless the caller asks otherwise (spec §2.3).
pub const DEFAULT_ACTIVATION_HOURS: i64 = 48;
/// The longest activation-code validity PingID allows: 14 days.
pub const MAX_ACTIVATION_HOURS: i64 = 336;
const HOUR_MS: i64 = 3_600_000;

/// A user with what its `userDetails` shows.
#[derive(Debug, Clone)]
pub struct UserView {
    /// The user.
    pub user: User,
    /// Its status as of the request.
    pub status: UserStatus,
    /// Its service memberships.
    pub memberships: Vec<Membership>,
    /// Its devices, primary first, with their quotas.
    pub devices: Vec<super::DeviceView>,
    /// Its latest authentication events, newest first.
    pub transactions: Vec<crate::store::AuditEvent>,
    /// The time the view was taken (bypass states depend on it).
    pub now_ms: i64,
}

/// The profile fields of adduser and edituser, as sent.
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    /// `REGULAR`/`ADMIN`; absent means REGULAR.
    pub role: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// First name.
    pub fname: Option<String>,
    /// Last name.
    pub lname: Option<String>,
}

/// adduser's input.
#[derive(Debug, Clone, Default)]
pub struct NewUserInput {
    /// The username as sent.
    pub username: String,
    /// Issue an activation code at once.
    pub activate: bool,
    /// Profile.
    pub profile: ProfileInput,
    /// `DESKTOP`/`MOBILE`.
    pub device_type: Option<String>,
    /// Picture URL.
    pub pic_url: Option<String>,
}

fn username(raw: &str) -> Result<Username, DomainError> {
    Username::parse(raw).ok_or(DomainError::MalformedUsername)
}

fn device_kind(raw: Option<&str>) -> Result<Option<DeviceKind>, DomainError> {
    raw.map(|s| DeviceKind::parse(s).ok_or_else(|| DomainError::UnsupportedRequest(format!("deviceType {s:?}"))))
        .transpose()
}

/// Statuses that activateuser / getactivationcode move to PENDING_ACTIVATION with a new
/// code (spec §4.2).
const ACTIVATABLE: [UserStatus; 4] = [
    UserStatus::Pending,
    UserStatus::NotActive,
    UserStatus::PendingActivation,
    UserStatus::PendingChangeDevice,
];

impl Core {
    /// The keyed hash under which an activation code is stored: the code itself is never
    /// kept, a database copy alone cannot brute-force it, and the org id keeps codes of
    /// different organizations apart.
    pub(super) fn code_hash(&self, org: OrgId, code: &str) -> Vec<u8> {
        let mut data = org.0.to_be_bytes().to_vec();
        data.extend_from_slice(code.as_bytes());
        self.master.keyed_hash("activation-code", &data)
    }

    fn new_code(&self, org: OrgId, kind: Option<DeviceKind>, hours: i64) -> (String, NewActivationCode) {
        let code = self.random.digits(12);
        let now = self.now();
        let stored = NewActivationCode {
            code_hash: self.code_hash(org, &code),
            expires_ms: now + hours * HOUR_MS,
            device_kind: kind,
            created_ms: now,
        };
        (code, stored)
    }

    pub(crate) async fn find_user(&self, admin: &AdminCaller<'_>, raw: &str) -> Result<User, DomainError> {
        let name = username(raw)?;
        self.store
            .user_by_name(admin.org().id, &name.fold())
            .await?
            .ok_or(DomainError::UserNotFound)
    }

    pub(crate) async fn view(&self, org: &Org, user: User) -> Result<UserView, DomainError> {
        let memberships = self.store.memberships(user.id).await?;
        let devices = self.device_views(org, &user).await?;
        let transactions = self.store.recent_audit(user.id, 10).await?;
        let now_ms = self.now();
        Ok(UserView {
            transactions,
            status: user.status_at(now_ms),
            user,
            memberships,
            devices,
            now_ms,
        })
    }

    fn profile(
        input: &ProfileInput,
        pic_url: Option<String>,
        bad_role: impl Fn(String) -> DomainError,
    ) -> Result<Profile, DomainError> {
        let role = match &input.role {
            None => Role::Regular,
            Some(r) => Role::parse(r).ok_or_else(|| bad_role(format!("role {r:?}")))?,
        };
        Ok(Profile {
            fname: input.fname.clone(),
            lname: input.lname.clone(),
            email: input.email.clone(),
            pic_url,
            role,
        })
    }

    /// adduser: creates a user, NOT_ACTIVE, or PENDING_ACTIVATION with a 48-hour
    /// activation code when `activate` is set.
    ///
    /// # Errors
    /// 10568 malformed name, 422 unknown role, 20542 unknown deviceType, 10556 duplicate,
    /// 10580 quota, store failures.
    pub async fn add_user(
        &self,
        admin: &AdminCaller<'_>,
        input: NewUserInput,
    ) -> Result<(UserView, Option<String>), DomainError> {
        let name = username(&input.username)?;
        let profile = Self::profile(&input.profile, input.pic_url.clone(), DomainError::InvalidValue)?;
        let kind = device_kind(input.device_type.as_deref())?;
        let org = admin.org();
        let (code, activation) = if input.activate {
            let (code, stored) = self.new_code(org.id, kind, DEFAULT_ACTIVATION_HOURS);
            (Some(code), Some(stored))
        } else {
            (None, None)
        };
        let new = NewUser {
            org_id: org.id,
            username: name.as_str().to_string(),
            username_fold: name.fold(),
            profile,
            status: if input.activate {
                UserStatus::PendingActivation
            } else {
                UserStatus::NotActive
            },
            created_ms: self.now(),
            activation,
        };
        match self.store.insert_user(&new, org.settings.max_users).await? {
            InsertUser::Created(user) => Ok((self.view(org, user).await?, code)),
            InsertUser::Duplicate => Err(DomainError::UserAlreadyExists),
            InsertUser::QuotaReached => Err(DomainError::UserQuotaReached),
        }
    }

    /// getuserdetails.
    ///
    /// # Errors
    /// 10568, 10564, store failures.
    pub async fn user_details(&self, admin: &AdminCaller<'_>, raw_username: &str) -> Result<UserView, DomainError> {
        let user = self.find_user(admin, raw_username).await?;
        self.view(admin.org(), user).await
    }

    /// edituser: replaces the profile (fields not supplied are cleared, as PingID does);
    /// with `activate`, a user that is not active gets a new activation code.
    ///
    /// # Errors
    /// 10568, 10564, 10558 (unknown role, or the user changed meanwhile), store failures.
    pub async fn edit_user(
        &self,
        admin: &AdminCaller<'_>,
        raw_username: &str,
        input: &ProfileInput,
        activate: bool,
    ) -> Result<(UserView, Option<String>), DomainError> {
        let user = self.find_user(admin, raw_username).await?;
        // The picture URL is not an edituser field, so it is kept.
        let profile = Self::profile(input, user.profile.pic_url.clone(), DomainError::EditFailed)?;
        if !self
            .store
            .update_profile(user.id, &profile)
            .await
            .map_err(edit_conflict)?
        {
            return Err(DomainError::EditFailed("the user was deleted meanwhile".into()));
        }
        let mut code = None;
        let status = user.status_at(self.now());
        if activate && ACTIVATABLE.contains(&status) {
            let (c, stored) = self.new_code(admin.org().id, user.device_kind, DEFAULT_ACTIVATION_HOURS);
            let moved = self
                .store
                .transition_with_code(user.id, &[user.status], UserStatus::PendingActivation, &stored)
                .await
                .map_err(edit_conflict)?;
            if !moved {
                return Err(DomainError::EditFailed("the user changed meanwhile".into()));
            }
            code = Some(c);
        }
        let fresh = self.store.user_by_id(user.id).await?.ok_or(DomainError::UserNotFound)?;
        Ok((self.view(admin.org(), fresh).await?, code))
    }

    /// deleteuser: removes the user with its memberships and codes, in one transaction.
    ///
    /// # Errors
    /// 10568, 10564, 10553 when the store refused mid-way (nothing is half-deleted).
    pub async fn delete_user(&self, admin: &AdminCaller<'_>, raw_username: &str) -> Result<(), DomainError> {
        let user = self.find_user(admin, raw_username).await?;
        match self.store.delete_user(user.id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DomainError::UserNotFound),
            Err(StoreError::Conflict(_)) => Err(DomainError::DeleteFailed),
            Err(e) => Err(e.into()),
        }
    }

    /// suspenduser: ACTIVE → SUSPENDED.
    ///
    /// # Errors
    /// 10568, 10564, 10561 when not ACTIVE, 10559 when the user changed meanwhile.
    pub async fn suspend_user(&self, admin: &AdminCaller<'_>, raw_username: &str) -> Result<(), DomainError> {
        let user = self.find_user(admin, raw_username).await?;
        if user.status_at(self.now()) != UserStatus::Active {
            return Err(DomainError::SuspendNotActive);
        }
        match self
            .store
            .transition_status(user.id, &[UserStatus::Active], UserStatus::Suspended)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) | Err(StoreError::Conflict(_)) => Err(DomainError::SuspendFailed),
            Err(e) => Err(e.into()),
        }
    }

    /// activateuser: SUSPENDED → ACTIVE (no code); PENDING, NOT_ACTIVE,
    /// PENDING_ACTIVATION and PENDING_CHANGE_DEVICE → PENDING_ACTIVATION with a new code.
    ///
    /// # Errors
    /// 10568, 10564, 20542 unknown deviceType, 10562 when ACTIVE, 10565 when the user
    /// changed meanwhile.
    pub async fn activate_user(
        &self,
        admin: &AdminCaller<'_>,
        raw_username: &str,
        device_type: Option<&str>,
    ) -> Result<Option<String>, DomainError> {
        let kind = device_kind(device_type)?;
        let user = self.find_user(admin, raw_username).await?;
        let status = user.status_at(self.now());
        let result = match status {
            UserStatus::Active => return Err(DomainError::AlreadyActive),
            UserStatus::Suspended => self
                .store
                .transition_status(user.id, &[UserStatus::Suspended], UserStatus::Active)
                .await
                .map(|moved| moved.then_some(None)),
            _ => {
                let (code, stored) = self.new_code(admin.org().id, kind, DEFAULT_ACTIVATION_HOURS);
                self.store
                    .transition_with_code(user.id, &[user.status], UserStatus::PendingActivation, &stored)
                    .await
                    .map(|moved| moved.then_some(Some(code)))
            }
        };
        match result {
            Ok(Some(code)) => Ok(code),
            Ok(None) | Err(StoreError::Conflict(_)) => Err(DomainError::ActivationFailed),
            Err(e) => Err(e.into()),
        }
    }

    /// getactivationcode: a new code valid `hours` (1–336, default 48). A user who is
    /// not active moves to PENDING_ACTIVATION; an ACTIVE user stays ACTIVE (the code
    /// pairs an additional device).
    ///
    /// # Errors
    /// 10568, 10564, 422 hours out of range, 20542 unknown deviceType, 10570 for a
    /// SUSPENDED user, 10551 when the user changed meanwhile.
    pub async fn get_activation_code(
        &self,
        admin: &AdminCaller<'_>,
        raw_username: &str,
        device_type: Option<&str>,
        hours: Option<i64>,
    ) -> Result<String, DomainError> {
        let hours = hours.unwrap_or(DEFAULT_ACTIVATION_HOURS);
        if !(1..=MAX_ACTIVATION_HOURS).contains(&hours) {
            return Err(DomainError::InvalidValue(format!(
                "hoursUntilExpiration {hours} is not within 1..=336"
            )));
        }
        let kind = device_kind(device_type)?;
        let user = self.find_user(admin, raw_username).await?;
        let to = match user.status_at(self.now()) {
            UserStatus::Suspended => return Err(DomainError::DeviceChangeNotAllowed),
            UserStatus::Active => UserStatus::Active,
            _ => UserStatus::PendingActivation,
        };
        let (code, stored) = self.new_code(admin.org().id, kind, hours);
        if self
            .store
            .transition_with_code(user.id, &[user.status], to, &stored)
            .await?
        {
            Ok(code)
        } else {
            Err(DomainError::Conflict("the user changed meanwhile".into()))
        }
    }

    /// pairingstatus: NOT_EXIST for unknown or expired codes; SUCCESS is reported once,
    /// after which the code reads NOT_EXIST.
    ///
    /// # Errors
    /// Store failures.
    pub async fn pairing_status(
        &self,
        admin: &AdminCaller<'_>,
        code: &str,
    ) -> Result<(Option<PairingState>, Option<i64>), DomainError> {
        let org = admin.org().id;
        let hash = self.code_hash(org, code);
        let Some(stored) = self.store.activation_code(org, &hash).await? else {
            return Ok((None, None));
        };
        if stored.expires_ms <= self.now() && stored.state != PairingState::Success {
            return Ok((None, None));
        }
        if stored.state == PairingState::Success && !self.store.consume_activation_code(org, &hash).await? {
            // Another poll already took the one SUCCESS.
            return Ok((None, None));
        }
        Ok((Some(stored.state), stored.device_id))
    }

    /// addservice: the user joins a service (so that a bypass can be set before first use).
    ///
    /// # Errors
    /// 10554 unknown alias, 10555 disabled by the org, 10568, 10564, 10576 not ACTIVE,
    /// 10563 already a member.
    pub async fn add_service(
        &self,
        admin: &AdminCaller<'_>,
        raw_username: &str,
        alias: &str,
    ) -> Result<(), DomainError> {
        let service = Service::from_alias(alias).ok_or_else(|| DomainError::AddUnknownService(alias.to_string()))?;
        if admin
            .org()
            .settings
            .disabled_services
            .iter()
            .any(|d| d == service.alias())
        {
            return Err(DomainError::ServiceDisabled);
        }
        let user = self.find_user(admin, raw_username).await?;
        if user.status_at(self.now()) != UserStatus::Active {
            return Err(DomainError::UserMustBeActive);
        }
        if self.store.add_membership(user.id, service, self.now()).await? {
            Ok(())
        } else {
            Err(DomainError::AlreadyInService)
        }
    }

    /// removeservice (a Twofold extension): the user leaves a service.
    ///
    /// # Errors
    /// 10572 unknown alias, 10568, 10564, 10552 not a member.
    pub async fn remove_service(
        &self,
        admin: &AdminCaller<'_>,
        raw_username: &str,
        alias: &str,
    ) -> Result<(), DomainError> {
        let service = Service::from_alias(alias).ok_or_else(|| DomainError::UnknownService(alias.to_string()))?;
        let user = self.find_user(admin, raw_username).await?;
        if self.store.remove_membership(user.id, service).await? {
            Ok(())
        } else {
            Err(DomainError::NotInServiceForRemoval)
        }
    }

    /// userbypass: sets or clears the bypass of the named services (all of the user's
    /// services when none are named). A user in no service at all who is bypassed for
    /// "all" joins `web`, the authentication API's service, so the bypass is visible and
    /// effective.
    ///
    /// # Errors
    /// 10572 unknown alias, 422 expiry not in the future, 10568, 10564, 10576 not ACTIVE,
    /// 10557 a named service the user is not in.
    pub async fn set_bypass(
        &self,
        admin: &AdminCaller<'_>,
        raw_username: &str,
        until_ms: Option<i64>,
        aliases: Option<&[String]>,
    ) -> Result<(), DomainError> {
        let named = aliases
            .map(|list| {
                list.iter()
                    .map(|a| Service::from_alias(a).ok_or_else(|| DomainError::UnknownService(a.clone())))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let now = self.now();
        if until_ms.is_some_and(|until| until <= now) {
            return Err(DomainError::InvalidValue("bypassUntil is not in the future".into()));
        }
        // Epoch-ms values are JSON integers below 2^53 so JavaScript clients read them
        // exactly; a later "until" is a permanent bypass in disguise.
        if until_ms.is_some_and(|until| until >= 1 << 53) {
            return Err(DomainError::InvalidValue("bypassUntil is beyond 2^53 ms".into()));
        }
        if named.as_ref().is_some_and(Vec::is_empty) {
            return Err(DomainError::InvalidValue(
                "spAliases is empty; omit it to mean all services".into(),
            ));
        }
        let user = self.find_user(admin, raw_username).await?;
        if user.status_at(now) != UserStatus::Active {
            return Err(DomainError::UserMustBeActive);
        }
        let members: Vec<Service> = self
            .store
            .memberships(user.id)
            .await?
            .into_iter()
            .map(|m| m.service)
            .collect();
        let (targets, add_missing) = match named {
            Some(list) => {
                if list.iter().any(|s| !members.contains(s)) {
                    return Err(DomainError::NotInServiceForBypass);
                }
                (list, false)
            }
            None if members.is_empty() && until_ms.is_some() => (vec![Service::Web], true),
            None => (members, false),
        };
        self.store
            .set_bypass(user.id, &targets, until_ms, add_missing, now)
            .await?;
        Ok(())
    }
}

fn edit_conflict(e: StoreError) -> DomainError {
    match e {
        StoreError::Conflict(cause) => DomainError::EditFailed(cause),
        other => other.into(),
    }
}
