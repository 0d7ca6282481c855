//! `lmguard completions SHELL` (not available yet).

use crate::cli::Shell;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;

pub fn run(_shell: Shell) -> Result<ExitStatus> {
    Err(Error::usage(
        "`lmguard completions` is not available in this version yet",
    ))
}
