//! Health, accounts, tokens, API keys, rate limiting.

use std::time::Duration;

use gryt::server::{LoginLimits, ManualClock, Registration, ServerConfig};
use serde_json::json;

use super::harness::TestServer;

#[test]
fn health_version_header_and_json_fallbacks() {
    let s = TestServer::start();
    let c = s.client();
    let r = c.get("/healthz");
    assert_eq!(r.ok()["status"], "ok");
    assert!(
        r.header("x-gryt-server")
            .is_some_and(|v| v.starts_with("gryt/"))
    );
    assert_eq!(c.get("/readyz").ok()["status"], "ready");
    let r = c.get("/v1/nope");
    r.expect_error(404, "not_found");
    assert!(
        r.header("x-gryt-server").is_some(),
        "every response carries the version"
    );
    c.get("/v1/auth/login")
        .expect_error(405, "method_not_allowed");
    let ann = s.user("ann");
    ann.get("/v1/projects/acme/web/push")
        .expect_error(405, "method_not_allowed");
    ann.delete("/v1/projects/acme/web/changes")
        .expect_error(405, "method_not_allowed");
}

#[test]
fn register_login_whoami_logout() {
    let s = TestServer::start();
    let c = s.client();
    let r = c.post(
        "/v1/accounts",
        json!({"username": "ann", "password": "correct horse"}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json["username"], "ann");
    c.post(
        "/v1/accounts",
        json!({"username": "ann", "password": "another one"}),
    )
    .expect_error(409, "name_taken");
    c.post(
        "/v1/accounts",
        json!({"username": "Ann!", "password": "correct horse"}),
    )
    .expect_error(422, "validation");
    c.post(
        "/v1/accounts",
        json!({"username": "bob", "password": "short"}),
    )
    .expect_error(422, "validation");
    c.post("/v1/accounts", json!({"username": "bob"}))
        .expect_error(422, "validation");
    c.post_raw("/v1/accounts", b"{not json".to_vec())
        .expect_error(422, "validation");

    c.post(
        "/v1/auth/login",
        json!({"username": "ann", "password": "wrong horse"}),
    )
    .expect_error(401, "unauthorized");
    c.post(
        "/v1/auth/login",
        json!({"username": "nobody", "password": "wrong horse"}),
    )
    .expect_error(401, "unauthorized");
    let r = c.post(
        "/v1/auth/login",
        json!({"username": "ann", "password": "correct horse", "device": "laptop"}),
    );
    let token = r.ok()["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("gryt_"));
    assert_eq!(r.json["info"]["kind"], "device");
    assert!(r.json["info"]["expires_at"].is_string());

    let ann = c.with_token(&token);
    let me = ann.get("/v1/auth/whoami");
    assert_eq!(me.ok()["username"], "ann");
    assert_eq!(me.json["token"]["name"], "laptop");
    assert_eq!(me.json["token"]["current"], true);

    assert_eq!(ann.post("/v1/auth/logout", json!({})).status, 204);
    ann.get("/v1/auth/whoami").expect_error(401, "unauthorized");
}

#[test]
fn missing_malformed_and_unknown_credentials() {
    let s = TestServer::start();
    let c = s.client();
    for path in [
        "/v1/auth/whoami",
        "/v1/teams",
        "/v1/tokens",
        "/v1/projects/a/b/changes",
    ] {
        c.get(path).expect_error(401, "unauthorized");
        c.with_token("gryt_0000")
            .get(path)
            .expect_error(401, "unauthorized");
    }
    let r = {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut res = agent
            .get(format!("{}/v1/auth/whoami", s.base))
            .header("authorization", "Basic YW5uOnB3")
            .call()
            .unwrap();
        (
            res.status().as_u16(),
            res.body_mut().read_to_string().unwrap(),
        )
    };
    assert_eq!(r.0, 401);
    assert!(r.1.contains("\"unauthorized\""));
}

/// Token lifetimes run on the server's clock: the test moves it instead of sleeping.
#[test]
fn expired_tokens_are_refused() {
    let clock = ManualClock::starting_now();
    let s = TestServer::start_with(ServerConfig {
        token_ttl: Duration::from_secs(3600),
        clock: clock.clock(),
        ..ServerConfig::default()
    });
    let ann = s.user("ann");
    let key = ann.post("/v1/api-keys", json!({"name": "ci", "expires_in_days": 2}));
    let ci = s.client().with_token(key.ok()["token"].as_str().unwrap());
    let whoami = ann.get("/v1/auth/whoami");
    let expires_at = whoami.ok()["token"]["expires_at"].as_str().unwrap();
    let in_an_hour = gryt::domain::timestamp::format(clock.now() + Duration::from_secs(3600));
    assert_eq!(expires_at, in_an_hour);
    clock.advance(Duration::from_secs(3599));
    assert_eq!(ann.get("/v1/auth/whoami").status, 200);
    clock.advance(Duration::from_secs(1));
    let r = ann.get("/v1/auth/whoami");
    r.expect_error(401, "unauthorized");
    assert!(r.json["message"].as_str().unwrap().contains("expired"));
    assert_eq!(ci.get("/v1/auth/whoami").status, 200);
    clock.advance(Duration::from_secs(2 * 86_400));
    ci.get("/v1/auth/whoami").expect_error(401, "unauthorized");
}

/// The login limit lifts when its window has passed on the server's clock.
#[test]
fn the_login_limit_lifts_after_its_window() {
    let clock = ManualClock::starting_now();
    let s = TestServer::start_with(ServerConfig {
        login_limits: LoginLimits {
            per_account: 2,
            per_address: 100,
            window: Duration::from_secs(300),
        },
        clock: clock.clock(),
        ..ServerConfig::default()
    });
    s.user("ann");
    let c = s.client();
    let login = |password: &str| {
        c.post(
            "/v1/auth/login",
            json!({"username": "ann", "password": password}),
        )
    };
    login("wrong-password").expect_error(401, "unauthorized");
    login("wrong-password").expect_error(401, "unauthorized");
    let d = login("password-ann")
        .expect_error(429, "rate_limited")
        .clone();
    assert_eq!(d["retry_after_secs"], 300);
    clock.advance(Duration::from_secs(120));
    let d = login("password-ann")
        .expect_error(429, "rate_limited")
        .clone();
    assert_eq!(d["retry_after_secs"], 180);
    clock.advance(Duration::from_secs(180));
    assert_eq!(login("password-ann").status, 200);
}

#[test]
fn tokens_are_listed_and_revocable_per_device() {
    let s = TestServer::start();
    let laptop = s.user("ann");
    let desktop = laptop.login("ann");
    let list = laptop.get("/v1/tokens");
    let tokens = list.ok().as_array().unwrap().clone();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens.iter().all(|t| t.get("token").is_none()),
        "secrets are never listed"
    );
    let desktop_id = desktop.get("/v1/auth/whoami").json["token"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        laptop.delete(&format!("/v1/tokens/{desktop_id}")).status,
        204
    );
    desktop
        .get("/v1/auth/whoami")
        .expect_error(401, "unauthorized");
    assert_eq!(laptop.get("/v1/auth/whoami").status, 200);
    laptop
        .delete(&format!("/v1/tokens/{desktop_id}"))
        .expect_error(404, "not_found");
    laptop
        .delete("/v1/tokens/not-a-uuid")
        .expect_error(404, "not_found");
    // Another account's token is not revocable (and not visible).
    let bob = s.user("bob");
    let ann_id = laptop.get("/v1/auth/whoami").json["token"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    bob.delete(&format!("/v1/tokens/{ann_id}"))
        .expect_error(404, "not_found");
    assert_eq!(laptop.get("/v1/auth/whoami").status, 200);
}

#[test]
fn api_keys_for_ci() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let r = ann.post("/v1/api-keys", json!({"name": "ci", "expires_in_days": 30}));
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["info"]["kind"], "api_key");
    let key = r.json["token"].as_str().unwrap().to_string();
    let never = ann.post("/v1/api-keys", json!({"name": "forever"}));
    assert!(never.ok()["info"]["expires_at"].is_null());
    ann.post("/v1/api-keys", json!({"name": ""}))
        .expect_error(422, "validation");
    ann.post("/v1/api-keys", json!({"name": "x", "expires_in_days": 0}))
        .expect_error(422, "validation");

    let ci = s.client().with_token(&key);
    assert_eq!(ci.get("/v1/auth/whoami").ok()["username"], "ann");
    let keys = ann.get("/v1/api-keys");
    assert_eq!(keys.ok().as_array().unwrap().len(), 2);
    let id = keys.json[0]["id"].as_str().unwrap().to_string();
    assert_eq!(ann.delete(&format!("/v1/api-keys/{id}")).status, 204);
    ci.get("/v1/auth/whoami").expect_error(401, "unauthorized");
}

