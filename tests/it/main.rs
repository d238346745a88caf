//! Integration tests, compiled into one binary. `common` holds the hermetic harness: every
//! test gets its own HOME, git identity, fixed clock and random seed, so output is stable.

mod common;

mod bad_inputs;
mod browser;
mod cli_backup;
mod cli_basics;
mod cli_bundle;
mod cli_cloud_serve;
mod cli_config_audit;
mod cli_docs;
mod cli_evolution;
mod cli_generation;
mod cli_promote;
mod cli_run;
mod cloud_client;
mod dev;
pub mod server;
mod sync;
