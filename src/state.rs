//! The state database (redb): one record per (LoadMaster, scope, address).
//!
//! Several lmguard processes run at once (ADS starts one per event, cron runs
//! `sweep`, an operator runs `unblock`). They are serialised by an advisory
//! lock on `<state>.lock` (`state/lock.rs`), taken with a bounded wait
//! before the database is opened and released when the [`Store`] is
//! dropped. Commands hold it for their short local transactions; a one-shot
//! `block` keeps its store across its LoadMaster calls to record their
//! answers, and closes it as soon as another process waits ([`Kept`]).

use std::fs::OpenOptions;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::domain::address::Address;
use crate::domain::entry::{self, Entry, Scope, Status};
use crate::domain::health::Health;
use crate::domain::loadmaster_name::{LoadMasterName, DEFAULT};
use crate::error::{Error, Result};
use redb::backends::FileBackend;
use redb::{
    Database, DatabaseError, Durability, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, Table, TableDefinition, TableError,
};

mod guard;
mod kept;
mod lock;
mod record;
mod verify;

use guard::guarded;

pub(crate) use guard::recovery;
pub(crate) use kept::{Kept, CHECK_EVERY};
pub(crate) use lock::{lock_path, wait_path};

const BLOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("blocks");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Indexes kept by [`Txn::put`], so that a single `block` and an idle
/// `sweep` never read the whole state:
/// keys of active or pending entries (not simulated) — `max_active` counts
/// them per LoadMaster, in the `current/NAME` meta counters;
const CURRENT: TableDefinition<&str, ()> = TableDefinition::new("index_current");
/// the same for simulated ones;
const CURRENT_SIMULATED: TableDefinition<&str, ()> =
    TableDefinition::new("index_current_simulated");
/// (expiry, key) of active entries that expire — what sweep lifts;
const DUE: TableDefinition<(i64, &str), ()> = TableDefinition::new("index_due");
/// keys of pending entries — what sweep retries — and since when each has
/// been pending (kept while it stays pending, retries or not);
const PENDING: TableDefinition<&str, i64> = TableDefinition::new("index_pending");
/// (end, key) of finished records (expired, unblocked, rejected) — what
/// `[state] keep_history` deletes, oldest first.
const HISTORY: TableDefinition<(i64, &str), ()> = TableDefinition::new("index_history");
/// What lmguard last heard from each LoadMaster (`default` for the one
/// configured today), for `stats`.
const HEALTH: TableDefinition<&str, &[u8]> = TableDefinition::new("loadmaster_health");
const FORMAT_KEY: &str = "format";
/// The latest `blocked_at` ever stored (Unix seconds): lets `sweep` notice,
/// without reading every entry, that some were recorded by a fast clock.
const LATEST_BLOCKED_AT_KEY: &str = "latest_blocked_at";
/// The file format this version writes and understands: 2 added the
/// indexes; 3 the compact binary records (see `state/record.rs`) and the
/// history index; 4 several LoadMasters (keys `NAME@…` for all but
/// `default`, see [`entry::state_key`], and per-LoadMaster counters of
/// current entries); 5 a checksum in every record (see `state/record.rs`). Older files are converted when first opened for
/// writing; their entries go to the legacy owner given to [`Store::open_for`].
pub const FORMAT_VERSION: u64 = 5;
/// Meta counters of current entries per LoadMaster: `current/NAME` (real)
/// and `current_simulated/NAME`.
const CURRENT_COUNT: &str = "current/";
const CURRENT_SIMULATED_COUNT: &str = "current_simulated/";

/// After a run rewrote or deleted at least this many records, the state
/// file is compacted: redb writes copy-on-write, and the pages the old
/// versions held stay in the file (a bulk block of 100 000 events leaves
/// it ~1.6 times its compacted size).
pub(crate) const COMPACT_AFTER: usize = 20_000;

/// Records this process wrote or deleted since it last compacted the
/// state (any mode: a simulated run rewrites records as a real one does).
static REWRITTEN: AtomicUsize = AtomicUsize::new(0);

/// How many records this process wrote or deleted since it last compacted.
pub(crate) fn rewritten() -> usize {
    REWRITTEN.load(Ordering::Relaxed)
}

/// Compact the state file, opened by `open`, if a run changed `changed`
/// records, or this process rewrote that many whatever it called (see
/// [`COMPACT_AFTER`]); it takes the lock for ~0.4 s per 100 000 entries.
/// Only space is at stake: a failure is logged, not fatal.
pub(crate) fn compact_after(open: &dyn Fn() -> Result<Store>, changed: usize) {
    if changed.max(rewritten()) >= COMPACT_AFTER {
        if let Err(e) = open().and_then(|mut s| s.compact()) {
            log::warn!("the state file was not compacted: {}", e.message());
        }
    }
}

/// redb's read cache; its default (1 GiB) would keep a whole large state
/// resident during a scan.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// An open state database, with the process lock held.
pub struct Store {
    db: Handle,
    path: PathBuf,
    lock: Option<lock::Lock>,
    /// A read-only view of a file from before several LoadMasters, whose
    /// entries (keyed as `default`'s) belong to this LoadMaster: it is
    /// read as converted, without writing (a dry run changes nothing).
    legacy_owner: Option<LoadMasterName>,
}

/// Read-only handles serve `list` and dry runs: they never write, and work
/// for a user who may only read the state.
enum Handle {
    Write(Database),
    Read(ReadOnlyDatabase),
    /// Dropped (see `Drop for Store`).
    Closed,
}

/// A consistent read view of the state, taken by [`Store::snapshot`].
pub struct Snapshot {
    txn: ReadTransaction,
    path: PathBuf,
    legacy_owner: Option<LoadMasterName>,
}

impl Snapshot {
    /// Every entry recorded when the snapshot was taken, history included.
    pub fn all(self) -> Result<Vec<Entry>> {
        let path = self.path.clone();
        guarded(&path, move || self.read_all())
    }

    fn read_all(self) -> Result<Vec<Entry>> {
        let table = match self.txn.open_table(BLOCKS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(unusable(&self.path, &e)),
        };
        let mut out = Vec::new();
        for item in table.iter().map_err(|e| unusable(&self.path, &e))? {
            let (key, value) = item.map_err(|e| unusable(&self.path, &e))?;
            let mut entry = decode(&self.path, key.value(), value.value())?;
            if let Some(owner) = self.legacy_owner {
                entry.loadmaster = owner;
            }
            out.push(entry);
        }
        Ok(out)
    }
}

/// One write transaction on the blocks table and its indexes.
pub struct Txn<'t> {
    table: Table<'t, &'static str, &'static [u8]>,
    current: Table<'t, &'static str, ()>,
    current_simulated: Table<'t, &'static str, ()>,
    due: Table<'t, (i64, &'static str), ()>,
    pending: Table<'t, &'static str, i64>,
    meta: Table<'t, &'static str, u64>,
    history: Table<'t, (i64, &'static str), ()>,
    health: Table<'t, &'static str, &'static [u8]>,
    path: &'t Path,
}

/// What planning reads, asked the same way of a read-only view
/// ([`Store`]) and of a write transaction ([`Txn`]): a command plans once,
/// and its dry run prints the plan the real run would record.
pub(crate) trait Read {
    /// The record of `address` in `scope` on `loadmaster`, if any.
    fn get(
        &self,
        loadmaster: LoadMasterName,
        scope: Scope,
        address: &Address,
    ) -> Result<Option<Entry>>;
    /// Every record.
    fn all(&self) -> Result<Vec<Entry>>;
    /// How many blocks on `loadmaster` count toward `max_active` (see
    /// [`Entry::counts_toward_limit`]).
    fn count_current(&self, loadmaster: LoadMasterName, simulated: bool) -> Result<usize>;
    /// The entries sweep may have work for at `now`: active ones whose
    /// expiry has passed (soonest first), then pending ones (by key).
    fn due_or_pending(&self, now: i64) -> Result<Vec<Entry>>;
    /// The active and pending entries: real ones, then simulated ones
    /// (each by key).
    fn current(&self) -> Result<Vec<Entry>>;
}

