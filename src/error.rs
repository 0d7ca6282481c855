//! The error type that ends a command, with the exit status it maps to.

use std::fmt;

use crate::exit::ExitStatus;

/// A failure that stops a command. Its message is one clear line for the
/// operator: what failed and what to do. It never contains the API key.
#[derive(Debug)]
pub struct Error {
    status: ExitStatus,
    message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(status: ExitStatus, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
        }
    }

    /// Bad command line or configuration (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitStatus::Usage, message)
    }

    /// The state database is busy or unusable (exit 5).
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(ExitStatus::State, message)
    }

    /// The LoadMaster could not be used (exit 3).
    pub fn loadmaster(message: impl Into<String>) -> Self {
        Self::new(ExitStatus::LoadMaster, message)
    }

    /// Something that should not happen (exit 1).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ExitStatus::Internal, message)
    }

    pub fn status(&self) -> ExitStatus {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
