//! `lmguard stats`: a summary of the local state, as a table for a person,
//! one JSON object, or the Prometheus text exposition format. Reads local
//! state only (read-only; no LoadMaster call).

use std::io::{IsTerminal, Write};

use serde_json::{json, Value};

use crate::cli::StatsArgs;
use crate::domain::duration::format_span;
use crate::domain::entry::{Entry, Scope};
use crate::domain::health::Health;
use crate::domain::loadmaster_name::LoadMasterName;
use crate::domain::stats::{bounded_methods, method_labels, Stats, STATUSES};
use crate::error::Result;
use crate::exit::ExitStatus;

use super::Context;
use crate::clock::{rfc3339, short_time};

/// Everything `stats` shows.
struct Report {
    /// Over every LoadMaster.
    stats: Stats,
    /// Per LoadMaster (the configured ones, then any other the state
    /// holds entries of), for the `loadmaster` label and the breakdown.
    per_loadmaster: Vec<(String, Stats)>,
    /// What was heard from each LoadMaster; the configured one is always
    /// listed, heard from or not.
    loadmasters: Vec<(String, Health)>,
    now: i64,
}

pub(crate) fn run(ctx: &Context, args: &StatsArgs) -> Result<ExitStatus> {
    let (entries, since, mut loadmasters): (Vec<Entry>, _, _) = match ctx.open_existing_store()? {
        Some(store) => (store.all()?, store.pending_since()?, store.health()?),
        None => (Vec::new(), Default::default(), Vec::new()),
    };
    let mut names: Vec<LoadMasterName> = ctx.config.loadmasters.iter().map(|l| l.name).collect();
    for e in &entries {
        if !names.contains(&e.loadmaster) {
            names.push(e.loadmaster);
        }
    }
    for name in &names {
        if !loadmasters.iter().any(|(n, _)| n == name.as_str()) {
            loadmasters.push((name.to_string(), Health::default()));
        }
    }
    let pending_since = |e: &Entry| since.get(&e.key()).copied();
    let stats = Stats::compute(&entries, &pending_since, ctx.now);
    let per_loadmaster = match names.as_slice() {
        // One LoadMaster: its figures are the whole state's.
        [only] => vec![(only.to_string(), stats.clone())],
        _ => names
            .iter()
            .map(|name| {
                let mine = entries.iter().filter(|e| e.loadmaster == *name);
                (
                    name.to_string(),
                    Stats::compute(mine, &pending_since, ctx.now),
                )
            })
            .collect(),
    };
    let report = Report {
        stats,
        per_loadmaster,
        loadmasters,
        now: ctx.now,
    };
    drop(entries);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &report.json())
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else if args.prometheus {
        out.write_all(report.prometheus().as_bytes())
    } else {
        out.write_all(report.text(std::io::stdout().is_terminal()).as_bytes())
    }
    .and_then(|()| out.flush());
    super::stdout_written(written)?;
    Ok(ExitStatus::Success)
}

fn scope_text(scope: Scope) -> String {
    match scope {
        Scope::Global => "global".into(),
        Scope::Vs(n) => format!("vs {n}"),
    }
}

/// Text as a person may see it: control characters become spaces,
/// bidirectional controls are dropped (records written before they were
/// stripped on input may hold them).
fn printable(s: &str) -> String {
    crate::domain::event::printable(s)
}

fn opt_time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| json!(rfc3339(t)))
}

impl Report {
    fn json(&self) -> Value {
        let s = &self.stats;
        let mut entries = serde_json::Map::new();
        entries.insert("total".into(), json!(s.total()));
        for status in STATUSES {
            entries.insert(status.as_str().into(), json!(s.count(status)));
        }
        entries.insert("simulated".into(), json!(s.simulated));
        let by_loadmaster: serde_json::Map<String, Value> = self
            .per_loadmaster
            .iter()
            .map(|(name, s)| {
                let mut counts = serde_json::Map::new();
                counts.insert("total".into(), json!(s.total()));
                for status in STATUSES {
                    counts.insert(status.as_str().into(), json!(s.count(status)));
                }
                counts.insert("simulated".into(), json!(s.simulated));
                (name.clone(), Value::Object(counts))
            })
            .collect();
        json!({
            "entries_by_loadmaster": by_loadmaster,
            "generated_at": rfc3339(self.now),
            "entries": entries,
            "blocks_by_method": s.by_method.iter().map(|(m, n)| (m.clone(), json!(n)))
                .collect::<serde_json::Map<_, _>>(),
            "blocks_by_priority": s.by_priority.iter().map(|(p, n)| (p.to_string(), json!(n)))
                .collect::<serde_json::Map<_, _>>(),
            "blocks_per_day": s.per_day.iter().map(|(day, n)| json!({
                "date": &rfc3339(*day)[..10],
                "blocks": n,
            })).collect::<Vec<_>>(),
            "repeat_offenders": s.offenders.iter().map(|o| json!({
                "address": o.address,
                "vs": o.scope.vs(),
                "times_blocked": o.times_blocked,
                "status": o.status.as_str(),
                "blocked_at": rfc3339(o.blocked_at),
                "reason": o.reason,
            })).collect::<Vec<_>>(),
            "oldest_pending": s.oldest_pending.as_ref().map(|p| json!({
                "address": p.address,
                "vs": p.scope.vs(),
                "status": p.status.as_str(),
                "since": rfc3339(p.since),
                "age_seconds": (self.now - p.since).max(0),
                "last_error": p.last_error,
            })),
            "loadmasters": self.loadmasters.iter().map(|(name, h)| json!({
                "name": name,
                "last_answer": opt_time(h.last_answer),
                "last_failure": opt_time(h.last_failure),
                "last_failure_message": h.last_failure_message,
            })).collect::<Vec<_>>(),
        })
    }

