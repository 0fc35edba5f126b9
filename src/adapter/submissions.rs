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
    /// `sync`: the path on the office's host the claim is POSTed to (`/apg/v1/claims`);
    /// absent = the office's own endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `sedex`: the absolute folder shared with the fund's sedex client (holding
    /// `outbox/`, `inbox/`, `receipts/`, `processed/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sedex_folder: Option<PathBuf>,
    /// `sedex`: the fund's sedex participant id (`T6-066000-1`).
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
}

/// How messages reach the fund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionTransport {
    /// POST over mTLS to the office's host (the office's certificate is verified as for
    /// its queries); `path` replaces the endpoint's path when given.
    Sync {
        /// The path on the office's host, or `None` for the office's endpoint.
        path: Option<String>,
    },
    /// The sedex file interface: data file then envelope into `outbox/`, receipts from
    /// `receipts/`, acknowledgements from `inbox/`.
    Sedex {
        /// The folder of the fund's sedex client.
        folder: PathBuf,
        /// The fund's participant id.
        participant_id: String,
    },
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
        let only = |field: &'static str, present: bool, transport: &str| {
            if present {
                Err(DefError::field(
                    field,
                    format!("not used with transport = {transport:?}"),
                ))
            } else {
                Ok(())
            }
        };
        let transport = match def.transport.as_str() {
            "sync" => {
                only(
                    "submissions.sedex_folder",
                    def.sedex_folder.is_some(),
                    "sync",
                )?;
                only(
                    "submissions.participant_id",
                    def.participant_id.is_some(),
                    "sync",
                )?;
                let path = def.path.as_deref().map(check_path).transpose()?;
                SubmissionTransport::Sync { path }
            }
            "sedex" => {
                only("submissions.path", def.path.is_some(), "sedex")?;
                let folder = def.sedex_folder.clone().ok_or_else(|| {
                    DefError::field(
                        "submissions.sedex_folder",
                        "required with transport = \"sedex\"",
                    )
                })?;
                if !folder.is_absolute() {
                    return Err(DefError::field(
                        "submissions.sedex_folder",
                        format!("{} must be an absolute path", folder.display()),
                    ));
                }
                let participant_id = def.participant_id.clone().ok_or_else(|| {
                    DefError::field(
                        "submissions.participant_id",
                        "required with transport = \"sedex\"",
                    )
                })?;
                if !is_participant_id(&participant_id) {
                    return Err(DefError::field(
                        "submissions.participant_id",
                        format!(
                            "{participant_id:?} is not a sedex participant id like T6-066000-1"
                        ),
                    ));
                }
                SubmissionTransport::Sedex {
                    folder,
                    participant_id,
                }
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
        })
    }

    /// The participant id messages to the fund are addressed to: the configured one
    /// (sedex), or the office's id in environment `prefix` (`T6-025000-1`).
    pub fn recipient_id(&self, office: OfficeId, prefix: &str) -> String {
        match &self.transport {
            SubmissionTransport::Sedex { participant_id, .. } => participant_id.clone(),
            SubmissionTransport::Sync { .. } => office.participant_id(prefix),
        }
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

/// An absolute URL path without query, fragment or dot segments.
fn check_path(path: &str) -> Result<String, DefError> {
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
            "submissions.path",
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
    fn sedex_submissions_name_the_folder_and_the_participant() {
        let a = adapter(
            "transport = \"sedex\"\ndialect = \"ech-apg\"\nsedex_folder = \"/srv/sedex/066000\"\nparticipant_id = \"T6-066000-1\"",
        )
        .expect("valid");
        let s = a.submissions.as_ref().expect("submissions");
        assert_eq!(
            s.transport,
            SubmissionTransport::Sedex {
                folder: PathBuf::from("/srv/sedex/066000"),
                participant_id: "T6-066000-1".into()
            }
        );
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
                "transport = \"sync\"\ndialect = \"ech-apg\"\nsedex_folder = \"/x\"",
                "field submissions.sedex_folder: not used",
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
        assert!(check_path("/apg/v1/claims").is_ok());
        for bad in ["apg", "/a/../b", "/a?x=1", "/a b", "/é"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
