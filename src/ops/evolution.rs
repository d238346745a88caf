//! Evolutions: start one (it becomes the workspace's current evolution), list, show, find.

use serde_json::json;

use super::generation::{CURRENT_EVOLUTION, get};
use super::{OpError, Result};
use crate::clock;
use crate::domain::{GenerationStatus, RcTag, Version};
use crate::store::{Evolution, NewEvolution, StepRecord};
use crate::workspace::Workspace;

/// Starts an evolution of `change` in `version`: next rc tag, a unique code name, owned by
/// the acting user, pending. It becomes the current evolution.
pub fn start(ws: &Workspace, version: &Version, change: &str) -> Result<Evolution> {
    let g = get(ws, version)?;
    match g.status {
        GenerationStatus::Promoted => {
            return Err(OpError::Promoted {
                version: version.clone(),
                action: "given new evolutions",
            });
        }
        GenerationStatus::Abandoned => {
            return Err(OpError::NotDraft {
                version: version.clone(),
                status: "abandoned",
                action: "given new evolutions",
            });
        }
        GenerationStatus::Draft => {
            super::generation::ensure_no_promotion_in_flight(ws, &g, "given new evolutions")?;
        }
    }
    if g.contract.change(change).is_none() {
        return Err(OpError::UnknownChange {
            version: version.clone(),
            change: change.to_string(),
            known: g
                .contract
                .changes
                .iter()
                .map(|c| c.id.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let now = clock::now_string();
    let mut rng = clock::rng(ws.store.change_counter()?);
    let id = clock::new_id();
    ws.store.tx(|s| -> Result<()> {
        let tag = RcTag::next(version, s.max_rc(&g.id)?).ok_or_else(|| OpError::Invalid {
            what: "rc tag",
            reason: format!("{version} has used the largest rc number ({})", u32::MAX),
        })?;
        let code_name = s.unused_code_name(&mut rng)?;
        s.insert_evolution(&NewEvolution {
            id: &id,
            generation_id: &g.id,
            change_id: change,
            code_name: &code_name,
            rc: tag.rc,
            owner: ws.user(),
            now: &now,
        })?;
        s.set_local_state(CURRENT_EVOLUTION, Some(&id))?;
        s.audit(
            &now,
            ws.user(),
            "evolution.started",
            &tag.to_string(),
            json!({"code_name": code_name, "change": change}),
        )?;
        Ok(())
    })?;
    Ok(ws.store.evolution(&id)?.expect("just inserted"))
}

pub fn list(ws: &Workspace, version: &Version) -> Result<Vec<Evolution>> {
    let g = get(ws, version)?;
    Ok(ws.store.evolutions_of(&g.id)?)
}

/// Finds an evolution by code name or rc tag.
pub fn find(ws: &Workspace, name: &str) -> Result<Evolution> {
    let found = match RcTag::parse(name) {
        Some(tag) => ws.store.evolution_by_tag(&tag)?,
        None => ws.store.evolution_by_code_name(name)?,
    };
    found.ok_or_else(|| OpError::EvolutionNotFound(name.to_string()))
}

/// The workspace's current evolution, if it still exists.
pub fn current(ws: &Workspace) -> Result<Option<Evolution>> {
    match ws.store.local_state(CURRENT_EVOLUTION)? {
        Some(id) => Ok(ws.store.evolution(&id)?),
        None => Ok(None),
    }
}

#[derive(Debug, serde::Serialize)]
pub struct EvolutionDetail {
    #[serde(flatten)]
    pub evolution: Evolution,
    pub current: bool,
    pub steps: Vec<StepRecord>,
}

pub fn show(ws: &Workspace, name: &str) -> Result<EvolutionDetail> {
    let e = find(ws, name)?;
    let steps = match &e.pipeline_run_id {
        Some(run) => ws.store.steps_of(run)?,
        None => Vec::new(),
    };
    let current = ws.store.local_state(CURRENT_EVOLUTION)?.as_deref() == Some(e.id.as_str());
    Ok(EvolutionDetail {
        evolution: e,
        current,
        steps,
    })
}
