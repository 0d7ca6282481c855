//! Reading the LoadMaster's JSON answers (`loadmaster-api.md` §4, §5).
//!
//! List answers are read by [`super::list_answer`], straight from their
//! bytes; this module judges success and failure and reads `isenabled`.

use super::list_answer::ListedEntry;
use serde_json::{Map, Value};

/// The answer to `aclcontrol.isenabled` (its v2 shape is not documented,
/// loadmaster-api.md §3): `aclstatus` (v1's element) or `IsEnabled` (as a
/// Terraform provider reads it), any case, at the top level or one object
/// down; or a `data` member holding the flag itself. Values: yes/no,
/// booleans, 1/0 (numbers or text), on/off, true/false, enabled/disabled.
pub(crate) fn acl_status(obj: &Map<String, Value>, depth: u8) -> Option<bool> {
    let named = |name: &str| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
    if let Some((_, v)) = named("aclstatus").or_else(|| named("isenabled")) {
        return flag(v);
    }
    if let Some((_, v)) = named("data").filter(|(_, v)| !v.is_object()) {
        return flag(v);
    }
    if depth > 0 {
        return None;
    }
    obj.values()
        .filter_map(Value::as_object)
        .find_map(|inner| acl_status(inner, depth + 1))
}

/// An on/off flag as the LoadMaster may write it.
fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" | "on" | "1" | "true" | "enabled" => Some(true),
            "no" | "n" | "off" | "0" | "false" | "disabled" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The `status`/`code`/`message` of an answer, when it says it failed.
pub(crate) fn failure_in(body: &Value) -> Option<(u16, String)> {
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
pub(crate) fn confirms_success(body: &Value) -> Result<(), String> {
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
pub(crate) fn message_in(body: &Value) -> Option<String> {
    body.get("message")
        .and_then(Value::as_str)
        .map(|s| s.chars().take(4096).collect())
}

/// The entries of a list answer already parsed as JSON (`check --probe`
/// shows the answer too); read the same way as [`super::list_answer`].
pub(crate) fn parse_list(body: &Value) -> Result<Vec<ListedEntry>, String> {
    let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    super::list_answer::read(&bytes)?.into_entries()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flag(v: Value) -> Option<bool> {
        acl_status(v.as_object().unwrap(), 0)
    }

    #[test]
    fn flags_are_read_in_every_spelling() {
        assert_eq!(super::flag(&json!("Yes")), Some(true));
        assert_eq!(super::flag(&json!(2)), None);
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
        // As a Terraform provider reads it: IsEnabled "0"/"1"/bool, or data.
        assert_eq!(flag(json!({"status":"ok","IsEnabled":"1"})), Some(true));
        assert_eq!(flag(json!({"status":"ok","IsEnabled":"0"})), Some(false));
        assert_eq!(flag(json!({"status":"ok","isenabled":true})), Some(true));
        assert_eq!(flag(json!({"status":"ok","IsEnabled":false})), Some(false));
        assert_eq!(flag(json!({"status":"ok","data":"1"})), Some(true));
        assert_eq!(flag(json!({"status":"ok","data":0})), Some(false));
        assert_eq!(
            flag(json!({"status":"ok","data":{"IsEnabled":"1"}})),
            Some(true)
        );
        assert_eq!(flag(json!({"status":"ok","data":"perhaps"})), None);
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
