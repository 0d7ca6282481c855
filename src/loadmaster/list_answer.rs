//! Reading a `list`/`listvs` answer straight from its bytes into entries,
//! without building a JSON tree: whatever shape it has, the memory it takes
//! is about the size of the entries themselves (a JSON tree of a large
//! answer takes many times the answer's size).
//!
//! The v2 list shape is not documented and public clients disagree
//! (`loadmaster-api.md` §4), so every shape seen is found: `IP` or `Acl`
//! (any case) at the top level; or inside `Blocklist`/`Blacklist`/
//! `Allowlist`/`Whitelist`, which may also hold the entries directly as an
//! array; or inside a `VS` object, or an array of them. An entry is an
//! object (`addr`, optional `comment`) or a bare string; one entry may come
//! as an object instead of an array; a `null` or empty list is empty.
//!
//! Members that only describe a list (`list`, `VS_IP`, `VS_Port`,
//! `VS_Protocol`, `Index`, `Status`, any case) are not entries: an answer,
//! container or VS object holding only them is an empty list (the Go
//! client's `{"list":"block"}`, a VS description with no entries member,
//! its fields flattened at the top level). They describe with a plain value
//! (a string, number, boolean or `null`); one holding an array or object
//! (`"list":[…]`) holds something, perhaps the entries, and is a member
//! lmguard does not know.
//!
//! The rule: a member lmguard does not know — at the top level, in a list
//! container, in a VS object — makes the answer an error that names it
//! (`Blacklist.addr`, `VS.Entries`), whatever else the answer holds: it is
//! never taken as an empty list, so no decision (a delete settled, a re-add
//! planned) is made from it. Only an entry (an object with `addr`) may carry
//! members lmguard ignores.
//!
//! An entry without a comment (no `comment` member, `null`, or a bare
//! string) has `comment: None`: the LoadMaster shows no comment, and
//! ownership comes from the local record (`domain::ownership`).

use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

/// One entry of a LoadMaster access list, as the LoadMaster returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedEntry {
    pub(crate) addr: String,
    /// `None` when the LoadMaster showed no comment for it (no `comment`
    /// member, `null`, or a bare string).
    pub(crate) comment: Option<String>,
}

/// What a list answer said.
#[derive(Debug, Default)]
pub(crate) struct ListAnswer {
    /// `status`, `code` and `message`, as a small JSON object (for the
    /// usual success and failure checks).
    pub(crate) head: serde_json::Map<String, Value>,
    /// The entries, when a list was found.
    pub(crate) entries: Option<Vec<ListedEntry>>,
    /// Members lmguard does not know, with where they were
    /// (`Blacklist.addr`).
    pub(crate) unknown: Vec<String>,
}

/// Read a list answer. `Err` when the bytes are not a JSON object.
pub(crate) fn read(bytes: &[u8]) -> Result<ListAnswer, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let answer = Top
        .deserialize(&mut de)
        .map_err(|e| format!("not a JSON object lmguard can read ({e})"))?;
    de.end()
        .map_err(|e| format!("trailing data after the JSON ({e})"))?;
    Ok(answer)
}

impl ListAnswer {
    /// The entries, or why the answer holds no list lmguard can trust.
    pub(crate) fn into_entries(self) -> Result<Vec<ListedEntry>, String> {
        if !self.unknown.is_empty() {
            let mut names: Vec<String> = self
                .unknown
                .iter()
                .take(8)
                .map(|k| format!("{k:?}"))
                .collect();
            if self.unknown.len() > 8 {
                names.push(format!("and {} more", self.unknown.len() - 8));
            }
            return Err(format!(
                "the list answer holds {} lmguard does not know: {} (lmguard knows IP, Acl, \
                 Blocklist, Blacklist, Allowlist, Whitelist and VS, and the members that \
                 describe a list: list, VS_IP, VS_Port, VS_Protocol, Index, Status); it is not \
                 taken as a list, so nothing is decided from it",
                if self.unknown.len() == 1 {
                    "a member"
                } else {
                    "members"
                },
                names.join(", ")
            ));
        }
        Ok(self.entries.unwrap_or_default())
    }
}

const CONTAINERS: [&str; 4] = ["blocklist", "blacklist", "allowlist", "whitelist"];
/// Members that only describe a list (with a plain value), lower case.
pub(crate) const DESCRIBING: [&str; 5] = ["list", "vs_ip", "vs_port", "vs_protocol", "index"];

