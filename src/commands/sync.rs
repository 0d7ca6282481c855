//! `lmguard sync`: compare local state with the LoadMaster (not available yet).

use crate::cli::SyncArgs;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;

use super::Context;

pub fn run(_ctx: &Context, _args: &SyncArgs) -> Result<ExitStatus> {
    Err(Error::usage(
        "`lmguard sync` is not available in this version yet",
    ))
}
