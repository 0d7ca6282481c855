//! The benchmark driver (`examples/bench/`, run by `bench/run`) at tiny
//! sizes: every scenario runs once against the fake LoadMaster with the
//! debug binary, so that the benchmark code cannot rot. It asserts that the
//! runs complete and check out, never timings.

#[allow(dead_code)]
#[path = "../examples/bench/main.rs"]
mod bench;

use std::path::PathBuf;

#[test]
fn every_benchmark_scenario_runs() {
    let settings = bench::Settings::smoke(PathBuf::from(env!("CARGO_BIN_EXE_lmguard")));
    let report = bench::run_all(&settings).unwrap_or_else(|e| panic!("benchmark failed: {e}"));
    let table = report.table();
    for id in [
        "1", "2", "3", "4", "4j", "5", "6", "6o", "6M", "6Mb", "7", "7t", "8", "9", "10", "10d",
    ] {
        assert!(
            report.rows.iter().any(|r| r.id == id),
            "no row {id} in:\n{table}"
        );
    }
    for r in &report.rows {
        if let Some(x) = r.ratio {
            assert!(x.is_finite() && x > 0.0, "row {}: ratio {x}\n{table}", r.id);
        }
    }
}
