//! The federation page: every office (and the account register) as a grid by kind and
//! canton — health, circuit, p50/p99 and answers of the last minutes, and an inline SVG
//! sparkline of the recent latencies — built as [`FederationView`] from the API's
//! adapter rows and the guards' recent calls. The grid alone is served for the page's
//! short poll (`/console/federation/grid`), the view as JSON at `/console/api/federation`.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::html::{esc, respond, table};
use super::{ConsoleError, Ctx};
use crate::fanout::{OfficeGuard, RecentStats};
use crate::server::State;
use crate::view::{AdapterRow, FederationView, OfficeHealthView};

/// The window of the grid's figures.
const WINDOW: Duration = Duration::from_secs(300);

/// The kinds in the grid's order, with their headings.
const KINDS: [(&str, &str); 4] = [
    ("cantonal", "Cantonal compensation funds"),
    ("federal", "Federal compensation funds"),
    ("association", "Association compensation funds"),
    ("iv_office", "IV offices"),
];

/// `GET /console/`: the grid in its page.
pub(super) fn page(ctx: &Ctx<'_>) -> Result<Response<Full<Bytes>>, ConsoleError> {
    ctx.admin()?;
    let view = view(ctx.state);
    let body = format!(
        "<p class=\"note\">Figures of the last {} minutes. <span id=\"live-status\" \
         role=\"status\" aria-live=\"polite\">Refreshed every 5 seconds while the page is open.\
         </span></p><div id=\"grid\">{}</div>",
        WINDOW.as_secs() / 60,
        grid(&view)
    );
    Ok(ctx.html("Federation", &body, true))
}

/// `GET /console/federation/grid`: the grid alone, for the short poll.
pub(super) fn fragment(ctx: &Ctx<'_>) -> Result<Response<Full<Bytes>>, ConsoleError> {
    ctx.admin()?;
    Ok(respond(StatusCode::OK, grid(&view(ctx.state))))
}

/// `GET /console/api/federation`: the same view as JSON.
pub(super) fn json(ctx: &Ctx<'_>) -> Result<Response<Full<Bytes>>, ConsoleError> {
    ctx.admin()?;
    let body = serde_json::to_vec(&view(ctx.state))
        .map_err(|e| ConsoleError::Form(format!("the view could not be written: {e}")))?;
    Response::builder()
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::CACHE_CONTROL, "no-store")
        .header(hyper::header::CONTENT_SECURITY_POLICY, super::CSP)
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| ConsoleError::NotFound)
}

/// Every office's row with its recent calls.
pub(super) fn view(state: &State) -> FederationView {
    let registry = state.fanout.registry();
    let listed = state.adapters.list();
    let meta = |office| listed.iter().find(|l| l.office == office);
    let mut offices: Vec<OfficeHealthView> = registry
        .iter()
        .map(|a| {
            let row = crate::server::adapter_row(state, a.office, &a.name, meta(a.office), false);
            let kind = serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            let guard = state.fanout.guard(a.office);
            health(
                row,
                kind,
                a.canton.map(|c| c.as_str().to_owned()),
                guard.as_deref(),
            )
        })
        .collect();
    offices.extend(registry.deregistered().map(|(office, name)| {
        let row = crate::server::adapter_row(state, office, name, meta(office), true);
        health(row, None, None, None)
    }));
    offices.sort_by(|a, b| a.row.office.cmp(&b.row.office));
    let register = state.fanout.register_guard().map(|g| {
        let last = g.last_call();
        let row = AdapterRow {
            office: crate::fanout::REGISTER_LABEL.to_owned(),
            name: "Central account register".to_owned(),
            state: "registered".to_owned(),
            dialect: None,
            endpoint: None,
            timeout_ms: None,
            version: None,
            changed_at: None,
            changed_by: None,
            circuit: Some(g.breaker_state().name().to_owned()),
            last_status: last.as_ref().map(|l| l.status.to_owned()),
            last_latency_ms: last.map(|l| ms(l.latency)),
        };
        health(row, Some("register".to_owned()), None, Some(g))
    });
    FederationView {
        window_seconds: WINDOW.as_secs(),
        offices,
        register,
    }
}

