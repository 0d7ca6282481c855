//! A reviewer's tests of issue 15's promises: counts, hints and messages
//! that must name (or count) the right LoadMaster, and what must hold when
//! a process is killed in the middle of a fan-out.

use super::*;

#[test]
fn an_address_refused_by_max_active_on_every_loadmaster_is_one_rejected_input() {
    // Both LoadMasters are full: one address asked for is refused on each,
    // which is still one input item rejected, not one per LoadMaster.
    let env = Env::several_with(2, Options::default(), "[block]\nmax_active = 1\n");
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    let out = env.run(&["block", "203.0.113.2"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    let err = out.stderr();
    assert_eq!(
        err.lines().filter(|l| l.contains("max_active")).count(),
        2,
        "one refusal per LoadMaster, each naming it: {err}"
    );
    assert!(
        err.contains("1 input item(s) were rejected"),
        "one address was given: {err}"
    );
    let stdout = out.stdout();
    let summary = line_with(&stdout, "rejected");
    assert!(
        summary.contains("rejected 1 (1 over max_active)"),
        "{summary}"
    );
}

#[test]
fn unblocks_hint_for_another_scope_is_a_command_that_works_with_several() {
    let env = Env::several(2);
    let out = env.run(&["block", "--loadmaster", "a", "--vs", "3", "203.0.113.9"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    // Not on the global lists: the note says where it is blocked, and how
    // to unblock it there.
    let out = env.run(&["unblock", "203.0.113.9"]);
    assert_eq!(out.code(), 4, "{}", out.all());
    let stdout = out.stdout();
    let note = line_with(&stdout, "not touched");
    let command = note
        .split_once("lmguard unblock ")
        .unwrap_or_else(|| panic!("no command in {note:?}"))
        .1;
    let args: Vec<&str> = std::iter::once("unblock")
        .chain(command.split_whitespace())
        .collect();
    let out = env.run(&args);
    assert_eq!(out.code(), 0, "the hint {args:?} failed: {}", out.all());
    assert!(env.on("a", Scope::Vs(3)).is_empty());
    assert_eq!(status_on(&env, "a", "203.0.113.9"), "unblocked");
}

#[test]
fn checks_allowlisted_blocks_warning_names_each_loadmaster() {
    let env = Env::several(2);
    assert_eq!(env.run(&["block", "192.0.2.5"]).code(), 0);
    env.write_several(
        |name, _| env.ca_line(name),
        "[block]\nallowlist = [\"192.0.2.0/28\"]\n",
    );
    let out = env.run(&["check"]);
    let line = out
        .check_line("allowlisted blocks")
        .unwrap_or_else(|| panic!("no allowlisted blocks line: {}", out.all()));
    assert!(
        line.contains("global on a") && line.contains("global on b"),
        "which LoadMaster each block is on: {line}"
    );
}

#[test]
fn a_stream_does_not_blame_another_process_for_its_own_call_in_flight() {
    // b answers after its timeout: the first event's call to b is still
    // outstanding when the same event comes again.
    let env = Env::several(2);
    env.fake("b")
        .set_fault(Fault::Delay(Duration::from_secs(4)));
    let mut child = env.spawn(&["block"]);
    let event = one_event();
    let send = |child: &mut std::process::Child| {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(&event).unwrap();
        stdin.flush().unwrap();
    };
    send(&mut child);
    assert!(env
        .wait_on("a", "203.0.113.7", Duration::from_millis(1500))
        .is_some());
    send(&mut child);
    std::thread::sleep(Duration::from_millis(300));
    drop(child.stdin.take());
    let out = common::Out(child.wait_with_output().unwrap());
    assert_eq!(out.code(), 3, "{}", out.all());
    let all = out.all();
    assert!(
        !all.contains("another lmguard process"),
        "no other process was running: {all}"
    );
    assert_eq!(env.calls_on("a", "add", "203.0.113.7"), 1);
}

#[test]
fn a_block_killed_while_one_loadmaster_is_slow_is_completed_there_only() {
    // kill -9 in the middle of a fan-out: a has answered (and that answer
    // is recorded), b has not; sweep sends b its add and a nothing.
    let env = Env::several(2);
    env.fake("b")
        .set_fault(Fault::Delay(Duration::from_secs(30)));
    let mut child = env.spawn(&["block", "203.0.113.7"]);
    assert!(env
        .wait_on("a", "203.0.113.7", Duration::from_millis(3000))
        .is_some());
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(status_on(&env, "a", "203.0.113.7"), "active");
    assert_eq!(status_on(&env, "b", "203.0.113.7"), "pending_block");
    env.fake("b").set_fault(Fault::None);
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(status_on(&env, "b", "203.0.113.7"), "active");
    assert_eq!(env.calls_on("a", "add", "203.0.113.7"), 1);
    assert!(env
        .on("b", Scope::Global)
        .contains(&"203.0.113.7".to_string()));
}

#[test]
fn loadmasters_named_out_of_order_are_counted_in_config_order() {
    let env = Env::several(2);
    let out = env.run(&[
        "block",
        "--loadmaster",
        "b",
        "--loadmaster",
        "a",
        "203.0.113.7",
    ]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let stdout = out.stdout();
    line_with(&stdout, &block_summary(&[("a", 1), ("b", 1)], &[]));
}

#[test]
fn sweeps_allowlisted_count_is_broken_down_per_loadmaster() {
    let env = Env::several(2);
    assert_eq!(env.run(&["block", "192.0.2.5"]).code(), 0);
    env.write_several(
        |name, _| env.ca_line(name),
        "[block]\nallowlist = [\"192.0.2.0/28\"]\n",
    );
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let stdout = out.stdout();
    let summary = line_with(&stdout, "allowlisted: ");
    assert!(
        summary.contains("allowlisted: unblocked 2 (a 1, b 1) block(s)"),
        "{summary}"
    );
}

#[test]
fn a_sweep_beside_a_block_waiting_on_a_slow_loadmaster_sends_nothing_again() {
    // b answers within its timeout, but slowly: while the block waits for
    // it, a sweep must leave b's entry to the block (and a's is done).
    let env = Env::several(2);
    env.fake("b")
        .set_fault(Fault::Delay(Duration::from_millis(1500)));
    let child = env.spawn(&["block", "203.0.113.7"]);
    assert!(env
        .wait_on("a", "203.0.113.7", Duration::from_millis(1500))
        .is_some());
    let out = env.run(&["sweep"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    let out = common::Out(child.wait_with_output().unwrap());
    assert_eq!(out.code(), 0, "{}", out.all());
    for name in ["a", "b"] {
        assert_eq!(env.calls_on(name, "add", "203.0.113.7"), 1, "{name}");
        assert_eq!(status_on(&env, name, "203.0.113.7"), "active", "{name}");
    }
}

#[test]
fn max_active_holds_per_loadmaster_under_concurrent_blocks() {
    let env = Env::several_with(2, Options::default(), "[block]\nmax_active = 2\n");
    let children: Vec<_> = (1..=6)
        .map(|i| env.spawn(&["block", &format!("203.0.113.{i}")]))
        .collect();
    for child in children {
        let _ = child.wait_with_output().unwrap();
    }
    for name in ["a", "b"] {
        let current = rows_on(&env, name)
            .iter()
            .filter(|r| r["status"] == "active" || r["status"] == "pending_block")
            .count();
        assert_eq!(current, 2, "{name}");
        assert_eq!(env.on(name, Scope::Global).len(), 2, "{name}");
    }
}

#[test]
fn a_state_of_the_first_release_goes_to_the_only_loadmaster_whatever_its_name() {
    // Format 2 (JSON records), two formats back: read as converted, then
    // converted on the first write, every row the only LoadMaster's.
    let env = Env::new();
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("[loadmaster]\n", "[[loadmaster]]\nname = \"site1\"\n");
    std::fs::write(&env.config, text).unwrap();
    std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
    std::fs::write(&env.state, fixture("state-format2.redb")).unwrap();
    let before = env.rows();
    assert_eq!(before.len(), 15);
    assert!(
        before.iter().all(|r| r["loadmaster"] == "site1"),
        "{before:#?}"
    );
    let out = env.run(&["sweep", "--dry-run"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(env.lm.request_count(), 0);
    let out = env.run(&["sweep"]);
    assert!(out.code() == 0 || out.code() == 4, "{}", out.all());
    let after = env.rows();
    assert_eq!(after.len(), 15);
    assert!(
        after.iter().all(|r| r["loadmaster"] == "site1"),
        "{after:#?}"
    );
    let out = env.run(&["check"]);
    assert!(
        out.check_line("unconfigured LoadMasters").is_none(),
        "{}",
        out.stdout()
    );
}

#[test]
fn unblocking_a_widened_ipv6_host_blocked_on_one_loadmaster_only_is_not_an_error() {
    // ipv6_prefix = 64: the host was recorded as its /64, on a only.
    let env = Env::several_with(2, Options::default(), "[block]\nipv6_prefix = 64\n");
    let out = env.run(&["block", "--loadmaster", "a", "2001:db8:1:2::7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert_eq!(status_on(&env, "a", "2001:db8:1:2::/64"), "active");
    let out = env.run(&["unblock", "2001:db8:1:2::7"]);
    assert_eq!(out.code(), 0, "{}", out.all());
    assert!(!out.stdout().contains("not touched"), "{}", out.stdout());
    assert_eq!(status_on(&env, "a", "2001:db8:1:2::/64"), "unblocked");
    assert!(env.on("a", Scope::Global).is_empty());
}

#[test]
fn sync_does_not_say_all_agree_when_one_loadmaster_could_not_be_read() {
    let env = Env::several(2);
    assert_eq!(env.run(&["block", "203.0.113.1"]).code(), 0);
    env.fake("b").set_fault(Fault::Down);
    let out = env.run(&["sync"]);
    assert_eq!(out.code(), 3, "{}", out.all());
    assert!(
        !out.stdout()
            .contains("local state and the LoadMaster agree"),
        "b was not compared: {}",
        out.all()
    );
    assert!(
        out.stderr().contains("LoadMaster \"b\""),
        "{}",
        out.stderr()
    );
}
