//! `lmguard completions SHELL`: the shell completion script, generated from
//! the clap definitions, on standard output. It needs no configuration.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell as Generator;

use crate::cli::{Cli, Shell};
use crate::error::Result;
use crate::exit::ExitStatus;

pub(crate) fn run(shell: Shell) -> Result<ExitStatus> {
    let mut script = Vec::new();
    write_script(shell, &mut script);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    super::stdout_written(out.write_all(&script).and_then(|()| out.flush()))?;
    Ok(ExitStatus::Success)
}

/// Write the completion script for `shell` to `out`.
pub(crate) fn write_script(shell: Shell, out: &mut dyn Write) {
    let generator = match shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
    };
    let mut command = Cli::command();
    clap_complete::generate(generator, &mut command, "lmguard", out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            write_script(shell, &mut out);
            let text = String::from_utf8(out).unwrap();
            for sub in ["block", "unblock", "list", "sweep", "check"] {
                assert!(text.contains(sub), "{shell:?} script lacks {sub}");
            }
        }
    }
}