/// Planning that records as it decides (so that a later decision sees an
/// earlier one): a write transaction records, a dry run only reads.
pub(crate) trait Plan: Read {
    /// Record a decided entry.
    fn record(&mut self, entry: &Entry) -> Result<()>;
}

/// A dry run's view: reads the state if there is one (else it is empty),
/// records nothing.
pub(crate) struct DryRun<'s>(pub(crate) Option<&'s Store>);

impl Read for DryRun<'_> {
    fn get(
        &self,
        loadmaster: LoadMasterName,
        scope: Scope,
        address: &Address,
    ) -> Result<Option<Entry>> {
        self.0
            .map_or(Ok(None), |s| s.get(loadmaster, scope, address))
    }

    fn all(&self) -> Result<Vec<Entry>> {
        self.0.map_or(Ok(Vec::new()), Store::all)
    }

    fn count_current(&self, loadmaster: LoadMasterName, simulated: bool) -> Result<usize> {
        self.0
            .map_or(Ok(0), |s| s.count_current(loadmaster, simulated))
    }

    fn due_or_pending(&self, now: i64) -> Result<Vec<Entry>> {
        self.0.map_or(Ok(Vec::new()), |s| s.due_or_pending(now))
    }

    fn current(&self) -> Result<Vec<Entry>> {
        self.0.map_or(Ok(Vec::new()), Read::current)
    }
}

impl Plan for DryRun<'_> {
    fn record(&mut self, _: &Entry) -> Result<()> {
        Ok(())
    }
}

impl Plan for Txn<'_> {
    fn record(&mut self, entry: &Entry) -> Result<()> {
        self.put(entry)
    }
}

impl Read for Store {
    fn get(
        &self,
        loadmaster: LoadMasterName,
        scope: Scope,
        address: &Address,
    ) -> Result<Option<Entry>> {
        Store::get(self, loadmaster, scope, address)
    }

    fn all(&self) -> Result<Vec<Entry>> {
        Store::all(self)
    }

    /// Counted by reading every record: a read-only view has no
    /// transaction's counters at hand.
    fn count_current(&self, loadmaster: LoadMasterName, simulated: bool) -> Result<usize> {
        Ok(Store::all(self)?
            .iter()
            .filter(|e| e.loadmaster == loadmaster && e.counts_toward_limit(simulated))
            .count())
    }

    /// Picked from every record (in key order) by the rules
    /// [`Txn::index`] keeps its `due` and `pending` indexes by, in the
    /// order those indexes give: a read-only view (perhaps of a file in
    /// an older format) has no indexes at hand.
    fn due_or_pending(&self, now: i64) -> Result<Vec<Entry>> {
        let all = Store::all(self)?;
        let mut due: Vec<Entry> = all
            .iter()
            .filter(|e| e.status == Status::Active && e.expires_at.is_some_and(|at| at <= now))
            .cloned()
            .collect();
        // Stable: entries due at the same time stay in key order.
        due.sort_by_key(|e| e.expires_at);
        due.extend(all.into_iter().filter(|e| e.status.is_pending()));
        Ok(due)
    }

    /// Picked from every record (in key order), as [`Txn::current`] reads
    /// its indexes: real blocks, then simulated ones.
    fn current(&self) -> Result<Vec<Entry>> {
        let (simulated, real): (Vec<Entry>, Vec<Entry>) = Store::all(self)?
            .into_iter()
            .filter(|e| e.status.is_current())
            .partition(|e| e.simulated);
        Ok(real.into_iter().chain(simulated).collect())
    }
}

impl Read for Txn<'_> {
    fn get(
        &self,
        loadmaster: LoadMasterName,
        scope: Scope,
        address: &Address,
    ) -> Result<Option<Entry>> {
        Txn::get(self, loadmaster, scope, address)
    }

    fn all(&self) -> Result<Vec<Entry>> {
        Txn::all(self)
    }

    fn count_current(&self, loadmaster: LoadMasterName, simulated: bool) -> Result<usize> {
        Txn::count_current(self, loadmaster, simulated)
    }

    fn due_or_pending(&self, now: i64) -> Result<Vec<Entry>> {
        Txn::due_or_pending(self, now)
    }

    fn current(&self) -> Result<Vec<Entry>> {
        Txn::current(self)
    }
}

impl Store {
    /// [`Store::open_for`] with `default` as the legacy owner.
    pub fn open(path: &Path, lock_timeout: Duration) -> Result<Store> {
        Store::open_for(path, lock_timeout, DEFAULT)
    }

