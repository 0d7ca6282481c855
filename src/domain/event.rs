//! Flowmon ADS and IDS events as `lmguard block` reads them from standard input.
//!
//! The contract is `shared/docs/flowmon-ads-input.md`: one event per line,
//! either the legacy tab-separated format, one JSON object per line
//! (ADS 12.5 and later), or CEF as ADS sends it by syslog (the syntax is in
//! [`super::cef`]); TSV and JSON carry ADS (flow anomaly) and IDS
//! (signature) events, CEF ADS events. A line ends at `\n`, `\r\n` or a bare
//! `\r`. This module turns bytes into [`Event`]s, or into a [`LineError`]
//! naming the line and the reason when a line is unusable. It never panics
//! on input, does no I/O beyond reading the reader it is given, and works in
//! time linear in the input. Duplicate sources are *not* removed here.

use std::fmt;
use std::io::{self, BufRead};

use serde_json::{Map, Value};

use super::address::Address;
use super::cef;
use super::severity::Severity;

/// The longest line accepted (its bytes without the `\n`): 4 MiB.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Text kept in an [`Event`] is cut to this many characters (plus `…`).
const MAX_TEXT_CHARS: usize = 256;

/// A bad value quoted in an error message is cut to this many characters.
const MAX_QUOTED_CHARS: usize = 80;

/// A source longer than this cannot be an address or network; the longest,
/// `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128`, has 49 characters.
const MAX_SOURCE_CHARS: usize = 100;

/// A serde_json error message is cut to this many characters.
const MAX_JSON_ERROR_CHARS: usize = 120;

/// A tab-separated line with at least this many fields is an ADS event.
const ADS_MIN_FIELDS: usize = 15;
/// A tab-separated line with fewer than [`ADS_MIN_FIELDS`] but at least this
/// many fields is an IDS event.
const IDS_MIN_FIELDS: usize = 14;

/// Field indices of a tab-separated ADS event.
mod ads_field {
    pub(crate) const ID: usize = 0;
    pub(crate) const METHOD: usize = 3;
    pub(crate) const DESCRIPTION: usize = 4;
    pub(crate) const SEVERITY: usize = 8;
    pub(crate) const SOURCE: usize = 12;
}

/// Field indices of a tab-separated IDS event.
mod ids_field {
    pub(crate) const ID: usize = 0;
    pub(crate) const SOURCE: usize = 3;
    pub(crate) const SIGNATURE: usize = 9;
    pub(crate) const CATEGORY: usize = 12;
    pub(crate) const SEVERITY: usize = 13;
}

/// How many leading fields of a tab-separated line the parser reads
/// (indices 0–13); later fields are only counted.
const READ_FIELDS: usize = 14;

/// Which input format to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// Decide per line: a line whose first non-blank character is `{` or `[`
    /// is JSON, one with `CEF:` before its first tab is CEF, anything else is
    /// tab-separated.
    #[default]
    Auto,
    /// Every line is tab-separated.
    Tsv,
    /// Every line is a JSON object.
    Json,
    /// Every line is a CEF record, with or without a syslog header.
    Cef,
}

/// What kind of detection produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// A flow anomaly found by an ADS detection method.
    Ads,
    /// A signature match (Suricata-style IDS).
    Ids,
}

/// One usable event: a valid source address plus what is known about it.
///
/// Text fields are trimmed, `None` when empty, have control characters
/// replaced by spaces and are cut to 256 characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub(crate) kind: EventKind,
    /// The address to block, canonical.
    pub(crate) source: Address,
    /// The event id as text (`"532028"`); JSON numbers are converted to text.
    pub(crate) event_id: Option<String>,
    /// ADS method code (`SSHDICT`); `None` for IDS events.
    pub(crate) method: Option<String>,
    /// ADS: the method description. IDS: the signature name, or the
    /// category when there is no signature name.
    pub(crate) description: Option<String>,
    /// Severity as given (ADS `Critical`…, IDS `2`); numbers as text. A CEF
    /// severity is turned into the ADS word (`8` → `High`) when it maps.
    pub(crate) severity: Option<String>,
    /// 1-based line number in the input.
    pub(crate) line: usize,
}

impl Event {
    /// The event's priority: an ADS word, or an IDS number (1 highest) or
    /// word; `None` when absent or unknown.
    pub(crate) fn priority(&self) -> Option<Severity> {
        let given = self.severity.as_deref()?;
        match self.kind {
            EventKind::Ads => Severity::parse(given),
            EventKind::Ids => Severity::from_ids_number(given).or(Severity::parse(given)),
        }
    }

    /// The text stored as the block's reason: `SSHDICT SSH attack` (method
    /// code and description) for ADS, `IDS: <signature>` for IDS. Never
    /// empty: falls back to `ADS event` / `IDS event`.
    pub(crate) fn reason(&self) -> String {
        let present = |field: &Option<String>| {
            field
                .as_deref()
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_string)
        };
        match self.kind {
            EventKind::Ads => {
                let parts: Vec<String> = [present(&self.method), present(&self.description)]
                    .into_iter()
                    .flatten()
                    .collect();
                if parts.is_empty() {
                    "ADS event".to_string()
                } else {
                    parts.join(" ")
                }
            }
            EventKind::Ids => match present(&self.description) {
                Some(signature) => format!("IDS: {signature}"),
                None => "IDS event".to_string(),
            },
        }
    }
}

/// Why one input line was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the input.
    pub(crate) line: usize,
    pub(crate) reason: String,
}

