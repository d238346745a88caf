use super::error::CommandError;
use super::ui::Ui;
use crate::workspace::config::{self, ConfigFile, KEYS};
use crate::workspace::{find_root, load_config, resolve_user};

/// Get and set options, like `git config`
///
/// `gryt config KEY` prints a value, `gryt config KEY VALUE` sets it in the repository
/// (.gryt/config) or, with --global, for your user (~/.config/gryt/config). Repository values
/// override global ones. Secrets never go here: use `gryt cloud login` or GRYT_TOKEN.
#[derive(Debug, clap::Args)]
#[command(after_help = keys_help())]
pub struct ConfigArgs {
    /// The key, e.g. user.name
    #[arg(required_unless_present = "list")]
    pub key: Option<String>,
    /// The new value
    #[arg(conflicts_with_all = ["list", "unset"], allow_hyphen_values = true)]
    pub value: Option<String>,
    /// Show every value that is set
    #[arg(short, long, conflicts_with_all = ["unset", "key"])]
    pub list: bool,
    /// Remove the key
    #[arg(long, requires = "key")]
    pub unset: bool,
    /// Use the global (per-user) file instead of the repository's
    #[arg(long)]
    pub global: bool,
}

fn keys_help() -> String {
    let mut s = String::from("Keys:\n");
    for k in KEYS {
        s.push_str(&format!("  {:<24} {}\n", k.key, k.help));
    }
    s
}

pub fn cmd_config(ui: &Ui, args: ConfigArgs) -> Result<(), CommandError> {
    let cwd = std::env::current_dir().map_err(|e| CommandError::user(e.to_string()))?;
    let root = find_root(&cwd);
    let cfg = load_config(root.as_deref())?;

    if args.list {
        let values = match (args.global, &cfg.repo) {
            (true, _) | (false, None) => cfg.global.values.clone(),
            (false, Some(_)) => cfg.merged(),
        };
        if ui.json {
            return ui.json(&values);
        }
        for (k, v) in values {
            ui.line(format!("{k}={v}"))?;
        }
        return Ok(());
    }

    let key = args.key.expect("clap requires a key unless --list");
    if !KEYS.iter().any(|k| k.key == key) {
        return Err(config::ConfigError::UnknownKey(key).into());
    }
    if !args.unset && args.value.is_none() {
        let value = match (args.global, key.as_str()) {
            (true, _) => cfg.global.values.get(&key).cloned(),
            (false, "user.name") => Some(resolve_user(&cfg, root.as_deref())),
            (false, _) => cfg.get(&key).map(str::to_string),
        };
        return match value {
            Some(v) if ui.json => ui.json(&serde_json::json!({ "key": key, "value": v })),
            Some(v) => ui.line(v),
            None => Err(CommandError::user(format!("{key} is not set"))
                .hint(format!("set it with `gryt config {key} VALUE`"))),
        };
    }

    let mut file: ConfigFile = if args.global {
        cfg.global
    } else {
        match cfg.repo {
            Some(repo) => repo,
            None => {
                return Err(
                    CommandError::user("not a gryt repository (run gryt init)").hint(format!(
                        "to set {key} for your user everywhere, add --global"
                    )),
                );
            }
        }
    };
    if args.unset {
        if file.values.remove(&key).is_none() {
            return Err(CommandError::user(format!(
                "{key} is not set in {}",
                file.path.display()
            )));
        }
        file.save()?;
        ui.status(format!("Unset {key}"));
    } else {
        let value = config::validate(&key, args.value.as_deref().expect("checked above"))?;
        file.values.insert(key.clone(), value.clone());
        file.save()?;
        ui.status(format!("Set {key} = {value}"));
    }
    Ok(())
}
