//! Adapter files on disk: the managed header (version, when, by whom), parsing with line
//! numbers, atomic writes (temporary file, fsync, rename, fsync of the folder) and the
//! history folder `adapters/.history/<office>/<version>.toml` that the loader ignores.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{AdapterDef, DefError};

/// Folder (inside the adapters folder) of previous versions and tombstones.
pub const HISTORY: &str = ".history";

/// Name of the tombstone of a deleted adapter in its history folder.
pub const TOMBSTONE: &str = "deleted.toml";

const VERSION: &str = "# guichet-version = ";
const CHANGED_AT: &str = "# guichet-changed-at = ";
const CHANGED_BY: &str = "# guichet-changed-by = ";

/// Who changed an adapter, when, and its version (monotonic per office).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// Version, starting at 1; every change (API, rollback, hand edit, delete) adds one.
    pub version: u64,
    /// RFC 3339 time of the change.
    pub changed_at: String,
    /// `role:name` of the certificate that made it, or `file` for a hand edit.
    pub changed_by: String,
}

impl Meta {
    /// A new version made now by `by`.
    pub fn next(version: u64, by: &str) -> Meta {
        Meta {
            version,
            changed_at: now(),
            changed_by: by.chars().filter(|c| !c.is_control()).take(100).collect(),
        }
    }
}

/// The current time as RFC 3339 (seconds, UTC).
pub fn now() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// A time as RFC 3339 (seconds, UTC).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    crate::timefmt::rfc3339(t)
}

/// A file's modification time as RFC 3339 (empty when unknown).
pub fn modified(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| rfc3339(t.into()))
        .unwrap_or_default()
}

/// The managed header of a file, when it has one.
pub fn parse_meta(text: &str) -> Option<Meta> {
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
    };
    Some(Meta {
        version: field(VERSION)?.parse().ok()?,
        changed_at: field(CHANGED_AT).unwrap_or_default(),
        changed_by: field(CHANGED_BY).unwrap_or_default(),
    })
}

/// `body` (an adapter file) with its managed header replaced by `meta`; other comments
/// and the layout of a hand-edited file are kept.
pub fn with_header(meta: &Meta, body: &str) -> String {
    let mut out = format!(
        "# Managed by guichet (the API and hand edits both work; history in {HISTORY}/).\n\
         {VERSION}{}\n{CHANGED_AT}{}\n{CHANGED_BY}{}\n",
        meta.version, meta.changed_at, meta.changed_by
    );
    for line in body
        .lines()
        .filter(|l| !l.starts_with("# guichet-") && !l.starts_with("# Managed by guichet"))
    {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A definition rendered as a managed TOML file.
pub fn render(def: &AdapterDef, meta: &Meta) -> Result<String, DefError> {
    let body = toml::to_string(def).map_err(|e| DefError::Render(e.to_string()))?;
    Ok(with_header(meta, &body))
}

/// Parses an adapter file; errors name the line, the column and the field.
pub fn parse_def(text: &str) -> Result<AdapterDef, DefError> {
    Ok(crate::toml_error::parse(text)?)
}

/// The temporary file a write of `path` goes through (hidden, not `*.toml`).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `path` atomically: a temporary file in the same folder, fsync, rename, fsync of
/// the folder. A crash leaves either the old or the new file, never half of one.
/// `stop_before_rename` (a test hook) returns an error right before the rename, as a crash
/// there would: the temporary file is written and synced, the old file untouched.
pub fn write_atomic(path: &Path, text: &str, stop_before_rename: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temp = temp_path(path);
    {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    if stop_before_rename {
        return Err(std::io::Error::other(
            "stopped before the rename (test hook): the old file is untouched",
        ));
    }
    std::fs::rename(&temp, path)?;
    sync_dir(dir)
}

/// Removes a file and syncs its folder.
pub fn remove(path: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The versions kept in an office's history folder, ascending.
pub fn history_versions(dir: &Path) -> Vec<u64> {
    let mut versions: Vec<u64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".toml")?.parse().ok()
        })
        .collect();
    versions.sort_unstable();
    versions
}

/// A deleted adapter: the office stays in answers as `unavailable` ("deregistered").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tombstone {
    /// Display name of the office.
    pub name: String,
    /// Version of the deletion.
    pub version: u64,
    /// When it was deleted.
    pub changed_at: String,
    /// Who deleted it.
    pub changed_by: String,
}

impl Tombstone {
    /// The deletion's metadata.
    pub fn meta(&self) -> Meta {
        Meta {
            version: self.version,
            changed_at: self.changed_at.clone(),
            changed_by: self.changed_by.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_replaces_the_old_one() {
        let meta = Meta::next(7, "office:001.000\n");
        let text = with_header(&meta, "# a comment\noffice = \"001.000\"\n");
        assert_eq!(parse_meta(&text), Some(meta.clone()));
        assert!(!meta.changed_by.contains('\n'));
        let again = with_header(&Meta::next(8, "file"), &text);
        assert_eq!(parse_meta(&again).map(|m| m.version), Some(8));
        assert_eq!(again.matches("# guichet-version").count(), 1);
        assert!(again.contains("# a comment"));
    }

    #[test]
    fn interrupted_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("001.000.toml");
        write_atomic(&path, "old", false).expect("write");
        assert!(write_atomic(&path, "new", true).is_err());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
        write_atomic(&path, "new", false).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        assert!(!temp_path(&path).exists());
    }
}