    /// Open (creating if needed) the database at `path`, waiting at most
    /// `lock_timeout` for other lmguard processes. A file of an older
    /// format is converted first, its entries given to `legacy_owner` (the
    /// only LoadMaster configured, else `default`).
    fn open_for_raw(
        path: &Path,
        lock_timeout: Duration,
        legacy_owner: LoadMasterName,
    ) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    Error::state(format!(
                        "cannot create the state directory {}: {e}; create it or set [state] path",
                        dir.display()
                    ))
                })?;
        }
        let lock = lock::acquire(path, lock_timeout, true)?;
        // A file that exists but holds nothing lost its records (redb
        // writes its header when it creates one): started anew so that no
        // event is lost, and said (see below).
        let was_empty = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0);
        // Opened here, not by redb: created private from the start, and
        // never through a symbolic link (see `nofollow`).
        let file = open_state_file(
            path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600),
        )?;
        let db = FileBackend::new(file)
            .and_then(|file| {
                Database::builder()
                    .set_cache_size(CACHE_BYTES)
                    .create_with_backend(file)
            })
            .map_err(|e| unusable(path, &e))?;
        let mut store = Store {
            db: Handle::Write(db),
            path: path.to_path_buf(),
            lock,
            legacy_owner: None,
        };
        if was_empty {
            crate::logging::warning(&format!(
                "state database {p} was an empty file: lmguard started a new state in it; if it \
                 held records (a full disk, a restore gone wrong), the blocks they named are on \
                 the LoadMaster without a local record, and never expire: `lmguard sync` lists \
                 them and `lmguard sync --apply --adopt` takes them back",
                p = path.display()
            ));
        }
        if store.check_format(legacy_owner)? {
            // The JSON records' pages are free now: give them back. Only
            // space is at stake if it fails.
            if let Err(e) = store.compact() {
                log::warn!("{}", e.message());
            }
        }
        Ok(store)
    }

    /// Open the database read-only, only if it exists (for `list` and dry
    /// runs, which must not create or change anything). A database that
    /// needs recovery after a crash is opened for writing once, to let redb
    /// repair it.
    /// [`Store::open_existing_for`] with `default` as the legacy owner.
    pub fn open_existing(path: &Path, lock_timeout: Duration) -> Result<Option<Store>> {
        Store::open_existing_for(path, lock_timeout, DEFAULT)
    }

    /// Open the state read-only if it exists. A file of an older format
    /// is read as its conversion would be (its entries `legacy_owner`'s),
    /// and left as it is.
    fn open_existing_for_raw(
        path: &Path,
        lock_timeout: Duration,
        legacy_owner: LoadMasterName,
    ) -> Result<Option<Store>> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            _ => {}
        }
        let lock = lock::acquire(path, lock_timeout, false)?;
        let file = open_state_file(path, OpenOptions::new().read(true))?;
        let db = match FileBackend::new(file).and_then(|file| {
            Database::builder()
                .set_cache_size(CACHE_BYTES)
                .open_read_only_with_backend(file)
        }) {
            Ok(db) => db,
            Err(DatabaseError::RepairAborted) => {
                drop(lock);
                return Store::open_for(path, lock_timeout, legacy_owner).map(Some);
            }
            Err(e) => return Err(unusable(path, &e)),
        };
        let mut store = Store {
            db: Handle::Read(db),
            path: path.to_path_buf(),
            lock,
            legacy_owner: None,
        };
        store.check_format_read_only()?;
        let older = store.stored_format()?.is_none_or(|f| f < FORMAT_VERSION);
        if older && !legacy_owner.is_default() {
            store.legacy_owner = Some(legacy_owner);
        }
        Ok(Some(store))
    }

    fn begin_read(&self) -> Result<ReadTransaction> {
        match &self.db {
            Handle::Write(db) => db.begin_read(),
            Handle::Read(db) => db.begin_read(),
            Handle::Closed => return Err(Error::internal("state database closed")),
        }
        .map_err(|e| unusable(&self.path, &e))
    }

    fn writable(&self) -> Result<&Database> {
        match &self.db {
            Handle::Write(db) => Ok(db),
            Handle::Read(_) | Handle::Closed => {
                Err(Error::internal("state database opened read-only"))
            }
        }
    }

    /// The format recorded in the file (`None` for a new, empty one).
    fn stored_format(&self) -> Result<Option<u64>> {
        let txn = self.begin_read()?;
        match txn.open_table(META) {
            Ok(meta) => Ok(meta
                .get(FORMAT_KEY)
                .map_err(|e| unusable(&self.path, &e))?
                .map(|v| v.value())),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(unusable(&self.path, &e)),
        }
    }

    /// The file format recorded in the file (`None` for an empty file).
    fn format_raw(&self) -> Result<Option<u64>> {
        self.stored_format()
    }

    fn check_format_read_only(&self) -> Result<()> {
        self.refuse_newer(self.stored_format()?)
    }

    fn refuse_newer(&self, found: Option<u64>) -> Result<()> {
        match found {
            Some(v) if v > FORMAT_VERSION => Err(Error::state(format!(
                "state database {} was written by a newer lmguard (format {v}, this one \
                 understands {FORMAT_VERSION}); upgrade lmguard or point [state] path elsewhere",
                self.path.display()
            ))),
            _ => Ok(()),
        }
    }

    /// Bring an older file to [`FORMAT_VERSION`] (in one transaction, so
    /// that a crash leaves the old file as it was). True when records were
    /// converted.
    fn check_format(&self, legacy_owner: LoadMasterName) -> Result<bool> {
        let found = self.stored_format()?;
        self.refuse_newer(found)?;
        if found == Some(FORMAT_VERSION) {
            return Ok(false); // nothing to write: one fsync less per run
        }
        // A new file, or format 1 or 2 (JSON records, no or fewer indexes):
        // re-encode every record and rebuild the indexes.
        let db = self.writable()?;
        let txn = db.begin_write().map_err(|e| unusable(&self.path, &e))?;
        let err = |e: &dyn std::fmt::Display| unusable(&self.path, e);
        // Format 3's (and later) index_pending holds since when each entry has waited
        // (retries or not): kept across the rebuild below, which knows only
        // each record's last update.
        let mut waited: Vec<(String, i64)> = Vec::new();
        if found.is_some_and(|f| f >= 3) {
            let pending = txn.open_table(PENDING).map_err(|e| err(&e))?;
            for item in pending.iter().map_err(|e| err(&e))? {
                let (k, v) = item.map_err(|e| err(&e))?;
                waited.push((k.value().to_string(), v.value()));
            }
        }
        // (Format 2's index_pending had no values; format 3's has times.)
        for table in ["index_current", "index_current_simulated", "index_pending"] {
            let def: TableDefinition<&str, ()> = TableDefinition::new(table);
            txn.delete_table(def).map_err(|e| err(&e))?;
        }
        for table in ["index_due", "index_history"] {
            let def: TableDefinition<(i64, &str), ()> = TableDefinition::new(table);
            txn.delete_table(def).map_err(|e| err(&e))?;
        }
        txn.open_table(META)
            .and_then(|mut meta| {
                meta.insert(FORMAT_KEY, FORMAT_VERSION)?;
                let counters: Vec<String> = meta
                    .iter()?
                    .filter_map(|item| item.ok())
                    .map(|(k, _)| k.value().to_string())
                    .filter(|k| {
                        k.starts_with(CURRENT_COUNT) || k.starts_with(CURRENT_SIMULATED_COUNT)
                    })
                    .collect();
                for key in counters {
                    meta.remove(key.as_str())?;
                }
                Ok(())
            })
            .map_err(|e| err(&e))?;
        // Before format 4 every key was the only LoadMaster's.
        let rename = found.is_some_and(|f| f < 4) && !legacy_owner.is_default();
        let converted = {
            let mut t = Txn::open(&txn, &self.path)?;
            let entries = t.all()?;
            for entry in &entries {
                let mut entry = entry.clone();
                if rename {
                    t.table.remove(entry.key().as_str()).map_err(|e| err(&e))?;
                    entry.loadmaster = legacy_owner;
                }
                t.write_record(&entry)?;
                t.index(&entry, true)?;
            }
            if rename {
                t.rename_health(DEFAULT, legacy_owner)?;
            }
            for (key, since) in &waited {
                let key = match rename {
                    true => format!("{legacy_owner}@{key}"),
                    false => key.clone(),
                };
                if t.pending.get(key.as_str()).map_err(|e| err(&e))?.is_some() {
                    t.pending.insert(key.as_str(), since).map_err(|e| err(&e))?;
                }
            }
            !entries.is_empty()
        };
        txn.commit().map_err(|e| err(&e))?;
        Ok(converted)
    }

    /// Whether this store, open for writing, may be kept across a run's
    /// calls: another process that waits for it can say so (see [`Kept`]).
    fn can_be_asked(&self) -> bool {
        matches!(self.db, Handle::Write(_)) && self.lock.as_ref().is_some_and(|l| l.can_be_asked())
    }

    /// Whether another lmguard process waits for this store's lock.
    fn is_wanted(&self) -> bool {
        self.lock.as_ref().is_none_or(|l| l.is_wanted())
    }

    /// Give the space of deleted records back to the file system (redb
    /// compaction). Takes a while on a large file; run after deleting much.
    fn compact_raw(&mut self) -> Result<()> {
        let path = self.path.clone();
        match &mut self.db {
            Handle::Write(db) => db.compact().map(|_| ()).map_err(|e| unusable(&path, &e)),
            Handle::Read(_) | Handle::Closed => {
                Err(Error::internal("state database opened read-only"))
            }
        }
    }

    /// How many finished records ended before `cutoff` (what
    /// `[state] keep_history` would delete).
    fn count_history_before_raw(&self, cutoff: i64) -> Result<usize> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(HISTORY) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_) | TableError::TableTypeMismatch { .. }) => {
                return Ok(0)
            }
            Err(e) => return Err(unusable(&self.path, &e)),
        };
        let range = table
            .range(..(cutoff, ""))
            .map_err(|e| unusable(&self.path, &e))?;
        Ok(range.count())
    }

    /// Since when each pending entry has been pending, by key
    /// (`global|192.0.2.7`).
    fn pending_since_raw(&self) -> Result<std::collections::HashMap<String, i64>> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(PENDING) {
            Ok(t) => t,
            // Missing, or a format-2 file not converted yet (read-only):
            // no times recorded.
            Err(TableError::TableDoesNotExist(_) | TableError::TableTypeMismatch { .. }) => {
                return Ok(Default::default())
            }
            Err(e) => return Err(unusable(&self.path, &e)),
        };
        let mut out = std::collections::HashMap::new();
        for item in table.iter().map_err(|e| unusable(&self.path, &e))? {
            let (k, v) = item.map_err(|e| unusable(&self.path, &e))?;
            // An older file read as converted: its keys as they will be.
            let key = match self.legacy_owner {
                Some(owner) => format!("{owner}@{}", k.value()),
                None => k.value().to_string(),
            };
            out.insert(key, v.value());
        }
        Ok(out)
    }

    /// What lmguard last heard from each LoadMaster, by name.
    fn health_raw(&self) -> Result<Vec<(String, Health)>> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(HEALTH) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(unusable(&self.path, &e)),
        };
        let mut out = Vec::new();
        for item in table.iter().map_err(|e| unusable(&self.path, &e))? {
            let (k, v) = item.map_err(|e| unusable(&self.path, &e))?;
            // A record this version cannot read is left out, not fatal.
            if let Ok(h) = serde_json::from_slice(v.value()) {
                let name = match self.legacy_owner {
                    Some(owner) if k.value() == DEFAULT.as_str() => owner.to_string(),
                    _ => k.value().to_string(),
                };
                out.push((name, h));
            }
        }
        Ok(out)
    }

    /// Every recorded entry, history included.
    pub fn all(&self) -> Result<Vec<Entry>> {
        self.snapshot()?.all()
    }

    /// The state as it is now, to be read later (on another thread, while
    /// this one does something else): writes committed after this call are
    /// not in it.
    fn snapshot_raw(&self) -> Result<Snapshot> {
        Ok(Snapshot {
            txn: self.begin_read()?,
            path: self.path.clone(),
            legacy_owner: self.legacy_owner,
        })
    }

    /// A number kept beside the records under `key` (e.g. the fingerprint
    /// of the policy the last sweep applied); `None` when never set.
    fn meta_raw(&self, key: &str) -> Result<Option<u64>> {
        let txn = self.begin_read()?;
        match txn.open_table(META) {
            Ok(meta) => Ok(meta
                .get(key)
                .map_err(|e| unusable(&self.path, &e))?
                .map(|v| v.value())),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(unusable(&self.path, &e)),
        }
    }

    /// Set a number kept beside the records (its own transaction).
    fn set_meta_raw(&self, key: &str, value: u64) -> Result<()> {
        let txn = self
            .writable()?
            .begin_write()
            .map_err(|e| unusable(&self.path, &e))?;
        txn.open_table(META)
            .and_then(|mut meta| {
                meta.insert(key, value)?;
                Ok(())
            })
            .map_err(|e| unusable(&self.path, &e))?;
        txn.commit().map_err(|e| unusable(&self.path, &e))
    }

    /// One entry, read without a write transaction.
    fn get_raw(
        &self,
        loadmaster: LoadMasterName,
        scope: Scope,
        address: &Address,
    ) -> Result<Option<Entry>> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(BLOCKS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(unusable(&self.path, &e)),
        };
        let stored_as = match self.legacy_owner {
            Some(owner) if owner == loadmaster => DEFAULT,
            Some(_) if loadmaster.is_default() => return Ok(None),
            _ => loadmaster,
        };
        let key = entry::state_key(stored_as, scope, address);
        let found = table
            .get(key.as_str())
            .map_err(|e| unusable(&self.path, &e))?;
        found
            .map(|v| {
                let mut entry = decode(&self.path, &key, v.value())?;
                entry.loadmaster = loadmaster;
                Ok(entry)
            })
            .transpose()
    }

    /// Run `f` in one write transaction and commit it durably: when this
    /// returns, the change survives a crash or a power cut.
    pub fn update<T>(&self, f: impl FnOnce(&mut Txn<'_>) -> Result<T>) -> Result<T> {
        self.update_with(Durability::Immediate, f)
    }

    /// Like [`Store::update`], but the commit is not flushed to disk: a
    /// crash (kill -9, power cut) before the next durable commit or the
    /// orderly close of this store loses it, and the file stays as it was
    /// before. Only for changes whose loss is harmless.
    pub(crate) fn update_lazily<T>(&self, f: impl FnOnce(&mut Txn<'_>) -> Result<T>) -> Result<T> {
        self.update_with(Durability::None, f)
    }

    fn update_with_raw<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut txn = self
            .writable()?
            .begin_write()
            .map_err(|e| unusable(&self.path, &e))?;
        txn.set_durability(durability)
            .map_err(|e| unusable(&self.path, &e))?;
        let out = {
            let mut t = Txn::open(&txn, &self.path)?;
            f(&mut t)?
        };
        txn.commit().map_err(|e| unusable(&self.path, &e))?;
        Ok(out)
    }
}

