//! Text that comes back from the LoadMaster (error messages, comments,
//! addresses) is scrubbed before lmguard prints, logs or stores it: the API
//! key is replaced (a LoadMaster may quote the request it refuses), and
//! terminal control characters are dropped (an ESC sequence in a comment
//! must not reach the operator's terminal).

use std::borrow::Cow;

/// What the key is replaced with.
pub(crate) const REDACTED: &str = "<api key>";

/// `text` without the key and without control characters (C0, DEL, C1, and
/// the Unicode bidirectional overrides that reorder what a terminal shows).
pub(crate) fn scrub<'a>(text: &'a str, key: &str) -> Cow<'a, str> {
    if key.bytes().all(is_unreserved) {
        // One spelling (or none): nothing to allocate.
        let one = [key];
        scrub_spellings(text, if key.is_empty() { &[] } else { &one })
    } else {
        scrub_spellings(text, &spellings(key))
    }
}

/// [`scrub`] for many texts with one key (a list answer's entries): the
/// key's spellings are worked out once, not for every text.
pub(crate) struct Scrubber {
    spellings: Vec<String>,
}

impl Scrubber {
    pub(crate) fn new(key: &str) -> Scrubber {
        let spellings = if key.is_empty() {
            Vec::new()
        } else if key.bytes().all(is_unreserved) {
            vec![key.to_string()]
        } else {
            spellings(key)
        };
        Scrubber { spellings }
    }

    /// [`scrub`] in place.
    pub(crate) fn scrub_in_place(&self, text: &mut String) {
        if let Cow::Owned(clean) = scrub_spellings(text, &self.spellings) {
            *text = clean;
        }
    }
}

fn scrub_spellings<'a, S: AsRef<str>>(text: &'a str, spellings: &[S]) -> Cow<'a, str> {
    let keyless = mask_spellings(text, spellings, REDACTED);
    // Printable ASCII (almost every comment and address) is checked byte by
    // byte; anything else character by character.
    let printable = keyless.bytes().all(|b| (0x20..0x7f).contains(&b));
    if printable || !keyless.chars().any(is_unsafe) {
        return keyless;
    }
    let clean: String = keyless.chars().filter(|c| !is_unsafe(*c)).collect();
    // Dropping characters could join the pieces of a key split by them.
    Cow::Owned(mask_spellings(&clean, spellings, REDACTED).into_owned())
}

/// `text` with every spelling of `key` an answer may quote — as sent, and
/// percent-encoded or JSON-escaped where that differs — replaced by `mask`.
/// The one key-masking rule: [`scrub`] and the wire trace
/// ([`super::trace::redact`]) both use it.
pub(crate) fn mask_key<'a>(text: &'a str, key: &str, mask: &str) -> Cow<'a, str> {
    if key.is_empty() {
        return Cow::Borrowed(text);
    }
    // The usual key has one spelling: no allocation for the many list
    // entries scrubbed one by one.
    if key.bytes().all(is_unreserved) {
        return mask_spellings(text, &[key], mask);
    }
    mask_spellings(text, &spellings(key), mask)
}

fn mask_spellings<'a, S: AsRef<str>>(text: &'a str, spellings: &[S], mask: &str) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for spelling in spellings {
        let spelling = spelling.as_ref();
        if out.contains(spelling) {
            out = Cow::Owned(out.replace(spelling, mask));
        }
    }
    out
}

/// `key` as sent, then its other spellings (percent-encoded in upper and
/// lower case hex, JSON-escaped with and without `\/`), each once.
fn spellings(key: &str) -> Vec<String> {
    let percent = |upper: bool| -> String {
        key.bytes()
            .map(|b| {
                if is_unreserved(b) {
                    (b as char).to_string()
                } else if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect()
    };
    let json = serde_json::to_string(key).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(key)
        .to_string();
    let mut all = vec![key.to_string()];
    for other in [
        percent(true),
        percent(false),
        json.replace('/', "\\/"),
        json,
    ] {
        if !all.contains(&other) {
            all.push(other);
        }
    }
    all
}

/// A byte that percent-encoding and JSON leave as it is.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// [`scrub`] in place.
pub(crate) fn scrub_in_place(text: &mut String, key: &str) {
    if let Cow::Owned(clean) = scrub(text, key) {
        *text = clean;
    }
}

/// A character that must not reach a terminal as it is: a control
/// character or a Unicode bidirectional override.
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A URL for messages: any `user:password@` part is replaced by `***@`.
pub(crate) fn url_without_credentials(url: &str) -> String {
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
    // A query or fragment may carry a token (`?apikey=…`): never shown.
    let tail = match tail.find(['?', '#']) {
        Some(at) => format!("{}{}***", &tail[..at], &tail[at..=at]),
        None => tail.to_string(),
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
    fn the_key_is_masked_in_every_spelling_an_answer_may_quote() {
        let key = "a+b/c=d\"e";
        for quoted in [
            "a+b/c=d\"e",
            "a%2Bb%2Fc%3Dd%22e",
            "a%2bb%2fc%3dd%22e",
            "a+b/c=d\\\"e",
            "a+b\\/c=d\\\"e",
        ] {
            let text = format!("bad key [{quoted}]");
            assert_eq!(scrub(&text, key), "bad key [<api key>]", "{quoted}");
            assert_eq!(mask_key(&text, key, "***"), "bad key [***]", "{quoted}");
        }
        // A plain key has one spelling; nothing else is touched.
        assert_eq!(spellings("abc-0123_x.y~z"), ["abc-0123_x.y~z"]);
        assert!(matches!(mask_key("abc", "", "***"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_scrubber_for_many_texts_scrubs_as_scrub_does() {
        let texts = [
            "plain text",
            "",
            "bad key s3cr3t-KEY in {apikey: s3cr3t-KEY}",
            "\x1b]0;pwned\x07\x1b[31mred\u{202e}",
            "s3cr3t\x1b-KEY",
            "bad key [a%2Bb%2Fc%3Dd%22e] and [a+b\\/c=d\\\"e]",
            "a+b/c\x07=d\"e",
            "line\nbreak\r",
            "ünïcödé \u{202e} text",
        ];
        for key in ["s3cr3t-KEY", "a+b/c=d\"e", ""] {
            let scrubber = Scrubber::new(key);
            for text in texts {
                let mut in_place = text.to_string();
                scrubber.scrub_in_place(&mut in_place);
                assert_eq!(in_place, scrub(text, key), "{key:?} {text:?}");
            }
        }
        let mut clean = "lmguard ADS 1".to_string();
        Scrubber::new("s3cr3t-KEY").scrub_in_place(&mut clean);
        assert_eq!(clean, "lmguard ADS 1");
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            url_without_credentials("https://admin:secret@lm.example:8443/x"),
            "https://***@lm.example:8443/x"
        );
        assert_eq!(url_without_credentials("http://a:b@c@lm"), "http://***@lm");
        assert_eq!(
            url_without_credentials("https://lm/x?apikey=s3cr3t#f"),
            "https://lm/x?***"
        );
        assert_eq!(
            url_without_credentials("https://lm.example"),
            "https://lm.example"
        );
    }
}
