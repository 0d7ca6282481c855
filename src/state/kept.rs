//! A store kept open across a run's LoadMaster calls, so that their answers
//! are recorded without opening the state again (an open and an orderly
//! close cost redb six `fdatasync`s) — and given up the moment another
//! lmguard process waits for the state.
//!
//! The pending records were committed durably before the calls, so what
//! is kept is only the lock and the open file: another process that asks
//! gets the state within [`CHECK_EVERY`] and the time a close takes, as if
//! the store had been closed before the calls. A process that cannot ask —
//! this one stopped (`kill -STOP`, Ctrl-Z) while it keeps the store — holds
//! the others up until it continues, so the store is kept for at most
//! [`KEEP_AT_MOST`]: enough for a LoadMaster nearby, short enough that the
//! chance of being stopped just then stays that of the local transactions.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use super::Store;

/// How often a run waiting for its LoadMasters' answers checks whether
/// another process waits for the state it keeps.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(1);

/// How long a store is kept at most, waiting or not.
pub(crate) const KEEP_AT_MOST: Duration = Duration::from_millis(20);

/// The store a run recorded its pending calls in, while it is kept.
pub(crate) struct Kept(RefCell<Option<(Store, Instant)>>);

impl Kept {
    /// Keep `store`, if a waiter can ask for it (see `state::lock`);
    /// otherwise it is closed now, before the calls.
    pub(crate) fn new(store: Option<Store>) -> Kept {
        let kept = store.filter(Store::can_be_asked);
        Kept(RefCell::new(kept.map(|s| (s, Instant::now()))))
    }

    /// Nothing kept: answers are recorded in a store opened for them.
    pub(crate) fn nothing() -> Kept {
        Kept(RefCell::new(None))
    }

    /// Whether a store is still kept.
    pub(crate) fn is_kept(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// Close the kept store if another process waits for the state, or it
    /// has been kept for [`KEEP_AT_MOST`].
    pub(crate) fn let_go_if_due(&self) {
        let mut kept = self.0.borrow_mut();
        let Some((store, since)) = kept.as_ref() else {
            return;
        };
        if since.elapsed() >= KEEP_AT_MOST {
            *kept = None;
        } else if store.is_wanted() {
            *kept = None;
            log::debug!("another lmguard process waits for the state: closed it during the calls");
        }
    }

    /// The kept store, for recording answers; it is not kept any more.
    pub(crate) fn take(&self) -> Option<Store> {
        self.0.borrow_mut().take().map(|(s, _)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::lock::wait_path;

    const LONG: Duration = Duration::from_secs(10);

    #[test]
    fn a_holder_hears_a_waiter_and_the_waiter_gets_the_state_once_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let store = Store::open(&path, LONG).unwrap();
        assert!(!store.is_wanted(), "nobody waits yet");
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || Store::open(&path, LONG).map(|_| ()))
        };
        let start = Instant::now();
        while !store.is_wanted() {
            assert!(start.elapsed() < LONG, "the waiter never said so");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!waiter.is_finished(), "it waits while the store is open");
        drop(store);
        waiter.join().unwrap().unwrap();
        // Once it has the state, it no longer asks.
        let store = Store::open(&path, LONG).unwrap();
        assert!(!store.is_wanted());
    }

    #[test]
    fn a_kept_store_is_closed_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let kept = Kept::new(Some(Store::open(&path, LONG).unwrap()));
        assert!(kept.is_kept());
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || Store::open(&path, LONG).map(|_| ()))
        };
        let start = Instant::now();
        while kept.is_kept() {
            assert!(start.elapsed() < LONG);
            kept.let_go_if_due();
            std::thread::sleep(CHECK_EVERY);
        }
        waiter.join().unwrap().unwrap();
        assert!(kept.take().is_none());
    }

    #[test]
    fn a_kept_store_is_closed_after_a_while_even_if_nobody_asks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let kept = Kept::new(Some(Store::open(&path, LONG).unwrap()));
        std::thread::sleep(KEEP_AT_MOST);
        kept.let_go_if_due();
        assert!(!kept.is_kept());
        // The lock is free again.
        Store::open(&path, Duration::ZERO).unwrap();
    }

    #[test]
    fn a_store_nobody_could_ask_for_and_a_read_only_one_are_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        drop(Store::open(&path, LONG).unwrap());
        let read_only = Store::open_existing(&path, LONG).unwrap();
        assert!(!Kept::new(read_only).is_kept());
        // A waiter could not open the wait file (here: a socket, which no
        // open takes, even root's; a symbolic link is refused outright,
        // see `nofollow`).
        std::fs::remove_file(wait_path(&path)).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(wait_path(&path)).unwrap();
        let kept = Kept::new(Some(Store::open(&path, LONG).unwrap()));
        assert!(!kept.is_kept());
        Store::open(&path, Duration::ZERO).unwrap();
    }
}