/// The [`Store`] API: every call into redb runs [`guarded`], so that a
/// panic of redb on a damaged file is a state error, never a crash.
impl Store {
    /// Open (creating if needed) the database at `path`, waiting at most
    /// `lock_timeout` for other lmguard processes. A file of an older
    /// format is converted first, its entries given to `legacy_owner` (the
    /// only LoadMaster configured, else `default`).
    pub fn open_for(
        path: &Path,
        lock_timeout: Duration,
        legacy_owner: LoadMasterName,
    ) -> Result<Store> {
        guarded(path, || {
            Store::open_for_raw(path, lock_timeout, legacy_owner)
        })
    }

    /// Open the state read-only if it exists. A file of an older format
    /// is read as its conversion would be (its entries `legacy_owner`'s),
    /// and left as it is.
    pub fn open_existing_for(
        path: &Path,
        lock_timeout: Duration,
        legacy_owner: LoadMasterName,
    ) -> Result<Option<Store>> {
        guarded(path, || {
            Store::open_existing_for_raw(path, lock_timeout, legacy_owner)
        })
    }

    /// The file format recorded in the file (`None` for an empty file).
    pub fn format(&self) -> Result<Option<u64>> {
        guarded(&self.path, || self.format_raw())
    }

    /// Give the space of deleted records back to the file system (redb
    /// compaction). Takes a while on a large file; run after deleting much.
    pub(crate) fn compact(&mut self) -> Result<()> {
        let path = self.path.clone();
        guarded(&path, || self.compact_raw())?;
        REWRITTEN.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// How many finished records ended before `cutoff` (what
    /// `[state] keep_history` would delete).
    pub(crate) fn count_history_before(&self, cutoff: i64) -> Result<usize> {
        guarded(&self.path, || self.count_history_before_raw(cutoff))
    }

    /// Since when each pending entry has been pending, by key
    /// (`global|192.0.2.7`).
    pub(crate) fn pending_since(&self) -> Result<std::collections::HashMap<String, i64>> {
        guarded(&self.path, || self.pending_since_raw())
    }

    /// What lmguard last heard from each LoadMaster, by name.
    pub(crate) fn health(&self) -> Result<Vec<(String, Health)>> {
        guarded(&self.path, || self.health_raw())
    }

    /// The state as it is now, to be read later (on another thread, while
    /// this one does something else): writes committed after this call are
    /// not in it.
    pub fn snapshot(&self) -> Result<Snapshot> {
        guarded(&self.path, || self.snapshot_raw())
    }

    /// A number kept beside the records under `key` (e.g. the fingerprint
    /// of the policy the last sweep applied); `None` when never set.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<u64>> {
        guarded(&self.path, || self.meta_raw(key))
    }

    /// Set a number kept beside the records (its own transaction).
    pub(crate) fn set_meta(&self, key: &str, value: u64) -> Result<()> {
        guarded(&self.path, || self.set_meta_raw(key, value))
    }

    /// One entry, read without a write transaction.
    pub(crate) fn get(
        &self,
        loadmaster: LoadMasterName,
        scope: Scope,
        address: &Address,
    ) -> Result<Option<Entry>> {
        guarded(&self.path, || self.get_raw(loadmaster, scope, address))
    }

    fn update_with<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T>,
    ) -> Result<T> {
        guarded(&self.path, || self.update_with_raw(durability, f))
    }
}

