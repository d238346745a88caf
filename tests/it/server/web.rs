//! The web view over the in-process server: sign in and out, the pages and what they must
//! show, escaping, other teams' projects answering like missing ones, the live fragment, and
//! that nothing in it changes release state.

use std::time::Duration;

use gryt::server::{LoginLimits, ManualClock, ServerConfig};
use serde_json::json;

use super::harness::*;

/// An answer of the web view: status, headers, body as text.
#[derive(Debug)]
struct Page {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    fn ok(&self) -> &str {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        &self.body
    }

    /// Where a 303 sends the browser.
    #[track_caller]
    fn see_other(&self) -> &str {
        assert_eq!(self.status, 303, "{}", self.body);
        self.header("location").expect("a location")
    }
}

/// A browser without JavaScript: no redirects followed, the session cookie kept by hand.
struct Browser {
    agent: ureq::Agent,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(base: &str) -> Browser {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Browser {
            agent,
            base: base.to_string(),
            cookie: None,
        }
    }

    fn finish(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
        let mut res = res.expect("HTTP exchange with the test server");
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = res
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .expect("a text body");
        Page {
            status: res.status().as_u16(),
            headers,
            body,
        }
    }

    fn get(&self, path: &str) -> Page {
        self.get_with(path, &[])
    }

    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut r = self.agent.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", format!("gryt_session={c}"));
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Self::finish(r.call())
    }

    fn post_form(&self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(c) = &self.cookie {
            r = r.header("cookie", format!("gryt_session={c}"));
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Self::finish(r.send(body.as_bytes()))
    }

    /// Signs in through the form; the cookie is kept. The answer to the sign-in.
    fn sign_in(&mut self, user: &str, password: &str, next: &str) -> Page {
        let page = self.post_form(
            "/login",
            &[("username", user), ("password", password), ("next", next)],
            &[],
        );
        if page.status == 303 {
            let set = page.header("set-cookie").expect("a session cookie");
            let value = set
                .split(';')
                .next()
                .and_then(|kv| kv.strip_prefix("gryt_session="))
                .expect("the session cookie");
            self.cookie = Some(value.to_string());
        }
        page
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const EVIL: &str = "<script>alert(1)</script>";

/// acme/web with v2.0.0 (A-1 proven by bob, B-2 titled with a script, unproven) and v1.0.0.
fn release(s: &TestServer) -> (Client, Client, String) {
    let ann = s.user("ann");
    let bob = s.user("bob");
    let p = ann.project("acme", "web");
    ann.post("/v1/teams/acme/members", json!({"username": "bob"}))
        .ok();
    let mut g = gen_record(&uid(1), "2.0.0", &["A-1", "B-2"]);
    g["changes"][1]["title"] = json!(EVIL);
    g["changes"][1]["type"] = json!("fix");
    ann.push(
        &p,
        0,
        vec![
            generation(g),
            generation(gen_record(&uid(9), "1.0.0", &["Z-1"])),
        ],
    )
    .ok();
    bob.push(
        &p,
        2,
        vec![evolution(evo_record(
            &uid(2),
            &uid(1),
            "A-1",
            1,
            &code_name(2),
            "pass",
        ))],
    )
    .ok();
    (ann, bob, p)
}

#[test]
fn signing_in_shows_the_teams_projects_release_line_and_generation() {
    let s = TestServer::start();
    let (_ann, _bob, _p) = release(&s);
    let mut b = Browser::new(&s.base);

    let start = b.get("/");
    let html = start.ok();
    assert!(html.contains("<form class=\"signin\" method=\"post\" action=\"/login\""));
    assert!(html.contains("<label for=\"password\">"));
    assert!(!html.contains("acme"), "nothing shown before signing in");

    let wrong = b.sign_in("ann", "not-her-password", "/");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong username or password."));
    assert!(wrong.header("set-cookie").is_none());
    assert!(b.cookie.is_none());

    let signed = b.sign_in("ann", "password-ann", "/");
    assert_eq!(signed.see_other(), "/");
    let cookie = signed.header("set-cookie").unwrap();
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("; Max-Age=43200"), "expires: {cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    let home = b.get("/");
    let html = home.ok();
    assert!(html.contains("Signed in as <strong>ann</strong>"), "{html}");
    assert!(
        html.contains("<a href=\"/projects/acme/web\">acme/web</a>"),
        "{html}"
    );
    assert!(html.contains("(owner)"));

    let project = b.get("/projects/acme/web");
    let html = project.ok();
    assert!(html.contains("2 generation(s), 0 promoted."), "{html}");
    let v2 = html
        .find("/projects/acme/web/generations/v2.0.0")
        .expect("v2 row");
    let v1 = html
        .find("/projects/acme/web/generations/v1.0.0")
        .expect("v1 row");
    assert!(v2 < v1, "newest version first");
    assert!(html.contains("<td>1 of 2</td>"), "proven count: {html}");
    assert!(html.contains("not ready"));
    assert!(html.contains("data-live=\""), "the page is live");
    assert!(html.contains("<script src=\"/assets/live.js\" defer>"));
    assert_eq!(project.header("cache-control"), Some("no-store"));
    let csp = project.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));

    let generation = b.get("/projects/acme/web/generations/v2.0.0");
    let html = generation.ok();
    assert!(
        html.contains("<span id=\"generation-status\" class=\"badge status-draft\">draft</span>"),
        "{html}"
    );
    assert!(html.contains("<th scope=\"row\">A-1</th>"));
    assert!(html.contains("<th scope=\"row\">B-2</th>"));
    assert!(html.contains("<td data-label=\"Type\">fix</td>"), "{html}");
    assert!(
        html.contains(
            "<code>v2.0.0-rc.1</code> · bob · <span class=\"badge result-pass\">pass</span>"
        ),
        "{html}"
    );
    assert!(html.contains("Ready for promotion: <span class=\"no\">no</span>"));
    assert!(
        html.contains("not proven: B-2"),
        "the failing gate is named: {html}"
    );
    assert!(html.contains("1 of 2 change(s)"));
    // The title is shown as text, never run.
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains(EVIL));
    // Everything comes from this server: no resource from elsewhere.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!html.contains(attr), "{attr} in {html}");
    }
    // `2.0.0` names the same generation.
    assert_eq!(b.get("/projects/acme/web/generations/2.0.0").ok(), html);
}

