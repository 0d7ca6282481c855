//! The appliance's API rate limit is never crossed (interface.md,
//! "Guarantees"; Kemp: "The connection drops if more than 30 calls are
//! performed in less than 3 seconds over all API interfaces"): every call
//! waits for its slot in `[loadmaster] rate`, counted over every lmguard
//! process using the state, against a fake that drops connections as the
//! document says.

use std::time::{Duration, Instant};

use fake_loadmaster::{Fault, Options, RateLimit, Scope};

use crate::common::Env;

/// `n` ADS events (TSV), sources `base + i`.
fn events(base: u32, n: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..n {
        let addr = std::net::Ipv4Addr::from(base + i as u32);
        s.push_str(&format!(
            "{}\t2026-11-24 10:13:00\t \tSCANS\tPort scanning\t \t \tSecurity Issues\tHigh\tscan\t \t \
             \t{addr}\t \t198.51.100.40\tLAN\n",
            700_000 + base as usize % 100_000 + i
        ));
    }
    s.into_bytes()
}

/// A fake that drops connections beyond `limit`, and lmguard's budget.
fn limited(limit: RateLimit, rate: &str) -> Env {
    let mut options = Options::default();
    options.switches.rate_limit = Some(limit);
    let env = Env::with(options, "");
    env.set_rate(rate);
    env
}

/// How long `calls` calls take at `calls_per`/`window`.
fn budget_time(calls: u64, calls_per: u32, window: Duration) -> Duration {
    window.mul_f64(calls as f64 / f64::from(calls_per))
}

fn set_timeout(env: &Env, timeout: &str) {
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("timeout = \"2s\"\n", &format!("timeout = \"{timeout}\"\n"));
    std::fs::write(&env.config, text).unwrap();
}

fn spawn_block(env: &Env, stdin: Vec<u8>) -> std::process::Child {
    use std::io::Write;
    let mut child = env.spawn(&["block"]);
    let mut input = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    child
}

#[test]
fn a_burst_of_90_events_reaches_kemps_limit_paced_whole_and_in_time() {
    // Kemp's documented limit, lmguard's default budget.
    let env = limited(RateLimit::KEMP, "25/3s");
    let start = Instant::now();
    let out = env.run_stdin(&["block"], events(0x0a01_0000, 90));
    let took = start.elapsed();
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global).len(), 90, "{}", out.all());
    assert_eq!(env.lm.dropped_calls(), 0, "calls crossed the limit");
    let calls = env.lm.request_count();
    let allowed = budget_time(calls, 25, Duration::from_secs(3));
    eprintln!("{calls} calls in {took:?}; the budget allows them in {allowed:?}");
    assert!(
        took <= allowed.mul_f64(1.6),
        "{calls} calls took {took:?}; the budget allows them in {allowed:?}"
    );
    // Paced, not faster than the budget either.
    assert!(took >= allowed.mul_f64(0.9), "{took:?} for {calls} calls");
    // Long enough to say how long it takes.
    assert!(out.stderr().contains("at 25/3s"), "{}", out.stderr());
}

#[test]
fn three_blocks_at_once_share_one_budget() {
    let env = limited(
        RateLimit {
            calls: 12,
            window: Duration::from_secs(1),
        },
        "10/1s",
    );
    set_timeout(&env, "10s");
    let start = Instant::now();
    let children: Vec<_> = (0..3)
        .map(|i| spawn_block(&env, events(0x0a02_0000 + i * 256, 30)))
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let took = start.elapsed();
    assert_eq!(env.on_lm(Scope::Global).len(), 90);
    assert_eq!(env.lm.dropped_calls(), 0, "calls crossed the limit");
    let allowed = budget_time(env.lm.request_count(), 10, Duration::from_secs(1));
    eprintln!("three blocks: {took:?}; the budget allows {allowed:?}");
    assert!(
        took <= allowed.mul_f64(1.6),
        "{took:?}, allowed {allowed:?}"
    );
    // One budget file beside the state, private.
    let file = env.state.with_file_name("state.redb.rate-default");
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert!(meta.is_file());
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
}

