//! The `ech-apg` submission dialect: every acknowledgement example reads to its typed
//! outcome, broken acknowledgements are refused naming the element path, and the
//! canonical claim renders to the contract's claim (compared as parsed trees).

use std::path::PathBuf;
use std::sync::Arc;

use guichet::mapping::{AnswerErrorKind, MappingSet, SubmissionMapping};
use guichet::model::{AckOutcome, ApgAck, OfficeId, RejectReason};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    let path = root().join("tests/fixtures/contract").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn apg() -> Arc<SubmissionMapping> {
    let set = MappingSet::load_dir(&root().join("mappings")).expect("shipped mappings load");
    set.submission("ech-apg")
        .expect("ech-apg is a submission dialect")
        .clone()
}

fn read(xml: &str) -> Result<ApgAck, guichet::mapping::AnswerError> {
    apg().read_ack(xml.as_bytes(), 64 * 1024)
}

const CLAIM_ID: &str = "4e7d2a90-1c3b-4a5e-8f6d-7b9c0a1e2f04";
const SUBMISSION: &str = "sub-01JF3Q8W6Z4K2M9T7R5V1X3B8N";

#[test]
fn accepted_example_reads_to_its_case_number() {
    let ack = read(&fixture("apg-ack-accepted.xml")).expect("reads");
    assert_eq!(
        ack,
        ApgAck {
            message_id: "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c05".into(),
            reference_message_id: CLAIM_ID.into(),
            business_process_id: Some(SUBMISSION.into()),
            outcome: AckOutcome::Accepted {
                case_number: "APG-025-2026-018842".into()
            },
        }
    );
}

#[test]
fn rejected_example_reads_to_its_reason_code_and_text() {
    let ack = read(&fixture("apg-ack-rejected.xml")).expect("reads");
    assert_eq!(ack.reference_message_id, CLAIM_ID);
    assert_eq!(
        ack.outcome,
        AckOutcome::Rejected {
            reason: RejectReason::DuplicatePeriod,
            text: Some(
                "Une demande pour cette période de service est déjà enregistrée \
                 (APG-025-2026-017301)."
                    .into()
            ),
        }
    );
}

#[test]
fn transferred_example_reads_to_the_target_fund() {
    let ack = read(&fixture("apg-ack-transferred.xml")).expect("reads");
    assert_eq!(ack.business_process_id.as_deref(), Some(SUBMISSION));
    let to: OfficeId = "066.000".parse().expect("office");
    assert_eq!(
        ack.outcome,
        AckOutcome::Transferred {
            to,
            text: Some("Affiliation de l’employeur transférée au 1er octobre 2026.".into()),
        }
    );
}

#[test]
fn prefixes_layout_and_order_do_not_matter() {
    // Default namespace for the content, another prefix for the header, children
    // reordered, comments and unknown elements added.
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<message xmlns="urn:guichet:xmlns:apg-claim:1" xmlns:x="http://www.ech.ch/xmlns/eCH-0058/5">
  <content><acknowledgement><caseNumber>APG-1</caseNumber><!-- c --><extra><outcome>no</outcome></extra><outcome>accepted</outcome></acknowledgement></content>
  <header><x:referenceMessageId>ref-1</x:referenceMessageId><x:messageId>m-1</x:messageId><x:extension><x:any/></x:extension></header>
</message>"#;
    let ack = read(xml).expect("reads");
    assert_eq!(ack.message_id, "m-1");
    assert_eq!(ack.reference_message_id, "ref-1");
    assert_eq!(ack.business_process_id, None);
    assert_eq!(
        ack.outcome,
        AckOutcome::Accepted {
            case_number: "APG-1".into()
        }
    );
}

/// The accepted example with one substitution.
fn accepted_with(from: &str, to: &str) -> String {
    let xml = fixture("apg-ack-accepted.xml");
    assert!(xml.contains(from), "{from}");
    xml.replacen(from, to, 1)
}

