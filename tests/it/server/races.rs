//! Races: 16 threads at once, each scenario repeated 20 times. The server must pick exactly
//! one winner and lose nothing. Each scenario takes the clients to race through — one server
//! here; several `gryt cloud serve` processes on one PostgreSQL database in `processes.rs`
//! (thread `t` goes through `clients[t % len]`).

use std::sync::{Arc, Barrier};

use serde_json::json;

use super::harness::*;

const THREADS: usize = 16;
const ROUNDS: usize = 20;

/// Runs `f(thread)` on THREADS threads released together; returns their answers.
fn together<F>(f: F) -> Vec<Resp>
where
    F: Fn(usize) -> Resp + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (f, barrier) = (Arc::clone(&f), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                f(t)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect()
}

fn count(rs: &[Resp], code: &str) -> usize {
    rs.iter().filter(|r| r.code() == code).count()
}

fn ok(rs: &[Resp]) -> usize {
    rs.iter().filter(|r| r.status == 200).count()
}

#[test]
fn conflicting_pushes_from_one_base_accept_exactly_one() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    conflicting_pushes(&[ann], &p);
}

/// Every thread pushes a new version on the same base: exactly one is accepted per round.
pub fn conflicting_pushes(clients: &[Client], p: &str) {
    let ann = &clients[0];
    let mut total = 0u64;
    for round in 0..ROUNDS {
        let base = ann.head(p);
        let (cs, pp) = (clients.to_vec(), p.to_string());
        let rs = together(move |t| {
            let n = (round * THREADS + t) as u128 + 1;
            cs[t % cs.len()].push(
                &pp,
                base,
                vec![generation(gen_record(
                    &uid(n),
                    &format!("{round}.{t}.0"),
                    &["A-1"],
                ))],
            )
        });
        assert_eq!(
            ok(&rs),
            1,
            "round {round}: {:?}",
            rs.iter().map(|r| r.code().to_string()).collect::<Vec<_>>()
        );
        assert_eq!(count(&rs, "behind"), THREADS - 1, "round {round}");
        let winner = rs.iter().find(|r| r.status == 200).unwrap();
        assert_eq!(winner.json["head"], base + 1);
        total += 1;
        assert_eq!(ann.head(p), total);
    }
    // No lost update: every accepted record is in the feed, once.
    let (feed, _) = ann.pull_all(p, 1000);
    assert_eq!(feed.len() as u64, total);
}

#[test]
fn the_same_version_is_created_exactly_once() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    same_version(&[ann], &p);
}

/// Every thread creates the same version (pulling and retrying on `behind`): one wins.
pub fn same_version(clients: &[Client], p: &str) {
    let ann = &clients[0];
    for round in 0..ROUNDS {
        let (cs, pp) = (clients.to_vec(), p.to_string());
        let version = format!("{round}.0.0");
        let rs = together(move |t| {
            let c = &cs[t % cs.len()];
            let n = (round * THREADS + t) as u128 + 1;
            // Pull-and-retry on `behind`, so each thread really competes for the version.
            loop {
                let base = c.head(&pp);
                let r = c.push(
                    &pp,
                    base,
                    vec![generation(gen_record(&uid(n), &version, &["A-1"]))],
                );
                if r.code() != "behind" {
                    return r;
                }
            }
        });
        let codes: Vec<String> = rs
            .iter()
            .map(|r| format!("{} {}", r.status, r.json))
            .collect();
        assert_eq!(ok(&rs), 1, "round {round}: {codes:#?}");
        assert_eq!(
            count(&rs, "version_exists"),
            THREADS - 1,
            "round {round}: {codes:#?}"
        );
    }
    let (feed, _) = ann.pull_all(p, 1000);
    assert_eq!(feed.len(), ROUNDS);
}

#[test]
fn concurrent_promotions_have_one_winner() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    promotions(&[ann], &p);
}

/// Every thread promotes the same proven generation: one wins, the others are told.
pub fn promotions(clients: &[Client], p: &str) {
    let ann = &clients[0];
    for round in 0..ROUNDS {
        let g = uid(1000 + round as u128);
        let base = ann.head(p);
        ann.push(
            p,
            base,
            vec![
                generation(gen_record(&g, &format!("{round}.0.0"), &["A-1"])),
                evolution(evo_record(
                    &uid(5000 + round as u128),
                    &g,
                    "A-1",
                    1,
                    &code_name(round as u64),
                    "pass",
                )),
            ],
        )
        .ok();
        let (cs, pp, gg) = (clients.to_vec(), p.to_string(), g.clone());
        let rs = together(move |t| {
            cs[t % cs.len()].post(
                &format!("/v1/projects/{pp}/generations/{gg}/promote"),
                json!({"base_seq": base + 2, "revision": 1}),
            )
        });
        assert_eq!(ok(&rs), 1, "round {round}");
        assert_eq!(count(&rs, "already_promoted"), THREADS - 1, "round {round}");
        assert_eq!(ann.head(p), base + 3);
    }
}
