//! The API rate budget: every call to a LoadMaster waits for its slot, so
//! that lmguard never crosses the appliance's rate limit (Kemp: "The
//! connection drops if more than 30 calls are performed in less than 3
//! seconds over all API interfaces", loadmaster-api.md §5).
//!
//! `[loadmaster] rate = "25/3s"` allows 25 calls per 3 seconds. Calls are
//! spaced evenly, one every `window / calls` (120 ms at 25/3s): then no
//! interval shorter than the window ever holds more than `calls` of them,
//! whatever the interval, and a burst costs the same as a steady stream.
//!
//! The budget is counted over every lmguard process of the host that uses
//! the same state: the time the next call may go is kept in a small file
//! beside the state (`<state>.rate-<loadmaster>`), read and written under
//! `flock`. A call reserves its slot (the file then says when the one after
//! it may go) and sleeps until it outside the lock; the lock is held for a
//! read and a write only. A process killed at any point leaves no lock
//! behind (the kernel drops a dead process's `flock`) and at most one slot
//! unused; nobody waits for it. No slot is reserved more than an hour
//! ahead ([`HORIZON`]; a slow rate with many waiting): such a call asks
//! again later, so a time beyond it is always nonsense. The times are `CLOCK_BOOTTIME`, which no
//! clock change moves; the file names the boot it was written in, and a
//! file from another boot (or one that says nonsense) starts afresh.
//!
//! The arithmetic ([`Pace`], [`Recent`]) takes the time as an argument, so
//! it is tested without sleeping.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Calls per window: `25/3s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    pub(crate) calls: u32,
    pub(crate) window: Duration,
}

impl Rate {
    /// lmguard's default: a margin under Kemp's documented 30 calls in 3 s.
    pub(crate) const DEFAULT: Rate = Rate {
        calls: 25,
        window: Duration::from_secs(3),
    };

    /// `CALLS/WINDOW`: `25/3s`, `12/3s`, `10/1s`, `500/1m`, `25/s`.
    pub(crate) fn parse(text: &str) -> Result<Rate, String> {
        let bad = |why: &str| {
            format!(
                "{text:?} {why}; write CALLS/WINDOW, e.g. \"25/3s\" (Kemp drops the connection \
                 beyond 30 calls in 3 s, from all clients together)"
            )
        };
        let (calls, window) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("is not a rate"))?;
        let calls: u32 = calls
            .trim()
            .parse()
            .map_err(|_| bad("does not start with a whole number of calls"))?;
        if calls == 0 {
            return Err(bad("allows no call at all"));
        }
        let window = window.trim();
        // `25/s`: one unit.
        let window = if window.starts_with(|c: char| c.is_ascii_digit()) {
            humantime::parse_duration(window).map_err(|_| bad("has no window lmguard can read"))?
        } else {
            humantime::parse_duration(&format!("1{window}"))
                .map_err(|_| bad("has no window lmguard can read"))?
        };
        if window.is_zero() || window > Duration::from_secs(3600) {
            return Err(bad("needs a window longer than 0 and at most 1h"));
        }
        Ok(Rate { calls, window })
    }

    /// The time between two calls.
    pub(crate) fn interval(&self) -> Duration {
        self.window / self.calls
    }

    /// How long `calls` calls take at this rate.
    pub(crate) fn time_for(&self, calls: u64) -> Duration {
        Duration::from_secs_f64(self.window.as_secs_f64() * calls as f64 / f64::from(self.calls))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.calls,
            humantime::format_duration(self.window)
        )
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Rate::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Nanoseconds of `CLOCK_BOOTTIME`.
type Nanos = u64;

/// A time further ahead than this in the file is nonsense (a file from
/// another boot that also has the same boot id, or damage): it starts
/// afresh. So no slot is ever reserved that would put the next one beyond
/// it: a call whose slot lies further ahead (a slow rate, many waiting)
/// asks again once it is within reach, instead of making the queue look
/// like nonsense to the next caller.
const HORIZON: Nanos = 3_600 * 1_000_000_000;