const ACK: &str = "/apg:message/apg:content/apg:acknowledgement";

#[test]
fn garbage_is_refused_naming_the_path() {
    let cases: Vec<(String, &str, String)> = vec![
        (
            accepted_with(">accepted<", ">approved<"),
            "not one of accepted, rejected, transferred",
            format!("{ACK}/apg:outcome"),
        ),
        (
            accepted_with("<apg:caseNumber>APG-025-2026-018842</apg:caseNumber>", ""),
            "required element missing",
            format!("{ACK}/apg:caseNumber"),
        ),
        (
            accepted_with(
                "<apg:outcome>accepted</apg:outcome>",
                "<apg:outcome>transferred</apg:outcome><apg:transferredTo>66</apg:transferredTo>",
            ),
            "not an office id",
            format!("{ACK}/apg:transferredTo"),
        ),
        (
            accepted_with(
                "<apg:outcome>accepted</apg:outcome>",
                "<apg:outcome>rejected</apg:outcome><apg:reasonCode>late</apg:reasonCode>",
            ),
            "not one of duplicate-period, not-affiliated, invalid-data, other",
            format!("{ACK}/apg:reasonCode"),
        ),
        (
            accepted_with(
                "<apg:outcome>accepted</apg:outcome>",
                "<apg:outcome>rejected</apg:outcome><apg:reasonCode>other</apg:reasonCode>",
            ),
            "required element missing",
            format!("{ACK}/apg:reason"),
        ),
        (
            accepted_with(
                "<apg:outcome>accepted</apg:outcome>",
                "<apg:outcome>accepted</apg:outcome><apg:outcome>accepted</apg:outcome>",
            ),
            "element repeated",
            format!("{ACK}/apg:outcome"),
        ),
        (
            accepted_with(
                "<eCH-0058:referenceMessageId>4e7d2a90-1c3b-4a5e-8f6d-7b9c0a1e2f04</eCH-0058:referenceMessageId>",
                "",
            ),
            "required element missing",
            "/apg:message/apg:header/h:referenceMessageId".to_owned(),
        ),
    ];
    for (xml, message, path) in cases {
        let err = read(&xml).expect_err(message);
        assert_eq!(err.path.as_deref(), Some(path.as_str()), "{err}");
        assert!(err.to_string().contains(message), "{err}");
    }
}

#[test]
fn documents_that_are_not_acknowledgements_are_refused() {
    let wrong_root = fixture("ik-response-ech.xml");
    let err = read(&wrong_root).expect_err("an IK extract");
    assert!(
        matches!(err.kind, AnswerErrorKind::WrongRoot { .. }),
        "{err}"
    );

    let doctype = accepted_with(
        "<apg:message",
        "<!DOCTYPE apg:message [<!ENTITY x \"y\">]><apg:message",
    );
    let err = read(&doctype).expect_err("doctype");
    assert_eq!(err.kind, AnswerErrorKind::Doctype);

    let xml = fixture("apg-ack-accepted.xml");
    let err = read(&xml[..xml.len() / 2]).expect_err("truncated");
    assert!(
        matches!(
            err.kind,
            AnswerErrorKind::Truncated | AnswerErrorKind::Syntax(_)
        ),
        "{err}"
    );
    let err = read("not xml at all").expect_err("text");
    assert!(
        matches!(
            err.kind,
            AnswerErrorKind::Truncated | AnswerErrorKind::Syntax(_)
        ),
        "{err}"
    );
    let err = apg()
        .read_ack(xml.as_bytes(), 100)
        .expect_err("over the limit");
    assert_eq!(err.kind, AnswerErrorKind::TooLarge { limit: 100 });
}

#[test]
fn the_redacted_error_leaves_the_value_out() {
    let err = read(&accepted_with(">accepted<", ">Claire Dupont<")).expect_err("bad");
    assert!(err.to_string().contains("Claire Dupont"), "{err}");
    assert!(!err.redacted().contains("Claire"), "{}", err.redacted());
}
