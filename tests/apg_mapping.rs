//! The `ech-apg` submission dialect: every acknowledgement example reads to its typed
//! outcome, broken acknowledgements are refused naming the element path, and the
//! canonical claim renders to the contract's claim (compared as parsed trees).

#[path = "support/xml_events.rs"]
mod xml_events;

use std::path::PathBuf;
use std::sync::Arc;

use guichet::mapping::{
    AnswerErrorKind, MappingSet, RenderProblem, SubmissionError, SubmissionMapping,
    SubmissionParams,
};
use guichet::model::{AckOutcome, ApgAck, ApgClaim, ClaimRouting, OfficeId, RejectReason};
use quick_xml::events::Event;
use serde_json::Value;

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

/// The canonical JSON of a claim body (parsed and validated as the API does).
fn canonical(json: &str) -> Value {
    let claim = ApgClaim::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
    serde_json::from_slice(&claim.canonical_json()).expect("canonical JSON")
}

fn claim_json() -> String {
    let path = root().join("tests/fixtures/claims/apg-claim.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn render(form: &Value, routing: &ClaimRouting) -> Result<String, SubmissionError> {
    let params = SubmissionParams {
        sender_id: "T6-000000-1",
        recipient_id: "T6-025000-1",
        message_id: CLAIM_ID,
        business_process_id: SUBMISSION,
        message_date: "2026-11-26T14:02:11Z",
        test_delivery: true,
        routing_rule: &routing.rule,
        competent_office: routing.competent_office,
    };
    apg().render(&params, form)
}

fn example_routing() -> ClaimRouting {
    ClaimRouting {
        rule: "employee-current-affiliation".into(),
        competent_office: "025.000".parse().expect("office"),
    }
}

/// (namespace URI, local name, trimmed text) events: prefixes and layout may differ.
fn events(xml: &str) -> Vec<(String, String, String)> {
    let mut reader = quick_xml::NsReader::from_str(xml);
    // `<a/>` reads as `<a></a>`: the same events either way.
    reader.config_mut().expand_empty_elements = true;
    let mut out = Vec::new();
    let mut stack: Vec<(String, String)> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_resolved_event().expect("well-formed") {
            (ns, Event::Start(e)) => {
                stack.push(xml_events::name(ns, &e));
                text.clear();
            }
            (_, Event::Text(t)) => text.push_str(&t.xml_content().expect("text")),
            (_, Event::GeneralRef(r)) => {
                let name = r.decode().expect("reference");
                text.push(match name.as_ref() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    other => panic!("entity {other}"),
                });
            }
            (_, Event::End(_)) => {
                if let Some((uri, local)) = stack.pop() {
                    let t = std::mem::take(&mut text);
                    if !t.trim().is_empty() {
                        out.push((uri.clone(), local.clone(), t.trim().to_owned()));
                    }
                    out.push((uri, local, "/".into()));
                }
            }
            (_, Event::Eof) => break,
            _ => {}
        }
    }
    out
}

#[test]
fn the_canonical_claim_renders_to_the_contract_example() {
    let rendered = render(&canonical(&claim_json()), &example_routing()).expect("renders");
    let mut got = events(&rendered);
    // The product version follows the crate's version; the example says 0.1.0.
    for e in &mut got {
        if e.1 == "productVersion" && e.2 != "/" {
            e.2 = "0.1.0".into();
        }
    }
    let want = events(&fixture("apg-claim.xml"));
    if got != want {
        let first = got.iter().zip(&want).position(|(a, b)| a != b);
        panic!(
            "differs at event {first:?}: {:?}",
            first.map(|i| (&got[i], &want[i]))
        );
    }
}