/// When the next call may go, over every process sharing the budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pace {
    /// The earliest time of the next call.
    pub(crate) next: Nanos,
}

impl Pace {
    /// Reserve the next slot at `now`, if it comes by `latest` and within
    /// [`Pace::reach`]: the slot's time (now or later), the slot after it
    /// moved on by one interval. `Err(slot)`: it would come only then, and
    /// nothing was reserved.
    pub(crate) fn reserve(
        &mut self,
        interval: Nanos,
        now: Nanos,
        latest: Option<Nanos>,
    ) -> Result<Nanos, Nanos> {
        if self.next > now.saturating_add(HORIZON) {
            self.next = 0;
        }
        let slot = self.next.max(now);
        let reach = Pace::reach(interval, now);
        if slot > latest.map_or(reach, |l| l.min(reach)) {
            return Err(slot);
        }
        self.next = slot.saturating_add(interval.max(1));
        Ok(slot)
    }

    /// The latest slot a call may reserve at `now`: the one after it stays
    /// within [`HORIZON`], so what the file says is never taken for
    /// nonsense while calls wait for their slots.
    pub(crate) fn reach(interval: Nanos, now: Nanos) -> Nanos {
        now.saturating_add(HORIZON.saturating_sub(interval.max(1)))
    }
}

/// The last calls' times (the last [`RECENT`]), to tell a connection the
/// appliance dropped after a burst from one it dropped because it is down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Recent {
    times: [Nanos; RECENT],
    /// Where the next time goes.
    head: usize,
}

/// How many calls' times [`Recent`] keeps: more than Kemp's 30.
pub(crate) const RECENT: usize = 32;

impl Recent {
    pub(crate) fn push(&mut self, at: Nanos) {
        self.times[self.head % RECENT] = at;
        self.head = (self.head + 1) % RECENT;
    }

    /// How many of the calls kept were made within `window` before `now`
    /// (at most [`RECENT`]).
    pub(crate) fn within(&self, window: Nanos, now: Nanos) -> usize {
        self.times
            .iter()
            .filter(|t| **t != 0 && **t <= now && now - **t < window)
            .count()
    }
}

/// The file's layout: magic, boot id hash, next, head, then the recent
/// times; little-endian `u64`s.
const MAGIC: &[u8; 8] = b"LMGRATE1";
const FILE_LEN: usize = 8 * (4 + RECENT);

/// What the file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Shared {
    pub(crate) pace: Pace,
    pub(crate) recent: Recent,
}

impl Shared {
    /// The file's bytes as written in boot `boot`; anything else (empty, short,
    /// another boot, another format) is a fresh budget.
    pub(crate) fn decode(bytes: &[u8], boot: u64) -> Shared {
        if bytes.len() != FILE_LEN || &bytes[..8] != MAGIC {
            return Shared::default();
        }
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[8 * i..8 * i + 8]);
            u64::from_le_bytes(w)
        };
        if word(1) != boot {
            return Shared::default();
        }
        let mut recent = Recent {
            head: (word(3) as usize) % RECENT,
            ..Recent::default()
        };
        for (i, t) in recent.times.iter_mut().enumerate() {
            *t = word(4 + i);
        }
        Shared {
            pace: Pace { next: word(2) },
            recent,
        }
    }

    pub(crate) fn encode(&self, boot: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(FILE_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&boot.to_le_bytes());
        out.extend_from_slice(&self.pace.next.to_le_bytes());
        out.extend_from_slice(&(self.recent.head as u64).to_le_bytes());
        for t in &self.recent.times {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out
    }
}

/// The budget file of LoadMaster `name` for the state at `state`:
/// `<state>.rate-<name>`.
pub(crate) fn path_for(state: &Path, name: &str) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(format!(".rate-{name}"));
    PathBuf::from(p)
}

/// Why a call did not get its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoSlot {
    /// How long after now the slot would have come.
    pub(crate) in_: Duration,
}