    /// The Prometheus text exposition format (version 0.0.4).
    fn prometheus(&self) -> String {
        let mut p = Prometheus::default();
        let each = &self.per_loadmaster;
        p.family(
            "lmguard_entries",
            "gauge",
            "Recorded entries by status (active includes simulated ones).",
        );
        for (lm, s) in each {
            for status in STATUSES {
                p.sample(
                    "lmguard_entries",
                    &[("loadmaster", lm), ("status", status.as_str())],
                    s.count(status),
                );
            }
        }
        p.family(
            "lmguard_simulated_entries",
            "gauge",
            "Active entries recorded in simulate mode (never sent to the LoadMaster).",
        );
        for (lm, s) in each {
            p.sample(
                "lmguard_simulated_entries",
                &[("loadmaster", lm)],
                s.simulated,
            );
        }
        p.family(
            "lmguard_blocks_total",
            "counter",
            "Blocks recorded in the state by the method of the latest one (manual: by hand; \
             other: beyond the known ADS methods and the 20 most frequent others); drops when \
             keep_history deletes records.",
        );
        // A bounded label set, the same for every LoadMaster.
        let labels = method_labels(each.iter().flat_map(|(_, s)| &s.by_method));
        for (lm, s) in each {
            for (method, n) in &bounded_methods(&s.by_method, &labels) {
                p.sample(
                    "lmguard_blocks_total",
                    &[("loadmaster", lm), ("method", method)],
                    *n,
                );
            }
        }
        p.family(
            "lmguard_blocks_by_priority_total",
            "counter",
            "Blocks recorded in the state by the priority of the latest event (none: by hand).",
        );
        for (lm, s) in each {
            for (priority, n) in &s.by_priority {
                p.sample(
                    "lmguard_blocks_by_priority_total",
                    &[("loadmaster", lm), ("priority", priority)],
                    *n,
                );
            }
        }
        p.family(
            "lmguard_repeat_offenders",
            "gauge",
            "Addresses blocked more than once (still in history).",
        );
        for (lm, s) in each {
            let repeat = s.offenders.len() as u64;
            p.sample("lmguard_repeat_offenders", &[("loadmaster", lm)], repeat);
        }
        p.family(
            "lmguard_oldest_pending_age_seconds",
            "gauge",
            "How long the oldest pending entry has waited for the LoadMaster (0: none pending).",
        );
        for (lm, s) in each {
            let age = s
                .oldest_pending
                .as_ref()
                .map_or(0, |o| (self.now - o.since).max(0) as u64);
            p.sample(
                "lmguard_oldest_pending_age_seconds",
                &[("loadmaster", lm)],
                age,
            );
        }
        for (name, help, pick) in [
            (
                "lmguard_loadmaster_last_answer_timestamp_seconds",
                "Unix time of the LoadMaster's last answer (0: none recorded).",
                (|h: &Health| h.last_answer) as fn(&Health) -> Option<i64>,
            ),
            (
                "lmguard_loadmaster_last_failure_timestamp_seconds",
                "Unix time of the last failed LoadMaster call: unreachable, key refused, \
                 server error (0: none recorded).",
                |h: &Health| h.last_failure,
            ),
        ] {
            p.family(name, "gauge", help);
            for (lm_name, h) in &self.loadmasters {
                let t = pick(h).unwrap_or(0).max(0) as u64;
                p.sample(name, &[("loadmaster", lm_name)], t);
            }
        }
        p.text
    }

