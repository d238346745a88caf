//! Project webhooks (`…/projects/{team}/{project}/webhooks`): what an owner registers, what
//! the server answers about them and their deliveries, and the JSON document each delivery
//! carries (docs/PROTOCOL.md, "Webhooks"). The URL and event checks live here so the CLI can
//! refuse bad input before sending it and the server refuses it the same way.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest webhook URL accepted.
pub const MAX_WEBHOOK_URL_LEN: usize = 2000;
/// Most webhooks one project may have.
pub const MAX_WEBHOOKS_PER_PROJECT: usize = 20;
/// Request header: `sha256=<hex HMAC-SHA256 of the body with the webhook's secret>`.
pub const SIGNATURE_HEADER: &str = "x-gryt-signature";
/// Request header: the event name.
pub const EVENT_HEADER: &str = "x-gryt-event";
/// Request header: the delivery id (the same on every attempt of one delivery).
pub const DELIVERY_HEADER: &str = "x-gryt-delivery";

/// What a webhook can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    /// A generation new to the project (a version taken), by a push or an import.
    GenerationCreated,
    /// A generation's contract or status changed by a push.
    GenerationUpdated,
    /// A draft generation (and its evolutions) deleted.
    GenerationDeleted,
    /// An evolution reached a decided status (`passed`, `failed`, …).
    EvolutionDecided,
    /// A generation was promoted (the promote request, or a push publishing one promoted
    /// before the repository was linked).
    Promoted,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 5] = [
        WebhookEvent::GenerationCreated,
        WebhookEvent::GenerationUpdated,
        WebhookEvent::GenerationDeleted,
        WebhookEvent::EvolutionDecided,
        WebhookEvent::Promoted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::GenerationCreated => "generation_created",
            WebhookEvent::GenerationUpdated => "generation_updated",
            WebhookEvent::GenerationDeleted => "generation_deleted",
            WebhookEvent::EvolutionDecided => "evolution_decided",
            WebhookEvent::Promoted => "promoted",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookEvent> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The event names, comma-separated (for messages).
    pub fn names() -> String {
        Self::ALL.map(WebhookEvent::as_str).join(", ")
    }
}

/// Event names as given (`--events a,b` or the request's list): each known, none twice;
/// an empty list means every event. Sorted.
pub fn parse_events<S: AsRef<str>>(names: &[S]) -> Result<Vec<WebhookEvent>, String> {
    let mut events = Vec::new();
    for name in names {
        let name = name.as_ref().trim();
        let event = WebhookEvent::parse(name).ok_or_else(|| {
            format!(
                "unknown webhook event `{}`; the events are {}",
                name.escape_debug(),
                WebhookEvent::names()
            )
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        events = WebhookEvent::ALL.to_vec();
    }
    events.sort();
    Ok(events)
}

/// Checks a webhook URL: `http` or `https`, a host, no user name or password, no fragment,
/// printable ASCII, at most [`MAX_WEBHOOK_URL_LEN`] characters.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("the webhook URL is empty".into());
    }
    if url.len() > MAX_WEBHOOK_URL_LEN {
        return Err(format!(
            "the webhook URL is {} characters long; at most {MAX_WEBHOOK_URL_LEN} are accepted",
            url.len()
        ));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "the webhook URL must be printable ASCII without spaces (percent-encode the rest)"
                .into(),
        );
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not a URL: expected http://HOST/… or https://HOST/…"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!(
            "webhooks are delivered over http or https, not `{scheme}`"
        ));
    }
    if url.contains('#') {
        return Err("a webhook URL has no fragment (`#…`)".into());
    }
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(
            "a webhook URL carries no user name or password; the signature authenticates deliveries"
                .into(),
        );
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    if let Some(port) = authority
        .strip_prefix('[')
        .map_or(authority.split_once(':').map(|(_, p)| p), |v6| {
            v6.split_once("]:").map(|(_, p)| p)
        })
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!("`{port}` is not a port"));
    }
    Ok(())
}

/// `POST …/webhooks`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateWebhook {
    pub url: String,
    /// Event names; empty or absent for every event.
    #[serde(default)]
    pub events: Vec<String>,
}

/// A webhook as the server describes it. `secret` is in the answer to its creation only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub created_by: String,
    pub created_at: String,
    /// The signing secret (64 hex digits), shown once: in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: waiting for its first attempt or for a retry.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; no more will be made.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One delivery of one event to one webhook, as recorded (`GET …/webhooks/{id}/deliveries`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event: WebhookEvent,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The HTTP status of the last answer, if the receiver answered at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed (cleared when one succeeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// When the next attempt is due (pending deliveries), RFC 3339 with milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}

/// The project an event happened in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventProject {
    pub team: String,
    pub name: String,
    pub project_id: Uuid,
}

/// The JSON document POSTed to the webhook's URL (the body the signature covers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDocument {
    pub event: WebhookEvent,
    /// Also in the `X-Gryt-Delivery` header; the same on every attempt of one delivery.
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    /// When the change was committed (the server's clock, RFC 3339).
    pub occurred_at: String,
    pub project: EventProject,
    /// The account whose request made the change.
    pub actor: String,
    /// The request that made it: `push`, `promote`, `import` or `delete`.
    pub via: String,
    /// The record as it is after the change, exactly as the changes feed serves it
    /// (`{"kind": …, "record": {…}}`; a tombstone for `generation_deleted`).
    pub record: crate::api::records::Record,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "http://127.0.0.1:8080/hook",
            "https://hooks.example.com/a?b=c",
            "http://[::1]:9/x",
            "HTTPS://example.com",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("", "empty"),
            ("ftp://example.com/", "http or https"),
            ("file:///etc/passwd", "http or https"),
            ("example.com/hook", "not a URL"),
            ("http:///path", "no host"),
            ("http://user:pw@example.com/", "user name"),
            ("http://user@example.com/", "user name"),
            ("http://example.com/a#frag", "fragment"),
            ("http://example.com/a b", "printable"),
            ("http://example.com:99999/", "not a port"),
            ("http://example.com:0/", "not a port"),
        ] {
            let e = check_url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_WEBHOOK_URL_LEN));
        assert!(check_url(&long).unwrap_err().contains("at most"));
    }

    #[test]
    fn events() {
        assert_eq!(
            parse_events::<&str>(&[]).unwrap(),
            WebhookEvent::ALL.to_vec()
        );
        assert_eq!(
            parse_events(&["promoted", "generation_created", "promoted"]).unwrap(),
            vec![WebhookEvent::GenerationCreated, WebhookEvent::Promoted]
        );
        let e = parse_events(&["promoted", "pushed"]).unwrap_err();
        assert!(
            e.contains("`pushed`") && e.contains("evolution_decided"),
            "{e}"
        );
        for e in WebhookEvent::ALL {
            assert_eq!(
                serde_json::to_value(e).unwrap(),
                serde_json::json!(e.as_str())
            );
        }
    }
}
