//! The demo's claim: after the account query, the sample person's EO/APG claim is
//! submitted as a portal would (`POST /v1/submissions`, purpose `claim`, their token, an
//! `Idempotency-Key`), followed until the fund's final answer, and printed with its
//! history and both receipts, each verified offline against the seal's root.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use rustls_pki_types::UnixTime;
use serde_json::Value;

use super::demo::Running;
use crate::model::Vn;

/// The sample claim (the contract's example, the claimant replaced).
const SAMPLE_CLAIM: &str = include_str!("../../tests/fixtures/claims/apg-claim.json");

/// How long the demo waits for the fund's final answer (sedex funds answer later).
const PATIENCE: Duration = Duration::from_secs(60);

/// Submits the sample claim of `vn` as the demo portal (`portal`, with `token` of `vn`)
/// and waits for its final state: the printout.
pub async fn submit_sample(
    run: &Running,
    portal: &reqwest::Client,
    vn: Vn,
    token: &str,
) -> anyhow::Result<String> {
    let mut claim: Value = serde_json::from_str(SAMPLE_CLAIM).context("the sample claim")?;
    claim["claimant"]["vn"] = vn.digits().into();
    let key = format!("demo-{}", uuid::Uuid::new_v4());
    let started = Instant::now();
    // The gateway migrates its store as it starts serving: until then a submission is
    // answered 503, and the same Idempotency-Key makes trying again safe.
    let (status, body) = loop {
        let created = portal
            .post(format!("https://{}/v1/submissions", run.addr))
            .header("purpose", "claim")
            .header("idempotency-key", &key)
            .bearer_auth(token)
            .json(&claim)
            .send()
            .await
            .context("the sample claim could not be submitted")?;
        let status = created.status();
        let body: Value = created.json().await.context("the gateway's answer")?;
        if status.as_u16() != 503 || started.elapsed() > PATIENCE {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    anyhow::ensure!(
        status.as_u16() == 201,
        "the gateway answered {status}: {}",
        body["detail"].as_str().unwrap_or_default()
    );
    let id = body["id"].as_str().context("no submission id")?.to_owned();
    let url = format!("https://{}/v1/submissions/{id}", run.addr);
    let done = loop {
        let got: Value = portal.get(&url).send().await?.json().await?;
        let state = got["state"].as_str().unwrap_or_default();
        if matches!(state, "accepted" | "rejected" | "failed") || started.elapsed() > PATIENCE {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    render(run, &done, started.elapsed())
}

/// The submission as a person reads it: state, rule, history, receipts (verified).
fn render(run: &Running, s: &Value, elapsed: Duration) -> anyhow::Result<String> {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Claim {} (loss of earnings, EO/APG): {} at fund {} after {} ms",
        text(&s["id"]),
        text(&s["state"]),
        text(&s["competentOffice"]),
        elapsed.as_millis()
    );
    if let Some(case) = s["caseNumber"].as_str() {
        let _ = writeln!(out, "  case number   {case}");
    }
    let _ = writeln!(out, "  routing rule  {}", text(&s["routingRule"]));
    for h in s["history"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {}  {:<11} {:<8} {}",
            text(&h["at"]),
            text(&h["state"]),
            h["office"].as_str().unwrap_or(""),
            h["detail"].as_str().unwrap_or("")
        );
    }
    render_receipts(&mut out, run, s)?;
    let _ = writeln!(
        out,
        "  (each receipt: GET /v1/submissions/{}/receipts; verify offline with \
         guichet receipts verify FILE --ca {})",
        text(&s["id"]),
        run.config
            .seal
            .as_ref()
            .map_or_else(String::new, |s| s.ca.display().to_string())
    );
    Ok(out)
}

/// One line per receipt, each verified against the seal's root.
fn render_receipts(out: &mut String, run: &Running, s: &Value) -> anyhow::Result<()> {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let roots = match &run.config.seal {
        Some(seal) => crate::tls::load_certs(&seal.ca)?,
        None => Vec::new(),
    };
    for r in s["receipts"].as_array().into_iter().flatten() {
        let jws = r["jws"].as_str().unwrap_or_default();
        let check = match crate::receipt::verify(jws, &roots, UnixTime::now()) {
            Ok(v) => format!(
                "verified (seal {}, outcome {})",
                v.signer,
                v.payload["outcome"].as_str().unwrap_or("-")
            ),
            Err(refusal) => format!("NOT verified: {refusal}"),
        };
        let _ = writeln!(
            out,
            "  receipt {:<10} sha256 {}  {check}",
            text(&r["kind"]),
            text(&r["sha256"])
        );
    }
    Ok(())
}
