//! For the engine's tests: a real Gryt Cloud on 127.0.0.1:0 with an account and a project,
//! and a workspace linked to it.

use super::Cloud;
use crate::api::accounts::{LoginRequest, RegisterRequest};
use crate::domain::generation::Contract;
use crate::domain::{Change, ChangeType};
use crate::server::{BackgroundServer, ServerConfig};
use crate::sync::client::{Client, ClientOptions};
use crate::workspace::Workspace;

/// A real server on 127.0.0.1:0, an account and project on it, and a workspace holding
/// three generations nobody pushed yet.
pub(super) struct Setup {
    _server: BackgroundServer,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    pub client: Client,
    pub base: String,
    pub ws: Workspace,
}

pub(super) fn setup() -> Setup {
    let data = tempfile::tempdir().unwrap();
    let server = BackgroundServer::start(data.path(), ServerConfig::default()).unwrap();
    let base = server.url();
    let anon = Client::new(&base, None, ClientOptions::default());
    let (username, password) = ("ann".to_string(), "ann-password".to_string());
    anon.register(&RegisterRequest {
        username: username.clone(),
        password: password.clone(),
    })
    .unwrap();
    let token = anon
        .login(&LoginRequest {
            username,
            password,
            device: Some("test".into()),
        })
        .unwrap()
        .token;
    let client = Client::new(&base, Some(token), ClientOptions::default());
    client.create_team("acme").unwrap();
    client.create_project("acme", "web").unwrap();
    let dir = tempfile::tempdir().unwrap();
    Workspace::init(dir.path()).unwrap();
    let ws = Workspace::discover(dir.path()).unwrap();
    for (i, v) in ["1.0.0", "2.0.0", "3.0.0"].iter().enumerate() {
        let contract = Contract {
            version: v.parse().unwrap(),
            description: String::new(),
            pipeline_template: None,
            changes: vec![Change {
                kind: ChangeType::Add,
                id: format!("FEAT-{}", i + 1).parse().unwrap(),
                title: "A feature".into(),
                description: None,
                pipeline: None,
                assignee: None,
            }],
        };
        crate::ops::generation::create(&ws, &contract).unwrap();
    }
    Setup {
        _server: server,
        _dirs: (data, dir),
        client,
        base,
        ws,
    }
}

impl Setup {
    pub fn cloud(&self) -> Cloud<'_> {
        Cloud {
            client: &self.client,
            url: &self.base,
            project: "acme/web".into(),
            account: "ann",
        }
    }
}
