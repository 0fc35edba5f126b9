//! The request side of a change: a `PUT`'s body (the fields of an adapter file, and the
//! version it is made against) and `If-Match`.

use hyper::HeaderMap;

use crate::adapter::AdapterDef;
use crate::model::OfficeId;
use crate::server::problem::Problem;

/// The definition and the version a `PUT` is made against (`If-Match` or the body's).
pub(super) fn put_body(
    headers: &HeaderMap,
    body: &[u8],
    office: OfficeId,
) -> Result<(AdapterDef, Option<u64>), Problem> {
    let header_version = if_match(headers)?;
    let (def, body_version) = parse_body(body, office)?;
    match (header_version, body_version) {
        (Some(h), Some(b)) if h != b => Err(Problem::bad_request(
            "version-mismatch",
            format!("If-Match says version {h}, the body says {b}"),
        )),
        (h, b) => Ok((def, h.or(b))),
    }
}

/// The body: the fields of an adapter file, plus an optional `version` (the one the
/// change is made against); `office` may be left out (the path names it).
fn parse_body(body: &[u8], office: OfficeId) -> Result<(AdapterDef, Option<u64>), Problem> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Problem::adapter_invalid(format!("the body is not JSON: {e}")))?;
    let serde_json::Value::Object(mut map) = value else {
        return Err(Problem::adapter_invalid("the body must be a JSON object"));
    };
    let version = match map.remove("version") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| Problem::adapter_invalid("field version: a whole number"))?,
        ),
    };
    map.entry("office")
        .or_insert_with(|| serde_json::Value::String(office.to_string()));
    let def =
        serde_json::from_value(serde_json::Value::Object(map)).map_err(Problem::adapter_invalid)?;
    Ok((def, version))
}

/// `If-Match: "7"` (also `W/"7"` or `7`): the version the change is made against.
pub(in crate::server) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(hyper::header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-if-match",
                "If-Match carries the adapter's version, e.g. \"3\"",
            )
        })
}
