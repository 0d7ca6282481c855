//! What a run would send, printed instead of sent: a dry run, and the calls
//! `mode = "simulate"` withholds. How a call looks on the wire is the
//! enforcement point's to say ([`Describe`]); nothing here connects.

use crate::enforcement::Describe;

use super::Job;

/// How `job` looks on the wire.
fn describe(wire: &dyn Describe, job: &Job) -> String {
    wire.describe(job.call, job.scope, &job.address.to_string(), &job.comment)
}

/// Print what a dry run would send.
pub(crate) fn print_dry_run(wire: &dyn Describe, jobs: &[Job]) {
    for job in jobs {
        println!("would send: {}", describe(wire, job));
    }
    if jobs.is_empty() {
        println!("would send nothing to the LoadMaster");
    }
}

/// Print the calls `mode = "simulate"` keeps lmguard from making.
pub(crate) fn print_simulated(wire: &dyn Describe, jobs: &[Job]) {
    for job in jobs {
        println!(
            "simulate: not sent (mode = \"simulate\"): {}; the entry is left as it was",
            describe(wire, job)
        );
    }
}
