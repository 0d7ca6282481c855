//! Logging to standard error, or to `[log] file`.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};

use log::LevelFilter;

use crate::config::{parse_level, LogConfig};
use crate::error::{Error, Result};

/// The level from `-v`/`-q`, else the config, else `warn` (`info` lines are
/// the LoadMaster changes, shown with `-v` or `level = "info"`).
pub(crate) fn level(verbose: u8, quiet: bool, config: Option<&LogConfig>) -> LevelFilter {
    if quiet {
        return LevelFilter::Error;
    }
    match verbose {
        0 => config
            .and_then(|c| c.level.as_deref())
            .and_then(|l| parse_level(l).ok())
            .unwrap_or(LevelFilter::Warn),
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Set once the log goes to `[log] file` rather than standard error.
static TO_FILE: AtomicBool = AtomicBool::new(false);

/// Report a failure: `lmguard: <line>` on standard error and, when `[log]
/// file` is set, the same line in the log file whatever its level (below
/// `error`), as interface.md promises. Without a log file the log is
/// standard error, so the line is logged at `debug` only (no second copy).
pub(crate) fn failure(line: &str) {
    eprintln!("lmguard: {line}");
    if TO_FILE.load(Ordering::Relaxed) {
        log::error!("{line}");
    } else {
        log::debug!("{line}");
    }
}

/// [`failure`] for a warning: `lmguard: warning: <line>`, logged at `warn`.
pub(crate) fn warning(line: &str) {
    eprintln!("lmguard: warning: {line}");
    if TO_FILE.load(Ordering::Relaxed) {
        log::warn!("{line}");
    } else {
        log::debug!("{line}");
    }
}

/// [`warning`] in capitals, for what must not be overlooked:
/// `lmguard: WARNING: <line>`, printed once (the log file gets it too).
pub(crate) fn loud_warning(line: &str) {
    eprintln!("lmguard: WARNING: {line}");
    if TO_FILE.load(Ordering::Relaxed) {
        log::warn!("{line}");
    } else {
        log::debug!("{line}");
    }
}

/// Open `[log] file` to append. Where someone other than root and this
/// user can write its directory, never through a symbolic link: they could
/// have planted one pointing at any file, which root would append to. A
/// link there is refused with exit 5 (the files lmguard keeps beside its
/// state are refused the same way); a file that cannot be opened
/// otherwise is a configuration error (exit 2).
fn open_log(path: &std::path::Path) -> Result<std::fs::File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true).mode(0o640);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if crate::nofollow::writable_by_others(dir) {
        crate::nofollow::no_follow(&mut options);
    }
    options.open(path).map_err(|e| {
        if crate::nofollow::is_link(&e) {
            Error::state(format!(
                "log.file: {}",
                crate::nofollow::refused("the log file", path)
            ))
        } else {
            Error::usage(format!("log.file: cannot open {}: {e}", path.display()))
        }
    })
}

/// Start logging. Only lmguard's own modules log above `warn`; library
/// chatter (TLS, HTTP) stays at `warn` unless `-vvv`.
pub(crate) fn init(level: LevelFilter, config: Option<&LogConfig>) -> Result<()> {
    let mut builder = env_logger::Builder::new();
    let libraries = if level == LevelFilter::Trace {
        LevelFilter::Debug
    } else {
        LevelFilter::Warn
    };
    builder
        .filter_level(libraries.min(level))
        .filter_module("lmguard", level)
        .format(|buf, record| {
            writeln!(
                buf,
                "{} lmguard[{}] {}: {}",
                humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
                std::process::id(),
                record.level().as_str().to_ascii_lowercase(),
                record.args()
            )
        });
    if let Some(path) = config.and_then(|c| c.file.as_ref()) {
        let file = open_log(path)?;
        builder.target(env_logger::Target::Pipe(Box::new(file)));
        TO_FILE.store(true, Ordering::Relaxed);
    } else {
        builder.target(env_logger::Target::Stderr);
    }
    // A second init (tests) is harmless.
    let _ = builder.try_init();
    Ok(())
}
