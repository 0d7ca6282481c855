//! lmguard off the appliance: ADS events by syslog in CEF, and a standard
//! input that stays open (rsyslog `omprog`, syslog-ng `program()`), driven
//! line by line against the fake LoadMaster.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout};
use std::time::{Duration, Instant};

use common::{fixture, Env};
use fake_loadmaster::{Options, Scope};

/// The fixture's lines, as the fixture README numbers them (1-based).
fn cef_line(n: usize) -> String {
    let text = String::from_utf8(fixture("ads-events.cef")).unwrap();
    text.lines().nth(n - 1).unwrap().to_string()
}

fn cef(source: &str, method: &str, severity: u8) -> String {
    format!(
        "Nov 30 09:00:00 ads ADS[42]: CEF:0|Flowmon Networks|Flowmon ADS Ultimate|13.00.00|\
         {method}|Test|{severity}|src={source} msg=a test\\=event cs2=Default"
    )
}

fn send(child: &mut Child, line: &str) {
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(line.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
}

/// Reads one line of the child's standard output.
fn read_answer(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line.trim_end_matches('\n').to_string()
}

fn finish(mut child: Child) -> (i32, String, String) {
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().expect("exited normally"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

// ----- CEF through the binary ------------------------------------------------

#[test]
fn the_cef_fixture_blocks_its_sources_with_cef_and_auto() {
    for input in ["cef", "auto"] {
        let env = Env::new();
        let out = env.run_stdin(&["block", "--input", input], fixture("ads-events.cef"));
        // Line 6's fe80::abcd is link-local: a built-in protection skips it
        // (not an error).
        assert_eq!(out.code(), 0, "{input}: {}", out.all());
        assert_eq!(
            env.on_lm_sorted(Scope::Global),
            [
                "10.0.0.1",
                "10.0.0.22",
                "10.0.21.1",
                "10.0.49.1",
                "10.0.57.1",
                "2001:db8:cef::abcd/128",
                "203.0.113.250"
            ],
            "{input}"
        );
        assert!(out.stderr().contains("line 6"), "{}", out.stderr());
        assert!(out.stdout().contains("protected 1"), "{}", out.stdout());
        let row = env.row("10.0.57.1").unwrap();
        assert_eq!(row["reason"], "SSHDICT SSH attack");
        assert!(row["event_id"].is_null());
        let row = env.row("203.0.113.250").unwrap();
        assert_eq!(
            row["reason"],
            "SSHDICT SSH attack with a pipe | in the name"
        );
    }
}

#[test]
fn the_cef_event_id_and_priority_follow_the_fixture_readme() {
    // Line 9 (ADS 6.07): cn1 labelled EventID; severity 10 = critical.
    let env = Env::with(Options::default(), "[ads]\nmin_severity = \"critical\"\n");
    let out = env.run_stdin(&["block", "--input", "cef"], cef_line(9).into_bytes());
    assert_eq!(out.code(), 0, "{}", out.all());
    let row = env.row("10.0.0.1").unwrap();
    assert_eq!(row["event_id"], "786879");
    assert_eq!(row["reason"], "DOS Denial of service attack");
    assert!(env
        .lm
        .entries(Scope::Global)
        .iter()
        .any(|e| e.addr == "10.0.0.1" && e.comment.contains("786879")));

    // min_severity = "high": lines 2 (6, medium), 7 and 8 (2, information)
    // are filtered; 1 (8) and 3 (10) pass. methods filters by signature id.
    let env = Env::with(
        Options::default(),
        "[ads]\nmin_severity = \"high\"\nmethods = [\"SSHDICT\", \"SCANS\", \"DNSANOMALY\"]\n",
    );
    let input = [1, 2, 3, 7, 8].map(cef_line).join("\n");
    let out = env.run_stdin(&["block"], input.into_bytes());
    assert_eq!(out.code(), 0, "{}", out.all());
    // 1: SSHDICT high → blocked; 2: SCANS medium → below; 3: RDPDICT not in
    // methods; 7: DNSANOMALY information → below; 8: SCANS information.
    assert_eq!(env.on_lm(Scope::Global), ["10.0.57.1"]);
    assert!(out.stdout().contains("filters 4"), "{}", out.stdout());
}

#[test]
fn a_cef_event_without_an_id_is_an_ads_block_in_its_comment_stats_and_list() {
    // ADS 7 and later send no EventID: the block still came from an event.
    let env = Env::new();
    let out = env.run_stdin(
        &["block", "--input", "cef"],
        cef("203.0.113.71", "SSHDICT", 8).into_bytes(),
    );
    assert_eq!(out.code(), 0, "{}", out.all());
    let row = env.row("203.0.113.71").unwrap();
    assert!(row["event_id"].is_null(), "{row}");
    let comments: Vec<String> = env
        .lm
        .entries(Scope::Global)
        .into_iter()
        .map(|e| e.comment)
        .collect();
    assert_eq!(comments, ["lmguard ADS SSHDICT"]);
    let stats = env.run(&["stats", "--json"]);
    let stats: serde_json::Value = serde_json::from_str(&stats.stdout()).unwrap();
    assert_eq!(stats["blocks_by_method"]["SSHDICT"], 1, "{stats}");
    assert!(stats["blocks_by_method"].get("manual").is_none(), "{stats}");
    let listed = env.run(&["list", "--method", "SSHDICT", "--json"]);
    assert!(listed.stdout().contains("203.0.113.71"), "{}", listed.all());
    // A block by hand stays `manual`.
    assert_eq!(env.run(&["block", "203.0.113.72"]).code(), 0);
    assert!(env
        .lm
        .entries(Scope::Global)
        .iter()
        .any(|e| e.addr == "203.0.113.72" && e.comment == "lmguard manual"));
}

#[test]
fn a_mixed_tsv_json_cef_stream_and_bad_cef_lines() {
    let env = Env::new();
    let tsv = String::from_utf8(fixture("ads-events.tsv")).unwrap();
    let tsv = tsv.lines().next().unwrap();
    let input = [
        tsv.to_string(),
        r#"{"id":7,"timestamp":"t","type":"SCANS","source":"203.0.113.61","severity":"High"}"#
            .to_string(),
        cef("203.0.113.62", "RDPDICT", 10),
        "Nov 30 09:00:00 ads ADS: CEF:0|Flowmon Networks|ADS|1|SCANS".to_string(),
        "Nov 30 09:00:00 ads ADS: CEF:0|V|P|1|SCANS|S|6|dst=192.0.2.1 msg=no source".to_string(),
        cef("203.0.113.63", "SCANS", 6),
    ]
    .join("\r\n");
    let out = env.run_stdin(&["block"], input.into_bytes());
    assert_eq!(out.code(), 4, "{}", out.all());
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        [
            "203.0.113.61",
            "203.0.113.62",
            "203.0.113.63",
            "203.0.113.7"
        ]
    );
    let err = out.stderr();
    assert!(err.contains("line 4: CEF header incomplete"), "{err}");
    assert!(err.contains("line 5: no source address"), "{err}");
}

#[test]
fn a_bare_cr_ends_a_line_on_standard_input() {
    let env = Env::new();
    let input = [
        cef("203.0.113.71", "SCANS", 6),
        cef("203.0.113.72", "SCANS", 6),
    ]
    .join("\r");
    let out = env.run_stdin(&["block"], input.into_bytes());
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["203.0.113.71", "203.0.113.72"]
    );
}

// ----- an open stream --------------------------------------------------------

#[test]
fn an_open_stream_is_applied_line_by_line_while_list_runs_beside_it() {
    let env = Env::new();
    let mut child = env.spawn(&["block"]);
    for (i, address) in ["203.0.113.81", "203.0.113.82", "203.0.113.83"]
        .iter()
        .enumerate()
    {
        send(&mut child, &cef(address, "SSHDICT", 8));
        // On the LoadMaster while the stream is still open (within 1 s on an
        // idle machine; 10 s allows for a busy one — the benchmark measures).
        let took = env.wait_on_lm(address, Duration::from_secs(10));
        assert!(took.is_some(), "{address} never reached the LoadMaster");
        assert!(child.try_wait().unwrap().is_none(), "block ended early");
        // The state lock is free between batches: list runs and sees it.
        let list = env.run(&["list", "--json"]);
        assert_eq!(list.code(), 0, "{}", list.stderr());
        let rows: serde_json::Value = serde_json::from_str(&list.stdout()).unwrap();
        // This stream's blocks so far, and the hand-made ones of earlier rounds.
        assert_eq!(rows.as_array().unwrap().len(), 2 * i + 1);
        // So does another block, and a sweep.
        let other = format!("198.51.100.{}", 10 + i);
        let out = env.run(&["block", &other]);
        assert_eq!(out.code(), 0, "{}", out.all());
        assert_eq!(env.run(&["sweep"]).code(), 0);
    }
    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("blocked 3,"), "{stdout}");
}

