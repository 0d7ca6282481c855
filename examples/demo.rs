//! `cargo run --example demo`: the whole lmguard lifecycle against a fake
//! LoadMaster on 127.0.0.1, with the real `lmguard` binary, a temporary
//! configuration and a temporary state database. Nothing leaves loopback.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fake_loadmaster::{FakeLoadMaster, Fault, Options, Scope};

fn main() {
    let lmguard = build_lmguard();
    let lm = FakeLoadMaster::start(Options::default()).expect("start the fake LoadMaster");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &lm);

    println!(
        "Fake LoadMaster listening on {} (self-signed certificate, trusted via ca_file)",
        lm.url()
    );
    println!("Configuration: {}\n", config.display());

    let events =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ads-events.tsv"))
            .expect("read tests/fixtures/ads-events.tsv");

    run(
        &lmguard,
        &config,
        &["block"],
        Some(&events),
        "ADS hands its events to `lmguard block` on standard input",
    );
    run(&lmguard, &config, &["list"], None, "the operator's view");
    run(
        &lmguard,
        &config,
        &[
            "block",
            "198.51.100.0/24",
            "--duration",
            "2h",
            "--reason",
            "manual: brute force from this range",
        ],
        None,
        "a manual block of a network",
    );
    run(
        &lmguard,
        &config,
        &["unblock", "192.0.2.77"],
        None,
        "a false positive, removed by hand (and never re-added by sweep)",
    );

    println!("--- the LoadMaster goes down ---\n");
    lm.set_fault(Fault::Down);
    run(
        &lmguard,
        &config,
        &["block", "203.0.113.99"],
        None,
        "a block while the LoadMaster is unreachable is kept as pending (exit 3)",
    );
    lm.set_fault(Fault::None);
    println!("--- the LoadMaster is back ---\n");
    run(
        &lmguard,
        &config,
        &["sweep"],
        None,
        "cron's sweep applies what was pending",
    );
    run(
        &lmguard,
        &config,
        &["list", "--all"],
        None,
        "everything, history included",
    );
    run(
        &lmguard,
        &config,
        &["sweep", "--dry-run"],
        None,
        "a dry run prints the calls it would make",
    );

    println!("The fake LoadMaster's global block list now holds:");
    for entry in lm.entries(Scope::Global) {
        println!("  {:<18} {}", entry.addr, entry.comment);
    }
}

/// Build the real binary (same profile as this example) and return its path.
fn build_lmguard() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--bin", "lmguard"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "building lmguard failed");
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/examples/demo -> target/<profile>/lmguard
    exe.parent()
        .and_then(Path::parent)
        .map(|p| p.join("lmguard"))
        .expect("target directory")
}

fn write_config(dir: &Path, lm: &FakeLoadMaster) -> PathBuf {
    let pem = dir.join("loadmaster.pem");
    let key = dir.join("api-key");
    let config = dir.join("lm-mitigation.toml");
    std::fs::write(&pem, lm.ca_pem()).expect("write pem");
    std::fs::write(&key, format!("{}\n", fake_loadmaster::DEFAULT_API_KEY)).expect("write key");
    std::fs::write(
        &config,
        format!(
            "[loadmaster]\nurl = \"{}\"\napi_key_file = \"{}\"\nca_file = \"{}\"\ntimeout = \"2s\"\n\n\
             [block]\nduration = \"75h\"\n\n[state]\npath = \"{}\"\n",
            lm.url(),
            key.display(),
            pem.display(),
            dir.join("state.redb").display()
        ),
    )
    .expect("write config");
    config
}

fn run(lmguard: &Path, config: &Path, args: &[&str], stdin: Option<&[u8]>, what: &str) {
    println!("# {what}");
    println!(
        "$ lmguard {}{}",
        args.join(" "),
        if stdin.is_some() {
            " < ads-events.tsv"
        } else {
            ""
        }
    );
    let mut child = Command::new(lmguard)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run lmguard");
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        if let Some(bytes) = stdin {
            input.write_all(bytes).expect("write events");
        }
    }
    let status = child.wait().expect("wait for lmguard");
    println!("(exit {})\n", status.code().unwrap_or(-1));
}
