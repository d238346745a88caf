//! The linked cloud project of a workspace: `cloud.url` and `cloud.project` from its config,
//! plus the token for that server, as one ready [`Remote`]. The sync engine starts here.

use uuid::Uuid;

use super::client::{self, Client, ClientOptions};
use super::credentials::{Credentials, CredentialsError, TokenSource};
use crate::api::sync::{DeleteResponse, ProjectInfo};
use crate::api::{ChangesPage, PromoteRequest, PromoteResponse, PushRequest, PushResponse};
use crate::workspace::Workspace;
use crate::workspace::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("this repository is not linked to a cloud project")]
    NotLinked,
    #[error("not logged in to {url}")]
    NotLoggedIn { url: String },
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

/// A linked project with a client that carries the token.
#[derive(Debug, Clone)]
pub struct Remote {
    pub client: Client,
    /// Server URL without a trailing `/`.
    pub url: String,
    pub team: String,
    pub project: String,
    /// The account the token belongs to, as known locally; empty for a `GRYT_TOKEN` when no
    /// account is current for the server (the server knows; `client.whoami()` tells).
    pub account: String,
    pub token_source: TokenSource,
}

/// The workspace's remote, with credentials from the environment and the user's stores.
pub fn connect(ws: &Workspace) -> Result<Remote, RemoteError> {
    connect_opts(ws, ClientOptions::from_env())
}

/// [`connect`] with other timeouts and retries (`ClientOptions::background`).
pub fn connect_opts(ws: &Workspace, opts: ClientOptions) -> Result<Remote, RemoteError> {
    connect_with(&ws.config, &Credentials::from_env()?, opts)
}

/// [`connect`] with explicit credentials and client options (tests, tools).
pub fn connect_with(
    config: &Config,
    creds: &Credentials,
    opts: ClientOptions,
) -> Result<Remote, RemoteError> {
    let (Some(url), Some(slug)) = (config.get("cloud.url"), config.get("cloud.project")) else {
        return Err(RemoteError::NotLinked);
    };
    let (team, project) = slug.split_once('/').ok_or(RemoteError::NotLinked)?;
    let url = super::credentials::normalize(url);
    let token = creds
        .token(&url)?
        .ok_or_else(|| RemoteError::NotLoggedIn { url: url.clone() })?;
    let account = token.account.clone().unwrap_or_default();
    let token_source = token.source;
    Ok(Remote {
        client: Client::new(&url, Some(token.into_secret()), opts),
        url,
        team: team.to_string(),
        project: project.to_string(),
        account,
        token_source,
    })
}

impl Remote {
    /// `/v1/projects/{team}/{project}`: the prefix of every project route.
    pub fn path(&self) -> String {
        format!(
            "{}/projects/{}/{}",
            crate::api::API_PREFIX,
            self.team,
            self.project
        )
    }

    /// `TEAM/PROJECT`.
    pub fn slug(&self) -> String {
        format!("{}/{}", self.team, self.project)
    }

    /// The cheap status request: the project and its head.
    pub fn info(&self) -> client::Result<ProjectInfo> {
        self.client.project(&self.team, &self.project)
    }

    pub fn changes(&self, since: u64, limit: Option<u32>) -> client::Result<ChangesPage> {
        self.client.changes(&self.slug(), since, limit)
    }

    pub fn push(&self, req: &PushRequest) -> client::Result<PushResponse> {
        self.client.push(&self.slug(), req)
    }

    pub fn promote(
        &self,
        generation: Uuid,
        req: &PromoteRequest,
    ) -> client::Result<PromoteResponse> {
        self.client.promote(&self.slug(), generation, req)
    }

    pub fn delete_generation(
        &self,
        generation: Uuid,
        revision: Option<u64>,
    ) -> client::Result<DeleteResponse> {
        self.client
            .delete_generation(&self.slug(), generation, revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::config::ConfigFile;

    fn config(values: &[(&str, &str)]) -> Config {
        let mut repo = ConfigFile::default();
        for (k, v) in values {
            repo.values.insert(k.to_string(), v.to_string());
        }
        Config {
            global: ConfigFile::default(),
            repo: Some(repo),
        }
    }

    #[test]
    fn needs_a_link_and_a_login() {
        let dir = tempfile::tempdir().unwrap();
        let creds = Credentials::new(dir.path().to_path_buf(), false);
        let opts = ClientOptions::default();
        let c = config(&[("cloud.url", "http://127.0.0.1:9")]);
        assert!(matches!(
            connect_with(&c, &creds, opts.clone()),
            Err(RemoteError::NotLinked)
        ));
        let c = config(&[
            ("cloud.url", "http://127.0.0.1:9/"),
            ("cloud.project", "acme/web"),
        ]);
        match connect_with(&c, &creds, opts.clone()) {
            Err(RemoteError::NotLoggedIn { url }) => assert_eq!(url, "http://127.0.0.1:9"),
            other => panic!("{other:?}"),
        }
        creds.store("http://127.0.0.1:9", "ann", "gryt_t").unwrap();
        let r = connect_with(&c, &creds, opts).unwrap();
        assert_eq!(
            (r.team.as_str(), r.project.as_str(), r.account.as_str()),
            ("acme", "web", "ann")
        );
        assert_eq!(r.path(), "/v1/projects/acme/web");
        assert_eq!(r.token_source, TokenSource::File);
        assert!(r.client.has_token());
    }
}
