//! The digest: the server's bucket hashes equal what a client computes from the records it
//! pulled (crate::api::digest is shared), a matching project is verified in one request, and
//! a difference is found by listing one bucket, page by page.

use gryt::api::Record;
use gryt::api::digest::{self, BucketDigest, DigestEntry};
use serde_json::{Value, json};

use super::harness::*;

/// Pushes `n` generations, each with one passing evolution and a pipeline run.
fn fill(c: &Client, p: &str, n: u128) {
    let mut records = Vec::new();
    for i in 0..n {
        let g = uid(1_000 + i);
        let e = uid(2_000 + i);
        records.push(generation(gen_record(&g, &format!("1.{i}.0"), &["A-1"])));
        records.push(evolution(evo_record(
            &e,
            &g,
            "A-1",
            1,
            &code_name(i as u64),
            "pass",
        )));
        records.push(rec(
            "pipeline_run",
            None,
            run_record(&uid(3_000 + i), Some(&e)),
        ));
    }
    let head = c.head(p);
    c.push(p, head, records).ok();
}

/// What a client holding exactly the pulled records computes.
fn local_entries(c: &Client, p: &str) -> Vec<DigestEntry> {
    let (records, _) = c.pull_all(p, 1000);
    records
        .into_iter()
        .map(|r| serde_json::from_value::<Record>(r).unwrap())
        .filter_map(|r| digest::entry(&r))
        .collect()
}

fn server_buckets(c: &Client, p: &str, bits: u8) -> (Value, Vec<BucketDigest>) {
    let answer = c
        .get(&format!("/v1/projects/{p}/digest?bits={bits}"))
        .ok()
        .clone();
    let buckets = serde_json::from_value(answer["buckets"].clone()).unwrap();
    (answer, buckets)
}

#[test]
fn the_server_digest_equals_the_one_a_client_computes() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    fill(&ann, &p, 30);
    // A promotion and a deletion: the promoted generation counts, tombstones do not.
    ann.post(
        &format!("/v1/projects/{p}/generations/{}/promote", uid(1_000)),
        json!({"base_seq": 90, "revision": 1}),
    )
    .ok();
    ann.push(
        &p,
        91,
        vec![generation(gen_record(&uid(9), "9.0.0", &["A-1"]))],
    )
    .ok();
    ann.delete(&format!("/v1/projects/{p}/generations/{}", uid(9)))
        .ok();

    let local = local_entries(&ann, &p);
    assert_eq!(local.len(), 90);
    for bits in [0u8, 4, 8, 12] {
        let (answer, buckets) = server_buckets(&ann, &p, bits);
        assert_eq!(buckets.len(), 1 << bits);
        assert_eq!(buckets, digest::buckets(&local, bits), "bits={bits}");
        assert_eq!(answer["count"], 90);
        assert_eq!(answer["head"], ann.head(&p));
        assert!(answer["project_id"].is_string() && answer["history_id"].is_string());
    }
    let default = ann.get(&format!("/v1/projects/{p}/digest")).ok().clone();
    assert_eq!(default["bits"], digest::DEFAULT_BITS);
}

#[test]
fn a_difference_is_found_in_its_bucket_and_listed_page_by_page() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    fill(&ann, &p, 40);
    let mut local = local_entries(&ann, &p);
    let bits = 2;
    // The client's copy of one evolution is at another revision.
    let changed = local
        .iter()
        .position(|e| e.id.to_string() == uid(2_007))
        .unwrap();
    local[changed].revision += 1;
    let (_, server) = server_buckets(&ann, &p, bits);
    let differing: Vec<u32> = server
        .iter()
        .zip(digest::buckets(&local, bits))
        .filter(|(a, b)| a.hash != b.hash)
        .map(|(a, _)| a.bucket)
        .collect();
    let want = digest::bucket_of_slot(digest::slot(&local[changed].id), bits);
    assert_eq!(differing, vec![want]);

    // List that bucket with pages of 7 (and of its exact size): same entries, id order.
    let count = server[want as usize].count as usize;
    for limit in [7, count, count + 1] {
        let mut after: Option<String> = None;
        let mut listed: Vec<DigestEntry> = Vec::new();
        let mut pages = 0;
        loop {
            let mut url =
                format!("/v1/projects/{p}/digest?bits={bits}&bucket={want}&limit={limit}");
            if let Some(a) = &after {
                url.push_str(&format!("&after={a}"));
            }
            let page = ann.get(&url).ok().clone();
            pages += 1;
            let entries: Vec<DigestEntry> =
                serde_json::from_value(page["entries"].clone()).unwrap();
            assert!(entries.len() <= limit);
            after = entries.last().map(|e| e.id.to_string());
            listed.extend(entries);
            if !page["more"].as_bool().unwrap() {
                break;
            }
        }
        assert_eq!(pages, count.div_ceil(limit).max(1), "limit {limit}");
        let mut expected: Vec<DigestEntry> = local_entries(&ann, &p)
            .into_iter()
            .filter(|e| digest::bucket_of_slot(digest::slot(&e.id), bits) == want)
            .collect();
        expected.sort_by_key(|e| e.id);
        assert_eq!(listed, expected);
        assert!(listed.iter().any(|e| e.id == local[changed].id));
    }
}

#[test]
fn an_empty_project_and_bad_queries() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let (answer, buckets) = server_buckets(&ann, &p, 1);
    assert_eq!(answer["count"], 0);
    assert_eq!(buckets, digest::buckets(&[], 1));
    let empty = ann
        .get(&format!("/v1/projects/{p}/digest?bits=1&bucket=1"))
        .ok()
        .clone();
    assert_eq!(
        (empty["entries"].clone(), empty["more"].clone()),
        (json!([]), json!(false))
    );

    for query in [
        "bits=13",
        "bits=2&bucket=4",
        "limit=5",
        "bits=x",
        "bucket=0&after=nope",
    ] {
        ann.get(&format!("/v1/projects/{p}/digest?{query}"))
            .expect_error(422, "validation");
    }
    let bob = s.user("bob");
    bob.get(&format!("/v1/projects/{p}/digest"))
        .expect_error(404, "not_found");
}
