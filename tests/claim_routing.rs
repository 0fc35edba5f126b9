//! `guichet route` end to end (the binary, real files) and the shipped rules file checked
//! against the repository's data: the cantonal fund of every canton is the cantonal
//! adapter of that canton.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use guichet::routing::{DEFAULT_RULES, RoutingRules};
use guichet::view::RoutingDecisionView;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn route(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("route")
        .args(args)
        .output()
        .expect("guichet runs")
}

#[test]
fn the_contract_claim_goes_to_the_employers_fund_with_the_rule_that_fired() {
    let out = route(&[
        "--claim",
        "tests/fixtures/claims/apg-claim.json",
        "--register",
        "tests/fixtures/claims/register-employee-025.json",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let view: RoutingDecisionView = serde_json::from_slice(&out.stdout).expect("decision JSON");
    assert_eq!(view.rule, "employee-current-affiliation");
    assert_eq!(view.competent_office, "025.000");
    assert_eq!(view.skipped.len(), 1);
    assert_eq!(view.claim_sha256.len(), 64);

    // Without the register, the last rule decides: the cantonal fund of Geneva.
    let out = route(&["--claim", "tests/fixtures/claims/apg-claim.json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("fired   cantonal-fund-of-residence: cantonal fund of GE: 025.000"),
        "{text}"
    );
    assert!(
        text.contains("competent office: 025.000 (rule cantonal-fund-of-residence)"),
        "{text}"
    );
}

#[test]
fn the_register_answer_is_read_from_its_xml_and_must_be_about_the_claimant() {
    let out = route(&[
        "--claim",
        "tests/fixtures/claims/apg-claim.json",
        "--register",
        "tests/fixtures/contract/register-response.xml",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("register: 2 account(s)"), "{text}");
    assert!(
        text.contains("competent office: 025.000 (rule employee-current-affiliation)"),
        "{text}"
    );

    // The contract's "unknown" answer is about another AHV number: refused, not used.
    let out = route(&[
        "--claim",
        "tests/fixtures/claims/apg-claim.json",
        "--register",
        "tests/fixtures/contract/register-response-unknown.xml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another person"), "{err}");
    assert!(!err.contains("756"), "{err}");
}

#[test]
fn an_invalid_claim_lists_every_error_without_the_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let claim = dir.path().join("claim.json");
    let text =
        std::fs::read_to_string(repo("tests/fixtures/claims/apg-claim.json")).expect("fixture");
    let bad = text
        .replace("7561234567897", "7561234567890")
        .replace("CH9300762011623852957", "CH9300762011623852958")
        .replace("\"serviceType\": 11", "\"serviceType\": 60");
    std::fs::write(&claim, bad).expect("write");
    let out = route(&["--claim", claim.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for pointer in [
        "/claimant/vn:",
        "/servicePeriod/serviceType:",
        "/payment/iban:",
    ] {
        assert!(err.contains(pointer), "{pointer} missing in {err}");
    }
    assert!(
        !err.contains("7561234567890") && !err.contains("CH9300762011623852958"),
        "{err}"
    );
}

#[test]
fn a_broken_rules_file_is_named_with_its_line_and_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("apg.toml");
    let text = std::fs::read_to_string(repo(DEFAULT_RULES)).expect("shipped rules");
    std::fs::write(&rules, text.replace("\"027.000\"", "\"27\"")).expect("write");
    let line = text
        .lines()
        .position(|l| l.contains("\"027.000\""))
        .expect("line")
        + 1;
    let out = route(&[
        "--claim",
        "tests/fixtures/claims/apg-claim.json",
        "--rules",
        rules.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!("apg.toml: line {line}: rule \"residence-abroad\": office: ");
    assert!(err.contains(&expected), "{expected} not in {err}");
}

#[test]
fn the_cantonal_funds_of_the_rules_are_the_cantonal_adapters() {
    let rules = RoutingRules::load(&repo(DEFAULT_RULES)).expect("shipped rules compile");
    let mut from_adapters = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(repo("adapters")).expect("adapters folder") {
        let path = entry.expect("entry").path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(table) = text.parse::<toml::Table>() else {
            continue;
        };
        if table.get("kind").and_then(|k| k.as_str()) == Some("cantonal") {
            let canton = table["canton"].as_str().expect("canton").to_owned();
            let office = table["office"].as_str().expect("office").to_owned();
            from_adapters.insert(canton, office);
        }
    }
    let from_rules: std::collections::BTreeMap<String, String> = rules
        .cantonal_funds()
        .iter()
        .map(|(c, o)| (c.to_string(), o.to_string()))
        .collect();
    assert_eq!(from_rules, from_adapters);
    assert_eq!(from_rules.len(), 26);
}
