//! `lmguard check`: one line per check of the set-up (not available yet).

use crate::error::{Error, Result};
use crate::exit::ExitStatus;

use super::Context;

pub fn run(_ctx: &Context) -> Result<ExitStatus> {
    Err(Error::usage(
        "`lmguard check` is not available in this version yet",
    ))
}
