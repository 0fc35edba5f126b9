//! The three contract answers merged, checked field by field against numbers worked out
//! by hand, and the `translate` / `consolidate` commands as office IT staff run them.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/contract")
        .join(name)
        .display()
        .to_string()
}

fn guichet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run guichet")
}

fn consolidated() -> serde_json::Value {
    let out = guichet(&[
        "consolidate",
        &format!("025.000=ech-ik:{}", fixture("ik-response-ech.xml")),
        &format!("066.000=vendor-ik:{}", fixture("ik-response-vendor.xml")),
        &format!("325.000=ech-iv:{}", fixture("iv-response.xml")),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn three_examples_merge_to_the_hand_worked_account() {
    let a = consolidated();
    assert_eq!(a["vn"], "7561234567897");
    assert_eq!(a["complete"], true);
    // Years worked out by hand:
    // 2019: 84500.00 (025, months 1–12)
    // 2020: 43100.50 − 43100.50 + 41300.50 (025, 1–6) + 44830.00 (066, 7–12) = 86130.50, 12 months
    // 2021: 0.00 care credit (025, month 66) + 91500.00 (066, 1–12) = 91500.00, 12 months
    // 2022: 16500.00 (066, 3–4), 2 months
    let years = serde_json::json!([
        {"year": 2019, "income": "84500.00", "months": 12},
        {"year": 2020, "income": "86130.50", "months": 12},
        {"year": 2021, "income": "91500.00", "months": 12},
        {"year": 2022, "income": "16500.00", "months": 2},
    ]);
    assert_eq!(a["years"], years);
    assert_eq!(a["gaps"], serde_json::json!([]));
    let entries = a["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 8);
    // Sorted by year, office, account number, month.
    let order: Vec<(i64, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["year"].as_i64().unwrap_or(0),
                e["office"].as_str().unwrap_or(""),
                e["income"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![
            (2019, "025.000", "84500.00"),
            (2020, "025.000", "41300.50"),
            (2020, "025.000", "43100.50"),
            (2020, "025.000", "-43100.50"),
            (2020, "066.000", "44830.00"),
            (2021, "025.000", "0.00"),
            (2021, "066.000", "91500.00"),
            (2022, "066.000", "16500.00"),
        ]
    );
    let reversal = &entries[3];
    assert_eq!(reversal["reversal"], true);
    assert_eq!(reversal["incomeCode"], "11");
    assert_eq!(
        entries[2]["cancelled"], true,
        "the 43100.50 entry is cancelled"
    );
    assert_eq!(entries[1]["cancelled"], false);
    assert_eq!(entries[5]["careCreditFraction"], 50);
    assert_eq!(entries[4]["employer"], "Constructions Rhône Sàrl");
    let cases = a["ivCases"].as_array().expect("cases");
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[1]["decisionNumber"], "32520241000922");
    assert_eq!(cases[1]["degree"], 50);
    let sources = a["sources"].as_array().expect("sources");
    let statuses: Vec<(&str, &str, i64)> = sources
        .iter()
        .map(|s| {
            (
                s["office"].as_str().unwrap_or(""),
                s["status"].as_str().unwrap_or(""),
                s["entries"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("025.000", "ok", 5),
            ("066.000", "ok", 3),
            ("325.000", "ok", 0)
        ]
    );
    assert_eq!(a["conflicts"], serde_json::json!([]));
}

#[test]
fn no_account_answers_merge_with_the_others() {
    let out = guichet(&[
        "consolidate",
        &format!("025.000=ech-ik:{}", fixture("ik-response-ech.xml")),
        &format!(
            "001.000=ech-ik:{}",
            fixture("ik-response-ech-no-account.xml")
        ),
        &format!(
            "066.000=vendor-ik:{}",
            fixture("ik-response-vendor-no-account.xml")
        ),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(a["complete"], true);
    assert_eq!(a["sources"][0]["status"], "no_account");
    assert_eq!(a["sources"][2]["status"], "no_account");
}

#[test]
fn translate_prints_canonical_json() {
    let out = guichet(&[
        "translate",
        "--dialect",
        "vendor-ik",
        "--office",
        "066.000",
        &fixture("ik-response-vendor.xml"),
    ]);
    assert!(out.status.success());
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(a["status"], "ok");
    assert_eq!(a["entries"][0]["monthFrom"], 7);
}

#[test]
fn translate_refuses_invalid_input_with_exit_1() {
    // Removed when dropped, also when an assertion fails.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let bad = dir.join("bad.xml");
    let xml = std::fs::read_to_string(fixture("ik-response-ech.xml"))
        .expect("fixture")
        .replace("<ik:income>84500.00<", "<ik:income>84500.0<");
    std::fs::write(&bad, xml).expect("write");
    let out = guichet(&[
        "translate",
        "--dialect",
        "ech-ik",
        "--office",
        "025.000",
        &bad.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ik:entry[1]/ik:income") && err.contains("84500.0"),
        "{err}"
    );
    let out = guichet(&["translate", "--dialect", "nope", &bad.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown dialect"));
}

#[test]
fn consolidate_refuses_answers_about_different_persons() {
    // Removed when dropped, also when an assertion fails.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let other = dir.join("other.xml");
    let xml = std::fs::read(fixture("ik-response-vendor.xml")).expect("fixture");
    let text: String = xml.iter().map(|&b| char::from(b)).collect(); // ISO-8859-1
    let changed: Vec<u8> = text
        .replace("7561234567897", "7562295883070")
        .chars()
        .map(|c| c as u8)
        .collect();
    std::fs::write(&other, changed).expect("write");
    let out = guichet(&[
        "consolidate",
        &format!("025.000=ech-ik:{}", fixture("ik-response-ech.xml")),
        &format!("066.000=vendor-ik:{}", other.display()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another person"));
    let out = guichet(&["consolidate", "025.000=ech-ik"]);
    assert_ne!(out.status.code(), Some(0));
}
