//! A token of team A against every endpoint of team B: no data, no change, and the same
//! answer as for a team/project that does not exist.

use serde_json::{Value, json};

use super::harness::*;

/// Every project- and team-scoped request, for a `TEAM/PROJECT`.
fn attempts(c: &Client, team: &str, project: &str) -> Vec<Resp> {
    let p = format!("{team}/{project}");
    let g = uid(1);
    vec![
        c.get(&format!("/v1/projects/{p}")),
        c.get(&format!("/v1/projects/{p}/changes?since=0")),
        c.push(
            &p,
            2,
            vec![generation(gen_record(&uid(9), "9.0.0", &["X-1"]))],
        ),
        c.push(
            &p,
            2,
            vec![rec(
                "generation",
                Some(1),
                gen_record(&g, "1.0.0", &["X-1"]),
            )],
        ),
        c.post(
            &format!("/v1/projects/{p}/generations/{g}/promote"),
            json!({"base_seq": 2, "revision": 1}),
        ),
        c.delete(&format!("/v1/projects/{p}/generations/{g}")),
        c.get(&format!("/v1/projects/{p}/generations/1.0.0/status")),
        c.get(&format!("/v1/teams/{team}/members")),
        c.post(
            &format!("/v1/teams/{team}/members"),
            json!({"username": "eve"}),
        ),
        c.delete(&format!("/v1/teams/{team}/members/bea")),
        c.get(&format!("/v1/teams/{team}/projects")),
        c.post(
            &format!("/v1/teams/{team}/projects"),
            json!({"name": "evil"}),
        ),
    ]
}

/// The answer with the names asked for replaced by `TEAM` and `PROJECT` (in the message and
/// in `details`, which names what was not found).
fn normalized(r: &Resp, team: &str, project: &str) -> Value {
    let names = |s: &str| s.replace(team, "TEAM").replace(project, "PROJECT");
    let msg = names(r.json["message"].as_str().unwrap_or(""));
    let details: Value = serde_json::from_str(&names(&r.json["details"].to_string())).unwrap();
    json!({"status": r.status, "error": r.json["error"], "message": msg, "details": details})
}

#[test]
fn another_teams_project_looks_missing_and_stays_untouched() {
    let s = TestServer::start();
    let bea = s.user("bea");
    let beta = bea.project("beta", "web");
    bea.push(
        &beta,
        0,
        vec![
            generation(gen_record(&uid(1), "1.0.0", &["X-1"])),
            evolution(evo_record(
                &uid(2),
                &uid(1),
                "X-1",
                1,
                &code_name(2),
                "pass",
            )),
        ],
    )
    .ok();
    let before = bea.pull_all(&beta, 1000).0;
    let members_before = bea.get("/v1/teams/beta/members").json;

    let eve = s.user("eve");
    eve.project("alpha", "web");
    let foreign = attempts(&eve, "beta", "web");
    let missing = attempts(&eve, "zeta", "web");
    let missing_project = attempts(&eve, "alpha", "nope");
    for (i, ((f, m), mp)) in foreign
        .iter()
        .zip(&missing)
        .zip(&missing_project)
        .enumerate()
    {
        assert_eq!(f.status, 404, "attempt {i}: {}", f.json);
        assert_eq!(f.code(), "not_found", "attempt {i}");
        assert_eq!(
            f.header("x-gryt-head"),
            None,
            "attempt {i}: no head of a hidden project"
        );
        assert_eq!(
            normalized(f, "beta", "web"),
            normalized(m, "zeta", "web"),
            "attempt {i}"
        );
        if i < 7 {
            assert_eq!(
                normalized(f, "beta", "web"),
                normalized(mp, "alpha", "nope"),
                "attempt {i}"
            );
        }
    }
    // Nothing changed, nothing leaked.
    assert_eq!(bea.pull_all(&beta, 1000).0, before);
    assert_eq!(bea.get("/v1/teams/beta/members").json, members_before);
    assert_eq!(
        bea.get("/v1/teams/beta/projects")
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(bea.head(&beta), 2);
    let eve_teams = eve.get("/v1/teams");
    assert_eq!(eve_teams.ok().as_array().unwrap().len(), 1);
}