/// A line the LoadMaster refuses for good (its VS does not exist) is still
/// answered `OK` once recorded; the refusal is reported on standard error,
/// never on rsyslog's standard output.
#[test]
fn confirm_keeps_a_refusal_for_good_off_standard_output() {
    let env = Env::new();
    let input = format!("{}\n", cef("203.0.113.94", "SSHDICT", 8));
    let out = env.run_stdin(&["block", "--confirm", "--vs", "99"], input.into_bytes());
    assert_eq!(out.code(), 4, "{}", out.all());
    assert_eq!(out.stdout(), "OK\nOK\n", "stderr: {}", out.stderr());
    assert!(
        out.stderr().contains("203.0.113.94 (VS 99)"),
        "{}",
        out.stderr()
    );
}

/// Every line dealt with for good is answered `OK` — a rejected one too
/// (reported on standard error, counted in the exit status): rsyslog would
/// otherwise send it again for ever and nothing behind it.
#[test]
fn confirm_answers_each_line_and_nothing_else() {
    let env = Env::with(
        Options::default(),
        "[ads]\nmin_severity = \"medium\"\n[block]\nmax_active = 2\n",
    );
    let mut child = env.spawn(&["block", "--confirm"]);
    let mut answers = BufReader::new(child.stdout.take().unwrap());
    // rsyslog waits for a first OK before it sends anything.
    assert_eq!(read_answer(&mut answers), "OK");
    // (line, expected answer, address that must be recorded by then)
    let lines = [
        (
            cef("203.0.113.91", "SSHDICT", 8),
            "OK",
            Some("203.0.113.91"),
        ),
        // Rejected for good: not an event.
        ("not an event".to_string(), "OK", None),
        (String::new(), "OK", None),
        // Filtered (below min_severity): handled, so OK.
        (cef("203.0.113.92", "SCANS", 2), "OK", None),
        // Protected (link-local): skipped as a false positive, OK.
        (cef_line(6), "OK", None),
        // Rejected for good: a bad address.
        (cef("999.1.2.3", "SCANS", 8), "OK", None),
        (cef("203.0.113.93", "SCANS", 10), "OK", Some("203.0.113.93")),
        // Rejected for good: max_active (2) is reached.
        (cef("203.0.113.95", "SCANS", 10), "OK", None),
        // A forged or foreign message tagged ADS: rejected, OK.
        (
            "Nov 30 09:00:00 ads ADS: hello from somebody else".to_string(),
            "OK",
            None,
        ),
    ];
    for (line, expected, recorded) in &lines {
        send(&mut child, line);
        let answer = read_answer(&mut answers);
        assert_eq!(answer, *expected, "{line:?}");
        if let Some(address) = recorded {
            // OK means recorded: the state has it already.
            assert_ne!(env.status_of(address), "absent", "{address}");
        }
    }
    let (code, rest, stderr) = finish(child);
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(rest, "", "nothing but answers on standard output");
    assert!(stderr.contains("blocked 2,"), "{stderr}");
    assert!(
        stderr.contains("rejected 4 (1 over max_active)"),
        "{stderr}"
    );
    // Each rejection is reported on standard error.
    for why in [
        "line 2: ",
        "line 6: source '999.1.2.3'",
        "line 8: rejected: 203.0.113.95 not blocked",
        "line 9: ",
    ] {
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
    assert_eq!(env.status_of("203.0.113.92"), "absent");
    assert_eq!(env.status_of("203.0.113.95"), "absent");
}

/// The first `OK` says that configuration, key and state are usable:
/// where the state is not, lmguard says why and ends without it (rsyslog
/// starts it again later), instead of taking messages it cannot record.
#[test]
fn confirm_says_ok_at_start_only_when_the_state_is_usable() {
    let env = Env::new();
    // The state's directory is a file.
    std::fs::write(env.state.parent().unwrap(), "not a directory").unwrap();
    let out = env.run_stdin(
        &["block", "--confirm", "--input", "cef"],
        format!("{}\n", cef("203.0.113.83", "SCANS", 8)).into_bytes(),
    );
    assert_eq!(out.code(), 5, "{}", out.all());
    assert_eq!(out.stdout(), "", "no OK: {}", out.stderr());
    assert!(out.stderr().contains("state"), "{}", out.stderr());
    assert_eq!(env.lm.request_count(), 0);
}

/// With `--confirm` a line is a syslog message, ended by LF: a CR inside it
/// is part of it, never a second line with an answer of its own (rsyslog
/// would take that answer for the next message's).
#[test]
fn confirm_answers_a_message_with_a_cr_inside_once() {
    let env = Env::new();
    let mut child = env.spawn(&["block", "--confirm", "--input", "cef"]);
    let mut answers = BufReader::new(child.stdout.take().unwrap());
    assert_eq!(read_answer(&mut answers), "OK");
    send(
        &mut child,
        &format!("{}\rsecond part", cef("203.0.113.81", "SCANS", 8)),
    );
    assert_eq!(read_answer(&mut answers), "OK");
    send(&mut child, &cef("203.0.113.82", "SCANS", 8));
    assert_eq!(read_answer(&mut answers), "OK");
    // The second answer is the second message's: it is recorded.
    assert_ne!(env.status_of("203.0.113.82"), "absent");
    let (code, rest, stderr) = finish(child);
    assert_eq!(rest, "", "one answer per message: {stderr}");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["203.0.113.81", "203.0.113.82"]
    );
}