/// Closing the database writes to it: a panic of redb then (a damaged
/// file) is kept quiet too; the run has already said what was wrong.
impl Drop for Store {
    fn drop(&mut self) {
        let db = std::mem::replace(&mut self.db, Handle::Closed);
        let path = self.path.clone();
        if let Err(e) = guarded(&path, || {
            drop(db);
            Ok(())
        }) {
            log::debug!("{}", e.message());
        }
    }
}

impl<'t> Txn<'t> {
    fn open(txn: &'t redb::WriteTransaction, path: &'t Path) -> Result<Txn<'t>> {
        let open_err = |e: redb::TableError| unusable(path, &e);
        Ok(Txn {
            table: txn.open_table(BLOCKS).map_err(open_err)?,
            current: txn.open_table(CURRENT).map_err(open_err)?,
            current_simulated: txn.open_table(CURRENT_SIMULATED).map_err(open_err)?,
            due: txn.open_table(DUE).map_err(open_err)?,
            pending: txn.open_table(PENDING).map_err(open_err)?,
            meta: txn.open_table(META).map_err(open_err)?,
            history: txn.open_table(HISTORY).map_err(open_err)?,
            health: txn.open_table(HEALTH).map_err(open_err)?,
            path,
        })
    }

    pub(crate) fn get(
        &self,
        loadmaster: LoadMasterName,
        scope: Scope,
        address: &Address,
    ) -> Result<Option<Entry>> {
        let key = entry::state_key(loadmaster, scope, address);
        let found = self
            .table
            .get(key.as_str())
            .map_err(|e| unusable(self.path, &e))?;
        found
            .map(|v| decode(self.path, &key, v.value()))
            .transpose()
    }

    /// The latest `blocked_at` stored (see [`Txn::reset_latest_blocked_at`]).
    pub fn latest_blocked_at(&self) -> Result<i64> {
        let found = self
            .meta
            .get(LATEST_BLOCKED_AT_KEY)
            .map_err(|e| unusable(self.path, &e))?;
        Ok(found.map_or(0, |v| v.value() as i64))
    }

    /// Set what [`Txn::latest_blocked_at`] says (after checking the entries).
    pub(crate) fn reset_latest_blocked_at(&mut self, at: i64) -> Result<()> {
        self.meta
            .insert(LATEST_BLOCKED_AT_KEY, at.max(0) as u64)
            .map_err(|e| unusable(self.path, &e))?;
        Ok(())
    }

    pub fn put(&mut self, entry: &Entry) -> Result<()> {
        if entry.blocked_at > self.latest_blocked_at()? {
            self.reset_latest_blocked_at(entry.blocked_at)?;
        }
        let mut pending_since = None;
        if let Some(old) = self.write_record(entry)? {
            if old.status.is_pending() {
                pending_since = self.pending_since(&old)?;
            }
            self.index(&old, false)?;
        }
        self.index(entry, true)?;
        if let (Some(since), true) = (pending_since, entry.status.is_pending()) {
            // Still pending: it has waited since then, retries or not.
            let key = entry.key();
            self.pending
                .insert(key.as_str(), since)
                .map_err(|e| unusable(self.path, &e))?;
        }
        Ok(())
    }

    fn pending_since(&self, entry: &Entry) -> Result<Option<i64>> {
        let key = entry.key();
        Ok(self
            .pending
            .get(key.as_str())
            .map_err(|e| unusable(self.path, &e))?
            .map(|v| v.value()))
    }

    /// Delete an entry's record and its index rows (a renamed LoadMaster's
    /// entry moves to another key: see `crate::rename`).
    pub(crate) fn remove(&mut self, entry: &Entry) -> Result<()> {
        let key = entry.key();
        let old = self
            .table
            .remove(key.as_str())
            .map_err(|e| unusable(self.path, &e))?
            .map(|v| decode(self.path, &key, v.value()))
            .transpose()?;
        if let Some(old) = old {
            self.index(&old, false)?;
        }
        Ok(())
    }

    /// Store the record alone; returns the one it replaced.
    fn write_record(&mut self, entry: &Entry) -> Result<Option<Entry>> {
        let key = entry.key();
        let value = record::encode(&key, entry);
        REWRITTEN.fetch_add(1, Ordering::Relaxed);
        self.table
            .insert(key.as_str(), value.as_slice())
            .map_err(|e| unusable(self.path, &e))?
            .map(|v| decode(self.path, &key, v.value()))
            .transpose()
    }

    /// Delete up to `limit` finished records (expired, unblocked, rejected)
    /// that ended before `cutoff`, oldest first; returns how many.
    pub(crate) fn delete_history_before(&mut self, cutoff: i64, limit: usize) -> Result<usize> {
        let err = |e: redb::StorageError| unusable(self.path, &e);
        let mut doomed: Vec<(i64, String)> = Vec::new();
        for item in self.history.range(..(cutoff, "")).map_err(err)?.take(limit) {
            let (k, _) = item.map_err(err)?;
            let (at, key) = k.value();
            doomed.push((at, key.to_string()));
        }
        REWRITTEN.fetch_add(doomed.len(), Ordering::Relaxed);
        for (at, key) in &doomed {
            self.history.remove((*at, key.as_str())).map_err(err)?;
            let old = self.table.remove(key.as_str()).map_err(err)?;
            let old = old.map(|v| decode(self.path, key, v.value())).transpose()?;
            // The index named a record that is current again: keep it.
            if let Some(e) = old.filter(|e| e.history_since().is_none_or(|t| t >= cutoff)) {
                self.write_record(&e)?;
            }
        }
        Ok(doomed.len())
    }

    /// Record what was heard from a LoadMaster, merged with what is there.
    pub(crate) fn note_health(&mut self, loadmaster: LoadMasterName, heard: &Health) -> Result<()> {
        let loadmaster = loadmaster.as_str();
        let err = |e: redb::StorageError| unusable(self.path, &e);
        let mut health: Health = self
            .health
            .get(loadmaster)
            .map_err(err)?
            .and_then(|v| serde_json::from_slice(v.value()).ok())
            .unwrap_or_default();
        health.merge(heard);
        let bytes = serde_json::to_vec(&health)
            .map_err(|e| Error::internal(format!("cannot encode LoadMaster health: {e}")))?;
        self.health
            .insert(loadmaster, bytes.as_slice())
            .map_err(err)?;
        Ok(())
    }

    /// Add (or remove) an entry's index rows.
    fn index(&mut self, entry: &Entry, add: bool) -> Result<()> {
        let key = entry.key();
        let key = key.as_str();
        let err = |e: redb::StorageError| unusable(self.path, &e);
        if entry.status.is_current() {
            let (current, counter) = if entry.simulated {
                (&mut self.current_simulated, CURRENT_SIMULATED_COUNT)
            } else {
                (&mut self.current, CURRENT_COUNT)
            };
            let changed = if add {
                current.insert(key, ()).map_err(err)?.is_none()
            } else {
                current.remove(key).map_err(err)?.is_some()
            };
            if changed {
                let counter = format!("{counter}{}", entry.loadmaster);
                let n = self
                    .meta
                    .get(counter.as_str())
                    .map_err(err)?
                    .map_or(0, |v| v.value());
                let n = if add { n + 1 } else { n.saturating_sub(1) };
                self.meta.insert(counter.as_str(), n).map_err(err)?;
            }
        }
        if entry.status.is_pending() {
            if add {
                self.pending.insert(key, entry.updated_at).map_err(err)?;
            } else {
                self.pending.remove(key).map_err(err)?;
            }
        }
        if let (Status::Active, Some(at)) = (entry.status, entry.expires_at) {
            if add {
                self.due.insert((at, key), ()).map_err(err)?;
            } else {
                self.due.remove((at, key)).map_err(err)?;
            }
        }
        if let Some(at) = entry.history_since() {
            if add {
                self.history.insert((at, key), ()).map_err(err)?;
            } else {
                self.history.remove((at, key)).map_err(err)?;
            }
        }
        Ok(())
    }

    /// How many blocks are active or pending: real ones, plus simulated
    /// ones when `simulated` is set. O(1).
    pub fn count_current(&self, loadmaster: LoadMasterName, simulated: bool) -> Result<usize> {
        let err = |e: redb::StorageError| unusable(self.path, &e);
        let count = |prefix: &str| -> Result<u64> {
            let key = format!("{prefix}{loadmaster}");
            Ok(self
                .meta
                .get(key.as_str())
                .map_err(err)?
                .map_or(0, |v| v.value()))
        };
        let mut n = count(CURRENT_COUNT)?;
        if simulated {
            n += count(CURRENT_SIMULATED_COUNT)?;
        }
        Ok(n as usize)
    }

    /// Move what was heard from LoadMaster `from` to `to` (a conversion
    /// that gives the entries of `default` to the only one configured).
    fn rename_health(&mut self, from: LoadMasterName, to: LoadMasterName) -> Result<()> {
        let err = |e: redb::StorageError| unusable(self.path, &e);
        let old = self
            .health
            .remove(from.as_str())
            .map_err(err)?
            .map(|v| v.value().to_vec());
        if let Some(bytes) = old {
            self.health
                .insert(to.as_str(), bytes.as_slice())
                .map_err(err)?;
        }
        Ok(())
    }

    /// The entries sweep may have work for at `now`: active ones whose
    /// expiry has passed, and pending ones. Reads only those.
    pub fn due_or_pending(&self, now: i64) -> Result<Vec<Entry>> {
        let err = |e: redb::StorageError| unusable(self.path, &e);
        let mut keys: Vec<String> = Vec::new();
        for item in self.due.range(..(now.saturating_add(1), "")).map_err(err)? {
            let (k, _) = item.map_err(err)?;
            keys.push(k.value().1.to_string());
        }
        for item in self.pending.iter().map_err(err)? {
            let (k, _) = item.map_err(err)?;
            keys.push(k.value().to_string());
        }
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.indexed(&key)?);
        }
        Ok(out)
    }

    /// The record an index row names. The indexes change in the same
    /// transaction as the records, so a row without its record is a
    /// damaged file (a flipped byte in the key of either): refused, never
    /// passed over — the block it names would never expire.
    fn indexed(&self, key: &str) -> Result<Entry> {
        let err = |e: redb::StorageError| unusable(self.path, &e);
        match self.table.get(key).map_err(err)? {
            Some(v) => decode(self.path, key, v.value()),
            None => Err(guard::damaged(
                self.path,
                &format!("an index names {key}, which has no record"),
            )),
        }
    }

    /// The active and pending entries (simulated ones included), read
    /// through the index: history is not read.
    pub(crate) fn current(&self) -> Result<Vec<Entry>> {
        let err = |e: redb::StorageError| unusable(self.path, &e);
        let mut out = Vec::new();
        for index in [&self.current, &self.current_simulated] {
            for item in index.iter().map_err(err)? {
                let (k, _) = item.map_err(err)?;
                out.push(self.indexed(k.value())?);
            }
        }
        Ok(out)
    }

    /// Every entry, read inside this transaction.
    pub fn all(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in self.table.iter().map_err(|e| unusable(self.path, &e))? {
            let (key, value) = item.map_err(|e| unusable(self.path, &e))?;
            out.push(decode(self.path, key.value(), value.value())?);
        }
        Ok(out)
    }
}

