//! The comments lmguard writes next to its entries on the LoadMaster.
//!
//! Nobody has published what comment length or characters the appliance
//! keeps intact (loadmaster-api.md §8), so lmguard writes only what any
//! firmware should store unchanged: at most [`MAX_LEN`] characters, each a
//! letter, digit, space or one of `._:/-`. `comment_prefix` is checked
//! against the same set when the configuration is read; an event id or
//! method code from ADS that falls outside is replaced, never sent raw.

/// The longest comment lmguard writes.
pub(crate) const MAX_LEN: usize = 64;

/// The longest `comment_prefix`: leaves room for ` ADS <id> <method>`.
pub(crate) const MAX_PREFIX_LEN: usize = 32;

/// The longest event id or method code written as it came.
const MAX_TOKEN_LEN: usize = 20;

/// What replaces an event id that cannot be written as it came.
pub(crate) const UNREADABLE_ID: &str = "unreadable";

/// What replaces a method code that cannot be written as it came.
pub(crate) const OTHER_METHOD: &str = "OTHER";

/// Whether the appliance is trusted to keep `c` in a comment.
pub(crate) fn is_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | ':' | '/' | '-')
}

/// The characters allowed besides letters, digits and space, for messages.
pub(crate) const SAFE_PUNCTUATION: &str = "._:/-";

/// Check a `comment_prefix`: one word (it is matched as the comment's first
/// word) of safe characters, at most [`MAX_PREFIX_LEN`] long.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(bad) = prefix.chars().find(|c| !is_safe_char(*c) || *c == ' ') {
        return Err(format!(
            "{bad:?} is not allowed: use only letters, digits and {SAFE_PUNCTUATION} (no spaces), \
             characters every LoadMaster firmware keeps intact in a comment"
        ));
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return Err(format!(
            "is {} characters long; at most {MAX_PREFIX_LEN} leave room for the event id and \
             method in a {MAX_LEN}-character comment",
            prefix.len()
        ));
    }
    Ok(())
}

/// A `comment_prefix` that passed [`check_prefix`]: made only by
/// [`CommentPrefix::parse`], when the configuration is read, so whoever holds
/// one need not check it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommentPrefix(String);

impl CommentPrefix {
    /// Check `prefix`; the error says why it is refused (without naming it).
    pub(crate) fn parse(prefix: &str) -> Result<CommentPrefix, String> {
        check_prefix(prefix)?;
        Ok(CommentPrefix(prefix.to_string()))
    }
}

