//! register, login, whoami, logout, api-keys, and where tokens live.

use super::Dev;
use crate::server::harness::TestServer;

#[test]
fn register_login_whoami_logout() {
    let server = TestServer::start();
    let ann = Dev::new(&server);
    let out = ann.register("ann").ok();
    assert!(
        out.stdout.starts_with(&format!(
            "Registered ann on {0}\nLogged in to {0} as ann (token kept in the file ",
            server.base
        )),
        "{}",
        out.render()
    );
    // Registering logged this device in: the next command works without `cloud login`.
    let out = ann.run(&["cloud", "whoami"]).ok();
    assert!(out.stdout.starts_with("ann on "), "{}", out.render());
    let out = ann.login("ann").ok();
    assert!(
        out.stdout.starts_with(&format!(
            "Logged in to {} as ann (token kept in the file ",
            server.base
        )),
        "{}",
        out.render()
    );
    // The token went to a private file, nowhere else.
    let token = ann.stored_token();
    assert!(token.starts_with("gryt_"), "{token}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ann.credentials_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let accounts = std::fs::read_to_string(ann.env.home.join(".config/gryt/accounts")).unwrap();
    assert!(
        !accounts.contains(&token) && accounts.contains("\"ann\""),
        "{accounts}"
    );
    assert!(!ann.env.read(".gryt/config").contains(&token));

    // Commands find the server of the last login without --url; the token is never printed.
    let out = ann.run(&["cloud", "whoami"]).ok();
    assert!(
        out.stdout.starts_with(&format!("ann on {}\n", server.base)),
        "{}",
        out.render()
    );
    assert!(
        out.stdout.contains("from the credentials file"),
        "{}",
        out.render()
    );
    assert!(!out.stdout.contains(&token) && !out.stderr.contains(&token));
    let json = ann.run(&["cloud", "whoami", "--json"]).ok().json();
    assert_eq!(json["username"], "ann");
    assert_eq!(json["token"]["kind"], "device");
    assert_eq!(json["token"]["current"], true);
    assert_eq!(json["token_source"], "file");

    let out = ann.run(&["cloud", "logout"]).ok();
    assert_eq!(out.stdout, format!("Logged out ann from {}\n", server.base));
    assert!(
        !ann.credentials_file().contains(&token),
        "{}",
        ann.credentials_file()
    );
    let out = ann.run(&["cloud", "whoami"]).fails(1);
    assert!(out.stderr.contains("not logged in to"), "{}", out.render());
    assert!(
        out.stderr.contains("Hint: log in: gryt cloud login --url"),
        "{}",
        out.render()
    );

    // The token was revoked on the server, not only forgotten here.
    let out = ann
        .run_with(&["cloud", "whoami"], &[("GRYT_TOKEN", &token)], "")
        .fails(3);
    assert!(
        out.stderr.contains("Hint: the token comes from GRYT_TOKEN"),
        "{}",
        out.render()
    );
    // Logging out twice is harmless.
    ann.run(&["cloud", "logout"]).ok();
}

#[test]
fn wrong_password_and_missing_input() {
    let server = TestServer::start();
    let ann = Dev::new(&server);
    ann.run_with(
        &[
            "cloud",
            "register",
            "--url",
            &server.base,
            "--username",
            "ann",
            "--password-stdin",
            "--no-login",
        ],
        &[],
        "password-ann\n",
    )
    .ok();
    let out = ann
        .run_with(
            &[
                "cloud",
                "login",
                "--url",
                &server.base,
                "--username",
                "ann",
                "--password-stdin",
            ],
            &[],
            "not-the-password\n",
        )
        .fails(3);
    assert!(out.stderr.starts_with("Error: "), "{}", out.render());
    assert!(
        out.stderr
            .contains("Hint: type them again (passwords are case-sensitive)"),
        "{}",
        out.render()
    );
    assert!(
        !ann.credentials_path().exists(),
        "nothing stored after a failed login"
    );

    // No username and no terminal: a usage error before any request.
    let out = ann
        .run_with(
            &["cloud", "login", "--url", &server.base, "--password-stdin"],
            &[],
            "x\n",
        )
        .fails(2);
    assert!(out.stderr.contains("--username"), "{}", out.render());
    let out = ann
        .run_with(
            &["cloud", "login", "--url", &server.base, "--username", "ann"],
            &[],
            "",
        )
        .fails(2);
    assert!(
        out.stderr.contains("no password on stdin"),
        "{}",
        out.render()
    );
    // Taken names and short passwords.
    let out = ann.register("ann").fails(3);
    assert!(
        out.stderr
            .contains("is already taken\nHint: choose another name"),
        "{}",
        out.render()
    );
    let out = ann
        .run_with(
            &[
                "cloud",
                "register",
                "--url",
                &server.base,
                "--username",
                "bob",
                "--password-stdin",
            ],
            &[],
            "short\n",
        )
        .fails(2);
    assert!(out.stderr.contains("at least 8"), "{}", out.render());
    // Without --url, a cloud.url or a past login there is no server to talk to.
    let out = ann.run(&["cloud", "whoami"]).fails(1);
    assert!(
        out.stderr.contains(
            "not logged in to any Gryt Cloud server\nHint: log in: gryt cloud login --url URL"
        ),
        "{}",
        out.render()
    );
}

/// `register --no-login` only creates the account; `--json` reports the login otherwise.
#[test]
fn register_no_login_and_json() {
    let server = TestServer::start();
    let bob = Dev::new(&server);
    let args = |name: &str, extra: &[&'static str]| {
        let mut a = vec![
            "cloud".to_string(),
            "register".into(),
            "--url".into(),
            server.base.clone(),
            "--username".into(),
            name.to_string(),
            "--password-stdin".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        bob.run_with(&a, &[], "password-long\n")
    };
    let out = run(args("bob", &["--no-login"])).ok();
    assert_eq!(out.stdout, format!("Registered bob on {}\n", server.base));
    assert!(
        out.stderr.contains("Log in with: gryt cloud login"),
        "{}",
        out.render()
    );
    assert!(!bob.credentials_path().exists(), "no token was kept");
    bob.run(&["cloud", "whoami", "--url", &server.base])
        .fails(1);

    let json = run(args("carol", &["--json"])).ok().json();
    assert_eq!(json["username"], "carol");
    assert_eq!(json["login"]["username"], "carol");
    assert_eq!(json["login"]["stored_in"], "file");
    let me = bob.run(&["cloud", "whoami", "--json"]).ok().json();
    assert_eq!(me["username"], "carol");
}

#[test]
fn api_keys_and_gryt_token() {
    let server = TestServer::start();
    let ann = Dev::account(&server, "ann");
    let bob = Dev::account(&server, "bob");

    let out = ann
        .run(&[
            "cloud",
            "api-keys",
            "create",
            "ci",
            "--expires-in-days",
            "30",
        ])
        .ok();
    let key = out.stdout.trim().to_string();
    assert!(
        key.starts_with("gryt_") && !out.stdout.contains(' '),
        "{}",
        out.render()
    );
    assert!(out.stderr.contains("shown only once"), "{}", out.render());
    let list = ann
        .run(&["cloud", "api-keys", "list", "--json"])
        .ok()
        .json();
    let keys = list.as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["name"], "ci");
    assert_eq!(keys[0]["kind"], "api_key");
    assert!(
        !ann.run(&["cloud", "api-keys", "list"])
            .ok()
            .stdout
            .contains(&key)
    );

    // CI: a fresh machine with only GRYT_TOKEN; it also overrides bob's own login.
    let ci = Dev::at(&server.base);
    let out = ci
        .run_with(
            &["cloud", "whoami", "--url", &server.base, "--json"],
            &[("GRYT_TOKEN", &key)],
            "",
        )
        .ok();
    assert_eq!(out.json()["username"], "ann");
    assert_eq!(out.json()["token_source"], "env");
    assert_eq!(out.json()["token"]["kind"], "api_key");
    let out = bob
        .run_with(&["cloud", "whoami"], &[("GRYT_TOKEN", &key)], "")
        .ok();
    assert!(out.stdout.starts_with("ann on "), "{}", out.render());
    assert!(
        bob.run(&["cloud", "whoami"])
            .ok()
            .stdout
            .starts_with("bob on ")
    );

    let id = keys[0]["id"].as_str().unwrap();
    let out = ann.run(&["cloud", "api-keys", "revoke", id]).ok();
    assert_eq!(out.stdout, format!("Revoked API key {id}\n"));
    let out = ci
        .run_with(
            &["cloud", "whoami", "--url", &server.base],
            &[("GRYT_TOKEN", &key)],
            "",
        )
        .fails(3);
    assert!(
        out.stderr.contains("Hint: the token comes from GRYT_TOKEN"),
        "{}",
        out.render()
    );
    // Not one of bob's keys.
    let out = bob.run(&["cloud", "api-keys", "revoke", id]).fails(3);
    assert!(out.stderr.contains("Hint:"), "{}", out.render());
}

#[test]
fn two_accounts_on_one_server_keep_their_tokens() {
    let server = TestServer::start();
    let dev = Dev::account(&server, "ann");
    dev.register("bob").ok();
    dev.login("bob").ok();
    let file: serde_json::Value = serde_json::from_str(&dev.credentials_file()).unwrap();
    let accounts = file["tokens"][&server.base].as_object().unwrap();
    assert_eq!(accounts.keys().collect::<Vec<_>>(), ["ann", "bob"]);
    assert!(
        dev.run(&["cloud", "whoami"])
            .ok()
            .stdout
            .starts_with("bob on ")
    );
    dev.run(&["cloud", "logout"]).ok();
    // Ann's token is untouched by bob's logout.
    assert!(dev.credentials_file().contains("\"ann\""));
    assert!(!dev.credentials_file().contains("\"bob\""));
}

#[cfg(unix)]
#[test]
fn a_credentials_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start();
    let ann = Dev::account(&server, "ann");
    std::fs::set_permissions(
        ann.credentials_path(),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = ann.run(&["cloud", "whoami"]).fails(1);
    assert!(
        out.stderr.contains("can be read by other users"),
        "{}",
        out.render()
    );
    assert!(out.stderr.contains("chmod 600"), "{}", out.render());
}

#[test]
fn too_many_failed_logins_say_how_long_to_wait() {
    let server = TestServer::start();
    let ann = Dev::new(&server);
    ann.register("ann").ok();
    let client = gryt::sync::client::Client::new(&server.base, None, Default::default());
    let wrong = gryt::api::accounts::LoginRequest {
        username: "ann".into(),
        password: "wrong-password".into(),
        device: None,
    };
    for _ in 0..10 {
        let e = client.login(&wrong).unwrap_err();
        assert_eq!(e.code(), Some(gryt::api::ErrorCode::Unauthorized), "{e:?}");
    }
    let out = ann.login("ann").fails(3);
    assert!(
        out.stderr.contains("Hint: too many attempts: wait "),
        "{}",
        out.render()
    );
}