#[test]
fn the_assets_come_from_the_server_itself() {
    let s = TestServer::start();
    let b = Browser::new(&s.base);
    let css = b.get("/assets/gryt.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.body.contains("prefers-color-scheme"));
    let js = b.get("/assets/live.js");
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(js.body.contains("x-gryt-fingerprint"));
    for asset in [&css.body, &js.body] {
        assert!(!asset.contains("http://") && !asset.contains("https://"));
    }
}

/// The live script's poll: 204 while nothing changed, the new `<main>` content after a push
/// or a promotion.
#[test]
fn a_live_page_gets_its_new_content_after_a_push_and_a_promotion() {
    let s = TestServer::start();
    let (ann, bob, p) = release(&s);
    let mut b = Browser::new(&s.base);
    b.sign_in("bob", "password-bob", "/").see_other();
    let path = "/projects/acme/web/generations/v2.0.0";
    let page = b.get(path);
    let html = page.ok();
    let fp = html
        .split("data-live=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page's fingerprint")
        .to_string();
    assert!(fp.ends_with(".3"), "history id and head: {fp}");

    let poll = |fp: &str| b.get(&format!("{path}?since={fp}"));
    let same = poll(&fp);
    assert_eq!(same.status, 204, "{}", same.body);
    assert!(same.body.is_empty());

    bob.push(
        &p,
        3,
        vec![evolution(evo_record(
            &uid(3),
            &uid(1),
            "B-2",
            2,
            &code_name(3),
            "pass",
        ))],
    )
    .ok();
    let changed = poll(&fp);
    let fragment = changed.ok();
    assert!(!fragment.contains("<html"), "the <main> content alone");
    assert!(fragment.contains("<code>v2.0.0-rc.2</code>"), "{fragment}");
    assert!(fragment.contains("Ready for promotion: <span class=\"yes\">yes</span>"));
    let fp2 = changed.header("x-gryt-fingerprint").unwrap().to_string();
    assert!(fp2.ends_with(".4"), "{fp2}");
    assert_eq!(poll(&fp2).status, 204);

    ann.post(
        &format!("/v1/projects/{p}/generations/{}/promote", uid(1)),
        json!({"base_seq": 4, "revision": 1}),
    )
    .ok();
    let promoted = poll(&fp2);
    let fragment = promoted.ok();
    assert!(
        fragment.contains("class=\"badge status-promoted\">promoted</span>"),
        "{fragment}"
    );
    assert!(
        fragment.contains("<dd id=\"promoted\">by ann at <time"),
        "{fragment}"
    );
    // The project page follows too.
    let line = b.get(&format!("/projects/acme/web?since={fp2}"));
    let fragment = line.ok();
    assert!(fragment.contains("1 promoted."), "{fragment}");
    assert!(fragment.contains("<td>ann</td>"));
}

#[test]
fn another_teams_project_or_generation_looks_missing() {
    let s = TestServer::start();
    release(&s);
    let eve = s.user("eve");
    eve.project("evil", "web");
    eve.push(
        "evil/web",
        0,
        vec![generation(gen_record(&uid(50), "2.0.0", &["E-1"]))],
    )
    .ok();
    let mut b = Browser::new(&s.base);
    b.sign_in("eve", "password-eve", "/").see_other();
    assert!(b.get("/projects/evil/web").ok().contains("evil/web"));

    let hidden = [
        b.get("/projects/acme/web"),
        b.get("/projects/acme/web/generations/v2.0.0"),
        b.get("/projects/acme/web?since=x"),
    ];
    let missing = [
        b.get("/projects/zeta/web"),
        b.get("/projects/acme/nope/generations/v2.0.0"),
        b.get("/projects/evil/web/generations/v9.9.9"),
        b.get("/projects/evil/web/generations/not-a-version"),
        b.get("/projects/zeta/web?since=x"),
    ];
    let reference = &missing[0];
    assert_eq!(reference.status, 404);
    assert!(reference.body.contains("Not found"));
    for page in hidden.iter().chain(&missing) {
        assert_eq!(page.status, 404, "{}", page.body);
        assert_eq!(page.body, reference.body, "byte for byte the same");
        assert_eq!(
            page.header("content-type"),
            reference.header("content-type")
        );
    }
}

#[test]
fn signed_out_pages_send_to_the_sign_in_and_back() {
    let s = TestServer::start();
    release(&s);
    let mut b = Browser::new(&s.base);
    let path = "/projects/acme/web/generations/v2.0.0";
    assert_eq!(b.get(path).see_other(), format!("/?next={path}"));
    assert_eq!(
        b.get("/projects/acme/web").see_other(),
        "/?next=/projects/acme/web"
    );
    // A live poll without a session: 401, and its script reloads.
    assert_eq!(b.get(&format!("{path}?since=x")).status, 401);
    let form = b.get(&format!("/?next={path}"));
    assert!(
        form.ok()
            .contains(&format!("name=\"next\" value=\"{path}\""))
    );
    assert_eq!(b.sign_in("ann", "password-ann", path).see_other(), path);
    b.get(path).ok();
    // Only this view's pages are places to go next.
    let mut other = Browser::new(&s.base);
    assert_eq!(
        other
            .sign_in("ann", "password-ann", "https://evil.example/projects/x")
            .see_other(),
        "/"
    );
    let page = Browser::new(&s.base).get("/?next=%22%3E%3Cscript%3E");
    assert!(page.ok().contains("name=\"next\" value=\"/\""));
}

#[test]
fn after_logout_the_session_is_dead() {
    let s = TestServer::start();
    let (ann, _bob, _p) = release(&s);
    let mut b = Browser::new(&s.base);
    b.sign_in("ann", "password-ann", "/").see_other();
    let secret = b.cookie.clone().unwrap();
    // The session is an ordinary token of the account, listed with its others.
    let tokens = ann.get("/v1/tokens").ok().clone();
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "web session" && t["kind"] == "device"),
        "{tokens}"
    );
    b.get("/projects/acme/web").ok();
    let out = b.post_form("/logout", &[], &[]);
    assert_eq!(out.see_other(), "/");
    let cleared = out.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("gryt_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // The old cookie no longer opens anything, and its token is no bearer token either.
    assert_eq!(
        b.get("/projects/acme/web").see_other(),
        "/?next=/projects/acme/web"
    );
    assert!(!b.get("/").ok().contains("acme"));
    s.client()
        .with_token(&secret)
        .get("/v1/auth/whoami")
        .expect_error(401, "unauthorized");
    // Logging out again, or without a session, only clears the cookie.
    assert_eq!(b.post_form("/logout", &[], &[]).see_other(), "/");
    assert_eq!(
        Browser::new(&s.base)
            .post_form("/logout", &[], &[])
            .see_other(),
        "/"
    );
}

