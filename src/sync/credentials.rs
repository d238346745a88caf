//! Login tokens, keyed by server URL *and* account so two accounts never collide.
//!
//! Where a token is looked up, first hit wins:
//! 1. `GRYT_TOKEN` (CI): overrides everything, for any server.
//! 2. The OS keyring (`keyring` crate with a real backend: the kernel keyutils store on
//!    Linux, Keychain on macOS, Credential Manager on Windows). Skipped when
//!    `GRYT_KEYRING=off` (tests, CI). A keyring that does not keep what it was given is
//!    detected — written, read back, and on Linux only trusted with a persistent keyring —
//!    and never used silently.
//! 3. A JSON file readable by its owner only: `$XDG_CONFIG_HOME/gryt/credentials` (default
//!    `~/.config/gryt/credentials`), created 0600 in a 0700 directory (an existing directory
//!    others can enter is tightened); a file other users can read is refused.
//!
//! Which account is current for a server, and the last server logged in to, live in
//! `~/.config/gryt/accounts`, which holds no secret. Tokens never appear in `Debug` output,
//! errors or `.gryt/config`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Overrides every stored token (CI).
pub const TOKEN_ENV: &str = "GRYT_TOKEN";
/// `off` skips the OS keyring.
pub const KEYRING_ENV: &str = "GRYT_KEYRING";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("no home directory for credentials: set HOME or XDG_CONFIG_HOME")]
    NoHome,
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is damaged: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    #[error("{} can be read by other users (mode {mode:o}): refusing to use the tokens in it", path.display())]
    Exposed { path: PathBuf, mode: u32 },
}

pub type Result<T> = std::result::Result<T, CredentialsError>;

/// Where a token came from, or went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    Env,
    Keyring,
    File,
}

/// A token and what is known about it. `Debug` never shows the secret.
#[derive(Clone)]
pub struct Token {
    secret: String,
    /// The account it belongs to; `None` for `GRYT_TOKEN` when no account is current.
    pub account: Option<String>,
    pub source: TokenSource,
}

impl Token {
    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn into_secret(self) -> String {
        self.secret
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"<redacted>")
            .field("account", &self.account)
            .field("source", &self.source)
            .finish()
    }
}

/// Where `store` put a token, for the user: the backend's name or the file's path.
#[derive(Debug, Clone)]
pub struct Stored {
    pub source: TokenSource,
    pub place: String,
    /// Why the keyring was not used, when it was tried and failed.
    pub keyring_problem: Option<String>,
}

/// The token stores of one user.
#[derive(Debug, Clone)]
pub struct Credentials {
    dir: PathBuf,
    keyring: bool,
    env_token: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AccountsFile {
    /// The server of the last login: the default when no `cloud.url` is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_url: Option<String>,
    /// Server URL → current account.
    #[serde(default)]
    current: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokensFile {
    /// Server URL → account → token.
    #[serde(default)]
    tokens: BTreeMap<String, BTreeMap<String, String>>,
}

impl Credentials {
    /// The stores of the current user, configured by the environment (`XDG_CONFIG_HOME`,
    /// `HOME`, `GRYT_TOKEN`, `GRYT_KEYRING`).
    pub fn from_env() -> Result<Credentials> {
        let dir = crate::workspace::config::global_path()
            .map_err(|_| CredentialsError::NoHome)?
            .parent()
            .map(Path::to_path_buf)
            .ok_or(CredentialsError::NoHome)?;
        let keyring = !std::env::var(KEYRING_ENV).is_ok_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "off" | "0" | "false" | "no"
            )
        });
        let env_token = std::env::var(TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Ok(Credentials {
            dir,
            keyring,
            env_token,
        })
    }

    /// Stores under `dir` only (no environment); `keyring` enables the OS keyring.
    pub fn new(dir: PathBuf, keyring: bool) -> Credentials {
        Credentials {
            dir,
            keyring,
            env_token: None,
        }
    }

    pub fn with_env_token(mut self, token: Option<String>) -> Credentials {
        self.env_token = token;
        self
    }

    pub fn file_path(&self) -> PathBuf {
        self.dir.join("credentials")
    }

    pub fn accounts_path(&self) -> PathBuf {
        self.dir.join("accounts")
    }