impl LineError {
    fn new(line: usize, reason: impl Into<String>) -> Self {
        LineError {
            line,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for LineError {}

/// Parses one input line (without its `\n`; a trailing `\r` is ignored).
///
/// Returns `Ok(None)` for a blank or whitespace-only line, `Ok(Some(event))`
/// for a usable event and `Err` with the reason for anything else.
pub fn parse_line(
    line: &[u8],
    line_no: usize,
    format: InputFormat,
) -> Result<Option<Event>, LineError> {
    let text = decode_line(line).map_err(|reason| LineError::new(line_no, reason))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let parsed = match resolve_format(text, format) {
        InputFormat::Json => parse_json(text, line_no),
        InputFormat::Cef => parse_cef(text, line_no),
        _ => parse_tsv(text, line_no),
    };
    parsed
        .map(Some)
        .map_err(|reason| LineError::new(line_no, reason))
}

/// Reads `reader` line by line and calls `on_event` for every usable event
/// and `on_error` for every bad line, in input order. Blank lines are
/// skipped silently.
///
/// Holds at most one line ([`MAX_LINE_BYTES`]) in memory: a longer line is
/// reported as `line too long (N bytes)` and skipped without being buffered.
/// Only I/O errors of the reader are returned.
pub fn parse_stream<R: BufRead>(
    reader: R,
    format: InputFormat,
    mut on_event: impl FnMut(Event),
    mut on_error: impl FnMut(LineError),
) -> io::Result<()> {
    read_lines(reader, format, |parsed| match parsed {
        Ok(Some(event)) => on_event(event),
        Ok(None) => {}
        Err(error) => on_error(error),
    })
}

/// Like [`parse_stream`], but hands over every line as it ends, blank ones
/// included (`Ok(None)`), so that a caller can answer each line (`block
/// --confirm`). `on_line` runs as soon as a line's end has been read, not
/// when the reader reaches its end: this is what serves a stream that never
/// ends.
///
/// A line ends at `\n`, at `\r\n`, or at a `\r` not followed by `\n` (old
/// Mac-style input, or a sender that uses CR alone).
pub(crate) fn read_lines<R: BufRead>(
    reader: R,
    format: InputFormat,
    on_line: impl FnMut(Result<Option<Event>, LineError>),
) -> io::Result<()> {
    read_lines_ending(reader, format, LineEnds::Any, on_line)
}

/// Where a line of input ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnds {
    /// At `\n`, `\r\n` or a bare `\r`.
    Any,
    /// At `\n` only (`\r\n` too, its `\r` being dropped): one line is one
    /// message of a syslog daemon, which answers each (`block --confirm`), so
    /// a `\r` inside a message must never make a second one.
    Lf,
}

/// [`read_lines`], with the line ends `ends` says.
pub(crate) fn read_lines_ending<R: BufRead>(
    mut reader: R,
    format: InputFormat,
    ends: LineEnds,
    mut on_line: impl FnMut(Result<Option<Event>, LineError>),
) -> io::Result<()> {
    let ends_line = |byte: u8| byte == b'\n' || (byte == b'\r' && ends == LineEnds::Any);
    let mut buffer = LineBuffer::default();
    let mut line_no = 0usize;
    // The previous line ended with a `\r`: a `\n` right after it belongs to
    // the same line end.
    let mut after_cr = false;
    loop {
        let (used, line_ended) = {
            let chunk = match reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if chunk.is_empty() {
                break;
            }
            if after_cr {
                after_cr = false;
                if chunk[0] == b'\n' {
                    (1, false)
                } else {
                    (0, false)
                }
            } else {
                match chunk.iter().position(|&byte| ends_line(byte)) {
                    Some(end) => {
                        buffer.push(&chunk[..end]);
                        after_cr = chunk[end] == b'\r';
                        (end + 1, true)
                    }
                    None => {
                        buffer.push(chunk);
                        (chunk.len(), false)
                    }
                }
            }
        };
        reader.consume(used);
        if line_ended {
            line_no += 1;
            on_line(buffer.finish(line_no, format));
        }
    }
    if !buffer.is_empty() {
        line_no += 1;
        on_line(buffer.finish(line_no, format));
    }
    Ok(())
}

/// Collects the pieces of one line as the reader hands them over, keeping at
/// most [`MAX_LINE_BYTES`]; beyond that it only counts.
#[derive(Debug, Default)]
struct LineBuffer {
    bytes: Vec<u8>,
    /// Total length once the line has grown past the limit.
    too_long: Option<usize>,
}

impl LineBuffer {
    fn push(&mut self, piece: &[u8]) {
        if let Some(total) = &mut self.too_long {
            *total = total.saturating_add(piece.len());
            return;
        }
        let total = self.bytes.len().saturating_add(piece.len());
        if total > MAX_LINE_BYTES {
            self.too_long = Some(total);
            self.bytes.clear();
        } else {
            self.bytes.extend_from_slice(piece);
        }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.too_long.is_none()
    }

    /// Parses the collected line and empties the buffer for the next one.
    fn finish(&mut self, line_no: usize, format: InputFormat) -> Result<Option<Event>, LineError> {
        let result = match self.too_long.take() {
            Some(total) => Err(LineError::new(line_no, too_long(total))),
            None => parse_line(&self.bytes, line_no, format),
        };
        self.bytes.clear();
        result
    }
}

fn too_long(bytes: usize) -> String {
    format!("line too long ({bytes} bytes)")
}

/// Strips the line ending and checks the bytes are text: valid UTF-8 without
/// NUL bytes and not longer than [`MAX_LINE_BYTES`].
fn decode_line(line: &[u8]) -> Result<&str, String> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    if line.len() > MAX_LINE_BYTES {
        return Err(too_long(line.len()));
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let nul = line.iter().position(|&byte| byte == 0);
    match (std::str::from_utf8(line), nul) {
        (Ok(text), None) => Ok(text),
        (Ok(_), Some(at)) => Err(format!("contains NUL bytes (first at byte {})", at + 1)),
        (Err(error), None) => Err(format!(
            "not valid UTF-8 text (first bad byte at byte {})",
            error.valid_up_to() + 1
        )),
        (Err(error), Some(at)) => Err(format!(
            "not valid UTF-8 text (first bad byte at byte {}) and contains NUL bytes (first at byte {})",
            error.valid_up_to() + 1,
            at + 1
        )),
    }
}

/// The format of one non-blank line.
fn resolve_format(text: &str, format: InputFormat) -> InputFormat {
    match format {
        InputFormat::Auto if text.trim_start().starts_with(['{', '[']) => InputFormat::Json,
        InputFormat::Auto if cef::find(text).is_some() => InputFormat::Cef,
        InputFormat::Auto => InputFormat::Tsv,
        chosen => chosen,
    }
}

// ----- tab-separated lines -------------------------------------------------

/// The fields of a tab-separated line the parser reads, and how many there are.
struct TsvFields<'a> {
    first: [&'a str; READ_FIELDS],
    /// The number of fields, not counting trailing zero-length fields left by
    /// trailing tabs (ADS sends an empty field as a single space).
    count: usize,
}

impl<'a> TsvFields<'a> {
    /// Splits on single tabs in one pass, keeping only the first fields.
    fn split(text: &'a str) -> Self {
        let mut first = [""; READ_FIELDS];
        let mut count = 0;
        for (index, field) in text.split('\t').enumerate() {
            if let Some(slot) = first.get_mut(index) {
                *slot = field;
            }
            if !field.is_empty() {
                count = index + 1;
            }
        }
        TsvFields { first, count }
    }

    /// The raw field at `index` (`""` when the line is shorter).
    fn raw(&self, index: usize) -> &'a str {
        self.first.get(index).copied().unwrap_or("")
    }

    /// The field at `index` as cleaned text; `None` when empty or a space.
    fn text(&self, index: usize) -> Option<String> {
        clean_text(self.raw(index))
    }
}

fn parse_tsv(text: &str, line_no: usize) -> Result<Event, String> {
    let fields = TsvFields::split(text);
    if fields.count >= ADS_MIN_FIELDS {
        ads_from_tsv(&fields, line_no)
    } else if fields.count >= IDS_MIN_FIELDS {
        ids_from_tsv(&fields, line_no)
    } else {
        Err(format!(
            "too few fields ({}; an ADS event has 16, an IDS event 14)",
            fields.count
        ))
    }
}

fn ads_from_tsv(fields: &TsvFields<'_>, line_no: usize) -> Result<Event, String> {
    Ok(Event {
        kind: EventKind::Ads,
        source: parse_source(fields.raw(ads_field::SOURCE))?,
        event_id: fields.text(ads_field::ID),
        method: fields.text(ads_field::METHOD),
        description: fields.text(ads_field::DESCRIPTION),
        severity: fields.text(ads_field::SEVERITY),
        line: line_no,
    })
}

fn ids_from_tsv(fields: &TsvFields<'_>, line_no: usize) -> Result<Event, String> {
    Ok(Event {
        kind: EventKind::Ids,
        source: parse_source(fields.raw(ids_field::SOURCE))?,
        event_id: fields.text(ids_field::ID),
        method: None,
        description: fields
            .text(ids_field::SIGNATURE)
            .or_else(|| fields.text(ids_field::CATEGORY)),
        severity: fields.text(ids_field::SEVERITY),
        line: line_no,
    })
}

// ----- JSON lines ----------------------------------------------------------

/// JSON keys of an ADS event.
mod ads_key {
    pub(crate) const MARKER: &str = "timestamp";
    pub(crate) const ID: &str = "id";
    pub(crate) const METHOD: &str = "type";
    pub(crate) const DESCRIPTION: &str = "typeDesc";
    pub(crate) const SEVERITY: &str = "severity";
    pub(crate) const SOURCE: &str = "source";
}

/// JSON keys of an IDS event.
mod ids_key {
    pub(crate) const ID: &str = "id";
    pub(crate) const SIGNATURE: &str = "signatureName";
    pub(crate) const CATEGORY: &str = "category";
    pub(crate) const SEVERITY: &str = "severity";
    pub(crate) const SOURCE: &str = "srcIp";
}

/// Parses a JSON line. serde_json's recursion limit (128) turns deeply
/// nested input into an error instead of a stack overflow.
fn parse_json(text: &str, line_no: usize) -> Result<Event, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| format!("invalid JSON: {}", short_json_error(&error)))?;
    let Value::Object(object) = value else {
        return Err(format!(
            "JSON value is not an object (it is {})",
            json_type(&value)
        ));
    };
    if object.contains_key(ads_key::MARKER) {
        ads_from_json(&object, line_no)
    } else {
        ids_from_json(&object, line_no)
    }
}

