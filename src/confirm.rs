//! Asking the operator before a change that touches many blocks: only on a
//! terminal, and anything but an explicit yes means no.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{Error, Result};

/// Why there is no person to ask, if there is none: asking needs standard
/// input and standard error both on a terminal (the question goes to
/// standard error, so that standard output stays the command's report).
pub(crate) fn why_not_ask() -> Option<&'static str> {
    if !std::io::stdin().is_terminal() {
        Some("standard input is not a terminal")
    } else if !std::io::stderr().is_terminal() {
        Some("standard error is not a terminal (the question goes there)")
    } else {
        None
    }
}

/// Print `question` on standard error and read one line from standard
/// input: `y` or `yes` (any case) is yes; anything else, an empty line or
/// the end of input is no.
pub(crate) fn ask(question: &str) -> Result<bool> {
    let mut err = std::io::stderr().lock();
    write!(err, "{question}")
        .and_then(|()| err.flush())
        .map_err(|e| Error::internal(format!("cannot write to standard error: {e}")))?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::internal(format!("cannot read the answer: {e}")))?;
    Ok(is_yes(&answer))
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_yes_is_yes() {
        for yes in ["y", "Y\n", " yes \n", "YES"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "y y", "oui"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
