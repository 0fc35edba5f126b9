//! How a fund takes submissions (the optional `[submissions]` table of an adapter file):
//! synchronously over the office's own mTLS connection (the acknowledgement is the
//! answer), or through the folders of the fund's sedex client. Validated once here.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::DefError;
use crate::mapping::{MappingSet, SubmissionMapping};
use crate::model::{OfficeId, is_participant_id};

/// `[submissions]` as written in an adapter file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionsDef {
    /// `sync` (POST over the office's mTLS connection) or `sedex` (file interface).
    pub transport: String,
    /// A submission dialect of the mappings folder (`ech-apg`).
    pub dialect: String,
    /// `sync` only: the path on the office's host the claim is POSTed to
    /// (`/apg/v1/claims`); absent = the office's own endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The absolute folder shared with the fund's sedex client (holding `outbox/`,
    /// `inbox/`, `receipts/`, `processed/`): required for `sedex`; for `sync`, where the
    /// acknowledgements that follow a `202` arrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sedex_folder: Option<PathBuf>,
    /// The fund's sedex participant id (`T6-066000-1`): required for `sedex`; for `sync`
    /// it replaces the one derived from the office id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
}

/// A validated `[submissions]` table.
#[derive(Debug, Clone)]
pub struct Submissions {
    /// The submission dialect's name.
    pub dialect: String,
    /// Its compiled mapping.
    pub mapping: Arc<SubmissionMapping>,
    /// How messages reach the fund.
    pub transport: SubmissionTransport,
    /// The fund's sedex client folder: where `sedex` messages go and where
    /// acknowledgements arrive (also those following a synchronous `202`). Always set
    /// for [`SubmissionTransport::Sedex`].
    pub sedex_folder: Option<PathBuf>,
    /// The fund's participant id when configured (always for sedex).
    pub participant_id: Option<String>,
}

/// How messages reach the fund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionTransport {
    /// POST over mTLS to the office's host (the office's certificate is verified as for
    /// its queries); `path` replaces the endpoint's path when given. The answer is the
    /// acknowledgement, or `202` when it follows over sedex.
    Sync {
        /// The path on the office's host, or `None` for the office's endpoint.
        path: Option<String>,
    },
    /// The sedex file interface: data file then envelope into `outbox/`, receipts from
    /// `receipts/`, acknowledgements from `inbox/` of [`Submissions::sedex_folder`].
    Sedex,
}

impl Submissions {
    /// Validates `[submissions]` against the known submission dialects.
    pub fn from_def(def: &SubmissionsDef, mappings: &MappingSet) -> Result<Submissions, DefError> {
        let mapping = mappings.submission(&def.dialect).cloned().ok_or_else(|| {
            let known: Vec<&str> = mappings.submission_dialects().collect();
            DefError::field(
                "submissions.dialect",
                format!(
                    "unknown submission dialect {:?} (known: {})",
                    def.dialect,
                    known.join(", ")
                ),
            )
        })?;
        let sedex_folder = def.sedex_folder.as_deref().map(check_folder).transpose()?;
        let participant_id = def
            .participant_id
            .as_deref()
            .map(check_participant)
            .transpose()?;
        let required =
            |field: &'static str| DefError::field(field, "required with transport = \"sedex\"");
        let transport = match def.transport.as_str() {
            "sync" => SubmissionTransport::Sync {
                path: def
                    .path
                    .as_deref()
                    .map(|p| check_path(p, "submissions.path"))
                    .transpose()?,
            },
            "sedex" => {
                if def.path.is_some() {
                    return Err(DefError::field(
                        "submissions.path",
                        "not used with transport = \"sedex\"",
                    ));
                }
                sedex_folder
                    .as_ref()
                    .ok_or_else(|| required("submissions.sedex_folder"))?;
                participant_id
                    .as_ref()
                    .ok_or_else(|| required("submissions.participant_id"))?;
                SubmissionTransport::Sedex
            }
            other => {
                return Err(DefError::field(
                    "submissions.transport",
                    format!("{other:?} is not \"sync\" or \"sedex\""),
                ));
            }
        };
        Ok(Submissions {
            dialect: def.dialect.clone(),
            mapping,
            transport,
            sedex_folder,
            participant_id,
        })
    }

