//! `lmguard list`: the operator's view of the recorded blocks.

use std::io::{IsTerminal, Write};

use comfy_table::presets::NOTHING;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table};
use serde::Serialize;

use crate::cli::ListArgs;
use crate::domain::address::Address;
use crate::domain::duration::format_expires_in;
use crate::domain::entry::{Entry, Scope, Status};
use crate::domain::event::printable;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;

use super::Context;
use crate::clock::{rfc3339, short_time};

/// One row of `list --json` (the keys `interface.md` requires, and more).
#[derive(Serialize)]
struct Row<'a> {
    address: String,
    vs: Option<u32>,
    loadmaster: &'a str,
    status: &'a str,
    blocked_at: String,
    expires_at: Option<String>,
    reason: &'a str,
    event_id: Option<&'a str>,
    times_blocked: u32,
    last_error: Option<&'a str>,
    /// Recorded by `[block] mode = "simulate"`; never on the LoadMaster.
    simulated: bool,
}

impl<'a> From<&'a Entry> for Row<'a> {
    fn from(e: &'a Entry) -> Self {
        Row {
            address: e.address.to_string(),
            vs: e.scope.vs(),
            loadmaster: e.loadmaster.as_str(),
            status: e.status.as_str(),
            blocked_at: rfc3339(e.blocked_at),
            expires_at: e.expires_at.map(rfc3339),
            reason: &e.reason,
            event_id: e.event_id.as_deref(),
            times_blocked: e.times_blocked,
            last_error: e.last_error.as_deref(),
            simulated: e.is_simulated(),
        }
    }
}

/// The rows of `list --json`, each made as it is written: 100 000 of them
/// never stand in memory at once beside the entries they show.
struct Rows<'a>(&'a [Entry]);

impl Serialize for Rows<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Row::from))
    }
}

pub(crate) fn run(ctx: &Context, args: &ListArgs) -> Result<ExitStatus> {
    let filter_address = args
        .address
        .as_deref()
        .map(str::parse::<Address>)
        .transpose()
        .map_err(|e| Error::usage(format!("--address: {e}")))?;
    let mut entries = match ctx.open_existing_store()? {
        Some(store) => store.all()?,
        None => Vec::new(),
    };
    // What the list would show without filters, then what the filters keep
    // (--method, --since and --reason are the filters bulk unblock shares;
    // --vs and --address as before).
    // The selected LoadMasters' entries; without --loadmaster, also those
    // of one no longer configured (nothing recorded is hidden).
    let everything = ctx.selected.len() == ctx.config.loadmasters.len();
    entries.retain(|e| {
        (ctx.is_selected(e.loadmaster)
            || (everything && ctx.config.loadmaster(e.loadmaster).is_none()))
            && (args.all || args.status.is_some() || e.status.is_current())
    });
    // What a plain `list` (with the same --all) shows: --status may select
    // history, which a plain `list` leaves out and the message names apart.
    let unfiltered = entries
        .iter()
        .filter(|e| args.all || e.status.is_current())
        .count();
    let history = entries.len() - unfiltered;
    let filter = args.filter.filter(None);
    entries.retain(|e| {
        filter.matches(e, ctx.now)
            && args.status.is_none_or(|s| s.matches(e.status))
            && args.vs.is_none_or(|vs| e.scope == Scope::Vs(vs))
            && filter_address.is_none_or(|a| overlaps(a, e.address))
    });
    // By expiry, permanent last; then by address for a stable order.
    entries.sort_by_key(|e| {
        (
            e.expires_at.is_none(),
            e.expires_at,
            e.scope,
            e.address,
            e.loadmaster,
        )
    });
    // A LOADMASTER column when several are configured (or recorded).
    let several = ctx.several()
        || entries
            .windows(2)
            .any(|w| w[0].loadmaster != w[1].loadmaster);

    // Buffered: the locked stdout alone flushes at every newline.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &Rows(&entries))
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else if entries.is_empty() && unfiltered + history > 0 {
        let more = if history > 0 {
            format!("; {history} more in history: lmguard list --all")
        } else {
            String::new()
        };
        writeln!(
            out,
            "no blocks match the filters ({unfiltered} without them{more})"
        )
    } else if entries.is_empty() {
        writeln!(
            out,
            "no {}blocks recorded",
            if args.all || args.status.is_some() {
                ""
            } else {
                "active or pending "
            }
        )
    } else {
        // Off a terminal (a pipe, a file, cron) nothing is cut to fit.
        let width = std::io::stdout()
            .is_terminal()
            .then(|| Table::new().width().map_or(80, usize::from));
        let layout = Layout {
            several,
            colour: colour_wanted(),
            width,
        };
        write_table(&mut out, &entries, ctx.now, &layout)
            .and_then(|()| writeln!(out, "\n{}", footer(&entries, ctx.now)))
    }
    .and_then(|()| out.flush());
    super::stdout_written(written)?;
    Ok(ExitStatus::Success)
}

