//! Flowmon ADS script parameters in `lmguard block`'s arguments.
//!
//! ADS appends the parameters configured on a custom script action as
//! `NAME 'VALUE'` pairs after the script name, and the wrapper hands them to
//! `lmguard block "$@"`. An event that reached lmguard must never be lost
//! because of them, so before clap sees the arguments of `block` they are
//! sorted by one rule, token by token:
//!
//! 1. A long option of `block` or a global one (`--vs`, `--config`, …), with
//!    its value, is kept — unless that value is empty (`--vs ''`): then the
//!    pair is ignored with a warning, as if it were not configured.
//! 2. Any other token starting with `-` (`--ticket`, `-severity`) that is not
//!    a cluster of known short flags (`-v`, `-vv`, `-q`, `-h`) is the name of
//!    an unknown pair: it and its value (the next token, unless that is a
//!    known option) are ignored with a warning.
//! 3. A token that parses as an address or network is an address.
//! 4. A word — a letter, then letters, digits, `_` or `-` (`vs`,
//!    `severity`) — followed by another token is the name of a pair without
//!    dashes: it and its value are ignored with a warning (naming the option
//!    when the word is one, e.g. `vs` → `--vs`). A word alone at the end
//!    stays an address, so a typo typed by hand is still rejected (exit 4).
//! 5. An empty token is ignored with a warning; everything else is left for
//!    clap and the address parser (`192.0.2.300` is still rejected).
//!
//! After `--` every token is kept as it is.
//!
//! The leniency is for ADS only, that is when no argument is an address or
//! network (the events then come on standard input). When any argument is
//! one — counting the value an unknown option would take, so that
//! `--forse 192.0.2.1` counts — the command line is an operator's explicit
//! request and is left to clap untouched: an unknown option is a usage
//! error (with clap's suggestion) and every other word is a bad address.

use std::ffi::OsString;

use crate::domain::address::Address;

/// The options clap knows for `block`: long names (without `--`), which of
/// them take a value, and the short flags that take none.
#[derive(Debug, Default)]
pub(crate) struct KnownOptions {
    pub(crate) long: Vec<String>,
    pub(crate) long_with_value: Vec<String>,
    pub(crate) short_flags: Vec<char>,
}

impl KnownOptions {
    fn is_long(&self, name: &str) -> bool {
        self.long.iter().any(|k| k == name)
    }

    fn takes_value(&self, name: &str) -> bool {
        self.long_with_value.iter().any(|k| k == name)
    }

    /// `--vs`, `--vs=3`: a long option clap will accept.
    fn is_option_token(&self, token: &str) -> bool {
        token
            .strip_prefix("--")
            .map(|n| self.is_long(n.split_once('=').map_or(n, |(n, _)| n)))
            .unwrap_or(false)
    }

    /// `-v`, `-vvq`: only known short flags.
    fn is_short_cluster(&self, token: &str) -> bool {
        match token.strip_prefix('-') {
            Some(flags) if !flags.is_empty() && !flags.starts_with('-') => {
                flags.chars().all(|c| self.short_flags.contains(&c))
            }
            _ => false,
        }
    }
}

