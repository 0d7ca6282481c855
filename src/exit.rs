//! Exit codes, as documented in `interface.md` and the README.

use std::process::ExitCode;

/// What a run of lmguard ended with. When several apply, the highest wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Everything asked was done.
    Success = 0,
    /// Unexpected internal error.
    Internal = 1,
    /// Usage or configuration error; nothing was changed.
    Usage = 2,
    /// The LoadMaster was unreachable or refused; pending work is recorded.
    LoadMaster = 3,
    /// Some input was rejected; the rest was processed.
    InputRejected = 4,
    /// The state database is busy past the lock timeout, or unusable.
    State = 5,
    /// `sync` found differences.
    Differences = 6,
}

impl ExitStatus {
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// Combine two outcomes: the highest code wins.
    pub(crate) fn worst(self, other: ExitStatus) -> ExitStatus {
        self.max(other)
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}