    pub fn uses_keyring(&self) -> bool {
        self.keyring
    }

    /// Whether `GRYT_TOKEN` is set (it wins over anything stored).
    pub fn env_override(&self) -> bool {
        self.env_token.is_some()
    }

    /// The token to use for `url`: `GRYT_TOKEN`, else the current account's stored token.
    pub fn token(&self, url: &str) -> Result<Option<Token>> {
        let url = normalize(url);
        let account = self.current_account(&url)?;
        if let Some(secret) = &self.env_token {
            return Ok(Some(Token {
                secret: secret.clone(),
                account,
                source: TokenSource::Env,
            }));
        }
        match account {
            Some(account) => self.stored_token(&url, &account),
            None => Ok(None),
        }
    }

    /// The token stored for `account` on `url` (ignoring `GRYT_TOKEN`).
    pub fn stored_token(&self, url: &str, account: &str) -> Result<Option<Token>> {
        let url = normalize(url);
        let found = |secret: String, source| Token {
            secret,
            account: Some(account.to_string()),
            source,
        };
        if self.keyring
            && let Some(secret) = os_keyring::get(&url, account)
        {
            return Ok(Some(found(secret, TokenSource::Keyring)));
        }
        let file = self.read_tokens()?;
        Ok(file
            .tokens
            .get(&url)
            .and_then(|m| m.get(account))
            .map(|s| found(s.clone(), TokenSource::File)))
    }

    pub fn current_account(&self, url: &str) -> Result<Option<String>> {
        Ok(self.read_accounts()?.current.get(&normalize(url)).cloned())
    }

    /// The server of the last login, if any.
    pub fn default_url(&self) -> Result<Option<String>> {
        Ok(self.read_accounts()?.default_url)
    }

    /// Stores `secret` for `account` on `url` and makes the account current there.
    pub fn store(&self, url: &str, account: &str, secret: &str) -> Result<Stored> {
        let url = normalize(url);
        let in_keyring = self.keyring.then(|| os_keyring::set(&url, account, secret));
        let stored = match in_keyring {
            Some(Ok(backend)) => {
                if self.file_path().exists() {
                    self.edit_tokens(|f| remove_token(f, &url, account))?;
                }
                Stored {
                    source: TokenSource::Keyring,
                    place: backend.to_string(),
                    keyring_problem: None,
                }
            }
            problem => {
                if self.keyring {
                    // An older token there would be found before the file's.
                    os_keyring::delete(&url, account);
                }
                self.edit_tokens(|f| {
                    f.tokens
                        .entry(url.clone())
                        .or_default()
                        .insert(account.to_string(), secret.to_string());
                })?;
                Stored {
                    source: TokenSource::File,
                    place: self.file_path().display().to_string(),
                    keyring_problem: problem.and_then(|r| r.err()),
                }
            }
        };
        let mut accounts = self.read_accounts()?;
        accounts.current.insert(url.clone(), account.to_string());
        accounts.default_url = Some(url);
        self.write_accounts(&accounts)?;
        Ok(stored)
    }

    /// Forgets the token of `account` on `url` everywhere it may be stored; the account is
    /// no longer current there.
    pub fn forget(&self, url: &str, account: &str) -> Result<()> {
        let url = normalize(url);
        if self.keyring {
            os_keyring::delete(&url, account);
        }
        if self.file_path().exists() {
            self.edit_tokens(|f| remove_token(f, &url, account))?;
        }
        let mut accounts = self.read_accounts()?;
        if accounts.current.get(&url).is_some_and(|a| a == account) {
            accounts.current.remove(&url);
            self.write_accounts(&accounts)?;
        }
        Ok(())
    }

    fn read_accounts(&self) -> Result<AccountsFile> {
        read_json(&self.accounts_path())
    }

    fn write_accounts(&self, a: &AccountsFile) -> Result<()> {
        write_private(&self.accounts_path(), &to_pretty(a))
    }

    fn read_tokens(&self) -> Result<TokensFile> {
        let path = self.file_path();
        check_private(&path)?;
        read_json(&path)
    }

    fn edit_tokens(&self, f: impl FnOnce(&mut TokensFile)) -> Result<()> {
        let mut file = self.read_tokens()?;
        f(&mut file);
        write_private(&self.file_path(), &to_pretty(&file))
    }
}