/// The top-level object.
struct Top;

impl<'de> DeserializeSeed<'de> for Top {
    type Value = ListAnswer;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ListAnswer, D::Error> {
        d.deserialize_map(ObjectVisitor {
            depth: 0,
            path: String::new(),
        })
    }
}

/// An object that may hold a list (the top level, a container, a VS).
struct ObjectVisitor {
    depth: u8,
    /// Where it is (`VS`, `VS.Blocklist`); empty at the top level.
    path: String,
}

fn add(found: &mut Option<Vec<ListedEntry>>, more: Vec<ListedEntry>) {
    found.get_or_insert_with(Vec::new).extend(more);
}

/// `name` under `path`.
fn at(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// What a container or VS held: entries (`None`: no list member), and the
/// members lmguard does not know.
#[derive(Default)]
struct Held {
    entries: Option<Vec<ListedEntry>>,
    unknown: Vec<String>,
}

impl Held {
    fn take(&mut self, mut other: Held) {
        if let Some(e) = other.entries {
            add(&mut self.entries, e);
        }
        self.unknown.append(&mut other.unknown);
    }
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = ListAnswer;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ListAnswer, A::Error> {
        let mut answer = ListAnswer::default();
        let top = self.depth == 0;
        while let Some(key) = map.next_key_seed(KeySeed {
            in_entry: false,
            top,
        })? {
            match key {
                // `status` as spelled wins over another spelling of it (a
                // flattened VS description's `Status`).
                Key::Head(name, exact) => {
                    let v: Value = map.next_value()?;
                    if exact {
                        answer.head.insert(name.to_string(), v);
                    } else {
                        answer.head.entry(name.to_string()).or_insert(v);
                    }
                }
                Key::List => add(&mut answer.entries, map.next_value_seed(Entries)?),
                Key::Container(name) | Key::Vs(name) if self.depth < 3 => {
                    let inner = map.next_value_seed(Container {
                        depth: self.depth + 1,
                        path: at(&self.path, &name),
                    })?;
                    if let Some(entries) = inner.entries {
                        add(&mut answer.entries, entries);
                    }
                    answer.unknown.extend(inner.unknown);
                }
                Key::Describing(name) => {
                    if !map.next_value_seed(Plain)? {
                        answer.unknown.push(at(&self.path, &name));
                    }
                }
                Key::Container(name) | Key::Vs(name) | Key::Other(name) => {
                    map.next_value::<IgnoredAny>()?;
                    answer.unknown.push(at(&self.path, &name));
                }
                Key::Addr | Key::Comment => {
                    unreachable!("addr and comment are told apart only in entries")
                }
            }
        }
        Ok(answer)
    }
}

/// A container's value: an object holding a list, an array (of entries, or
/// of VS objects), or empty (`null`, `""`).
struct Container {
    depth: u8,
    path: String,
}

impl<'de> DeserializeSeed<'de> for Container {
    type Value = Held;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

fn empty() -> Held {
    Held {
        entries: Some(Vec::new()),
        unknown: Vec::new(),
    }
}

impl<'de> Visitor<'de> for Container {
    type Value = Held;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list container")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(empty())
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(empty())
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if s.trim().is_empty() {
            Ok(empty())
        } else {
            Err(E::custom(format!(
                "the list container {} is the string {s:?}",
                self.path
            )))
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let inner = ObjectVisitor {
            depth: self.depth,
            path: self.path,
        }
        .visit_map(map)?;
        // A container or VS object with no list member (empty, or only
        // describing members) is an empty list.
        Ok(Held {
            entries: Some(inner.entries.unwrap_or_default()),
            unknown: inner.unknown,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Entries directly, or VS objects each holding a list (or only
        // describing one).
        let mut out = empty();
        while let Some(item) = seq.next_element_seed(Item { path: &self.path })? {
            out.take(item);
        }
        Ok(out)
    }
}

/// An element of an array in a container: an entry, or an object holding a
/// list (a VS) or describing one.
struct Item<'p> {
    path: &'p str,
}

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = Held;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = Held;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list entry or a VS object")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Held {
            entries: Some(vec![bare(s)]),
            unknown: Vec::new(),
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        match EntryFields::read(map, self.path)? {
            Fields::Entry(e) => Ok(Held {
                entries: Some(vec![e]),
                unknown: Vec::new(),
            }),
            Fields::Holder(inner) => Ok(inner),
        }
    }
}

fn bare(s: &str) -> ListedEntry {
    ListedEntry {
        addr: s.trim().to_string(),
        comment: None,
    }
}

/// The members of `IP`/`Acl`: an array of entries, one entry, or `null`.
struct Entries;

impl<'de> DeserializeSeed<'de> for Entries {
    type Value = Vec<ListedEntry>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Entries {
    type Value = Vec<ListedEntry>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("list entries")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(vec![bare(s)])
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(e) = seq.next_element_seed(OneEntry)? {
            out.push(e);
        }
        Ok(out)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        OneEntry.visit_map(map).map(|e| vec![e])
    }
}

/// Exactly one entry.
struct OneEntry;

impl<'de> DeserializeSeed<'de> for OneEntry {
    type Value = ListedEntry;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for OneEntry {
    type Value = ListedEntry;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list entry: an object with \"addr\", or a string")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(bare(s))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        match EntryFields::read(map, "")? {
            Fields::Entry(e) => Ok(e),
            Fields::Holder(_) => Err(de::Error::custom("a list entry has no \"addr\" string")),
        }
    }
}

enum Fields {
    Entry(ListedEntry),
    /// No `addr`: an object holding lists or describing one (a VS), with
    /// what it held.
    Holder(Held),
}

struct EntryFields;

impl EntryFields {
    /// An object that is an entry (it has `addr`) or a VS; `path` is where
    /// a VS would be (for naming its unknown members).
    fn read<'de, A: MapAccess<'de>>(mut map: A, path: &str) -> Result<Fields, A::Error> {
        let mut addr: Option<String> = None;
        let mut comment: Option<String> = None;
        let mut held = Held::default();
        let mut described = false;
        while let Some(key) = map.next_key_seed(KeySeed {
            in_entry: true,
            top: false,
        })? {
            match key {
                Key::Addr => match map.next_value_seed(Text)? {
                    Some(s) if s.trim().len() == s.len() => addr = Some(s),
                    Some(s) => addr = Some(s.trim().to_string()),
                    None => {
                        return Err(de::Error::custom("a list entry's \"addr\" is not a string"))
                    }
                },
                Key::Comment => comment = map.next_value_seed(CommentText)?,
                Key::List => add(&mut held.entries, map.next_value_seed(Entries)?),
                Key::Container(name) => {
                    held.take(map.next_value_seed(Container {
                        depth: 2,
                        path: at(path, &name),
                    })?);
                }
                Key::Describing(name) => {
                    if map.next_value_seed(Plain)? {
                        described = true;
                    } else {
                        held.unknown.push(name);
                    }
                }
                // Ignored in an entry; unknown in a VS.
                Key::Vs(name) | Key::Other(name) => {
                    map.next_value::<IgnoredAny>()?;
                    held.unknown.push(name);
                }
                Key::Head(..) => unreachable!("status, code and message are told apart at the top"),
            }
        }
        match addr {
            Some(addr) => Ok(Fields::Entry(ListedEntry { addr, comment })),
            None if held.entries.is_some() || described || !held.unknown.is_empty() => {
                held.unknown = held.unknown.iter().map(|n| at(path, n)).collect();
                if held.entries.is_none() {
                    held.entries = Some(Vec::new());
                }
                Ok(Fields::Holder(held))
            }
            None => Err(de::Error::custom("a list entry has no \"addr\" string")),
        }
    }
}

/// A member name, matched without regard to case and without allocating
/// (a large list has two members per entry).
enum Key {
    /// `status`, `code` or `message`, lower case; whether spelled exactly so.
    Head(&'static str, bool),
    /// `IP` or `Acl`: entries.
    List,
    /// `Blocklist`, `Blacklist`, `Allowlist` or `Whitelist`, as spelled.
    Container(String),
    /// `VS`, as spelled.
    Vs(String),
    /// A member that only describes a list (`list`, `VS_IP`, `VS_Port`,
    /// `VS_Protocol`, `Index`, and `Status` below the top level), as
    /// spelled: it describes only with a plain value (see [`Plain`]).
    Describing(String),
    Addr,
    Comment,
    /// Any other member, as spelled.
    Other(String),
}

struct KeySeed {
    /// In an object that may be an entry: `addr` and `comment` mean
    /// something only there.
    in_entry: bool,
    /// At the top level of the answer: `status`, `code`, `message` are its
    /// head there.
    top: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        Ok(if self.in_entry && is("addr") {
            Key::Addr
        } else if self.in_entry && is("comment") {
            Key::Comment
        } else if is("ip") || is("acl") {
            Key::List
        } else if CONTAINERS.iter().any(|c| is(c)) {
            Key::Container(name.to_string())
        } else if is("vs") {
            Key::Vs(name.to_string())
        } else if DESCRIBING.iter().any(|d| is(d)) || (!self.top && is("status")) {
            Key::Describing(name.to_string())
        } else if let Some(head) = ["status", "code", "message"]
            .into_iter()
            .find(|h| self.top && is(h))
        {
            Key::Head(head, name == head)
        } else {
            Key::Other(name.to_string())
        })
    }
}

/// A string value, borrowed from the answer where it has no escapes;
/// `None` for any other JSON value (skipped).
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Some(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Some(s))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// The value of a member that describes a list: `true` when it is plain
/// (a string, number, boolean or `null`), as a description is; `false` for
/// an array or object, which holds something lmguard does not know (the
/// entries, perhaps) and so is never passed over as a description.
struct Plain;

impl<'de> DeserializeSeed<'de> for Plain {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Plain {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value describing a list")
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// A comment: a string as it is, `null` as none (the LoadMaster shows no
/// comment), any other value as its JSON text.
struct CommentText;

impl<'de> DeserializeSeed<'de> for CommentText {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            other => Ok(Some(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(text: &str) -> Vec<String> {
        read(text.as_bytes())
            .unwrap()
            .into_entries()
            .unwrap()
            .into_iter()
            .map(|e| e.addr)
            .collect()
    }

    #[test]
    fn every_shape_seen_is_found() {
        let one = r#"{"addr":"192.0.2.7","comment":"lmguard x"}"#;
        for shape in [
            format!(r#"{{"code":200,"status":"ok","IP":[{one}]}}"#),
            format!(r#"{{"status":"ok","ip":{one}}}"#),
            format!(r#"{{"status":"ok","Blocklist":{{"IP":[{one}]}}}}"#),
            format!(r#"{{"status":"ok","Blacklist":[{one}]}}"#),
            format!(r#"{{"status":"ok","VS":{{"Index":3,"Blocklist":{{"IP":[{one}]}}}}}}"#),
            format!(r#"{{"status":"ok","VS":[{{"Index":3,"Blocklist":{{"IP":[{one}]}}}}]}}"#),
            r#"{"status":"ok","Acl":["192.0.2.7"]}"#.to_string(),
        ] {
            assert_eq!(addrs(&shape), ["192.0.2.7"], "{shape}");
        }
        let two_vs = r#"{"status":"ok","VS":[{"Blocklist":{"IP":[{"addr":"192.0.2.7"}]}},{"Blocklist":[{"addr":"192.0.2.8"}]}]}"#;
        assert_eq!(addrs(two_vs), ["192.0.2.7", "192.0.2.8"]);
    }

    #[test]
    fn empty_lists_are_empty() {
        for shape in [
            r#"{"code":200,"status":"ok"}"#,
            r#"{"status":"ok","IP":[]}"#,
            r#"{"status":"ok","IP":null}"#,
            r#"{"status":"ok","Blocklist":""}"#,
            r#"{"status":"ok","Blocklist":{}}"#,
            r#"{"status":"ok","VS":{"Index":3,"Blocklist":{}}}"#,
        ] {
            assert!(addrs(shape).is_empty(), "{shape}");
        }
    }

    #[test]
    fn an_answer_without_a_known_list_is_an_error_naming_what_it_holds() {
        let e = read(br#"{"status":"ok","Data":{"Entries":[{"addr":"192.0.2.7"}]}}"#)
            .unwrap()
            .into_entries()
            .unwrap_err();
        assert!(e.contains("\"Data\""), "{e}");
        assert!(read(b"[1,2]").is_err());
        assert!(read(br#"{"IP":[{"comment":"no addr"}]}"#).is_err());
        assert!(read(br#"{"IP":[3]}"#).is_err());
        assert!(read(b"not json").is_err());
    }

    #[test]
    fn comments_are_kept_or_absent() {
        let a = read(br#"{"status":"ok","IP":[{"addr":" 192.0.2.7 ","comment":null},{"addr":"192.0.2.8"}],"Acl":[]}"#)
            .unwrap()
            .into_entries()
            .unwrap();
        assert_eq!(a[0].addr, "192.0.2.7");
        // No comment member, or `null`: the LoadMaster shows no comment.
        assert_eq!(a[0].comment, None);
        assert_eq!(a[1].comment, None);
        let b = read(br#"{"Acl":["192.0.2.9"]}"#)
            .unwrap()
            .into_entries()
            .unwrap();
        assert_eq!(b[0].comment, None);
    }

    #[test]
    fn member_names_match_in_any_case_and_escaped() {
        let a = read(br#"{"STATUS":"ok","iP":[{"ADDR":"192.0.2.7","Comment":"lmguard x"}],"\u0041cl":["192.0.2.8"]}"#)
            .unwrap();
        assert_eq!(a.head.get("status").and_then(Value::as_str), Some("ok"));
        let e = a.into_entries().unwrap();
        assert_eq!(e[0].addr, "192.0.2.7");
        assert_eq!(e[0].comment.as_deref(), Some("lmguard x"));
        assert_eq!(e[1].addr, "192.0.2.8");
    }

    #[test]
    fn entry_members_at_the_top_are_unknown_members() {
        // An `addr` outside a list is not a list: the error names it.
        let e = read(br#"{"status":"ok","addr":"192.0.2.7","Comment":"x"}"#)
            .unwrap()
            .into_entries()
            .unwrap_err();
        assert!(e.contains("\"addr\"") && e.contains("\"Comment\""), "{e}");
    }

    #[test]
    fn odd_values_are_kept_as_text_or_refused() {
        let a = read(br#"{"IP":[{"addr":"192.0.2.7","comment":42},{"addr":"192.0.2.8","comment":{"a":[1]},"extra":{"addr":3}}]}"#)
            .unwrap()
            .into_entries()
            .unwrap();
        assert_eq!(a[0].comment.as_deref(), Some("42"));
        assert_eq!(a[1].comment.as_deref(), Some(r#"{"a":[1]}"#));
        for bad in [
            &br#"{"IP":[{"addr":null}]}"#[..],
            br#"{"IP":[{"addr":["192.0.2.7"]}]}"#,
            br#"{"IP":[{"addr":{"v":"192.0.2.7"}}]}"#,
        ] {
            let e = read(bad).unwrap_err();
            assert!(e.contains("\"addr\" is not a string"), "{e}");
        }
    }

    fn error(text: &str) -> String {
        read(text.as_bytes()).unwrap().into_entries().unwrap_err()
    }

    #[test]
    fn members_that_only_describe_a_list_are_not_entries() {
        let vs =
            r#""Index":1,"VS_IP":"192.0.2.10","VS_Port":443,"VS_Protocol":"tcp","Status":"Up""#;
        for shape in [
            // The kreemer Go client's response struct carries `list`.
            r#"{"code":200,"status":"ok","list":"block"}"#.to_string(),
            // A VS list as an array of VS descriptions, no entries member.
            format!(r#"{{"code":200,"status":"ok","VS":[{{{vs}}}]}}"#),
            format!(r#"{{"code":200,"status":"ok","VS":{{{vs}}}}}"#),
            // The same fields flattened at the top level (its `Status` is
            // the VS's; the answer's `status` wins whatever the order).
            format!(r#"{{"code":200,"status":"ok",{vs}}}"#),
            format!(r#"{{{vs},"code":200,"status":"ok"}}"#),
            r#"{"status":"ok","Blocklist":{"list":"block"}}"#.to_string(),
            r#"{"status":"ok","vs_ip":"192.0.2.10","LIST":"block"}"#.to_string(),
        ] {
            let a = read(shape.as_bytes()).unwrap();
            assert_eq!(
                a.head.get("status").and_then(Value::as_str),
                Some("ok"),
                "{shape}"
            );
            assert!(a.into_entries().unwrap().is_empty(), "{shape}");
        }
        // With entries beside them.
        for shape in [
            format!(
                r#"{{"status":"ok","VS":[{{{vs},"Blocklist":{{"IP":[{{"addr":"192.0.2.7"}}]}}}}]}}"#
            ),
            format!(r#"{{"status":"ok",{vs},"IP":[{{"addr":"192.0.2.7"}}]}}"#),
            r#"{"status":"ok","list":"block","IP":["192.0.2.7"]}"#.to_string(),
        ] {
            assert_eq!(addrs(&shape), ["192.0.2.7"], "{shape}");
        }
    }

    #[test]
    fn unknown_members_in_a_container_or_vs_are_an_error_naming_them() {
        let cases = [
            // The pre-7.2.37 form: bare addr children.
            (
                r#"{"status":"ok","Blacklist":{"addr":["192.0.2.7"]}}"#,
                "\"Blacklist.addr\"",
            ),
            (
                r#"{"status":"ok","Blocklist":{"Entry":[{"addr":"192.0.2.7"}]}}"#,
                "\"Blocklist.Entry\"",
            ),
            (
                r#"{"status":"ok","VS":{"Entries":[{"addr":"192.0.2.7"}]}}"#,
                "\"VS.Entries\"",
            ),
            (
                r#"{"status":"ok","VS":[{"Index":1,"Entries":[]}]}"#,
                "\"VS.Entries\"",
            ),
            (
                r#"{"status":"ok","Blocklist":{"addr":"192.0.2.7","comment":"x"}}"#,
                "\"Blocklist.addr\"",
            ),
            (
                r#"{"status":"ok","VS":{"Blocklist":{"IP":[],"Count":3}}}"#,
                "\"VS.Blocklist.Count\"",
            ),
            (r#"{"status":"ok","VS":{"code":200}}"#, "\"VS.code\""),
            // Beside a list that was found: still an error.
            (
                r#"{"status":"ok","IP":[],"IPv6":[{"addr":"2001:db8::7"}]}"#,
                "\"IPv6\"",
            ),
            (
                r#"{"status":"ok","Blocklist":{"IP":["192.0.2.7"],"IP6":["2001:db8::7"]}}"#,
                "\"Blocklist.IP6\"",
            ),
        ];
        for (shape, named) in cases {
            let e = error(shape);
            assert!(e.contains(named), "{shape}: {e}");
            assert!(e.contains("nothing is decided"), "{e}");
        }
    }

    #[test]
    fn a_describing_member_holding_an_array_or_object_is_unknown() {
        for (shape, named) in [
            (
                r#"{"status":"ok","list":[{"addr":"192.0.2.7","comment":"lmguard x"}]}"#,
                "\"list\"",
            ),
            (r#"{"status":"ok","LIST":{"IP":["192.0.2.7"]}}"#, "\"LIST\""),
            (
                r#"{"status":"ok","VS":{"Index":1,"Status":["192.0.2.7"]}}"#,
                "\"VS.Status\"",
            ),
            (
                r#"{"status":"ok","VS":[{"VS_IP":{"addr":"192.0.2.7"}}]}"#,
                "\"VS.VS_IP\"",
            ),
            (
                r#"{"status":"ok","Blocklist":{"Index":[],"IP":[]}}"#,
                "\"Blocklist.Index\"",
            ),
        ] {
            let e = error(shape);
            assert!(e.contains(named), "{shape}: {e}");
        }
        // Plain values describe, whatever their type.
        for shape in [
            r#"{"status":"ok","list":null,"Index":3,"VS_Port":443.0,"VS_IP":true}"#,
            r#"{"status":"ok","VS":{"Index":"3","Status":null}}"#,
        ] {
            assert!(error_free(shape), "{shape}");
        }
    }

    fn error_free(text: &str) -> bool {
        read(text.as_bytes())
            .unwrap()
            .into_entries()
            .is_ok_and(|e| e.is_empty())
    }

    #[test]
    fn entries_may_carry_members_lmguard_ignores() {
        assert_eq!(
            addrs(
                r#"{"status":"ok","Blocklist":[{"addr":"192.0.2.7","Added":"2024-01-01","Index":1}]}"#
            ),
            ["192.0.2.7"]
        );
        // An object without addr, list or describing member is no entry.
        assert!(read(br#"{"Blocklist":[{}]}"#).is_err());
    }

    #[test]
    fn an_ipv6_host_reads_back_as_the_host() {
        let a = addrs(r#"{"status":"ok","IP":[{"addr":"2001:db8::7/128","comment":"lmguard x"}]}"#);
        let parsed: crate::domain::address::Address = a[0].parse().unwrap();
        assert_eq!(parsed, "2001:db8::7".parse().unwrap());
    }
}
