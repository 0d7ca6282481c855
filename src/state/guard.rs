//! The state's boundary against redb's panics.
//!
//! redb panics (rather than returning an error) on some damage it finds in
//! a file: a flipped byte in a page header or the allocator state ends in
//! `StorageError::unreachable` or an index out of bounds deep in its
//! B-tree. An operator must never see a backtrace and exit 101 for a
//! damaged file: every call into redb made through the [`Store`] API runs
//! inside [`guarded`], which turns a panic raised *inside redb's code*
//! into a state error (exit 5) naming the file and the way back. A panic
//! of lmguard's own code is not hidden: it is reported and unwinds as
//! before.
//!
//! [`Store`]: super::Store

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

use crate::error::{Error, Result};

thread_local! {
    /// How many guarded calls this thread is inside.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// What redb's panic said, taken by the guard that catches it.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Whether a panic at `file` comes from redb's sources (a registry or a
/// vendored copy: `…/redb-4.6.0/src/…`, `…/vendor/redb/src/…`).
fn is_redb(file: &str) -> bool {
    file.split(['/', '\\'])
        .any(|part| part == "redb" || part.strip_prefix("redb-").is_some_and(is_version))
}

fn is_version(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// Install, once per process, a panic hook that keeps redb's panics inside
/// a guarded call quiet (no message, no backtrace: the guard reports them
/// as one line) and leaves every other panic to the hook before it.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let inside = DEPTH.with(Cell::get) > 0;
            let from_redb = info.location().is_some_and(|l| is_redb(l.file()));
            if inside && from_redb {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "an internal check failed".to_string());
                CAUGHT.with(|c| *c.borrow_mut() = Some(message));
            } else {
                previous(info);
            }
        }));
    });
}

/// Run `f` (calls into redb on the state at `path`); a panic inside redb
/// becomes the error [`damaged`] gives.
pub(crate) fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let out = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    match out {
        Ok(out) => out,
        Err(payload) => match CAUGHT.with(|c| c.borrow_mut().take()) {
            Some(message) => Err(damaged(path, &message)),
            None => panic::resume_unwind(payload),
        },
    }
}

/// The one line for a state file redb cannot read: what is wrong, and the
/// way back.
pub(crate) fn damaged(path: &Path, what: &str) -> Error {
    Error::state(format!(
        "state database {p} is damaged ({what}); {}",
        recovery(path),
        p = path.display()
    ))
}

/// What to do with a damaged state file: move it aside and rebuild from
/// the LoadMaster's lists.
pub(crate) fn recovery(path: &Path) -> String {
    format!(
        "move it aside (mv {p} {p}.damaged) and run `lmguard sync --apply --adopt`: it takes \
         the entries on the LoadMaster back into a new state, where they expire and can be \
         unblocked as before",
        p = path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redb_sources_are_told_from_others() {
        assert!(is_redb(
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/redb-4.6.0/src/db.rs"
        ));
        assert!(is_redb("vendor/redb/src/tree_store/btree_base.rs"));
        assert!(!is_redb("src/state.rs"));
        assert!(!is_redb("/tmp/redb-state/src/x.rs"));
    }

    #[test]
    fn a_panic_of_lmguard_itself_is_not_taken_for_damage() {
        let path = Path::new("/tmp/state.redb");
        let out = panic::catch_unwind(|| guarded(path, || -> Result<()> { panic!("a bug") }));
        assert!(out.is_err(), "it unwinds on");
        // And the depth is back to zero: a later redb panic outside a guard
        // is not swallowed.
        assert_eq!(DEPTH.with(Cell::get), 0);
    }
}
