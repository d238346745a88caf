//! Gryt Cloud server tests: a real server in-process on 127.0.0.1:0, a real SQLite file in a
//! temp dir, real HTTP. No mocks of our own server.
#![cfg(feature = "server")]

mod accounts;
mod backup;
mod cross_team;
mod digest;
mod errors;
mod feed;
pub mod harness;
mod identity;
mod import;
mod openapi;
mod paging;
mod processes;
mod promote;
mod publish;
mod push;
pub mod races;
mod restart;
mod serve;
mod status;
mod teams;
mod web;
pub mod webhooks;
mod wire_types;
