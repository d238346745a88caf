//! Identity: every project answer names the project (an immutable id) and the server's
//! history (an id that changes only when the history is rewound by a restore).

use gryt::server::ServerConfig;
use serde_json::{Value, json};

use super::harness::*;

fn ids(v: &Value) -> (String, String) {
    let id = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .to_string()
    };
    (id("project_id"), id("history_id"))
}

#[test]
fn every_project_answer_names_the_project_and_the_history() {
    let temp = tempfile::tempdir().unwrap();
    let mut s = TestServer::start_in(temp.path(), ServerConfig::default());
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let info = ann.get(&format!("/v1/projects/{p}")).ok().clone();
    let (project_id, history_id) = ids(&info);
    uuid::Uuid::parse_str(&project_id).unwrap();
    uuid::Uuid::parse_str(&history_id).unwrap();

    let listed = ann.get("/v1/teams/acme/projects").ok().clone();
    assert_eq!(listed[0]["project_id"], json!(project_id));

    let pushed = ann
        .push(
            &p,
            0,
            vec![
                generation(gen_record(&uid(1), "1.0.0", &["A-1"])),
                generation(gen_record(&uid(2), "2.0.0", &["A-1"])),
                evolution(evo_record(
                    &uid(3),
                    &uid(1),
                    "A-1",
                    1,
                    &code_name(1),
                    "pass",
                )),
            ],
        )
        .ok()
        .clone();
    let changes = ann
        .get(&format!("/v1/projects/{p}/changes?since=0"))
        .ok()
        .clone();
    let promoted = ann
        .post(
            &format!("/v1/projects/{p}/generations/{}/promote", uid(1)),
            json!({"base_seq": 3, "revision": 1}),
        )
        .ok()
        .clone();
    let deleted = ann
        .delete(&format!("/v1/projects/{p}/generations/{}", uid(2)))
        .ok()
        .clone();
    for answer in [&pushed, &changes, &promoted, &deleted] {
        assert_eq!(ids(answer), (project_id.clone(), history_id.clone()));
    }
    // Typed clients read them too.
    let page: gryt::api::ChangesPage = serde_json::from_value(changes).unwrap();
    assert_eq!(
        page.project_id.map(|u| u.to_string()),
        Some(project_id.clone())
    );

    // Another project has another id, under the same history.
    let other = ann.project("acme", "api");
    let (other_id, other_history) = ids(ann.get(&format!("/v1/projects/{other}")).ok());
    assert_ne!(other_id, project_id);
    assert_eq!(other_history, history_id);

    // Neither changes when the server restarts.
    s.stop();
    let s = TestServer::start_in(temp.path(), ServerConfig::default());
    let ann = s.client().login("ann");
    assert_eq!(
        ids(ann.get(&format!("/v1/projects/{p}")).ok()),
        (project_id, history_id)
    );
}

/// A replayed push answer names the current history, not the one it was stored under.
#[test]
fn a_replayed_push_carries_the_ids() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let records = vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))];
    let first = ann.push_keyed(&p, 0, "key-1", records.clone()).ok().clone();
    let again = ann.push_keyed(&p, 0, "key-1", records).ok().clone();
    assert_eq!(again["replayed"], true);
    assert_eq!(ids(&again), ids(&first));
}