impl std::ops::Deref for CommentPrefix {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CommentPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `token` if it is one short word of safe characters, else `replacement`.
fn token<'a>(token: &'a str, replacement: &'a str) -> &'a str {
    let ok = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.chars().all(|c| is_safe_char(c) && c != ' ');
    if ok {
        token
    } else {
        replacement
    }
}

/// The comment that marks an entry as lmguard's: `lmguard ADS 532028
/// SSHDICT` for an ADS event (the method of `reason`, as
/// [`super::entry::method_of_reason`] reads it), `lmguard ADS SSHDICT` for an
/// event without an id (CEF from ADS 7 and later), `lmguard manual` for a
/// block that did not come from an event. Always safe and at most
/// [`MAX_LEN`] long.
pub(crate) fn for_entry(
    prefix: &CommentPrefix,
    from_event: bool,
    event_id: Option<&str>,
    reason: &str,
) -> String {
    let method = || token(super::entry::method_of_reason(reason), OTHER_METHOD);
    let text = match event_id {
        Some(id) => format!(
            "{prefix} ADS {} {}",
            token(id.trim(), UNREADABLE_ID),
            method()
        ),
        None if from_event => format!("{prefix} ADS {}", method()),
        None => format!("{prefix} manual"),
    };
    sanitise(&text)
}

/// The comment of `check --probe`'s test entry.
pub(crate) fn for_probe(prefix: &CommentPrefix) -> String {
    sanitise(&format!("{prefix} probe"))
}

/// Unsafe characters dropped, cut at [`MAX_LEN`], trimmed. A last line of
/// defence: the parts are already safe, the prefix being a
/// [`CommentPrefix`].
fn sanitise(text: &str) -> String {
    let safe: String = text
        .chars()
        .filter(|c| is_safe_char(*c))
        .take(MAX_LEN)
        .collect();
    safe.trim().to_string()
}

/// The comment that marks `entry` as lmguard's on the LoadMaster:
/// `lmguard ADS 532028 SSHDICT`, `lmguard ADS SSHDICT` (an event without an
/// id), or `lmguard manual`.
pub(crate) fn of_entry(prefix: &CommentPrefix, entry: &super::entry::Entry) -> String {
    for_entry(
        prefix,
        entry.is_from_event(),
        entry.event_id.as_deref(),
        &entry.reason,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(prefix: &str) -> CommentPrefix {
        CommentPrefix::parse(prefix).unwrap()
    }

    #[test]
    fn comments_mark_lmguard_and_stay_short_ascii() {
        use crate::domain::entry::{apply_block, BlockRequest, Claim, Scope};
        use crate::domain::severity::Severity;
        let comment = |event_id: Option<&str>, priority, reason: &str| {
            let req = BlockRequest {
                loadmaster: Default::default(),
                address: "192.0.2.7".parse().unwrap(),
                scope: Scope::Global,
                duration: "1h".parse().unwrap(),
                reason: reason.into(),
                event_id: event_id.map(str::to_string),
                priority,
            };
            let claim = Claim {
                pid: 1,
                started: 0,
                token: 1,
                until: 10,
            };
            let (entry, _) = apply_block(None, &req, 0, claim, &|_| true);
            of_entry(&p("lmguard"), &entry)
        };
        let high = Some(Severity::High);
        assert_eq!(
            comment(Some("532028"), high, "SSHDICT SSH attack"),
            "lmguard ADS 532028 SSHDICT"
        );
        // CEF from ADS 7 and later carries no event id: still an ADS event.
        assert_eq!(
            comment(None, high, "SSHDICT SSH attack"),
            "lmguard ADS SSHDICT"
        );
        assert_eq!(comment(None, None, "whatever"), "lmguard manual");
        let long = comment(Some(&"9".repeat(200)), None, "Ünïcode");
        assert!(long.len() <= 64 && long.is_ascii());
    }

    fn is_safe(comment: &str) -> bool {
        comment.len() <= MAX_LEN && comment.chars().all(is_safe_char)
    }

    #[test]
    fn ads_and_manual_comments() {
        assert_eq!(
            for_entry(&p("lmguard"), true, Some("532028"), "SSHDICT SSH attack"),
            "lmguard ADS 532028 SSHDICT"
        );
        assert_eq!(
            for_entry(&p("lmguard"), true, Some("7"), "SCANS: port scan"),
            "lmguard ADS 7 SCANS"
        );
        assert_eq!(
            for_entry(&p("lmguard"), false, None, "whatever"),
            "lmguard manual"
        );
        // An event without an id (CEF from ADS 7+) is still an ADS event.
        assert_eq!(
            for_entry(&p("lmguard"), true, None, "SSHDICT SSH attack"),
            "lmguard ADS SSHDICT"
        );
        assert_eq!(
            for_entry(&p("lmguard"), true, None, "SCANS\u{1b}[31m"),
            "lmguard ADS OTHER"
        );
        assert_eq!(for_probe(&p("lm.guard-1")), "lm.guard-1 probe");
    }

    #[test]
    fn ids_and_methods_outside_the_set_are_replaced_not_sent() {
        assert_eq!(
            for_entry(&p("lmguard"), true, Some("53'; DROP"), "SSHDICT"),
            "lmguard ADS unreadable SSHDICT"
        );
        assert_eq!(
            for_entry(&p("lmguard"), true, Some("1"), "Ünïcode attack"),
            "lmguard ADS 1 OTHER"
        );
        assert_eq!(
            for_entry(&p("lmguard"), true, Some("1"), "SCANS\u{1b}[31m"),
            "lmguard ADS 1 OTHER"
        );
        assert_eq!(
            for_entry(&p("lmguard"), true, Some(&"9".repeat(200)), "SCANS"),
            "lmguard ADS unreadable SCANS"
        );
        assert_eq!(
            for_entry(&p("lmguard"), true, Some(""), ""),
            "lmguard ADS unreadable OTHER"
        );
    }

    #[test]
    fn every_comment_is_short_and_safe() {
        let prefix = p(&"p".repeat(MAX_PREFIX_LEN));
        for (id, reason) in [
            (Some("12345678901234567890"), "ABCDEFGHIJKLMNOPQRST x"),
            (Some("\u{7f}"), "\n"),
            (None, ""),
        ] {
            let c = for_entry(&prefix, true, id, reason);
            assert!(is_safe(&c), "{c:?}");
        }
        assert!(is_safe(&for_probe(&prefix)));
    }

    #[test]
    fn prefixes_are_checked_against_the_same_set() {
        assert!(check_prefix("lmguard").is_ok());
        assert!(check_prefix("lm.guard_2:ads/x-y").is_ok());
        assert!(check_prefix("").is_err());
        assert!(check_prefix("lm guard").is_err());
        let err = check_prefix("lmguard#1").unwrap_err();
        assert!(err.contains("'#'"), "{err}");
        assert!(check_prefix("lmgüard").is_err());
        assert!(check_prefix(&"x".repeat(MAX_PREFIX_LEN + 1)).is_err());
        assert!(check_prefix(&"x".repeat(MAX_PREFIX_LEN)).is_ok());
        assert_eq!(&*p("lmguard"), "lmguard");
        assert_eq!(
            CommentPrefix::parse("lm guard"),
            Err(check_prefix("lm guard").unwrap_err())
        );
    }
}
