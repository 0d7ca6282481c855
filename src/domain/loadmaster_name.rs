//! The name of a configured LoadMaster: `default` for a lone `[loadmaster]`
//! table, else the `name` of its `[[loadmaster]]` table. Every entry in the
//! state belongs to one (an entry is per LoadMaster, scope and address).
//!
//! Names are few (one per configured LoadMaster, plus any an older
//! configuration left in the state) and copied into every entry and call,
//! so they are interned: a name is a `&'static str`, `Copy`, and compares
//! as a string.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

/// A LoadMaster's name: letters, digits, `-` and `_`, 1 to 64 of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoadMasterName(&'static str);

/// The name of the LoadMaster of a lone `[loadmaster]` table, and the owner
/// of the entries of a state file written before there could be several.
pub const DEFAULT: LoadMasterName = LoadMasterName("default");

const MAX_LEN: usize = 64;

static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

impl LoadMasterName {
    /// Check a name as written in the configuration (or `--loadmaster`).
    pub fn parse(name: &str) -> Result<LoadMasterName, String> {
        if name.is_empty() {
            return Err("is empty".to_string());
        }
        if name.len() > MAX_LEN {
            return Err(format!("is longer than {MAX_LEN} characters"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "holds {c:?}; a name may hold only letters, digits, '-' and '_'"
            ));
        }
        Ok(LoadMasterName::intern(name))
    }

    /// The one copy of `name` (which has been checked, or was read back
    /// from a state key this version wrote).
    pub(crate) fn intern(name: &str) -> LoadMasterName {
        if name == DEFAULT.0 {
            return DEFAULT;
        }
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = names.get(name) {
            return LoadMasterName(known);
        }
        let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
        names.insert(leaked);
        LoadMasterName(leaked)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    pub fn is_default(self) -> bool {
        self == DEFAULT
    }
}

impl fmt::Display for LoadMasterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for LoadMasterName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl Default for LoadMasterName {
    fn default() -> Self {
        DEFAULT
    }
}

/// Records of the first formats (JSON) hold no name; the state key says
/// whose an entry is (see [`crate::domain::entry::state_key`]).
impl<'de> serde::Deserialize<'de> for LoadMasterName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        LoadMasterName::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_interned() {
        let a = LoadMasterName::parse("brno-1_a").unwrap();
        let b = LoadMasterName::parse(&String::from("brno-1_a")).unwrap();
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_eq!(LoadMasterName::parse("default").unwrap(), DEFAULT);
        for bad in ["", "br no", "brno/2", "ünï", "a.b", &"x".repeat(65)] {
            assert!(LoadMasterName::parse(bad).is_err(), "{bad}");
        }
        assert!(LoadMasterName::parse("br no").unwrap_err().contains("' '"));
    }
}