#[test]
fn a_block_without_a_slot_in_its_timeout_stays_pending_naming_the_budget() {
    // One call per 5 s: the second block's slot is seconds away, beyond
    // its 1 s timeout.
    let env = limited(RateLimit::KEMP, "1/5s");
    set_timeout(&env, "1s");
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    let start = Instant::now();
    let out = env.run(&["block", "203.0.113.2"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "it did not wait for a slot it could not get"
    );
    let err = out.stderr();
    assert!(
        err.contains("rate budget") && err.contains("loadmaster.rate"),
        "{err}"
    );
    assert!(!err.contains("unreachable"), "{err}");
    assert_eq!(env.status_of("203.0.113.2"), "pending_block");
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.1"]);
    // `sweep` waits for its slot as long as it takes, and sends it.
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.status_of("203.0.113.2"), "active");
    assert_eq!(env.lm.dropped_calls(), 0);
}

#[test]
fn a_participant_killed_mid_burst_does_not_stall_the_next() {
    let env = limited(
        RateLimit {
            calls: 12,
            window: Duration::from_secs(1),
        },
        "10/1s",
    );
    // A long burst, killed (-9) while it uses the budget.
    let mut child = spawn_block(&env, events(0x0a03_0000, 200));
    assert!(
        env.wait_on_lm("10.3.0.3", Duration::from_secs(10))
            .is_some(),
        "the burst started"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    let out = env.run(&["block", "203.0.113.9"]);
    // A stall would show as the block's 2 s timeout running out (exit 3).
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // A damaged budget file starts afresh; a symbolic link is never
    // followed: refused (exit 5), nothing sent, nothing changed there.
    let file = env.state.with_file_name("state.redb.rate-default");
    std::fs::write(&file, b"garbage").unwrap();
    assert_eq!(env.run(&["block", "203.0.113.10"]).code(), 0);
    std::fs::remove_file(&file).unwrap();
    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::write(&elsewhere, b"keep").unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    assert_eq!(env.run(&["block", "203.0.113.11"]).code(), 5);
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep");
    assert_eq!(env.lm.dropped_calls(), 0);
}

#[test]
fn a_connection_dropped_after_a_burst_is_the_rate_limit_not_an_outage() {
    // The appliance allows less than lmguard's budget (another client
    // uses it too): it drops the fourth call.
    let env = limited(
        RateLimit {
            calls: 3,
            window: Duration::from_secs(2),
        },
        "6/1s",
    );
    set_timeout(&env, "10s");
    let addrs: Vec<String> = (1..=12).map(|i| format!("203.0.113.{i}")).collect();
    let mut args = vec!["block"];
    args.extend(addrs.iter().map(String::as_str));
    let out = env.run(&args);
    assert_eq!(out.code(), 3, "{}", out.all());
    let err = out.stderr();
    assert!(
        err.contains("rate limit") && err.contains("loadmaster.rate"),
        "{err}"
    );
    assert!(!err.contains("unreachable"), "{err}");
    assert!(env.lm.dropped_calls() >= 1);
    // What was not applied is pending, for sweep.
    let applied = env.on_lm(Scope::Global).len();
    assert!(applied < 12);
    let pending = addrs
        .iter()
        .filter(|a| env.status_of(a) == "pending_block")
        .count();
    assert_eq!(applied + pending, 12);
    env.lm.set_rate_limit(None);
    assert_eq!(env.run(&["sweep"]).code(), 0);
    assert_eq!(env.on_lm(Scope::Global).len(), 12);
}

#[test]
fn a_sweep_sends_blocks_before_removals() {
    let env = Env::new();
    let now: i64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Three blocks that will have expired, then three that failed.
    let out = env.run(&[
        "block",
        "--duration",
        "1h",
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
    ]);
    assert_eq!(out.code(), 0, "{}", out.all());
    env.lm.set_fault(Fault::Down);
    let out = env.run(&[
        "block",
        "--duration",
        "7d",
        "198.51.100.7",
        "198.51.100.8",
        "198.51.100.9",
    ]);
    assert_eq!(out.code(), 3, "{}", out.all());
    env.lm.set_fault(Fault::None);
    env.lm.clear_requests();
    let later = (now + 2 * 3600).to_string();
    let out = common_out(
        env.cmd()
            .env("LMGUARD_TEST_NOW", &later)
            .arg("sweep")
            .output()
            .unwrap(),
    );
    assert_eq!(out.code(), 0, "{}", out.all());
    let ops: Vec<String> = env
        .lm
        .requests()
        .iter()
        .filter_map(|r| {
            ["add", "del"]
                .into_iter()
                .find(|op| r.param(op).is_some())
                .map(|op| format!("{op} {}", r.param("addr").unwrap_or_default()))
        })
        .collect();
    assert_eq!(ops.len(), 6, "{ops:?}");
    assert!(
        ops[..3].iter().all(|o| o.starts_with("add")),
        "the blocks go first: {ops:?}"
    );
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["198.51.100.7", "198.51.100.8", "198.51.100.9"]
    );
}

