//! `gryt cloud webhook add|list|remove|deliveries`: a project's webhooks and what was
//! delivered to them. The URL and event names are checked here as the server checks them,
//! so a typo is a usage error before anything is sent.

use clap::Subcommand;
use uuid::Uuid;

use super::{ServerArg, split_slug};
use crate::api::webhooks::{CreateWebhook, Webhook, WebhookEvent, check_url, parse_events};
use crate::cli::error::CommandError;
use crate::cli::ui::{self, Ui};

/// Webhooks: the cloud POSTs signed JSON to a URL when a project changes
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook to a project (owners only); prints its signing secret, once
    Add(AddArgs),
    /// List a project's webhooks
    List(ListArgs),
    /// Remove a webhook and its delivery records (owners only)
    Remove(IdArgs),
    /// List a webhook's latest deliveries: status, attempts, last error
    Deliveries(DeliveriesArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// TEAM/PROJECT
    pub project: String,
    /// Where to POST events: http:// or https://, no user name or password
    #[arg(value_name = "URL")]
    pub endpoint: String,
    /// Events to send, comma-separated (default: all): generation_created,
    /// generation_updated, generation_deleted, evolution_decided, promoted
    #[arg(long, value_delimiter = ',', value_name = "EVENTS")]
    pub events: Vec<String>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// TEAM/PROJECT
    pub project: String,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, clap::Args)]
pub struct IdArgs {
    /// TEAM/PROJECT
    pub project: String,
    /// The webhook's id (gryt cloud webhook list)
    pub id: String,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    /// TEAM/PROJECT
    pub project: String,
    /// The webhook's id (gryt cloud webhook list)
    pub id: String,
    /// How many of the latest deliveries to show (the server shows at most 500)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
    #[command(flatten)]
    pub server: ServerArg,
}

fn webhook_id(id: &str) -> Result<Uuid, CommandError> {
    Uuid::parse_str(id).map_err(|_| {
        CommandError::usage(format!("`{}` is not a webhook id", id.escape_debug()))
            .hint("see the project's webhooks and their ids: gryt cloud webhook list TEAM/PROJECT")
    })
}

fn events_label(events: &[WebhookEvent]) -> String {
    if events.len() == WebhookEvent::ALL.len() {
        return "all".to_string();
    }
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(ui: &Ui, cmd: WebhookCommand) -> Result<(), CommandError> {
    match cmd {
        WebhookCommand::Add(a) => {
            let (team, name) = split_slug(&a.project)?;
            check_url(&a.endpoint).map_err(CommandError::usage)?;
            parse_events(&a.events).map_err(CommandError::usage)?;
            let req = CreateWebhook {
                url: a.endpoint.clone(),
                events: a.events.iter().map(|e| e.trim().to_string()).collect(),
            };
            let slug = format!("{team}/{name}");
            let hook: Webhook = a.server.authed()?.call(|c| c.add_webhook(&slug, &req))?;
            if ui.json {
                return ui.json(&hook);
            }
            ui.line(format!(
                "Added webhook {} to {slug}: {} (events: {})",
                hook.id,
                hook.url,
                events_label(&hook.events)
            ))?;
            ui.line(format!(
                "Secret: {}",
                hook.secret.as_deref().unwrap_or("(not sent by the server)")
            ))?;
            ui.status(
                "The secret is shown this once: keep it where the receiver can check the X-Gryt-Signature header with it",
            );
            Ok(())
        }
        WebhookCommand::List(a) => {
            let (team, name) = split_slug(&a.project)?;
            let slug = format!("{team}/{name}");
            let hooks = a.server.authed()?.call(|c| c.webhooks(&slug))?;
            if ui.json {
                return ui.json(&hooks);
            }
            if hooks.is_empty() {
                ui.status(format!(
                    "{slug} has no webhooks (add one: gryt cloud webhook add {slug} URL)"
                ));
                return Ok(());
            }
            let mut t = ui::table(&["id", "url", "events", "created by", "created"]);
            for h in &hooks {
                t.add_row(vec![
                    h.id.to_string(),
                    h.url.clone(),
                    events_label(&h.events),
                    h.created_by.clone(),
                    h.created_at.clone(),
                ]);
            }
            ui.line(ui::render(&t))
        }
        WebhookCommand::Remove(a) => {
            let (team, name) = split_slug(&a.project)?;
            let id = webhook_id(&a.id)?;
            let slug = format!("{team}/{name}");
            a.server.authed()?.call(|c| c.remove_webhook(&slug, id))?;
            if ui.json {
                return ui.json(&serde_json::json!({"removed": id, "project": slug}));
            }
            ui.line(format!("Removed webhook {id} from {slug}"))
        }
        WebhookCommand::Deliveries(a) => {
            let (team, name) = split_slug(&a.project)?;
            let id = webhook_id(&a.id)?;
            let slug = format!("{team}/{name}");
            let deliveries = a
                .server
                .authed()?
                .call(|c| c.webhook_deliveries(&slug, id, Some(a.limit)))?;
            if ui.json {
                return ui.json(&deliveries);
            }
            if deliveries.is_empty() {
                ui.status(format!("Webhook {id} has no deliveries yet"));
                return Ok(());
            }
            let mut t = ui::table(&[
                "delivery",
                "event",
                "status",
                "attempts",
                "answer",
                "last error",
                "created",
                "delivered / next attempt",
            ]);
            for d in &deliveries {
                t.add_row(vec![
                    d.id.to_string(),
                    d.event.as_str().to_string(),
                    d.status.as_str().to_string(),
                    d.attempts.to_string(),
                    d.last_status_code
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    d.last_error.clone().unwrap_or_default(),
                    d.created_at.clone(),
                    d.delivered_at
                        .clone()
                        .or_else(|| d.next_attempt_at.clone())
                        .unwrap_or_default(),
                ]);
            }
            ui.line(ui::render(&t))
        }
    }
}