/// Server URLs compare without a trailing `/`.
pub fn normalize(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

fn remove_token(f: &mut TokensFile, url: &str, account: &str) {
    if let Some(m) = f.tokens.get_mut(url) {
        m.remove(account);
        if m.is_empty() {
            f.tokens.remove(url);
        }
    }
}

fn to_pretty<T: Serialize>(v: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(v).expect("maps of strings serialize");
    bytes.push(b'\n');
    bytes
}

fn read_json<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| CredentialsError::BadFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(source) => Err(CredentialsError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Refuses a token file that other users can read or write.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => Err(CredentialsError::Exposed {
            path: path.to_path_buf(),
            mode: m.permissions().mode() & 0o777,
        }),
        _ => Ok(()),
    }
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<()> {
    Ok(())
}

/// Writes via a 0600 temporary sibling and a rename: never a moment with the secret in a
/// file others can read, never half a file.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |action| {
        let path = path.to_path_buf();
        move |source| CredentialsError::Io {
            action,
            path,
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir).map_err(io("create the directory of"))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let written = opts.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .map_err(io("write"))
}

/// Creates the directory of the token file 0700 (its parents as usual), and tightens one
/// that others can enter (as older versions created it, 0755): even with a 0600 file, the
/// names of the files and when they change are nobody else's business.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode = std::fs::metadata(dir)?.permissions().mode();
                if mode & 0o077 != 0 {
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// The OS keyring, used only when it demonstrably keeps what it is given.
mod os_keyring {
    const SERVICE: &str = "gryt";

    fn entry(user: &str) -> Option<keyring::Entry> {
        prepare();
        keyring::Entry::new(SERVICE, user).ok()
    }

    fn user(url: &str, account: &str) -> String {
        format!("{account}@{url}")
    }

    /// Linux: a process outside a login session has no session keyring of its own, and
    /// keys it adds cannot be found again (EACCES). Joining a new session keyring, to which
    /// the keyring crate links the user's persistent keyring, makes tokens outlive the
    /// process (until reboot, or the persistent keyring's idle expiry). Inside a login
    /// session this finds the existing session keyring and changes nothing.
    fn prepare() {
        #[cfg(target_os = "linux")]
        {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                use linux_keyutils::{KeyRing, KeyRingIdentifier};
                let _ = KeyRing::from_special_id(KeyRingIdentifier::Session, true);
            });
        }
    }

    /// The backend's name, or why it cannot be trusted with a token.
    fn backend(entry: &keyring::Entry) -> Result<&'static str, String> {
        let cred = entry.get_credential();
        if cred.is::<keyring::mock::MockCredential>() {
            return Err("this build of gryt has no OS keyring backend".into());
        }
        #[cfg(target_os = "linux")]
        {
            match cred.downcast_ref::<keyring::keyutils::KeyutilsCredential>() {
                Some(k) if k.persistent.is_none() => Err(
                    "the kernel keyring has no persistent keyring for this user, so a token \
                     would vanish with the session"
                        .into(),
                ),
                _ => Ok("the kernel keyring (keyutils)"),
            }
        }
        #[cfg(target_os = "macos")]
        return Ok("the macOS keychain");
        #[cfg(windows)]
        return Ok("the Windows credential manager");
        #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
        return Ok("the OS keyring");
    }

    /// Writes a throwaway value and reads it back, so a keyring that cannot keep secrets is
    /// found out before it is given a real one.
    fn probe() -> Result<&'static str, String> {
        let entry = entry("probe@gryt").ok_or("the keyring refused an entry")?;
        let backend = backend(&entry)?;
        let nonce = format!("probe-{}", fastrand::u64(..));
        entry.set_password(&nonce).map_err(|e| e.to_string())?;
        let back = entry.get_password();
        let _ = entry.delete_credential();
        match back {
            Ok(b) if b == nonce => Ok(backend),
            Ok(_) => Err("the keyring returned something else than it was given".into()),
            Err(e) => Err(format!("the keyring does not return what it stores ({e})")),
        }
    }

    /// Stores the token after a successful probe, and reads it back.
    pub fn set(url: &str, account: &str, secret: &str) -> Result<&'static str, String> {
        let backend = probe()?;
        let entry = entry(&user(url, account)).ok_or("the keyring refused the entry name")?;
        entry.set_password(secret).map_err(|e| e.to_string())?;
        match entry.get_password() {
            Ok(back) if back == secret => Ok(backend),
            _ => {
                let _ = entry.delete_credential();
                Err("the keyring did not keep the token".into())
            }
        }
    }

    pub fn get(url: &str, account: &str) -> Option<String> {
        let entry = entry(&user(url, account))?;
        backend(&entry).ok()?;
        entry.get_password().ok()
    }

    pub fn delete(url: &str, account: &str) {
        if let Some(entry) = entry(&user(url, account)) {
            let _ = entry.delete_credential();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> (tempfile::TempDir, Credentials) {
        let dir = tempfile::tempdir().unwrap();
        let c = Credentials::new(dir.path().join("gryt"), false);
        (dir, c)
    }

    #[test]
    fn file_store_round_trip_is_private() {
        let (_d, c) = creds();
        assert!(c.token("http://127.0.0.1:1").unwrap().is_none());
        let stored = c.store("http://127.0.0.1:1/", "ann", "gryt_aaa").unwrap();
        assert_eq!(stored.source, TokenSource::File);
        c.store("http://127.0.0.1:1", "bob", "gryt_bbb").unwrap();
        c.store("http://127.0.0.1:2", "ann", "gryt_ccc").unwrap();
        // Bob logged in last on :1; Ann's token is still there, keyed by account.
        let t = c.token("http://127.0.0.1:1").unwrap().unwrap();
        assert_eq!(
            (t.secret(), t.account.as_deref()),
            ("gryt_bbb", Some("bob"))
        );
        let ann = c
            .stored_token("http://127.0.0.1:1", "ann")
            .unwrap()
            .unwrap();
        assert_eq!(ann.secret(), "gryt_aaa");
        assert_eq!(
            c.default_url().unwrap().as_deref(),
            Some("http://127.0.0.1:2")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(c.file_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir = c.file_path().parent().unwrap().to_path_buf();
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "the credentials directory");
        }
        let accounts = std::fs::read_to_string(c.accounts_path()).unwrap();
        assert!(!accounts.contains("gryt_"), "{accounts}");
        assert!(!format!("{t:?}").contains("gryt_bbb"));

        c.forget("http://127.0.0.1:1", "bob").unwrap();
        assert!(c.token("http://127.0.0.1:1").unwrap().is_none());
        let text = std::fs::read_to_string(c.file_path()).unwrap();
        assert!(
            !text.contains("gryt_bbb") && text.contains("gryt_aaa"),
            "{text}"
        );
    }

    #[test]
    fn env_token_wins() {
        let (_d, c) = creds();
        c.store("http://h", "ann", "gryt_file").unwrap();
        let c = c.with_env_token(Some("gryt_env".into()));
        let t = c.token("http://h").unwrap().unwrap();
        assert_eq!((t.secret(), t.source), ("gryt_env", TokenSource::Env));
        assert_eq!(t.account.as_deref(), Some("ann"));
        let t = c.token("http://other").unwrap().unwrap();
        assert_eq!((t.secret(), t.account.as_deref()), ("gryt_env", None));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_readable_file() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, c) = creds();
        c.store("http://h", "ann", "gryt_x").unwrap();
        std::fs::set_permissions(c.file_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = c.token("http://h").unwrap_err();
        assert!(
            matches!(e, CredentialsError::Exposed { mode: 0o644, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("other users"), "{e}");
    }

    /// A directory an older version created 0755 (or the config file's, made first) is
    /// tightened when a token is stored in it.
    #[cfg(unix)]
    #[test]
    fn tightens_an_open_directory() {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let (_d, c) = creds();
        let dir = c.file_path().parent().unwrap().to_path_buf();
        std::fs::DirBuilder::new().mode(0o755).create(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        c.store("http://h", "ann", "gryt_x").unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn damaged_files_are_errors() {
        let (_d, c) = creds();
        std::fs::create_dir_all(c.file_path().parent().unwrap()).unwrap();
        std::fs::write(c.accounts_path(), "{nope").unwrap();
        assert!(matches!(
            c.token("http://h"),
            Err(CredentialsError::BadFile { .. })
        ));
    }
}
