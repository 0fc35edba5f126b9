//! Simulated offices sending decisions themselves: an office posts a decision to a person
//! through the gateway's `POST /v1/messages` with its own office client certificate of
//! the development PKI (the gateway lets an office post only as itself). Used by `guichet
//! demo` and by `guichet simulate --decisions-to URL`. Nothing here logs the text or the
//! AHV number.

use serde_json::{Value, json};

use crate::model::Vn;
use crate::pki::DevPki;

/// A one-page PDF attached to every simulated decision.
const DECISION_PDF: &[u8] = b"%PDF-1.4\n% simulated decision\n%%EOF\n";

/// Why a decision was not sent.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// The office has no certificate in the development PKI, or it does not load.
    #[error("office {office}: no usable client certificate ({problem})")]
    Client {
        /// The office.
        office: String,
        /// What failed.
        problem: String,
    },
    /// The gateway did not answer.
    #[error("the gateway did not answer: {0}")]
    Unanswered(String),
    /// The gateway refused the message.
    #[error("the gateway answered {status}: {detail}")]
    Refused {
        /// Its status.
        status: u16,
        /// Its problem document's `detail`.
        detail: String,
    },
}

/// A client presenting `office`'s certificate of the development PKI (trusting the
/// federation CA for the gateway's certificate).
pub fn office_client(pki: &DevPki, office: &str) -> Result<reqwest::Client, DecisionError> {
    let fail = |problem: String| DecisionError::Client {
        office: office.to_owned(),
        problem,
    };
    let paths = pki
        .offices
        .get(office)
        .ok_or_else(|| fail("not in the development PKI".into()))?;
    let roots = crate::tls::load_certs(&pki.ca_cert).map_err(|e| fail(e.to_string()))?;
    let chain = crate::tls::load_certs(&paths.cert).map_err(|e| fail(e.to_string()))?;
    let key = crate::tls::load_key(&paths.key).map_err(|e| fail(e.to_string()))?;
    let tls =
        crate::tls::client_config(&roots, Some((chain, key))).map_err(|e| fail(e.to_string()))?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .map_err(|e| fail(e.to_string()))
}

/// The office of `client` sends a decision to `vn` through `gateway` (`https://host:port`)
/// under the idempotency `key`: the gateway's answer (the message id and its dispatch
/// receipt).
pub async fn send_decision(
    client: &reqwest::Client,
    gateway: &str,
    vn: Vn,
    key: &str,
) -> Result<Value, DecisionError> {
    use base64::Engine as _;
    let body = json!({
        "vn": vn.digits(),
        "kind": "decision",
        "subject": "Entscheid EO-Gesuch",
        "body": "Ihr Gesuch um Erwerbsersatz wird gutgeheissen. Die Verfügung liegt bei.",
        "reference": key,
        "attachments": [{"name": "verfuegung.pdf",
            "contentBase64": base64::engine::general_purpose::STANDARD.encode(DECISION_PDF)}],
    });
    let response = client
        .post(format!("{}/v1/messages", gateway.trim_end_matches('/')))
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .map_err(|e| DecisionError::Unanswered(e.to_string()))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(DecisionError::Refused {
            status: status.as_u16(),
            detail: answer["detail"].as_str().unwrap_or_default().to_owned(),
        });
    }
    Ok(answer)
}

/// What [`send_many`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Decisions the gateway took (`201`) or answered as already taken (a replay, `200`).
    pub sent: u32,
    /// Decisions not sent: no usable certificate, or the gateway refused them.
    pub refused: u32,
}

/// The simulated offices, taking turns, send a decision to the synthetic persons 1 to
/// `persons` through `gateway`, waiting for it to answer (up to a minute per decision).
/// The idempotency keys are stable (`sim-decision-<office>-<n>`), so a second run sends
/// nothing new: the gateway answers each with the message it already holds.
pub async fn send_many(pki: &DevPki, gateway: &str, persons: u32) -> Sent {
    let offices: Vec<String> = pki.offices.keys().cloned().collect();
    let mut count = Sent::default();
    for (n, office) in (1..=persons).zip(offices.iter().cycle()) {
        let client = match office_client(pki, office) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "simulated decision not sent");
                count.refused += 1;
                continue;
            }
        };
        let vn = Vn::from_serial(n);
        let key = format!("sim-decision-{office}-{n}");
        for attempt in 1..=60 {
            match send_decision(&client, gateway, vn, &key).await {
                Ok(_) => {
                    count.sent += 1;
                    break;
                }
                Err(DecisionError::Unanswered(_)) if attempt < 60 => {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Err(e) => {
                    tracing::warn!(%office, error = %e, "simulated decision not sent");
                    count.refused += 1;
                    break;
                }
            }
        }
    }
    count
}
