//! What a run would send, printed instead of sent: a dry run, and the calls
//! `mode = "simulate"` withholds. How a call looks on the wire is the
//! enforcement point's to say ([`Describe`]); nothing here connects.

use crate::domain::loadmaster_name::LoadMasterName;
use crate::enforcement::Describe;

use super::Job;

/// How each LoadMaster's calls look on the wire.
pub(crate) type Wires<'a> = &'a dyn Fn(LoadMasterName) -> Box<dyn Describe>;

/// How `job` looks on the wire of its LoadMaster.
fn describe(wires: Wires<'_>, job: &Job) -> String {
    let wire = wires(job.loadmaster);
    // As the device wants it written (Kemp: an IPv6 host as `/128`, never
    // bare, which it would take as a /32 network). A delete is sent with
    // the spelling the list shows, which a preview cannot know; for
    // lmguard's own entry that is the spelling it added it with.
    let address = wire.spelling(&job.address);
    wire.describe(job.call, job.scope, &address, &job.comment)
}

/// Print what a dry run would send.
pub(crate) fn print_dry_run(wires: Wires<'_>, jobs: &[Job]) {
    for job in jobs {
        println!("would send: {}", describe(wires, job));
    }
    if jobs.is_empty() {
        println!("would send nothing to the LoadMaster");
    }
}

/// Print the calls `mode = "simulate"` keeps lmguard from making.
pub(crate) fn print_simulated(wires: Wires<'_>, jobs: &[Job]) {
    for job in jobs {
        println!(
            "simulate: not sent (mode = \"simulate\"): {}; the entry is left as it was",
            describe(wires, job)
        );
    }
}
