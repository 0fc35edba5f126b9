//! Messages end to end over mutual TLS (issue #16), one body per test run on SQLite (a
//! file in the test's folder) and, with `--features postgres-tests`, on PostgreSQL (a
//! fresh schema): an office sends (dispatch receipt, idempotent re-send, `409`, `415`,
//! `413`, `422`), the person lists and reads through a portal with its own token (`401`
//! without, `403` with another person's), the first read seals exactly one read receipt,
//! another office gets `404` for the receipts, the reply reaches the office's inbox and is
//! acknowledged; the database and the audit log hold no plaintext phrase; after a
//! shortened retention period the content is gone and the receipts still verify offline
//! with `guichet receipts verify`. An office with a reply endpoint (`replies_path`) gets
//! the reply pushed exactly once over mTLS, also when the first push fails and is retried,
//! and it no longer waits in its inbox.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Federation, Options};
use guichet::pki::Role;
use guichet::store::{Clock, OutboxState, Store, Subject};
use rustls_pki_types::UnixTime;
use serde_json::{Value, json};

const PERSON: &str = "7561234567897";
const OTHER_PERSON: &str = "7569217076985";
const SENDER: &str = "001.000";
const OTHER_OFFICE: &str = "002.000";
/// The office with a reply endpoint (`replies_path` in its adapter).
const PUSHED_OFFICE: &str = "025.000";
/// Phrases that must never be found in clear at rest.
const SUBJECT: &str = "Verfuegung PHRASE-SUBJ-7f3a";
const BODY: &str = "Sehr geehrte Person, PHRASE-BODY-91c2 wir teilen Ihnen mit.";
const PDF: &[u8] = b"%PDF-1.4\n% PHRASE-ATT-44d0\n%%EOF\n";
const REPLY: &str = "Danke, PHRASE-REPLY-0b7e.";

/// `[messages]`: a development key written by the harness, information kept one day;
/// `[delivery]`: a refused push is retried soon.
const MESSAGES: &str = "[messages]\nactive_key = \"dev-1\"\n\n[messages.keys]\n\
     dev-1 = \"certs/messages-dev-1.key\"\n\n[messages.retention_days]\ninformation = 1\n\n\
     [delivery]\npoll_interval_ms = 50\nbackoff_initial_ms = 50\n";

fn message(kind: &str, attachments: Value) -> Value {
    json!({"vn": PERSON, "subject": SUBJECT, "body": BODY, "kind": kind,
           "reference": "case-4711", "attachments": attachments})
}

fn pdf() -> Value {
    json!([{"name": "verfuegung.pdf", "mediaType": "application/pdf",
            "contentBase64": STANDARD.encode(PDF)}])
}