#[test]
fn revoked_or_expired_tokens_end_the_session() {
    let clock = ManualClock::starting_now();
    let s = TestServer::start_with(ServerConfig {
        clock: clock.clock(),
        ..ServerConfig::default()
    });
    let (ann, _bob, _p) = release(&s);
    let mut b = Browser::new(&s.base);
    b.sign_in("ann", "password-ann", "/").see_other();
    b.get("/projects/acme/web").ok();
    let tokens = ann.get("/v1/tokens").ok().clone();
    let web = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "web session")
        .unwrap();
    ann.delete(&format!("/v1/tokens/{}", web["id"].as_str().unwrap()))
        .ok();
    assert_eq!(
        b.get("/projects/acme/web").status,
        303,
        "revoked: signed out"
    );

    // Sessions expire after 12 hours on the server's clock.
    b.sign_in("ann", "password-ann", "/").see_other();
    clock.advance(Duration::from_secs(12 * 3600 - 1));
    b.get("/projects/acme/web").ok();
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        b.get("/projects/acme/web").status,
        303,
        "expired: signed out"
    );
}

#[test]
fn sign_in_shares_the_apis_login_limits() {
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
    let mut b = Browser::new(&s.base);
    assert_eq!(b.sign_in("ann", "wrong-password", "/").status, 401);
    // One failure through the API counts against the same budget.
    s.client()
        .post(
            "/v1/auth/login",
            json!({"username": "ann", "password": "wrong-password"}),
        )
        .expect_error(401, "unauthorized");
    let limited = b.sign_in("ann", "password-ann", "/");
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.header("retry-after"), Some("300"));
    assert!(limited.body.contains("too many login attempts"));
    assert!(b.cookie.is_none());
    s.client()
        .post(
            "/v1/auth/login",
            json!({"username": "ann", "password": "password-ann"}),
        )
        .expect_error(429, "rate_limited");
    clock.advance(Duration::from_secs(300));
    b.sign_in("ann", "password-ann", "/").see_other();
}

