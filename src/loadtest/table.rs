//! The benchmark's markdown: setup (machine, command, date, load), one row per run, and the
//! guichet / peer ratios for throughput and p99 per load level; and the file it goes into
//! (between the `<!-- performance:begin/end -->` markers of `docs/performance.md`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::Report;

/// One run of the benchmark.
#[derive(Debug, Clone)]
pub struct Row {
    /// `guichet` or `node peer`.
    pub target: String,
    /// Its report.
    pub report: Report,
    /// CPU seconds the target's process used during the run (warm-up included).
    pub server_cpu_s: f64,
}

/// What the table's header says about the run.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The command that produced it.
    pub command: String,
    /// `/proc/loadavg` before and after.
    pub load_before: String,
    /// See `load_before`.
    pub load_after: String,
    /// Number of simulated offices.
    pub offices: usize,
    /// Log-normal office latency (else zero).
    pub office_latency: bool,
    /// Measured phase per run.
    pub duration_s: f64,
    /// Warm-up per run.
    pub warmup_s: f64,
    /// AHV numbers per run.
    pub population: usize,
    /// Why the peer is missing, if it is.
    pub peer_note: String,
    /// How the peer talks to the offices.
    pub peer_offices: &'static str,
    /// Register routing: the average number of offices asked per query, when measured.
    pub routing_note: String,
}

fn load_name(r: &Report) -> String {
    match (r.concurrency, r.rate) {
        (Some(c), _) => format!("closed, concurrency {c}"),
        (_, Some(rate)) => format!("open, {rate} req/s"),
        _ => String::new(),
    }
}

/// The whole markdown section.
pub fn markdown(s: &Setup, rows: &[Row]) -> String {
    let mut o = header(s);
    runs(&mut o, rows);
    ratios(&mut o, rows);
    routing_ratios(&mut o, rows);
    if let Some(us) = rows.iter().find_map(|r| r.report.token_verify_us) {
        let _ = writeln!(
            o,
            "\nEvery query carries its person's end-user token (ES256, bound to the portal's \
             certificate); verifying one costs {us:.1} µs on this machine (the gateway's \
             verifier, 2000 verifications before the runs)."
        );
    }
    o
}

/// The target routing by the account register (`[routing] mode = "register"`).
pub const REGISTER_TARGET: &str = "guichet register";

/// Register routing / broadcast: throughput and CPU per query, for each load both ran.
fn routing_ratios(o: &mut String, rows: &[Row]) {
    let cpu = |r: &Row| r.server_cpu_s / (r.report.sent.max(1) as f64);
    let mut lines = Vec::new();
    for b in rows.iter().filter(|r| r.target == "guichet") {
        let same =
            |r: &&Row| r.target == REGISTER_TARGET && load_name(&r.report) == load_name(&b.report);
        if let Some(r) = rows.iter().find(same) {
            lines.push((
                load_name(&b.report),
                r.report.throughput / b.report.throughput.max(1e-9),
                cpu(b) / cpu(r).max(1e-12),
            ));
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n| load | throughput register / broadcast | gateway CPU per query broadcast / register |\n|---|---:|---:|"
    );
    for (load, t, c) in lines {
        let _ = writeln!(o, "| {load} | {}× | {}× |", ratio(t), ratio(c));
    }
}

/// Date, command, machine and setup.
fn header(s: &Setup) -> String {
    let mut o = String::new();
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let _ = writeln!(o, "Measured {date} with `{}`.", s.command);
    let _ = writeln!(
        o,
        "Machine: {} cores, {}; load average (1/5/15 min) {} before, {} after; other \
         engineers' builds and tests may share these cores.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        s.load_before,
        s.load_after
    );
    let _ = writeln!(
        o,
        "Setup: {} simulated offices on loopback ({}), deadline 2 s; load generator, gateway, \
         peer and offices on the same machine; client mTLS over HTTP/1.1 keep-alive (one \
         connection per worker), {} AHV numbers (seed 1); {:.0} s warm-up + {:.0} s measured per \
         row; latency of the open-loop row counts from the scheduled send time. guichet talks \
         HTTP/2 to the offices, the Node.js peer {}.",
        s.offices,
        if s.office_latency {
            "log-normal latency, median 20 ms, p99 250 ms"
        } else {
            "answering at once"
        },
        s.population,
        s.warmup_s,
        s.duration_s,
        s.peer_offices
    );
    if !s.peer_note.is_empty() {
        let _ = writeln!(o, "\n{}", s.peer_note);
    }
    if !s.routing_note.is_empty() {
        let _ = writeln!(o, "\n{}", s.routing_note);
    }
    o
}

/// One line per run.
fn runs(o: &mut String, rows: &[Row]) {
    let _ = writeln!(
        o,
        "\n| load | target | throughput (req/s) | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | incomplete | server CPU ms/req |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let r = &row.report;
        let l = &r.latency;
        let _ = writeln!(
            o,
            "| {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.1} % | {:.2} |",
            load_name(r),
            row.target,
            r.throughput,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.p999_ms,
            l.max_ms,
            r.error_count(),
            r.incomplete_share * 100.0,
            row.server_cpu_s * 1000.0 / (r.sent.max(1) as f64)
        );
    }
}

/// guichet / peer ratios of throughput and p99, for each load both ran (nothing without a
/// peer).
fn ratios(o: &mut String, rows: &[Row]) {
    let mut ratios = Vec::new();
    for pair in rows.windows(2) {
        let [g, p] = pair else { continue };
        if g.target == "guichet"
            && p.target != "guichet"
            && p.target != REGISTER_TARGET
            && load_name(&g.report) == load_name(&p.report)
        {
            ratios.push((
                load_name(&g.report),
                g.report.throughput / p.report.throughput.max(1e-9),
                g.report.latency.p99_ms / p.report.latency.p99_ms.max(1e-9),
            ));
        }
    }
    if ratios.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n| load | throughput guichet / peer | p99 guichet / peer |\n|---|---:|---:|"
    );
    for (load, t, p) in ratios {
        let _ = writeln!(o, "| {load} | {}× | {}× |", ratio(t), ratio(p));
    }
    let _ = writeln!(
        o,
        "\nThroughput ratio > 1: guichet serves more; p99 ratio < 1: guichet's tail is shorter."
    );
}