/// One LoadMaster's budget, shared by the threads of this process (and,
/// through its file, with the other lmguard processes).
pub(crate) struct Budget {
    rate: Rate,
    /// How long a call waits for its slot at most (`None`: as long as it
    /// takes).
    patience: Option<Duration>,
    /// The file, or `None` when it cannot be used: then this process paces
    /// itself alone (`memory`).
    file: Option<PathBuf>,
    /// This process's view and the file, kept open; also what the threads
    /// of the process lock, since `flock` does not tell them apart.
    memory: Mutex<Local>,
    boot: u64,
}

/// What one process keeps of a budget.
#[derive(Default)]
struct Local {
    /// The budget as last seen (what a process without its file goes by).
    shared: Shared,
    /// The budget file, open while it is the one at its path.
    file: Option<File>,
}

impl Budget {
    /// A budget at `rate`, counted in `file` (created when first used,
    /// owned like the state's lock file; never through a symbolic link).
    /// While the file cannot be used (no state directory yet, no
    /// permission), this process paces its own calls alone.
    pub(crate) fn new(rate: Rate, file: Option<PathBuf>) -> Budget {
        Budget {
            rate,
            patience: None,
            file,
            memory: Mutex::new(Local::default()),
            boot: boot_id(),
        }
    }

    /// Calls wait at most `patience` for their slot (a one-shot `block`).
    pub(crate) fn with_patience(mut self, patience: Duration) -> Budget {
        self.patience = Some(patience);
        self
    }

    pub(crate) fn rate(&self) -> Rate {
        self.rate
    }

    pub(crate) fn patience(&self) -> Option<Duration> {
        self.patience
    }

    /// Wait for the next call's slot; `Err` when it would not come within
    /// the patience (nothing was reserved then).
    pub(crate) fn wait_for_slot(&self) -> Result<(), NoSlot> {
        let interval = self.rate.interval().as_nanos() as u64;
        let give_up = self
            .patience
            .map(|p| boottime().saturating_add(p.as_nanos() as u64));
        loop {
            // The slot, or how long until the queue is within reach.
            let got = self.update(|shared, now| {
                match shared.pace.reserve(interval, now, give_up) {
                    Ok(slot) => {
                        shared.recent.push(slot.max(1));
                        Ok(Ok(slot))
                    }
                    Err(slot) if give_up.is_some_and(|g| slot > g) => Err(NoSlot {
                        in_: Duration::from_nanos(slot.saturating_sub(now)),
                    }),
                    // Beyond the reach of a reservation: ask again when it
                    // is within it (the queue may move on meanwhile).
                    Err(slot) => Ok(Err(slot.saturating_sub(Pace::reach(interval, now)))),
                }
            })?;
            match got {
                Ok(slot) => {
                    let now = boottime();
                    if slot > now {
                        std::thread::sleep(Duration::from_nanos(slot - now));
                    }
                    return Ok(());
                }
                Err(wait) => std::thread::sleep(Duration::from_nanos(wait.max(1_000_000))),
            }
        }
    }

    /// How many calls went to the LoadMaster within the window before now
    /// (at most [`RECENT`]), from every process sharing the budget.
    pub(crate) fn recent_calls(&self) -> usize {
        let window = self.rate.window.as_nanos() as u64;
        self.update(|shared, now| Ok::<_, ()>(shared.recent.within(window, now)))
            .unwrap_or(0)
    }