    /// The participant id messages to the fund are addressed to: the configured one, or
    /// the office's id in environment `prefix` (`T6-025000-1`).
    pub fn recipient_id(&self, office: OfficeId, prefix: &str) -> String {
        self.participant_id
            .clone()
            .unwrap_or_else(|| office.participant_id(prefix))
    }

    /// `sync`: the URL claims are POSTed to — the office's `endpoint` with the configured
    /// path (same host, port and TLS identity); `None` for sedex.
    pub fn sync_url(&self, endpoint: &reqwest::Url) -> Option<reqwest::Url> {
        let SubmissionTransport::Sync { path } = &self.transport else {
            return None;
        };
        let mut url = endpoint.clone();
        if let Some(path) = path {
            url.set_path(path);
            url.set_query(None);
        }
        Some(url)
    }
}

/// An absolute folder.
fn check_folder(folder: &std::path::Path) -> Result<PathBuf, DefError> {
    if folder.is_absolute() {
        Ok(folder.to_owned())
    } else {
        Err(DefError::field(
            "submissions.sedex_folder",
            format!("{} must be an absolute path", folder.display()),
        ))
    }
}

/// An eCH-0090 participant id.
fn check_participant(id: &str) -> Result<String, DefError> {
    if is_participant_id(id) {
        Ok(id.to_owned())
    } else {
        Err(DefError::field(
            "submissions.participant_id",
            format!(
                "{:?} is not a sedex participant id like T6-066000-1",
                id.chars().take(60).collect::<String>()
            ),
        ))
    }
}

