//! The raw mapping file, as serde reads it: every value keeps its span so that errors
//! name the line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The raw file, as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMapping {
    pub(super) dialect: Spanned<String>,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) namespaces: BTreeMap<String, Spanned<String>>,
    pub(super) request: RawRequest,
    pub(super) answer: RawAnswer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequest {
    pub(super) template: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAnswer {
    pub(super) root: Spanned<String>,
    pub(super) vn: Option<Spanned<String>>,
    pub(super) as_of: Option<Spanned<String>>,
    pub(super) no_account: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) empty_is_no_account: bool,
    pub(super) office: RawOffice,
    pub(super) entries: Option<RawRecord>,
    pub(super) cases: Option<RawRecord>,
    pub(super) accounts: Option<RawRecord>,
    pub(super) iv_files: Option<RawRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOffice {
    pub(super) from: Spanned<String>,
    pub(super) scope: Option<Spanned<String>>,
    pub(super) number: Option<Spanned<String>>,
    pub(super) agency: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecord {
    pub(super) path: Spanned<String>,
    pub(super) fields: BTreeMap<Spanned<String>, RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub(super) path: Spanned<String>,
    pub(super) format: Option<Spanned<String>>,
    pub(super) default: Option<String>,
    pub(super) table: Option<BTreeMap<String, Spanned<String>>>,
}
