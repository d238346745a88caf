//! The linked cloud project of a workspace: `cloud.url` and `cloud.project` from its config,
//! plus the token for that server, as one [`Remote`] that owns the client. Requests go through
//! the [`Cloud`] handle it lends ([`Remote::cloud`]); the sync engine takes that handle.

use super::client::{Client, ClientOptions};
use super::credentials::{Credentials, CredentialsError, TokenSource};
use super::engine::Cloud;
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

/// A linked project with a client that carries the token: what [`connect`] resolved.
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

/// The workspace's remote, with credentials from the environment and the user's stores;
/// `opts` sets timeouts and retries (`ClientOptions::from_env`, `ClientOptions::background`).
pub fn connect(ws: &Workspace, opts: ClientOptions) -> Result<Remote, RemoteError> {
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
    /// `TEAM/PROJECT`.
    pub fn slug(&self) -> String {
        format!("{}/{}", self.team, self.project)
    }

    /// The handle the sync engine talks through, acting as `account`.
    pub fn cloud<'a>(&'a self, account: &'a str) -> Cloud<'a> {
        Cloud {
            client: &self.client,
            url: &self.url,
            project: self.slug(),
            account,
        }
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
        let cloud = r.cloud("ann");
        assert_eq!(cloud.project, "acme/web");
        assert_eq!(cloud.url, "http://127.0.0.1:9");
        assert_eq!(r.token_source, TokenSource::File);
        assert!(r.client.has_token());
    }
}
