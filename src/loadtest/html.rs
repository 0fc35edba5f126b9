//! `report.html`: one self-contained page (inline CSS and SVG, no script, no font, no
//! external reference) with the summary, latency over time, the latency histogram and the
//! per-office status breakdown. The markup is well-formed XML so it can be checked by a parser.

use std::fmt::Write as _;

use super::report::Report;

/// Colours of office statuses (the rest: grey).
const STATUS_COLOURS: [(&str, &str); 5] = [
    ("ok", "#2e7d32"),
    ("no_account", "#a5d6a7"),
    ("timeout", "#ef6c00"),
    ("error", "#c62828"),
    ("unavailable", "#6a1b9a"),
];

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn colour(status: &str) -> &'static str {
    STATUS_COLOURS
        .iter()
        .find(|(s, _)| *s == status)
        .map_or("#9e9e9e", |(_, c)| c)
}

/// The whole page.
pub fn render_html(r: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("guichet load test — {}", r.label);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let _ = write!(h, "<h1>{}</h1>", esc(&title));
    summary(&mut h, r);
    let _ = write!(
        h,
        "<h2>Latency over time</h2><p class=\"note\">Per second of the measured phase; latency from {}.</p>",
        esc(&r.latency_from)
    );
    timeline_chart(&mut h, r);
    h.push_str("<h2>Latency histogram</h2><p class=\"note\">Answers per latency bucket (logarithmic buckets, ×1.25).</p>");
    histogram_chart(&mut h, r);
    h.push_str("<h2>Office statuses</h2><p class=\"note\">Per office, the share of each status in the answers' <code>sources</code>.</p>");
    office_chart(&mut h, r);
    h.push_str("</body></html>\n");
    h
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}\
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}.note{color:#666;font-size:90%}\
svg{background:#fafafa;border:1px solid #ddd}svg text{font-size:11px;fill:#444}";

fn summary(h: &mut String, r: &Report) {
    let load = match (r.concurrency, r.rate) {
        (Some(c), _) => format!("closed loop, concurrency {c}"),
        (_, Some(rate)) => format!("open loop, {rate} requests/s"),
        _ => String::new(),
    };
    let l = &r.latency;
    let _ = write!(
        h,
        "<table><tr><th class=\"l\">target</th><td class=\"l\">{}</td></tr>\
         <tr><th class=\"l\">load</th><td class=\"l\">{} ({})</td></tr>\
         <tr><th class=\"l\">started</th><td class=\"l\">{}</td></tr>\
         <tr><th class=\"l\">requests</th><td class=\"l\">{} sent, {} in warm-up, {} measured over {:.1} s</td></tr>\
         <tr><th class=\"l\">throughput</th><td class=\"l\">{:.1} requests/s</td></tr>\
         <tr><th class=\"l\">incomplete accounts</th><td class=\"l\">{} of {} ({:.2} %)</td></tr></table>",
        esc(&r.target),
        esc(&load),
        esc(&r.http),
        esc(&r.started),
        r.sent,
        r.warmup_requests,
        r.measured,
        r.wall_s,
        r.throughput,
        r.incomplete,
        r.answers,
        r.incomplete_share * 100.0
    );
    let _ = write!(
        h,
        "<table><tr><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>\
         <tr><td>{:.2} ms</td><td>{:.2} ms</td><td>{:.2} ms</td><td>{:.2} ms</td><td>{:.2} ms</td><td>{:.2} ms</td></tr></table>",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.mean_ms
    );
    h.push_str("<h2>Errors</h2>");
    if r.errors.is_empty() {
        h.push_str("<p>none</p>");
    } else {
        h.push_str("<table><tr><th class=\"l\">kind</th><th>requests</th></tr>");
        for (kind, n) in &r.errors {
            let _ = write!(h, "<tr><td class=\"l\">{}</td><td>{n}</td></tr>", esc(kind));
        }
        h.push_str("</table>");
    }
    if !r.top_non_ok.is_empty() {
        h.push_str("<h2>Most frequent office statuses other than ok</h2><table><tr><th class=\"l\">office</th><th class=\"l\">status</th><th>answers</th></tr>");
        for s in &r.top_non_ok {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
                esc(&s.office),
                esc(&s.status),
                s.count
            );
        }
        h.push_str("</table>");
    }
}

/// A "nice" upper bound for an axis.
fn nice(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * p)
}

const W: f64 = 900.0;
const H: f64 = 260.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 30.0;
const TOP: f64 = 10.0;

fn axes(h: &mut String, y_max: f64, y_label: &str, x_label: &str) {
    let plot_h = H - TOP - BOTTOM;
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let y = TOP + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            h,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{W}\" y2=\"{y:.1}\" stroke=\"#e0e0e0\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 4.0,
            y + 4.0,
            short(v)
        );
    }
    let _ = write!(
        h,
        "<text x=\"4\" y=\"{:.1}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        TOP + 8.0,
        esc(y_label),
        W - 4.0,
        H - 4.0,
        esc(x_label)
    );
}