    /// `f` on the shared budget, under this process's lock and the file's.
    fn update<T, E>(&self, f: impl FnOnce(&mut Shared, Nanos) -> Result<T, E>) -> Result<T, E> {
        let mut local = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let Local {
            shared: memory,
            file,
        } = &mut *local;
        let Some(path) = &self.file else {
            return f(memory, boottime());
        };
        // The file at the path (it may have been removed or replaced since
        // it was opened: then the one there now).
        if file.as_ref().is_some_and(|f| !is_at(f, path)) {
            *file = None;
        }
        if file.is_none() {
            match open(path) {
                Ok(f) => *file = Some(f),
                Err(e) => {
                    log::debug!("rate budget file {}: {e}", path.display());
                    return f(memory, boottime());
                }
            }
        }
        let Some(handle) = file.as_ref() else {
            return f(memory, boottime());
        };
        // Held for a read and a write; released by unlock, by closing, or
        // by the kernel when the process dies: nobody ever waits for a
        // dead process.
        if let Err(e) = handle.lock() {
            log::debug!("cannot lock {}: {e}", path.display());
            return f(memory, boottime());
        }
        let mut bytes = [0u8; FILE_LEN + 1];
        let read = handle.read_at(&mut bytes, 0);
        let mut shared = match read {
            Ok(n) => Shared::decode(&bytes[..n], self.boot),
            Err(_) => *memory,
        };
        let result = f(&mut shared, boottime());
        if result.is_ok() {
            // Written over its first FILE_LEN bytes: only a file the read
            // found longer (damage), or could not read, needs cutting.
            let written =
                handle
                    .write_all_at(&shared.encode(self.boot), 0)
                    .and_then(|()| match read {
                        Ok(n) if n <= FILE_LEN => Ok(()),
                        _ => handle.set_len(FILE_LEN as u64),
                    });
            if let Err(e) = written {
                log::debug!("cannot write {}: {e}", path.display());
            }
            *memory = shared;
        }
        let _ = handle.unlock();
        result
    }
}

/// Open (or create, private, owned as the state's lock file or directory
/// is) the budget file; never through a symbolic link.
fn open(path: &Path) -> std::io::Result<File> {
    let options = || {
        let mut o = OpenOptions::new();
        crate::nofollow::no_follow(o.read(true).write(true));
        o
    };
    match options().open(path) {
        Ok(f) => return checked(f, path),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    match options().create_new(true).mode(0o600).open(path) {
        Ok(f) => {
            // Created here, it takes the owner of the state's lock file (or
            // its directory): root's `sudo lmguard unblock` must not leave
            // a file the user that runs lmguard cannot open.
            let owner = std::fs::metadata(lock_file_of(path))
                .or_else(|_| std::fs::metadata(path.parent().unwrap_or(Path::new("."))));
            if let Ok(owner) = owner {
                let _ = std::os::unix::fs::fchown(&f, Some(owner.uid()), Some(owner.gid()));
            }
            Ok(f)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            checked(options().open(path)?, path)
        }
        Err(e) => Err(e),
    }
}

/// Whether `file` is the one at `path` (not followed if a link).
fn is_at(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(open), Ok(there)) => open.dev() == there.dev() && open.ino() == there.ino(),
        _ => false,
    }
}

/// A regular file only (not a FIFO or a device someone put there).
fn checked(f: File, path: &Path) -> std::io::Result<File> {
    if f.metadata()?.is_file() {
        Ok(f)
    } else {
        Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )))
    }
}

/// The lock file of the state a budget file belongs to
/// (`<state>.rate-NAME` → `<state>.lock`).
fn lock_file_of(budget: &Path) -> PathBuf {
    let text = budget.as_os_str().to_string_lossy();
    match text.rfind(".rate-") {
        Some(i) => PathBuf::from(format!("{}.lock", &text[..i])),
        None => budget.to_path_buf(),
    }
}

