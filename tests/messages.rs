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
mod messages_support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Federation, Options};
use guichet::pki::Role;
use guichet::store::{Clock, OutboxState, Store, Subject};
use messages_support::*;
use rustls_pki_types::UnixTime;
use serde_json::json;

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
