//! A real Gryt Cloud server in-process on 127.0.0.1:0 over real storage — a SQLite file in a
//! temp dir, or, with `GRYT_TEST_BACKEND=postgres`, a schema of its own in the PostgreSQL
//! database `GRYT_TEST_POSTGRES` names (see [`Backend`]) — and a small blocking HTTP client (ureq, status codes as values so JSON error bodies are
//! readable). Record builders produce the wire JSON directly so tests can also send
//! malformed records.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gryt::server::ServerConfig;
use serde_json::{Value, json};

pub struct TestServer {
    pub base: String,
    pub dir: PathBuf,
    /// Where its data is: SQLite in `dir`, or the URL of its PostgreSQL schema.
    pub storage: Backend,
    /// More `gryt cloud serve` processes on the same PostgreSQL schema ([`TestServer::spread`]).
    pub others: Vec<ChildServer>,
    _temp: Option<Arc<tempfile::TempDir>>,
    server: gryt::server::BackgroundServer,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(ServerConfig::default())
    }

    pub fn start_with(config: ServerConfig) -> TestServer {
        let temp = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut s = Self::start_in(temp.path(), config);
        s._temp = Some(temp);
        s
    }

    /// Starts on an existing data dir (for restarts); the caller keeps the dir alive. On the
    /// backend the run chose ([`Backend::chosen`]): with PostgreSQL the dir names a schema,
    /// so a restart on the same dir finds the same data.
    pub fn start_in(dir: &Path, config: ServerConfig) -> TestServer {
        Self::start_on(Backend::chosen(), dir, config)
    }

    /// Starts on SQLite in `dir` whatever the run's backend: for tests of what only a data
    /// directory has (backup and restore files, editing the database file by hand).
    pub fn start_sqlite_in(dir: &Path, config: ServerConfig) -> TestServer {
        Self::start_on(Backend::Sqlite, dir, config)
    }

    pub fn start_on(backend: Backend, dir: &Path, config: ServerConfig) -> TestServer {
        let storage = match backend {
            Backend::Sqlite => Backend::Sqlite,
            Backend::Postgres(url) => Backend::Postgres(
                gryt::server::storage::postgres::schema_url(&url, &schema_for(dir))
                    .expect("a test schema"),
            ),
        };
        let server = match &storage {
            Backend::Sqlite => gryt::server::BackgroundServer::start(dir, config),
            Backend::Postgres(url) => gryt::server::open_postgres(url)
                .and_then(|s| gryt::server::BackgroundServer::start_on(s, None, config)),
        }
        .expect("server starts");
        TestServer {
            storage,
            others: Vec::new(),
            base: server.url(),
            dir: dir.to_path_buf(),
            _temp: None,
            server,
        }
    }

    /// The base URLs `n` clients should use: this server for all, or — when the run sets
    /// `GRYT_TEST_PROCESSES=N` (N ≥ 2) and the server is on PostgreSQL — this server and N-1
    /// `gryt cloud serve` processes on the same database, in turn.
    pub fn spread(&mut self, n: usize) -> Vec<String> {
        let processes = std::env::var("GRYT_TEST_PROCESSES")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1);
        if let Backend::Postgres(url) = &self.storage {
            while self.others.len() + 1 < processes {
                self.others
                    .push(ChildServer::spawn(&["--database", url.as_str()]));
            }
        }
        let bases: Vec<String> = std::iter::once(self.base.clone())
            .chain(self.others.iter().map(|o| o.base.clone()))
            .collect();
        (0..n).map(|i| bases[i % bases.len()].clone()).collect()
    }

    /// Stops gracefully and waits for the server thread.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// `gryt cloud admin user add` on the server's storage (no request).
    pub fn admin_add_user(
        &self,
        name: &str,
        password: &str,
    ) -> Result<gryt::api::accounts::Account, gryt::server::ServerError> {
        match &self.storage {
            Backend::Sqlite => gryt::server::admin_add_user(&self.dir, name, password),
            Backend::Postgres(url) => gryt::server::admin_add_user_to(
                gryt::server::open_postgres(url)?.as_ref(),
                name,
                password,
            ),
        }
    }

    /// Runs SQL on the server's database behind its back (a hand edit); the rows changed.
    pub fn execute_sql(&self, sql: &str) -> u64 {
        match &self.storage {
            Backend::Sqlite => {
                let db = self.dir.join(gryt::server::storage::sqlite::DB_FILE);
                let conn = rusqlite::Connection::open(db).expect("open the server database");
                conn.execute(sql, []).expect("SQL runs") as u64
            }
            Backend::Postgres(url) => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                        .await
                        .expect("connect to the test database");
                    let driver = tokio::spawn(conn);
                    let n = client.execute(sql, &[]).await.expect("SQL runs");
                    drop(client);
                    let _ = driver.await;
                    n
                })
            }
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// Registers `name` (password `password-NAME`) and logs in.
    pub fn user(&self, name: &str) -> Client {
        let c = self.client();
        let r = c.post(
            "/v1/accounts",
            json!({"username": name, "password": format!("password-{name}")}),
        );
        assert_eq!(r.status, 201, "register {name}: {}", r.json);
        c.login(name)
    }
}

