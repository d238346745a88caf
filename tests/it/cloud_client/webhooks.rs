//! `gryt cloud webhook add|list|remove|deliveries` through the binary, with a receiver on
//! 127.0.0.1 checking what the server sends.

use serde_json::json;

use super::Dev;
use crate::server::harness::{TestServer, gen_record, generation, uid};
use crate::server::webhooks::{Receiver, Reply, assert_signed};

#[test]
fn owners_add_list_watch_and_remove_webhooks() {
    let server = TestServer::start_with(gryt::server::ServerConfig {
        webhooks: gryt::server::WebhookSettings {
            retry_base: std::time::Duration::from_millis(50),
            ..Default::default()
        },
        ..Default::default()
    });
    let ann = Dev::account(&server, "ann");
    let bob = Dev::account(&server, "bob");
    ann.run(&["cloud", "team", "create", "acme"]).ok();
    ann.run(&["cloud", "team", "add-member", "acme", "bob"])
        .ok();
    ann.run(&["cloud", "project", "create", "acme/web"]).ok();
    let rx = Receiver::start(vec![Reply::Status(500)]);

    // Bad input is a usage error before anything is sent; a member cannot add one.
    for (args, says) in [
        (vec!["ftp://example.com/x"], "http or https"),
        (vec!["http://ann:pw@127.0.0.1/x"], "user name"),
        (
            vec![rx.url.as_str(), "--events", "promoted,pushed"],
            "unknown webhook event `pushed`",
        ),
    ] {
        let mut all = vec!["cloud", "webhook", "add", "acme/web"];
        all.extend(args);
        let out = ann.run(&all).fails(2);
        assert!(out.stderr.contains(says), "{}", out.render());
    }
    ann.run(&["cloud", "webhook", "add", "acme", &rx.url])
        .fails(2);
    let out = bob
        .run(&["cloud", "webhook", "add", "acme/web", &rx.url])
        .fails(3);
    assert!(out.stderr.contains("only owners"), "{}", out.render());
    let out = ann.run(&["cloud", "webhook", "list", "acme/web"]).ok();
    assert!(out.stdout.is_empty(), "{}", out.render());
    assert!(out.stderr.contains("has no webhooks"), "{}", out.render());

    let out = ann
        .run(&[
            "cloud",
            "webhook",
            "add",
            "acme/web",
            &rx.url,
            "--events",
            "generation_created,promoted",
        ])
        .ok();
    let secret = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Secret: "))
        .unwrap_or_else(|| panic!("{}", out.render()))
        .to_string();
    assert_eq!(secret.len(), 64, "{}", out.render());
    assert!(
        out.stdout
            .contains("(events: generation_created, promoted)"),
        "{}",
        out.render()
    );
    assert!(out.stderr.contains("shown this once"), "{}", out.render());
    let hooks = bob
        .run(&["cloud", "webhook", "list", "acme/web", "--json"])
        .ok()
        .json();
    let id = hooks[0]["id"].as_str().unwrap().to_string();
    assert_eq!(hooks[0]["url"], rx.url.as_str());
    assert!(hooks[0].get("secret").is_none(), "{hooks:#}");
    let table = bob.run(&["cloud", "webhook", "list", "acme/web"]).ok();
    assert!(table.stdout.contains(&id), "{}", table.render());
    assert!(!table.stdout.contains(&secret), "{}", table.render());

    // A push: refused once by the receiver, delivered on the retry.
    let api = server.client().login("ann");
    api.push(
        "acme/web",
        0,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    )
    .ok();
    let (first, second) = (rx.next(), rx.next());
    assert_signed(&first, &secret);
    assert_signed(&second, &secret);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let delivered = loop {
        let d = bob
            .run(&["cloud", "webhook", "deliveries", "acme/web", &id, "--json"])
            .ok()
            .json();
        if d[0]["status"] == "delivered" {
            break d;
        }
        assert!(std::time::Instant::now() < deadline, "{d:#}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(delivered[0]["attempts"], 2, "{delivered:#}");
    assert_eq!(delivered[0]["event"], "generation_created");
    let table = bob
        .run(&["cloud", "webhook", "deliveries", "acme/web", &id])
        .ok();
    assert!(
        table.stdout.contains("generation_created") && table.stdout.contains("delivered"),
        "{}",
        table.render()
    );

    // Removing: owners only, an id that is no webhook is refused with a way on.
    let out = bob
        .run(&["cloud", "webhook", "remove", "acme/web", &id])
        .fails(3);
    assert!(out.stderr.contains("only owners"), "{}", out.render());
    let out = ann
        .run(&["cloud", "webhook", "remove", "acme/web", "nope"])
        .fails(2);
    assert!(out.stderr.contains("not a webhook id"), "{}", out.render());
    let out = ann
        .run(&["cloud", "webhook", "remove", "acme/web", &uid(77)])
        .fails(3);
    assert!(
        out.stderr.contains("gryt cloud webhook list"),
        "{}",
        out.render()
    );
    assert_eq!(
        ann.run(&["cloud", "webhook", "remove", "acme/web", &id])
            .ok()
            .stdout,
        format!("Removed webhook {id} from acme/web\n")
    );
    assert_eq!(
        ann.run(&["cloud", "webhook", "list", "acme/web", "--json"])
            .ok()
            .json(),
        json!([])
    );
}
