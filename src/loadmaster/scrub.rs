//! Text that comes back from the LoadMaster (error messages, comments,
//! addresses) is scrubbed before lmguard prints, logs or stores it: the API
//! key is replaced (a LoadMaster may quote the request it refuses), and
//! terminal control characters are dropped (an ESC sequence in a comment
//! must not reach the operator's terminal).

use std::borrow::Cow;

/// What the key is replaced with.
pub const REDACTED: &str = "<api key>";

/// `text` without the key and without control characters (C0, DEL, C1, and
/// the Unicode bidirectional overrides that reorder what a terminal shows).
pub fn scrub<'a>(text: &'a str, key: &str) -> Cow<'a, str> {
    let has_key = !key.is_empty() && text.contains(key);
    if !has_key && !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let keyless = if has_key {
        Cow::Owned(text.replace(key, REDACTED))
    } else {
        Cow::Borrowed(text)
    };
    let clean: String = keyless.chars().filter(|c| !is_unsafe(*c)).collect();
    // Dropping characters could join the pieces of a key split by them.
    if !key.is_empty() && clean.contains(key) {
        return Cow::Owned(clean.replace(key, REDACTED));
    }
    Cow::Owned(clean)
}

/// [`scrub`] in place.
pub fn scrub_in_place(text: &mut String, key: &str) {
    if let Cow::Owned(clean) = scrub(text, key) {
        *text = clean;
    }
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A URL for messages: any `user:password@` part is replaced by `***@`.
pub fn url_without_credentials(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    match scheme {
        Some(s) => format!("{s}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_and_control_characters_are_removed() {
        let key = "s3cr3t-KEY";
        assert_eq!(scrub("plain text", key), "plain text");
        assert!(matches!(scrub("plain", key), Cow::Borrowed(_)));
        assert_eq!(
            scrub("bad key s3cr3t-KEY in {apikey: s3cr3t-KEY}", key),
            "bad key <api key> in {apikey: <api key>}"
        );
        assert_eq!(
            scrub("\x1b]0;pwned\x07\x1b[31mred\u{202e}", key),
            "]0;pwned[31mred"
        );
        assert_eq!(scrub("s3cr3t\x1b-KEY", key), REDACTED, "joined again");
        assert_eq!(scrub("line\nbreak\r", ""), "linebreak");
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            url_without_credentials("https://admin:secret@lm.example:8443/x"),
            "https://***@lm.example:8443/x"
        );
        assert_eq!(url_without_credentials("http://a:b@c@lm"), "http://***@lm");
        assert_eq!(
            url_without_credentials("https://lm.example"),
            "https://lm.example"
        );
    }
}
