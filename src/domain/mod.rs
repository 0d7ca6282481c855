//! Pure domain logic: no network, no disk.

pub mod address;
pub(crate) mod cef;
pub(crate) mod comment;
pub mod duration;
pub mod entry;
pub(crate) mod escalation;
pub mod event;
pub mod filter;
pub(crate) mod health;
pub mod loadmaster_name;
pub(crate) mod ownership;
pub(crate) mod policy;
pub(crate) mod protect;
pub(crate) mod reconcile;
pub mod severity;
pub(crate) mod stats;
