//! `gryt cloud project create|list` and `gryt cloud link TEAM/PROJECT`, which ties this
//! repository to a cloud project by writing `cloud.url` and `cloud.project` to `.gryt/config`
//! (never a secret).

use clap::Subcommand;

use super::{ServerArg, split_slug};
use crate::cli::error::CommandError;
use crate::cli::ui::{self, Ui};
use crate::workspace::config::ConfigFile;

/// Projects: one repository's release line in the cloud
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project in a team (owners only)
    Create(ProjectArgs),
    /// List a team's projects
    List(ProjectListArgs),
}

#[derive(Debug, clap::Args)]
pub struct ProjectArgs {
    /// TEAM/PROJECT
    pub project: String,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, clap::Args)]
pub struct ProjectListArgs {
    pub team: String,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Link this repository to a cloud project (checks that you can see it)
#[derive(Debug, clap::Args)]
pub struct LinkArgs {
    /// TEAM/PROJECT
    pub project: String,
    #[command(flatten)]
    pub server: ServerArg,
}

pub fn run(ui: &Ui, cmd: ProjectCommand) -> Result<(), CommandError> {
    match cmd {
        ProjectCommand::Create(a) => {
            let (team, name) = split_slug(&a.project)?;
            let p = a
                .server
                .authed()?
                .call(|c| c.create_project(&team, &name))?;
            if ui.json {
                return ui.json(&p);
            }
            ui.line(format!("Created project {}/{}", p.team, p.name))?;
            ui.status(format!(
                "Link a repository to it: gryt cloud link {}/{}",
                p.team, p.name
            ));
            Ok(())
        }
        ProjectCommand::List(a) => {
            let projects = a.server.authed()?.call(|c| c.projects(&a.team))?;
            if ui.json {
                return ui.json(&projects);
            }
            let mut t = ui::table(&["project", "head", "created"]);
            for p in &projects {
                t.add_row(vec![
                    format!("{}/{}", p.team, p.name),
                    p.head.to_string(),
                    p.created_at.clone(),
                ]);
            }
            ui.line(ui::render(&t))
        }
    }
}

pub fn cmd_link(ui: &Ui, args: LinkArgs) -> Result<(), CommandError> {
    let (team, name) = split_slug(&args.project)?;
    let ws_root = crate::workspace::find_root(
        &std::env::current_dir()
            .map_err(|e| CommandError::user(format!("cannot read the current directory: {e}")))?,
    )
    .ok_or(crate::workspace::WorkspaceError::NotARepo)?;
    let s = args.server.authed()?;
    let info = s.call(|c| c.project(&team, &name))?;
    let slug = format!("{}/{}", info.team, info.name);

    let mut file = ConfigFile::load(&ws_root.join(crate::workspace::DIR).join("config"))?;
    let before = (
        file.values.get("cloud.url").cloned(),
        file.values.get("cloud.project").cloned(),
    );
    let already = before.0.as_deref() == Some(s.url.as_str()) && before.1.as_deref() == Some(&slug);
    match &before {
        _ if already => {}
        (_, Some(p)) => ui.warn(format!(
            "this repository was linked to {p}{}; it now follows {slug} — pull before pushing",
            before
                .0
                .as_ref()
                .map(|u| format!(" on {u}"))
                .unwrap_or_default()
        )),
        (_, None) => ui.status("This repository was not linked to a cloud project before"),
    }
    if !already {
        file.values.insert("cloud.url".into(), s.url.clone());
        file.values.insert("cloud.project".into(), slug.clone());
        file.save()?;
    }
    if ui.json {
        return ui.json(&serde_json::json!({"url": s.url, "project": slug, "head": info.head}));
    }
    let verb = if already { "Already linked" } else { "Linked" };
    ui.line(format!(
        "{verb} to {slug} on {} (cloud head {})",
        s.url, info.head
    ))
}