/// Every message is answered once, `OK`, when it is dealt with for good,
/// whatever its bytes, and while the LoadMaster is down (the event is
/// recorded pending: `sweep` sends it). Bytes no text holds, a NUL, a
/// message that is a lone CR, one over the 4 MiB line limit and one of
/// 1 MB never make a second answer or none.
#[test]
fn confirm_answers_hostile_bytes_and_a_loadmaster_down_once_each() {
    let env = Env::new();
    env.lm.set_fault(fake_loadmaster::Fault::Down);
    let mut child = env.spawn(&["block", "--confirm", "--input", "cef"]);
    let mut answers = BufReader::new(child.stdout.take().unwrap());
    assert_eq!(read_answer(&mut answers), "OK");
    let big_msg = "x".repeat(1024 * 1024);
    let messages: Vec<(Vec<u8>, Option<&str>)> = vec![
        (
            cef("203.0.113.71", "SCANS", 8).into_bytes(),
            Some("203.0.113.71"),
        ),
        (
            [
                b"\xff\xfe ".as_slice(),
                cef("203.0.113.73", "SCANS", 8).as_bytes(),
            ]
            .concat(),
            None,
        ),
        (
            cef("203.0.113.74", "SCANS", 8)
                .replace("msg=", "msg=\0")
                .into_bytes(),
            None,
        ),
        (b"\r".to_vec(), None),
        (vec![b'A'; 4 * 1024 * 1024 + 10], None),
        (
            cef("203.0.113.72", "SCANS", 8)
                .replace("msg=a", &format!("msg={big_msg}"))
                .into_bytes(),
            Some("203.0.113.72"),
        ),
    ];
    for (bytes, recorded) in &messages {
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        assert_eq!(
            read_answer(&mut answers),
            "OK",
            "{:?}",
            &bytes[..bytes.len().min(60)]
        );
        if let Some(address) = recorded {
            // Recorded before the answer, though the LoadMaster is down.
            assert_ne!(env.status_of(address), "absent", "{address}");
        }
    }
    let (code, rest, stderr) = finish(child);
    assert_eq!(rest, "", "one answer per message: {stderr}");
    // Three lines rejected (exit 4 wins over the LoadMaster's 3).
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("rejected 3"), "{stderr}");
    for address in ["203.0.113.71", "203.0.113.72"] {
        assert_eq!(env.status_of(address), "pending_block", "{stderr}");
    }
    for address in ["203.0.113.73", "203.0.113.74"] {
        assert_eq!(env.status_of(address), "absent", "{stderr}");
    }
    env.lm.set_fault(fake_loadmaster::Fault::None);
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["203.0.113.71", "203.0.113.72"]
    );
}

