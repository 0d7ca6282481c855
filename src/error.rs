//! The error type that ends a command: a kind, which decides the exit
//! status ([`Error::code`]), and one line for the operator.

use std::fmt;

use crate::exit::ExitStatus;

/// What went wrong, as far as the exit status and `check` care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Bad command line or configuration; nothing was changed (exit 2).
    Usage,
    /// The LoadMaster could not be used (exit 3).
    LoadMaster,
    /// The state database is held by another process past the lock
    /// timeout (exit 5).
    StateBusy,
    /// The state database cannot be used (exit 5).
    State,
    /// Something that should not happen (exit 1).
    Internal,
}

/// A failure that stops a command. Its message is one clear line for the
/// operator: what failed and what to do. It never contains the API key.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// Bad command line or configuration (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    /// The state database is unusable (exit 5).
    pub(crate) fn state(message: impl Into<String>) -> Self {
        Self::new(Kind::State, message)
    }

    /// The state database is busy past the lock timeout (exit 5).
    pub(crate) fn state_busy(message: impl Into<String>) -> Self {
        Self::new(Kind::StateBusy, message)
    }

    /// The LoadMaster could not be used (exit 3).
    pub(crate) fn loadmaster(message: impl Into<String>) -> Self {
        Self::new(Kind::LoadMaster, message)
    }

    /// Something that should not happen (exit 1).
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message)
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// The state database is busy or unusable: what was to be recorded was
    /// not.
    pub(crate) fn is_state(&self) -> bool {
        matches!(self.kind, Kind::State | Kind::StateBusy)
    }

    /// The exit status this error ends a run with.
    pub(crate) fn code(&self) -> ExitStatus {
        self.kind.code()
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl Kind {
    /// The exit status an error of this kind ends a run with.
    pub(crate) fn code(self) -> ExitStatus {
        match self {
            Kind::Usage => ExitStatus::Usage,
            Kind::LoadMaster => ExitStatus::LoadMaster,
            Kind::StateBusy | Kind::State => ExitStatus::State,
            Kind::Internal => ExitStatus::Internal,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
