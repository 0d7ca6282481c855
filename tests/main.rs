//! The end-to-end tests, as one test binary (one link instead of one per
//! file): each module runs the real `lmguard` binary against the fake
//! LoadMaster; `common` holds their shared helpers.

mod common;

mod bench_smoke;
mod block;
mod bulk_unblock;
mod check;
mod completions;
mod contrib;
mod crash;
mod demo;
mod faults;
mod guardrails;
mod help;
mod lifecycle;
mod list_view;
mod man_page;
mod operator;
mod parser_fuzz;
mod probe;
mod promises;
mod retention;
mod rsyslog;
mod security;
mod several;
mod state_migration;
mod stats;
mod stream;
mod sync;
mod version;
