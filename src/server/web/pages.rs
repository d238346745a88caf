//! The web view's HTML (maud: every value interpolated into a template is escaped, so text
//! from users — titles, names — always shows as text). Each page is a document around its
//! `<main>`; the `<main>` content alone is the fragment the live script swaps in.

use maud::{DOCTYPE, Markup, html};

use crate::api::accounts::Role;
use crate::api::status::{ChangeStatus, GenerationStatusResponse};
use crate::domain::{EvolutionStatus, GenerationStatus};
use crate::server::rules::status::{GenerationSummary, ReleaseLine};

/// A whole page: `main` inside the header and the live script when `live` (the fingerprint
/// of what `main` shows) is given.
pub fn document(title: &str, user: Option<&str>, live: Option<&str>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Gryt Cloud" }
                link rel="stylesheet" href="/assets/gryt.css";
                @if live.is_some() {
                    script src="/assets/live.js" defer {}
                }
            }
            body {
                header.top {
                    a.brand href="/" { "Gryt Cloud" }
                    @if let Some(user) = user {
                        form.signout method="post" action="/logout" {
                            span { "Signed in as " strong { (user) } }
                            " "
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main data-live=[live] { (main) }
                @if live.is_some() {
                    p #live-status.live-status role="status" aria-live="polite" {
                        "Updates by itself when someone pushes or promotes."
                    }
                }
            }
        }
    }
}

/// The sign-in form, with what went wrong last time.
pub fn sign_in(error: Option<&str>, username: &str, next: &str) -> Markup {
    html! {
        h1 { "Sign in" }
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
        form.signin method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            label for="username" { "Username" }
            input #username type="text" name="username" value=(username)
                autocomplete="username" autocapitalize="none" required autofocus;
            label for="password" { "Password" }
            input #password type="password" name="password"
                autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
        p.hint {
            "Use your gryt account (the one " code { "gryt cloud login" } " uses). "
            "The web view only shows: nothing here changes a release."
        }
    }
}

/// A team the signed-in account is in, with its role and projects.
pub struct TeamProjects {
    pub name: String,
    pub role: Role,
    pub projects: Vec<String>,
}