fn ads_from_json(object: &Map<String, Value>, line_no: usize) -> Result<Event, String> {
    Ok(Event {
        kind: EventKind::Ads,
        source: json_source(object, ads_key::SOURCE)?,
        event_id: json_text(object, ads_key::ID),
        method: json_text(object, ads_key::METHOD),
        description: json_text(object, ads_key::DESCRIPTION),
        severity: json_text(object, ads_key::SEVERITY),
        line: line_no,
    })
}

fn ids_from_json(object: &Map<String, Value>, line_no: usize) -> Result<Event, String> {
    Ok(Event {
        kind: EventKind::Ids,
        source: json_source(object, ids_key::SOURCE)?,
        event_id: json_text(object, ids_key::ID),
        method: None,
        description: json_text(object, ids_key::SIGNATURE)
            .or_else(|| json_text(object, ids_key::CATEGORY)),
        severity: json_text(object, ids_key::SEVERITY),
        line: line_no,
    })
}

/// The source address under `key`; it must be a string.
fn json_source(object: &Map<String, Value>, key: &str) -> Result<Address, String> {
    match object.get(key) {
        None => Err(format!("no source address (key \"{key}\" is missing)")),
        Some(Value::Null) => Err(format!("no source address (\"{key}\" is null)")),
        Some(Value::String(text)) => parse_source(text),
        Some(other) => Err(format!(
            "source has the wrong type (\"{key}\" is {}, expected a string)",
            json_type(other)
        )),
    }
}

/// An optional text value: strings and numbers are accepted, anything else
/// (null, bool, array, object) counts as absent.
fn json_text(object: &Map<String, Value>, key: &str) -> Option<String> {
    match object.get(key)? {
        Value::String(text) => clean_text(text),
        Value::Number(number) => clean_text(&number.to_string()),
        _ => None,
    }
}

/// `an array`, `a string`…: a JSON value's type, for messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde_json's message without the "line 1" (always 1 within one line).
fn short_json_error(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let message = match full.rsplit_once(" at line ") {
        Some((message, _)) if error.line() > 0 => message,
        _ => full.as_str(),
    };
    let message = truncate(message, MAX_JSON_ERROR_CHARS);
    if error.column() > 0 {
        format!("{message} at column {}", error.column())
    } else {
        message
    }
}

// ----- CEF (syslog) --------------------------------------------------------

/// The `c6a2` label that makes it the source (ADS: `srcIPv6`).
const CEF_SOURCE_V6_LABEL: &str = "srcIPv6";
/// The `cn1` label that makes it the event id (ADS 6.x: `EventID`).
const CEF_EVENT_ID_LABEL: &str = "EventID";

/// A CEF line from ADS's syslog output: method code = signature id,
/// priority = the CEF severity as an ADS word, source = `src` or `c6a2`
/// labelled `srcIPv6`, event id = `cn1` labelled `EventID`.
fn parse_cef(text: &str, line_no: usize) -> Result<Event, String> {
    let record = cef::parse(text)?;
    let labelled = |value: &Option<String>, label: &Option<String>, wanted: &str| {
        let fits = label
            .as_deref()
            .is_some_and(|l| l.trim().eq_ignore_ascii_case(wanted));
        value.clone().filter(|_| fits)
    };
    let source = match (
        &record.src,
        labelled(&record.c6a2, &record.c6a2_label, CEF_SOURCE_V6_LABEL),
    ) {
        (Some(src), _) => parse_source(src)?,
        (None, Some(v6)) => parse_source(&v6)?,
        (None, None) => {
            return Err(
                "no source address (a CEF event needs src= or c6a2= labelled srcIPv6)".to_string(),
            )
        }
    };
    let severity = match Severity::from_cef(&record.severity) {
        Some(level) => Some(level.name().to_string()),
        None => clean_text(&record.severity),
    };
    Ok(Event {
        kind: EventKind::Ads,
        source,
        event_id: labelled(&record.cn1, &record.cn1_label, CEF_EVENT_ID_LABEL)
            .as_deref()
            .and_then(clean_text),
        method: clean_text(&record.signature_id),
        description: clean_text(&record.name),
        severity,
        line: line_no,
    })
}

// ----- values --------------------------------------------------------------

/// Checks and canonicalises a source address; the error names the value.
fn parse_source(raw: &str) -> Result<Address, String> {
    if raw.trim().is_empty() {
        return Err("no source address".to_string());
    }
    let length = raw.chars().count();
    if length > MAX_SOURCE_CHARS {
        return Err(format!(
            "source {} is not a valid address: too long for an IP address ({length} characters)",
            quote(raw)
        ));
    }
    if looks_like_list(raw) {
        return Err(format!(
            "source {} is not a valid address: several values separated by commas, \
             semicolons or spaces; one address expected",
            quote(raw)
        ));
    }
    raw.parse::<Address>().map_err(|error| {
        format!(
            "source {} is not a valid address: {}",
            quote(raw),
            error.reason
        )
    })
}

/// True when the value holds more than one word (`a, b`, `a;b`, `a b`).
fn looks_like_list(raw: &str) -> bool {
    raw.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .nth(1)
        .is_some()
}