/// The storage a test server runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// A database the tests may make schemas in (`postgres://…`).
    Postgres(String),
}

impl Backend {
    /// PostgreSQL when the run asks for it (`GRYT_TEST_BACKEND=postgres`, on the database
    /// `GRYT_TEST_POSTGRES` names), else SQLite.
    pub fn chosen() -> Backend {
        if std::env::var("GRYT_TEST_BACKEND").is_ok_and(|b| b == "postgres") {
            return match std::env::var("GRYT_TEST_POSTGRES") {
                Ok(url) if !url.is_empty() => Backend::Postgres(url),
                _ => panic!("GRYT_TEST_BACKEND=postgres needs GRYT_TEST_POSTGRES=postgres://…"),
            };
        }
        Backend::Sqlite
    }

    /// The PostgreSQL database for tests that need one; `None` (said loudly) when there is
    /// none. Under `CI=true` a missing database fails the test instead: CI must run them.
    pub fn postgres(test: &str) -> Option<String> {
        if let Ok(url) = std::env::var("GRYT_TEST_POSTGRES")
            && !url.is_empty()
        {
            return Some(url);
        }
        let message = format!(
            "SKIPPED {test}: no PostgreSQL (set GRYT_TEST_POSTGRES=postgres://USER:PASSWORD@127.0.0.1/DB)"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}; CI must run the PostgreSQL tests");
        }
        eprintln!("{message}");
        None
    }
}