/// Now, on `CLOCK_BOOTTIME` (the same clock for every process of the host;
/// no clock change moves it).
fn boottime() -> Nanos {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// This boot's id, hashed (0 when the kernel does not say).
fn boot_id() -> u64 {
    let Ok(id) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") else {
        return 0;
    };
    // FNV-1a: stable from one process to the next (unlike std's hasher).
    id.trim().bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    #[test]
    fn rates_are_read_as_written_and_bad_ones_named() {
        let r = Rate::parse("25/3s").unwrap();
        assert_eq!(r, Rate::DEFAULT);
        assert_eq!(r.interval(), Duration::from_millis(120));
        assert_eq!(r.to_string(), "25/3s");
        assert_eq!(Rate::parse("10/s").unwrap().window, Duration::from_secs(1));
        assert_eq!(Rate::parse("12 / 3s").unwrap().calls, 12);
        assert_eq!(
            Rate::parse("100000/1s").unwrap().interval(),
            Duration::from_micros(10)
        );
        for bad in [
            "25",
            "0/3s",
            "x/3s",
            "25/",
            "25/3 parsecs",
            "25/0s",
            "25/2h",
            "-1/3s",
        ] {
            let e = Rate::parse(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("25/3s"), "{bad}: {e}");
        }
    }

    #[test]
    fn ten_thousand_calls_at_the_default_take_twenty_minutes() {
        assert_eq!(Rate::DEFAULT.time_for(10_000), Duration::from_secs(20 * 60));
        assert_eq!(Rate::DEFAULT.time_for(1_000), Duration::from_secs(120));
    }

    /// Reserve `n` slots at `now`, as `n` threads asking at once would.
    fn burst(pace: &mut Pace, interval: Nanos, now: Nanos, n: usize) -> Vec<Nanos> {
        (0..n)
            .map(|_| pace.reserve(interval, now, None).unwrap())
            .collect()
    }

    #[test]
    fn no_window_ever_holds_more_calls_than_the_rate() {
        let rate = Rate::DEFAULT;
        let interval = rate.interval().as_nanos() as u64;
        let window = rate.window.as_nanos() as u64;
        let mut pace = Pace::default();
        let mut slots = burst(&mut pace, interval, 1_000 * MS, 90);
        // Later asks, some while the burst is still queued.
        slots.extend(burst(&mut pace, interval, 2_000 * MS, 10));
        slots.extend(burst(&mut pace, interval, 60_000 * MS, 40));
        slots.sort_unstable();
        for (i, start) in slots.iter().enumerate() {
            let inside = slots[i..]
                .iter()
                .take_while(|t| **t < start + window)
                .count();
            assert!(inside <= rate.calls as usize, "{inside} calls within 3 s");
        }
        // The 90-call burst takes the time the budget allows.
        assert_eq!(slots[89] - slots[0], 89 * interval);
        // An idle budget lets the next call go at once.
        assert_eq!(slots[100], 60_000 * MS);
    }

    #[test]
    fn a_slot_beyond_the_patience_is_not_reserved() {
        let interval = 100 * MS;
        let mut pace = Pace::default();
        burst(&mut pace, interval, 0, 10);
        let before = pace;
        // The next slot is 1 s away: not within 500 ms.
        assert_eq!(pace.reserve(interval, 0, Some(500 * MS)), Err(1_000 * MS));
        assert_eq!(pace, before);
        assert_eq!(pace.reserve(interval, 0, Some(1_000 * MS)), Ok(1_000 * MS));
    }

    #[test]
    fn no_reservation_reaches_beyond_the_horizon() {
        // One call an hour: with the first slot taken, the next is an hour
        // away, beyond what may be reserved now; nothing is reserved, and
        // the queue is kept (not taken for nonsense by the next caller).
        let hour = HORIZON;
        let mut pace = Pace::default();
        assert_eq!(pace.reserve(hour, 0, None), Ok(0));
        assert_eq!(pace.reserve(hour, MS, None), Err(hour));
        assert_eq!(pace.reserve(hour, 2 * MS, None), Err(hour));
        assert_eq!(pace.next, hour);
        // Once due, it is reserved.
        assert_eq!(pace.reserve(hour, hour, None), Ok(hour));
        // A fast rate reserves far ahead as before.
        let mut pace = Pace::default();
        assert_eq!(burst(&mut pace, 120 * MS, 0, 1000)[999], 999 * 120 * MS);
    }

    #[test]
    fn a_time_far_ahead_is_nonsense_and_forgotten() {
        let mut pace = Pace { next: HORIZON * 5 };
        assert_eq!(pace.reserve(MS, 10 * MS, None), Ok(10 * MS));
    }

    #[test]
    fn recent_calls_are_counted_within_the_window() {
        let mut recent = Recent::default();
        for i in 0..40 {
            recent.push(1 + i * 100 * MS);
        }
        // Calls at ...3.6 s, 3.7 s, 3.8 s, 3.9 s: 10 within the last second.
        assert_eq!(recent.within(1_000 * MS, 3_901 * MS), 10);
        assert_eq!(recent.within(100_000 * MS, 3_901 * MS), RECENT);
        assert_eq!(Recent::default().within(1_000 * MS, 5_000 * MS), 0);
    }

    #[test]
    fn the_file_round_trips_and_another_boot_starts_afresh() {
        let mut shared = Shared::default();
        shared.pace.next = 42;
        shared.recent.push(7);
        let bytes = shared.encode(9);
        assert_eq!(bytes.len(), FILE_LEN);
        assert_eq!(Shared::decode(&bytes, 9), shared);
        assert_eq!(Shared::decode(&bytes, 8), Shared::default());
        assert_eq!(Shared::decode(&bytes[..10], 9), Shared::default());
        assert_eq!(Shared::decode(b"", 9), Shared::default());
    }

    #[test]
    fn threads_of_one_process_and_the_file_share_one_budget() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.redb");
        let file = path_for(&state, "default");
        let rate = Rate::parse("20/200ms").unwrap();
        // Two budgets on one file: two processes.
        let a = Budget::new(rate, Some(file.clone()));
        let b = Budget::new(rate, Some(file.clone()));
        let start = std::time::Instant::now();
        std::thread::scope(|s| {
            for budget in [&a, &b, &a, &b] {
                s.spawn(move || {
                    for _ in 0..10 {
                        budget.wait_for_slot().unwrap();
                    }
                });
            }
        });
        // 40 calls at 10 ms each: the last went after 390 ms at the soonest.
        assert!(
            start.elapsed() >= Duration::from_millis(390),
            "{:?}",
            start.elapsed()
        );
        // Both processes' calls count: the window holds the rate's 20.
        let recent = b.recent_calls();
        assert!((18..=20).contains(&recent), "{recent}");
        let meta = std::fs::symlink_metadata(&file).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.mode() & 0o777, 0o600);
    }

    #[test]
    fn a_symbolic_link_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"keep").unwrap();
        let file = dir.path().join("state.redb.rate-default");
        std::os::unix::fs::symlink(&target, &file).unwrap();
        let budget = Budget::new(Rate::parse("1000/1s").unwrap(), Some(file));
        budget.wait_for_slot().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn a_file_removed_or_replaced_is_followed_to_the_one_at_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = path_for(&dir.path().join("state.redb"), "brno");
        let rate = Rate::parse("1/10s").unwrap();
        let patience = Duration::from_millis(100);
        let a = Budget::new(rate, Some(file.clone())).with_patience(patience);
        a.wait_for_slot().unwrap();
        assert!(a.wait_for_slot().is_err());
        // Removed (by hand): a starts afresh in the new file, and a process
        // that opens the path now shares it.
        std::fs::remove_file(&file).unwrap();
        a.wait_for_slot().unwrap();
        let b = Budget::new(rate, Some(file.clone())).with_patience(patience);
        assert!(b.wait_for_slot().is_err());
    }

    #[test]
    fn a_slow_rate_is_never_crossed_however_many_wait() {
        // One call an hour (a window of 1 h is allowed): the first goes at
        // once; the next may go only an hour later, whoever else waits
        // meanwhile. Waiters queued beyond the nonsense horizon once made
        // the budget forget its queue, and the third call went at once.
        let budget: &'static Budget =
            Box::leak(Box::new(Budget::new(Rate::parse("1/1h").unwrap(), None)));
        budget.wait_for_slot().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..3 {
            let tx = tx.clone();
            // Left waiting when the test ends.
            std::thread::spawn(move || {
                if budget.wait_for_slot().is_ok() {
                    let _ = tx.send(());
                }
            });
        }
        assert!(
            rx.recv_timeout(Duration::from_millis(500)).is_err(),
            "a second call within the hour"
        );
    }

    #[test]
    fn patience_runs_out_without_reserving() {
        let budget = Budget::new(Rate::parse("1/10s").unwrap(), None)
            .with_patience(Duration::from_millis(100));
        budget.wait_for_slot().unwrap();
        let e = budget.wait_for_slot().unwrap_err();
        assert!(e.in_ > Duration::from_secs(9), "{e:?}");
    }
}
