//! `gryt cloud …` through the real binary against a real server on 127.0.0.1:0, one HOME per
//! developer, and the HTTP client against fake servers that misbehave. Every command runs
//! with `GRYT_KEYRING=off` (never a real keyring) and no retries (failures are fast).
#![cfg(feature = "server")]

mod accounts;
mod failures;
mod lost_answer;
mod teams;
mod webhooks;

pub use crate::dev::Dev;
