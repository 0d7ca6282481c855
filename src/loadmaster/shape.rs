//! Naming the shape of a list answer, for `check --probe`: the operator
//! (and whoever reads their report) sees how this firmware answers, e.g.
//! "`IP` array of {addr, comment}" or "`VS`.`Blocklist`.`IP` single object
//! {addr}". Follows the same search as [`super::answer::parse_list`].

use serde_json::{Map, Value};

const CONTAINERS: [&str; 5] = ["Blocklist", "Blacklist", "Allowlist", "Whitelist", "VS"];

/// A short description of where the list is in `answer` and what it is.
pub(crate) fn describe(answer: &Value) -> String {
    let Some(obj) = answer.as_object() else {
        return format!("a JSON {} instead of an object", kind_of(answer));
    };
    match find(obj, 0) {
        Some((path, list)) => format!("`{}` {}", path.join("`.`"), items(list)),
        None => format!(
            "no list member{} (members: {})",
            if obj
                .iter()
                .all(|(k, v)| describes(k) && !v.is_array() && !v.is_object())
            {
                ", an empty list"
            } else {
                " lmguard knows"
            },
            if obj.is_empty() {
                "none".to_string()
            } else {
                obj.keys().cloned().collect::<Vec<_>>().join(", ")
            }
        ),
    }
}

/// A member that is the answer's head or only describes a list (with a
/// plain value: see `list_answer`).
fn describes(name: &str) -> bool {
    ["code", "status", "message"]
        .iter()
        .chain(&super::list_answer::DESCRIBING)
        .any(|d| name.eq_ignore_ascii_case(d))
}

/// The path (member names as sent) to the list, and the list value.
fn find(obj: &Map<String, Value>, depth: u8) -> Option<(Vec<String>, &Value)> {
    for name in ["IP", "Acl"] {
        if let Some((k, v)) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            return Some((vec![k.clone()], v));
        }
    }
    if depth >= 2 {
        return None;
    }
    for name in CONTAINERS {
        let Some((k, v)) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) else {
            continue;
        };
        match v {
            Value::Object(inner) => {
                if let Some((mut path, list)) = find(inner, depth + 1) {
                    path.insert(0, k.clone());
                    return Some((path, list));
                }
            }
            Value::Null | Value::String(_) | Value::Array(_) => return Some((vec![k.clone()], v)),
            _ => {}
        }
    }
    None
}

fn items(list: &Value) -> String {
    match list {
        Value::Null => "null (an empty list)".to_string(),
        Value::String(s) if s.trim().is_empty() => "empty string (an empty list)".to_string(),
        Value::Array(a) if a.is_empty() => "empty array".to_string(),
        Value::Array(a) => {
            let first = one(&a[0]);
            if a.iter().all(|v| one(v) == first) {
                format!("array of {first}")
            } else {
                format!("array of mixed items, first {first}")
            }
        }
        single => format!("single {}", one(single)),
    }
}

fn one(v: &Value) -> String {
    match v {
        Value::Object(o) => format!("{{{}}}", o.keys().cloned().collect::<Vec<_>>().join(", ")),
        Value::String(_) => "strings".to_string(),
        other => format!("{}s", kind_of(other)),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shape_is_named() {
        let cases = [
            (
                json!({"code":200,"status":"ok","IP":[{"addr":"198.18.7.7","comment":"x"}]}),
                "`IP` array of {addr, comment}",
            ),
            (
                json!({"status":"ok","IP":{"addr":"198.18.7.7"}}),
                "`IP` single {addr}",
            ),
            (json!({"status":"ok","IP":[]}), "`IP` empty array"),
            (
                json!({"status":"ok","Blocklist":{"IP":[{"addr":"a"}]}}),
                "`Blocklist`.`IP` array of {addr}",
            ),
            (
                json!({"VS":{"Index":3,"Blocklist":{"IP":[{"addr":"a"}]}}}),
                "`VS`.`Blocklist`.`IP` array of {addr}",
            ),
            (json!({"Acl":["198.18.7.7"]}), "`Acl` array of strings"),
            (
                json!({"Blocklist":""}),
                "`Blocklist` empty string (an empty list)",
            ),
            (
                json!({"code":200,"status":"ok"}),
                "no list member, an empty list (members: code, status)",
            ),
            (
                json!({"code":200,"status":"ok","list":"block"}),
                "no list member, an empty list (members: code, list, status)",
            ),
            (
                json!({"status":"ok","VS":[{"Index":1,"VS_IP":"192.0.2.10"}]}),
                "`VS` array of {Index, VS_IP}",
            ),
            (
                json!({"code":200,"status":"ok","list":[{"addr":"x"}]}),
                "no list member lmguard knows (members: code, list, status)",
            ),
            (
                json!({"status":"ok","Entries":[{"ip":"x"}]}),
                "no list member lmguard knows (members: Entries, status)",
            ),
            (json!([1]), "a JSON array instead of an object"),
        ];
        for (answer, shape) in cases {
            assert_eq!(describe(&answer), shape, "{answer}");
        }
    }
}