/// The schema a test server in `dir` uses on PostgreSQL: one per data dir.
pub fn schema_for(dir: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes());
    let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    format!("t_{hex}")
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub json: Value,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an error answer: status, code, and the standard body shape.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Value {
        assert_eq!((self.status, self.code()), (status, code), "{}", self.json);
        assert!(
            self.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.json
        );
        assert!(self.json["details"].is_object(), "{}", self.json);
        &self.json["details"]
    }

    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!(
            (200..300).contains(&self.status),
            "status {}: {}",
            self.status,
            self.json
        );
        &self.json
    }
}

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .build()
            .into();
        Client {
            agent,
            base: base.to_string(),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    pub fn login(&self, name: &str) -> Client {
        let r = self.post(
            "/v1/auth/login",
            json!({"username": name, "password": format!("password-{name}"), "device": "test"}),
        );
        assert_eq!(r.status, 200, "login {name}: {}", r.json);
        self.with_token(r.json["token"].as_str().expect("token"))
    }

    fn finish(&self, res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        self.try_finish(res)
            .expect("HTTP exchange with the test server")
    }

    fn try_finish(
        &self,
        res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Resp, ureq::Error> {
        let mut res = res?;
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = res
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()?;
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("non-JSON body ({e}) for status {status}: {text}"))
        };
        Ok(Resp {
            status,
            json,
            headers,
        })
    }

    fn auth(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    pub fn get(&self, path: &str) -> Resp {
        let mut r = self.agent.get(format!("{}{path}", self.base));
        if let Some(a) = self.auth() {
            r = r.header("authorization", a);
        }
        self.finish(r.call())
    }

    pub fn delete(&self, path: &str) -> Resp {
        let mut r = self.agent.delete(format!("{}{path}", self.base));
        if let Some(a) = self.auth() {
            r = r.header("authorization", a);
        }
        self.finish(r.call())
    }

    pub fn post(&self, path: &str, body: Value) -> Resp {
        self.post_raw(path, serde_json::to_vec(&body).expect("json"))
    }

    pub fn post_raw(&self, path: &str, body: Vec<u8>) -> Resp {
        self.try_post_raw(path, body)
            .expect("HTTP exchange with the test server")
    }

    /// A POST whose transport errors are returned, not panicked on (servers that get killed).
    pub fn try_post_raw(&self, path: &str, body: Vec<u8>) -> Result<Resp, ureq::Error> {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(a) = self.auth() {
            r = r.header("authorization", a);
        }
        self.try_finish(r.send(&body[..]))
    }

    /// Pushes records with a fresh idempotency key.
    pub fn push(&self, project: &str, base_seq: u64, records: Vec<Value>) -> Resp {
        self.push_keyed(
            project,
            base_seq,
            &uuid::Uuid::now_v7().to_string(),
            records,
        )
    }

    pub fn push_keyed(&self, project: &str, base_seq: u64, key: &str, records: Vec<Value>) -> Resp {
        self.post(
            &format!("/v1/projects/{project}/push"),
            json!({"base_seq": base_seq, "idempotency_key": key, "records": records}),
        )
    }

    /// The head, or `None` when the server cannot be reached.
    pub fn try_get_head(&self, project: &str) -> Option<u64> {
        let mut r = self
            .agent
            .get(format!("{}/v1/projects/{project}", self.base));
        if let Some(a) = self.auth() {
            r = r.header("authorization", a);
        }
        self.try_finish(r.call()).ok()?.json["head"].as_u64()
    }

    pub fn head(&self, project: &str) -> u64 {
        let r = self.get(&format!("/v1/projects/{project}"));
        r.ok()["head"].as_u64().expect("head")
    }

    /// Every record of the feed, following `next` page by page with `limit`.
    pub fn pull_all(&self, project: &str, limit: u32) -> (Vec<Value>, usize) {
        let mut since = 0;
        let mut out = Vec::new();
        let mut pages = 0;
        loop {
            let r = self.get(&format!(
                "/v1/projects/{project}/changes?since={since}&limit={limit}"
            ));
            let page = r.ok().clone();
            pages += 1;
            out.extend(page["records"].as_array().expect("records").iter().cloned());
            since = page["next"].as_u64().expect("next");
            if !page["more"].as_bool().expect("more") {
                return (out, pages);
            }
        }
    }

    /// Creates team `team` with project `project`; returns `team/project`.
    pub fn project(&self, team: &str, project: &str) -> String {
        let r = self.post("/v1/teams", json!({"name": team}));
        assert!(r.status == 201 || r.code() == "name_taken", "{}", r.json);
        self.post(
            &format!("/v1/teams/{team}/projects"),
            json!({"name": project}),
        )
        .ok();
        format!("{team}/{project}")
    }
}

/// A long poll of `project`'s changes feed after `since` (`wait=30`) on its own thread: the
/// page it is answered.
pub fn long_poll(c: &Client, project: &str, since: u64) -> std::thread::JoinHandle<Value> {
    let (c, path) = (
        c.clone(),
        format!("/v1/projects/{project}/changes?since={since}&wait=30"),
    );
    std::thread::spawn(move || c.get(&path).ok().clone())
}

pub fn uid(n: u128) -> String {
    uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 | n).to_string()
}

