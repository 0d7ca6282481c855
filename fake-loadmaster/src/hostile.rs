//! A LoadMaster that misbehaves on purpose (lmguard issue 12): it quotes the
//! API key in its errors, answers with redirects, sends list or edit answers
//! of any shape and size, refuses bare hosts with any message, and answers
//! deletes as done without doing them (issue 13's probe). Kept apart
//! from the [`Switches`](crate::Switches) that model documented behaviour.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::Resp;

/// The hostile behaviours; all off by default. Set with
/// [`FakeLoadMaster::set_hostile`](crate::FakeLoadMaster::set_hostile).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hostile {
    /// Every error answer's `message` quotes the request body as received,
    /// API key included.
    pub echo_key_in_errors: bool,
    /// Every request is answered with this HTTP status (a 3xx) and a body
    /// that says `"status": "ok"`; nothing is changed.
    pub redirect: Option<u16>,
    /// `list`/`listvs` requests are answered 200 with this body, whatever
    /// the lists hold.
    pub list_body: Option<Arc<String>>,
    /// `add`/`del`/`addvs`/`delvs` requests are answered 200 with this body,
    /// and nothing is changed.
    pub edit_body: Option<Arc<String>>,
    /// Adds of a bare host (no `/`) are refused with this status and
    /// message, and nothing is stored.
    pub refuse_bare_adds: Option<(u16, String)>,
    /// `del`/`delvs` requests are answered 200 "Command completed ok", and
    /// nothing is removed (adds still work): firmware that acknowledges a
    /// delete it does not do, which `check --probe` must catch.
    pub unapplied_deletes: bool,
    /// Requests of some operations are refused with an answer that quotes
    /// the API key (issue 24: `check --probe` printed it in clear).
    pub key_quoting_error: Option<KeyQuotingError>,
    /// Adds (`add`/`addvs`) are carried out, then answered with this
    /// status and message: the entry is stored although the answer says
    /// it was refused (issue 24: the probe left it behind).
    pub applied_adds_refused: Option<(u16, String)>,
}

/// An error answer that quotes the API key, for the operations named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyQuotingError {
    /// The operations refused: any of `add`, `del`, `list` (their VS forms
    /// `addvs`, `delvs`, `listvs` count as the same).
    pub ops: Vec<&'static str>,
    /// This many requests of those operations are answered normally
    /// first (the checks before the probe read the list too).
    pub after: u32,
    /// The HTTP status (and `code`).
    pub status: u16,
    /// An HTML page instead of JSON: `<html><body>Bad apikey KEY in …`,
    /// the key from byte 23 on (plus `pad`), then the whole request.
    pub html: bool,
    /// Filler bytes before the key in the HTML page (to put the key where
    /// a client may cut the answer).
    pub pad: usize,
}

impl KeyQuotingError {
    /// The answer to `body`, when it is one of the operations refused (and
    /// the first `after` of them have been answered normally).
    fn refuse(&mut self, body: Option<&Value>, raw_request: &[u8]) -> Option<Resp> {
        let ops: Vec<String> = self
            .ops
            .iter()
            .flat_map(|op| [op.to_string(), format!("{op}vs")])
            .collect();
        let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
        if !has(body, &ops) {
            return None;
        }
        if self.after > 0 {
            self.after -= 1;
            return None;
        }
        let key = body
            .and_then(|b| b.get("apikey"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let request = String::from_utf8_lossy(raw_request);
        if self.html {
            let page = format!(
                "<html><body>{}Bad apikey {key} in <pre>{request}</pre></body></html>\n",
                ".".repeat(self.pad)
            );
            return Some(Resp {
                status: self.status,
                content_type: "text/html",
                body: page.into_bytes(),
            });
        }
        Some(Resp::fail(
            self.status,
            &format!("Invalid apikey {key} in request {request}"),
        ))
    }
}

fn has(body: Option<&Value>, keys: &[&str]) -> bool {
    body.and_then(Value::as_object)
        .is_some_and(|o| keys.iter().any(|k| o.contains_key(*k)))
}

impl Hostile {
    /// An answer that replaces the normal one, if any.
    pub(crate) fn intercept(&mut self, body: Option<&Value>, raw_request: &[u8]) -> Option<Resp> {
        if let Some(refusal) = &mut self.key_quoting_error {
            if let Some(resp) = refusal.refuse(body, raw_request) {
                return Some(resp);
            }
        }
        if let Some(status) = self.redirect {
            return Some(Resp::json(
                status,
                &json!({"code": 200, "message": "Command completed ok", "status": "ok"}),
            ));
        }
        if let Some(text) = &self.list_body {
            if has(body, &["list", "listvs"]) {
                return Some(Resp::text(200, "application/json", text));
            }
        }
        if let Some(text) = &self.edit_body {
            if has(body, &["add", "addvs", "del", "delvs"]) {
                return Some(Resp::text(200, "application/json", text));
            }
        }
        if self.unapplied_deletes && has(body, &["del", "delvs"]) {
            return Some(Resp::json(
                200,
                &json!({"code": 200, "message": "Command completed ok", "status": "ok"}),
            ));
        }
        if let Some((status, message)) = &self.refuse_bare_adds {
            let bare = body
                .and_then(|b| b.get("addr"))
                .and_then(Value::as_str)
                .is_some_and(|a| !a.contains('/'));
            if bare && has(body, &["add", "addvs"]) {
                return Some(Resp::fail(*status, message));
            }
        }
        None
    }

    /// The normal answer, changed where a behaviour says so.
    pub(crate) fn after(&self, resp: Resp, raw_request: &[u8]) -> Resp {
        if let Some((status, message)) = &self.applied_adds_refused {
            let body: Option<Value> = serde_json::from_slice(raw_request).ok();
            if resp.status == 200 && has(body.as_ref(), &["add", "addvs"]) {
                return Resp::fail(*status, message);
            }
        }
        if !self.echo_key_in_errors || resp.status < 400 {
            return resp;
        }
        let mut v: Value = match serde_json::from_slice(&resp.body) {
            Ok(v) => v,
            Err(_) => return resp,
        };
        let quoted = String::from_utf8_lossy(raw_request);
        if let Some(m) = v.get_mut("message") {
            let text = format!("{} in request {quoted}", m.as_str().unwrap_or(""));
            *m = Value::String(text);
        }
        Resp::json(resp.status, &v)
    }
}