/// A record: binary (format 3), or JSON as formats 1 and 2 wrote it (read
/// while converting them; a JSON record starts with `{`, never a valid
/// record version).
fn decode(path: &Path, key: &str, bytes: &[u8]) -> Result<Entry> {
    let decoded = match bytes.first() {
        Some(b'{') => serde_json::from_slice::<Entry>(bytes).map_err(|e| e.to_string()),
        _ => record::decode(key, bytes),
    };
    decoded
        .map(|mut e| {
            e.loadmaster = entry::loadmaster_of_key(key);
            e
        })
        .map_err(|e| {
            Error::state(format!(
                "state database {p}: the record stored under {key} cannot be read ({e}); {}",
                guard::recovery(path),
                p = path.display()
            ))
        })
}

/// Open the state database file with `options`, never through a symbolic
/// link: a link there is refused by name.
fn open_state_file(path: &Path, options: &mut OpenOptions) -> Result<std::fs::File> {
    crate::nofollow::no_follow(options)
        .open(path)
        .map_err(|e| match crate::nofollow::is_link(&e) {
            true => Error::state(crate::nofollow::refused("the state database", path)),
            false => unusable(path, &e),
        })
}

fn unusable(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::state(format!(
        "state database {} is unusable: {e}; check its permissions and free disk space; if it \
         is damaged, {}",
        path.display(),
        guard::recovery(path)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entry::{apply_block, BlockRequest, Claim};

    fn entry(addr: &str) -> Entry {
        let req = BlockRequest {
            loadmaster: Default::default(),
            address: addr.parse().unwrap(),
            scope: Scope::Vs(3),
            duration: "1h".parse().unwrap(),
            reason: "test".into(),
            event_id: None,
            priority: None,
        };
        let claim = Claim {
            pid: 1,
            started: 0,
            token: 1,
            until: 10,
        };
        apply_block(None, &req, 0, claim, &|_| false).0
    }

    #[test]
    fn each_loadmaster_has_its_own_entries_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.redb"), Duration::from_secs(1)).unwrap();
        let brno = LoadMasterName::parse("brno").unwrap();
        let on = |lm: LoadMasterName, addr: &str| {
            let mut e = entry(addr);
            e.loadmaster = lm;
            e
        };
        store
            .update(|t| {
                t.put(&on(DEFAULT, "192.0.2.1"))?;
                t.put(&on(brno, "192.0.2.1"))?;
                t.put(&on(brno, "192.0.2.2"))
            })
            .unwrap();
        let (a, b) = store
            .update(|t| {
                Ok((
                    t.count_current(DEFAULT, false)?,
                    t.count_current(brno, false)?,
                ))
            })
            .unwrap();
        assert_eq!((a, b), (1, 2));
        let addr = "192.0.2.1".parse().unwrap();
        let got = store.get(brno, Scope::Vs(3), &addr).unwrap().unwrap();
        assert_eq!(got.loadmaster, brno);
        assert_eq!(
            store
                .get(DEFAULT, Scope::Vs(3), &addr)
                .unwrap()
                .unwrap()
                .loadmaster,
            DEFAULT
        );
        // Ended on brno: its count drops, default's does not.
        let mut ended = got.clone();
        ended.status = Status::Expired;
        store.update(|t| t.put(&ended)).unwrap();
        let (a, b) = store
            .update(|t| {
                Ok((
                    t.count_current(DEFAULT, false)?,
                    t.count_current(brno, false)?,
                ))
            })
            .unwrap();
        assert_eq!((a, b), (1, 1));
        assert_eq!(Read::count_current(&store, brno, false).unwrap(), 1);
    }

    #[test]
    fn converting_a_format_3_file_keeps_how_long_each_entry_has_been_pending() {
        // Pending since 0, retried at 500 (a sweep that failed again): it
        // has waited since 0, as `stats` says (oldest pending).
        for owner in [DEFAULT, LoadMasterName::parse("site1").unwrap()] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.redb");
            let store = Store::open(&path, Duration::from_secs(1)).unwrap();
            let pending = entry("192.0.2.1");
            assert!(pending.status.is_pending());
            store.update(|t| t.put(&pending)).unwrap();
            let mut retried = pending.clone();
            retried.updated_at = 500;
            store.update(|t| t.put(&retried)).unwrap();
            let since = |store: &Store, lm: LoadMasterName| {
                let mut e = retried.clone();
                e.loadmaster = lm;
                store.pending_since().unwrap().get(&e.key()).copied()
            };
            assert_eq!(since(&store, DEFAULT), Some(0));
            store.set_meta(FORMAT_KEY, 3).unwrap();
            drop(store);
            // Read-only, as converted...
            let view = Store::open_existing_for(&path, Duration::from_secs(1), owner)
                .unwrap()
                .unwrap();
            assert_eq!(since(&view, owner), Some(0), "read-only view for {owner}");
            drop(view);
            // ...and converted.
            let store = Store::open_for(&path, Duration::from_secs(1), owner).unwrap();
            assert_eq!(store.format().unwrap(), Some(FORMAT_VERSION));
            assert_eq!(since(&store, owner), Some(0), "converted for {owner}");
        }
    }

    #[test]
    fn a_format_4_file_is_read_and_converted_to_checksummed_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let brno = LoadMasterName::parse("brno").unwrap();
        let mut on_brno = entry("192.0.2.2");
        on_brno.loadmaster = brno;
        let written = [entry("192.0.2.1"), on_brno];
        {
            // What format 4 wrote: version-1 records, no checksum.
            let store = Store::open(&path, Duration::from_secs(1)).unwrap();
            store
                .update(|t| written.iter().try_for_each(|e| t.put(e)))
                .unwrap();
            let txn = store.writable().unwrap().begin_write().unwrap();
            {
                let mut table = txn.open_table(BLOCKS).unwrap();
                for e in &written {
                    let old = record::encode_version_1(e);
                    table.insert(e.key().as_str(), old.as_slice()).unwrap();
                }
                txn.open_table(META).unwrap().insert(FORMAT_KEY, 4).unwrap();
            }
            txn.commit().unwrap();
            // A later retry: pending since 0 all the same.
            drop(store);
        }
        let key = written[0].key();
        // Read-only, as it is.
        let view = Store::open_existing(&path, Duration::from_secs(1))
            .unwrap()
            .unwrap();
        assert_eq!(view.format().unwrap(), Some(4));
        let mut all = view.all().unwrap();
        all.sort_by_key(|e| e.address.to_string());
        assert_eq!(all, written);
        drop(view);
        // Opened for writing: converted, every record now checksummed, the
        // indexes and how long each has been pending kept.
        let store = Store::open(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(store.format().unwrap(), Some(FORMAT_VERSION));
        let mut all = store.all().unwrap();
        all.sort_by_key(|e| e.address.to_string());
        assert_eq!(all, written);
        assert_eq!(store.pending_since().unwrap().get(&key), Some(&0));
        assert_eq!(store.update(|t| t.count_current(brno, false)).unwrap(), 1);
        let txn = store.begin_read().unwrap();
        let table = txn.open_table(BLOCKS).unwrap();
        for item in table.iter().unwrap() {
            let (_, v) = item.unwrap();
            assert_eq!(v.value()[0], record::RECORD_VERSION);
        }
    }

    #[test]
    fn a_crashed_format_3_file_repaired_by_a_read_only_open_goes_to_the_only_loadmaster() {
        // A format-3 file left by a crash (kill -9, power cut) of the old
        // binary: the first read-only open (list, a dry run) must repair
        // it, and converts it then; the entries go where any conversion
        // gives them.
        let dir = tempfile::tempdir().unwrap();
        let clean = dir.path().join("clean.redb");
        let store = Store::open(&clean, Duration::from_secs(1)).unwrap();
        store.update(|t| t.put(&entry("192.0.2.1"))).unwrap();
        store.set_meta(FORMAT_KEY, 3).unwrap();
        drop(store);
        // Opened for writing and never closed: the copy needs recovery.
        let open = Database::create(&clean).unwrap();
        let crashed = dir.path().join("state.redb");
        std::fs::copy(&clean, &crashed).unwrap();
        std::mem::forget(open);
        assert!(matches!(
            redb::Database::builder().open_read_only(&crashed),
            Err(DatabaseError::RepairAborted)
        ));
        let site = LoadMasterName::parse("site1").unwrap();
        let view = Store::open_existing_for(&crashed, Duration::from_secs(1), site)
            .unwrap()
            .unwrap();
        assert_eq!(view.all().unwrap()[0].loadmaster, site);
        drop(view);
        let store = Store::open_for(&crashed, Duration::from_secs(1), site).unwrap();
        assert_eq!(store.all().unwrap()[0].loadmaster, site);
        assert_eq!(store.update(|t| t.count_current(site, false)).unwrap(), 1);
    }

    #[test]
    fn a_format_3_file_goes_to_the_only_loadmaster_configured() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let store = Store::open(&path, Duration::from_secs(1)).unwrap();
        store
            .update(|t| {
                t.put(&entry("192.0.2.1"))?;
                t.note_health(DEFAULT, &Health::default())
            })
            .unwrap();
        store.set_meta(FORMAT_KEY, 3).unwrap();
        drop(store);
        let site = LoadMasterName::parse("site1").unwrap();
        // Read-only, it reads as converted and stays as it is.
        {
            let view = Store::open_existing_for(&path, Duration::from_secs(1), site)
                .unwrap()
                .unwrap();
            let addr = "192.0.2.1".parse().unwrap();
            assert_eq!(view.all().unwrap()[0].loadmaster, site);
            let got = view.get(site, Scope::Vs(3), &addr).unwrap().unwrap();
            assert_eq!(got.loadmaster, site);
            assert!(view.get(DEFAULT, Scope::Vs(3), &addr).unwrap().is_none());
            assert_eq!(view.health().unwrap()[0].0, "site1");
            assert_eq!(view.format().unwrap(), Some(3));
        }
        let store = Store::open_for(&path, Duration::from_secs(1), site).unwrap();
        assert_eq!(store.format().unwrap(), Some(FORMAT_VERSION));
        let all = store.all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].loadmaster, site);
        assert_eq!(store.update(|t| t.count_current(site, false)).unwrap(), 1);
        assert_eq!(
            store.update(|t| t.count_current(DEFAULT, false)).unwrap(),
            0
        );
        let health: Vec<String> = store
            .health()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(health, ["site1"]);
        // Converted once: opening it for another name later changes nothing.
        drop(store);
        let other = LoadMasterName::parse("other").unwrap();
        let store = Store::open_for(&path, Duration::from_secs(1), other).unwrap();
        assert_eq!(store.all().unwrap()[0].loadmaster, site);
    }

    #[test]
    fn a_read_only_view_plans_from_what_the_indexes_give_a_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.redb"), Duration::from_secs(1)).unwrap();
        let with = |addr: &str, status: Status, expires: Option<i64>, simulated: bool| {
            let mut e = entry(addr);
            e.status = status;
            e.expires_at = expires;
            e.simulated = simulated;
            e
        };
        let entries = [
            // Active and due, in an order other than the keys'.
            with("192.0.2.1", Status::Active, Some(50), false),
            with("192.0.2.2", Status::Active, Some(20), false),
            with("192.0.2.3", Status::Active, Some(20), true),
            // Active, not due yet; permanent.
            with("192.0.2.4", Status::Active, Some(500), false),
            with("192.0.2.5", Status::Active, None, false),
            // Pending.
            with("192.0.2.6", Status::PendingUnblock, Some(20), false),
            with("192.0.2.0", Status::PendingBlock, Some(500), true),
            // History.
            with("192.0.2.8", Status::Expired, Some(20), false),
        ];
        store
            .update(|t| entries.iter().try_for_each(|e| t.put(e)))
            .unwrap();
        let (due, current) = store
            .update(|t| Ok((Read::due_or_pending(t, 100)?, Read::current(t)?)))
            .unwrap();
        let keys = |v: &[Entry]| v.iter().map(|e| e.address.to_string()).collect::<Vec<_>>();
        assert_eq!(
            keys(&due),
            [
                "192.0.2.2",
                "192.0.2.3",
                "192.0.2.1",
                "192.0.2.0",
                "192.0.2.6"
            ]
        );
        assert_eq!(Read::due_or_pending(&store, 100).unwrap(), due);
        assert_eq!(Read::current(&store).unwrap(), current);
        assert_eq!(current.len(), 7);
        let view = DryRun(Some(&store));
        assert_eq!(view.due_or_pending(100).unwrap(), due);
        assert!(DryRun(None).current().unwrap().is_empty());
    }

    #[test]
    fn entries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.redb");
        {
            let store = Store::open(&path, Duration::from_secs(1)).unwrap();
            store.update(|t| t.put(&entry("192.0.2.7"))).unwrap();
        }
        let store = Store::open(&path, Duration::from_secs(1)).unwrap();
        let all = store.all().unwrap();
        assert_eq!(all, vec![entry("192.0.2.7")]);
        let got = store
            .update(|t| t.get(DEFAULT, Scope::Vs(3), &"192.0.2.7".parse().unwrap()))
            .unwrap();
        assert!(got.is_some());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "state file must not be readable by others");
    }

    #[test]
    fn indexes_follow_every_change() {
        use crate::domain::entry::{complete, Applied, Call};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), Duration::from_secs(1)).unwrap();
        let claim = Claim {
            pid: 1,
            started: 0,
            token: 1,
            until: 10,
        };
        let pending = entry("192.0.2.7");
        let active = complete(entry("192.0.2.8"), &claim, Call::Add, Ok(Applied::Done), 0).unwrap();
        store
            .update(|t| {
                t.put(&pending)?;
                t.put(&active)
            })
            .unwrap();
        let (count, sweepable) = store
            .update(|t| Ok((t.count_current(DEFAULT, false)?, t.due_or_pending(0)?)))
            .unwrap();
        assert_eq!(count, 2);
        assert_eq!(
            sweepable,
            vec![pending.clone()],
            "only the pending one before expiry"
        );
        let due = store.update(|t| t.due_or_pending(3_600)).unwrap();
        assert_eq!(due.len(), 2, "the active one is due at its expiry");
        // Completing the pending one moves it out of the pending index.
        let done = complete(pending, &claim, Call::Add, Ok(Applied::Done), 0).unwrap();
        store.update(|t| t.put(&done)).unwrap();
        assert!(store.update(|t| t.due_or_pending(0)).unwrap().is_empty());
        let mut ended = done.clone();
        ended.status = Status::Expired;
        store.update(|t| t.put(&ended)).unwrap();
        assert_eq!(
            store.update(|t| t.count_current(DEFAULT, false)).unwrap(),
            1
        );
    }

    #[test]
    fn a_pending_entry_keeps_its_pending_since_through_retries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), Duration::from_secs(1)).unwrap();
        let mut e = entry("192.0.2.7");
        e.updated_at = 10;
        store.update(|t| t.put(&e)).unwrap();
        // A failed retry changes the record, not how long it has waited.
        e.updated_at = 50;
        e.last_error = Some("unreachable".into());
        store.update(|t| t.put(&e)).unwrap();
        let key = e.scope.key(&e.address);
        assert_eq!(store.pending_since().unwrap().get(&key), Some(&10));
        e.status = Status::Active;
        store.update(|t| t.put(&e)).unwrap();
        assert!(store.pending_since().unwrap().is_empty());
        // Pending again later: a new wait.
        e.status = Status::PendingUnblock;
        e.updated_at = 90;
        store.update(|t| t.put(&e)).unwrap();
        assert_eq!(store.pending_since().unwrap().get(&key), Some(&90));
    }

    #[test]
    fn history_is_deleted_oldest_first_in_bounded_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), Duration::from_secs(1)).unwrap();
        let finished = |i: i64| {
            let mut e = entry(&format!("192.0.2.{i}"));
            e.status = Status::Expired;
            e.claim = None;
            e.ended_at = Some(i);
            e
        };
        let current = entry("192.0.2.100"); // pending, updated at 0
        store
            .update(|t| {
                (1..=5).try_for_each(|i| t.put(&finished(i)))?;
                t.put(&current)
            })
            .unwrap();
        assert_eq!(store.count_history_before(4).unwrap(), 3);
        assert_eq!(store.update(|t| t.delete_history_before(4, 2)).unwrap(), 2);
        let left = |s: &Store| {
            let mut a: Vec<String> = s
                .all()
                .unwrap()
                .iter()
                .map(|e| e.address.to_string())
                .collect();
            a.sort();
            a
        };
        assert_eq!(
            left(&store),
            ["192.0.2.100", "192.0.2.3", "192.0.2.4", "192.0.2.5"],
            "the two oldest went first"
        );
        assert_eq!(store.update(|t| t.delete_history_before(4, 2)).unwrap(), 1);
        assert_eq!(store.update(|t| t.delete_history_before(4, 2)).unwrap(), 0);
        assert_eq!(left(&store), ["192.0.2.100", "192.0.2.4", "192.0.2.5"]);
        // Blocked again: out of history, never deleted by it.
        let mut again = finished(4);
        again.status = Status::Active;
        again.ended_at = None;
        store.update(|t| t.put(&again)).unwrap();
        assert_eq!(
            store
                .update(|t| t.delete_history_before(i64::MAX, 10))
                .unwrap(),
            1
        );
        assert_eq!(left(&store), ["192.0.2.100", "192.0.2.4"]);
    }

    #[test]
    fn a_lazy_commit_is_kept_by_an_orderly_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let store = Store::open(&path, Duration::from_secs(1)).unwrap();
            store.update_lazily(|t| t.put(&entry("192.0.2.7"))).unwrap();
        }
        let store = Store::open_existing(&path, Duration::from_secs(1))
            .unwrap()
            .unwrap();
        assert_eq!(store.all().unwrap(), vec![entry("192.0.2.7")]);
    }

    #[test]
    fn a_format_1_file_is_indexed_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            // What a format-1 lmguard wrote: records, no indexes.
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                txn.open_table(META).unwrap().insert(FORMAT_KEY, 1).unwrap();
                let e = entry("192.0.2.7");
                let v = serde_json::to_vec(&e).unwrap();
                txn.open_table(BLOCKS)
                    .unwrap()
                    .insert(e.scope.key(&e.address).as_str(), v.as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Store::open(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(
            store.update(|t| t.count_current(DEFAULT, false)).unwrap(),
            1
        );
        assert_eq!(store.update(|t| t.due_or_pending(0)).unwrap().len(), 1);
    }

    #[test]
    fn a_held_lock_times_out_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let _held = Store::open(&path, Duration::from_secs(1)).unwrap();
        let err = Store::open(&path, Duration::from_millis(100))
            .err()
            .expect("second open must wait then fail");
        assert_eq!(err.code(), crate::exit::ExitStatus::State);
        assert!(err.message().contains("busy"), "{}", err.message());
    }

    #[test]
    fn a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        {
            let store = Store::open(&path, Duration::from_secs(1)).unwrap();
            let txn = store.writable().unwrap().begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(FORMAT_KEY, FORMAT_VERSION + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = Store::open(&path, Duration::from_secs(1)).err().unwrap();
        assert!(err.message().contains("newer lmguard"), "{}", err.message());
    }

    #[test]
    fn garbage_file_is_a_state_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        std::fs::write(&path, b"this is not a redb file at all, just text").unwrap();
        let err = Store::open(&path, Duration::from_secs(1)).err().unwrap();
        assert_eq!(err.code(), crate::exit::ExitStatus::State);
        assert!(err.message().contains("state.redb"), "{}", err.message());
    }
}