    fn text(&self, terminal: bool) -> String {
        let s = &self.stats;
        let mut t = String::new();
        let mut line = |l: String| {
            t.push_str(&l);
            t.push('\n');
        };
        line(format!(
            "Entries: {} recorded ({})",
            s.total(),
            short_time(self.now) + " UTC"
        ));
        for status in STATUSES {
            let extra = match status {
                crate::domain::entry::Status::Active if s.simulated > 0 => {
                    format!("  ({} simulated)", s.simulated)
                }
                _ => String::new(),
            };
            line(format!(
                "  {:<16} {:>8}{extra}",
                status.as_str(),
                s.count(status)
            ));
        }
        if self.per_loadmaster.len() > 1 {
            for (lm, s) in &self.per_loadmaster {
                let counts: Vec<String> = STATUSES
                    .iter()
                    .filter(|st| s.count(**st) > 0)
                    .map(|st| format!("{} {}", s.count(*st), st.as_str()))
                    .collect();
                line(format!(
                    "  on {lm}: {}",
                    if counts.is_empty() {
                        "none".to_string()
                    } else {
                        counts.join(", ")
                    }
                ));
            }
        }
        match &s.oldest_pending {
            Some(p) => line(format!(
                "  oldest pending: {} ({}, {}) waiting {}{}",
                p.address,
                scope_text(p.scope),
                p.status,
                format_span((self.now - p.since).max(0) as u64),
                p.last_error
                    .as_deref()
                    .map(|e| format!(" — {}", printable(e)))
                    .unwrap_or_default()
            )),
            None => line("  nothing pending".into()),
        }
        line(String::new());
        line("Blocks by method:".into());
        if s.by_method.is_empty() {
            line("  none".into());
        }
        for (m, n) in &s.by_method {
            line(format!("  {:<16} {n:>8}", printable(m)));
        }
        line(String::new());
        line("Blocks by priority:".into());
        for (p, n) in &s.by_priority {
            line(format!("  {p:<16} {n:>8}"));
        }
        line(String::new());
        line("Blocks started per day, last 4 weeks (UTC):".into());
        let most = s.per_day.iter().map(|d| d.1).max().unwrap_or(0);
        for (day, n) in &s.per_day {
            let date = &rfc3339(*day)[..10];
            if terminal {
                line(format!("  {date} {} {n}", bar(*n, most, 40)));
            } else {
                line(format!("  {date} {n}"));
            }
        }
        line(String::new());
        line("Repeat offenders:".into());
        if s.offenders.is_empty() {
            line("  none".into());
        }
        for o in &s.offenders {
            line(format!(
                "  {:<20} {:<8} ×{:<4} {:<16} last {} — {}",
                o.address,
                scope_text(o.scope),
                o.times_blocked,
                o.status.as_str(),
                short_time(o.blocked_at),
                printable(&o.reason)
            ));
        }
        line(String::new());
        for (name, h) in &self.loadmasters {
            line(format!("LoadMaster ({name}):"));
            let ago = |t: i64| {
                format!(
                    "{} UTC, {} ago",
                    short_time(t),
                    format_span((self.now - t).max(0) as u64)
                )
            };
            line(format!(
                "  last answer   {}",
                h.last_answer.map_or("never recorded".into(), ago)
            ));
            line(format!(
                "  last failure  {}",
                match (h.last_failure, &h.last_failure_message) {
                    (Some(t), Some(m)) => format!("{}: {}", ago(t), printable(m)),
                    (Some(t), None) => ago(t),
                    _ => "none recorded".into(),
                }
            ));
        }
        t
    }
}

/// A bar of `n` out of `most`, at most `width` cells, in eighths.
fn bar(n: u64, most: u64, width: u64) -> String {
    if most == 0 || n == 0 {
        return String::new();
    }
    const PARTS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
    let eighths = (n * width * 8).div_ceil(most).max(1);
    let mut s = "█".repeat((eighths / 8) as usize);
    if !eighths.is_multiple_of(8) {
        s.push(PARTS[(eighths % 8 - 1) as usize]);
    }
    s
}

/// A text exposition being written.
#[derive(Default)]
struct Prometheus {
    text: String,
}

impl Prometheus {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.text.push_str(&format!(
            "# HELP {name} {}\n# TYPE {name} {kind}\n",
            escape_help(help)
        ));
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
            .collect();
        self.text
            .push_str(&format!("{name}{{{}}} {value}\n", labels.join(",")));
    }
}

/// Label values escape `\`, `"` and newlines (exposition format 0.0.4).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text escapes `\` and newlines.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_day() {
        assert_eq!(bar(0, 10, 40), "");
        assert_eq!(bar(10, 10, 40).chars().count(), 40);
        assert_eq!(bar(1, 1000, 40), "▏", "a day with blocks always shows");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