async fn send(
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

async fn migrated(fed: &Federation) {
    for _ in 0..(common::PATIENT_MS / 50) {
        if fed.state.db.is_migrated().await.unwrap_or(false) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the store was not migrated");
}

/// GET by an office (its receipts, its inbox).
async fn office_get(office: &reqwest::Client, fed: &Federation, path: &str) -> reqwest::Response {
    office.get(fed.url(path)).send().await.expect("office GET")
}

/// The office acknowledges a reply of its inbox: the status.
async fn acknowledge(office: &reqwest::Client, fed: &Federation, reply: &Value) -> u16 {
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
async fn reply_to(fed: &Federation, id: &str, token: &str, body: &str) -> reqwest::Response {
    fed.portal()
        .post(fed.url(&format!("/v1/messages/{id}/replies")))
        .bearer_auth(token)
        .json(&json!({"body": body}))
        .send()
        .await
        .expect("reply")
}

/// The audit log's last sequence number (records written so far).
fn audit_seq(fed: &Federation) -> u64 {
    fed.state.audit.head().0.seq
}

/// GET with the person's token (or none, or another's) through the demo portal.
async fn read(fed: &Federation, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = fed.portal().get(fed.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("portal GET")
}

async fn json_of(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    r.json().await.expect("json")
}

/// Every byte of the database at rest, for the plaintext scan.
async fn database_text(fed: &Federation, pg_schema: Option<&str>) -> Vec<u8> {
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

fn assert_no_plaintext(bytes: &[u8], what: &str) {
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
fn verify_offline(fed: &Federation, jws: &str) -> Value {
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

async fn flow(fed: &Federation, pg_schema: Option<&str>) {
    migrated(fed).await;
    let office = fed.client_as(Role::Office, SENDER);
    let other_office = fed.client_as(Role::Office, OTHER_OFFICE);

    // Send: 201 with a dispatch receipt over the office, the person's keyed hash and the
    // content hashes; the same key and body again is the same message (200).
    let sent = json_of(
        send(&office, fed, "m-1", &message("decision", pdf())).await,
        201,
    )
    .await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let dispatch = verify_offline(fed, sent["dispatchReceipt"]["jws"].as_str().expect("jws"));
    assert_eq!(dispatch["kind"], "dispatch");
    assert_eq!(dispatch["messageId"], id.as_str());
    assert_eq!(dispatch["senderOffice"], SENDER);
    assert_eq!(dispatch["bodySha256"], sent["bodySha256"]);
    assert_eq!(
        dispatch["attachments"][0]["sha256"],
        guichet::receipt::sha256_hex(PDF).as_str()
    );
    assert_ne!(dispatch["person"], PERSON);
    let before = audit_seq(fed);
    let again = json_of(
        send(&office, fed, "m-1", &message("decision", pdf())).await,
        200,
    )
    .await;
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["dispatchReceipt"], sent["dispatchReceipt"]);
    // The replay was answered from the store: no second receipt, no audit record.
    assert_eq!(audit_seq(fed), before, "a replay wrote to the audit log");
    let message_id = id.parse().expect("message id");
    let stored = fed
        .state
        .db
        .message_receipts(message_id)
        .await
        .expect("receipts");
    assert_eq!(stored.len(), 1, "a replay stored a second receipt");
    let conflict = send(&office, fed, "m-1", &message("request", pdf())).await;
    assert_eq!(conflict.status().as_u16(), 409);

    // Refusals store nothing: an executable named .pdf, too much, an invalid number.
    let exe = json!([{"name": "verfuegung.pdf", "mediaType": "application/pdf",
                      "contentBase64": STANDARD.encode(b"MZ\x90\0\x03\0\0\0PE\0\0")}]);
    assert_eq!(
        send(&office, fed, "m-2", &message("decision", exe))
            .await
            .status()
            .as_u16(),
        415
    );
    let mut big = vec![0u8; 10 * 1024 * 1024 + 1000];
    big[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    let big = json!([{"name": "scan.jpg", "contentBase64": STANDARD.encode(&big)}]);
    assert_eq!(
        send(&office, fed, "m-3", &message("decision", big))
            .await
            .status()
            .as_u16(),
        413
    );
    let mut bad_vn = message("decision", json!([]));
    bad_vn["vn"] = "7561234567890".into();
    let refused = json_of(send(&office, fed, "m-4", &bad_vn).await, 422).await;
    assert_eq!(refused["errors"][0]["pointer"], "/vn");
    assert!(!refused.to_string().contains("7561234567890"));
    // A portal may not send.
    let by_portal = fed
        .portal()
        .post(fed.url("/v1/messages"))
        .header("idempotency-key", "p")
        .json(&message("decision", json!([])))
        .send()
        .await
        .expect("send");
    assert_eq!(by_portal.status().as_u16(), 403);

    // The person lists and reads: 401 without a token, 403 with another person's.
    let token = fed.token_of(PERSON);
    let other = fed.token_of(OTHER_PERSON);
    let list_path = format!("/v1/persons/{PERSON}/messages");
    let msg_path = format!("/v1/messages/{id}");
    assert_eq!(read(fed, &list_path, None).await.status().as_u16(), 401);
    assert_eq!(read(fed, &msg_path, None).await.status().as_u16(), 401);
    assert_eq!(
        read(fed, &list_path, Some(&other)).await.status().as_u16(),
        403
    );
    assert_eq!(
        read(fed, &msg_path, Some(&other)).await.status().as_u16(),
        403
    );
    assert_eq!(
        read(fed, &format!("{msg_path}/attachments/0"), Some(&other))
            .await
            .status()
            .as_u16(),
        403
    );
    let list = json_of(read(fed, &list_path, Some(&token)).await, 200).await;
    assert_eq!(list["unread"], 1);
    assert_eq!(list["messages"][0]["id"], id.as_str());
    assert_eq!(list["messages"][0]["subject"], SUBJECT);

    // The first read seals one read receipt; later reads add none.
    let shown = json_of(read(fed, &msg_path, Some(&token)).await, 200).await;
    assert_eq!(shown["body"], BODY);
    assert_eq!(shown["attachments"][0]["name"], "verfuegung.pdf");
    json_of(read(fed, &msg_path, Some(&token)).await, 200).await;
    let file = read(fed, &format!("{msg_path}/attachments/0"), Some(&token)).await;
    assert_eq!(file.status().as_u16(), 200);
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), PDF);
    let receipts_path = format!("/v1/messages/{id}/receipts");
    let receipts = json_of(office_get(&office, fed, &receipts_path).await, 200).await;
    let kinds: Vec<&str> = receipts["receipts"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["dispatch", "read"]);
    let read_receipt = verify_offline(fed, receipts["receipts"][1]["jws"].as_str().expect("jws"));
    assert_eq!(read_receipt["person"], dispatch["person"]);
    assert_eq!(read_receipt["portal"], "demo");
    assert_eq!(read_receipt["bodySha256"], dispatch["bodySha256"]);
    let list = json_of(read(fed, &list_path, Some(&token)).await, 200).await;
    assert_eq!(list["unread"], 0);
    // Another office does not see the receipts.
    assert_eq!(
        office_get(&other_office, fed, &receipts_path)
            .await
            .status()
            .as_u16(),
        404
    );

    // The person replies; the office without an endpoint fetches it from its inbox.
    let reply = json_of(reply_to(fed, &id, &token, REPLY).await, 201).await;
    assert_eq!(reply["office"], SENDER);
    let stranger = reply_to(fed, &id, &other, "x").await;
    assert_eq!(stranger.status().as_u16(), 403);
    let inbox_path = format!("/v1/offices/{SENDER}/inbox");
    assert_eq!(
        office_get(&other_office, fed, &inbox_path)
            .await
            .status()
            .as_u16(),
        403
    );
    let inbox = json_of(office_get(&office, fed, &inbox_path).await, 200).await;
    assert_eq!(inbox["replies"][0]["id"], reply["id"]);
    assert_eq!(inbox["replies"][0]["messageId"], id.as_str());
    assert_eq!(inbox["replies"][0]["body"], REPLY);
    assert_eq!(acknowledge(&office, fed, &reply).await, 204);
    let inbox = json_of(office_get(&office, fed, &inbox_path).await, 200).await;
    assert_eq!(inbox["replies"].as_array().map(Vec::len), Some(0));
    let reply_id = reply["id"].as_str().expect("id").parse().expect("reply id");
    let rows = fed
        .state
        .db
        .outbox_of(&Subject::reply(reply_id))
        .await
        .expect("outbox");
    assert!(
        rows.is_empty(),
        "a reply to an office without endpoint was queued"
    );

    // Nothing in clear at rest: the database and the audit log.
    assert_no_plaintext(&database_text(fed, pg_schema).await, "the database");
    let mut audit = Vec::new();
    for entry in std::fs::read_dir(fed.dir.path().join("audit")).expect("audit") {
        audit.extend(std::fs::read(entry.expect("entry").path()).unwrap_or_default());
    }
    assert_no_plaintext(&audit, "the audit log");

    retention(fed, &office, &token, &id).await;
}

/// An `information` message (kept one day here) and the decision above: two days later
/// the information's content is gone, the decision's is not; receipts still verify.
async fn retention(fed: &Federation, office: &reqwest::Client, token: &str, decision: &str) {
    let info = json_of(
        send(office, fed, "m-5", &message("information", pdf())).await,
        201,
    )
    .await;
    let id = info["id"].as_str().expect("id");
    let later = Clock::manual(Clock::System.now_ms() + 2 * 86_400_000);
    let store = Store::open(&fed.config.store)
        .await
        .expect("store")
        .with_clock(later);
    let purged = store.purge_expired().await.expect("purge");
    assert_eq!((purged.messages, purged.replies), (1, 0));
    store.close().await;
    let shown = json_of(
        read(fed, &format!("/v1/messages/{id}"), Some(token)).await,
        200,
    )
    .await;
    assert_eq!(shown["contentDeleted"], true);
    assert!(shown.get("body").is_none() && shown.get("subject").is_none());
    assert_eq!(
        shown["attachments"][0]["sha256"],
        guichet::receipt::sha256_hex(PDF).as_str()
    );
    let gone = read(
        fed,
        &format!("/v1/messages/{id}/attachments/0"),
        Some(token),
    )
    .await;
    assert_eq!(gone.status().as_u16(), 410);
    let kept = json_of(
        read(fed, &format!("/v1/messages/{decision}"), Some(token)).await,
        200,
    )
    .await;
    assert_eq!(kept["body"], BODY);
    let receipts = json_of(
        office_get(office, fed, &format!("/v1/messages/{id}/receipts")).await,
        200,
    )
    .await;
    for r in receipts["receipts"].as_array().expect("receipts") {
        let payload = verify_offline(fed, r["jws"].as_str().expect("jws"));
        assert_eq!(payload["messageId"], id);
        let roots = guichet::tls::load_certs(&fed.dir.path().join("certs/federation-ca.pem"))
            .expect("roots");
        assert!(
            guichet::receipt::verify(r["jws"].as_str().expect("jws"), &roots, UnixTime::now())
                .is_ok()
        );
    }
}

/// An office with a reply endpoint: the reply is pushed over mTLS (the first attempt
/// refused with `503`, the retry taken), arrives exactly once, and is not in its inbox.
async fn pushed(fed: &Federation) {
    migrated(fed).await;
    let office = fed.client_as(Role::Office, PUSHED_OFFICE);
    let pushed_office = PUSHED_OFFICE.parse().expect("office");
    let sent = json_of(
        send(&office, fed, "p-1", &message("request", json!([]))).await,
        201,
    )
    .await;
    let id = sent["id"].as_str().expect("id");
    fed.sim.replies().fail_next(1);
    let token = fed.token_of(PERSON);
    let reply = json_of(reply_to(fed, id, &token, REPLY).await, 201).await;
    let reply_id = reply["id"].as_str().expect("reply id").to_owned();
    let subject = Subject::reply(reply_id.parse().expect("reply id"));
    let mut done = false;
    for _ in 0..(common::PATIENT_MS / 50) {
        let rows = fed.state.db.outbox_of(&subject).await.expect("outbox");
        if rows.iter().any(|r| r.state == OutboxState::Done) {
            done = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(done, "the reply was not pushed");
    let rows = fed.state.db.outbox_of(&subject).await.expect("outbox");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 1, "one refused attempt, then the push");
    assert_eq!(
        rows[0].message_id, reply_id,
        "the reply's id is the push's key"
    );
    assert_eq!(fed.sim.replies().refused(), 1);
    let taken = fed.sim.replies().taken(pushed_office);
    assert_eq!(
        taken.get(&reply_id),
        Some(&1),
        "pushed exactly once: {taken:?}"
    );
    // Pushed and acknowledged: not waiting in the inbox.
    let inbox = json_of(
        office_get(&office, fed, &format!("/v1/offices/{PUSHED_OFFICE}/inbox")).await,
        200,
    )
    .await;
    assert_eq!(inbox["replies"].as_array().map(Vec::len), Some(0));
    // Acknowledging it again changes nothing (`204`, already acknowledged).
    let mut again = reply.clone();
    again["office"] = PUSHED_OFFICE.into();
    assert_eq!(acknowledge(&office, fed, &again).await, 204);
}

async fn start(store: &str) -> Federation {
    let extra = format!("{MESSAGES}\n{store}");
    Federation::build(
        Options {
            extra: &extra,
            ..Options::default()
        },
        |_| {},
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_read_reply_and_retention_on_sqlite() {
    let mut fed = start("").await;
    flow(&fed, None).await;
    pushed(&fed).await;
    fed.shutdown().await;
}

#[cfg(feature = "postgres-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_read_reply_and_retention_on_postgres() {
    let schema = guichet::store::scratch::ScratchSchema::create()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = std::env::var("GUICHET_TEST_DATABASE_URL").expect("url");
    let mut fed = start(&format!(
        "[store]\nurl = \"{url}\"\nschema = \"{}\"\n",
        schema.name()
    ))
    .await;
    flow(&fed, Some(schema.name())).await;
    pushed(&fed).await;
    fed.shutdown().await;
    schema.drop_schema().await.expect("drop schema");
}
