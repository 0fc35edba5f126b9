//! The translator does not depend on prefixes, layout, comments, child order or encoding,
//! and refuses broken answers with an error naming the office, the path and the value.

use std::path::PathBuf;

use guichet::mapping::{AnswerErrorKind, DEFAULT_MAX_ANSWER_BYTES, MappingSet};
use guichet::model::{Answer, OfficeId};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ech_example() -> String {
    std::fs::read_to_string(root().join("tests/fixtures/contract/ik-response-ech.xml"))
        .expect("fixture")
}

fn office() -> OfficeId {
    "025.000".parse().expect("office")
}

fn translate(dialect: &str, body: &[u8]) -> Result<Answer, guichet::mapping::AnswerError> {
    let set = MappingSet::load_dir(&root().join("mappings")).expect("mappings");
    set.get(dialect)
        .expect("dialect")
        .translate(office(), body, DEFAULT_MAX_ANSWER_BYTES)
}

fn baseline() -> Answer {
    translate("ech-ik", ech_example().as_bytes()).expect("baseline")
}

#[test]
fn other_prefixes_give_the_same_answer() {
    let xml = ech_example()
        .replace("ik:", "x:")
        .replace("xmlns:ik=", "xmlns:x=")
        .replace("eCH-0044:", "person:")
        .replace("xmlns:eCH-0044=", "xmlns:person=");
    assert_eq!(
        translate("ech-ik", xml.as_bytes()).expect("renamed prefixes"),
        baseline()
    );
}

#[test]
fn a_default_namespace_gives_the_same_answer() {
    let xml = ech_example()
        .replace("ik:", "")
        .replace("xmlns:ik=", "xmlns=");
    assert_eq!(
        translate("ech-ik", xml.as_bytes()).expect("default namespace"),
        baseline()
    );
}

#[test]
fn the_same_names_in_another_namespace_are_not_read() {
    let xml = ech_example().replace("urn:guichet:xmlns:ik-extract:1", "urn:other:1");
    let err = translate("ech-ik", xml.as_bytes()).expect_err("wrong namespace");
    assert!(
        matches!(err.kind, AnswerErrorKind::WrongRoot { .. }),
        "{err}"
    );
}

#[test]
fn reordered_children_comments_cdata_and_extensions_change_nothing() {
    let xml = ech_example()
        .replace(
            "<ik:accountNumber>1804.221</ik:accountNumber>\n        <ik:incomeCode>01</ik:incomeCode>",
            "<!-- moved --><ik:incomeCode>01</ik:incomeCode>\n<ik:extension><ik:income>1.00</ik:income></ik:extension>\n        <ik:accountNumber><![CDATA[1804.221]]></ik:accountNumber>",
        )
        .replace("<ik:year>2019</ik:year>", "<ik:year><!-- c -->2019</ik:year>")
        .replace(
            "</ik:header>",
            "<eCH-0058:extension><anything xmlns=\"urn:x\">x</anything></eCH-0058:extension></ik:header>",
        );
    assert!(
        xml.contains("<![CDATA["),
        "the test must really change the document"
    );
    assert_eq!(
        translate("ech-ik", xml.as_bytes()).expect("variations"),
        baseline()
    );
}

#[test]
fn iso_8859_1_gives_the_same_answer() {
    let utf8 = ech_example();
    let latin: Vec<u8> = utf8
        .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"")
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1 text"))
        .collect();
    assert_ne!(latin.as_slice(), utf8.as_bytes());
    assert_eq!(translate("ech-ik", &latin).expect("latin-1"), baseline());
}

#[test]
fn entities_and_character_references_are_resolved() {
    let xml = ech_example().replace("Horlogerie Léman SA", "Horlogerie L&#233;man &amp; Fils");
    let answer = translate("ech-ik", xml.as_bytes()).expect("entities");
    assert_eq!(
        answer.entries[0].employer.as_deref(),
        Some("Horlogerie Léman & Fils")
    );
}

fn error_of(xml: &str) -> guichet::mapping::AnswerError {
    translate("ech-ik", xml.as_bytes()).expect_err("must be refused")
}

#[test]
fn doctype_is_refused() {
    let xml = ech_example().replacen("?>", "?><!DOCTYPE ik:message [<!ENTITY x \"boom\">]>", 1);
    let err = error_of(&xml);
    assert_eq!(err.kind, AnswerErrorKind::Doctype);
    assert!(err.to_string().contains("025.000"), "{err}");
}

#[test]
fn truncated_xml_is_refused() {
    let xml = ech_example();
    for cut in [xml.len() / 3, xml.len() / 2, xml.len() - 20] {
        let err = error_of(&xml[..cut]);
        assert!(
            matches!(
                err.kind,
                AnswerErrorKind::Truncated | AnswerErrorKind::Syntax(_)
            ),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn wrong_root_is_refused() {
    let iv = std::fs::read_to_string(root().join("tests/fixtures/contract/iv-response.xml"))
        .expect("fixture");
    let err = error_of(&iv);
    assert!(
        matches!(err.kind, AnswerErrorKind::WrongRoot { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("iv-cases"), "{err}");
}

#[test]
fn non_numeric_amount_names_path_and_value() {
    let err = error_of(&ech_example().replace("<ik:income>84500.00<", "<ik:income>84'500.00<"));
    let text = err.to_string();
    assert!(text.contains("office 025.000"), "{text}");
    assert!(text.contains("ik:entry[1]/ik:income"), "{text}");
    assert!(text.contains("84'500.00"), "{text}");
    assert!(
        !err.redacted().contains("84'500.00"),
        "redacted form must not carry the value"
    );
}

#[test]
fn month_13_is_refused() {
    let err = error_of(
        &ech_example().replace("<ik:monthTo>12</ik:monthTo>", "<ik:monthTo>13</ik:monthTo>"),
    );
    assert!(err.to_string().contains("ik:monthTo"), "{err}");
    assert!(err.to_string().contains("1–12"), "{err}");
}

#[test]
fn missing_and_repeated_fields_are_refused() {
    let err = error_of(&ech_example().replace("<ik:year>2019</ik:year>", ""));
    assert_eq!(err.kind, AnswerErrorKind::Missing, "{err}");
    let err = error_of(&ech_example().replace(
        "<ik:year>2019</ik:year>",
        "<ik:year>2019</ik:year><ik:year>2018</ik:year>",
    ));
    assert_eq!(err.kind, AnswerErrorKind::Repeated, "{err}");
}

#[test]
fn an_answer_about_another_fund_is_refused() {
    let err = error_of(
        &ech_example().replace("<ik:compensationOffice>25<", "<ik:compensationOffice>26<"),
    );
    assert!(err.to_string().contains("names office 026.000"), "{err}");
}

#[test]
fn a_50_mib_answer_is_refused_unread() {
    let mut xml = ech_example().into_bytes();
    xml.resize(50 * 1024 * 1024, b' ');
    let err = translate("ech-ik", &xml).expect_err("too large");
    assert_eq!(
        err.kind,
        AnswerErrorKind::TooLarge {
            limit: DEFAULT_MAX_ANSWER_BYTES
        }
    );
}

#[test]
fn garbage_never_panics() {
    for body in [
        &b""[..],
        b"\0\0\0",
        b"<",
        b"<<>>",
        b"not xml at all",
        b"<?xml version='1.0'?>",
        b"\xff\xfe\x00",
    ] {
        assert!(translate("ech-ik", body).is_err());
    }
}

#[test]
fn unknown_entity_is_refused() {
    let err = error_of(&ech_example().replace("Horlogerie", "&bogus;"));
    assert!(err.to_string().contains("bogus"), "{err}");
}
