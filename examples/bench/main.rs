//! `bench/run` (= `cargo run --release --example bench`): lmguard's
//! benchmarks (issue 7). A fake LoadMaster serves HTTPS on 127.0.0.1 in this
//! process; the real `lmguard` binary (the one built beside this example) is
//! timed against it, each figure the median of several runs, next to a
//! floor: the same requests made by `curl`, by a minimal Rust TLS client
//! process, or by one keep-alive ureq agent. Nothing leaves loopback.
//!
//! Scenario 10 (1 000 events against a fake with Kemp's rate limit, at
//! lmguard's default budget; about two minutes, mostly sleeping; 100 with
//! `--quick`) runs only when named: `--only 10`.
//!
//! Options: `--quick` (a tenth of the sizes), `--only 1,2,3,4,6,7,8,9,10` (some
//! scenarios), `--runs N` (runs per measurement), `--no-million` (skip the
//! 1 000 000-entry state), `--markdown PATH` (also write the table),
//! `--lmguard PATH` (the binary to time). Helper modes used as floors:
//! `--one-post URL CA BODY` (one POST from a cold process) and
//! `--keep-alive URL CA BODIES_FILE` (one keep-alive client process).
//!
//! Method, results and analysis: docs/benchmarks.md.
//!
//! `tests/bench_smoke.rs` includes this file as a module and runs every
//! scenario once at tiny sizes, so that the benchmark cannot rot.
//!
//! The modules, each using only those above it: `settings` (sizes and
//! shared helpers), `report` (figures, the table, the machine),
//! `workload` (addresses, events, request bodies), `floor` (the clients
//! lmguard is held against), `harness` (running lmguard against the fake)
//! and `scenarios` (what fills the report).

mod floor;
mod harness;
mod report;
mod scenarios;
mod settings;
mod workload;

use std::path::PathBuf;

use floor::{keep_alive_process, one_post};
use report::Res;
pub use scenarios::run_all;
pub use settings::Settings;

fn lmguard_beside_me() -> PathBuf {
    // target/<profile>/examples/bench -> target/<profile>/lmguard
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("lmguard")))
        .unwrap_or_else(|| PathBuf::from("lmguard"))
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let helper = match args.first().map(String::as_str) {
        Some("--one-post") => Some(one_post as fn(&[String]) -> Res<()>),
        Some("--keep-alive") => Some(keep_alive_process as fn(&[String]) -> Res<()>),
        _ => None,
    };
    if let Some(helper) = helper {
        return match helper(&args[1..]) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let mut settings = if args.iter().any(|a| a == "--quick") {
        Settings::quick(lmguard_beside_me())
    } else {
        Settings::full(lmguard_beside_me())
    };
    settings.self_exe = std::env::current_exe().ok();
    let mut markdown = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {}
            "--runs" => {
                let n: usize = it.next().and_then(|v| v.parse().ok()).unwrap_or(7).max(1);
                settings.runs = n;
                settings.heavy_runs = n;
                settings.huge_runs = n;
                settings.single_runs = (2 * n).max(3);
            }
            "--no-million" => settings.huge = None,
            "--only" => {
                settings.only = it
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|x| x.trim().parse().ok())
                    .collect();
            }
            "--markdown" => markdown = it.next().map(PathBuf::from),
            "--lmguard" => {
                if let Some(p) = it.next() {
                    settings.lmguard = PathBuf::from(p);
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: bench [--quick] [--runs N] [--no-million] [--only 1,2,3,4,6,7,8,9,10] [--markdown PATH] [--lmguard PATH]"
                );
                return std::process::ExitCode::SUCCESS;
            }
            other => {
                eprintln!("bench: unknown argument {other}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    if !settings.lmguard.exists() {
        eprintln!(
            "bench: {} not found; build it first: cargo build --release --bin lmguard",
            settings.lmguard.display()
        );
        return std::process::ExitCode::from(2);
    }
    if cfg!(debug_assertions) {
        eprintln!("bench: warning: this is a debug build of the driver; use bench/run (release)");
    }
    match run_all(&settings) {
        Ok(report) => {
            let table = report.table();
            println!("{table}");
            if let Some(p) = markdown {
                if let Err(e) = std::fs::write(&p, &table) {
                    eprintln!("bench: cannot write {}: {e}", p.display());
                }
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
