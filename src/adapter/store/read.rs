//! Reading the adapters folder: its `*.toml` files, and one file → a validated entry
//! (definition, endpoint policy, office matching the file name, managed header).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Entry, Meta, files};
use crate::adapter::{Adapter, DefError, EndpointPolicy};
use crate::mapping::MappingSet;

/// The `*.toml` files of the folder, sorted (hidden and temporary files excluded).
pub(super) fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// One file → a validated entry; the office must match the file name.
pub(super) fn parse_entry(
    path: &Path,
    text: &str,
    mappings: &MappingSet,
    policy: &EndpointPolicy,
) -> Result<Entry, DefError> {
    let def = files::parse_def(text)?;
    let adapter = Adapter::from_def(&def, mappings)?;
    policy.check(&adapter.endpoint)?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if stem != adapter.office.to_string() {
        return Err(DefError::field(
            "office",
            format!(
                "{} must be in a file named {}.toml",
                adapter.office, adapter.office
            ),
        ));
    }
    let meta = files::parse_meta(text).unwrap_or_else(|| Meta {
        version: 1,
        changed_at: files::modified(path),
        changed_by: "file".into(),
    });
    Ok(Entry {
        def,
        adapter: Arc::new(adapter),
        meta,
        text: text.to_owned(),
    })
}
