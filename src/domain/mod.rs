//! Pure domain logic: no network, no disk.

pub mod address;
