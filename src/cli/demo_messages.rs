//! The messages part of `guichet demo` (issue #16), through the public API only: a
//! simulated office sends a decision to the sample person ([`crate::sim::decisions`]),
//! the portal reads it with the person's token (which seals the read receipt), the office
//! fetches that receipt and verifies it offline, the person replies and the reply reaches
//! the office — pushed over mTLS to its reply endpoint when its adapter names one (the
//! demo office does), else taken from its inbox.

use anyhow::Context;
use serde_json::{Value, json};

use super::demo::Running;
use crate::model::Vn;

/// The office that writes in the demo (any office of the development PKI); its adapter
/// names a reply endpoint, so the reply is pushed.
const DEMO_OFFICE: &str = "025.000";

/// Sends, reads, shows the read receipt, replies and fetches the reply; prints each step.
pub async fn show(
    run: &Running,
    portal: &reqwest::Client,
    vn: Vn,
    token: &str,
) -> anyhow::Result<()> {
    if run.config.messages.is_none() || run.config.seal.is_none() {
        println!("Messages: off (the configuration has no [messages] or no [seal] section).");
        return Ok(());
    }
    let (office_id, office) = office_client(run)?;
    let base = format!("https://{}", run.addr);
    let key = format!("demo-{}", uuid::Uuid::new_v4());
    let sent = crate::sim::decisions::send_decision(&office, &base, vn, &key).await?;
    let id = sent["id"].as_str().context("no message id")?.to_owned();
    println!("Messages (office → person, receipts, reply):");
    println!(
        "  {office_id} sent a decision: message {id}, dispatch receipt sealed ({})",
        short(&sent["dispatchReceipt"]["sha256"])
    );
    let read = call(
        portal
            .get(format!("{base}/v1/messages/{id}"))
            .bearer_auth(token),
    )
    .await?;
    println!(
        "  the person read it through the portal: \"{}\"",
        read["subject"].as_str().unwrap_or("")
    );
    let receipts = call(office.get(format!("{base}/v1/messages/{id}/receipts"))).await?;
    let jws = receipts["receipts"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["kind"] == "read"))
        .and_then(|r| r["jws"].as_str())
        .context("no read receipt")?;
    let roots = crate::tls::load_certs(&run.pki.ca_cert)?;
    let verified = crate::receipt::verify(jws, &roots, rustls_pki_types::UnixTime::now())
        .map_err(|e| anyhow::anyhow!("the read receipt does not verify: {e}"))?;
    println!(
        "  read receipt: read at {} through portal {}, verified offline against {}",
        verified.payload["readAt"].as_str().unwrap_or("?"),
        verified.payload["portal"].as_str().unwrap_or("?"),
        run.pki.ca_cert.display()
    );
    let reply = json!({"body": "Vielen Dank für den Entscheid."});
    let reply_id = call(
        portal
            .post(format!("{base}/v1/messages/{id}/replies"))
            .bearer_auth(token)
            .json(&reply),
    )
    .await?["id"]
        .as_str()
        .context("no reply id")?
        .to_owned();
    let pushed = crate::cli::runtime::load_registry(&run.config)?
        .get(office_id.parse()?)
        .is_some_and(|a| a.replies_path.is_some());
    if pushed {
        let office = office_id.parse()?;
        let mut taken = None;
        for _ in 0..200 {
            taken = run
                .simulator()
                .replies()
                .taken(office)
                .get(&reply_id)
                .copied();
            if taken.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let times = taken.context("the reply was not pushed to the office within 10 s")?;
        println!(
            "  the person replied; the gateway pushed the reply to {office_id}'s reply endpoint \
             over mTLS (outbox, taken {times}×, acknowledged by the push: not in its inbox)"
        );
        return Ok(());
    }
    let inbox = call(office.get(format!("{base}/v1/offices/{office_id}/inbox"))).await?;
    let got = inbox["replies"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["id"] == reply_id.as_str()))
        .context("the reply is not in the office's inbox")?;
    println!(
        "  the person replied; {office_id} (no reply endpoint) took it from its inbox: \"{}\"",
        got["body"].as_str().unwrap_or("")
    );
    let ack = format!("{base}/v1/offices/{office_id}/inbox/{reply_id}/ack");
    office
        .post(ack)
        .send()
        .await
        .context("acknowledging the reply")?;
    Ok(())
}

/// A client with the demo office's certificate.
fn office_client(run: &Running) -> anyhow::Result<(String, reqwest::Client)> {
    let id = if run.pki.offices.contains_key(DEMO_OFFICE) {
        DEMO_OFFICE.to_owned()
    } else {
        run.pki
            .offices
            .keys()
            .next()
            .context("the development PKI has no office certificate")?
            .clone()
    };
    let client = crate::sim::decisions::office_client(&run.pki, &id)?;
    Ok((id, client))
}

/// Sends `req`; a non-success answer is an error with its problem detail.
async fn call(req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = req.send().await.context("the gateway did not answer")?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("the gateway's answer is not JSON")?;
    if !status.is_success() {
        anyhow::bail!(
            "the gateway answered {status}: {}",
            body["detail"].as_str().unwrap_or("")
        );
    }
    Ok(body)
}

fn short(v: &Value) -> String {
    v.as_str().map_or_else(String::new, |s| {
        format!("sha256 {}…", &s[..s.len().min(12)])
    })
}
