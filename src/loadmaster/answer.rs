//! Reading the LoadMaster's JSON answers (`loadmaster-api.md` §4, §5).
//!
//! The shape of a v2 list answer is not documented, and public clients
//! disagree, so every shape seen is accepted: `IP` (any case) at the top
//! level or inside `Blocklist`/`Blacklist`/`Allowlist`/`Whitelist`/`VS`, or
//! `Acl`; entries as objects (`addr`, optional `comment`) or bare strings;
//! one entry as an object instead of an array; a missing or null list is
//! empty.

use serde_json::{Map, Value};

/// The answer to `aclcontrol.isenabled`: `aclstatus` (any case), at the top level or one object down; yes/no,
/// booleans, 1/0, on/off.
pub fn acl_status(obj: &Map<String, Value>, depth: u8) -> Option<bool> {
    if let Some((_, v)) = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("aclstatus"))
    {
        return match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "yes" | "y" | "on" | "1" | "true" | "enabled" => Some(true),
                "no" | "n" | "off" | "0" | "false" | "disabled" => Some(false),
                _ => None,
            },
            _ => None,
        };
    }
    if depth > 0 {
        return None;
    }
    obj.values()
        .filter_map(Value::as_object)
        .find_map(|inner| acl_status(inner, depth + 1))
}

/// One entry of a LoadMaster access list, as the LoadMaster returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    pub addr: String,
    /// `None` when the answer carried no comments at all (e.g. `Acl` strings).
    pub comment: Option<String>,
}

/// The `status`/`code`/`message` of an answer, when it says it failed.
pub fn failure_in(body: &Value) -> Option<(u16, String)> {
    let obj = body.as_object()?;
    let failed = obj
        .get("status")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("fail"));
    if !failed {
        return None;
    }
    let code = obj
        .get("code")
        .and_then(|c| {
            c.as_u64()
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(0);
    Some((code, message_in(body).unwrap_or_else(|| "failed".into())))
}

/// Whether a 2xx answer really says the command was carried out: a JSON
/// object with `"status": "ok"`, or without a status but `"code": 200`.
/// Anything else is not taken as success (no state change on guesswork).
pub fn confirms_success(body: &Value) -> Result<(), String> {
    let obj = body.as_object().ok_or_else(|| {
        format!(
            "expected a JSON object, got {}",
            crate::domain::event::json_type(body)
        )
    })?;
    match obj.get("status") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("ok") => Ok(()),
        Some(other) => Err(format!("unexpected \"status\": {other}")),
        None => match obj.get("code").and_then(Value::as_u64) {
            Some(200) => Ok(()),
            _ => Err("the answer has neither \"status\": \"ok\" nor \"code\": 200".into()),
        },
    }
}

/// The `message` of a JSON answer, if any (not shortened here: the client
/// shortens it after scrubbing, so that a cut never leaves part of the key).
pub fn message_in(body: &Value) -> Option<String> {
    body.get("message")
        .and_then(Value::as_str)
        .map(|s| s.chars().take(4096).collect())
}

/// The usual list answer (`{"code":200,"status":"ok","IP":[{"addr":…,
/// "comment":…},…]}`), read without building a JSON tree. `None` for any
/// other shape, or an answer that does not say `"status": "ok"`: the caller
/// then reads it the generic way.
pub fn parse_list_fast(bytes: &[u8]) -> Option<Vec<ListedEntry>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Usual {
        #[serde(default)]
        #[allow(dead_code)]
        code: Option<serde_json::Value>,
        status: String,
        #[serde(rename = "IP", default)]
        ip: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        addr: String,
        #[serde(default)]
        comment: Option<String>,
    }
    let usual: Usual = serde_json::from_slice(bytes).ok()?;
    if !usual.status.eq_ignore_ascii_case("ok") {
        return None;
    }
    Some(
        usual
            .ip
            .into_iter()
            .map(|i| ListedEntry {
                addr: i.addr.trim().to_string(),
                comment: Some(i.comment.unwrap_or_default()),
            })
            .collect(),
    )
}

/// Read the entries of a `list`/`listvs` answer.
pub fn parse_list(body: &Value) -> Result<Vec<ListedEntry>, String> {
    let obj = body
        .as_object()
        .ok_or_else(|| "the list answer is not a JSON object".to_string())?;
    if let Some(list) = find_list(obj) {
        return entries(list);
    }
    // No list member at all: an empty list, provided the answer says ok.
    match obj.get("status").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("ok") => Ok(Vec::new()),
        _ => Err("the list answer has neither a list nor status \"ok\"".to_string()),
    }
}

const CONTAINERS: [&str; 5] = ["blocklist", "blacklist", "allowlist", "whitelist", "vs"];

fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn find_list(obj: &Map<String, Value>) -> Option<&Value> {
    find_list_at(obj, 0)
}

fn find_list_at(obj: &Map<String, Value>, depth: u8) -> Option<&Value> {
    if let Some(v) = get_ci(obj, "IP").or_else(|| get_ci(obj, "Acl")) {
        return Some(v);
    }
    if depth >= 2 {
        return None;
    }
    CONTAINERS.iter().find_map(|name| match get_ci(obj, name) {
        Some(Value::Object(inner)) => find_list_at(inner, depth + 1),
        // An empty container element may come through as "" or null.
        Some(Value::Null) | Some(Value::String(_)) => Some(&Value::Null),
        _ => None,
    })
}

fn entries(list: &Value) -> Result<Vec<ListedEntry>, String> {
    match list {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(entry).collect(),
        single => Ok(vec![entry(single)?]),
    }
}