/// Without `--confirm` (syslog-ng's `program()`, which has no per-message
/// answer) nobody sends a line again: a batch the state was too busy to
/// record is kept and recorded once the state is free, and the stream goes
/// on. It used to end the stream with exit 5, the batch's events lost.
#[test]
fn a_stream_without_confirm_keeps_a_batch_the_state_was_too_busy_for() {
    let env = Env::new();
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("lock_timeout = \"20s\"", "lock_timeout = \"1s\"");
    std::fs::write(&env.config, text).unwrap();
    let mut child = env.spawn(&["block", "--input", "cef"]);
    send(&mut child, &cef("203.0.113.61", "SCANS", 8));
    assert!(env
        .wait_on_lm("203.0.113.61", Duration::from_secs(10))
        .is_some());
    // Another process holds the state past lmguard's lock timeout.
    let lock = common::hold_lock(&env.state);
    send(&mut child, &cef("203.0.113.62", "SCANS", 8));
    std::thread::sleep(Duration::from_millis(2_500));
    drop(lock);
    assert!(
        env.wait_on_lm("203.0.113.62", Duration::from_secs(10))
            .is_some(),
        "the event read while the state was busy is lost"
    );
    // The stream goes on.
    send(&mut child, &cef("203.0.113.63", "SCANS", 8));
    assert!(env
        .wait_on_lm("203.0.113.63", Duration::from_secs(10))
        .is_some());
    let (code, _, stderr) = finish(child);
    assert!(
        stderr.contains("event(s) of this batch are kept and recorded once the state is free"),
        "{stderr}"
    );
    // The state was busy: said in the exit status.
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(env.status_of("203.0.113.62"), "active");
    // ADS's one-shot `block` (its input ended) still says exit 5 after the
    // lock timeout, as documented, instead of waiting on.
    let lock = common::hold_lock(&env.state);
    let start = Instant::now();
    let out = env.run_stdin(
        &["block", "--input", "cef"],
        cef("203.0.113.64", "SCANS", 8).into_bytes(),
    );
    drop(lock);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
}