/// An absolute URL path without query, fragment or dot segments.
/// A path on the office's host (`field` names it in the error).
pub(super) fn check_path(path: &str, field: &'static str) -> Result<String, DefError> {
    let ok = path.starts_with('/')
        && path.len() <= 200
        && path.split('/').all(|s| s != "." && s != "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~'));
    if ok {
        Ok(path.to_owned())
    } else {
        Err(DefError::field(
            field,
            format!(
                "{:?} is not a path like /apg/v1/claims (letters, digits, - _ . ~)",
                path.chars().take(60).collect::<String>()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{Adapter, files};

    fn mappings() -> MappingSet {
        MappingSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"))
            .expect("shipped mappings")
    }

    const BASE: &str = r#"office = "066.000"
name = "Caisse AVS de la Fédération patronale vaudoise"
kind = "association"
dialect = "vendor-ik"
endpoint = "https://127.0.0.1:18166/ik?x=1"
"#;

    fn adapter(table: &str) -> Result<Adapter, String> {
        let def = files::parse_def(&format!("{BASE}\n[submissions]\n{table}"))
            .map_err(|e| e.to_string())?;
        Adapter::from_def(&def, &mappings()).map_err(|e| e.to_string())
    }

    #[test]
    fn sync_submissions_go_to_the_office_host_with_the_configured_path() {
        let a = adapter("transport = \"sync\"\ndialect = \"ech-apg\"\npath = \"/apg/v1/claims\"")
            .expect("valid");
        let s = a.submissions.as_ref().expect("submissions");
        assert_eq!(s.mapping.dialect(), "ech-apg");
        let url = s.sync_url(&a.endpoint).expect("sync");
        assert_eq!(url.as_str(), "https://127.0.0.1:18166/apg/v1/claims");
        assert_eq!(s.recipient_id(a.office, "T6"), "T6-066000-1");
        let a = adapter("transport = \"sync\"\ndialect = \"ech-apg\"").expect("valid");
        let s = a.submissions.as_ref().expect("submissions");
        assert_eq!(s.sync_url(&a.endpoint), Some(a.endpoint.clone()));
    }

    #[test]
    fn a_sync_fund_may_name_the_sedex_folder_its_acknowledgements_follow_in() {
        let a = adapter(
            "transport = \"sync\"\ndialect = \"ech-apg\"\nsedex_folder = \"/srv/sedex/037000\"\nparticipant_id = \"T6-037999-1\"",
        )
        .expect("valid");
        let s = a.submissions.as_ref().expect("submissions");
        assert_eq!(s.sedex_folder, Some(PathBuf::from("/srv/sedex/037000")));
        assert!(s.sync_url(&a.endpoint).is_some());
        assert_eq!(s.recipient_id(a.office, "T6"), "T6-037999-1");
    }

    #[test]
    fn sedex_submissions_name_the_folder_and_the_participant() {
        let a = adapter(
            "transport = \"sedex\"\ndialect = \"ech-apg\"\nsedex_folder = \"/srv/sedex/066000\"\nparticipant_id = \"T6-066000-1\"",
        )
        .expect("valid");
        let s = a.submissions.as_ref().expect("submissions");
        assert_eq!(s.transport, SubmissionTransport::Sedex);
        assert_eq!(s.sedex_folder, Some(PathBuf::from("/srv/sedex/066000")));
        assert_eq!(s.sync_url(&a.endpoint), None);
        assert_eq!(s.recipient_id(a.office, "6"), "T6-066000-1");
    }

    #[test]
    fn bad_tables_are_refused_naming_the_key() {
        let cases = [
            (
                "transport = \"mail\"\ndialect = \"ech-apg\"",
                "field submissions.transport",
            ),
            (
                "transport = \"sync\"\ndialect = \"ech-ik\"",
                "field submissions.dialect: unknown submission dialect \"ech-ik\" (known: ech-apg)",
            ),
            (
                "transport = \"sync\"\ndialect = \"ech-apg\"\npath = \"../x\"",
                "field submissions.path",
            ),
            (
                "transport = \"sync\"\ndialect = \"ech-apg\"\nsedex_folder = \"x\"",
                "field submissions.sedex_folder: x must be an absolute path",
            ),
            (
                "transport = \"sedex\"\ndialect = \"ech-apg\"\nparticipant_id = \"T6-066000-1\"",
                "field submissions.sedex_folder: required",
            ),
            (
                "transport = \"sedex\"\ndialect = \"ech-apg\"\nsedex_folder = \"sedex/066\"\nparticipant_id = \"T6-066000-1\"",
                "must be an absolute path",
            ),
            (
                "transport = \"sedex\"\ndialect = \"ech-apg\"\nsedex_folder = \"/x\"",
                "field submissions.participant_id: required",
            ),
            (
                "transport = \"sedex\"\ndialect = \"ech-apg\"\nsedex_folder = \"/x\"\nparticipant_id = \"066000\"",
                "not a sedex participant id",
            ),
            (
                "transport = \"sync\"\ndialect = \"ech-apg\"\nfolder = \"/x\"",
                "unknown field `folder`",
            ),
        ];
        for (table, needle) in cases {
            let err = adapter(table).expect_err(table);
            assert!(err.contains(needle), "{table}: {err}");
        }
    }

    #[test]
    fn a_definition_with_submissions_renders_and_parses_back() {
        let def = files::parse_def(&format!(
            "{BASE}\n[submissions]\ntransport = \"sedex\"\ndialect = \"ech-apg\"\nsedex_folder = \"/srv/sedex/066000\"\nparticipant_id = \"T6-066000-1\"\n"
        ))
        .expect("parses");
        let text = files::render(&def, &files::Meta::next(1, "test")).expect("renders");
        let back = files::parse_def(&text).expect("parses back");
        assert_eq!(back.submissions, def.submissions);
        assert!(back.submissions.is_some());
    }

    #[test]
    fn paths_are_plain_absolute_paths() {
        assert!(check_path("/apg/v1/claims", "submissions.path").is_ok());
        for bad in ["apg", "/a/../b", "/a?x=1", "/a b", "/é"] {
            assert!(check_path(bad, "submissions.path").is_err(), "{bad}");
        }
    }
}