/// Colour only for a person: standard output is a terminal, `NO_COLOR` is
/// unset or empty (no-color.org) and the terminal is not `dumb`.
pub(crate) fn colour_wanted() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Blocks that end within this many seconds are counted (and on a terminal
/// shown) as expiring soon.
const SOON: i64 = 24 * 3600;

fn expires_soon(e: &Entry, now: i64) -> bool {
    matches!(e.status, Status::Active | Status::PendingBlock)
        && e.expires_at.is_some_and(|t| t - now <= SOON)
}

/// The line under the table: what the rows shown add up to.
fn footer(entries: &[Entry], now: i64) -> String {
    let (mut active, mut pending, mut history, mut soon, mut simulated) = (0, 0, 0, 0, 0);
    for e in entries {
        simulated += usize::from(e.is_simulated());
        match e.status {
            Status::Active => active += 1,
            Status::PendingBlock | Status::PendingUnblock => pending += 1,
            Status::Expired | Status::Unblocked | Status::Rejected => history += 1,
        }
        soon += usize::from(expires_soon(e, now));
    }
    // Short enough for 80 columns even with six-digit counts.
    let mut text = format!("{active} active, {pending} pending, {soon} expiring within 24 h");
    if history > 0 {
        text.push_str(&format!(", {history} history"));
    }
    if simulated > 0 {
        text.push_str(&format!(" ({simulated} simulated)"));
    }
    text
}

fn overlaps(a: Address, b: Address) -> bool {
    let (a, b) = (a.network(), b.network());
    a.contains(&b) || b.contains(&a)
}

/// Rows per comfy-table chunk.
const CHUNK_ROWS: usize = 2_000;

/// How the table is laid out.
struct Layout {
    /// A LOADMASTER column, after the address.
    several: bool,
    /// Colour the status (and a soon expiry).
    colour: bool,
    /// A terminal's width: the reason is cut to what is left.
    width: Option<usize>,
}

impl Layout {
    /// The column of the status (the expiry is two further on).
    fn status_column(&self) -> usize {
        2 + usize::from(self.several)
    }
}

/// Pad every cell but the last (the reason) to its column's width.
fn pad(mut row: Vec<String>, widths: &[usize]) -> Vec<String> {
    for (cell, width) in row.iter_mut().zip(widths) {
        let len = cell.chars().count();
        cell.extend(std::iter::repeat_n(' ', width.saturating_sub(len)));
    }
    row
}

/// The cells of an entry's row.
fn cells(e: &Entry, now: i64, layout: &Layout) -> Vec<String> {
    let times = if e.times_blocked > 1 {
        format!(" ×{}", e.times_blocked)
    } else {
        String::new()
    };
    let mut row = vec![e.address.to_string()];
    if layout.several {
        row.push(e.loadmaster.to_string());
    }
    row.extend([
        e.scope.to_string(),
        format!(
            "{}{}{times}",
            e.status,
            if e.is_simulated() { " (simulated)" } else { "" }
        ),
        short_time(e.blocked_at)[5..].to_string(),
        if e.status.is_current() {
            format_expires_in(e.expires_at, now)
        } else {
            "-".to_string()
        },
        match (e.status, &e.last_error) {
            (Status::Rejected, Some(why)) => {
                format!("{why} — {}", printable(&e.reason))
            }
            _ => printable(&e.reason),
        },
    ]);
    row
}

/// Every column but the reason is sized to its content. With a `width` (a
/// terminal's), the reason is cut to what is left; without, it is whole.
/// With `colour`, the status (and a soon expiry) is coloured.
fn write_table(
    out: &mut dyn Write,
    entries: &[Entry],
    now: i64,
    layout: &Layout,
) -> std::io::Result<()> {
    const GAP: usize = 2;
    let colour = layout.colour;
    let mut header = vec!["ADDRESS"];
    if layout.several {
        header.push("LOADMASTER");
    }
    header.extend(["SCOPE", "STATUS", "BLOCKED UTC", "EXPIRES IN", "REASON"]);
    let reason = header.len() - 1;
    // Two passes: the widths first, then the rows chunk by chunk, so that
    // the cells of a 100 000-row list are never all held at once.
    let mut widths: Vec<usize> = header[..reason].iter().map(|h| h.len()).collect();
    for e in entries {
        for (w, cell) in widths.iter_mut().zip(cells(e, now, layout)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let fixed: usize = widths.iter().map(|w| w + GAP).sum();
    let reason_width = layout
        .width
        .map_or(usize::MAX, |w| w.saturating_sub(fixed).max(12));
    // Rendered in chunks so that a 100 000-row list never holds every cell
    // in comfy-table at once; cells are padded to their column's width, so
    // every chunk lays its columns out the same.
    let mut rows = entries
        .iter()
        .map(|e| (cells(e, now, layout), e))
        .peekable();
    let mut first = true;
    while rows.peek().is_some() || first {
        let mut table = Table::new();
        table
            .load_style(NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled);
        if colour {
            table.enforce_styling().style_text_only();
        }
        if first {
            let padded = pad(header.iter().map(|h| h.to_string()).collect(), &widths);
            if colour {
                table.set_header(
                    padded
                        .into_iter()
                        .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
                );
            } else {
                table.set_header(padded);
            }
            first = false;
        }
        for (mut row, e) in rows.by_ref().take(CHUNK_ROWS) {
            row[reason] = truncate(&row[reason], reason_width);
            let row = pad(row, &widths);
            if colour {
                table.add_row(styled(row, e, now, layout.status_column()));
            } else {
                table.add_row(row);
            }
        }
        for c in table.column_iter_mut() {
            c.set_padding((0, GAP as u16));
        }
        for line in table.lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    Ok(())
}

/// A row's cells with the status (in column `status`) coloured: active
/// green, pending yellow, history dim; an expiry within 24 h yellow.
fn styled(row: Vec<String>, e: &Entry, now: i64, status: usize) -> Vec<Cell> {
    let soon = expires_soon(e, now);
    row.into_iter()
        .enumerate()
        .map(|(i, text)| {
            let cell = Cell::new(text);
            let is_status = i == status;
            match e.status {
                Status::Active if is_status => cell.fg(Color::DarkGreen),
                Status::PendingBlock | Status::PendingUnblock if is_status => {
                    cell.fg(Color::DarkYellow)
                }
                Status::Rejected if is_status => cell.fg(Color::DarkRed),
                Status::Expired | Status::Unblocked => cell.add_attribute(Attribute::Dim),
                _ if i == status + 2 && soon => cell.fg(Color::DarkYellow),
                _ => cell,
            }
        })
        .collect()
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}
