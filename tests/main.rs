//! The end-to-end tests, as one test binary (one link instead of one per
//! file): each module runs the real `lmguard` binary against the fake
//! LoadMaster; `common` holds their shared helpers.

mod common;

mod bench_smoke;
mod block;
mod bulk_unblock;
mod check;
mod compact_state;
mod completions;
mod contrib;
mod crash;
mod damaged_state;
mod demo;
mod dialect;
mod docs;
mod faults;
mod guardrails;
mod help;
mod lifecycle;
mod list_view;
mod man_page;
mod operator;
mod operator_word;
mod parser_fuzz;
mod planted_links;
mod probe;
mod promises;
mod rate;
mod retention;
mod rsyslog;
mod security;
mod several;
mod state_format4;
mod state_migration;
mod state_owner;
mod stats;
mod stream;
mod sync;
mod version;