pub fn home(teams: &[TeamProjects]) -> Markup {
    html! {
        h1 { "Your projects" }
        @if teams.is_empty() {
            p { "You are in no team yet. Create one with " code { "gryt cloud team create NAME" }
                " or ask a team's owner to add you." }
        }
        @for team in teams {
            section.team aria-labelledby=(format!("team-{}", team.name)) {
                h2 #(format!("team-{}", team.name)) {
                    (team.name) " " span.role { "(" (team.role.as_str()) ")" }
                }
                @if team.projects.is_empty() {
                    p { "No projects yet." }
                } @else {
                    ul.projects {
                        @for p in &team.projects {
                            li { a href=(project_path(&team.name, p)) { (team.name) "/" (p) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn project_path(team: &str, project: &str) -> String {
    format!("/projects/{team}/{project}")
}

pub fn generation_path(team: &str, project: &str, version: &impl std::fmt::Display) -> String {
    format!("/projects/{team}/{project}/generations/{version}")
}

fn breadcrumbs(team: &str, project: &str, version: Option<&str>) -> Markup {
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/" { "Projects" } " › "
            @if let Some(v) = version {
                a href=(project_path(team, project)) { (team) "/" (project) } " › "
                span aria-current="page" { (v) }
            } @else {
                span aria-current="page" { (team) "/" (project) }
            }
        }
    }
}

fn when(t: &str) -> Markup {
    html! { time datetime=(t) { (t.replacen('T', " ", 1)) } }
}

fn status_badge(status: GenerationStatus, id: Option<&str>) -> Markup {
    html! {
        span id=[id] class={ "badge status-" (status.as_str()) } { (status.as_str()) }
    }
}

fn result_badge(status: EvolutionStatus) -> Markup {
    html! { span class={ "badge result-" (status.as_str()) } { (status.as_str()) } }
}

/// The release line of a project.
pub fn project(team: &str, project: &str, line: &ReleaseLine) -> Markup {
    let promoted = line
        .generations
        .iter()
        .filter(|g| g.status == GenerationStatus::Promoted)
        .count();
    html! {
        (breadcrumbs(team, project, None))
        h1 { (team) "/" (project) }
        p.summary {
            (line.generations.len()) " generation(s), " (promoted) " promoted."
        }
        @if line.generations.is_empty() {
            p { "Nothing pushed yet: " code { "gryt sync push" } " in a linked workspace sends its generations here." }
        } @else {
            div.scroll {
                table.release-line {
                    caption { "Release line, newest version first" }
                    thead { tr {
                        th scope="col" { "Version" }
                        th scope="col" { "Status" }
                        th scope="col" { "Proven changes" }
                        th scope="col" { "Evolutions" }
                        th scope="col" { "Ready for promotion" }
                        th scope="col" { "Promoted by" }
                        th scope="col" { "Promoted at" }
                    } }
                    tbody {
                        @for g in &line.generations { (generation_row(team, project, g)) }
                    }
                }
            }
        }
    }
}

fn generation_row(team: &str, project: &str, g: &GenerationSummary) -> Markup {
    html! {
        tr {
            th scope="row" { a href=(generation_path(team, project, &g.version)) { (g.version) } }
            td { (status_badge(g.status, None)) }
            td { (g.proven) " of " (g.changes) }
            td { (g.evolutions) }
            td {
                @match g.status {
                    GenerationStatus::Draft if g.ready => span.yes { "ready" },
                    GenerationStatus::Draft => span.no { "not ready" },
                    _ => "—",
                }
            }
            td { @if let Some(by) = &g.promoted_by { (by) } @else { "—" } }
            td { @if let Some(at) = &g.promoted_at { (when(at)) } @else { "—" } }
        }
    }
}

/// Where one generation stands.
pub fn generation(team: &str, project: &str, s: &GenerationStatusResponse) -> Markup {
    let version = s.version.to_string();
    let assignees = s.changes.iter().any(|c| c.assignee.is_some());
    html! {
        (breadcrumbs(team, project, Some(&version)))
        h1 { (version) " " (status_badge(s.status, Some("generation-status"))) }
        dl.facts {
            dt { "Created" } dd { "by " (s.created_by) " at " (when(&s.created_at)) }
            @if let Some(by) = &s.promoted_by {
                dt { "Promoted" }
                dd #promoted {
                    "by " (by)
                    @if let Some(at) = &s.promoted_at { " at " (when(at)) }
                }
            }
            dt { "Proven" } dd { (s.proven) " of " (s.changes.len()) " change(s)" }
        }
        section.gates aria-labelledby="ready" {
            h2 #ready {
                "Ready for promotion: "
                @if s.ready { span.yes { "yes" } }
                @else if s.status == GenerationStatus::Draft { span.no { "no" } }
                @else { span { "no (" (s.status.as_str()) ")" } }
            }
            ul {
                @for g in &s.gates {
                    li class=(if g.passed { "pass" } else { "fail" }) {
                        span.mark aria-hidden="true" { (if g.passed { "✓" } else { "✗" }) }
                        " " (if g.passed { "passed" } else { "failing" }) ": "
                        strong { (g.gate) } " — " (g.detail)
                    }
                }
            }
        }
        section aria-labelledby="changes" {
            h2 #changes { "Changes" }
            @if s.changes.is_empty() {
                p { "The contract has no changes." }
            } @else {
                div.scroll {
                    table.changes {
                        caption { "Each change of the contract and the evolutions proving it" }
                        thead { tr {
                            th scope="col" { "Type" }
                            th scope="col" { "Change" }
                            th scope="col" { "Title" }
                            @if assignees { th scope="col" { "Assignee" } }
                            th scope="col" { "Proven" }
                            th scope="col" { "Evolutions (rc tag, owner, result, time)" }
                        } }
                        tbody {
                            @for c in &s.changes { (change_row(c, assignees)) }
                        }
                    }
                }
            }
        }
    }
}

fn change_row(c: &ChangeStatus, assignees: bool) -> Markup {
    // `data-label`: the column's name, shown beside the value where a narrow screen stacks
    // the cells.
    html! {
        tr {
            td data-label="Type" { (c.kind.as_str()) }
            th scope="row" { (c.id) }
            td data-label="Title" { (c.title) }
            @if assignees {
                td data-label="Assignee" { @if let Some(a) = &c.assignee { (a) } @else { "—" } }
            }
            td data-label="Proven" {
                @if c.proven { span.yes { "yes" } } @else { span.no { "no" } }
            }
            td data-label="Evolutions" {
                @if c.evolutions.is_empty() {
                    span.no { "none yet" }
                } @else {
                    ul.evolutions {
                        @for e in &c.evolutions {
                            li {
                                code { (e.tag) } " · " (e.owner) " · " (result_badge(e.status))
                                " · " (when(&e.started_at))
                                @if let Some(done) = &e.completed_at { " → " (when(done)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The answer for a project or generation that is missing — or that the account may not
/// see: the same page, byte for byte.
pub fn not_found() -> Markup {
    html! {
        h1 { "Not found" }
        p { "There is no such page here, or it belongs to a team you are not in." }
        p { a href="/" { "Your projects" } }
    }
}

pub fn failure(message: &str) -> Markup {
    html! {
        h1 { "Something went wrong" }
        p role="alert" { (message) }
        p { a href="/" { "Your projects" } }
    }
}
