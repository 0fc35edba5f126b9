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
