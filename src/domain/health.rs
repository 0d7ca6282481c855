//! What lmguard last heard from a LoadMaster: when it last answered and
//! when it last failed, kept in the state for `stats`.

use serde::{Deserialize, Serialize};

/// When a LoadMaster last answered and last failed (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Health {
    /// The last readable answer: a success, or a refusal of one request
    /// (the LoadMaster works, it only declined that entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_answer: Option<i64>,
    /// The last failure that stops a run: unreachable, a refused key, a
    /// disabled API, a server error, an unreadable answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_failure: Option<i64>,
    /// What that failure was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_failure_message: Option<String>,
}

impl Health {
    /// Fold newer observations in; the later of each time wins.
    pub(crate) fn merge(&mut self, newer: &Health) {
        if newer.last_answer > self.last_answer {
            self.last_answer = newer.last_answer;
        }
        if newer.last_failure > self.last_failure {
            self.last_failure = newer.last_failure;
            self.last_failure_message = newer.last_failure_message.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_later_observation_wins() {
        let mut h = Health {
            last_answer: Some(10),
            last_failure: Some(20),
            last_failure_message: Some("old".into()),
        };
        h.merge(&Health {
            last_answer: Some(5),
            last_failure: Some(30),
            last_failure_message: Some("new".into()),
        });
        assert_eq!(h.last_answer, Some(10));
        assert_eq!(
            (h.last_failure, h.last_failure_message.as_deref()),
            (Some(30), Some("new"))
        );
        h.merge(&Health::default());
        assert_eq!(h.last_answer, Some(10));
    }
}