/// The one answer that is not `OK`: an event lmguard would accept could
/// not be recorded (the state busy past the lock timeout). rsyslog keeps
/// that message and sends it again; the stream goes on and records it then.
#[test]
fn confirm_answers_not_ok_only_when_the_state_cannot_record() {
    let env = Env::with(Options::default(), "");
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("lock_timeout = \"20s\"", "lock_timeout = \"1s\"");
    std::fs::write(&env.config, text).unwrap();
    let mut child = env.spawn(&["block", "--confirm", "--input", "cef"]);
    let mut answers = BufReader::new(child.stdout.take().unwrap());
    assert_eq!(
        read_answer(&mut answers),
        "OK",
        "ready: the state is usable"
    );

    // Another process holds the state's lock.
    let lock = common::hold_lock(&env.state);
    let event = cef("203.0.113.84", "SCANS", 8);
    send(&mut child, &event);
    let answer = read_answer(&mut answers);
    assert!(
        answer.starts_with("error: line 1 not recorded, send it again: "),
        "{answer}"
    );
    // A bad line meanwhile is still rejected for good: OK.
    send(&mut child, "not an event");
    assert_eq!(read_answer(&mut answers), "OK");
    drop(lock);
    // rsyslog sends the message again: recorded now, and blocked.
    send(&mut child, &event);
    assert_eq!(read_answer(&mut answers), "OK");
    assert_ne!(env.status_of("203.0.113.84"), "absent");
    let (code, rest, stderr) = finish(child);
    assert_eq!(rest, "");
    assert!(
        stderr.contains("were not recorded, rsyslog sends"),
        "{stderr}"
    );
    assert_eq!(code, 5, "the state failure is in the exit status: {stderr}");
    assert_eq!(env.on_lm_sorted(Scope::Global), ["203.0.113.84"]);
}

