//! The results: each figure the median of several runs, the rows of
//! the table, and the machine they were measured on.

use std::fmt::Write as _;
use std::time::Duration;

/// Durations of several runs of one thing.
#[derive(Clone, Debug, Default)]
pub struct Stat {
    pub samples: Vec<Duration>,
}

impl Stat {
    pub(crate) fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }
    pub(crate) fn sorted(&self) -> Vec<Duration> {
        let mut s = self.samples.clone();
        s.sort();
        s
    }
    pub fn median(&self) -> Duration {
        let s = self.sorted();
        match s.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => s[n / 2],
            n => (s[n / 2 - 1] + s[n / 2]) / 2,
        }
    }
    pub fn min(&self) -> Duration {
        self.sorted().first().copied().unwrap_or_default()
    }
    pub fn max(&self) -> Duration {
        self.sorted().last().copied().unwrap_or_default()
    }
    pub(crate) fn spread(&self) -> String {
        format!(
            "{}–{} n={}",
            ms(self.min()),
            ms(self.max()),
            self.samples.len()
        )
    }
}

/// One line of the result table.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: String,
    pub what: String,
    /// lmguard's median (or the measured quantity).
    pub value: String,
    /// min–max and n.
    pub spread: String,
    /// Name and median of the floor.
    pub floor: String,
    /// value / floor.
    pub ratio: Option<f64>,
    pub target: String,
    pub met: Option<bool>,
}

impl Row {
    pub(crate) fn info(id: &str, what: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            id: id.into(),
            what: what.into(),
            value: value.into(),
            spread: String::new(),
            floor: String::new(),
            ratio: None,
            target: String::new(),
            met: None,
        }
    }

    pub(crate) fn timed(id: &str, what: impl Into<String>, stat: &Stat) -> Row {
        Row {
            spread: stat.spread(),
            ..Row::info(id, what, ms(stat.median()))
        }
    }

    /// lmguard against a floor, with a target ratio.
    pub(crate) fn against(
        id: &str,
        what: impl Into<String>,
        stat: &Stat,
        floor_name: &str,
        floor: &Stat,
        max_ratio: Option<f64>,
    ) -> Row {
        let ratio = ratio(stat.median(), floor.median());
        Row {
            floor: format!("{floor_name} {} ({})", ms(floor.median()), floor.spread()),
            ratio: Some(ratio),
            target: max_ratio.map_or(String::new(), |r| format!("≤ {r}×")),
            met: max_ratio.map(|r| ratio <= r),
            ..Row::timed(id, what, stat)
        }
    }

    /// An absolute time target.
    pub(crate) fn within(id: &str, what: impl Into<String>, stat: &Stat, limit: Duration) -> Row {
        Row {
            target: format!("< {}", ms(limit)),
            met: Some(stat.median() < limit),
            ..Row::timed(id, what, stat)
        }
    }
}

/// Everything a run of the benchmark found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub machine: Vec<String>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    /// The table (Markdown, also readable as plain text).
    pub fn table(&self) -> String {
        let mut out = String::new();
        for line in &self.machine {
            let _ = writeln!(out, "{line}  ");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| # | measurement | lmguard (median) | lmguard min–max | floor (median, min–max) | ratio | target | met |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.id,
                r.what,
                r.value,
                r.spread,
                r.floor,
                r.ratio.map_or(String::new(), |x| format!("{x:.2}×")),
                r.target,
                match r.met {
                    Some(true) => "yes",
                    Some(false) => "**NO**",
                    None => "",
                }
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out);
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        let _ = writeln!(
            out,
            "\nbenchmark wall time: {:.0} s",
            self.elapsed.as_secs_f64()
        );
        out
    }
}

pub(crate) fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1e3;
    if m >= 1000.0 {
        format!("{:.2} s", m / 1e3)
    } else if m >= 100.0 {
        format!("{m:.0} ms")
    } else {
        format!("{m:.1} ms")
    }
}

pub(crate) fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub type Res<T> = Result<T, String>;

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

pub(crate) fn machine() -> Vec<String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|k| k.parse::<u64>().ok())
        .map_or("?".into(), |k| format!("{:.1} GiB", k as f64 / 1048576.0));
    vec![
        format!("machine: {cores} cores ({cpu}), {mem} RAM, Linux {kernel}"),
        format!("load average at the start: {}", loadavg()),
    ]
}