#[test]
fn optional_parts_are_left_out_and_the_activity_is_the_one_given() {
    let mut json: Value = serde_json::from_str(&claim_json()).expect("json");
    let claimant = &mut json["claimant"];
    claimant.as_object_mut().expect("object").remove("email");
    claimant["address"] = serde_json::json!({
        "street": "Via Roma 1", "postalCode": "00184", "town": "Roma", "country": "IT"
    });
    json["servicePeriod"]
        .as_object_mut()
        .expect("object")
        .remove("referenceNumber");
    json["children"] = serde_json::json!([]);
    json["activityBeforeService"] = serde_json::json!({"selfEmployed": {}});
    json["payment"]
        .as_object_mut()
        .expect("object")
        .remove("accountHolder");
    let routing = ClaimRouting {
        rule: "residence-abroad".into(),
        competent_office: "027.000".parse().expect("office"),
    };
    let xml = render(&canonical(&json.to_string()), &routing).expect("renders");
    let locals: Vec<String> = events(&xml).into_iter().map(|e| e.1).collect();
    for absent in [
        "email",
        "canton",
        "referenceNumber",
        "child",
        "employee",
        "accountHolder",
    ] {
        assert!(!locals.iter().any(|l| l == absent), "{absent} in {xml}");
    }
    assert!(locals.iter().any(|l| l == "selfEmployed"), "{xml}");
    for other in ["unemployed", "student", "notEmployed"] {
        assert!(!locals.iter().any(|l| l == other), "{other} in {xml}");
    }
    assert!(
        xml.contains("<apg:rule>residence-abroad</apg:rule>"),
        "{xml}"
    );
    assert!(
        xml.contains("<apg:competentOffice>027.000</apg:competentOffice>"),
        "{xml}"
    );
}

#[test]
fn several_children_repeat_and_text_is_escaped() {
    let mut json: Value = serde_json::from_str(&claim_json()).expect("json");
    let second = guichet::model::Vn::from_serial(314_159_265).digits();
    json["children"] = serde_json::json!([
        {"vn": "7562295883070", "dateOfBirth": "2015-06-02"},
        {"vn": second, "dateOfBirth": "2018-01-31"}
    ]);
    json["activityBeforeService"]["employee"]["employerName"] =
        Value::String("Müller & Söhne <AG> \"Genève\"".into());
    let xml = render(&canonical(&json.to_string()), &example_routing()).expect("renders");
    let ev = events(&xml);
    let births: Vec<&str> = ev
        .iter()
        .filter(|e| e.1 == "yearMonthDay" && e.2 != "/")
        .map(|e| e.2.as_str())
        .collect();
    assert_eq!(births, ["1979-03-14", "2015-06-02", "2018-01-31"]);
    let name = ev.iter().find(|e| e.1 == "employerName").expect("employer");
    assert_eq!(name.2, "Müller & Söhne <AG> \"Genève\"");
}

#[test]
fn a_form_of_another_type_or_missing_a_value_is_refused_naming_the_placeholder() {
    let mut form = canonical(&claim_json());
    form["type"] = Value::String("message".into());
    let err = render(&form, &example_routing()).expect_err("other form");
    assert!(matches!(err, SubmissionError::WrongForm { .. }), "{err}");

    let mut form = canonical(&claim_json());
    form["claimant"]
        .as_object_mut()
        .expect("object")
        .remove("vn");
    let err = render(&form, &example_routing()).expect_err("no vn");
    let SubmissionError::Render { error, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(error.path, "form.claimant.vn");
    assert_eq!(error.problem, RenderProblem::Missing);

    let mut form = canonical(&claim_json());
    form["claimant"]["officialName"] = serde_json::json!({"x": "Dupont"});
    let err = render(&form, &example_routing()).expect_err("object");
    assert!(!err.to_string().contains("Dupont"), "{err}");
}

#[test]
fn the_simulated_fund_reads_the_rendered_claim_without_problems() {
    let xml = render(&canonical(&claim_json()), &example_routing()).expect("renders");
    let claim = guichet::sim::apg::read_claim(xml.as_bytes()).expect("readable");
    assert!(claim.problems.is_empty(), "{:?}", claim.problems);
    assert_eq!(claim.message_id, CLAIM_ID);
    assert_eq!(claim.business_process_id, SUBMISSION);
    assert_eq!(claim.sender_id, "T6-000000-1");
}

#[test]
fn guichet_translate_reads_an_acknowledgement_into_its_json() {
    let file = root().join("tests/fixtures/contract/apg-ack-transferred.xml");
    let office: OfficeId = "001.000".parse().expect("office");
    let json = guichet::cli::translate(&root().join("mappings"), "ech-apg", office, &file)
        .expect("translates");
    let v: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["outcome"], "transferred");
    assert_eq!(v["transferredTo"], "066.000");
    assert_eq!(v["referenceMessageId"], CLAIM_ID);
    assert_eq!(v.get("caseNumber"), None);
    let bad = guichet::cli::translate(
        &root().join("mappings"),
        "ech-apg",
        office,
        &root().join("tests/fixtures/contract/ik-response-ech.xml"),
    )
    .expect_err("not an acknowledgement");
    assert!(
        format!("{bad:#}").contains("not a valid ech-apg acknowledgement"),
        "{bad:#}"
    );
}