#[test]
fn closed_registration_and_admin_bootstrap() {
    let s = TestServer::start_with(ServerConfig {
        registration: Registration::Closed,
        ..ServerConfig::default()
    });
    s.client()
        .post(
            "/v1/accounts",
            json!({"username": "ann", "password": "password-ann"}),
        )
        .expect_error(403, "registration_closed");
    // The admin path works on the data dir, even while the server runs (WAL).
    let account = s.admin_add_user("ann", "password-ann").unwrap();
    assert_eq!(account.username, "ann");
    assert!(s.admin_add_user("ann", "password-ann").is_err());
    assert!(s.admin_add_user("Bad Name", "password-x").is_err());
    let ann = s.client().login("ann");
    assert_eq!(ann.get("/v1/auth/whoami").ok()["username"], "ann");
}

#[test]
fn login_is_rate_limited_per_account_and_per_address() {
    let limits = LoginLimits {
        per_account: 3,
        per_address: 9,
        window: Duration::from_secs(60),
    };
    let s = TestServer::start_with(ServerConfig {
        login_limits: limits,
        ..ServerConfig::default()
    });
    s.user("ann");
    s.user("bob");
    let c = s.client();
    for _ in 0..3 {
        c.post(
            "/v1/auth/login",
            json!({"username": "ann", "password": "wrong-password"}),
        )
        .expect_error(401, "unauthorized");
    }
    let r = c.post(
        "/v1/auth/login",
        json!({"username": "ann", "password": "password-ann"}),
    );
    let d = r.expect_error(429, "rate_limited");
    assert!(d["retry_after_secs"].as_u64().unwrap() >= 1);
    assert!(r.header("retry-after").is_some());
    // Another account from the same address is not locked by ann's failures...
    assert_eq!(
        c.post(
            "/v1/auth/login",
            json!({"username": "bob", "password": "password-bob"})
        )
        .status,
        200
    );
    // ...but the address has a budget of its own: 2 registrations and 2 logins in `user`,
    // 3 failures, the refused attempt and bob's login make 9, so the next one is refused.
    c.post(
        "/v1/auth/login",
        json!({"username": "bob", "password": "password-bob"}),
    )
    .expect_error(429, "rate_limited");
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_address_is_limited() {
    let limits = LoginLimits {
        per_account: 100,
        per_address: 2,
        window: Duration::from_secs(60),
    };
    let s = TestServer::start_with(ServerConfig {
        login_limits: limits,
        trust_forwarded_for: true,
        ..ServerConfig::default()
    });
    s.admin_add_user("ann", "password-ann").unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let login = |forwarded: &str| {
        agent
            .post(format!("{}/v1/auth/login", s.base))
            .header("x-forwarded-for", forwarded)
            .send_json(json!({"username": "ann", "password": "password-ann"}))
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(login("203.0.113.9, 10.0.0.1"), 200);
    assert_eq!(login("10.0.0.1"), 200);
    assert_eq!(login("10.0.0.1"), 429);
    assert_eq!(
        login("10.0.0.2"),
        200,
        "another client behind the same proxy"
    );
}
