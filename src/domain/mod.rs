//! Pure domain logic: no network, no disk.

pub mod address;
pub mod cef;
pub mod comment;
pub mod duration;
pub mod entry;
pub mod escalation;
pub mod event;
pub mod filter;
pub mod health;
pub mod ownership;
pub mod policy;
pub mod protect;
pub mod reconcile;
pub mod severity;
pub mod stats;
