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
        json!({"username": "ann", "role": "member"}),
    )
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

/// Team names are one namespace for the whole server (like GitHub's organisations): a taken
/// name is `name_taken` for anyone, member or not, with the same answer, and tells nothing
/// else — the team's members and projects stay `not_found` to outsiders.
#[test]
fn team_names_are_one_namespace_for_everyone() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let bob = s.user("bob");
    ann.project("acme", "web");
    let for_member = ann.post("/v1/teams", json!({"name": "acme"}));
    let for_outsider = bob.post("/v1/teams", json!({"name": "acme"}));
    for_outsider.expect_error(409, "name_taken");
    assert_eq!(for_outsider.json, for_member.json);
    assert_eq!(for_outsider.json["details"], json!({}));
    bob.get("/v1/teams/acme/projects")
        .expect_error(404, "not_found");
    bob.get("/v1/projects/acme/web")
        .expect_error(404, "not_found");
}

/// The last-owner check and the change it allows are one transaction: two owners demoting
/// each other, or both leaving, at the same moment leave the team with an owner.
#[test]
fn a_team_always_keeps_an_owner_under_concurrent_changes() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let bob = s.user("bob");
    ann.post("/v1/teams", json!({"name": "acme"})).ok();
    let users = [("ann", ann), ("bob", bob)];
    for round in 0..16 {
        // Both owners again, through whichever is still an owner.
        let (_, owner) = users
            .iter()
            .find(|(_, c)| {
                let r = c.get("/v1/teams");
                r.ok()
                    .as_array()
                    .is_some_and(|teams| teams.iter().any(|t| t["role"] == "owner"))
            })
            .unwrap_or_else(|| panic!("round {round}: acme has no owner"));
        for (name, _) in &users {
            owner
                .post(
                    "/v1/teams/acme/members",
                    json!({"username": name, "role": "owner"}),
                )
                .ok();
        }
        let barrier = std::sync::Barrier::new(2);
        let leave = round % 2 == 1;
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = users
                .iter()
                .enumerate()
                .map(|(i, (me, client))| {
                    let other = users[1 - i].0;
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        if leave {
                            client
                                .delete(&format!("/v1/teams/acme/members/{me}"))
                                .status
                        } else {
                            client
                                .post(
                                    "/v1/teams/acme/members",
                                    json!({"username": other, "role": "member"}),
                                )
                                .status
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let owners: Vec<String> = users
            .iter()
            .filter_map(|(name, c)| {
                let teams = c.get("/v1/teams").ok().clone();
                teams
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["name"] == "acme" && t["role"] == "owner")
                    .then(|| name.to_string())
            })
            .collect();
        assert_eq!(
            owners.len(),
            1,
            "round {round} (leave: {leave}): answers {statuses:?}, owners {owners:?}"
        );
        let mut sorted = statuses.clone();
        sorted.sort();
        // The second change finds the first done: the last owner cannot leave; a demoted
        // owner can no longer manage members.
        let expected = if leave { [204, 422] } else { [200, 403] };
        assert_eq!(sorted, expected, "round {round}: {statuses:?}");
    }
}