fn common_out(output: std::process::Output) -> crate::common::Out {
    crate::common::Out(output)
}

/// `lmguard ARGS` on a pseudo-terminal (util-linux `script`): what the
/// terminal showed; None without `script`.
fn on_a_terminal(env: &Env, args: &str) -> Option<String> {
    let bin = assert_cmd::cargo::cargo_bin("lmguard");
    let line = format!("{} --config {} {args}", bin.display(), env.config.display());
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("LMGUARD_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// 1 000 blocks recorded pending (the LoadMaster down), for a sweep.
fn pending(env: &Env, base: u32) {
    env.lm.set_fault(Fault::Down);
    let out = env.run_stdin(&["block"], events(base, 1_000));
    assert_eq!(out.code(), 3, "{}", out.all());
    env.lm.set_fault(Fault::None);
}

/// Long work (a sweep of 1 000 re-adds) shows a progress bar on a
/// terminal, and none under `-q`, nor when standard error is not one.
#[test]
fn a_progress_bar_on_a_terminal_only_and_never_under_quiet() {
    const BAR: &str = "LoadMaster calls [";
    let env = Env::new();
    pending(&env, 0x0a04_0000);
    let Some(shown) = on_a_terminal(&env, "sweep") else {
        crate::common::tools::skip("util-linux `script` is not available");
        return;
    };
    assert!(shown.contains(BAR), "{shown}");
    assert!(shown.contains("1000/1000"), "{shown}");
    assert_eq!(env.on_lm(Scope::Global).len(), 1_000);
    pending(&env, 0x0a05_0000);
    let quiet = on_a_terminal(&env, "-q sweep").unwrap();
    assert!(!quiet.contains(BAR), "{quiet}");
    assert_eq!(env.on_lm(Scope::Global).len(), 2_000);
    // Not a terminal (the harness pipes standard error).
    pending(&env, 0x0a06_0000);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(!out.stderr().contains(BAR), "{}", out.stderr());
    assert_eq!(env.on_lm(Scope::Global).len(), 3_000);
}

/// Something other than a regular file planted as the budget file (a
/// directory, a FIFO) cannot hold the budget: the process would pace its
/// calls apart from the host's other lmguard processes, crossing the
/// appliance's limit without a word. It is refused by name (exit 5), as a
/// link there is, and nothing is sent.
#[test]
fn a_budget_file_that_is_no_regular_file_is_refused() {
    let env = Env::new();
    assert_eq!(env.run(&["block", "203.0.113.19"]).code(), 0);
    let file = env.state.with_file_name("state.redb.rate-default");
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let out = env.run(&["block", "203.0.113.20"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert!(
        out.stderr().contains(&file.display().to_string()),
        "{}",
        out.stderr()
    );
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.19"]);
    std::fs::remove_dir(&file).unwrap();
    let fifo = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 5, "{}", out.all());
    assert_eq!(env.on_lm(Scope::Global), ["203.0.113.19"]);
    std::fs::remove_file(&file).unwrap();
    // Refused before anything was recorded; with the file gone (lmguard
    // makes it again) the block goes through.
    assert_eq!(env.status_of("203.0.113.20"), "absent");
    assert_eq!(env.run(&["block", "203.0.113.20"]).code(), 0);
    assert!(env
        .state
        .with_file_name("state.redb.rate-default")
        .is_file());
    assert_eq!(
        env.on_lm_sorted(Scope::Global),
        ["203.0.113.19", "203.0.113.20"]
    );
}