/// A state that another process takes now and then, past lmguard's lock
/// timeout, never ends the stream, whichever step it hits: a batch it
/// keeps from being recorded is answered "not recorded" (and sent again
/// here, as rsyslog does); a batch recorded whose LoadMaster answers it
/// keeps from being recorded stays pending for sweep. Every event ends up
/// recorded, and lmguard reads until its input ends.
#[test]
fn confirm_survives_a_state_busy_now_and_then() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let env = Env::new();
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("lock_timeout = \"20s\"", "lock_timeout = \"10ms\"");
    std::fs::write(&env.config, text).unwrap();
    let mut child = env.spawn(&["block", "--confirm", "--input", "cef"]);
    let mut answers = BufReader::new(child.stdout.take().unwrap());
    assert_eq!(read_answer(&mut answers), "OK", "ready");
    let stop = Arc::new(AtomicBool::new(false));
    let hog = {
        let (stop, state) = (Arc::clone(&stop), env.state.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let lock = common::hold_lock(&state);
                std::thread::sleep(Duration::from_millis(15));
                drop(lock);
                std::thread::sleep(Duration::from_millis(3));
            }
        })
    };
    let addresses: Vec<String> = (1..=60).map(|i| format!("198.51.100.{i}")).collect();
    let mut retried = 0;
    for address in &addresses {
        let line = cef(address, "SCANS", 8);
        loop {
            send(&mut child, &line);
            let answer = read_answer(&mut answers);
            if answer == "OK" {
                break;
            }
            assert!(
                answer.contains("not recorded, send it again"),
                "{address}: {answer:?} (lmguard ended?)"
            );
            retried += 1;
            assert!(retried < 10_000);
        }
    }
    stop.store(true, Ordering::SeqCst);
    hog.join().unwrap();
    let (code, rest, stderr) = finish(child);
    assert_eq!(rest, "");
    assert!(retried > 0, "the state was never busy: {stderr}");
    assert!(matches!(code, 0 | 3 | 5), "{code}: {stderr}");
    let rows = env.rows();
    for address in &addresses {
        assert!(
            rows.iter().any(|r| r["address"] == address.as_str()),
            "{address} answered OK but not recorded"
        );
    }
    // What stayed pending, sweep completes.
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(env.on_lm(Scope::Global).len(), addresses.len());
}

#[test]
fn confirm_refuses_addresses_and_dry_run() {
    let env = Env::new();
    for args in [
        &["block", "--confirm", "203.0.113.1"][..],
        &["block", "--confirm", "--dry-run"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.code(), 2, "{}", out.all());
        assert!(
            out.stderr().contains("cannot be used with"),
            "{}",
            out.stderr()
        );
    }
}

#[test]
fn sigterm_mid_stream_records_everything_read_and_exits_0() {
    let env = Env::with(Options::default(), "[block]\nmax_active = 100000\n");
    let mut child = env.spawn(&["block", "--input", "cef"]);
    let addresses: Vec<String> = (0..600)
        .map(|i| format!("198.51.{}.{}", 100 + i / 250, 1 + i % 250))
        .collect();
    let mut text = String::new();
    for a in &addresses {
        text.push_str(&cef(a, "SCANS", 8));
        text.push('\n');
    }
    // The first line, then wait until the stream is up and has applied it.
    send(&mut child, &cef(&addresses[0], "SCANS", 8));
    assert!(env
        .wait_on_lm(&addresses[0], Duration::from_secs(10))
        .is_some());
    // The rest in one write, and SIGTERM right behind it, stdin still open.
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    stdin.flush().unwrap();
    common::signal(&child, "-TERM");
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = env.rows();
    for a in &addresses {
        assert!(
            rows.iter().any(|r| r["address"] == a.as_str()),
            "{a} was read but not recorded"
        );
    }
    assert_eq!(env.on_lm(Scope::Global).len(), addresses.len());
}

#[test]
fn a_million_line_stream_keeps_memory_flat() {
    let env = Env::new();
    let mut child = env.spawn(&["block", "--confirm", "--input", "cef"]);
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut answers = BufReader::new(child.stdout.take().unwrap());
    let line = format!("{}\n", cef("203.0.113.99", "SCANS", 8));
    let (first, total) = (100_000usize, 1_000_000usize);
    let writer = std::thread::spawn(move || {
        let chunk = line.repeat(1_000);
        for _ in 0..total / 1_000 {
            stdin.write_all(chunk.as_bytes()).unwrap();
        }
        stdin
    });
    let mut answer = String::new();
    answers.read_line(&mut answer).unwrap();
    assert_eq!(answer, "OK\n", "ready");
    let mut hwm_after_first = 0;
    for n in 1..=total {
        answer.clear();
        answers.read_line(&mut answer).unwrap();
        assert_eq!(answer, "OK\n", "line {n}");
        if n == first {
            hwm_after_first = vm_hwm_kib(pid);
        }
    }
    let hwm_at_end = vm_hwm_kib(pid);
    drop(writer.join().unwrap());
    let (code, _, stderr) = finish(child);
    assert_eq!(code, 0, "{}", &stderr[..stderr.len().min(2_000)]);
    eprintln!(
        "peak RSS: {hwm_after_first} KiB after {first} lines, {hwm_at_end} KiB after {total}"
    );
    assert!(
        hwm_at_end <= hwm_after_first + 8 * 1024,
        "memory grew from {hwm_after_first} KiB after {first} lines to {hwm_at_end} KiB after {total}"
    );
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.99"]);
}
