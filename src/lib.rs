//! gryt — contract-driven releases: a *generation* is a release contract, an *evolution*
//! proves one change, *promotion* turns a proven generation into an immutable release. Teams
//! share release state through Gryt Cloud (`server`), which gryt also ships.
//!
//! Dependencies point one way (docs/ARCHITECTURE.md draws the layers):
//! - `cli` → (`ops`, `sync`, `workspace`, `store`, `contract`, `pipeline`, `domain`, `api`);
//! - `ops` → (`workspace`, `store`, `contract`, `pipeline`, `domain`, `git`);
//! - `sync` (client, credentials, planner, engine) → (`api`, `ops`, `workspace`, `store`,
//!   `contract`, `domain`);
//! - `server` (feature `server`) → (`api`, `domain`) only: the client never touches it;
//! - `gryt_ci` (reading a gryt-ci workspace for import) → (`api`, `domain`);
//! - `api` (wire types) → (`domain`, `contract`); `domain` does no I/O.

pub mod api;
pub mod bundle;
pub mod cli;
pub mod clock;
pub mod contract;
pub mod domain;
pub mod git;
pub mod gryt_ci;
pub mod ops;
pub mod pipeline;
#[cfg(feature = "server")]
pub mod server;
pub mod store;
pub mod sync;
pub mod workspace;
