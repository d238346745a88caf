//! The web view in a real browser: headless Chromium driven through chromedriver (WebDriver,
//! fantoccini) against a real `gryt cloud serve` process, with a real workspace promoting
//! through it. Ignored by plain `cargo test` (it needs Chromium): scripts/browser-test.sh
//! finds `chromium` and `chromedriver` and runs it, with their paths in `GRYT_CHROMIUM` and
//! `GRYT_CHROMEDRIVER`.
#![cfg(feature = "server")]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::dev::Dev;
use crate::server::harness::{ChildServer, Client as Api};

/// How long a step may take before the test gives up (a bail-out, not a measurement).
const PATIENCE: Duration = Duration::from_secs(30);

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn required(var: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{var} is not set: run scripts/browser-test.sh"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// chromedriver on a loopback port, and a session with headless Chromium.
async fn browser() -> (Driver, Client) {
    let port = free_port();
    let driver = Driver(
        Command::new(required("GRYT_CHROMEDRIVER"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_string(),
        json!({
            "binary": required("GRYT_CHROMIUM"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1100,900", "--no-first-run", "--no-default-browser-check"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let started = Instant::now();
    loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) if started.elapsed() < PATIENCE => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    }
}

/// The text of the element `css`, once it is there.
async fn text_of(c: &Client, css: &str) -> String {
    let started = Instant::now();
    loop {
        let element = c
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        match element.text().await {
            Ok(text) => return text,
            // The live page replaced the element between finding and reading it: find it again.
            Err(e) if started.elapsed() < PATIENCE => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the text of {css}: {e}"),
        }
    }
}

/// Waits until `css`'s text is `want` — without navigating: the page must change by itself.
async fn until_text(c: &Client, css: &str, want: &str) {
    let started = Instant::now();
    loop {
        let now = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if now == want {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{css} still says {now:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn screenshot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("GRYT_BROWSER_SCREENSHOTS")
        && !dir.is_empty()
    {
        let png = c.screenshot().await.expect("a screenshot");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png)
            .expect("screenshot written");
    }
}

#[test]
#[ignore = "needs Chromium and chromedriver: scripts/browser-test.sh"]
fn sign_in_follow_a_promotion_live_and_sign_out() {
    // A real server process, an account with team acme and project web, and ann's workspace
    // with v2.0.0 proven and pushed.
    let data = tempfile::tempdir().expect("a data dir");
    let server = ChildServer::spawn(&["--data", data.path().to_str().unwrap()]);
    let base = server.base.clone();
    let api = Api::new(&base);
    let r = api.post(
        "/v1/accounts",
        json!({"username": "ann", "password": "password-ann"}),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    api.login("ann").project("acme", "web");
    let mut ann = Dev::at(&base);
    ann.name = "ann".to_string();
    crate::sync::link(&ann.env, &ann.env.repo, "ann", &base);
    ann.env.write_pipeline("ok", "true");
    ann.run(&["generation", "new", "2.0.0"]).ok();
    crate::sync::prove(&ann, "2.0.0", "CHANGE-1", "ok");
    ann.run(&["sync", "push"]).ok();

    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let (_driver, c) = browser().await;

        // Sign in.
        c.goto(&format!("{base}/")).await.unwrap();
        assert_eq!(text_of(&c, "h1").await, "Sign in");
        screenshot(&c, "1-sign-in").await;
        c.find(Locator::Css("#username"))
            .await
            .unwrap()
            .send_keys("ann")
            .await
            .unwrap();
        c.find(Locator::Css("#password"))
            .await
            .unwrap()
            .send_keys("password-ann")
            .await
            .unwrap();
        c.find(Locator::Css("form.signin button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(text_of(&c, "h1").await, "Your projects");

        // Open the project, then v2.0.0.
        c.wait()
            .at_most(PATIENCE)
            .for_element(Locator::LinkText("acme/web"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(text_of(&c, "h1").await, "acme/web");
        screenshot(&c, "2-project").await;
        c.wait()
            .at_most(PATIENCE)
            .for_element(Locator::LinkText("v2.0.0"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(text_of(&c, "#generation-status").await, "draft");
        assert_eq!(text_of(&c, "#ready").await, "Ready for promotion: yes");
        screenshot(&c, "3-generation-draft").await;

        // A mark only this very page holds: a reload would lose it.
        c.execute("window.grytMark = 'same page'; return true;", vec![])
            .await
            .unwrap();
        let out = ann.run(&["promote", "2.0.0"]);
        out.ok();

        until_text(&c, "#generation-status", "promoted").await;
        assert!(
            text_of(&c, "#promoted").await.starts_with("by ann at "),
            "who promoted it"
        );
        let mark = c
            .execute("return window.grytMark || null;", vec![])
            .await
            .unwrap();
        assert_eq!(mark, json!("same page"), "updated without a reload");
        screenshot(&c, "4-generation-promoted").await;

        // On a phone's width the page still fits: nothing to scroll sideways.
        c.set_window_size(390, 844).await.unwrap();
        let fits = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, json!(true), "the generation page fits 390 px");
        screenshot(&c, "5-phone").await;
        c.set_window_size(1100, 900).await.unwrap();

        // Sign out: back at the sign-in, and the pages are closed.
        c.find(Locator::Css("form.signout button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(text_of(&c, "h1").await, "Sign in");
        c.goto(&format!("{base}/projects/acme/web")).await.unwrap();
        assert_eq!(text_of(&c, "h1").await, "Sign in");
        let url = c.current_url().await.unwrap();
        assert_eq!(url.query(), Some("next=/projects/acme/web"), "{url}");
        c.close().await.unwrap();
    });
}
