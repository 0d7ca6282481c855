//! A rename never strands blocks. Entries belong to a LoadMaster by name;
//! when the configuration stops naming one — a lone `[loadmaster]` table
//! (`default`) turned into `[[loadmaster]] name = "main"` for the same
//! appliance — its entries would never expire or be retried again.
//!
//! The rule, applied on the first write after the configured names
//! changed:
//! - exactly one LoadMaster is configured and the current (active or
//!   pending) entries of exactly one unconfigured name exist: they move to
//!   it, with a notice. One appliance, a new name: nothing else is meant.
//! - otherwise (several configured, or entries of several unconfigured
//!   names) lmguard cannot tell which appliance they were on: they stay,
//!   and `sweep` and `check` keep warning, naming the way out — give that
//!   appliance's table the old name again (`name = "default"` for the
//!   entries of a lone `[loadmaster]` table).
//!
//! History (expired, unblocked, rejected records) stays under the old
//! name: it is never sent anywhere. A moved entry that meets a current
//! entry of the same address and scope under the new name is left where it
//! is (the warning stays); one that meets a finished record replaces it,
//! keeping the higher block count for escalation.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::domain::entry::{Claim, Entry};
use crate::domain::loadmaster_name::LoadMasterName;
use crate::error::Result;
use crate::state::Store;

/// The meta key under which the state keeps the fingerprint of the
/// configured names it was last checked against.
const CHECKED_KEY: &str = "names_checked";

/// Checked in this process already: later stores of the run need not ask.
static CHECKED: AtomicBool = AtomicBool::new(false);

/// What a rename moved, for the notice.
struct Moved {
    from: LoadMasterName,
    to: LoadMasterName,
    count: usize,
    /// Left where they are: a live claim (another process is sending them
    /// under the old name), or a current entry under the new name.
    left: usize,
}

/// Apply the rule above to `store`, opened for writing, once per process
/// and only when the configured names changed since the state last looked.
/// `live` says whether a claim is still held by a running process.
pub(crate) fn adopt_stranded(
    store: &Store,
    config: &Config,
    live: &dyn Fn(&Claim) -> bool,
) -> Result<()> {
    if CHECKED.swap(true, Ordering::Relaxed) {
        return Ok(());
    }
    let fingerprint = names_fingerprint(config);
    if store.meta(CHECKED_KEY)? == Some(fingerprint) {
        return Ok(());
    }
    let moved = store.update(|txn| {
        let current = txn.current()?;
        let mut names: Vec<LoadMasterName> = current
            .iter()
            .map(|e| e.loadmaster)
            .filter(|n| config.loadmaster(*n).is_none())
            .collect();
        names.sort();
        names.dedup();
        let (to, from) = match (config.loadmasters.as_slice(), names.as_slice()) {
            ([only], [from]) => (only.name, *from),
            _ => return Ok(None),
        };
        let mut moved = Moved {
            from,
            to,
            count: 0,
            left: 0,
        };
        for entry in current.into_iter().filter(|e| e.loadmaster == from) {
            if entry.claim.as_ref().is_some_and(live) {
                moved.left += 1;
                continue;
            }
            let mut next: Entry = entry.clone();
            next.loadmaster = to;
            match txn.get(to, entry.scope, &entry.address)? {
                Some(there) if there.status.is_current() => {
                    moved.left += 1;
                    continue;
                }
                Some(there) => {
                    next.times_blocked = next.times_blocked.max(there.times_blocked);
                }
                None => {}
            }
            txn.remove(&entry)?;
            txn.put(&next)?;
            moved.count += 1;
        }
        Ok(Some(moved))
    })?;
    let done = match &moved {
        Some(m) => {
            notice(m);
            m.left == 0
        }
        None => true,
    };
    if done {
        store.set_meta(CHECKED_KEY, fingerprint)?;
    }
    Ok(())
}

fn notice(m: &Moved) {
    if m.count > 0 {
        let line = format!(
            "moved {} active or pending entr{} of LoadMaster \"{}\", which the configuration \
             no longer names, to \"{}\", the only LoadMaster configured (a rename); their \
             history stays under \"{}\"",
            m.count,
            if m.count == 1 { "y" } else { "ies" },
            m.from,
            m.to,
            m.from
        );
        eprintln!("lmguard: {line}");
        log::info!("{line}");
    }
    if m.left > 0 {
        crate::logging::warning(&format!(
            "{} entr{} of LoadMaster \"{}\" not moved to \"{}\" yet (another lmguard process \
             is sending them, or \"{}\" has its own entry for the same address); the next run \
             looks again",
            m.left,
            if m.left == 1 { "y" } else { "ies" },
            m.from,
            m.to,
            m.to
        ));
    }
}

/// A number for the configured names, in any order (FNV-1a).
fn names_fingerprint(config: &Config) -> u64 {
    let mut names: Vec<&str> = config.loadmasters.iter().map(|l| l.name.as_str()).collect();
    names.sort_unstable();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in names.join("\n").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
