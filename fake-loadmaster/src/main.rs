//! `fake-loadmaster`: runs the fake LoadMaster for benchmark scripts and demos.
//!
//! Prints `url=https://127.0.0.1:PORT` on stdout, then serves until stdin
//! reaches EOF (or, with `--serve-forever`, until killed).

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use fake_loadmaster::{CertKind, FakeLoadMaster, Fault, Options};

const USAGE: &str = "\
usage: fake-loadmaster [--port N] [--api-key-file PATH] [--cert-out PATH]
                       [--ca-signed] [--delay-ms N] [--rate-limit N/MS] [--no-record]
                       [--serve-forever]

  --port N            listen on 127.0.0.1:N (default 0 = ephemeral)
  --api-key-file PATH the valid API key is the (trimmed) content of PATH
                      (default test-api-key-0123456789)
  --cert-out PATH     write the PEM a client must trust (CA or self-signed leaf)
  --ca-signed         a generated CA signs the server certificate
  --delay-ms N        sleep N ms before answering each request
  --rate-limit N/MS   drop the connection of a call that arrives when N calls
                      were answered in the last MS milliseconds (Kemp: 30/3000)
  --no-record         do not keep requests in memory (long benchmarks)
  --serve-forever     ignore stdin; serve until killed
Prints url=https://127.0.0.1:PORT, then serves until stdin reaches EOF.";

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, String> {
    args.next().ok_or_else(|| format!("{flag} needs a value"))
}

fn run() -> Result<(), String> {
    let mut options = Options::default();
    let mut cert_out = None;
    let mut forever = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let v = value(&mut args, &arg)?;
                options.port = v.parse().map_err(|_| format!("invalid port: {v}"))?;
            }
            "--api-key-file" => {
                let path = value(&mut args, &arg)?;
                let key = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                options.api_key = key.trim().to_string();
            }
            "--cert-out" => cert_out = Some(value(&mut args, &arg)?),
            "--ca-signed" => options.cert = CertKind::CaSigned,
            "--delay-ms" => {
                let v = value(&mut args, &arg)?;
                let ms: u64 = v.parse().map_err(|_| format!("invalid delay: {v}"))?;
                options.switches.fault = Fault::Delay(Duration::from_millis(ms));
            }
            "--rate-limit" => {
                let v = value(&mut args, &arg)?;
                let bad = || format!("invalid rate limit: {v} (N/MS, e.g. 30/3000)");
                let (n, ms) = v.split_once('/').ok_or_else(bad)?;
                options.switches.rate_limit = Some(fake_loadmaster::RateLimit {
                    calls: n.parse().map_err(|_| bad())?,
                    window: Duration::from_millis(ms.parse().map_err(|_| bad())?),
                });
            }
            "--no-record" => options.record_requests = false,
            "--serve-forever" => forever = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument: {other}\n{USAGE}")),
        }
    }

    let lm = FakeLoadMaster::start(options).map_err(|e| format!("cannot start: {e}"))?;
    if let Some(path) = cert_out {
        std::fs::write(&path, lm.ca_pem()).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    let mut out = io::stdout();
    writeln!(out, "url={}", lm.url()).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;

    if forever {
        loop {
            std::thread::park();
        }
    }
    // Serve until stdin reaches EOF (or errors).
    let mut buf = [0u8; 1024];
    let mut stdin = io::stdin().lock();
    while let Ok(n) = stdin.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    drop(lm);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-loadmaster: {e}");
            ExitCode::from(2)
        }
    }
}