/// A Unicode bidirectional control (U+200E/F, U+202A–U+202E,
/// U+2066–U+2069): it can make a terminal show text in another order than
/// it is (`ZZ\u{202e}moc.elgoog` reads as a harmless name).
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Event text as a person may see it: control characters become spaces,
/// bidirectional controls are dropped.
pub(crate) fn printable(raw: &str) -> String {
    raw.chars()
        .filter(|&c| !is_bidi_control(c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Trims a text value, replaces control characters by spaces, drops
/// bidirectional controls and cuts it to [`MAX_TEXT_CHARS`]; `None` when
/// nothing is left.
fn clean_text(raw: &str) -> Option<String> {
    let cleaned = printable(&truncate(raw.trim(), MAX_TEXT_CHARS));
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_string())
}

/// A value for an error message: in quotes, control characters escaped, cut
/// to [`MAX_QUOTED_CHARS`].
fn quote(value: &str) -> String {
    let mut shown = String::from("'");
    for c in truncate(value, MAX_QUOTED_CHARS).chars() {
        if c.is_control() {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    shown.push('\'');
    shown
}

/// The first `max_chars` characters of `text`, with `…` when cut.
fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{FIXTURES}/{name}");
        std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"))
    }

    /// Runs `parse_stream` over `input` and collects what it reports.
    fn run(input: &[u8], format: InputFormat) -> (Vec<Event>, Vec<LineError>) {
        let mut events = Vec::new();
        let mut errors = Vec::new();
        parse_stream(input, format, |e| events.push(e), |e| errors.push(e)).unwrap();
        (events, errors)
    }

    fn sources(events: &[Event]) -> Vec<String> {
        events.iter().map(|e| e.source.to_string()).collect()
    }

    fn ids(events: &[Event]) -> Vec<&str> {
        events
            .iter()
            .map(|e| e.event_id.as_deref().unwrap_or("-"))
            .collect()
    }

    fn methods(events: &[Event]) -> Vec<&str> {
        events
            .iter()
            .map(|e| e.method.as_deref().unwrap_or("-"))
            .collect()
    }

    fn severities(events: &[Event]) -> Vec<&str> {
        events
            .iter()
            .map(|e| e.severity.as_deref().unwrap_or("-"))
            .collect()
    }

    fn one(line: &str) -> Result<Option<Event>, LineError> {
        parse_line(line.as_bytes(), 7, InputFormat::Auto)
    }

    fn event(line: &str) -> Event {
        one(line).unwrap().unwrap()
    }

    fn error(line: &str) -> String {
        one(line).unwrap_err().reason
    }

    /// A 16-field ADS line with the given source, method and description.
    fn ads_line(source: &str, method: &str, description: &str) -> String {
        let mut fields = vec![" "; 16];
        fields[0] = "532028";
        fields[1] = "2026-11-24 10:13:00";
        fields[3] = method;
        fields[4] = description;
        fields[7] = "Security Issues";
        fields[8] = "Critical";
        fields[9] = "detail: with; punctuation, \"quotes\"";
        fields[12] = source;
        fields[14] = "198.51.100.4, 198.51.100.9";
        fields[15] = "LAN";
        fields.join("\t")
    }

    /// A 14-field IDS line with the given source, signature and category.
    fn ids_line(source: &str, signature: &str, category: &str) -> String {
        let mut fields = vec![" "; 14];
        fields[0] = "88001";
        fields[1] = "2026-11-24 11:00:00";
        fields[3] = source;
        fields[5] = "198.51.100.30";
        fields[9] = signature;
        fields[10] = "192.0.2.1";
        fields[11] = "eth2";
        fields[12] = category;
        fields[13] = "2";
        fields.join("\t")
    }

    // ----- fixtures --------------------------------------------------------

    #[test]
    fn fixture_ads_events() {
        let (events, errors) = run(&fixture("ads-events.tsv"), InputFormat::Auto);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            sources(&events),
            [
                "203.0.113.7",
                "203.0.113.8",
                "192.0.2.77",
                "198.51.100.200",
                "192.0.2.15"
            ]
        );
        assert_eq!(
            ids(&events),
            ["532028", "532029", "532030", "532031", "532032"]
        );
        assert_eq!(
            methods(&events),
            ["SSHDICT", "SCANS", "RDPDICT", "BLACKLIST", "DNSANOMALY"]
        );
        assert_eq!(
            severities(&events),
            ["Critical", "High", "High", "Medium", "Low"]
        );
        assert!(events.iter().all(|e| e.kind == EventKind::Ads));
        assert_eq!(
            events.iter().map(|e| e.line).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(events[0].reason(), "SSHDICT SSH attack");
        assert_eq!(
            events[3].reason(),
            "BLACKLIST Communication with blacklisted host"
        );
    }

    #[test]
    fn fixture_ids_events() {
        let (events, errors) = run(&fixture("ids-events.tsv"), InputFormat::Auto);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(sources(&events), ["203.0.113.30", "2001:db8:bad::5"]);
        assert_eq!(ids(&events), ["88001", "88002"]);
        assert_eq!(severities(&events), ["2", "1"]);
        assert_eq!(methods(&events), ["-", "-"]);
        assert!(events.iter().all(|e| e.kind == EventKind::Ids));
        assert_eq!(
            events[0].reason(),
            "IDS: ET SCAN Suspicious inbound to mySQL port 3306"
        );
        assert_eq!(events[1].reason(), "IDS: ET EXPLOIT Possible CVE attempt");
    }

    #[test]
    fn fixture_ipv6_events_are_normalised() {
        let (events, errors) = run(&fixture("ipv6-events.tsv"), InputFormat::Auto);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            sources(&events),
            ["2001:db8::ab", "2001:db8:abcd:12::1", "2001:db8:abcd:12::2"]
        );
        assert_eq!(ids(&events), ["532100", "532101", "532102"]);
        assert_eq!(methods(&events), ["SCANS", "SSHDICT", "SSHDICT"]);
        assert!(events
            .iter()
            .all(|e| e.source.is_ipv6() && e.source.is_host()));
    }

    #[test]
    fn fixture_json_lines() {
        for format in [InputFormat::Auto, InputFormat::Json] {
            let (events, errors) = run(&fixture("ads-events.jsonl"), format);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(
                sources(&events),
                ["203.0.113.60", "203.0.113.61", "203.0.113.62"]
            );
            assert_eq!(ids(&events), ["640001", "640002", "88100"]);
            assert_eq!(methods(&events), ["SSHDICT", "SCANS", "-"]);
            assert_eq!(severities(&events), ["Critical", "High", "2"]);
            let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
            assert_eq!(kinds, [EventKind::Ads, EventKind::Ads, EventKind::Ids]);
            assert_eq!(events[0].reason(), "SSHDICT SSH attack");
            assert_eq!(events[2].reason(), "IDS: ET SCAN Nmap Scripting Engine");
        }
    }

    #[test]
    fn fixture_mixed_malformed() {
        let (events, errors) = run(&fixture("mixed-malformed.tsv"), InputFormat::Auto);
        let good: Vec<(usize, String)> = events
            .iter()
            .map(|e| (e.line, e.source.to_string()))
            .collect();
        assert_eq!(
            good,
            [
                (1, "203.0.113.90".to_string()),
                (5, "203.0.113.91".to_string()),
                (9, "203.0.113.92".to_string()),
                (13, "203.0.113.90".to_string()),
            ]
        );
        let expected: [(usize, &[&str]); 9] = [
            (3, &["999.1.2.3", "not a valid address", "not an IPv4"]),
            (4, &["no source"]),
            (6, &["too few fields (3;"]),
            (7, &["attacker.example.net", "host names"]),
            (8, &["UTF-8", "NUL"]),
            (10, &["invalid JSON", "EOF"]),
            (11, &["not an object"]),
            (12, &["203.0.113.93:4444", "port"]),
            (14, &["too few fields (1;"]),
        ];
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, expected.map(|(line, _)| line));
        for (error, (_, words)) in errors.iter().zip(expected) {
            for word in words {
                assert!(error.reason.contains(word), "{error} lacks {word:?}");
            }
            assert!(error.reason.len() < 200, "reason too long: {error}");
        }
        assert_eq!(
            events[1].severity.as_deref(),
            Some("Critical"),
            "CRLF line keeps its fields clean"
        );
    }

    #[test]
    fn fixture_cef_lines() {
        let input = fixture("ads-events.cef");
        for format in [InputFormat::Cef, InputFormat::Auto] {
            let (events, errors) = run(&input, format);
            assert!(errors.is_empty(), "{format:?}: {errors:?}");
            assert_eq!(
                sources(&events),
                [
                    "10.0.57.1",
                    "10.0.21.1",
                    "10.0.49.1",
                    "10.0.0.22",
                    "10.0.0.1",
                    "fe80::abcd",
                    "10.0.0.1",
                    "10.0.0.1",
                    "10.0.0.1",
                    "2001:db8:cef::abcd",
                    "203.0.113.250",
                ]
            );
            assert_eq!(
                methods(&events),
                [
                    "SSHDICT",
                    "SCANS",
                    "RDPDICT",
                    "BLACKLIST",
                    "DICTATTACK",
                    "BPATTERNS",
                    "DNSANOMALY",
                    "SCANS",
                    "DOS",
                    "BPATTERNS",
                    "SSHDICT"
                ]
            );
            assert_eq!(
                severities(&events),
                [
                    "High",
                    "Medium",
                    "Critical",
                    "Critical",
                    "High",
                    "Critical",
                    "Information",
                    "Information",
                    "Critical",
                    "Critical",
                    "High"
                ]
            );
            assert_eq!(
                ids(&events),
                ["-", "-", "-", "-", "-", "-", "-", "-", "786879", "-", "-"]
            );
            assert!(events.iter().all(|e| e.kind == EventKind::Ads));
            assert_eq!(events[0].reason(), "SSHDICT SSH attack");
            assert_eq!(
                events[10].description.as_deref(),
                Some("SSH attack with a pipe | in the name")
            );
            assert_eq!(
                events.iter().map(|e| e.line).collect::<Vec<_>>(),
                (1..=11).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn cef_with_any_header_or_none() {
        let body =
            "CEF:0|Flowmon Networks|Flowmon ADS|13.00.00|SCANS|Port scanning|6|src=192.0.2.9";
        for header in [
            "",
            "Nov 30 09:00:00 host ADS: ",
            "Nov  3 15:13:09 localhost ADS[208220]: ",
            "<134>1 2026-11-30T09:00:00Z ads-host ADS 4242 - - ",
        ] {
            let e = event(&format!("{header}{body}"));
            assert_eq!(
                (
                    e.source.to_string(),
                    e.method.as_deref(),
                    e.severity.as_deref()
                ),
                ("192.0.2.9".to_string(), Some("SCANS"), Some("Medium")),
                "{header:?}"
            );
        }
    }

    #[test]
    fn cef_sources_and_labels() {
        let head = "CEF:0|V|P|1|BPATTERNS|Patterns|10|";
        let e = event(&format!(
            "{head}c6a2=2001:DB8::1 c6a2Label=srcIPv6 c6a3=2001:db8::2 c6a3Label=dstIPv6"
        ));
        assert_eq!(e.source.to_string(), "2001:db8::1");
        // c6a2 that is not labelled srcIPv6 is not the source.
        let err = error(&format!("{head}c6a2=2001:db8::1 c6a2Label=dstIPv6"));
        assert!(err.starts_with("no source address"), "{err}");
        // src wins over c6a2; the long key names work too.
        let e = event(&format!("{head}sourceAddress=192.0.2.4 c6a2=2001:db8::1 c6a2Label=srcIPv6 deviceCustomNumber1=42 deviceCustomNumber1Label=EventID"));
        assert_eq!(e.source.to_string(), "192.0.2.4");
        assert_eq!(e.event_id.as_deref(), Some("42"));
        // cn1 with another label is not the event id.
        let e = event(&format!("{head}src=192.0.2.4 cn1=42 cn1Label=DataFeedID"));
        assert_eq!(e.event_id, None);
        // Bad sources are reported like in the other formats.
        assert!(error(&format!("{head}src=999.1.2.3")).contains("'999.1.2.3'"));
        assert!(error(&format!("{head}src=attacker.example.net msg=x")).contains("host names"));
        assert_eq!(error(&format!("{head}src= msg=x")), "no source address");
        assert!(error(&format!("{head}msg=nothing")).starts_with("no source address"));
        // A broken header.
        assert!(error("host ADS: CEF:0|V|P|1|SCANS").contains("CEF header incomplete"));
        // Severity that is no number stays as text and is kept.
        let e = event("CEF:0|V|P|1|SCANS|S|urgent|src=192.0.2.1");
        assert_eq!(e.severity.as_deref(), Some("urgent"));
    }

    #[test]
    fn auto_mixes_tsv_json_and_cef() {
        let input = format!(
            "{}\n{}\n{}\n",
            ads_line("203.0.113.7", "SSHDICT", "SSH"),
            r#"{"timestamp":"t","source":"203.0.113.8","type":"SCANS"}"#,
            "h ADS: CEF:0|V|P|1|RDPDICT|RDP|8|src=203.0.113.9"
        );
        let (events, errors) = run(input.as_bytes(), InputFormat::Auto);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            sources(&events),
            ["203.0.113.7", "203.0.113.8", "203.0.113.9"]
        );
        assert_eq!(methods(&events), ["SSHDICT", "SCANS", "RDPDICT"]);
        // A TSV line whose detail mentions CEF: stays TSV.
        let tsv = ads_line("203.0.113.7", "SSHDICT", "CEF:0|a|b");
        assert_eq!(event(&tsv).source.to_string(), "203.0.113.7");
        // Forced CEF rejects the other formats, naming the problem.
        let plain = ads_line("203.0.113.7", "SSHDICT", "SSH");
        let err = parse_line(plain.as_bytes(), 1, InputFormat::Cef).unwrap_err();
        assert!(err.reason.contains("not a CEF record"), "{err}");
    }

    #[test]
    fn a_bare_cr_ends_a_line() {
        let input = format!(
            "{}\r{}\r\n\r{}",
            ads_line("192.0.2.1", "A", "B"),
            ads_line("192.0.2.2", "A", "B"),
            ads_line("192.0.2.3", "A", "B")
        );
        let (events, errors) = run(input.as_bytes(), InputFormat::Auto);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(sources(&events), ["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
        assert_eq!(events.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 2, 4]);
        // Split anywhere, the same.
        for capacity in [1, 2, 3] {
            let mut got = Vec::new();
            let reader = io::BufReader::with_capacity(capacity, input.as_bytes());
            parse_stream(reader, InputFormat::Auto, |e| got.push(e.line), |_| {}).unwrap();
            assert_eq!(got, [1, 2, 4], "capacity {capacity}");
        }
    }

    #[test]
    fn with_lf_ends_a_cr_is_inside_its_line() {
        // A CR in the middle of a syslog message (`--confirm`): one line,
        // one answer; a CR before the LF is the line end's.
        let cef = "CEF:0|V|P|1|SCANS|Scan|6|src=";
        let input = format!("{cef}192.0.2.1\rmsg=x\n{cef}192.0.2.2 msg=a\rb\r\n\r\n");
        for capacity in [1, 2, 3, 64] {
            let mut seen = Vec::new();
            let reader = io::BufReader::with_capacity(capacity, input.as_bytes());
            read_lines_ending(reader, InputFormat::Cef, LineEnds::Lf, |parsed| {
                seen.push(match parsed {
                    Ok(None) => "blank".to_string(),
                    Ok(Some(e)) => format!("event {} {}", e.line, e.source),
                    Err(e) => format!("error {}", e.line),
                })
            })
            .unwrap();
            assert_eq!(
                seen,
                ["error 1", "event 2 192.0.2.2", "blank"],
                "capacity {capacity}"
            );
        }
    }

    #[test]
    fn read_lines_hands_over_every_line() {
        let input = format!("\n{}\nbad\n", ads_line("192.0.2.1", "A", "B"));
        let mut seen = Vec::new();
        read_lines(input.as_bytes(), InputFormat::Auto, |parsed| {
            seen.push(match parsed {
                Ok(None) => "blank".to_string(),
                Ok(Some(e)) => format!("event {}", e.line),
                Err(e) => format!("error {}", e.line),
            })
        })
        .unwrap();
        assert_eq!(seen, ["blank", "event 2", "error 3"]);
    }

    // ----- line endings, blanks, empty fields ------------------------------

    #[test]
    fn blank_lines_are_ignored() {
        for line in [
            "", " ", "\t", "\t\t \t", "\r", " \r", "\n", "\r\n", "\u{a0}",
        ] {
            assert_eq!(one(line), Ok(None), "{line:?}");
            for format in [InputFormat::Tsv, InputFormat::Json] {
                assert_eq!(parse_line(line.as_bytes(), 1, format), Ok(None));
            }
        }
    }

    #[test]
    fn crlf_is_tolerated() {
        let ads = event(&format!("{}\r", ads_line("203.0.113.7", "SSHDICT", "SSH")));
        assert_eq!(ads.source.to_string(), "203.0.113.7");
        let ids = event(&format!("{}\r\n", ids_line("203.0.113.30", "sig", "cat")));
        assert_eq!(ids.severity.as_deref(), Some("2"));
        let json = event("{\"timestamp\":\"t\",\"source\":\"203.0.113.5\",\"severity\":\"Low\"}\r");
        assert_eq!(json.severity.as_deref(), Some("Low"));
        let (events, errors) = run(
            format!(
                "{}\r\n\r\n{}\r\n",
                ads_line("192.0.2.1", "A", "B"),
                ads_line("192.0.2.2", "A", "B")
            )
            .as_bytes(),
            InputFormat::Auto,
        );
        assert!(errors.is_empty());
        assert_eq!(events.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn trailing_tabs_do_not_change_the_kind() {
        let ads = ads_line("203.0.113.7", "SSHDICT", "SSH attack");
        for tabs in ["\t", "\t\t", "\t\t\t\t\t"] {
            let e = event(&format!("{ads}{tabs}"));
            assert_eq!(
                (e.kind, e.source.to_string()),
                (EventKind::Ads, "203.0.113.7".into())
            );
            let e = event(&format!("{ads}\tjdoe{tabs}"));
            assert_eq!(e.kind, EventKind::Ads);
            let e = event(&format!("{}{tabs}", ids_line("203.0.113.30", "sig", "cat")));
            assert_eq!(
                (e.kind, e.source.to_string()),
                (EventKind::Ids, "203.0.113.30".into())
            );
            assert_eq!(e.severity.as_deref(), Some("2"));
        }
        // A 15-field ADS line (user identity dropped) still counts as ADS.
        let fifteen: Vec<&str> = ads.split('\t').take(15).collect();
        assert_eq!(event(&fifteen.join("\t")).kind, EventKind::Ads);
    }

    #[test]
    fn single_space_fields_are_empty() {
        let e = event(&ads_line("203.0.113.7", " ", "SSH attack"));
        assert_eq!(e.method, None);
        assert_eq!(e.reason(), "SSH attack");
        let e = event(&ads_line("203.0.113.7", "SSHDICT", " "));
        assert_eq!(e.reason(), "SSHDICT");
        let e = event(&ads_line("203.0.113.7", " ", "  "));
        assert_eq!((e.method.clone(), e.description.clone()), (None, None));
        assert_eq!(e.reason(), "ADS event");
        let e = event(&ids_line("203.0.113.30", " ", "Attempted Information Leak"));
        assert_eq!(e.reason(), "IDS: Attempted Information Leak");
        let e = event(&ids_line("203.0.113.30", " ", " "));
        assert_eq!(e.reason(), "IDS event");
        assert_eq!(error(&ads_line(" ", "A", "B")), "no source address");
        assert_eq!(error(&ads_line("", "A", "B")), "no source address");
        assert_eq!(error(&ids_line(" ", "A", "B")), "no source address");
    }

    #[test]
    fn too_few_fields() {
        assert_eq!(
            error("1\t2\t3"),
            "too few fields (3; an ADS event has 16, an IDS event 14)"
        );
        let thirteen = vec!["x"; 13].join("\t");
        assert!(error(&thirteen).starts_with("too few fields (13;"));
        assert!(error(&format!("{thirteen}\t\t\t")).starts_with("too few fields (13;"));
        assert!(error("not-an-event").starts_with("too few fields (1;"));
    }

    // ----- sources ---------------------------------------------------------

    #[test]
    fn bad_sources_are_named_with_a_reason() {
        let reason = error(&ads_line("999.1.2.3", "A", "B"));
        assert_eq!(
            reason,
            "source '999.1.2.3' is not a valid address: not an IPv4 or IPv6 address"
        );
        let reason = error(&ads_line("attacker.example.net", "A", "B"));
        assert!(reason.starts_with("source 'attacker.example.net' is not a valid address"));
        assert!(reason.contains("host names are not resolved"));
        let reason = error(&ads_line("203.0.113.93:4444", "A", "B"));
        assert!(reason.contains("'203.0.113.93:4444'") && reason.contains("port"));
        let reason = error(&ids_line("[2001:db8::1]:22", "A", "B"));
        assert!(reason.contains("port"), "{reason}");
        let reason = error(&ads_line("203.0.113.1, 203.0.113.2", "A", "B"));
        assert!(reason.contains("one address expected"), "{reason}");
        let reason = error(&ads_line("203.0.113.1;203.0.113.2", "A", "B"));
        assert!(reason.contains("one address expected"), "{reason}");
        let reason = error(&ads_line(" 203.0.113.1", "A", "B"));
        assert!(reason.contains("white space"), "{reason}");
        let reason = error(&ads_line("192.0.2.7/24", "A", "B"));
        assert!(reason.contains("did you mean 192.0.2.0/24"), "{reason}");
        let reason = error(&ads_line("bad\u{1b}[31mred", "A", "B"));
        assert!(reason.contains("'bad\\u{1b}[31mred'"), "{reason}");
    }

    #[test]
    fn networks_are_accepted_as_sources() {
        let e = event(&ads_line("198.51.100.0/24", "A", "B"));
        assert_eq!(e.source.to_string(), "198.51.100.0/24");
    }

    #[test]
    fn huge_bad_values_are_truncated_in_reasons() {
        let huge = "a".repeat(1_000_000);
        let reason = error(&ads_line(&huge, "A", "B"));
        assert!(
            reason.contains(&format!("'{}…'", "a".repeat(80))),
            "{reason}"
        );
        assert!(reason.chars().count() < 200, "{reason}");
        assert!(reason.ends_with("too long for an IP address (1000000 characters)"));
        let reason = error(&ads_line(&"x".repeat(90), "A", "B"));
        assert!(
            reason.contains(&format!("'{}…'", "x".repeat(80))),
            "{reason}"
        );
        assert!(reason.ends_with("host names are not resolved)"), "{reason}");
        let reason = error(&format!(
            "{{\"timestamp\":1,\"source\":\"{}\"}}",
            "7".repeat(5000)
        ));
        assert!(reason.chars().count() < 200, "{reason}");
    }

    #[test]
    fn ipv6_is_normalised() {
        for (given, canonical) in [
            ("2001:DB8:0:0:0:0:0:AB", "2001:db8::ab"),
            ("2001:0DB8::0001", "2001:db8::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            (
                "2001:DB8:ABCD:0012:0000:0000:0000:0001",
                "2001:db8:abcd:12::1",
            ),
        ] {
            assert_eq!(
                event(&ads_line(given, "A", "B")).source.to_string(),
                canonical
            );
            assert_eq!(
                event(&ids_line(given, "A", "B")).source.to_string(),
                canonical
            );
            let json = format!("{{\"srcIp\":\"{given}\"}}");
            assert_eq!(event(&json).source.to_string(), canonical);
        }
    }

    // ----- text that is not text -------------------------------------------

    #[test]
    fn nul_bytes_and_invalid_utf8_are_reported() {
        let mut line = ads_line("203.0.113.7", "A", "B").into_bytes();
        line[3] = 0;
        let err = parse_line(&line, 4, InputFormat::Auto).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 4: contains NUL bytes (first at byte 4)"
        );

        let mut line = ads_line("203.0.113.7", "A", "B").into_bytes();
        line[40] = 0xff;
        let err = parse_line(&line, 5, InputFormat::Auto).unwrap_err();
        assert_eq!(
            err.reason,
            "not valid UTF-8 text (first bad byte at byte 41)"
        );

        let err = parse_line(b"\xff\xfe\0garbage\0\tbytes\xc3", 8, InputFormat::Auto).unwrap_err();
        assert!(err.reason.contains("UTF-8") && err.reason.contains("NUL"));
        // Text that looks fine but encodes a NUL in JSON is still just text.
        let e = event("{\"srcIp\":\"203.0.113.9\",\"signatureName\":\"a\\u0000b\\u001b\"}");
        assert_eq!(e.description.as_deref(), Some("a b"));
        let err = error("{\"srcIp\":\"203.0.113.9\\u0000\"}");
        assert!(err.contains("\\0"), "{err}");
    }

    #[test]
    fn text_fields_are_cleaned_and_capped() {
        let long = "D".repeat(10_000);
        let e = event(&ads_line("203.0.113.7", "SSH\u{7}DICT", &long));
        assert_eq!(e.method.as_deref(), Some("SSH DICT"));
        let description = e.description.unwrap();
        assert_eq!(description.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(description.ends_with('…'));
        let e = event(&ads_line(
            "203.0.113.7",
            "SCANS",
            "a\u{202e}b\u{2066}c\u{2069}",
        ));
        assert_eq!(e.description.as_deref(), Some("abc"));
    }

    // ----- JSON ------------------------------------------------------------

    #[test]
    fn json_numbers_and_strings() {
        let e = event(
            r#"{"id": 640001, "timestamp": 5, "type": "SCANS", "severity": 2, "source": "203.0.113.60"}"#,
        );
        assert_eq!(e.kind, EventKind::Ads);
        assert_eq!(e.event_id.as_deref(), Some("640001"));
        assert_eq!(e.severity.as_deref(), Some("2"));
        assert_eq!(e.description, None);
        assert_eq!(e.reason(), "SCANS");
        let e = event(
            r#"{"id": "88100", "srcIp": "203.0.113.62", "category": "Leak", "severity": "3"}"#,
        );
        assert_eq!(e.kind, EventKind::Ids);
        assert_eq!(e.event_id.as_deref(), Some("88100"));
        assert_eq!(e.reason(), "IDS: Leak");
        let e = event(r#"  {"srcIp": "203.0.113.62", "id": 1.5e3, "extra": [1, {"x": null}]}  "#);
        assert_eq!(e.event_id.as_deref(), Some("1500.0"));
    }

    #[test]
    fn json_wrong_types() {
        for bad in ["1", "[\"203.0.113.1\"]", "{\"ip\":\"203.0.113.1\"}", "true"] {
            let reason = error(&format!("{{\"timestamp\":\"t\",\"source\":{bad}}}"));
            assert!(reason.starts_with("source has the wrong type"), "{reason}");
        }
        let reason = error("{\"srcIp\": 3405803777}");
        assert!(reason.starts_with("source has the wrong type"), "{reason}");
        assert!(error("{\"timestamp\":\"t\",\"source\":null}").starts_with("no source address"));
        assert!(error("{\"timestamp\":\"t\",\"source\":\"\"}").starts_with("no source address"));
        assert!(error("{\"timestamp\":\"t\",\"srcIp\":\"203.0.113.1\"}").contains("\"source\""));
        assert!(error("{}").starts_with("no source address"));
        // Wrong types in optional fields are treated as absent.
        let e = event(
            r#"{"timestamp":"t","source":"203.0.113.1","id":{"a":1},"type":["SCANS"],"typeDesc":true,"severity":null}"#,
        );
        assert_eq!(
            (e.event_id, e.method, e.description, e.severity),
            (None, None, None, None)
        );
        let e = event(r#"{"srcIp":"203.0.113.1","signatureName":false,"category":"Cat"}"#);
        assert_eq!(e.description.as_deref(), Some("Cat"));
    }

    #[test]
    fn json_that_is_not_an_object() {
        assert!(error("[\"not\", \"an\", \"object\"]").starts_with("JSON value is not an object"));
        assert!(error("[]").contains("an array"));
        for text in ["42", "\"x\"", "null", "true"] {
            let err = parse_line(text.as_bytes(), 1, InputFormat::Json).unwrap_err();
            assert!(
                err.reason.starts_with("JSON value is not an object"),
                "{err}"
            );
            // In auto mode these are not JSON-looking, so they are short TSV lines.
            assert!(error(text).starts_with("too few fields"));
        }
    }

    #[test]
    fn invalid_json() {
        let reason = error("{\"id\": 700009, \"timestamp\": \"x\", \"source\": ");
        assert!(
            reason.starts_with("invalid JSON: EOF while parsing"),
            "{reason}"
        );
        assert!(!reason.contains("line 1"), "{reason}");
        assert!(error("{\"a\":1} trailing").contains("trailing characters"));
        assert!(error("{\"a\":1}{\"b\":2}").starts_with("invalid JSON"));
        assert!(error("{'single': 'quotes'}").starts_with("invalid JSON"));
        assert!(error("{\"srcIp\":\"\\ud800\"}").starts_with("invalid JSON"));
        let err = parse_line(b"not json", 1, InputFormat::Json).unwrap_err();
        assert!(err.reason.starts_with("invalid JSON"));
    }

    #[test]
    fn deep_json_nesting_is_an_error_not_a_crash() {
        for opener in ["[", "{\"a\":", "{\"timestamp\":1,\"x\":["] {
            let deep = opener.repeat(100_000);
            let reason = error(&deep);
            assert!(reason.starts_with("invalid JSON"), "{reason}");
            assert!(reason.contains("recursion limit"), "{reason}");
        }
        // Nesting within the limit is fine when it is in an ignored key.
        let nested = format!(
            "{{\"srcIp\":\"203.0.113.4\",\"x\":{}{}}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert_eq!(event(&nested).source.to_string(), "203.0.113.4");
    }

    #[test]
    fn forced_formats() {
        let json = r#"{"srcIp":"203.0.113.1"}"#;
        let tsv = ads_line("203.0.113.7", "A", "B");
        assert!(parse_line(json.as_bytes(), 1, InputFormat::Tsv)
            .unwrap_err()
            .reason
            .starts_with("too few fields"));
        assert!(parse_line(tsv.as_bytes(), 1, InputFormat::Json)
            .unwrap_err()
            .reason
            .starts_with("invalid JSON"));
        assert!(parse_line(tsv.as_bytes(), 1, InputFormat::Tsv)
            .unwrap()
            .is_some());
        assert!(parse_line(json.as_bytes(), 1, InputFormat::Json)
            .unwrap()
            .is_some());
        assert_eq!(InputFormat::default(), InputFormat::Auto);
    }

    // ----- sizes -----------------------------------------------------------

    #[test]
    fn ten_thousand_fields() {
        let base = ads_line("203.0.113.7", "SCANS", "Port scanning");
        let line = format!("{base}{}", "\tx".repeat(10_000 - 16));
        assert_eq!(line.split('\t').count(), 10_000);
        let e = event(&line);
        assert_eq!(
            (e.kind, e.source.to_string()),
            (EventKind::Ads, "203.0.113.7".into())
        );
        let mut fields = vec!["x"; 10_000];
        fields[12] = " ";
        assert_eq!(error(&fields.join("\t")), "no source address");
        // Only spaces and tabs: a blank line, however many fields.
        assert_eq!(one(&vec![" "; 10_000].join("\t")), Ok(None));
    }

    #[test]
    fn one_megabyte_line() {
        let detail = "x".repeat(1 << 20);
        let mut fields: Vec<String> = ads_line("203.0.113.7", "SCANS", "Port scanning")
            .split('\t')
            .map(str::to_string)
            .collect();
        fields[9] = detail;
        let e = event(&fields.join("\t"));
        assert_eq!(e.source.to_string(), "203.0.113.7");
        let reason = error(&"A".repeat(1 << 20));
        assert!(reason.starts_with("too few fields (1;"));
    }

    #[test]
    fn linear_time_on_huge_lines() {
        let a_line = "A".repeat(4_000_000);
        let many_fields = vec!["x"; 100_000].join("\t");
        let huge_source = ids_line(&"1".repeat(4_000_000), "s", "c");
        let huge_json = format!(
            "{{\"timestamp\":1,\"source\":\"{}\"}}",
            "A".repeat(4_000_000)
        );
        let mut stream_input = a_line.clone().into_bytes();
        stream_input.push(b'\n');
        stream_input.extend_from_slice(many_fields.as_bytes());
        for line in [&a_line, &many_fields, &huge_source, &huge_json] {
            assert_fast(|| {
                let _ = parse_line(line.as_bytes(), 1, InputFormat::Auto);
            });
        }
        assert_fast(|| {
            let (events, errors) = run(&stream_input, InputFormat::Auto);
            assert_eq!((events.len(), errors.len()), (0, 2));
        });
    }

    /// Passes when one of three runs of `work` takes under a second, so a
    /// busy machine does not fail the test but quadratic work still does.
    fn assert_fast(mut work: impl FnMut()) {
        let mut best = std::time::Duration::MAX;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            work();
            best = best.min(start.elapsed());
            if best < std::time::Duration::from_secs(1) {
                return;
            }
        }
        panic!("took {best:?}, expected under 1 s");
    }

    // ----- streaming -------------------------------------------------------

    #[test]
    fn overlong_lines_are_skipped_and_reported() {
        let mut input = vec![b'A'; MAX_LINE_BYTES + 5];
        input.push(b'\n');
        input.extend_from_slice(ads_line("203.0.113.7", "A", "B").as_bytes());
        input.push(b'\n');
        input.extend_from_slice(&vec![b'\t'; MAX_LINE_BYTES + 1]);
        let (events, errors) = run(&input, InputFormat::Auto);
        assert_eq!(
            errors,
            [
                LineError::new(1, format!("line too long ({} bytes)", MAX_LINE_BYTES + 5)),
                LineError::new(3, format!("line too long ({} bytes)", MAX_LINE_BYTES + 1)),
            ]
        );
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].line, 2);
        // The limit itself is accepted.
        let (events, errors) = run(&vec![b'A'; MAX_LINE_BYTES], InputFormat::Auto);
        assert!(events.is_empty());
        assert!(errors[0].reason.starts_with("too few fields"));
        let err = parse_line(&vec![b' '; MAX_LINE_BYTES + 1], 9, InputFormat::Auto).unwrap_err();
        assert!(err.reason.starts_with("line too long"));
    }

    #[test]
    fn overlong_lines_are_not_buffered() {
        let mut buffer = LineBuffer::default();
        for _ in 0..100 {
            buffer.push(&[b'x'; 100_000]);
        }
        assert!(buffer.bytes.is_empty());
        assert_eq!(buffer.too_long, Some(10_000_000));
        assert!(buffer.finish(1, InputFormat::Auto).is_err());
        assert!(buffer.is_empty());
    }

    #[test]
    fn small_reads_give_the_same_result() {
        let mut input = Vec::new();
        for name in [
            "ads-events.tsv",
            "ids-events.tsv",
            "ads-events.jsonl",
            "mixed-malformed.tsv",
            "ads-events.cef",
        ] {
            input.extend_from_slice(&fixture(name));
        }
        let whole = run(&input, InputFormat::Auto);
        for capacity in [1, 2, 7, 4096] {
            let mut events = Vec::new();
            let mut errors = Vec::new();
            let reader = io::BufReader::with_capacity(capacity, input.as_slice());
            parse_stream(
                reader,
                InputFormat::Auto,
                |e| events.push(e),
                |e| errors.push(e),
            )
            .unwrap();
            assert_eq!((events, errors), whole, "capacity {capacity}");
        }
    }

    #[test]
    fn last_line_without_newline_is_parsed() {
        let input = format!(
            "{}\n{}",
            ads_line("192.0.2.1", "A", "B"),
            ads_line("192.0.2.2", "A", "B")
        );
        let (events, _) = run(input.as_bytes(), InputFormat::Auto);
        assert_eq!(sources(&events), ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(run(b"", InputFormat::Auto), (vec![], vec![]));
        assert_eq!(run(b"\n\n\n", InputFormat::Auto), (vec![], vec![]));
    }

    /// A reader that is interrupted once, hands out one line, then fails.
    struct FlakyReader {
        step: usize,
        data: &'static [u8],
    }

    impl io::Read for FlakyReader {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.step += 1;
            match self.step {
                1 => Err(io::ErrorKind::Interrupted.into()),
                2 => {
                    let n = self.data.len().min(out.len());
                    out[..n].copy_from_slice(&self.data[..n]);
                    Ok(n)
                }
                _ => Err(io::Error::other("disk on fire")),
            }
        }
    }

    #[test]
    fn reader_errors_are_returned_and_interrupts_retried() {
        let reader = io::BufReader::new(FlakyReader {
            step: 0,
            data: b"{\"srcIp\":\"203.0.113.1\"}\n",
        });
        let mut events = Vec::new();
        let result = parse_stream(reader, InputFormat::Auto, |e| events.push(e), |_| {});
        assert_eq!(result.unwrap_err().to_string(), "disk on fire");
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn line_error_display() {
        let err = LineError::new(12, "no source address");
        assert_eq!(err.to_string(), "line 12: no source address");
    }

    // ----- hostile input ---------------------------------------------------

    /// xorshift64*: small, deterministic, good enough to shake the parser.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    const FIELD_POOL: &[&str] = &[
        "",
        " ",
        "  ",
        "203.0.113.7",
        "2001:DB8::1",
        "999.1.2.3",
        "host.example",
        "203.0.113.9:80",
        "192.0.2.0/24",
        "192.0.2.1/24",
        "532028",
        "SSHDICT",
        "Critical",
        "{",
        "[",
        "\r",
        "\u{1b}[2J",
        "é",
        "🦀",
        "a, b",
    ];

    const JSON_POOL: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        " ",
        "\"timestamp\"",
        "\"source\"",
        "\"srcIp\"",
        "\"id\"",
        "\"severity\"",
        "\"203.0.113.5\"",
        "\"2001:db8::5\"",
        "\"x\"",
        "1",
        "-0",
        "1e999",
        "null",
        "true",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"",
        "\\",
    ];

    const CEF_POOL: &[&str] = &[
        "CEF:",
        "0",
        "|",
        "\\",
        "\\|",
        "\\=",
        "\\n",
        "=",
        " ",
        "src",
        "c6a2",
        "c6a2Label",
        "srcIPv6",
        "cn1",
        "cn1Label",
        "EventID",
        "203.0.113.5",
        "2001:db8::5",
        "SSHDICT",
        "10",
        "msg",
        "\t",
    ];

    fn random_line(rng: &mut Rng, samples: &[Vec<u8>]) -> Vec<u8> {
        match rng.below(5) {
            0 => (0..rng.below(200)).map(|_| rng.next_u64() as u8).collect(),
            3 => {
                let count = rng.below(60);
                let tokens: Vec<&str> = (0..count).map(|_| *rng.pick(CEF_POOL)).collect();
                tokens.concat().into_bytes()
            }
            1 => {
                let count = rng.below(40);
                let fields: Vec<&str> = (0..count).map(|_| *rng.pick(FIELD_POOL)).collect();
                fields.join("\t").into_bytes()
            }
            2 => {
                let count = rng.below(60);
                let tokens: Vec<&str> = (0..count).map(|_| *rng.pick(JSON_POOL)).collect();
                tokens.concat().into_bytes()
            }
            _ => {
                let mut line = rng.pick(samples).clone();
                for _ in 0..=rng.below(6) {
                    mutate(rng, &mut line);
                }
                line
            }
        }
    }

    fn mutate(rng: &mut Rng, line: &mut Vec<u8>) {
        const INSERTS: &[u8] = b"\t\0\xff\xc3{[\" :,\r";
        if line.is_empty() {
            line.push(*rng.pick(INSERTS));
            return;
        }
        let at = rng.below(line.len());
        match rng.below(4) {
            0 => line[at] = rng.next_u64() as u8,
            1 => {
                line.remove(at);
            }
            2 => line.insert(at, *rng.pick(INSERTS)),
            _ => line.truncate(at),
        }
    }

    fn is_blank(line: &[u8]) -> bool {
        std::str::from_utf8(line).is_ok_and(|text| text.trim().is_empty())
    }

    #[test]
    fn hostile_lines_never_panic_and_are_all_accounted_for() {
        let samples: Vec<Vec<u8>> = [
            "ads-events.tsv",
            "ids-events.tsv",
            "ads-events.jsonl",
            "ads-events.cef",
        ]
        .iter()
        .flat_map(|name| {
            fixture(name)
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut input = Vec::new();
        for _ in 0..4000 {
            let line = random_line(&mut rng, &samples);
            for format in [
                InputFormat::Auto,
                InputFormat::Tsv,
                InputFormat::Json,
                InputFormat::Cef,
            ] {
                let _ = parse_line(&line, 1, format);
            }
            input.extend_from_slice(&line);
            input.push(b'\n');
        }
        // Line ends as the reader sees them: `\n`, `\r\n`, or a bare `\r`.
        let mut ends = Vec::with_capacity(input.len());
        let mut bytes = input.iter().peekable();
        while let Some(&byte) = bytes.next() {
            if byte == b'\r' {
                if bytes.peek() == Some(&&b'\n') {
                    bytes.next();
                }
                ends.push(b'\n');
            } else {
                ends.push(byte);
            }
        }
        let lines: Vec<&[u8]> = ends.split(|&b| b == b'\n').collect();
        let lines = &lines[..lines.len() - 1]; // after the final newline
        let non_blank = lines.iter().filter(|l| !is_blank(l)).count();

        let mut good = Vec::new();
        let mut bad = Vec::new();
        parse_stream(
            input.as_slice(),
            InputFormat::Auto,
            |e| good.push(e.line),
            |e| bad.push(e.line),
        )
        .unwrap();
        assert_eq!(good.len() + bad.len(), non_blank);
        assert!(!good.is_empty() && !bad.is_empty(), "{good:?} {bad:?}");
        let mut outcomes: Vec<(usize, bool)> = good
            .iter()
            .map(|&line| (line, true))
            .chain(bad.iter().map(|&line| (line, false)))
            .collect();
        outcomes.sort_unstable();
        assert!(
            good.is_sorted() && bad.is_sorted(),
            "reported in input order"
        );
        // The stream agrees with parsing each line on its own, in order.
        let expected: Vec<(usize, bool)> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match parse_line(l, i + 1, InputFormat::Auto) {
                Ok(None) => None,
                Ok(Some(_)) => Some((i + 1, true)),
                Err(_) => Some((i + 1, false)),
            })
            .collect();
        assert_eq!(outcomes, expected);
    }
}
