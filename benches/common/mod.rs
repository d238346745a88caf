//! What the server and sync benches share: a real Gryt Cloud on 127.0.0.1:0 over a temp data
//! dir, its bench account, and numbers read from the environment.

use gryt::api::accounts::{LoginRequest, RegisterRequest};
use gryt::server::{BackgroundServer, ServerConfig};
use gryt::sync::client::{Client, ClientOptions};

/// A real server on 127.0.0.1:0 and its data dir; bind them in this order
/// (`let (data, server) = …`) so the server stops before the dir goes. (The web bench starts
/// its own, with a larger page limit.)
#[allow(dead_code)]
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

/// A `gryt cloud serve` child process (this build's binary) on 127.0.0.1:0 with `args` (its
/// storage), logging warnings only; killed when dropped. (The sync bench does not use it.)
#[allow(dead_code)]
pub struct ChildServer {
    child: std::process::Child,
    pub base: String,
}

#[allow(dead_code)]
impl ChildServer {
    pub fn spawn(args: &[&str]) -> ChildServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gryt"))
            .args([
                "cloud",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log",
                "gryt=info,warn",
            ])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("gryt cloud serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("addr=").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the server says where it listens");
        ChildServer {
            child,
            base: format!("http://{addr}"),
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh schema in the PostgreSQL database `GRYT_BENCH_POSTGRES` names, as a URL servers
/// can use; `None` (said) without one.
#[allow(dead_code)]
pub fn postgres_schema(name: &str) -> Option<String> {
    let Ok(url) = std::env::var("GRYT_BENCH_POSTGRES") else {
        println!(
            "(PostgreSQL rows skipped: set GRYT_BENCH_POSTGRES=postgres://USER:PASSWORD@127.0.0.1/DB)"
        );
        return None;
    };
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let schema = format!("{name}_{}_{n}", std::process::id());
    Some(gryt::server::storage::postgres::schema_url(&url, &schema).expect("a bench schema"))
}
