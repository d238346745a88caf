//! gryt — contract-driven releases. See DESIGN in the README: a *generation* is a release
//! contract, an *evolution* proves one change, *promotion* turns a proven generation into an
//! immutable release.
//!
//! Dependencies point one way: `cli` → (`ops`, `workspace`, `store`, `contract`, `pipeline`,
//! `domain`); `ops` → (`workspace`, `store`, `contract`, `pipeline`, `domain`). `domain` does
//! no I/O.

pub mod api;
pub mod cli;
pub mod clock;
pub mod contract;
pub mod domain;
pub mod git;
pub mod ops;
pub mod pipeline;
#[cfg(feature = "server")]
pub mod server;
pub mod store;
pub mod sync;
pub mod workspace;
