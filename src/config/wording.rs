//! Configuration errors in an operator's words: what serde and toml say
//! (`invalid type: string "lots", expected usize`) turned into what to
//! write instead, the line of every error (validation errors too, which
//! are found after the file's spans are gone), and no secret echoed — an
//! API key pasted into another key, or a token in a URL's query string.

/// Keys whose value is a duration written as text with a unit.
const DURATION_KEYS: [&str; 5] = [
    "timeout",
    "duration",
    "escalation_cap",
    "keep_history",
    "lock_timeout",
];

/// `message` (serde's, for `key`) with Rust type names and serde's jargon
/// replaced by what to write, and a corrected example when there is an
/// obvious one (`timeout = 10` → `timeout = "10s"`).
pub(super) fn in_operator_words(message: &str, key: Option<&str>) -> String {
    let Some((got, want)) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|m| m.split_once(", expected "))
    else {
        return message.to_string();
    };
    let key_name = key.map(|k| k.rsplit(['.', ' ']).next().unwrap_or(k));
    let (got_text, got_value) = describe_value(got);
    let wanted = match want {
        "usize" | "u64" | "u32" | "u16" => "a whole number (0 or more)".to_string(),
        "u8" => "a whole number from 0 to 255".to_string(),
        "i64" | "i32" => "a whole number".to_string(),
        "f64" | "f32" => "a number (such as 2 or 1.5)".to_string(),
        "a string" if key_name.is_some_and(|k| DURATION_KEYS.contains(&k)) => {
            "a duration in quotes, with a unit (s, m, h, d, w)".to_string()
        }
        "a string" => "text in quotes".to_string(),
        "a sequence" => "a list in brackets".to_string(),
        "a boolean" => "true or false".to_string(),
        other => other.to_string(),
    };
    let mut out = format!("{got_text} is not {wanted}");
    if let (Some(key), Some(value)) = (key_name, got_value) {
        if let Some(example) = suggestion(key, want, got, &value) {
            out.push_str(&format!("; write {key} = {example}"));
        }
    }
    out
}

/// How serde's "unexpected" part reads to an operator, and the value
/// itself when there is one.
fn describe_value(got: &str) -> (String, Option<String>) {
    if let Some(s) = got
        .strip_prefix("string \"")
        .and_then(|s| s.strip_suffix('"'))
    {
        return (format!("the text \"{s}\""), Some(s.to_string()));
    }
    for kind in ["integer", "floating point"] {
        if let Some(n) = got
            .strip_prefix(kind)
            .map(str::trim)
            .and_then(|n| n.strip_prefix('`'))
            .and_then(|n| n.strip_suffix('`'))
        {
            return (format!("the number {n}"), Some(n.to_string()));
        }
    }
    if let Some(b) = got
        .strip_prefix("boolean `")
        .and_then(|b| b.strip_suffix('`'))
    {
        return (b.to_string(), Some(b.to_string()));
    }
    match got {
        "sequence" => ("a list".to_string(), None),
        "map" => ("a table".to_string(), None),
        other => (other.to_string(), None),
    }
}

/// The value as it should have been written, if that is plain.
fn suggestion(key: &str, want: &str, got: &str, value: &str) -> Option<String> {
    let numeric = value.parse::<f64>().is_ok();
    match want {
        "a string" if DURATION_KEYS.contains(&key) && numeric => Some(format!("\"{value}s\"")),
        "a sequence" if got.starts_with("string") => Some(format!("[\"{value}\"]")),
        "usize" | "u64" | "u32" | "u16" | "u8" | "i64" | "i32"
            if got.starts_with("string") && value.parse::<u64>().is_ok() =>
        {
            Some(value.to_string())
        }
        "f64" | "f32" if got.starts_with("string") && numeric => Some(value.to_string()),
        _ => None,
    }
}

/// `message` from validating the file (`loadmaster.url: …`,
/// `[[loadmaster]] #2 "brno": url: …`, `block.comment_prefix: …`) with
/// the line of that key in `text` before it, as toml's own errors have.
pub(super) fn with_line(text: &str, message: &str) -> String {
    if message.starts_with("line ") {
        return message.to_string();
    }
    match locate(text, message) {
        Some(line) => format!("line {line}, {message}"),
        None => message.to_string(),
    }
}

/// The line (from 1) that `message` is about, if it names a key or a
/// table that the text has.
fn locate(text: &str, message: &str) -> Option<usize> {
    // (table, which of the `[[table]]`s from 1, key)
    let (table, nth, key): (&str, usize, Option<&str>) =
        if let Some(rest) = message.strip_prefix("[[loadmaster]] #") {
            let (n, rest) = rest.split_once([' ', ':'])?;
            let n: usize = n.parse().ok()?;
            // `#2 "brno": url: …` or `#2: name is missing`.
            let rest = rest.trim_start();
            let rest = match rest.strip_prefix('"') {
                Some(r) => r.split_once("\":").map(|(_, r)| r)?,
                None => rest,
            };
            let key = rest
                .trim_start()
                .split_once(':')
                .map(|(k, _)| k.trim())
                .filter(|k| is_key(k));
            ("loadmaster", n, key)
        } else {
            let (path, _) = message.split_once(": ")?;
            let (table, key) = path.split_once('.')?;
            if !is_key(table) || !is_key(key) {
                return None;
            }
            (table, 1, Some(key))
        };
    let mut current: Option<&str> = None;
    let mut seen = 0;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            let name = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            current = Some(name);
            if name == table {
                seen += 1;
                if seen == nth && key.is_none() {
                    return Some(i + 1);
                }
            }
            continue;
        }
        if current != Some(table) || seen != nth {
            continue;
        }
        let written = trimmed
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"'));
        if key.is_some() && written == key {
            return Some(i + 1);
        }
    }
    None
}

fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What replaces a value that is not shown.
const HIDDEN: &str = "<not shown>";

/// `message` without any of `secrets` (the configured API keys), and
/// without quoted values that look like a secret (a long run of letters
/// and digits, as API keys and tokens are): an error is printed, mailed by
/// cron and logged, and a key pasted into the wrong line must not travel
/// with it.
pub(super) fn hide_secrets(message: &str, secrets: &[String]) -> String {
    let mut out = message.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret.as_str(), HIDDEN);
    }
    let mut shown = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(start) = rest.find(['\'', '"']) {
        let quote = rest.as_bytes()[start] as char;
        let Some(len) = rest[start + 1..].find(quote) else {
            break;
        };
        let inner = &rest[start + 1..start + 1 + len];
        shown.push_str(&rest[..=start]);
        shown.push_str(&hide_tokens(inner));
        shown.push(quote);
        rest = &rest[start + len + 2..];
    }
    shown.push_str(rest);
    shown
}

/// Every secret-looking word of `value` replaced by [`HIDDEN`].
fn hide_tokens(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_a_secret(word) {
            out.push_str(HIDDEN);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in value.chars() {
        // A key's alphabet; `/`, `.`, `-` and `_` end a word, so that a path,
        // host name or comment prefix stays readable.
        if c.is_ascii_alphanumeric() || matches!(c, '+' | '=') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// 20 or more characters of a key's alphabet, with letters and digits
/// both: no duration, address, host name or prefix looks like that.
fn looks_like_a_secret(word: &str) -> bool {
    word.len() >= 20
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
}

/// The API keys the configuration `text` points to (key files and
/// environment variables), read for [`hide_secrets`] only; whatever cannot
/// be read is left out.
pub(super) fn configured_secrets(text: &str) -> Vec<String> {
    let Ok(value) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let tables: Vec<&toml::Table> = match value.get("loadmaster") {
        Some(toml::Value::Table(t)) => vec![t],
        Some(toml::Value::Array(a)) => a.iter().filter_map(toml::Value::as_table).collect(),
        _ => Vec::new(),
    };
    let mut secrets = Vec::new();
    for t in tables {
        if let Some(file) = t.get("api_key_file").and_then(toml::Value::as_str) {
            if let Ok(key) = std::fs::read_to_string(file) {
                secrets.push(key.trim().to_string());
            }
        }
        if let Some(var) = t.get("api_key_env").and_then(toml::Value::as_str) {
            if let Ok(key) = std::env::var(var) {
                secrets.push(key.trim().to_string());
            }
        }
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_say_what_to_write() {
        let m = in_operator_words(
            "invalid type: string \"lots\", expected usize",
            Some("block.max_active"),
        );
        assert_eq!(m, "the text \"lots\" is not a whole number (0 or more)");
        let m = in_operator_words(
            "invalid type: integer `10`, expected a string",
            Some("loadmaster.timeout"),
        );
        assert!(m.contains("timeout = \"10s\""), "{m}");
        let m = in_operator_words(
            "invalid type: string \"4\", expected usize",
            Some("[[loadmaster]] #2 \"b\": connections"),
        );
        assert!(m.ends_with("write connections = 4"), "{m}");
        let m = in_operator_words(
            "invalid type: string \"SCANS\", expected a sequence",
            Some("ads.methods"),
        );
        assert!(m.ends_with("write methods = [\"SCANS\"]"), "{m}");
        let m = in_operator_words("invalid value: integer `300`, expected u8", None);
        assert_eq!(m, "the number 300 is not a whole number from 0 to 255");
        assert_eq!(in_operator_words("something else", None), "something else");
    }

    #[test]
    fn validation_errors_get_their_line() {
        let text =
            "[loadmaster]\nname = \"a\"\nurl = \"ftp://x\"\n[block]\ncomment_prefix = \"x\"\n";
        assert_eq!(
            with_line(text, "loadmaster.url: 'ftp://x' must start with https://"),
            "line 3, loadmaster.url: 'ftp://x' must start with https://"
        );
        assert!(with_line(text, "block.comment_prefix: bad").starts_with("line 5, "));
        let several = "[[loadmaster]]\nname = \"a\"\nurl = \"https://a\"\n\n[[loadmaster]]\n\
                       name = \"b\"\nurl = \"http://b\"\n";
        assert!(
            with_line(several, "[[loadmaster]] #2 \"b\": url: 'http://b' bad")
                .starts_with("line 7, ")
        );
        assert!(with_line(several, "[[loadmaster]] #2: name is missing").starts_with("line 5, "));
        assert_eq!(with_line(text, "no key here"), "no key here");
    }

    #[test]
    fn secrets_are_never_shown() {
        let key = "k3y-that-is-short".to_string();
        let m = hide_secrets(
            "loadmaster.timeout: 'k3y-that-is-short' is not a duration",
            std::slice::from_ref(&key),
        );
        assert!(!m.contains(&key), "{m}");
        let m = hide_secrets(
            "loadmaster.url: 'https://lm/?apikey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5' bad",
            &[],
        );
        assert!(!m.contains("Zm9vYmFy"), "{m}");
        // Ordinary values stay.
        let plain = "'90 minutes' '2001:db8::1' \"lmguard-ads1\" 'lots' \
                     '/etc/lmguard/api-key-site2-2026.pem' 'lm2-brno.example.com'";
        assert_eq!(hide_secrets(plain, &[]), plain);
    }
}
