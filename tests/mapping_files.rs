//! Mapping files are data: a bad one is refused at load with the file, the line and what
//! is wrong; a new dialect is a new file, with no Rust change.

use std::path::{Path, PathBuf};

use guichet::mapping::{DEFAULT_MAX_ANSWER_BYTES, Mapping, MappingSet};
use guichet::model::{AnswerStatus, OfficeId};

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("mappings")
            .join(name),
    )
    .expect("mapping")
}

/// Compiles `text` as if it were `file`, expecting an error; returns (line, message).
fn refused(text: &str) -> (Option<usize>, String) {
    let e =
        Mapping::from_toml(Path::new("mappings/broken.toml"), text).expect_err("must be refused");
    assert!(
        e.to_string().starts_with("mapping mappings/broken.toml"),
        "{e}"
    );
    (e.line, e.message)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle")
        + 1
}

#[test]
fn undeclared_prefix_is_refused_at_its_line() {
    let text = shipped("ech-ik.toml").replace("ik:income\"", "zz:income\"");
    let (line, message) = refused(&text);
    assert_eq!(line, Some(line_of(&text, "zz:income")));
    assert!(message.contains("prefix \"zz\""), "{message}");
}

#[test]
fn unknown_field_and_bad_format_are_refused() {
    let text = shipped("ech-ik.toml").replace("employer = {", "employerr = {");
    let (line, message) = refused(&text);
    assert_eq!(line, Some(line_of(&text, "employerr")));
    assert!(message.contains("unknown field \"employerr\""), "{message}");
    let text = shipped("ech-ik.toml").replace(
        "format = \"integer\" }\nmonthTo",
        "format = \"roman\" }\nmonthTo",
    );
    let (line, message) = refused(&text);
    assert_eq!(line, Some(line_of(&text, "roman")));
    assert!(message.contains("integer or gMonth"), "{message}");
}

#[test]
fn a_required_field_must_be_mapped() {
    let text = shipped("vendor-ik.toml").replace("income = { path = \"v:income\" }\n", "");
    let (_, message) = refused(&text);
    assert!(message.contains("required field income"), "{message}");
}

#[test]
fn template_errors_are_refused() {
    let text = shipped("ech-iv.toml").replace("{{vn}}", "{{ahv}}");
    let (line, message) = refused(&text);
    assert_eq!(line, Some(line_of(&text, "template = '''")));
    assert!(message.contains("unknown placeholder {{ahv}}"), "{message}");
    let text = shipped("ech-iv.toml").replace("</iv:content>", "</iv:contents>");
    let (_, message) = refused(&text);
    assert!(message.contains("not well-formed"), "{message}");
}

#[test]
fn toml_syntax_and_unknown_keys_are_refused_with_a_line() {
    let text = shipped("ech-ik.toml").replace("[answer]", "[answer]\nroot_element = \"x\"");
    let (line, message) = refused(&text);
    assert_eq!(line, Some(line_of(&text, "root_element")));
    assert!(message.contains("root_element"), "{message}");
    let (line, _) = refused("dialect = \"x\"\n[request\n");
    assert_eq!(line, Some(2));
}

#[test]
fn file_name_must_match_the_dialect() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("other-name.toml"), shipped("ech-ik.toml")).expect("write");
    let e = MappingSet::load_dir(dir.path()).expect_err("name mismatch");
    assert!(e.to_string().contains("must be named ech-ik.toml"), "{e}");
}

/// A fund rolls out a new product with other element names and codes: it is a new file.
#[test]
fn a_new_dialect_is_a_new_file() {
    let mapping = r#"
dialect = "acme-ik"
[namespaces]
a = "urn:acme:ik:2"
[request]
template = '<q xmlns="urn:acme:ik:2"><person>{{vn}}</person><from>{{yearFrom}}</from></q>'
[answer]
root = "a:extract"
vn = "a:person/a:ahv"
no_account = "a:none"
[answer.office]
from = "adapter"
[answer.entries]
path = "a:lines/a:line"
[answer.entries.fields]
accountNumber = { path = "a:employer/a:number" }
employer = { path = "a:employer/a:name" }
incomeCode = { path = "a:code" }
monthFrom = { path = "a:period/a:from", format = "gMonth" }
monthTo = { path = "a:period/a:to", format = "gMonth", default = "--12" }
year = { path = "a:period/a:year", format = "gYear" }
income = { path = "a:chf" }
"#;
    let m = Mapping::from_toml(Path::new("acme-ik.toml"), mapping).expect("new dialect compiles");
    let answer = r#"<?xml version="1.0"?>
<x:extract xmlns:x="urn:acme:ik:2"><x:person><x:ahv>756.1234.5678.97</x:ahv></x:person>
<x:lines><x:line><x:chf>1200.00</x:chf><x:code>01</x:code><x:period><x:year>2019</x:year><x:from>--03</x:from></x:period>
<x:employer><x:name>Acme SA</x:name><x:number>77.1</x:number></x:employer></x:line></x:lines></x:extract>"#;
    let office: OfficeId = "044.000".parse().expect("office");
    let a = m
        .translate(office, answer.as_bytes(), DEFAULT_MAX_ANSWER_BYTES)
        .expect("translates");
    assert_eq!(a.status, AnswerStatus::Ok);
    assert_eq!(a.entries.len(), 1);
    let e = &a.entries[0];
    assert_eq!(
        (e.year, e.income.centimes(), e.account_number.as_str()),
        (2019, 120_000, "77.1")
    );
    assert_eq!(
        e.month_to,
        guichet::model::Month::Known(12),
        "the default applies"
    );
    assert_eq!(e.office, office);
    let none = m
        .translate(
            office,
            b"<extract xmlns='urn:acme:ik:2'><none/></extract>",
            4096,
        )
        .expect("negative");
    assert_eq!(none.status, AnswerStatus::NoAccount);
}

