//! gryt-ci's contract files (`.gryt/generations/vX.Y.Z.yaml`) beside its store. Its workflow
//! is "edit the file, then `gryt generation update`", so a file can hold edits the store never
//! got. The store is what is imported; a file that says otherwise earns a note, never an
//! error (the file is not gryt-ci's record of the generation).

use std::path::Path;

use crate::api::records::GenerationRecord;

/// Larger contract files are not read (gryt's own limit for a contract is far below).
const MAX_FILE_BYTES: u64 = 1 << 20;

#[derive(serde::Deserialize)]
struct File {
    #[serde(default)]
    changes: Vec<FileChange>,
}

#[derive(serde::Deserialize, PartialEq)]
struct FileChange {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    title: Option<String>,
    description: Option<String>,
}

/// One note per generation whose contract file in `dir` differs from the store's contract or
/// cannot be read; nothing for a generation without a file.
pub(super) fn compare(dir: &Path, generations: &[&GenerationRecord]) -> Vec<String> {
    let mut notes = Vec::new();
    for g in generations {
        let name = g.version.file_name();
        let path = dir.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let problem = if !meta.is_file() {
            Some("is not a regular file".to_string())
        } else if meta.len() > MAX_FILE_BYTES {
            Some(format!("is larger than {MAX_FILE_BYTES} bytes"))
        } else {
            match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| serde_yaml::from_str::<File>(&text).map_err(|e| e.to_string()))
            {
                Err(e) => Some(format!("cannot be read ({})", super::map::shown(&e))),
                Ok(file) if file.changes != store_changes(g) => Some(
                    "differs from gryt-ci's database (edited after the last `gryt generation \
                     update`?)"
                        .to_string(),
                ),
                Ok(_) => None,
            }
        };
        if let Some(problem) = problem {
            notes.push(format!(
                "{}: .gryt/generations/{name} {problem}; the database's contract is imported",
                g.version
            ));
        }
    }
    notes
}

fn store_changes(g: &GenerationRecord) -> Vec<FileChange> {
    g.changes
        .iter()
        .map(|c| FileChange {
            id: Some(c.id.to_string()),
            kind: Some(c.kind.to_string()),
            title: Some(c.title.clone()),
            description: c.description.clone(),
        })
        .collect()
}