/// Three significant digits at most, two decimals at least: `6.15`, `13.9`, `0.0028`.
fn ratio(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 0.1 {
        format!("{x:.2}")
    } else if x > 0.0 {
        let decimals = (-x.log10()).ceil() as usize + 1;
        format!("{x:.decimals$}")
    } else {
        "0".to_owned()
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

const BEGIN: &str = "<!-- performance:begin -->";
const END: &str = "<!-- performance:end -->";

/// Replaces what stands between the performance markers of `text` with `table`.
pub fn splice(text: &str, table: &str) -> Option<String> {
    let start = text.find(BEGIN)? + BEGIN.len();
    let end = start + text[start..].find(END)?;
    Some(format!(
        "{}\n{}\n{}",
        &text[..start],
        table.trim_end(),
        &text[end..]
    ))
}

/// Puts the table between the `<!-- performance:begin/end -->` markers of `file`.
pub fn update_docs(file: &Path, table: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("--update-docs: cannot read {}", file.display()))?;
    let new = splice(&text, table).with_context(|| {
        format!(
            "--update-docs: {} has no <!-- performance:begin/end --> markers",
            file.display()
        )
    })?;
    std::fs::write(file, new)
        .with_context(|| format!("--update-docs: cannot write {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::{splice, update_docs};

    #[test]
    fn splices_between_the_markers() {
        let text = "a\n<!-- performance:begin -->\nold\n<!-- performance:end -->\nz\n";
        let new = splice(text, "| t |\n").expect("markers");
        assert_eq!(
            new,
            "a\n<!-- performance:begin -->\n| t |\n<!-- performance:end -->\nz\n"
        );
        assert!(splice("no markers", "x").is_none());
        assert_eq!(super::ratio(13.94), "13.9");
        assert_eq!(super::ratio(6.153), "6.15");
        assert_eq!(super::ratio(0.00276), "0.0028");
    }

    #[test]
    fn update_docs_writes_between_the_markers_and_names_a_file_without_them() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let doc = dir.path().join("performance.md");
        let text = "# P\n<!-- performance:begin -->\nold\n<!-- performance:end -->\nafter\n";
        std::fs::write(&doc, text).expect("write");
        update_docs(&doc, "| new |\n").expect("markers present");
        let written = std::fs::read_to_string(&doc).expect("read");
        assert_eq!(
            written,
            "# P\n<!-- performance:begin -->\n| new |\n<!-- performance:end -->\nafter\n"
        );

        let bare = dir.path().join("bare.md");
        std::fs::write(&bare, "no markers\n").expect("write");
        let e = update_docs(&bare, "| new |\n").expect_err("no markers");
        let message = format!("{e:#}");
        assert!(message.contains("--update-docs"), "{message}");
        assert!(message.contains("bare.md"), "{message}");
        assert_eq!(
            std::fs::read_to_string(&bare).expect("read"),
            "no markers\n"
        );
    }
}