/// The register's records name their own office; office dialects take theirs from the
/// adapter or the answer. Mixing is refused at load, at the record's line.
#[test]
fn register_records_name_their_office_and_office_records_do_not() {
    let text = shipped("ech-register.toml").replace("from = \"record\"", "from = \"adapter\"");
    let (line, message) = refused(&text);
    assert_eq!(line, Some(line_of(&text, "path = \"r:content/r:account\"")));
    assert!(message.contains("office.from = \"record\""), "{message}");
    let text = shipped("ech-iv.toml").replace("from = \"adapter\"", "from = \"record\"");
    let (_, message) = refused(&text);
    assert!(
        message.contains("not office.from = \"record\""),
        "{message}"
    );
    let text = shipped("ech-register.toml")
        .replace("officeNumber = { path = \"r:compensationOffice\" }\n", "");
    let (_, message) = refused(&text);
    assert!(message.contains("officeNumber is not mapped"), "{message}");
    let text = shipped("ech-register.toml").replace("r:affiliation/@current", "r:affiliation/@");
    let (_, message) = refused(&text);
    assert!(
        message.contains("not an element or attribute name"),
        "{message}"
    );
}

/// An attribute fills a field (`r:affiliation/@current`); its value is checked like an
/// element's, and a missing one falls back to what the record says (no end: current).
#[test]
fn attributes_fill_fields_and_are_checked() {
    let mapping = Mapping::from_toml(
        Path::new("ech-register.toml"),
        &shipped("ech-register.toml"),
    )
    .expect("mapping");
    let doc = |affiliation: &str| {
        format!(
            r#"<m:message xmlns:m="urn:guichet:xmlns:account-register:1"><m:content>
            <m:asOf>2026-11-20</m:asOf>
            <m:account><m:compensationOffice>106</m:compensationOffice><m:agency>3</m:agency>
            {affiliation}</m:account>
            <m:ivFile><m:ivOffice>301</m:ivOffice></m:ivFile></m:content></m:message>"#
        )
    };
    let read = |xml: String| mapping.read_register(xml.as_bytes(), DEFAULT_MAX_ANSWER_BYTES);
    let (_, a) = read(doc(
        r#"<m:affiliation current="0" other="x"><m:genre>3</m:genre><m:since>2020-01-01</m:since></m:affiliation>"#,
    ))
    .expect("answer");
    assert!(a.known);
    assert_eq!(a.accounts[0].office.to_string(), "106.003");
    let f = a.accounts[0].affiliation.expect("affiliation");
    assert!(!f.current);
    assert_eq!(f.genre, 3);
    assert_eq!(a.iv_files[0].office.to_string(), "301.000");
    // No attribute: current while it has no end.
    let (_, a) = read(doc(
        "<m:affiliation><m:genre>1</m:genre><m:since>2020-01-01</m:since></m:affiliation>",
    ))
    .expect("answer");
    assert!(a.accounts[0].affiliation.expect("affiliation").current);
    // No affiliation at all.
    let (_, a) = read(doc("")).expect("answer");
    assert_eq!(a.accounts[0].affiliation, None);
    let e = read(doc(
        r#"<m:affiliation current="maybe"><m:genre>1</m:genre><m:since>2020-01-01</m:since></m:affiliation>"#,
    ))
    .expect_err("not a boolean");
    assert!(e.redacted().contains("xs:boolean"), "{e}");
    assert!(
        e.path.as_deref().is_some_and(|p| p.contains("r:account")),
        "{e:?}"
    );
    let e = read(doc(
        r#"<m:affiliation current="true"><m:genre>1</m:genre></m:affiliation>"#,
    ))
    .expect_err("incomplete");
    assert!(e.redacted().contains("genre and since"), "{e}");
    let e = read(doc(
        "<m:affiliation><m:genre>1</m:genre><m:since>2020-01-01</m:since><m:until>2019-01-01</m:until></m:affiliation>",
    ))
    .expect_err("out of order");
    assert!(e.redacted().contains("since is after its until"), "{e}");
    let bad_office = doc("").replace(">106<", ">0<");
    assert!(read(bad_office).is_err());
}
