//! The syntax of ArcSight CEF (Common Event Format), as Flowmon ADS sends it
//! by syslog: `<syslog header> CEF:0|Vendor|Product|Version|SignatureID|Name|
//! Severity|key=value key=value…`.
//!
//! This module only splits a line into its parts and undoes CEF's escapes
//! (`\|` `\\` in the header; `\=` `\\` `\n` `\r` in extension values); what
//! the parts mean for lmguard is decided in [`super::event`]. Everything here
//! works in one pass over the line (linear time, whatever the input) and
//! never panics.

/// The marker that starts a CEF record; everything before it (the syslog
/// header, in whatever form) is ignored.
pub(crate) const MARKER: &str = "CEF:";

/// Header fields after `CEF:`: version, vendor, product, device version,
/// signature id, name, severity.
const HEADER_FIELDS: usize = 7;

/// The parts of a CEF record lmguard reads.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Record {
    /// The 5th header field: the ADS method code.
    pub(crate) signature_id: String,
    /// The 6th header field: the method description.
    pub(crate) name: String,
    /// The 7th header field: `0`–`10` (or a word in newer CEF).
    pub(crate) severity: String,
    /// `src` / `sourceAddress`.
    pub(crate) src: Option<String>,
    /// `c6a2` / `deviceCustomIPv6Address2` and its label.
    pub(crate) c6a2: Option<String>,
    pub(crate) c6a2_label: Option<String>,
    /// `cn1` / `deviceCustomNumber1` and its label.
    pub(crate) cn1: Option<String>,
    pub(crate) cn1_label: Option<String>,
}

/// Where `CEF:` starts in a line, when the line is CEF: the marker must come
/// before any tab (an ADS tab-separated event starts with its id and a tab,
/// so a detail text that mentions CEF does not make it one).
pub(crate) fn find(text: &str) -> Option<usize> {
    let head = match text.find('\t') {
        Some(tab) => &text[..tab],
        None => text,
    };
    head.find(MARKER)
}

/// Splits a CEF line (anything before `CEF:` is ignored). The error says
/// what is missing.
pub(crate) fn parse(text: &str) -> Result<Record, String> {
    let start = text
        .find(MARKER)
        .ok_or_else(|| format!("not a CEF record (no \"{MARKER}\")"))?;
    let body = &text[start + MARKER.len()..];
    let (header, extension) = split_header(body)?;
    let mut record = Record {
        signature_id: header[4].trim().to_string(),
        name: header[5].trim().to_string(),
        severity: header[6].trim().to_string(),
        ..Record::default()
    };
    for (key, value) in Extension::new(extension) {
        let slot = match key {
            "src" | "sourceAddress" => &mut record.src,
            "c6a2" | "deviceCustomIPv6Address2" => &mut record.c6a2,
            "c6a2Label" | "deviceCustomIPv6Address2Label" => &mut record.c6a2_label,
            "cn1" | "deviceCustomNumber1" => &mut record.cn1,
            "cn1Label" | "deviceCustomNumber1Label" => &mut record.cn1_label,
            _ => continue,
        };
        // The first occurrence counts, as in the other formats' fixed fields.
        if slot.is_none() {
            *slot = Some(unescape_value(value));
        }
    }
    Ok(record)
}

/// The seven header fields (unescaped) and the raw extension after them.
fn split_header(body: &str) -> Result<([String; HEADER_FIELDS], &str), String> {
    let mut fields: [String; HEADER_FIELDS] = Default::default();
    let mut index = 0;
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.clone().next() {
                Some((_, escaped @ ('|' | '\\'))) => {
                    fields[index].push(escaped);
                    chars.next();
                }
                _ => fields[index].push('\\'),
            },
            '|' => {
                index += 1;
                if index == HEADER_FIELDS {
                    return Ok((fields, &body[at + 1..]));
                }
            }
            c => fields[index].push(c),
        }
    }
    Err(format!(
        "CEF header incomplete ({} of {} fields before the extension; \
         CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension)",
        index + 1,
        HEADER_FIELDS + 1
    ))
}

