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
//! as an object instead of an array; a `null` or empty list is empty. An
//! answer that holds none of these but other members is an error naming
//! them: it is never taken as an empty list.

use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

/// One entry of a LoadMaster access list, as the LoadMaster returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedEntry {
    pub(crate) addr: String,
    /// `None` when the answer carried no comments at all (e.g. `Acl` strings).
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
    /// Top-level members that are neither a list nor status/code/message.
    pub(crate) other_keys: Vec<String>,
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
    /// The entries, or why the answer holds no list lmguard knows.
    pub(crate) fn into_entries(self) -> Result<Vec<ListedEntry>, String> {
        match self.entries {
            Some(entries) => Ok(entries),
            None if self.other_keys.is_empty() => Ok(Vec::new()),
            None => Err(format!(
                "the list answer holds no list lmguard knows (no IP, Acl, Blocklist, \
                 Blacklist or VS); it has {}",
                self.other_keys
                    .iter()
                    .take(8)
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

const CONTAINERS: [&str; 4] = ["blocklist", "blacklist", "allowlist", "whitelist"];

/// The top-level object.
struct Top;

impl<'de> DeserializeSeed<'de> for Top {
    type Value = ListAnswer;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ListAnswer, D::Error> {
        d.deserialize_map(ObjectVisitor { depth: 0 })
    }
}

/// An object that may hold a list (the top level, a container, a VS).
struct ObjectVisitor {
    depth: u8,
}

fn add(found: &mut Option<Vec<ListedEntry>>, more: Vec<ListedEntry>) {
    found.get_or_insert_with(Vec::new).extend(more);
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
            keep_other: top,
        })? {
            match key {
                Key::Head(name) if top => {
                    let v: Value = map.next_value()?;
                    answer.head.insert(name.to_string(), v);
                }
                Key::List => add(&mut answer.entries, map.next_value_seed(Entries)?),
                Key::Container | Key::Vs if self.depth < 3 => {
                    let inner = map.next_value_seed(Container {
                        depth: self.depth + 1,
                    })?;
                    if let Some(entries) = inner {
                        add(&mut answer.entries, entries);
                    }
                }
                Key::Other(name) if top => {
                    map.next_value::<IgnoredAny>()?;
                    answer.other_keys.push(name.unwrap_or_default());
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(answer)
    }
}

/// A container's value: an object holding a list, an array (of entries, or
/// of VS objects), or empty (`null`, `""`). `None`: nothing found in it.
struct Container {
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for Container {
    type Value = Option<Vec<ListedEntry>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Container {
    type Value = Option<Vec<ListedEntry>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list container")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Vec::new()))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Vec::new()))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if s.trim().is_empty() {
            Ok(Some(Vec::new()))
        } else {
            Err(E::custom(format!("a list container is the string {s:?}")))
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let inner = ObjectVisitor { depth: self.depth }.visit_map(map)?;
        // An empty container object is an empty list.
        Ok(Some(inner.entries.unwrap_or_default()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Entries directly, or VS objects each holding a list.
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(Item)? {
            out.extend(item);
        }
        Ok(Some(out))
    }
}

/// An element of an array in a container: an entry, or an object holding a
/// list (a VS).
struct Item;

impl<'de> DeserializeSeed<'de> for Item {
    type Value = Vec<ListedEntry>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item {
    type Value = Vec<ListedEntry>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list entry or a VS object")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(vec![bare(s)])
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        match EntryFields::read(map)? {
            Fields::Entry(e) => Ok(vec![e]),
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
        match EntryFields::read(map)? {
            Fields::Entry(e) => Ok(vec![e]),
            Fields::Holder(_) => Err(de::Error::custom("a list entry has no \"addr\" string")),
        }
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
        match EntryFields::read(map)? {
            Fields::Entry(e) => Ok(e),
            Fields::Holder(_) => Err(de::Error::custom("a list entry has no \"addr\" string")),
        }
    }
}

enum Fields {
    Entry(ListedEntry),
    /// No `addr`: an object holding lists (a VS), with what they held.
    Holder(Vec<ListedEntry>),
}

struct EntryFields;

impl EntryFields {
    fn read<'de, A: MapAccess<'de>>(mut map: A) -> Result<Fields, A::Error> {
        let mut addr: Option<String> = None;
        let mut comment: Option<String> = None;
        let mut held: Option<Vec<ListedEntry>> = None;
        while let Some(key) = map.next_key_seed(KeySeed {
            in_entry: true,
            keep_other: false,
        })? {
            match key {
                Key::Addr => match map.next_value_seed(Text)? {
                    Some(s) if s.trim().len() == s.len() => addr = Some(s),
                    Some(s) => addr = Some(s.trim().to_string()),
                    None => {
                        return Err(de::Error::custom("a list entry's \"addr\" is not a string"))
                    }
                },
                Key::Comment => comment = Some(map.next_value_seed(CommentText)?),
                Key::List => add(&mut held, map.next_value_seed(Entries)?),
                Key::Container => {
                    if let Some(inner) = map.next_value_seed(Container { depth: 2 })? {
                        add(&mut held, inner);
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match (addr, held) {
            (Some(addr), _) => Ok(Fields::Entry(ListedEntry {
                addr,
                comment: Some(comment.unwrap_or_default()),
            })),
            (None, Some(held)) => Ok(Fields::Holder(held)),
            (None, None) => Err(de::Error::custom("a list entry has no \"addr\" string")),
        }
    }
}

/// A member name, matched without regard to case and without allocating
/// (a large list has two members per entry).
enum Key {
    /// `status`, `code` or `message`, lower case.
    Head(&'static str),
    /// `IP` or `Acl`: entries.
    List,
    /// `Blocklist`, `Blacklist`, `Allowlist` or `Whitelist`.
    Container,
    Vs,
    Addr,
    Comment,
    /// Any other member; its name only when asked for (the top level names
    /// unknown members in its error).
    Other(Option<String>),
}

struct KeySeed {
    /// In an object that may be an entry: `addr` and `comment` mean
    /// something only there.
    in_entry: bool,
    keep_other: bool,
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
            Key::Container
        } else if is("vs") {
            Key::Vs
        } else if let Some(head) = ["status", "code", "message"].into_iter().find(|h| is(h)) {
            Key::Head(head)
        } else {
            Key::Other(self.keep_other.then(|| name.to_string()))
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

/// A comment: a string as it is, `null` as empty, any other value as its
/// JSON text.
struct CommentText;

impl<'de> DeserializeSeed<'de> for CommentText {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(s),
            Value::Null => Ok(String::new()),
            other => Ok(other.to_string()),
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
        assert_eq!(a[0].comment.as_deref(), Some(""));
        assert_eq!(a[1].comment.as_deref(), Some(""));
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
}
