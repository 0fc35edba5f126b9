//! The sedex file interface with real folders in a temporary directory: envelope and
//! receipt per the contract's examples, data file then envelope written atomically and
//! idempotently (also after a crash between the two), receipts classified, inbox pairs
//! moved to `processed/` only after the taker confirms.

#[path = "support/xml_events.rs"]
mod xml_events;

use std::path::{Path, PathBuf};

use guichet::mapping::MappingSet;
use guichet::model::AckOutcome;
use guichet::sedex::{Envelope, Receipt, SedexError, SedexFolder, SedexStatus, Sent, XmlError};
use xml_events::events;

const ID: &str = "4e7d2a90-1c3b-4a5e-8f6d-7b9c0a1e2f04";

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/contract")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn example_envelope() -> Envelope {
    let at = time::macros::datetime!(2026-11-26 14:02:11 UTC);
    Envelope::new(ID, 2014, 0, "T6-000000-1", "T6-066000-1", at)
}

fn folder() -> (tempfile::TempDir, SedexFolder) {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = SedexFolder::open(dir.path()).expect("open");
    (dir, folder)
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

#[test]
fn the_envelope_renders_as_the_contract_example_and_reads_back() {
    let envelope = example_envelope();
    let rendered = envelope.render();
    assert_eq!(events(&rendered), events(&fixture("sedex-envelope.xml")));
    assert_eq!(
        Envelope::parse(rendered.as_bytes()).expect("reads"),
        envelope
    );
    let example = Envelope::parse(fixture("sedex-envelope.xml").as_bytes()).expect("reads");
    assert_eq!(example, envelope);
}

#[test]
fn the_receipt_example_reads_as_delivered() {
    let r = Receipt::parse(fixture("sedex-receipt.xml").as_bytes()).expect("reads");
    assert_eq!(r.message_id, ID);
    assert_eq!(r.status, SedexStatus::Delivered);
    assert!(r.status.is_final());
    assert_eq!(
        r.status_info.as_deref(),
        Some("Message successfully transmitted")
    );
    assert_eq!(r.event_date, "2026-11-26T14:02:11Z");
    assert_eq!(r.message_type, Some(2014));
    assert_eq!(r.recipient_id.as_deref(), Some("T6-066000-1"));
}

#[test]
fn sending_writes_the_data_file_then_the_envelope_and_is_idempotent() {
    let (_dir, folder) = folder();
    let data = fixture("apg-claim.xml");
    let envelope = example_envelope();
    assert_eq!(
        folder.send(data.as_bytes(), &envelope).expect("send"),
        Sent::Written
    );
    let outbox = folder.outbox();
    assert_eq!(
        names(&outbox),
        [format!("data_{ID}.xml"), format!("envl_{ID}.xml")]
    );
    let written = std::fs::read_to_string(outbox.join(format!("data_{ID}.xml"))).expect("data");
    assert_eq!(written, data);
    let envl = std::fs::read(outbox.join(format!("envl_{ID}.xml"))).expect("envelope");
    assert_eq!(Envelope::parse(&envl).expect("envelope reads"), envelope);

    // Re-run (a retry, or a restart after the envelope was written): nothing changes.
    let other = b"<other/>";
    assert_eq!(
        folder.send(other, &envelope).expect("again"),
        Sent::AlreadyQueued
    );
    let still = std::fs::read_to_string(outbox.join(format!("data_{ID}.xml"))).expect("data");
    assert_eq!(still, data);
}

#[test]
fn a_crash_between_data_file_and_envelope_leaves_no_envelope_and_a_rerun_completes_the_pair() {
    let (_dir, folder) = folder();
    let envelope = example_envelope();
    // The envelope's temporary file cannot be created (a folder is in its way): the
    // send stops after the data file, as a crash there would.
    let blocker = folder.outbox().join(format!(".envl_{ID}.xml.tmp"));
    std::fs::create_dir(&blocker).expect("blocker");
    let err = folder
        .send(b"<claim/>", &envelope)
        .expect_err("envelope cannot be written");
    assert!(matches!(err, SedexError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!(".envl_{ID}.xml.tmp")),
        "{err}"
    );
    let visible: Vec<String> = names(&folder.outbox())
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(
        visible,
        [format!("data_{ID}.xml")],
        "data first, no envelope"
    );

    std::fs::remove_dir(&blocker).expect("unblock");
    assert_eq!(
        folder.send(b"<claim/>", &envelope).expect("rerun"),
        Sent::Written
    );
    assert_eq!(
        names(&folder.outbox()),
        [format!("data_{ID}.xml"), format!("envl_{ID}.xml")]
    );
}

#[test]
fn message_ids_that_cannot_name_a_file_are_refused() {
    let (_dir, folder) = folder();
    for id in ["../escape", ".hidden", "", "a/b", "x y"] {
        let mut envelope = example_envelope();
        envelope.message_id = id.into();
        let err = folder.send(b"<x/>", &envelope).expect_err(id);
        assert!(matches!(err, SedexError::MessageId(_)), "{id}: {err}");
        assert!(
            matches!(folder.receipt(id), Err(SedexError::MessageId(_))),
            "{id}"
        );
    }
    assert!(names(&folder.outbox()).is_empty());
}

fn receipt_xml(id: &str, code: &str) -> String {
    fixture("sedex-receipt.xml").replace(ID, id).replace(
        "<statusCode>100</statusCode>",
        &format!("<statusCode>{code}</statusCode>"),
    )
}

#[test]
fn receipts_are_read_and_classified() {
    let (_dir, folder) = folder();
    assert_eq!(folder.receipt("m-none").expect("none yet"), None);
    let dir = folder.receipts_dir();
    let write = |id: &str, text: &str| {
        std::fs::write(dir.join(format!("receipt_{id}.xml")), text).expect("write")
    };
    for (id, code) in [
        ("m-100", "100"),
        ("m-202", "202"),
        ("m-330", "330"),
        ("m-404", "404"),
        ("m-601", "601"),
        ("m-701", "701"),
    ] {
        write(id, &receipt_xml(id, code));
    }
    let status = |id: &str| folder.receipt(id).expect("reads").expect("present").status;
    assert_eq!(status("m-100"), SedexStatus::Delivered);
    assert_eq!(status("m-202"), SedexStatus::Failed(202));
    assert_eq!(status("m-330"), SedexStatus::Failed(330));
    assert_eq!(status("m-404"), SedexStatus::Pending(404));
    assert_eq!(status("m-601"), SedexStatus::Pending(601));
    assert_eq!(status("m-701"), SedexStatus::Pending(701));

    // The client replaces a not-final receipt with the final one.
    write("m-601", &receipt_xml("m-601", "100"));
    assert_eq!(status("m-601"), SedexStatus::Delivered);

    write("m-999", &receipt_xml("m-999", "999"));
    write("m-text", &receipt_xml("m-text", "ok"));
    write("m-other", &receipt_xml("m-another", "100"));
    write(
        "m-broken",
        "<receipt xmlns=\"http://www.ech.ch/xmlns/eCH-0090/2\"><statusCode>100",
    );
    let err = folder.receipt("m-999").expect_err("unknown code");
    assert!(err.to_string().contains("/receipt/statusCode"), "{err}");
    assert!(err.to_string().contains("receipt_m-999.xml"), "{err}");
    let err = folder.receipt("m-text").expect_err("not a number");
    assert!(
        matches!(
            err,
            SedexError::File {
                error: XmlError::Invalid { .. },
                ..
            }
        ),
        "{err}"
    );
    let err = folder
        .receipt("m-other")
        .expect_err("names another message");
    assert!(matches!(err, SedexError::Mismatch { .. }), "{err}");
    let err = folder.receipt("m-broken").expect_err("truncated");
    assert!(
        matches!(
            err,
            SedexError::File {
                error: XmlError::Syntax(_),
                ..
            }
        ),
        "{err}"
    );

    let all = folder.receipts().expect("scan");
    assert_eq!(all.len(), 10);
    assert_eq!(all.iter().filter(|r| r.is_ok()).count(), 6);

    folder.archive_receipt("m-100").expect("archive");
    assert_eq!(folder.receipt("m-100").expect("gone"), None);
    assert!(folder.processed().join("receipt_m-100.xml").exists());
    folder
        .archive_receipt("m-100")
        .expect("archiving twice is fine");
}

/// Puts an incoming pair into `inbox/` as the client does: data, then envelope.
fn deliver(folder: &SedexFolder, id: &str, data: &str) {
    let inbox = folder.inbox_dir();
    std::fs::write(inbox.join(format!("data_{id}.xml")), data).expect("data");
    let at = time::macros::datetime!(2026-11-26 14:02:12 UTC);
    let mut envelope = Envelope::new(id, 2014, 0, "T6-025000-1", "T6-000000-1", at);
    envelope.reference_message_id = Some(ID.into());
    std::fs::write(inbox.join(format!("envl_{id}.xml")), envelope.render()).expect("envl");
}

#[tokio::test]
async fn inbox_pairs_move_to_processed_only_after_the_taker_confirms() {
    let (_dir, folder) = folder();
    let ack = fixture("apg-ack-accepted.xml");
    deliver(&folder, "ack-1", &ack);
    deliver(&folder, "ack-2", &ack);
    // Incomplete: the envelope is not there yet.
    std::fs::write(folder.inbox_dir().join("data_ack-3.xml"), &ack).expect("data only");
    // Broken envelope: refused, left for an operator.
    std::fs::write(folder.inbox_dir().join("data_ack-4.xml"), &ack).expect("data");
    std::fs::write(folder.inbox_dir().join("envl_ack-4.xml"), "<envelope/>").expect("envl");

    let mappings =
        MappingSet::load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mappings"))
            .expect("mappings");
    let apg = mappings.submission("ech-apg").expect("ech-apg").clone();
    let mut stored = Vec::new();
    let report = folder
        .pick_up(async |m| {
            if m.envelope.message_id == "ack-1" {
                return Err("store unavailable");
            }
            let ack = apg.read_ack(&m.data, 1 << 20).map_err(|_| "unreadable")?;
            stored.push((m.envelope.message_id.clone(), ack));
            Ok(())
        })
        .await
        .expect("pick up");
    assert_eq!(report.taken, ["ack-2"]);
    assert_eq!(report.declined, [("ack-1".to_owned(), "store unavailable")]);
    assert_eq!(report.refused.len(), 1);
    let refused = report.refused[0].to_string();
    assert!(refused.contains("envl_ack-4.xml"), "{refused}");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1.reference_message_id, ID);
    assert!(matches!(stored[0].1.outcome, AckOutcome::Accepted { .. }));

    assert_eq!(
        names(&folder.processed()),
        ["data_ack-2.xml", "envl_ack-2.xml"]
    );
    assert_eq!(
        names(&folder.inbox_dir()),
        [
            "data_ack-1.xml",
            "data_ack-3.xml",
            "data_ack-4.xml",
            "envl_ack-1.xml",
            "envl_ack-4.xml"
        ]
    );

    // The next run takes the declined pair.
    let report = folder
        .pick_up(async |m| {
            if m.envelope.message_id == "ack-1" {
                Ok::<(), ()>(())
            } else {
                Err(())
            }
        })
        .await
        .expect("pick up");
    assert_eq!(report.taken, ["ack-1"]);
}

