#![doc = include_str!("../README.md")]

pub mod caller;
pub mod clock;
pub mod crypto;
pub mod delivery;
pub mod device;
pub mod error;
pub mod ids;
pub mod model;
pub mod phone;
pub mod push;
pub mod random;
pub mod services;
pub mod store;

pub use caller::{AdminCaller, OrgCaller};
pub use clock::{Clock, FixedClock, SystemClock};
pub use crypto::MasterKey;
pub use error::DomainError;
pub use random::{OsRandom, Random, SeededRandom};
pub use services::Core;
pub use store::{Store, StoreError};
