//! The LoadMaster's firmware version, from `get` with `param=version`.
//!
//! The v2 shape of that answer is not documented (loadmaster-api.md §8); v1
//! answers `<Data><version>7.2.59.0.22007.RELEASE</version></Data>`. So the
//! answer is read defensively: a string member `version` (any case) at the
//! top level or one object down, whose text starts with dotted numbers.

use std::fmt;

use serde_json::{Map, Value};

/// The first firmware with the JSON API `/accessv2` as a regular feature.
pub(crate) const MIN_V2: Version = Version([7, 2, 52]);

/// The first three numbers of a firmware version (`7.2.62`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version(pub [u32; 3]);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.0;
        write!(f, "{a}.{b}.{c}")
    }
}

impl Version {
    /// `7.2.62.0.22589.RELEASE` → 7.2.62; `None` unless it starts with at
    /// least two dotted numbers (a missing third counts as 0).
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().trim_start_matches(['v', 'V']).split('.');
        let mut numbers = [0u32; 3];
        for (i, n) in numbers.iter_mut().enumerate() {
            match parts.next().map(str::parse::<u32>) {
                Some(Ok(v)) => *n = v,
                _ if i >= 2 => break,
                _ => return None,
            }
        }
        Some(Version(numbers))
    }
}

/// The version text in a `get version` answer, if one is there: at most
/// 64 characters, printable ASCII only (it is shown on a terminal).
pub(crate) fn version_in(answer: &Value) -> Option<String> {
    let text = find(answer.as_object()?, 0)?;
    let clean: String = text
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(64)
        .collect();
    (!clean.is_empty()).then_some(clean)
}

fn find(obj: &Map<String, Value>, depth: u8) -> Option<&str> {
    if let Some((_, v)) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("version")) {
        return v.as_str();
    }
    if depth > 0 {
        return None;
    }
    obj.values()
        .filter_map(Value::as_object)
        .find_map(|inner| find(inner, depth + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_are_read_and_compared() {
        let v = Version::parse("7.2.62.0.22589.RELEASE").unwrap();
        assert_eq!(v, Version([7, 2, 62]));
        assert!(v >= MIN_V2);
        assert!(Version::parse("7.2.51.1").unwrap() < MIN_V2);
        assert!(Version::parse("7.1.35").unwrap() < MIN_V2);
        assert!(Version::parse("7.10").unwrap() > MIN_V2);
        assert_eq!(Version::parse("V7.2.52").unwrap(), MIN_V2);
        assert_eq!(Version::parse("unknown"), None);
        assert_eq!(Version::parse("7"), None);
        assert_eq!(MIN_V2.to_string(), "7.2.52");
    }

    #[test]
    fn the_answer_is_read_in_every_plausible_shape() {
        let top = json!({"code":200,"status":"ok","version":"7.2.62.0.22589.RELEASE"});
        assert_eq!(version_in(&top).as_deref(), Some("7.2.62.0.22589.RELEASE"));
        let nested = json!({"status":"ok","Data":{"Version":"7.2.59"}});
        assert_eq!(version_in(&nested).as_deref(), Some("7.2.59"));
        assert_eq!(version_in(&json!({"status":"ok"})), None);
        assert_eq!(version_in(&json!({"version":7})), None);
        assert_eq!(version_in(&json!({"version":"  "})), None);
        assert_eq!(version_in(&json!(["7.2.62"])), None);
        assert_eq!(
            version_in(&json!({"version":"7.2\u{1b}[2J.62"})).as_deref(),
            Some("7.2[2J.62")
        );
    }
}
