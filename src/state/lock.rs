//! The process lock that serialises lmguard processes on one state file,
//! and the signal that asks its holder to let go.
//!
//! `<state>.lock` is taken exclusively (with a bounded wait) before the
//! database is opened and released when the [`Store`](super::Store) is
//! dropped. A process that finds it taken also holds `<state>.wait`
//! shared while it waits: a holder that keeps the store open across its
//! LoadMaster calls (see [`Kept`](super::Kept)) checks that file and closes
//! the store as soon as anybody waits.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::nofollow::{is_link, no_follow, refused};

/// The lock file beside the state database: `<state>.lock`.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    beside(path, ".lock")
}

/// The file a waiting process holds shared: `<state>.wait`.
pub(crate) fn wait_path(path: &Path) -> PathBuf {
    beside(path, ".wait")
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The process lock, held until dropped.
pub(crate) struct Lock {
    _file: File,
    /// `<state>.wait`, for [`Lock::is_wanted`]; absent when it could not be
    /// opened (a holder then never keeps the store across a call).
    wait: Option<File>,
}

impl Lock {
    /// Whether another lmguard process waits for this lock now. Two
    /// `flock` calls; never blocks.
    pub(crate) fn is_wanted(&self) -> bool {
        let Some(wait) = &self.wait else {
            return true;
        };
        match wait.try_lock() {
            Ok(()) => {
                let _ = wait.unlock();
                false
            }
            // A waiter holds it shared (or the lock cannot be checked:
            // let go, as if asked).
            Err(_) => true,
        }
    }

    /// Whether a waiter could tell this holder that it waits.
    pub(crate) fn can_be_asked(&self) -> bool {
        self.wait.is_some()
    }
}

/// Open `path` (a lock or wait file) for locking: created private by a
/// writer; a reader that may not create it opens it read-only (`flock`
/// needs no write access); `None` when it does not exist. Never through a
/// symbolic link (see `nofollow`): that fails with `ELOOP`.
fn open_lock_file(path: &Path, for_writing: bool) -> std::io::Result<Option<File>> {
    let opened = no_follow(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600),
    )
    .open(path)
    .or_else(|e| {
        if for_writing || is_link(&e) {
            Err(e)
        } else {
            open_to_read(path)
        }
    });
    match opened {
        Ok(f) => Ok(Some(f)),
        Err(e) if !for_writing && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Open an existing file read-only, never through a symbolic link.
fn open_to_read(path: &Path) -> std::io::Result<File> {
    no_follow(OpenOptions::new().read(true)).open(path)
}

/// `<state>.wait` for a holder that listens, created if missing. Created
/// here, it takes the lock file's owner: the first run after an upgrade may
/// be root's (an operator's `sudo lmguard unblock`) beside a state that
/// belongs to the user that runs lmguard, who must be able to open it (and
/// `check` proves that it can). `Ok(None)` when it cannot be opened; a
/// symbolic link there is an error (root would create or open whatever
/// it names).
fn open_wait_file(path: &Path, lock: &File) -> Result<Option<File>> {
    let created = no_follow(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600),
    )
    .open(path);
    let refuse = || Error::state(refused("the wait file", path));
    Ok(match created {
        Ok(wait) => {
            if let Ok(owner) = lock.metadata() {
                // Only root may give a file away; anybody else made it
                // their own, as they did the lock.
                let _ = std::os::unix::fs::fchown(&wait, Some(owner.uid()), Some(owner.gid()));
            }
            Some(wait)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match open_lock_file(path, false) {
                Ok(wait) => wait,
                Err(e) if is_link(&e) => return Err(refuse()),
                Err(_) => None,
            }
        }
        Err(e) if is_link(&e) => return Err(refuse()),
        Err(_) => None,
    })
}

/// Take the exclusive process lock for the state at `path`, waiting at
/// most `timeout`; while waiting, say so on `<state>.wait`. A reader that
/// may not create the lock file goes without it: no writer can have
/// created one either.
pub(crate) fn acquire(path: &Path, timeout: Duration, for_writing: bool) -> Result<Option<Lock>> {
    let lock_path = lock_path(path);
    let file = match open_lock_file(&lock_path, for_writing) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(None),
        Err(e) if is_link(&e) => return Err(Error::state(refused("the lock file", &lock_path))),
        Err(e) => return Err(Error::state(cannot_open(&lock_path, &e))),
    };
    let wait_path = wait_path(path);
    // Held shared while this process waits (dropped on return).
    let mut waiting: Option<File> = None;
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => {
                drop(waiting);
                // Only a writer may keep the store across its calls, so
                // only a writer listens for waiters.
                let wait = if for_writing {
                    open_wait_file(&wait_path, &file)?
                } else {
                    None
                };
                return Ok(Some(Lock { _file: file, wait }));
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => {
                return Err(Error::state(format!(
                    "cannot lock {}: {e}",
                    lock_path.display()
                )))
            }
        }
        if waiting.is_none() {
            // Ask the holder to let go (a holder between two checks may
            // hold it exclusively for an instant: try again next time).
            // Only an existing file: a holder that listens has created it,
            // and a waiter — a reader above all, maybe another user —
            // leaves nothing of its own beside the state.
            waiting = open_to_read(&wait_path)
                .ok()
                .filter(|w| w.try_lock_shared().is_ok());
        }
        if start.elapsed() >= timeout {
            return Err(Error::state_busy(format!(
                "the state database {} is busy: another lmguard process held it for more than {} \
                 ([state] lock_timeout); try again, or raise lock_timeout",
                path.display(),
                humantime::format_duration(timeout)
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

/// Why the lock file could not be opened, and the fix: for a permission
/// problem, who owns the state and the exact command that gives it to
/// this user (as `check` says it).
fn cannot_open(lock_path: &Path, e: &std::io::Error) -> String {
    let text = format!("cannot open the lock file {}: {e}", lock_path.display());
    if e.kind() != std::io::ErrorKind::PermissionDenied {
        return format!("{text}; check that the state directory is writable by this user");
    }
    let me = crate::owner::me();
    let dir = lock_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The lock file when it exists, else the directory it cannot be made in.
    let owned = if lock_path.exists() { lock_path } else { dir };
    let owner = std::fs::metadata(owned)
        .map(|m| crate::owner::user_name(m.uid()))
        .unwrap_or_else(|_| "another user".to_string());
    format!(
        "{text}; the state belongs to {owner}, and this user ({me}) may not write it: run \
         lmguard as {owner}, or give the state to {me} (keeps every record): sudo chown -R {me}: \
         {d} (`lmguard check` lists each file)",
        d = dir.display()
    )
}
