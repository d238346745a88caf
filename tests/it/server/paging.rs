//! Paging edges of the changes feed: empty, one, exactly one page, page ± 1, several pages —
//! exact counts, seq order, no gaps, no duplicates; and the server's cap on `limit`.

use gryt::server::ServerConfig;
use serde_json::Value;

use super::harness::*;

const LIMIT: u32 = 5;

fn fill(c: &Client, p: &str, n: usize) {
    let mut head = c.head(p);
    let mut i = 0;
    while i < n {
        let batch: Vec<Value> = (i..n.min(i + 3))
            .map(|k| {
                generation(gen_record(
                    &uid(k as u128 + 1),
                    &format!("1.{k}.0"),
                    &["A-1"],
                ))
            })
            .collect();
        i += batch.len();
        head = c.push(p, head, batch).ok()["head"].as_u64().unwrap();
    }
}

fn check(n: usize) {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    fill(&ann, &p, n);
    let (records, pages) = ann.pull_all(&p, LIMIT);
    assert_eq!(records.len(), n, "n={n}");
    let seqs: Vec<u64> = records
        .iter()
        .map(|r| r["record"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=n as u64).collect::<Vec<_>>(),
        "n={n}: every seq once, in order"
    );
    let expected_pages = n.div_ceil(LIMIT as usize).max(1);
    assert_eq!(pages, expected_pages, "n={n}");

    // Page by page: `more` is true exactly when records remain; an empty tail page says so.
    let mut since = 0;
    for page_no in 0..expected_pages {
        let r = ann.get(&format!(
            "/v1/projects/{p}/changes?since={since}&limit={LIMIT}"
        ));
        let page = r.ok();
        let len = page["records"].as_array().unwrap().len();
        let remaining = n - page_no * LIMIT as usize;
        assert_eq!(len, remaining.min(LIMIT as usize), "n={n} page={page_no}");
        assert_eq!(
            page["more"],
            remaining > LIMIT as usize,
            "n={n} page={page_no}"
        );
        assert_eq!(page["head"], n as u64);
        since = page["next"].as_u64().unwrap();
    }
    let tail = ann.get(&format!(
        "/v1/projects/{p}/changes?since={since}&limit={LIMIT}"
    ));
    assert_eq!(tail.ok()["records"].as_array().unwrap().len(), 0);
    assert_eq!(
        (tail.json["next"].as_u64(), tail.json["more"].as_bool()),
        (Some(n as u64), Some(false))
    );
}

#[test]
fn empty() {
    check(0);
}

#[test]
fn one() {
    check(1);
}

#[test]
fn page_minus_one_exact_and_plus_one() {
    check(LIMIT as usize - 1);
    check(LIMIT as usize);
    check(LIMIT as usize + 1);
}

#[test]
fn several_pages() {
    check(3 * LIMIT as usize + 2);
    check(4 * LIMIT as usize);
}

#[test]
fn limit_is_capped_by_the_server_and_bad_queries_are_json() {
    let s = TestServer::start_with(ServerConfig {
        page_limit: 7,
        ..ServerConfig::default()
    });
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    fill(&ann, &p, 10);
    let r = ann.get(&format!("/v1/projects/{p}/changes?since=0&limit=100000"));
    assert_eq!(r.ok()["records"].as_array().unwrap().len(), 7);
    assert_eq!(r.json["more"], true);
    let r = ann.get(&format!("/v1/projects/{p}/changes"));
    assert_eq!(
        r.ok()["records"].as_array().unwrap().len(),
        7,
        "default = cap"
    );
    let r = ann.get(&format!("/v1/projects/{p}/changes?since=3&limit=0"));
    assert_eq!(r.ok()["records"][0]["record"]["seq"], 4);
    ann.get(&format!("/v1/projects/{p}/changes?since=-1"))
        .expect_error(422, "validation");
    ann.get(&format!("/v1/projects/{p}/changes?limit=lots"))
        .expect_error(422, "validation");
}
