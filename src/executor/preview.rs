//! What a run would send, printed instead of sent: a dry run, and the calls
//! `mode = "simulate"` withholds.

use crate::domain::entry::Call;
use crate::loadmaster::Request;

use super::Job;

/// Print what a dry run would send.
pub(crate) fn print_dry_run(client_endpoint: &str, jobs: &[Job]) {
    for job in jobs {
        let body = serde_json::Value::Object(request(job).body());
        println!("would send: POST {client_endpoint} {body}");
    }
    if jobs.is_empty() {
        println!("would send nothing to the LoadMaster");
    }
}

/// Print the calls `mode = "simulate"` keeps lmguard from making.
pub(crate) fn print_simulated(client_endpoint: &str, jobs: &[Job]) {
    for job in jobs {
        let body = serde_json::Value::Object(request(job).body());
        println!(
            "simulate: not sent (mode = \"simulate\"): POST {client_endpoint} {body}; the entry \
             is left as it was"
        );
    }
}

/// The request a call is sent as.
fn request(job: &Job) -> Request {
    let addr = job.address.to_string();
    match job.call {
        Call::Add => Request::Add {
            scope: job.scope,
            addr,
            comment: job.comment.clone(),
        },
        Call::Delete => Request::Delete {
            scope: job.scope,
            addr,
        },
    }
}
