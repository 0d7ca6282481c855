//! The scenarios, one function each, that fill the report.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_loadmaster::{FakeLoadMaster, Scope};

use super::floor::*;
use super::harness::*;
use super::report::*;
use super::settings::*;
use super::workload::*;

/// Run every scenario; the report (also printed progressively with
/// `settings.verbose`).
pub fn run_all(settings: &Settings) -> Res<Report> {
    let started = Instant::now();
    let mut bench = Bench {
        gnu_time: Path::new(GNU_TIME).exists(),
        curl: have(CURL, "--version"),
        settings: settings.clone(),
        addrs: Addrs::new(),
        next_event: 100_000_000,
    };
    let mut report = Report {
        machine: machine(),
        ..Report::default()
    };
    if !bench.curl {
        report
            .notes
            .push("curl not found: target 1 uses the cold Rust client as its floor".into());
    }
    if !bench.gnu_time {
        report.notes.push(format!(
            "{GNU_TIME} not found (apt-get install time): peak RSS not measured"
        ));
    }

    if settings.wants(1) {
        single_block(&mut bench, &mut report)?;
    }
    if settings.wants(2) {
        burst(&mut bench, &mut report)?;
    }
    if settings.wants(3) {
        sweep(&mut bench, &mut report)?;
    }
    if settings.wants(4) || settings.wants(5) {
        big_state(&mut bench, &mut report)?;
    }
    if settings.wants(6) {
        huge_state(&mut bench, &mut report)?;
    }
    if settings.wants(7) {
        streams(&mut bench, &mut report)?;
    }
    if settings.wants(8) {
        bulk_unblock(&mut bench, &mut report)?;
    }
    if settings.wants(9) {
        several_loadmasters(&mut bench, &mut report)?;
    }
    if settings.wants_paced() {
        paced(&mut bench, &mut report)?;
    }

    report
        .machine
        .push(format!("load average at the end: {}", loadavg()));
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Target 1: `block ADDR` from a cold process vs one curl POST (and one
/// cold Rust ureq/rustls POST) of the same request.
pub(crate) fn single_block(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let runs = bench.settings.single_runs;
    bench.say(&format!("1: single block, {runs} runs each, interleaved"));
    let lm = start_fake()?;
    let site = Site::new(&lm)?;
    // Warm-up (creates the state database, pages the binaries in).
    let (mut lmg, mut curl, mut rust) = (Stat::default(), Stat::default(), Stat::default());
    // The way ADS runs it: one event on standard input, which then ends.
    let mut ads = Stat::default();
    let mut rss = None;
    for i in 0..=runs {
        let addr = bench.addrs.take(1).remove(0);
        let ran = bench.lmguard(
            &site,
            &["block", &addr, "--reason", "bench"],
            None,
            false,
            &[0],
        )?;
        if !ran.stdout().starts_with("blocked ") {
            return Err(format!("block {addr}: {}", ran.stdout()));
        }
        if bench.curl {
            let addr = bench.addrs.take(1).remove(0);
            let body = add_body(&addr, "lmguard manual");
            let t = curl_post(&lm.url(), &site.ca, &body)?;
            if i > 0 {
                curl.push(t);
            }
        }
        if let Some(exe) = &bench.settings.self_exe {
            let addr = bench.addrs.take(1).remove(0);
            let body = add_body(&addr, "lmguard manual");
            let start = Instant::now();
            let status = Command::new(exe)
                .arg("--one-post")
                .arg(lm.url())
                .arg(&site.ca)
                .arg(&body)
                .status()
                .map_err(|e| e.to_string())?;
            let t = start.elapsed();
            check_exit(status, &[0], || "the cold Rust client failed".into())?;
            if i > 0 {
                rust.push(t);
            }
        }
        let addr = bench.addrs.take(1).remove(0);
        let event = site.write("event.tsv", &events_tsv(&[addr], 1_000 + i as u64))?;
        let ads_ran = bench.lmguard(&site, &["block"], Some(&event), false, &[0])?;
        if !ads_ran.stdout().starts_with("blocked ") {
            return Err(format!("block < event: {}", ads_ran.stdout()));
        }
        if i > 0 {
            lmg.push(ran.wall);
            ads.push(ads_ran.wall);
        }
    }
    if bench.gnu_time {
        let addr = bench.addrs.take(1).remove(0);
        rss = bench
            .lmguard(&site, &["block", &addr], None, true, &[0])?
            .rss_kib;
    }
    let what = "block 1 address, cold process (start → LM ack → state committed)";
    if bench.curl {
        report
            .rows
            .push(Row::against("1", what, &lmg, "curl", &curl, Some(1.2)));
        if !rust.samples.is_empty() {
            report.rows.push(Row::against(
                "1b",
                "same, vs a cold Rust ureq+rustls client process (one POST)",
                &lmg,
                "rust-client",
                &rust,
                Some(2.0),
            ));
        }
    } else if !rust.samples.is_empty() {
        report.rows.push(Row::against(
            "1",
            what,
            &lmg,
            "rust-client",
            &rust,
            Some(1.2),
        ));
    } else {
        report.rows.push(Row::timed("1", what, &lmg));
    }
    if !rust.samples.is_empty() {
        report.rows.push(Row::against(
            "1s",
            "block of one ADS event on standard input (as ADS runs it), vs the cold Rust client",
            &ads,
            "rust-client",
            &rust,
            None,
        ));
    }
    if let Some(k) = rss {
        report
            .rows
            .push(Row::info("1r", "peak RSS, block 1 address", mib(k)));
    }
    Ok(())
}

/// The LoadMasters of scenario 9, in config order.
pub(crate) const SEVERAL: [&str; 4] = ["a", "b", "c", "d"];

/// Scenario 9 (issue 15): `block ADDR` from a cold process with four
/// `[[loadmaster]]` tables (a–d, each a fake LoadMaster of its own on
/// 127.0.0.1) against the same block with one `[loadmaster]` (row 1's
/// configuration). lmguard sends the four adds in parallel threads, so the
/// block should cost about one LoadMaster's latency: target ≤ 1.5×. The two
/// sides alternate (which goes first too), so that both see the same load;
/// each run checks that every fake now holds the address.
pub(crate) fn several_loadmasters(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let runs = bench.settings.single_runs;
    let n = SEVERAL.len();
    bench.say(&format!(
        "9: single block on {n} LoadMasters vs on 1, {runs} runs each, interleaved"
    ));
    let one_lm = start_fake()?;
    let one = Site::new(&one_lm)?;
    let fakes = SEVERAL
        .iter()
        .map(|_| start_fake())
        .collect::<Res<Vec<FakeLoadMaster>>>()?;
    let named: Vec<(&str, &FakeLoadMaster)> = SEVERAL.iter().copied().zip(&fakes).collect();
    let several = Site::several(&named)?;
    let (mut on_one, mut on_several) = (Stat::default(), Stat::default());
    // Run 0 is the warm-up (creates both state databases).
    for i in 0..=runs {
        let mut sides = [
            (&one, &mut on_one, false),
            (&several, &mut on_several, true),
        ];
        if i % 2 == 1 {
            sides.reverse();
        }
        for (site, stat, is_several) in sides {
            let addr = bench.addrs.take(1).remove(0);
            let ran = bench.lmguard(
                site,
                &["block", &addr, "--reason", "bench"],
                None,
                false,
                &[0],
            )?;
            let holders: Vec<&FakeLoadMaster> = if is_several {
                fakes.iter().collect()
            } else {
                vec![&one_lm]
            };
            for (k, lm) in holders.iter().enumerate() {
                if !lm.entries(Scope::Global).iter().any(|e| e.addr == addr) {
                    return Err(format!(
                        "block {addr}: LoadMaster #{} does not hold it; lmguard said: {}",
                        k + 1,
                        ran.stdout()
                    ));
                }
            }
            if i > 0 {
                stat.push(ran.wall);
            }
        }
    }
    // Every block made one entry per LoadMaster, each row naming its own.
    let ran = bench.lmguard(&several, &["list", "--json"], None, false, &[0])?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&ran.stdout())
        .map_err(|e| format!("list --json is not a JSON array: {e}"))?;
    for name in SEVERAL {
        let k = rows.iter().filter(|r| r["loadmaster"] == name).count();
        if k != runs + 1 {
            return Err(format!(
                "list --json has {k} rows on LoadMaster {name:?}, not {}",
                runs + 1
            ));
        }
    }
    report.rows.push(Row::against(
        "9",
        format!("block 1 address on {n} LoadMasters ([[loadmaster]] a–d, {n} fakes), cold process"),
        &on_several,
        "on 1 LoadMaster",
        &on_one,
        Some(1.5),
    ));
    Ok(())
}

/// One curl POST from a cold process; checks the answer is a success.
pub(crate) fn curl_post(url: &str, ca: &Path, body: &str) -> Res<Duration> {
    let start = Instant::now();
    let out = Command::new(CURL)
        .args(["-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg("--cacert")
        .arg(ca)
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(body)
        .arg(format!("{url}/accessv2"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    let t = start.elapsed();
    let code = String::from_utf8_lossy(&out.stdout);
    if code.trim() != "200" {
        return Err(format!(
            "curl answered {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(t)
}

/// Target 2: N ADS events on one stdin vs one keep-alive client making the
/// same N requests.
pub(crate) fn burst(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let n = bench.settings.burst;
    let runs = bench.settings.runs;
    bench.say(&format!("2: {n} events on one stdin, {runs} runs"));
    let lm = start_fake()?;
    let (mut lmg, mut floor) = (Stat::default(), Stat::default());
    let mut rss = 0;
    for i in 0..=runs {
        // A state database that exists already, as on a running system.
        let site = Site::new(&lm)?;
        bench.warm(&site)?;
        let (ran, _, _) = bench.block_events(&site, n, &[], true)?;
        rss = rss.max(ran.rss_kib.unwrap_or(0));
        let (addrs, first) = bench.events(n);
        let bodies: Vec<String> = addrs
            .iter()
            .enumerate()
            .map(|(k, a)| add_body(a, &ads_comment(first + k as u64)))
            .collect();
        let f = floor_requests(&lm, &bodies)?;
        if i > 0 {
            lmg.push(ran.wall);
            floor.push(f);
        }
        lm.clear_lists();
    }
    report.rows.push(Row::against(
        "2",
        format!("block, {n} ADS events on one stdin"),
        &lmg,
        "keep-alive",
        &floor,
        Some(1.5),
    ));
    if rss > 0 {
        report
            .rows
            .push(Row::info("2r", format!("peak RSS, {n} events"), mib(rss)));
    }
    Ok(())
}

/// Target 10 (issue 27): N ADS events on one stdin against a fake that
/// drops the connection beyond Kemp's documented 30 calls in 3 s, with
/// lmguard's default budget (25/3s): the time against the time the budget
/// allows its calls (1 000 events: about 120 s; target ≤ 1.1×), and the
/// calls the fake dropped (target 0). One run: it mostly sleeps.
pub(crate) fn paced(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let n = bench.settings.paced;
    let rate = (25u32, Duration::from_secs(3));
    bench.say(&format!(
        "10: {n} events at Kemp's rate limit (30/3s), lmguard's default budget 25/3s: \
         about {} s",
        rate.1.as_secs_f64() * n as f64 / f64::from(rate.0)
    ));
    let lm = start_fake_limited(Some(fake_loadmaster::RateLimit::KEMP))?;
    let site = Site::new(&lm)?;
    site.set_rate(None)?;
    let (ran, _, _) = bench.block_events(&site, n, &[], false)?;
    let calls = lm.request_count();
    let allowed = rate.1.mul_f64(calls as f64 / f64::from(rate.0));
    let (mut lmg, mut budget) = (Stat::default(), Stat::default());
    lmg.push(ran.wall);
    budget.push(allowed);
    report.rows.push(Row::against(
        "10",
        format!("block, {n} ADS events, Kemp's rate limit (30/3s), rate 25/3s"),
        &lmg,
        &format!("{calls} calls at 25/3s"),
        &budget,
        Some(1.1),
    ));
    let dropped = lm.dropped_calls();
    report.rows.push(Row {
        target: "0".into(),
        met: Some(dropped == 0),
        ..Row::info("10d", "calls the rate limit dropped", dropped.to_string())
    });
    Ok(())
}

/// Target 7: streams. (a) N CEF lines written at once to a `block` whose
/// standard input stays open, timed from the write until the LoadMaster
/// holds them all, against `block < file` of the same N CEF lines (the
/// one-shot batch, process start to exit). (b) One line every 100 ms: the
/// time from each write until its address is on the LoadMaster.
pub(crate) fn streams(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let n = bench.settings.stream;
    let runs = bench.settings.heavy_runs;
    bench.say(&format!(
        "7: {n} CEF lines at once on an open stdin vs a {n}-line batch, {runs} runs each"
    ));
    let (mut stream, mut batch) = (Stat::default(), Stat::default());
    for i in 0..=runs {
        // The batch: a fresh LoadMaster and state, block < file.
        let lm = start_fake()?;
        let site = Site::new(&lm)?;
        bench.warm(&site)?;
        let addrs = bench.addrs.take(n);
        let input = site.write("events.cef", &events_cef(&addrs))?;
        let ran = bench.lmguard(
            &site,
            &["block", "--input", "cef"],
            Some(&input),
            false,
            &[0],
        )?;
        if lm.entries(Scope::Global).len() != n + 1 {
            return Err(format!(
                "the {n}-line batch left {} entries",
                lm.entries(Scope::Global).len()
            ));
        }
        drop(site);
        drop(lm);

        // The stream: the same, but written at once to a running block.
        let lm = start_fake()?;
        let site = Site::new(&lm)?;
        bench.warm(&site)?;
        let mut child = Stream::start(bench, &site)?;
        // Let it start up (that is not what is measured here).
        std::thread::sleep(Duration::from_millis(300));
        let lines = events_cef(&bench.addrs.take(n));
        let start = Instant::now();
        child.write(&lines)?;
        let took = wait_for_entries(&lm, n + 1, start, Duration::from_secs(600))?;
        child.finish()?;
        if i > 0 {
            batch.push(ran.wall);
            stream.push(took);
        }
    }
    report.rows.push(Row::against(
        "7",
        format!("{n} CEF lines at once on an open stdin: write → all on the LM"),
        &stream,
        &format!("batch of {n} (block < file)"),
        &batch,
        Some(1.2),
    ));

    let k = bench.settings.trickle;
    bench.say(&format!(
        "7t: {k} CEF lines, one per 100 ms, on an open stdin"
    ));
    let lm = start_fake()?;
    let site = Site::new(&lm)?;
    bench.warm(&site)?;
    let mut child = Stream::start(bench, &site)?;
    std::thread::sleep(Duration::from_millis(300));
    let mut latency = Stat::default();
    let next = Instant::now();
    for (j, addr) in bench.addrs.take(k).iter().enumerate() {
        let due = next + Duration::from_millis(100 * j as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let start = Instant::now();
        child.write(&events_cef(std::slice::from_ref(addr)))?;
        latency.push(wait_for_entries(
            &lm,
            j + 2,
            start,
            Duration::from_secs(60),
        )?);
    }
    child.finish()?;
    let limit = Duration::from_secs(1);
    report.rows.push(Row {
        target: format!("max < {}", ms(limit)),
        met: Some(latency.max() < limit),
        ..Row::timed(
            "7t",
            format!("one CEF line per 100 ms ({k} lines): write → on the LM"),
            &latency,
        )
    });
    Ok(())
}

/// Target 3: sweep of N expired blocks vs a keep-alive client making the
/// same N deletes. Every run, and every floor run, has a fake LoadMaster of
/// its own holding exactly those N entries, and the floor deletes them in
/// the order lmguard does (its state key order): the fake's delete costs
/// time proportional to the list length and position, so both sides must
/// see the same list.
pub(crate) fn sweep(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let n = bench.settings.sweep;
    let runs = bench.settings.heavy_runs;
    bench.say(&format!(
        "3: sweep of {n} expired blocks, {runs} runs (blocking {n} events with --duration 1s per run)"
    ));
    let mut sites = Vec::new();
    let mut setup = Stat::default();
    for _ in 0..runs {
        let lm = start_fake()?;
        let site = Site::new(&lm)?;
        bench.warm(&site)?;
        let (ran, _, _) = bench.block_events(&site, n, &["--duration", "1s"], false)?;
        setup.push(ran.wall);
        sites.push((lm, site));
    }
    std::thread::sleep(Duration::from_millis(2_100));
    let (mut lmg, mut floor) = (Stat::default(), Stat::default());
    let mut rss = 0;
    for (lm, site) in &sites {
        let ran = bench.lmguard(site, &["sweep"], None, true, &[0])?;
        let summary = ran.last_line();
        if !summary.starts_with(&format!("expired {n} of {n} due")) {
            return Err(format!("sweep: unexpected summary {summary:?}"));
        }
        // The warm-up block is still there, not yet expired.
        if lm.entries(Scope::Global).len() != 1 {
            return Err("sweep left entries on the LoadMaster".into());
        }
        rss = rss.max(ran.rss_kib.unwrap_or(0));
        lmg.push(ran.wall);
        let floor_lm = start_fake()?;
        let mut addrs = bench.addrs.take(n);
        floor_lm.insert_entry(Scope::Global, &bench.addrs.take(1)[0], "lmguard manual");
        for a in &addrs {
            floor_lm.insert_entry(Scope::Global, a, "lmguard ADS 1 SCANS");
        }
        addrs.sort();
        let bodies: Vec<String> = addrs.iter().map(|a| del_body(a)).collect();
        floor.push(floor_requests(&floor_lm, &bodies)?);
    }
    report.rows.push(Row::against(
        "3",
        format!("sweep, {n} expired blocks"),
        &lmg,
        "keep-alive",
        &floor,
        Some(1.5),
    ));
    report.rows.push(Row::timed(
        "3s",
        format!("(set-up) block, {n} events on one stdin, --duration 1s"),
        &setup,
    ));
    if rss > 0 {
        report
            .rows
            .push(Row::info("3r", format!("peak RSS, sweep of {n}"), mib(rss)));
    }
    Ok(())
}

/// Scenario 8 (issue 18): `unblock --method SCANS --yes` of N blocks vs a
/// `sweep` of N expired blocks — the same N deletes, so the bulk unblock
/// must run at sweep's bulk speed (target ≤ 1.5×). Each run has two fake
/// LoadMasters of its own, one per side, each holding N + 1 entries; the
/// two sides run one after the other, so that they share the machine's
/// load of the moment.
pub(crate) fn bulk_unblock(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let n = bench.settings.bulk;
    let runs = bench.settings.heavy_runs;
    bench.say(&format!(
        "8: unblock --method of {n} blocks vs sweep of {n} expired blocks, {runs} runs"
    ));
    let (mut unblock, mut sweep) = (Stat::default(), Stat::default());
    for _ in 0..runs {
        let sweep_lm = start_fake()?;
        let sweep_site = Site::new(&sweep_lm)?;
        bench.warm(&sweep_site)?;
        bench.block_events(&sweep_site, n, &["--duration", "1s"], false)?;
        let unblock_lm = start_fake()?;
        let unblock_site = Site::new(&unblock_lm)?;
        bench.warm(&unblock_site)?;
        bench.block_events(&unblock_site, n, &[], false)?;
        std::thread::sleep(Duration::from_millis(1_100));

        let ran = bench.lmguard(&sweep_site, &["sweep"], None, false, &[0])?;
        if !ran
            .last_line()
            .starts_with(&format!("expired {n} of {n} due"))
        {
            return Err(format!("sweep: unexpected summary {:?}", ran.last_line()));
        }
        sweep.push(ran.wall);

        let args = ["unblock", "--method", "SCANS", "--yes"];
        let ran = bench.lmguard(&unblock_site, &args, None, false, &[0])?;
        let summary = ran.last_line();
        if !summary.starts_with(&format!("unblocked {n}, left alone 0, pending 0,")) {
            return Err(format!("bulk unblock: unexpected summary {summary:?}"));
        }
        // The warm-up block (a manual one, not SCANS) is still there.
        if unblock_lm.entries(Scope::Global).len() != 1 {
            return Err("bulk unblock left entries on the LoadMaster".into());
        }
        unblock.push(ran.wall);
    }
    report.rows.push(Row::against(
        "8",
        format!("unblock --method, {n} blocks"),
        &unblock,
        "sweep of as many",
        &sweep,
        Some(1.5),
    ));
    Ok(())
}

/// The first `sweep` of a state of `n` active entries: its allowlist pass
/// reads every active block, as after each change of the allowlist (later
/// sweeps skip that pass until the next change).
pub(crate) fn first_sweep(
    bench: &Bench,
    report: &mut Report,
    site: &Site,
    id: &str,
    n: usize,
) -> Res<()> {
    let mut first = Stat::default();
    first.push(bench.lmguard(site, &["sweep"], None, false, &[0])?.wall);
    report.rows.push(Row::timed(
        id,
        format!("sweep after an allowlist change (reads every active block), {n} entries"),
        &first,
    ));
    Ok(())
}

/// Targets 4 and 5 (and 6 at the big size): list, list --json and sync
/// against a state of `big` active entries that the LoadMaster also holds;
/// the same at `small` for linearity.
pub(crate) fn big_state(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let mut per_entry: Vec<(usize, Duration, Duration, Duration)> = Vec::new();
    for (n, full) in [(bench.settings.small, false), (bench.settings.big, true)] {
        bench.say(&format!(
            "4/5/7: state and LoadMaster list of {n} entries (built by one `lmguard block`)"
        ));
        let runs = if full {
            bench.settings.heavy_runs
        } else {
            bench.settings.runs
        };
        let lm = start_fake()?;
        let site = Site::new(&lm)?;
        let (built, _, _) = bench.block_events(&site, n, &[], full)?;
        if lm.entries(Scope::Global).len() != n {
            return Err(format!(
                "the LoadMaster holds {} entries, not {n}",
                lm.entries(Scope::Global).len()
            ));
        }
        let (mut table, mut json, mut sync, mut fetch, mut stats) = (
            Stat::default(),
            Stat::default(),
            Stat::default(),
            Stat::default(),
            Stat::default(),
        );
        // The same fetch from a cold process (start, handshake, POST, the
        // whole answer read): what a cold `sync` cannot do without.
        let mut cold_fetch = Stat::default();
        let (mut rss_table, mut rss_json, mut rss_sync) = (0, 0, 0);
        for i in 0..=runs {
            let ran = bench.lmguard(&site, &["list"], None, full, &[0])?;
            rss_table = rss_table.max(ran.rss_kib.unwrap_or(0));
            if i == 0 {
                let lines = BufReader::new(File::open(&ran.stdout).map_err(|e| e.to_string())?)
                    .lines()
                    .count();
                if lines < n + 1 {
                    return Err(format!("list printed {lines} lines for {n} entries"));
                }
            } else {
                table.push(ran.wall);
            }
            let ran = bench.lmguard(&site, &["list", "--json"], None, full, &[0])?;
            rss_json = rss_json.max(ran.rss_kib.unwrap_or(0));
            if i == 0 {
                let rows: Vec<serde_json::Value> = serde_json::from_reader(BufReader::new(
                    File::open(&ran.stdout).map_err(|e| e.to_string())?,
                ))
                .map_err(|e| format!("list --json is not a JSON array: {e}"))?;
                if rows.len() != n {
                    return Err(format!("list --json gave {} rows for {n}", rows.len()));
                }
            } else {
                json.push(ran.wall);
            }
            let ran = bench.lmguard(&site, &["sync"], None, full, &[0])?;
            rss_sync = rss_sync.max(ran.rss_kib.unwrap_or(0));
            if i == 0 {
                let out = ran.stdout();
                if !out.contains("agree") {
                    return Err(format!(
                        "sync found differences: {}",
                        out.lines().next().unwrap_or("")
                    ));
                }
            } else {
                sync.push(ran.wall);
            }
            let ran = bench.lmguard(&site, &["stats", "--json"], None, false, &[0])?;
            if i == 0 {
                let figures: serde_json::Value = serde_json::from_str(&ran.stdout())
                    .map_err(|e| format!("stats --json is not one JSON object: {e}"))?;
                if figures["entries"]["total"].as_u64() != Some(n as u64) {
                    return Err(format!(
                        "stats counted {} entries, not {n}",
                        figures["entries"]["total"]
                    ));
                }
            } else {
                stats.push(ran.wall);
            }
            let start = Instant::now();
            let client = KeepAlive::new(&lm.url(), &lm.ca_pem())?;
            let text = client.post(&list_body())?;
            let t = start.elapsed();
            if i > 0 {
                fetch.push(t);
            } else if text.matches("\"addr\"").count() != n {
                return Err("the floor's list fetch is incomplete".into());
            }
            if let Some(exe) = &bench.settings.self_exe {
                let start = Instant::now();
                let status = Command::new(exe)
                    .arg("--one-post")
                    .arg(lm.url())
                    .arg(&site.ca)
                    .arg(list_body())
                    .stdout(Stdio::null())
                    .status()
                    .map_err(|e| e.to_string())?;
                let t = start.elapsed();
                check_exit(status, &[0], || {
                    "the cold Rust client's list fetch failed".into()
                })?;
                if i > 0 {
                    cold_fetch.push(t);
                }
            }
        }
        let prime = if full { "" } else { "'" };
        let cold_row = |report: &mut Report| {
            if !cold_fetch.samples.is_empty() {
                report.rows.push(Row::against(
                    &format!("5c{prime}"),
                    format!("the same sync vs a cold Rust client process fetching the list of {n}"),
                    &sync,
                    "cold fetch",
                    &cold_fetch,
                    None,
                ));
            }
        };
        per_entry.push((n, table.median(), json.median(), sync.median()));
        if full {
            report.rows.push(Row::timed(
                "4s",
                format!("(set-up) block, {n} events on one stdin"),
                &Stat {
                    samples: vec![built.wall],
                },
            ));
            report.rows.push(Row::within(
                "4",
                format!("list (table), {n} entries"),
                &table,
                Duration::from_secs(1),
            ));
            report.rows.push(Row::within(
                "4j",
                format!("list --json, {n} entries"),
                &json,
                Duration::from_millis(500),
            ));
            for (id, what, kib) in [
                (
                    "4r",
                    format!("peak RSS, list (table), {n} entries"),
                    rss_table,
                ),
                (
                    "4rj",
                    format!("peak RSS, list --json, {n} entries"),
                    rss_json,
                ),
                ("5r", format!("peak RSS, sync, {n} entries"), rss_sync),
                (
                    "4rb",
                    format!("peak RSS, block of {n} events (set-up)"),
                    built.rss_kib.unwrap_or(0),
                ),
            ] {
                if kib > 0 {
                    let limit = 64 * 1024;
                    let targeted = id.starts_with("4r") && id != "4rb";
                    report.rows.push(Row {
                        target: if targeted {
                            "< 64 MiB".into()
                        } else {
                            String::new()
                        },
                        met: targeted.then_some(kib < limit),
                        ..Row::info(id, what, mib(kib))
                    });
                }
            }
            report.rows.push(Row::against(
                "5",
                format!("sync (no differences), LoadMaster list of {n}"),
                &sync,
                "fetch list",
                &fetch,
                Some(1.5),
            ));
            cold_row(report);
            report.rows.push(Row::within(
                "7",
                format!("stats --json, {n} entries"),
                &stats,
                Duration::from_millis(500),
            ));
            // The first sweep reads every active block once (the allowlist
            // pass of issue 18, as after an allowlist change); timed apart.
            first_sweep(bench, report, &site, "6a", n)?;
            // Cron's sweep when nothing is due: the price of every run.
            let mut idle = Stat::default();
            for _ in 0..bench.settings.huge_runs {
                let ran = bench.lmguard(&site, &["sweep"], None, false, &[0])?;
                idle.push(ran.wall);
            }
            report.rows.push(Row::timed(
                "6i",
                format!("sweep with nothing due (the cron run), {n} entries"),
                &idle,
            ));
            db_rows(bench, report, &site, n, "6", bench.settings.heavy_runs)?;
        } else {
            report.rows.push(Row::timed(
                "4'",
                format!("list (table), {n} entries"),
                &table,
            ));
            report.rows.push(Row::timed(
                "4j'",
                format!("list --json, {n} entries"),
                &json,
            ));
            report.rows.push(Row::against(
                "5'",
                format!("sync (no differences), LoadMaster list of {n}"),
                &sync,
                "fetch list",
                &fetch,
                Some(1.5),
            ));
            cold_row(report);
            report.rows.push(Row::timed(
                "7'",
                format!("stats --json, {n} entries"),
                &stats,
            ));
        }
    }
    if let [(n1, t1, j1, s1), (n2, t2, j2, s2)] = per_entry[..] {
        let k = n2 as f64 / n1 as f64;
        report.notes.push(format!(
            "linearity {n1} → {n2} entries (×{k:.0}): list ×{:.1}, list --json ×{:.1}, sync ×{:.1} \
             (linear = ×{k:.0}; less means a fixed cost dominates the small size)",
            ratio(t2, t1),
            ratio(j2, j1),
            ratio(s2, s1),
        ));
    }
    Ok(())
}

/// Target 6 rows for one state: file size, Store::open time, and a cold
/// single block against it.
pub(crate) fn db_rows(
    bench: &mut Bench,
    report: &mut Report,
    site: &Site,
    n: usize,
    id: &str,
    runs: usize,
) -> Res<()> {
    let size = std::fs::metadata(&site.state)
        .map_err(|e| e.to_string())?
        .len();
    let per_entry = size as f64 / n as f64;
    let targeted = id == "6";
    report.rows.push(Row {
        target: if targeted {
            "≤ 300 B/entry".into()
        } else {
            String::new()
        },
        met: targeted.then_some(per_entry <= 300.0),
        ..Row::info(
            id,
            format!("state database size, {n} entries"),
            format!(
                "{:.1} MiB ({per_entry:.0} B/entry)",
                size as f64 / (1024.0 * 1024.0),
            ),
        )
    });
    let (mut rw, mut ro, mut single) = (Stat::default(), Stat::default(), Stat::default());
    for i in 0..=runs {
        let start = Instant::now();
        let store = lmguard::state::Store::open(&site.state, Duration::from_secs(60))
            .map_err(|e| format!("Store::open: {e}"))?;
        let t = start.elapsed();
        drop(store);
        let start = Instant::now();
        let store = lmguard::state::Store::open_existing(&site.state, Duration::from_secs(60))
            .map_err(|e| format!("Store::open_existing: {e}"))?;
        let t_ro = start.elapsed();
        drop(store);
        let addr = bench.addrs.take(1).remove(0);
        let ran = bench.lmguard(site, &["block", &addr], None, false, &[0])?;
        if i > 0 {
            rw.push(t);
            ro.push(t_ro);
            single.push(ran.wall);
        }
    }
    report.rows.push(Row::timed(
        &format!("{id}o"),
        format!("Store::open (read-write, as block/sweep), {n} entries"),
        &rw,
    ));
    report.rows.push(Row::timed(
        &format!("{id}r"),
        format!("Store::open_existing (read-only, as list), {n} entries"),
        &ro,
    ));
    report.rows.push(Row::timed(
        &format!("{id}b"),
        format!("block 1 address, cold process, state of {n} entries"),
        &single,
    ));
    if id == "6" {
        // What reading every record costs (list, sync, stats do it): redb's
        // scan plus the decoding of each binary record.
        let mut all = Stat::default();
        for _ in 0..runs.min(3) {
            let start = Instant::now();
            let store = lmguard::state::Store::open_existing(&site.state, Duration::from_secs(60))
                .map_err(|e| format!("Store::open_existing: {e}"))?
                .ok_or("no state database")?;
            let entries = store.all().map_err(|e| format!("Store::all: {e}"))?;
            all.push(start.elapsed());
            if entries.len() < n {
                return Err(format!("Store::all gave {} of {n} entries", entries.len()));
            }
        }
        report.rows.push(Row::timed(
            "6a",
            format!("Store::all in-process (scan + decode every record), {n} entries"),
            &all,
        ));
    }
    Ok(())
}

/// Target 6 at the largest size. The state is built by `lmguard block` in
/// batches of events with `[block] mode = "simulate"` (recorded as active
/// without calling the LoadMaster: a million HTTPS calls would not fit the
/// time budget); where that mode is refused (older lmguard), for real
/// against the fake. Then timed like the big state, with the normal
/// configuration.
pub(crate) fn huge_state(bench: &mut Bench, report: &mut Report) -> Res<()> {
    let Some(n) = bench.settings.huge else {
        report.notes.push(format!(
            "the largest state was not built (--no-million); project its size linearly from the \
             {}-entry one",
            bench.settings.big
        ));
        return Ok(());
    };
    let batch = bench.settings.huge_batch.max(1);
    let lm = start_fake()?;
    let site = Site::new(&lm)?;
    let simulate = site.variant("simulate.toml", "mode = \"simulate\"")?;
    let probe = bench.lmguard_with(&site, &simulate, &["list"], None, false, &[0, 2])?;
    let simulated = probe.stdout().starts_with("no ");
    bench.say(&format!(
        "6: state of {n} entries, by `lmguard block` of {batch} events at a time{}",
        if simulated {
            " (mode = \"simulate\")"
        } else {
            " (simulate mode refused: through the fake LoadMaster)"
        }
    ));
    let mut done = 0;
    let mut batches = Stat::default();
    while done < n {
        let k = batch.min(n - done);
        let (addrs, first) = bench.events(k);
        let input = site.write("events.tsv", &events_tsv(&addrs, first))?;
        let config = if simulated { &simulate } else { &site.config };
        let ran = bench.lmguard_with(&site, config, &["block"], Some(&input), false, &[0])?;
        let summary = ran.last_line();
        let want = if simulated {
            format!("blocked 0, simulated {k},")
        } else {
            format!("blocked {k},")
        };
        if !summary.starts_with(&want) {
            return Err(format!(
                "block of {k} events: unexpected summary {summary:?}"
            ));
        }
        batches.push(ran.wall);
        lm.clear_lists();
        done += k;
        bench.say(&format!("6: {done}/{n} ({})", ms(ran.wall)));
    }
    report.rows.push(Row::timed(
        "6s",
        format!(
            "(set-up) block{}, {batch} events per run, state growing to {n}",
            if simulated { " in simulate mode" } else { "" }
        ),
        &batches,
    ));
    let runs = bench.settings.huge_runs;
    db_rows(bench, report, &site, n, "6M", runs)?;
    first_sweep(bench, report, &site, "6Ma", n)?;
    let mut idle = Stat::default();
    for _ in 0..runs {
        idle.push(bench.lmguard(&site, &["sweep"], None, false, &[0])?.wall);
    }
    report.rows.push(Row::timed(
        "6Mi",
        format!("sweep with nothing due (the cron run), {n} entries"),
        &idle,
    ));
    Ok(())
}
