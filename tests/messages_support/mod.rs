//! The constants and one helper per route of `tests/messages.rs`: sending, reading,
//! replying, the office's GETs and acknowledgement, the plaintext scan of the database and
//! the audit log, offline receipt verification. Also used by `tests/sim_decisions.rs`,
//! which needs only some of it.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::common::{self, Federation};

pub const PERSON: &str = "7561234567897";
pub const OTHER_PERSON: &str = "7569217076985";
pub const SENDER: &str = "001.000";
pub const OTHER_OFFICE: &str = "002.000";
/// The office with a reply endpoint (`replies_path` in its adapter).
pub const PUSHED_OFFICE: &str = "025.000";
/// Phrases that must never be found in clear at rest.
pub const SUBJECT: &str = "Verfuegung PHRASE-SUBJ-7f3a";
pub const BODY: &str = "Sehr geehrte Person, PHRASE-BODY-91c2 wir teilen Ihnen mit.";
pub const PDF: &[u8] = b"%PDF-1.4\n% PHRASE-ATT-44d0\n%%EOF\n";
pub const REPLY: &str = "Danke, PHRASE-REPLY-0b7e.";

/// `[messages]`: a development key written by the harness, information kept one day;
/// `[delivery]`: a refused push is retried soon.
pub const MESSAGES: &str = "[messages]\nactive_key = \"dev-1\"\n\n[messages.keys]\n\
     dev-1 = \"certs/messages-dev-1.key\"\n\n[messages.retention_days]\ninformation = 1\n\n\
     [delivery]\npoll_interval_ms = 50\nbackoff_initial_ms = 50\n";

pub fn message(kind: &str, attachments: Value) -> Value {
    json!({"vn": PERSON, "subject": SUBJECT, "body": BODY, "kind": kind,
           "reference": "case-4711", "attachments": attachments})
}

pub fn pdf() -> Value {
    json!([{"name": "verfuegung.pdf", "mediaType": "application/pdf",
            "contentBase64": STANDARD.encode(PDF)}])
}

pub async fn send(
    office: &reqwest::Client,
    fed: &Federation,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    office
        .post(fed.url("/v1/messages"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("send")
}

pub async fn migrated(fed: &Federation) {
    for _ in 0..(common::PATIENT_MS / 50) {
        if fed.state.db.is_migrated().await.unwrap_or(false) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the store was not migrated");
}

/// GET by an office (its receipts, its inbox).
pub async fn office_get(
    office: &reqwest::Client,
    fed: &Federation,
    path: &str,
) -> reqwest::Response {
    office.get(fed.url(path)).send().await.expect("office GET")
}

/// The office acknowledges a reply of its inbox: the status.
pub async fn acknowledge(office: &reqwest::Client, fed: &Federation, reply: &Value) -> u16 {
    let office_id = reply["office"].as_str().unwrap_or(SENDER);
    let id = reply["id"].as_str().expect("reply id");
    let path = format!("/v1/offices/{office_id}/inbox/{id}/ack");
    office
        .post(fed.url(&path))
        .send()
        .await
        .expect("ack")
        .status()
        .as_u16()
}

/// The person (by `token`) replies `body` to message `id` through the demo portal.
pub async fn reply_to(fed: &Federation, id: &str, token: &str, body: &str) -> reqwest::Response {
    fed.portal()
        .post(fed.url(&format!("/v1/messages/{id}/replies")))
        .bearer_auth(token)
        .json(&json!({"body": body}))
        .send()
        .await
        .expect("reply")
}

/// The audit log's last sequence number (records written so far).
pub fn audit_seq(fed: &Federation) -> u64 {
    fed.state.audit.head().0.seq
}

/// GET with the person's token (or none, or another's) through the demo portal.
pub async fn read(fed: &Federation, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = fed.portal().get(fed.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("portal GET")
}

pub async fn json_of(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    r.json().await.expect("json")
}

/// Every byte of the database at rest, for the plaintext scan.
pub async fn database_text(fed: &Federation, pg_schema: Option<&str>) -> Vec<u8> {
    match pg_schema {
        None => {
            let mut all = Vec::new();
            let db = fed.dir.path().join("data");
            for entry in std::fs::read_dir(&db).expect("data folder") {
                all.extend(std::fs::read(entry.expect("entry").path()).unwrap_or_default());
            }
            all
        }
        Some(schema) => {
            let url = std::env::var("GUICHET_TEST_DATABASE_URL").expect("url");
            let pool = sqlx::PgPool::connect(&url).await.expect("pg");
            let mut all = String::new();
            for table in [
                "messages",
                "message_attachments",
                "message_replies",
                "receipts",
            ] {
                let sql =
                    format!("SELECT COALESCE(string_agg(t::text, ''), '') FROM {schema}.{table} t");
                let text: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .expect("scan");
                all.push_str(&text);
            }
            pool.close().await;
            all.into_bytes()
        }
    }
}

pub fn assert_no_plaintext(bytes: &[u8], what: &str) {
    for phrase in [
        "PHRASE-SUBJ-7f3a",
        "PHRASE-BODY-91c2",
        "PHRASE-ATT-44d0",
        "PHRASE-REPLY-0b7e",
        PERSON,
    ] {
        assert!(
            !bytes.windows(phrase.len()).any(|w| w == phrase.as_bytes()),
            "{what} holds {phrase} in clear"
        );
    }
}

/// `guichet receipts verify` on a receipt written to a file: the payload.
pub fn verify_offline(fed: &Federation, jws: &str) -> Value {
    let file = fed
        .dir
        .path()
        .join(format!("receipt-{}.jws", uuid::Uuid::new_v4()));
    std::fs::write(&file, jws).expect("write receipt");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["receipts", "verify"])
        .arg(&file)
        .arg("--ca")
        .arg(fed.dir.path().join("certs/federation-ca.pem"))
        .output()
        .expect("guichet receipts verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("payload")
}
