#![doc = include_str!("../README.md")]

pub mod client;
pub mod keyfile;

pub use client::{DeviceClient, Pairing, qr_link};
pub use keyfile::{Account, KeyFile};
