//! Pipeline files: create from the template, list, load by name.

use super::{OpError, Result, io};
use crate::pipeline::{self, Pipeline};
use crate::store::PipelineRun;
use crate::workspace::file::occupied;
use crate::workspace::{Workspace, write_atomic};

pub fn create(ws: &Workspace, name: &str) -> Result<std::path::PathBuf> {
    super::check_pipeline_name(name)?;
    let path = ws.pipelines_dir().join(format!("{name}.yaml"));
    if occupied(&path) {
        return Err(OpError::PipelineExists(name.to_string()));
    }
    write_atomic(&path, pipeline::template(name).as_bytes()).map_err(io("write", &path))?;
    Ok(path)
}

pub fn load(ws: &Workspace, name: &str) -> Result<Pipeline> {
    super::check_pipeline_name(name)?;
    let path = ws.pipelines_dir().join(format!("{name}.yaml"));
    // Anything at the path (a directory, a FIFO, a dangling link) is read and refused with
    // its reason; only nothing at all is "not found".
    if !occupied(&path) {
        return Err(OpError::PipelineNotFound {
            name: name.to_string(),
            path: ws.display_path(&path),
        });
    }
    pipeline::load(&path, name).map_err(|e| e.relative_to(&ws.root).into())
}

/// Pipeline names found on disk, sorted.
pub fn names(ws: &Workspace) -> Result<Vec<String>> {
    let dir = ws.pipelines_dir();
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".yaml")
                    .map(str::to_string)
            })
            .filter(|n| crate::domain::check_pipeline_name(n).is_ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io("read", &dir)(e)),
    };
    names.sort();
    Ok(names)
}

#[derive(Debug, serde::Serialize)]
pub struct PipelineInfo {
    pub name: String,
    pub steps: Option<usize>,
    /// Why the file does not load, if it does not.
    pub error: Option<String>,
}

pub fn list(ws: &Workspace) -> Result<Vec<PipelineInfo>> {
    names(ws)?
        .into_iter()
        .map(|name| {
            Ok(match load(ws, &name) {
                Ok(p) => PipelineInfo {
                    name,
                    steps: Some(p.steps.len()),
                    error: None,
                },
                Err(e) => PipelineInfo {
                    name,
                    steps: None,
                    error: Some(e.to_string()),
                },
            })
        })
        .collect()
}

pub fn runs(ws: &Workspace, limit: usize) -> Result<Vec<PipelineRun>> {
    Ok(ws.store.list_runs(limit)?)
}
