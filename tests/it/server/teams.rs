//! Teams, members, projects.

use serde_json::json;

use super::harness::TestServer;

#[test]
fn teams_members_and_projects() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let bob = s.user("bob");
    let r = ann.post("/v1/teams", json!({"name": "acme"}));
    assert_eq!(r.status, 201);
    assert_eq!(r.json["role"], "owner");
    ann.post("/v1/teams", json!({"name": "acme"}))
        .expect_error(409, "name_taken");
    bob.post("/v1/teams", json!({"name": "acme"}))
        .expect_error(409, "name_taken");
    ann.post("/v1/teams", json!({"name": "Acme Corp"}))
        .expect_error(422, "validation");

    // bob is not a member: the team does not exist for him.
    bob.get("/v1/teams/acme/members")
        .expect_error(404, "not_found");
    bob.get("/v1/teams/acme/projects")
        .expect_error(404, "not_found");
    assert_eq!(bob.get("/v1/teams").ok().as_array().unwrap().len(), 0);

    let r = ann.post("/v1/teams/acme/projects", json!({"name": "web"}));
    assert_eq!(r.status, 201);
    assert_eq!(
        (
            r.json["team"].as_str(),
            r.json["name"].as_str(),
            r.json["head"].as_u64()
        ),
        (Some("acme"), Some("web"), Some(0))
    );
    ann.post("/v1/teams/acme/projects", json!({"name": "web"}))
        .expect_error(409, "name_taken");
    ann.post("/v1/teams/acme/projects", json!({"name": "a/b"}))
        .expect_error(422, "validation");

    ann.post("/v1/teams/acme/members", json!({"username": "nobody"}))
        .expect_error(404, "not_found");
    let members = ann.post("/v1/teams/acme/members", json!({"username": "bob"}));
    assert_eq!(members.ok().as_array().unwrap().len(), 2);
    assert_eq!(bob.get("/v1/teams").ok()[0]["role"], "member");
    assert_eq!(bob.get("/v1/teams/acme/projects").ok()[0]["name"], "web");
    assert_eq!(bob.get("/v1/projects/acme/web").ok()["head"], 0);

    // Members can work but not manage.
    let carol = s.user("carol");
    bob.post("/v1/teams/acme/members", json!({"username": "carol"}))
        .expect_error(403, "forbidden");
    bob.post("/v1/teams/acme/projects", json!({"name": "api"}))
        .expect_error(403, "forbidden");
    bob.delete("/v1/teams/acme/members/ann")
        .expect_error(403, "forbidden");
    ann.delete("/v1/teams/acme/members/ann")
        .expect_error(422, "validation");

    ann.post(
        "/v1/teams/acme/members",
        json!({"username": "carol", "role": "owner"}),
    )
    .ok();
    assert_eq!(carol.delete("/v1/teams/acme/members/bob").status, 204);
    bob.get("/v1/projects/acme/web")
        .expect_error(404, "not_found");
    // Anyone may leave.
    assert_eq!(carol.delete("/v1/teams/acme/members/carol").status, 204);
    carol
        .get("/v1/teams/acme/members")
        .expect_error(404, "not_found");
    let members = ann.get("/v1/teams/acme/members");
    assert_eq!(members.ok(), &json!([{"username": "ann", "role": "owner"}]));
}