/// Iterates over the `key=value` pairs of a CEF extension. A key is made of
/// letters, digits, `_`, `.`, `-`, `[` and `]`, starts the extension or
/// follows a space, and is followed by an unescaped `=`; a value runs up to
/// the space before the next key (so it may contain spaces), and is returned
/// raw (see [`unescape_value`]).
struct Extension<'a> {
    text: &'a str,
    /// Where the next key starts, when there is one.
    next: Option<(usize, usize)>,
}

impl<'a> Extension<'a> {
    fn new(text: &'a str) -> Extension<'a> {
        Extension {
            text,
            next: next_key(text, 0),
        }
    }
}

impl<'a> Iterator for Extension<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let (key_start, equals) = self.next?;
        let after = next_key(self.text, equals + 1);
        let value_end = after.map_or(self.text.len(), |(start, _)| start);
        self.next = after;
        let key = &self.text[key_start..equals];
        let value = self.text[equals + 1..value_end].trim_end_matches(' ');
        Some((key, value))
    }
}

/// The next key at or after `from`: (start of the key, position of its `=`).
/// Each byte is looked at a bounded number of times: the scan moves forward,
/// and the walk back from an `=` stops at the first byte that cannot be in a
/// key (the previous `=` included).
fn next_key(text: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut at = from;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'=' => {
                let mut start = at;
                while start > from && is_key_byte(bytes[start - 1]) {
                    start -= 1;
                }
                let follows_space = start == 0 || bytes[start - 1] == b' ';
                if start < at && follows_space {
                    return Some((start, at));
                }
                at += 1;
            }
            _ => at += 1,
        }
    }
    None
}

fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-' | b'[' | b']')
}

/// Undoes the escapes of an extension value: `\=` → `=`, `\\` → `\`, `\n`
/// and `\r` → a line break; any other backslash stays as it is.
pub(crate) fn unescape_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some(escaped @ ('=' | '\\')) => {
                out.push(escaped);
                chars.next();
            }
            Some('n') | Some('r') => {
                out.push('\n');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(extension: &str) -> Vec<(String, String)> {
        Extension::new(extension)
            .map(|(k, v)| (k.to_string(), unescape_value(v)))
            .collect()
    }

    #[test]
    fn header_fields_and_escapes() {
        let record =
            parse("<13>Nov 30 host ADS[1]: CEF:0|V\\|x|P|1|SSH\\\\DICT|a \\| b|8|src=192.0.2.1")
                .unwrap();
        assert_eq!(record.signature_id, "SSH\\DICT");
        assert_eq!(record.name, "a | b");
        assert_eq!(record.severity, "8");
        assert_eq!(record.src.as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn a_short_header_is_an_error() {
        let error = parse("CEF:0|Flowmon|ADS|1|SCANS|Scan").unwrap_err();
        assert!(error.contains("6 of 8 fields"), "{error}");
        assert!(parse("no marker").unwrap_err().contains("not a CEF record"));
        // An escaped pipe does not count as a separator.
        let error = parse("CEF:0|a|b|c|d|e|f\\|g").unwrap_err();
        assert!(error.contains("7 of 8"), "{error}");
    }

    #[test]
    fn extension_values_run_to_the_next_key() {
        assert_eq!(
            pairs("src=10.0.0.1 msg=two words, and more start=May 27 2025 10:41:58 dst=x"),
            [
                ("src".into(), "10.0.0.1".into()),
                ("msg".into(), "two words, and more".into()),
                ("start".into(), "May 27 2025 10:41:58".into()),
                ("dst".into(), "x".into()),
            ]
        );
        assert_eq!(
            pairs("msg=user\\=admin a\\\\b\\nnext x=1"),
            [
                ("msg".into(), "user=admin a\\b\nnext".into()),
                ("x".into(), "1".into())
            ]
        );
        // `=` inside a value that is not preceded by a key-and-space start.
        assert_eq!(pairs("msg=a=b c"), [("msg".into(), "a=b c".into())]);
        assert_eq!(pairs(""), []);
        assert_eq!(pairs("no pairs here"), []);
        assert_eq!(pairs("k="), [("k".into(), "".into())]);
    }

    #[test]
    fn only_the_marker_before_the_first_tab_makes_a_cef_line() {
        assert_eq!(find("host ADS: CEF:0|a"), Some(10));
        assert_eq!(find("1\t2\tCEF:0|a"), None);
        assert_eq!(find("plain"), None);
    }
}
