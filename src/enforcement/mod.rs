//! The enforcement point: the device whose block lists lmguard keeps in
//! step with what it records. The executor talks to it through
//! [`EnforcementPoint`]; the Kemp LoadMaster client ([`crate::loadmaster`])
//! is its one implementation ([`kemp`]), and what that firmware needs —
//! the spelling it wants for a host, the shapes of its answers, its error
//! answers — stays there.
//!
//! A dry run and `mode = "simulate"` send nothing and open no connection:
//! they ask a [`Describe`] how each call would look on the wire
//! ([`KempWire`], built from the client settings alone).
//!
//! The protocol around the calls is not the device's: recording as pending
//! before a call, settling a refused add by reading the list, deleting only
//! what the ownership rule says is lmguard's (see [`crate::executor`]).

mod kemp;

pub(crate) use kemp::{delete_spelling, spelled, KempWire};

use crate::domain::address::Address;
use crate::domain::entry::{Call, Scope};
use crate::domain::health::Health;
use crate::loadmaster::{Failure, ListedEntry};

/// How a device's calls look on the wire, told without connecting to it:
/// what a dry run or `mode = "simulate"` prints instead of sending.
pub(crate) trait Describe {
    /// `call` of `address` (spelled as given) on `scope`'s list; `comment`
    /// is what an add marks the entry with.
    fn describe(&self, call: Call, scope: Scope, address: &str, comment: &str) -> String;

    /// How the device wants `address` written when it is added (Kemp: an
    /// IPv6 host with an explicit `/128`); as lmguard writes it unless the
    /// device says otherwise.
    fn spelling(&self, address: &Address) -> String {
        address.to_string()
    }
}

/// A device with one block list per scope.
pub(crate) trait EnforcementPoint: Describe + Sync {
    /// Put `address`, spelled as given, on `scope`'s list, marked with
    /// `comment`.
    fn add(&self, scope: Scope, address: &str, comment: &str) -> Result<(), Failure>;

    /// Take the entry spelled `address` (as the list shows it) off
    /// `scope`'s list (the device may write it as it needs: Kemp never
    /// sends an IPv6 host bare).
    fn delete(&self, scope: Scope, address: &str) -> Result<(), Failure>;

    /// Read `scope`'s list.
    fn list(&self, scope: Scope) -> Result<Vec<ListedEntry>, Failure>;

    /// The spelling to retry a refused add of `address` with, when the
    /// refusal says the device wants it written another way (`None`: a
    /// refusal to take as it is).
    fn respell(&self, address: &Address, refusal: &Failure) -> Option<String>;

    /// Whether `refusal` of an add says the device refuses the address
    /// itself. Asked only when the refusal cannot be anything else the
    /// executor knows of: the scope's list reads (the scope exists) and
    /// does not hold the address (not a duplicate), and no other spelling
    /// is left to try. `true` makes the entry `rejected`; `false` leaves it
    /// pending for `sweep` (the default: nothing is given up on a guess).
    fn refuses_address(&self, refusal: &Failure) -> bool {
        let _ = refusal;
        false
    }

    /// When the device last answered and last failed, for `stats`.
    fn heard(&self) -> Health;
}
