//! What a run would send, printed instead of sent: a dry run, and the calls
//! `mode = "simulate"` withholds.

use super::Job;

/// Print what a dry run would send.
pub(crate) fn print_dry_run(client_endpoint: &str, jobs: &[Job]) {
    for job in jobs {
        let body = serde_json::Value::Object(job.request().body());
        println!("would send: POST {client_endpoint} {body}");
    }
    if jobs.is_empty() {
        println!("would send nothing to the LoadMaster");
    }
}

/// Print the calls `mode = "simulate"` keeps lmguard from making.
pub(crate) fn print_simulated(client_endpoint: &str, jobs: &[Job]) {
    for job in jobs {
        let body = serde_json::Value::Object(job.request().body());
        println!(
            "simulate: not sent (mode = \"simulate\"): POST {client_endpoint} {body}; the entry \
             is left as it was"
        );
    }
}