#[test]
fn forms_from_other_sites_and_bad_forms_change_nothing() {
    let s = TestServer::start();
    let (ann, _bob, _p) = release(&s);
    let before = ann.get("/v1/tokens").ok().as_array().unwrap().len();
    let b = Browser::new(&s.base);
    let login = [("username", "ann"), ("password", "password-ann")];
    for headers in [
        vec![("origin", "http://evil.example")],
        vec![("sec-fetch-site", "cross-site")],
    ] {
        let r = b.post_form("/login", &login, &headers);
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.header("set-cookie").is_none());
    }
    // The site's own form: accepted.
    let own = b.post_form(
        "/login",
        &login,
        &[("origin", &s.base), ("sec-fetch-site", "same-origin")],
    );
    assert_eq!(own.see_other(), "/");
    let after = ann.get("/v1/tokens").ok().as_array().unwrap().len();
    assert_eq!(
        after,
        before + 1,
        "only the site's own sign-in made a session"
    );

    let empty = b.post_form("/login", &[("username", "ann")], &[]);
    assert_eq!(empty.status, 422);
    assert!(empty.body.contains("Give your username and your password."));
    assert!(empty.header("set-cookie").is_none());
}

/// Nothing in the web view changes release state: the pages take GET only, and the only
/// forms sign in and out.
#[test]
fn the_web_view_is_read_only() {
    let s = TestServer::start();
    let (ann, _bob, p) = release(&s);
    let mut b = Browser::new(&s.base);
    b.sign_in("ann", "password-ann", "/").see_other();
    let before = ann.pull_all(&p, 1000).0;
    let pages = [
        "/",
        "/projects/acme/web",
        "/projects/acme/web/generations/v2.0.0",
    ];
    for path in pages {
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let r = b.agent.run(
                ureq::http::Request::builder()
                    .method(method)
                    .uri(format!("{}{path}", s.base))
                    .header(
                        "cookie",
                        format!("gryt_session={}", b.cookie.as_ref().unwrap()),
                    )
                    .body(())
                    .unwrap(),
            );
            let page = Browser::finish(r);
            assert_eq!(page.status, 405, "{method} {path}: {}", page.body);
        }
        let html = b.get(path).ok().to_string();
        // Forms in pages: only signing out.
        let forms: Vec<&str> = html.split("<form").skip(1).collect();
        for form in forms {
            assert!(form.contains("action=\"/logout\""), "{form}");
        }
    }
    assert_eq!(b.get("/login").see_other(), "/");
    assert_eq!(ann.pull_all(&p, 1000).0, before);
}

/// Behind a trusted TLS proxy the cookie is Secure; a forwarded header from an untrusted
/// peer (the server does not trust forwarding) changes nothing.
#[test]
fn the_cookie_is_secure_behind_a_trusted_tls_proxy() {
    let s = TestServer::start_with(ServerConfig {
        trust_forwarded_for: true,
        ..ServerConfig::default()
    });
    s.user("ann");
    let b = Browser::new(&s.base);
    let login = [("username", "ann"), ("password", "password-ann")];
    let tls = b.post_form("/login", &login, &[("x-forwarded-proto", "https")]);
    assert!(tls.header("set-cookie").unwrap().ends_with("; Secure"));
    let plain = b.post_form("/login", &login, &[]);
    assert!(!plain.header("set-cookie").unwrap().contains("Secure"));

    let untrusting = TestServer::start();
    untrusting.user("ann");
    let b = Browser::new(&untrusting.base);
    let r = b.post_form("/login", &login, &[("x-forwarded-proto", "https")]);
    assert!(!r.header("set-cookie").unwrap().contains("Secure"));
}