pub const T0: &str = "2026-01-01T00:00:00Z";

/// A draft generation record (wire JSON) with one `add` change per id.
pub fn gen_record(id: &str, version: &str, changes: &[&str]) -> Value {
    json!({
        "id": id,
        "version": version,
        "description": "",
        "changes": changes.iter().map(|c| json!({"type": "add", "id": c, "title": format!("Change {c}")})).collect::<Vec<_>>(),
        "status": "draft",
        "created_at": T0,
    })
}

pub fn evo_record(
    id: &str,
    generation_id: &str,
    change: &str,
    rc: u32,
    code_name: &str,
    status: &str,
) -> Value {
    let completed = matches!(status, "pass" | "fail").then_some(T0);
    json!({
        "id": id,
        "generation_id": generation_id,
        "change_id": change,
        "code_name": code_name,
        "rc": rc,
        "status": status,
        "started_at": T0,
        "completed_at": completed,
    })
}

pub fn run_record(id: &str, evolution_id: Option<&str>) -> Value {
    json!({
        "id": id,
        "pipeline": "default",
        "evolution_id": evolution_id,
        "status": "pass",
        "started_at": T0,
        "finished_at": T0,
        "duration_ms": 1200,
        "steps": [{"name": "test", "exit_code": 0, "duration_ms": 1100}],
    })
}

/// A push entry.
pub fn rec(kind: &str, base_revision: Option<u64>, record: Value) -> Value {
    json!({"kind": kind, "base_revision": base_revision, "record": record})
}

pub fn generation(record: Value) -> Value {
    rec("generation", None, record)
}

pub fn evolution(record: Value) -> Value {
    rec("evolution", None, record)
}

/// A code name that is unique per `n`.
pub fn code_name(n: u64) -> String {
    const A: [&str; 8] = [
        "agile", "amber", "bold", "brave", "calm", "clever", "daring", "eager",
    ];
    format!(
        "{}-{}-otter{n}",
        A[(n % 8) as usize],
        A[((n / 8) % 8) as usize]
    )
}

/// An answer read off a raw connection: what the server wrote, byte for byte.
#[derive(Debug)]
pub struct RawResp {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResp {
    /// The body as JSON (panics, naming the answer, when it is not).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("non-JSON body ({e}): {}\n{}", self.head, self.body))
    }
}

/// Writes `request` as is on a new connection to the server and reads the first answer (head,
/// then `content-length` bytes of body). No HTTP client in between, so requests no client
/// would send, and the exact order of what comes back, can be tested.
pub fn raw_exchange(base: &str, request: &[u8]) -> RawResp {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    // A bail-out for a broken server, not a timing assertion.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request).expect("send");
    let mut got = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).expect("read the answer");
        assert!(n > 0, "connection closed after {got:?}");
        got.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while got.len() < head_end + length {
        let n = stream.read(&mut chunk).expect("read the body");
        assert!(n > 0, "connection closed inside the body: {head}");
        got.extend_from_slice(&chunk[..n]);
    }
    RawResp {
        status,
        head,
        body: String::from_utf8_lossy(&got[head_end..head_end + length]).to_string(),
    }
}

/// A `gryt cloud serve` child process, killed (SIGKILL) when dropped.
pub struct ChildServer {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    _home: tempfile::TempDir,
}

impl ChildServer {
    /// Starts `gryt cloud serve --listen 127.0.0.1:0` with `args` (its storage) in a temp
    /// HOME, and waits for the address it listens on.
    pub fn spawn(args: &[&str]) -> ChildServer {
        use std::io::BufRead;
        let home = tempfile::tempdir().expect("temp HOME");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gryt"))
            .args(["cloud", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("HOME", home.path())
            .env_remove("RUST_LOG")
            .env_remove("GRYT_SERVER_DATA")
            .env_remove("GRYT_SERVER_DATABASE")
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
            _home: home,
        }
    }

    /// Kills the process at once (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}
