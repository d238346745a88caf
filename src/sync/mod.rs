//! The client side of Gryt Cloud (DESIGN §4): the HTTP client and credentials, and the sync
//! engine — a pure planner (local state + remote changes → operations) and an executor that
//! applies a plan in one transaction. Depends on `api`, `store`, `domain`, `workspace`; never
//! on `server`.

pub mod client;
pub mod credentials;
pub mod planner;
pub mod remote;