fn health(
    row: AdapterRow,
    kind: Option<String>,
    canton: Option<String>,
    guard: Option<&OfficeGuard>,
) -> OfficeHealthView {
    let recent = guard.map(|g| g.recent(WINDOW)).unwrap_or_default();
    let failing = matches!(
        row.last_status.as_deref(),
        Some("timeout" | "error" | "unavailable")
    );
    let open = matches!(row.circuit.as_deref(), Some("open" | "half_open"));
    let health = if row.state == "deregistered" || (row.last_status.is_none() && !open) {
        "grey"
    } else if failing || open {
        "red"
    } else {
        "green"
    };
    let RecentStats {
        calls,
        p50,
        p99,
        by_status,
        series,
    } = recent;
    OfficeHealthView {
        row,
        kind,
        canton,
        health: health.to_owned(),
        calls,
        p50_ms: p50.map(ms),
        p99_ms: p99.map(ms),
        answers: by_status
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        latencies_ms: series.into_iter().map(ms).collect(),
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The tables of the grid, one per kind, then the deregistered offices and the register.
fn grid(view: &FederationView) -> String {
    let mut out = String::new();
    let head = [
        "Office", "Canton", "Name", "Health", "Circuit", "p50", "p99", "Answers", "Latency",
    ];
    let mut sections: Vec<(String, Vec<&OfficeHealthView>)> = KINDS
        .iter()
        .map(|(kind, title)| {
            let mut rows: Vec<&OfficeHealthView> = view
                .offices
                .iter()
                .filter(|o| o.kind.as_deref() == Some(kind))
                .collect();
            rows.sort_by(|a, b| (&a.canton, &a.row.office).cmp(&(&b.canton, &b.row.office)));
            ((*title).to_owned(), rows)
        })
        .collect();
    sections.push((
        "Deregistered offices".to_owned(),
        view.offices.iter().filter(|o| o.kind.is_none()).collect(),
    ));
    sections.push((
        "Central account register".to_owned(),
        view.register.iter().collect(),
    ));
    for (title, rows) in sections {
        if rows.is_empty() {
            continue;
        }
        let cells: Vec<String> = rows.iter().map(|o| row_html(o)).collect();
        let caption = format!("{title} ({})", rows.len());
        let _ = write!(out, "<h2>{}</h2>", esc(&title));
        out.push_str(&table(&caption, &head, &cells, "grid"));
    }
    out
}

fn row_html(o: &OfficeHealthView) -> String {
    let office = esc(&o.row.office);
    let link = if o.kind.as_deref() == Some("register") {
        office.clone()
    } else {
        format!("<a href=\"/console/offices/{office}\">{office}</a>")
    };
    let label = match o.health.as_str() {
        "green" => "answers",
        "red" => "failing",
        _ => "no calls yet",
    };
    let answers = o
        .answers
        .iter()
        .map(|(k, v)| format!("{} {v}", esc(k)))
        .collect::<Vec<_>>()
        .join(" · ");
    let opt = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v} ms"));
    format!(
        "<tr id=\"office-{office}\" data-health=\"{h}\"><th scope=\"row\">{link}</th><td>{canton}</td>\
         <td>{name}</td><td><span class=\"status status-{h}\">{label}</span></td><td>{circuit}</td>\
         <td class=\"num\">{p50}</td><td class=\"num\">{p99}</td><td>{answers}</td><td>{spark}</td></tr>",
        h = esc(&o.health),
        canton = esc(o.canton.as_deref().unwrap_or("")),
        name = esc(&o.row.name),
        circuit = esc(o.row.circuit.as_deref().unwrap_or("")),
        p50 = opt(o.p50_ms),
        p99 = opt(o.p99_ms),
        spark = sparkline(&o.latencies_ms),
    )
}

/// An inline SVG polyline of latencies (oldest left), scaled to the largest.
pub(super) fn sparkline(latencies: &[u64]) -> String {
    const W: u64 = 120;
    const H: u64 = 24;
    if latencies.is_empty() {
        return "<span class=\"note\">–</span>".to_owned();
    }
    let max = latencies.iter().copied().max().unwrap_or(1).max(1);
    let n = latencies.len() as u64;
    let points: Vec<String> = latencies
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = if n > 1 { i as u64 * W / (n - 1) } else { W / 2 };
            let y = H - 1 - v.min(&max) * (H - 2) / max;
            format!("{x},{y}")
        })
        .collect();
    format!(
        "<svg class=\"spark\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"latency of the last {n} calls, at most {max} ms\"><polyline fill=\"none\" \
         stroke=\"#0645ad\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        points.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sparkline_scales_to_the_largest() {
        let svg = sparkline(&[10, 20, 40]);
        assert!(svg.contains("points=\"0,18 60,12 120,1\""), "{svg}");
        assert!(svg.contains("at most 40 ms"));
        assert!(!sparkline(&[]).contains("<svg"));
    }
}
