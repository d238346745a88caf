//! What the server and sync benches share: a real Gryt Cloud on 127.0.0.1:0 over a temp data
//! dir, its bench account, and numbers read from the environment.

use gryt::api::accounts::{LoginRequest, RegisterRequest};
use gryt::server::{BackgroundServer, ServerConfig};
use gryt::sync::client::{Client, ClientOptions};

/// A real server on 127.0.0.1:0 and its data dir; bind them in this order
/// (`let (data, server) = …`) so the server stops before the dir goes.
pub fn server() -> (tempfile::TempDir, BackgroundServer) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server =
        BackgroundServer::start(dir.path(), ServerConfig::default()).expect("server starts");
    (dir, server)
}

/// Registers the bench account at `base` and logs it in: its name and token.
pub fn bench_account(base: &str) -> (&'static str, String) {
    const USER: &str = "bench";
    const PASSWORD: &str = "bench-password";
    let anon = Client::new(base, None, ClientOptions::default());
    anon.register(&RegisterRequest {
        username: USER.into(),
        password: PASSWORD.into(),
    })
    .expect("register");
    let token = anon
        .login(&LoginRequest {
            username: USER.into(),
            password: PASSWORD.into(),
            device: Some("bench".into()),
        })
        .expect("login")
        .token;
    (USER, token)
}

/// The number in environment variable `name`, else `default`.
pub fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
