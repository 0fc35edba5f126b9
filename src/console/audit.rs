//! The audit page: the chain's state (`guichet audit verify`'s result with the
//! checkpoint key, the head and the newest signed checkpoint, as
//! `GET /admin/v1/audit/head`) and the account queries per portal and purpose. It
//! names no person: the records' person hashes are not read.

use std::fmt::Write as _;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

use super::html::{esc, table};
use super::{ConsoleError, Ctx};
use crate::view::{AccessCountView, AuditHeadView};

/// `GET /console/audit`.
pub(super) async fn page(ctx: &Ctx<'_>) -> Result<Response<Full<Bytes>>, ConsoleError> {
    ctx.admin()?;
    let audit = &ctx.state.audit;
    let (head, checkpoint) = audit.head();
    let view = AuditHeadView::new(head, checkpoint, audit.public_key());
    let dir = audit.dir().to_owned();
    let key = view
        .public_key
        .as_deref()
        .and_then(crate::audit::checkpoint::unhex);
    let (report, counts) = tokio::task::spawn_blocking(move || {
        (
            crate::audit::verify_with(&dir, key.as_deref()),
            crate::audit::access_counts(&dir),
        )
    })
    .await
    .map_err(|_| ConsoleError::Store("the audit check did not finish".into()))?;
    let mut body = String::from("<h2>Chain</h2><dl class=\"facts\">");
    let verdict = match &report {
        Ok(r) => match &r.problem {
            None => format!(
                "intact: {} records in {} files, {} checkpoints{}, {} records after the newest",
                r.records,
                r.files,
                r.checkpoints,
                if r.signatures_checked {
                    " with valid signatures"
                } else {
                    ""
                },
                r.unsigned_tail
            ),
            Some(p) => format!("BROKEN after {} records: {p}", r.records),
        },
        Err(e) => format!("not checked: {e}"),
    };
    let _ = write!(
        body,
        "<dt>Verification</dt><dd id=\"verify\">{}</dd><dt>Head</dt><dd>record {} in {} \
         (<code>{}</code>)</dd><dt>Newest checkpoint</dt><dd>{}</dd><dt>Checkpoint key</dt>\
         <dd><code>{}</code></dd></dl>",
        esc(&verdict),
        view.head.seq,
        esc(&view.head.file),
        esc(&view.head.hash),
        view.checkpoint.as_ref().map_or_else(
            || "none yet".to_owned(),
            |c| format!("record {} signed at {}", c.seq, esc(&c.time))
        ),
        esc(view.public_key.as_deref().unwrap_or("–")),
    );
    let counts: Vec<AccessCountView> = counts
        .map_err(|e| ConsoleError::Store(e.to_string()))?
        .into_iter()
        .map(|((portal, purpose), queries)| AccessCountView {
            portal,
            purpose,
            queries,
        })
        .collect();
    let rows: Vec<String> = counts
        .iter()
        .map(|c| {
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td class=\"num\">{}</td></tr>",
                esc(&c.portal),
                esc(&c.purpose),
                c.queries
            )
        })
        .collect();
    body.push_str("<h2>Accesses</h2>");
    body.push_str(&table(
        "Account queries per portal and purpose (no person is shown)",
        &["Portal", "Purpose", "Queries"],
        &rows,
        "accesses",
    ));
    Ok(ctx.html("Audit", &body, false))
}