/// A word that names an ADS parameter: a letter, then letters, digits, `_`
/// or `-`.
fn is_word(token: &str) -> bool {
    let mut chars = token.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// How a value is shown in a warning: quoted, as ADS shows it.
fn quoted(value: Option<&str>) -> String {
    match value {
        Some(v) => format!(" '{v}'"),
        None => " (without a value)".to_string(),
    }
}

/// Whether any argument is an address or network: every token but the
/// values of `block`'s own options (`--reason 192.0.2.1` names no address).
fn names_an_address(text: &[String], known: &KnownOptions) -> bool {
    let mut i = 0;
    while i < text.len() {
        let token = text[i].as_str();
        if token == "--" {
            return text[i + 1..].iter().any(|t| t.parse::<Address>().is_ok());
        }
        if let Some(name) = token.strip_prefix("--") {
            if known.is_long(name) && known.takes_value(name) {
                i += 2;
                continue;
            }
        }
        if token.parse::<Address>().is_ok() {
            return true;
        }
        i += 1;
    }
    false
}

/// Sort the arguments that follow `block` (see the module documentation).
/// Returns the arguments for clap and one warning per ignored parameter.
pub(crate) fn filter_block_args(
    args: &[OsString],
    known: &KnownOptions,
) -> (Vec<OsString>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if names_an_address(&text, known) {
        return (args.to_vec(), warnings);
    }
    let mut i = 0;
    // The value that follows a pair's name, unless the next token is an
    // option of lmguard's (then the pair had no value).
    let value_at = |i: usize| {
        text.get(i)
            .filter(|t| !known.is_option_token(t) && t.as_str() != "--")
            .map(String::as_str)
    };
    while i < args.len() {
        let token = text[i].as_str();
        if token == "--" {
            out.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = token.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            if known.is_long(name) {
                if !known.takes_value(name) {
                    out.push(args[i].clone());
                    i += 1;
                    continue;
                }
                let value = match inline {
                    Some(v) => Some(v),
                    None => text.get(i + 1).map(String::as_str),
                };
                let used = if inline.is_some() { 1 } else { 2 };
                if value == Some("") {
                    warnings.push(format!(
                        "ignoring ADS parameter --{name} '': its value is empty"
                    ));
                } else {
                    out.extend(args[i..(i + used).min(args.len())].iter().cloned());
                }
                i += used;
                continue;
            }
            let value = inline.or_else(|| value_at(i + 1));
            warnings.push(format!(
                "ignoring ADS parameter --{name}{}: it is not an option of `lmguard block`",
                quoted(value)
            ));
            i += if inline.is_none() && value.is_some() {
                2
            } else {
                1
            };
            continue;
        }
        if token.starts_with('-') && token.len() > 1 && !known.is_short_cluster(token) {
            let value = value_at(i + 1);
            warnings.push(format!(
                "ignoring ADS parameter {token}{}: it is not an option of `lmguard block`",
                quoted(value)
            ));
            i += if value.is_some() { 2 } else { 1 };
            continue;
        }
        if token.is_empty() {
            warnings.push("ignoring an empty argument".to_string());
            i += 1;
            continue;
        }
        if is_word(token) && token.parse::<Address>().is_err() && i + 1 < args.len() {
            let value = value_at(i + 1);
            let hint = if known.is_long(token) {
                format!("; to set the option, name the parameter --{token} in ADS")
            } else {
                String::new()
            };
            warnings.push(format!(
                "ignoring ADS parameter {token}{}: it is not an option of `lmguard block`{hint}",
                quoted(value)
            ));
            i += if value.is_some() { 2 } else { 1 };
            continue;
        }
        out.push(args[i].clone());
        i += 1;
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownOptions {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        KnownOptions {
            long: s(&[
                "vs", "duration", "reason", "force", "dry-run", "input", "config", "verbose",
                "quiet", "help",
            ]),
            long_with_value: s(&["vs", "duration", "reason", "input", "config"]),
            short_flags: vec!['v', 'q', 'h'],
        }
    }

    fn filtered(args: &[&str]) -> (Vec<String>, Vec<String>) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let (out, warnings) = filter_block_args(&args, &known());
        let out = out
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        (out, warnings)
    }

    #[test]
    fn pairs_without_dashes_are_ignored_and_named() {
        let (out, w) = filtered(&["vs", "3", "severity", "high"]);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("vs '3'") && w[0].contains("--vs"), "{w:?}");
        assert!(w[1].contains("severity 'high'"), "{w:?}");
    }

    #[test]
    fn empty_values_are_ignored() {
        let (out, w) = filtered(&["--vs", "", "--duration=", "--reason", "x"]);
        assert_eq!(out, ["--reason", "x"]);
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("--vs ''"), "{w:?}");
        let (out, w) = filtered(&["", "--reason", "x"]);
        assert_eq!(out, ["--reason", "x"]);
        assert_eq!(w.len(), 1);
        // Beside an address, an empty argument is a bad address (exit 4).
        let (out, w) = filtered(&["192.0.2.7", ""]);
        assert_eq!(out, ["192.0.2.7", ""]);
        assert!(w.is_empty());
    }

    #[test]
    fn unknown_dashed_pairs_are_ignored_with_their_value() {
        let (out, w) = filtered(&["--ticket", "42", "-severity", "high", "--vs", "3"]);
        assert_eq!(out, ["--vs", "3"]);
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("--ticket '42'"), "{w:?}");
        // A pair without a value does not swallow the option after it.
        let (out, w) = filtered(&["--ticket", "--vs", "3"]);
        assert_eq!(out, ["--vs", "3"]);
        assert!(w[0].contains("without a value"), "{w:?}");
    }

    #[test]
    fn addresses_options_and_typos_are_left_for_clap() {
        let args = [
            "-vv",
            "--duration",
            "7d",
            "--reason",
            "x y",
            "--dry-run",
            "192.0.2.7",
            "2001:db8::/48",
            "cafe::1",
            "192.0.2.300",
            "--config=/d",
            "-q",
        ];
        let (out, w) = filtered(&args);
        assert_eq!(out, args);
        assert!(w.is_empty(), "{w:?}");
        // A word alone at the end is a typed address, rejected later.
        let (out, w) = filtered(&["192.0.2.7", "localhost"]);
        assert_eq!(out, ["192.0.2.7", "localhost"]);
        assert!(w.is_empty());
    }

    #[test]
    fn with_an_address_the_command_line_is_left_to_clap() {
        for args in [
            &["--durration", "3h", "203.0.113.9"][..],
            &["--forse", "203.0.113.143"],
            &["203.0.113.11", "not-an-ip", "203.0.113.12"],
            &["vs", "3", "2001:db8::/48"],
        ] {
            let (out, w) = filtered(args);
            assert_eq!(out, args);
            assert!(w.is_empty(), "{w:?}");
        }
        // The value of one of block's options is not an address argument.
        let (out, w) = filtered(&["--reason", "192.0.2.1", "--ticket", "42"]);
        assert_eq!(out, ["--reason", "192.0.2.1"]);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn everything_after_double_dash_is_kept() {
        let (out, w) = filtered(&["--", "vs", "3"]);
        assert_eq!(out, ["--", "vs", "3"]);
        assert!(w.is_empty());
    }
}
