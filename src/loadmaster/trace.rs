//! The wire trace: each request and answer body, safe to attach to a bug
//! report (`check --probe -v`, or `-vv` on any command).
//!
//! [`redact`] is the one place that makes a body shareable: the API key
//! wherever it appears (in any spelling [`super::scrub::mask_key`] knows), and the value of any `apikey`/`apipass` member,
//! become `***`; control characters are escaped so that an answer cannot
//! drive the terminal; long answers are cut at [`MAX_SHOWN`] bytes.

/// How much of a body the trace shows.
pub(crate) const MAX_SHOWN: usize = 4096;

/// What a secret is replaced with.
pub(crate) const MASK: &str = "***";

/// `body` fit to show: `key` and every `apikey`/`apipass` value masked,
/// control characters escaped, cut at [`MAX_SHOWN`] bytes with a note of
/// how much was left out.
pub(crate) fn redact(body: &str, key: &str) -> String {
    let masked = mask_members(body);
    let masked = super::scrub::mask_key(&masked, key, MASK);
    let mut out = String::with_capacity(masked.len().min(MAX_SHOWN) + 32);
    let mut shown = 0;
    for c in masked.chars() {
        if shown >= MAX_SHOWN {
            let more = masked.len() - shown;
            out.push_str(&format!("… ({more} more bytes not shown)"));
            break;
        }
        shown += c.len_utf8();
        if super::scrub::is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The string values of `"apikey"` and `"apipass"` members (any case)
/// replaced by `***`, wherever they appear in a JSON text (also in one
/// that does not parse).
fn mask_members(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut at = 0;
    while let Some(found) = next_secret_name(&lower[at..]) {
        let name_end = at + found;
        at = name_end;
        // `"apikey"` then optional space, `:`, optional space, `"`.
        let after = &text[name_end..];
        let trimmed = after.trim_start();
        let Some(value) = trimmed.strip_prefix(':') else {
            continue;
        };
        let value = value.trim_start();
        if !value.starts_with('"') {
            continue;
        }
        let open = text.len() - value.len() + 1;
        let close = string_end(text, open);
        out.push_str(&text[rest..open]);
        out.push_str(MASK);
        rest = close;
        at = close;
    }
    out.push_str(&text[rest..]);
    out
}

/// Offset just after the next `"apikey"` or `"apipass"` in `lower`.
fn next_secret_name(lower: &str) -> Option<usize> {
    ["\"apikey\"", "\"apipass\""]
        .iter()
        .filter_map(|name| lower.find(name).map(|i| i + name.len()))
        .min()
}

/// Offset of the closing quote of the JSON string whose content starts at
/// `from` (the end of the text if it is not closed).
fn string_end(text: &str, from: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "s3cret-Key_0123";

    #[test]
    fn the_key_and_apipass_are_masked() {
        let body = format!(
            r#"{{"cmd":"aclcontrol","list":"block","apikey":"{KEY}","apiuser":"bal","apipass":"pa\"ss"}}"#
        );
        let shown = redact(&body, KEY);
        assert_eq!(
            shown,
            r#"{"cmd":"aclcontrol","list":"block","apikey":"***","apiuser":"bal","apipass":"***"}"#
        );
    }

    #[test]
    fn the_key_is_masked_wherever_an_answer_echoes_it() {
        let answer = format!(r#"{{"code":401,"message":"bad key {KEY}","status":"fail"}}"#);
        assert!(!redact(&answer, KEY).contains(KEY));
        assert!(!redact(&format!("<html>{KEY}</html>"), KEY).contains(KEY));
        // Spacing and case of the member name do not matter.
        let spaced = r#"{ "ApiPass" : "hunter2" , "x":1}"#;
        assert_eq!(redact(spaced, KEY), r#"{ "ApiPass" : "***" , "x":1}"#);
    }

    #[test]
    fn broken_text_is_handled() {
        assert_eq!(
            redact(r#"{"apikey":"unterminated"#, ""),
            r#"{"apikey":"***"#
        );
        assert_eq!(redact(r#"{"apikey": 5}"#, ""), r#"{"apikey": 5}"#);
        assert_eq!(redact(r#""apikey""#, ""), r#""apikey""#);
        assert_eq!(redact("", KEY), "");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(redact("a\u{1b}[2Jb\r\n", ""), "a\\u{1b}[2Jb\\r\\n");
        // As in scrub: a bidirectional override cannot reorder the line.
        assert_eq!(redact("a\u{202e}b", ""), "a\\u{202e}b");
    }

    #[test]
    fn the_key_is_masked_in_its_encoded_spellings_too() {
        let key = "k+y/Z=";
        assert_eq!(redact("echo k%2By%2FZ%3D", key), "echo ***");
    }

    #[test]
    fn long_answers_are_cut() {
        let long = "é".repeat(MAX_SHOWN);
        let shown = redact(&long, KEY);
        assert!(shown.len() < MAX_SHOWN + 64, "{}", shown.len());
        assert!(shown.ends_with(&format!("({} more bytes not shown)", MAX_SHOWN)));
        // A key straddling the cut is masked before cutting.
        let straddling = format!("{}{KEY}", "x".repeat(MAX_SHOWN - 3));
        assert!(!redact(&straddling, KEY).contains(&KEY[..3]));
    }
}
