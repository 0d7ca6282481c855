//! Who owns an entry on the LoadMaster: the one rule every deleting path
//! (sweep, unblock, sync, the settling of a refused call) and `check` use.
//!
//! An entry is lmguard's only while its comment is `comment_prefix` or
//! starts with `comment_prefix` followed by a space (`lmguard` does not own
//! `lmguard-brno …` nor `lmguardX`). Where the LoadMaster shows no comments
//! at all, it is lmguard's only while a local record says lmguard put it
//! there (an add of it was acknowledged) and nothing says otherwise (the
//! record does not say someone else holds the address).
//!
//! "Shows no comments" is a comment of `None`: the list answer gave the
//! entry no `comment` member, a `null` one, or the entry as a bare string
//! (`loadmaster::list_answer`). An empty comment (`""`) is a comment: the
//! entry was written without one, by someone, and is not lmguard's (lmguard
//! always writes its prefix).

use super::entry::{Entry, Status};

/// Does this comment mark an entry as lmguard's?
fn comment_is_ours(comment: &str, prefix: &str) -> bool {
    match comment.strip_prefix(prefix) {
        Some(rest) => !prefix.is_empty() && (rest.is_empty() || rest.starts_with(' ')),
        None => false,
    }
}

/// What a local record says about ownership.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Record {
    /// lmguard put the entry there (an add of it was acknowledged, or it was
    /// adopted), and nothing says someone else holds the address.
    pub(crate) put_there: bool,
    /// Adopted by `sync --adopt` from an entry with this comment.
    pub(crate) adopted: Option<String>,
}

impl Record {
    /// What `entry` says.
    pub(crate) fn of(entry: &Entry) -> Record {
        Record {
            put_there: !entry.is_local_only()
                && !matches!(entry.status, Status::PendingBlock | Status::Rejected),
            adopted: entry.adopted_comment.clone(),
        }
    }
}

/// Is a LoadMaster entry with this comment (`None`: the LoadMaster shows no
/// comments) lmguard's, given lmguard's local record of that address?
pub(crate) fn is_ours(comment: Option<&str>, prefix: &str, local: Option<&Entry>) -> bool {
    is_ours_by_record(comment, prefix, &local.map(Record::of).unwrap_or_default())
}

/// [`is_ours`], given what the local record says.
pub(crate) fn is_ours_by_record(comment: Option<&str>, prefix: &str, record: &Record) -> bool {
    match comment {
        Some(c) => {
            comment_is_ours(c, prefix) || (record.put_there && record.adopted.as_deref() == Some(c))
        }
        None => record.put_there,
    }
}

/// How a LoadMaster entry that is not lmguard's is described (its comment,
/// or a note when the LoadMaster shows none).
pub(crate) fn describe_other(comment: Option<&str>) -> String {
    match comment {
        Some(c) if !c.is_empty() => c.to_string(),
        Some(_) => "(an entry without a comment)".to_string(),
        None => "(the LoadMaster returned no comment)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_must_be_the_whole_first_word() {
        assert!(comment_is_ours("lmguard", "lmguard"));
        assert!(comment_is_ours("lmguard ADS 1 SCANS", "lmguard"));
        assert!(!comment_is_ours("lmguard-brno ADS 1", "lmguard"));
        assert!(!comment_is_ours("lmguardX", "lmguard"));
        assert!(!comment_is_ours("SOC: permanent, do not remove", "lmguard"));
        assert!(!comment_is_ours(" lmguard", "lmguard"));
        assert!(!comment_is_ours("", "lmguard"));
        assert!(!comment_is_ours("anything", ""));
    }

    #[test]
    fn without_comments_only_a_local_record_of_an_acknowledged_add_counts() {
        assert!(!is_ours(None, "lmguard", None));
        assert!(is_ours(Some("lmguard manual"), "lmguard", None));
        assert!(!is_ours(Some("bob"), "lmguard", None));
        let adopted = Record {
            put_there: true,
            adopted: Some("ADS ID 1 - SCANS".into()),
        };
        assert!(is_ours_by_record(
            Some("ADS ID 1 - SCANS"),
            "lmguard",
            &adopted
        ));
        assert!(!is_ours_by_record(Some("SOC: keep"), "lmguard", &adopted));
        assert!(is_ours_by_record(None, "lmguard", &adopted));
        assert!(!is_ours_by_record(None, "lmguard", &Record::default()));
    }
}
