//! For `lmguard check`: do the indexes agree with the records? A flipped
//! bit in an index row (an expiry time, a key) would make sweep miss an
//! entry — one that then never expires — while every record reads fine.

use std::collections::{BTreeMap, BTreeSet};

use redb::{ReadTransaction, ReadableTable, TableDefinition, TableError};

use super::{
    unusable, Store, CURRENT, CURRENT_COUNT, CURRENT_SIMULATED, CURRENT_SIMULATED_COUNT, DUE,
    FORMAT_VERSION, HISTORY, META,
};
use crate::domain::entry::Entry;
use crate::error::Result;

/// At most this many disagreements are named; the rest are counted.
const NAMED: usize = 3;

impl Store {
    /// What in the indexes disagrees with the records, each in a few words
    /// (empty when all agree, or when the file is of an older format, whose
    /// indexes are rebuilt when it is converted).
    pub(crate) fn index_problems(&self) -> Result<Vec<String>> {
        super::guarded(&self.path, || self.index_problems_raw())
    }

    fn index_problems_raw(&self) -> Result<Vec<String>> {
        if self.stored_format()? != Some(FORMAT_VERSION) {
            return Ok(Vec::new());
        }
        let entries = self.snapshot_raw()?.read_all()?;
        let txn = self.begin_read()?;
        let mut problems = Vec::new();
        let keys = |f: &dyn Fn(&Entry) -> bool| -> BTreeSet<String> {
            entries.iter().filter(|e| f(e)).map(Entry::key).collect()
        };
        let timed = |f: &dyn Fn(&Entry) -> Option<i64>| -> BTreeSet<(i64, String)> {
            entries
                .iter()
                .filter_map(|e| f(e).map(|at| (at, e.key())))
                .collect()
        };
        let current = keys(&|e| e.status.is_current() && !e.simulated);
        let simulated = keys(&|e| e.status.is_current() && e.simulated);
        let pending = keys(&|e| e.status.is_pending());
        let due = timed(&|e| match e.status {
            crate::domain::entry::Status::Active => e.expires_at,
            _ => None,
        });
        let history = timed(&Entry::history_since);
        compare(
            "index_current",
            &current,
            &self.keys_of(&txn, CURRENT)?,
            &mut problems,
        );
        compare(
            "index_current_simulated",
            &simulated,
            &self.keys_of(&txn, CURRENT_SIMULATED)?,
            &mut problems,
        );
        let pending_rows: BTreeSet<String> = self.pending_since_raw()?.into_keys().collect();
        compare("index_pending", &pending, &pending_rows, &mut problems);
        compare("index_due", &due, &self.timed_of(&txn, DUE)?, &mut problems);
        compare(
            "index_history",
            &history,
            &self.timed_of(&txn, HISTORY)?,
            &mut problems,
        );
        // The counters max_active reads.
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for e in entries.iter().filter(|e| e.status.is_current()) {
            let prefix = if e.simulated {
                CURRENT_SIMULATED_COUNT
            } else {
                CURRENT_COUNT
            };
            *want.entry(format!("{prefix}{}", e.loadmaster)).or_default() += 1;
        }
        let mut have: BTreeMap<String, u64> = BTreeMap::new();
        if let Some(meta) = open(&txn, META, self)? {
            for item in meta.iter().map_err(|e| unusable(&self.path, &e))? {
                let (k, v) = item.map_err(|e| unusable(&self.path, &e))?;
                let k = k.value();
                if (k.starts_with(CURRENT_COUNT) || k.starts_with(CURRENT_SIMULATED_COUNT))
                    && v.value() != 0
                {
                    have.insert(k.to_string(), v.value());
                }
            }
        }
        if want != have {
            problems.push(format!(
                "the counts of current blocks say {have:?}, the records {want:?}"
            ));
        }
        Ok(problems)
    }

    fn keys_of(
        &self,
        txn: &ReadTransaction,
        def: TableDefinition<&str, ()>,
    ) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        if let Some(table) = open(txn, def, self)? {
            for item in table.iter().map_err(|e| unusable(&self.path, &e))? {
                let (k, _) = item.map_err(|e| unusable(&self.path, &e))?;
                out.insert(k.value().to_string());
            }
        }
        Ok(out)
    }

    fn timed_of(
        &self,
        txn: &ReadTransaction,
        def: TableDefinition<(i64, &str), ()>,
    ) -> Result<BTreeSet<(i64, String)>> {
        let mut out = BTreeSet::new();
        if let Some(table) = open(txn, def, self)? {
            for item in table.iter().map_err(|e| unusable(&self.path, &e))? {
                let (k, _) = item.map_err(|e| unusable(&self.path, &e))?;
                let (at, key) = k.value();
                out.insert((at, key.to_string()));
            }
        }
        Ok(out)
    }
}

fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
    store: &Store,
) -> Result<Option<redb::ReadOnlyTable<K, V>>> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(unusable(&store.path, &e)),
    }
}

/// Name what `have` holds that `want` does not, and the other way round.
fn compare<T: Ord + std::fmt::Debug>(
    table: &str,
    want: &BTreeSet<T>,
    have: &BTreeSet<T>,
    problems: &mut Vec<String>,
) {
    let extra: Vec<&T> = have.difference(want).collect();
    let missing: Vec<&T> = want.difference(have).collect();
    let named = |rows: &[&T]| {
        let mut text = rows
            .iter()
            .take(NAMED)
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        if rows.len() > NAMED {
            text.push_str(&format!(" and {} more", rows.len() - NAMED));
        }
        text
    };
    if !extra.is_empty() {
        problems.push(format!(
            "{table} holds rows no record matches: {}",
            named(&extra)
        ));
    }
    if !missing.is_empty() {
        problems.push(format!(
            "{table} lacks rows of records: {}",
            named(&missing)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entry::testing::{pending, request};
    use std::time::Duration;

    /// A pending one-hour global block of `addr`, as a block records it.
    fn entry(addr: &str) -> Entry {
        pending(&request(addr, "test"), 0)
    }

    #[test]
    fn indexes_that_agree_pass_and_a_damaged_due_row_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), Duration::from_secs(1)).unwrap();
        let mut active = entry("198.51.100.57");
        active.status = crate::domain::entry::Status::Active;
        active.expires_at = Some(3600);
        store
            .update(|t| {
                t.put(&entry("192.0.2.1"))?;
                t.put(&active)
            })
            .unwrap();
        assert_eq!(store.index_problems().unwrap(), Vec::<String>::new());
        // A flipped bit in the due row's key: sweep would never see it.
        let txn = store.writable().unwrap().begin_write().unwrap();
        {
            let mut due = txn.open_table(DUE).unwrap();
            due.remove((3600, "global|198.51.100.57")).unwrap();
            due.insert((3600, "global|198.51.100.56"), ()).unwrap();
        }
        txn.commit().unwrap();
        let problems = store.index_problems().unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("198.51.100.56"), "{problems:?}");
        assert!(problems[1].contains("198.51.100.57"), "{problems:?}");
    }
}