#[tokio::test]
async fn a_move_interrupted_by_a_crash_is_finished_without_handing_the_pair_out_again() {
    let (_dir, folder) = folder();
    deliver(&folder, "ack-9", "<ack/>");
    // Crash after the data file moved, before the envelope did.
    std::fs::rename(
        folder.inbox_dir().join("data_ack-9.xml"),
        folder.processed().join("data_ack-9.xml"),
    )
    .expect("half move");
    let report = folder
        .pick_up(async |_m| -> Result<(), ()> { panic!("handed out again") })
        .await
        .expect("pick up");
    assert!(report.taken.is_empty() && report.refused.is_empty());
    assert!(names(&folder.inbox_dir()).is_empty());
    assert_eq!(
        names(&folder.processed()),
        ["data_ack-9.xml", "envl_ack-9.xml"]
    );
}

#[test]
fn a_missing_folder_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    let err = SedexFolder::open(&missing).expect_err("missing");
    assert!(err.to_string().contains("nope"), "{err}");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").expect("file");
    let err = SedexFolder::open(&file).expect_err("not a folder");
    assert!(err.to_string().contains("not a folder"), "{err}");
}

#[test]
fn doctypes_and_unknown_entities_are_refused_in_envelopes_and_receipts() {
    let bomb = "<!DOCTYPE r [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>";
    let receipt = fixture("sedex-receipt.xml").replace("<receipt", &format!("{bomb}<receipt"));
    let err = Receipt::parse(receipt.as_bytes()).expect_err("doctype");
    assert!(
        matches!(err, XmlError::Syntax(ref m) if m.contains("DOCTYPE")),
        "{err}"
    );
    let envelope = fixture("sedex-envelope.xml").replace(
        "<eCH-0090:senderId>T6-000000-1</eCH-0090:senderId>",
        "<eCH-0090:senderId>&b;</eCH-0090:senderId>",
    );
    let err = Envelope::parse(envelope.as_bytes()).expect_err("entity");
    assert!(matches!(err, XmlError::Syntax(_)), "{err}");
}

#[tokio::test]
async fn an_oversized_inbox_data_file_is_refused_and_left_in_place() {
    let (_dir, folder) = folder();
    deliver(&folder, "big", "<ack/>");
    let data = folder.inbox_dir().join("data_big.xml");
    // Sparse: no 17 MiB are written.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .expect("open");
    file.set_len(guichet::sedex::MAX_DATA_BYTES + 1)
        .expect("grow");
    let report = folder
        .pick_up(async |_m| -> Result<(), ()> { panic!("handed out") })
        .await
        .expect("pick up");
    assert_eq!(report.refused.len(), 1);
    assert!(
        matches!(report.refused[0], SedexError::TooLarge { .. }),
        "{}",
        report.refused[0]
    );
    assert!(data.exists());
}