fn short(v: f64) -> String {
    if v >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Reads one value of a second of the timeline.
type Metric = fn(&super::Second) -> f64;

fn timeline_chart(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\"><title>latency over time</title>"
    );
    let y_max = nice(r.timeline.iter().map(|s| s.max_ms).fold(0.0, f64::max));
    axes(h, y_max, "ms", "seconds of the measured phase");
    let n = r.timeline.len().max(2) as f64 - 1.0;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| LEFT + (W - LEFT - 10.0) * i as f64 / n;
    let y = |v: f64| TOP + plot_h - plot_h * (v / y_max).min(1.0);
    let series: [(&str, &str, Metric); 3] = [
        ("max", "#bdbdbd", |s| s.max_ms),
        ("p99", "#c62828", |s| s.p99_ms),
        ("p50", "#1565c0", |s| s.p50_ms),
    ];
    let every = (r.timeline.len() / 10).max(1);
    for (i, s) in r
        .timeline
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
    {
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(i),
            H - BOTTOM + 14.0,
            s.second
        );
    }
    for (k, (name, stroke, value)) in series.iter().enumerate() {
        let points: Vec<String> = r
            .timeline
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{:.1},{:.1}", x(i), y(value(s))))
            .collect();
        let _ = write!(
            h,
            "<polyline fill=\"none\" stroke=\"{stroke}\" stroke-width=\"2\" points=\"{}\"/>\
             <rect x=\"{:.0}\" y=\"{:.0}\" width=\"10\" height=\"10\" fill=\"{stroke}\"/><text x=\"{:.0}\" y=\"{:.0}\">{name}</text>",
            points.join(" "),
            LEFT + 10.0 + 70.0 * k as f64,
            TOP + 2.0,
            LEFT + 24.0 + 70.0 * k as f64,
            TOP + 11.0
        );
    }
    h.push_str("</svg>");
}

fn histogram_chart(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\"><title>latency histogram</title>"
    );
    let y_max = nice(
        r.histogram
            .iter()
            .map(|b| b.count as f64)
            .fold(0.0, f64::max),
    );
    axes(h, y_max, "answers", "latency (ms, log scale)");
    let plot_h = H - TOP - BOTTOM;
    let n = r.histogram.len().max(1) as f64;
    let bw = (W - LEFT - 10.0) / n;
    let every = (r.histogram.len() / 12).max(1);
    for (i, b) in r.histogram.iter().enumerate() {
        let bh = plot_h * b.count as f64 / y_max;
        let x = LEFT + bw * i as f64;
        let _ = write!(
            h,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#1565c0\"><title>{:.2}–{:.2} ms: {}</title></rect>",
            TOP + plot_h - bh,
            (bw - 1.0).max(0.5),
            b.from_ms,
            b.to_ms,
            b.count
        );
        if i % every == 0 {
            let _ = write!(
                h,
                "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                H - BOTTOM + 14.0,
                short(b.from_ms)
            );
        }
    }
    h.push_str("</svg>");
}

fn office_chart(h: &mut String, r: &Report) {
    let offices = r.office_statuses.len().max(1) as f64;
    let height = 300.0;
    let plot_h = height - TOP - 60.0;
    let _ = write!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" role=\"img\"><title>per-office status breakdown</title>"
    );
    let bw = (W - LEFT - 10.0) / offices;
    for (i, (office, statuses)) in r.office_statuses.iter().enumerate() {
        let total = statuses.values().sum::<u64>().max(1) as f64;
        let x = LEFT + bw * i as f64;
        let mut top = TOP;
        for (status, count) in statuses {
            let sh = plot_h * *count as f64 / total;
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{sh:.1}\" fill=\"{}\"><title>{} {}: {count}</title></rect>",
                (bw - 1.0).max(0.5),
                colour(status),
                esc(office),
                esc(status)
            );
            top += sh;
        }
        if i % 10 == 0 && x + 60.0 < W {
            let _ = write!(
                h,
                "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                TOP + plot_h + 14.0,
                esc(office)
            );
        }
    }
    let _ = write!(
        h,
        "<text x=\"4\" y=\"{:.1}\">100 %</text><text x=\"4\" y=\"{:.1}\">0 %</text>",
        TOP + 10.0,
        TOP + plot_h
    );
    for (k, (status, c)) in STATUS_COLOURS.iter().enumerate() {
        let lx = LEFT + 120.0 * k as f64;
        let _ = write!(
            h,
            "<rect x=\"{lx:.0}\" y=\"{:.0}\" width=\"10\" height=\"10\" fill=\"{c}\"/><text x=\"{:.0}\" y=\"{:.0}\">{status}</text>",
            height - 24.0,
            lx + 14.0,
            height - 15.0
        );
    }
    h.push_str("</svg>");
}