fn entry(v: &Value) -> Result<ListedEntry, String> {
    match v {
        Value::String(s) => Ok(ListedEntry {
            addr: s.trim().to_string(),
            comment: None,
        }),
        Value::Object(o) => {
            let addr = get_ci(o, "addr")
                .and_then(Value::as_str)
                .ok_or_else(|| "a list entry has no \"addr\" string".to_string())?;
            let comment = get_ci(o, "comment").map(|c| match c {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            });
            Ok(ListedEntry {
                addr: addr.trim().to_string(),
                comment: Some(comment.unwrap_or_default()),
            })
        }
        other => Err(format!(
            "a list entry is neither an object nor a string: {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn addrs(v: Value) -> Vec<String> {
        parse_list(&v)
            .unwrap()
            .into_iter()
            .map(|e| e.addr)
            .collect()
    }

    #[test]
    fn default_shape() {
        let v = json!({"code":200,"status":"ok","IP":[{"addr":"192.0.2.7","comment":"lmguard ADS 1"},{"addr":"198.51.100.0/24","comment":""}]});
        let l = parse_list(&v).unwrap();
        assert_eq!(l[0].addr, "192.0.2.7");
        assert_eq!(l[0].comment.as_deref(), Some("lmguard ADS 1"));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn every_documented_variant() {
        assert!(addrs(json!({"code":200,"status":"ok"})).is_empty());
        assert!(addrs(json!({"status":"ok","IP":[]})).is_empty());
        assert!(addrs(json!({"status":"ok","ip":null})).is_empty());
        assert_eq!(
            addrs(json!({"status":"ok","IP":{"addr":"192.0.2.7"}})),
            ["192.0.2.7"]
        );
        assert_eq!(
            addrs(json!({"status":"ok","Blocklist":{"IP":[{"addr":"192.0.2.7"}]}})),
            ["192.0.2.7"]
        );
        assert_eq!(
            addrs(
                json!({"status":"ok","VS":{"VS_IP":"x","Blocklist":{"IP":[{"addr":"192.0.2.8"}]}}})
            ),
            ["192.0.2.8"]
        );
        assert_eq!(
            addrs(json!({"status":"ok","Acl":["192.0.2.9"]})),
            ["192.0.2.9"]
        );
        assert_eq!(
            parse_list(&json!({"Acl":["192.0.2.9"]})).unwrap()[0].comment,
            None
        );
        assert!(addrs(json!({"status":"ok","Blocklist":""})).is_empty());
    }

    #[test]
    fn unexpected_shapes_are_errors_not_guesses() {
        assert!(parse_list(&json!([1, 2])).is_err());
        assert!(parse_list(&json!({"IP":[{"comment":"no addr"}]})).is_err());
        assert!(parse_list(&json!({"IP":[3]})).is_err());
        assert!(parse_list(&json!({"code":200})).is_err());
    }

    fn flag(v: Value) -> Option<bool> {
        acl_status(v.as_object().unwrap(), 0)
    }

    #[test]
    fn isenabled_answers_in_every_plausible_shape() {
        assert_eq!(flag(json!({"status":"ok","aclstatus":"yes"})), Some(true));
        assert_eq!(flag(json!({"status":"ok","AclStatus":"no"})), Some(false));
        assert_eq!(flag(json!({"status":"ok","aclstatus":true})), Some(true));
        assert_eq!(flag(json!({"Data":{"aclstatus":"Y"}})), Some(true));
        assert_eq!(flag(json!({"aclstatus":0})), Some(false));
        assert_eq!(flag(json!({"status":"ok"})), None);
        assert_eq!(flag(json!({"aclstatus":"maybe"})), None);
    }

    #[test]
    fn the_fast_path_agrees_with_the_generic_reader_or_declines() {
        let usual = json!({"code":200,"status":"ok","IP":[{"addr":"192.0.2.7","comment":"lmguard x"},{"addr":" 198.51.100.0/24"}]});
        let bytes = serde_json::to_vec(&usual).unwrap();
        let fast = parse_list_fast(&bytes).unwrap();
        let mut generic = parse_list(&usual).unwrap();
        generic[1].comment = Some(String::new());
        assert_eq!(fast, generic);
        assert_eq!(
            parse_list_fast(br#"{"code":200,"status":"ok"}"#),
            Some(vec![])
        );
        for other in [
            r#"{"status":"fail","code":422,"message":"Unknown VS"}"#,
            r#"{"status":"ok","IP":{"addr":"192.0.2.7"}}"#,
            r#"{"status":"ok","Acl":["192.0.2.7"]}"#,
            r#"{"code":200,"IP":[]}"#,
            r#"{"status":"ok","IP":[3]}"#,
            "not json",
        ] {
            assert_eq!(parse_list_fast(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn success_must_be_stated() {
        assert!(confirms_success(
            &json!({"code":200,"message":"Command completed ok","status":"ok"})
        )
        .is_ok());
        assert!(confirms_success(&json!({"code":200})).is_ok());
        assert!(confirms_success(&json!({})).is_err());
        assert!(confirms_success(&json!({"status": 1})).is_err());
        assert!(confirms_success(&json!({"status": "maybe"})).is_err());
        assert!(confirms_success(&json!(["ok"])).is_err());
        assert!(confirms_success(&json!("ok")).is_err());
    }

    #[test]
    fn failure_at_http_200_is_detected() {
        let v = json!({"code":422,"status":"fail","message":"Unknown VS"});
        assert_eq!(failure_in(&v), Some((422, "Unknown VS".into())));
        assert_eq!(failure_in(&json!({"code":200,"status":"ok"})), None);
    }
}
