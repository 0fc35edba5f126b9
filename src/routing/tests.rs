use serde_json::{Value, json};

use super::*;
use crate::model::{Affiliation, RegisterAccount};

const SHIPPED: &str = include_str!("../../config/routing/apg.toml");
const CLAIM: &str = include_str!("../../tests/fixtures/claims/apg-claim.json");

fn rules() -> RoutingRules {
    RoutingRules::parse(SHIPPED, "config/routing/apg.toml").expect("shipped rules compile")
}

/// The contract's claim with another activity and residence.
fn claim(activity: &str, canton: Option<&str>) -> ApgClaim {
    let mut v: Value = serde_json::from_str(CLAIM).expect("fixture");
    v["activityBeforeService"] = match activity {
        "employee" => json!({"employee": {"employerName": "Acme SA"}}),
        other => json!({ other: {} }),
    };
    match canton {
        Some(c) => v["claimant"]["address"]["canton"] = json!(c),
        None => {
            v["claimant"]["address"] = json!({"street": "Via Roma 1", "postalCode": "00100", "town": "Roma", "country": "IT"})
        }
    }
    ApgClaim::from_json(&serde_json::to_vec(&v).expect("json")).expect("valid claim")
}

fn date(s: &str) -> crate::model::Date {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    crate::model::Date::parse(s, f).expect("date")
}

fn office(s: &str) -> OfficeId {
    s.parse().expect("office id")
}

/// A register answer with (office, genre, current, since) affiliations.
fn register(affiliations: &[(&str, u8, bool, &str)]) -> RegisterAnswer {
    RegisterAnswer {
        as_of: Some(date("2026-11-20")),
        accounts: affiliations
            .iter()
            .map(|(o, genre, current, since)| RegisterAccount {
                office: office(o),
                opened: None,
                last_reported_year: None,
                affiliation: Some(Affiliation {
                    current: *current,
                    genre: *genre,
                    since: date(since),
                    until: (!current).then(|| date("2020-12-31")),
                }),
            })
            .collect(),
        iv_files: Vec::new(),
        known: !affiliations.is_empty(),
    }
}

fn decide(c: &ApgClaim, r: &RegisterAnswer) -> (String, String) {
    let d = rules().decide(c, r).expect("a rule applies");
    (d.rule_id, d.office.to_string())
}

#[test]
fn every_shipped_rule_fires_for_a_crafted_claim() {
    let employed_at_025 = register(&[
        ("025.000", 1, true, "2019-01-01"),
        ("066.000", 1, false, "2015-03-01"),
    ]);
    let cases: Vec<(ApgClaim, RegisterAnswer, &str, &str)> = vec![
        (
            claim("employee", None),
            employed_at_025.clone(),
            "residence-abroad",
            "027.000",
        ),
        (
            claim("employee", Some("VD")),
            employed_at_025,
            "employee-current-affiliation",
            "025.000",
        ),
        (
            claim("selfEmployed", Some("ZH")),
            register(&[("066.000", 3, true, "2021-05-01")]),
            "self-employed-affiliation",
            "066.000",
        ),
        (
            claim("selfEmployed", Some("ZH")),
            register(&[("071.000", 9, true, "2021-05-01")]),
            "self-employed-affiliation",
            "071.000",
        ),
        (
            claim("student", Some("BE")),
            register(&[("044.000", 4, true, "2022-01-01")]),
            "not-employed-affiliation-or-canton",
            "044.000",
        ),
        (
            claim("unemployed", Some("JU")),
            RegisterAnswer::default(),
            "not-employed-affiliation-or-canton",
            "150.000",
        ),
        (
            claim("notEmployed", Some("TI")),
            register(&[("044.000", 4, false, "2010-01-01")]),
            "not-employed-affiliation-or-canton",
            "021.000",
        ),
        (
            claim("employee", Some("GE")),
            RegisterAnswer::default(),
            "cantonal-fund-of-residence",
            "025.000",
        ),
        (
            claim("selfEmployed", Some("SG")),
            register(&[("025.000", 1, true, "2019-01-01")]),
            "cantonal-fund-of-residence",
            "017.000",
        ),
    ];
    let mut fired = std::collections::BTreeSet::new();
    for (i, (c, r, rule, office)) in cases.iter().enumerate() {
        assert_eq!(
            decide(c, r),
            (rule.to_string(), office.to_string()),
            "case {i}"
        );
        fired.insert(*rule);
    }
    let shipped = rules();
    let all: std::collections::BTreeSet<&str> =
        shipped.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(fired, all, "every shipped rule fires in some case");
}

#[test]
fn the_contract_example_is_routed_as_its_routing_element_says() {
    let c = ApgClaim::from_json(CLAIM.as_bytes()).expect("valid");
    let d = rules()
        .decide(
            &c,
            &register(&[
                ("025.000", 1, true, "2019-01-01"),
                ("066.000", 1, false, "2015-03-01"),
            ]),
        )
        .expect("decides");
    assert_eq!(
        d.routing(),
        crate::model::ClaimRouting {
            rule: "employee-current-affiliation".into(),
            competent_office: office("025.000"),
        }
    );
    assert_eq!(
        d.explanation,
        "activity employee → affiliation (genre 1, current) at 025.000 since 2019-01-01"
    );
    assert_eq!(
        d.skipped,
        vec![(
            "residence-abroad".to_string(),
            "condition not met: residence in Switzerland".to_string()
        )]
    );
}

#[test]
fn of_two_current_affiliations_the_most_recent_decides() {
    let r = register(&[
        ("066.000", 1, true, "2018-01-01"),
        ("025.000", 1, true, "2024-06-01"),
    ]);
    let d = rules()
        .decide(&claim("employee", Some("GE")), &r)
        .expect("decides");
    assert_eq!(d.office, office("025.000"));
    assert!(
        d.explanation
            .contains("the most recent of 2 matching affiliations"),
        "{}",
        d.explanation
    );
}

#[test]
fn explanations_never_name_the_person() {
    let c = ApgClaim::from_json(CLAIM.as_bytes()).expect("valid");
    for r in [
        RegisterAnswer::default(),
        register(&[("025.000", 1, true, "2019-01-01")]),
    ] {
        let d = rules().decide(&c, &r).expect("decides");
        let all = format!("{d:?}");
        for secret in ["7561234567897", "Dupont", "Claire", "CH93", "1979"] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
    }
}

#[test]
fn conditions_on_service_canton_and_register() {
    let text = SHIPPED.replacen(
        "[[rule]]",
        "[[rule]]\nid = \"geneva-army-known\"\nwhen = { canton = [\"GE\"], service_kind = \"army\", service_type = [11, 12], register = \"known\", has_affiliation = \"genre=1,during_service\" }\noffice = \"026.001\"\n\n[[rule]]",
        1,
    );
    let rules = RoutingRules::parse(&text, "t.toml").expect("compiles");
    let c = claim("employee", Some("GE"));
    let during = register(&[("025.000", 1, true, "2019-01-01")]);
    assert_eq!(
        rules.decide(&c, &during).map(|d| d.rule_id),
        Ok("geneva-army-known".into())
    );
    let before = register(&[("025.000", 1, false, "2019-01-01")]);
    let d = rules.decide(&c, &before).expect("decides");
    assert_eq!(d.rule_id, "cantonal-fund-of-residence");
    assert!(
        d.skipped[0]
            .1
            .contains("0 affiliation(s) (genre 1, during the service)"),
        "{:?}",
        d.skipped
    );
    assert_eq!(
        rules
            .decide(&claim("employee", Some("VD")), &during)
            .map(|d| d.rule_id),
        Ok("employee-current-affiliation".into())
    );
}

#[test]
fn without_a_catch_all_rule_no_decision_lists_every_rule() {
    let text = SHIPPED.replace(
        "office = \"027.000\"",
        "office = \"affiliation(genre=0).office\"",
    );
    let rules = RoutingRules::parse(&text, "t.toml").expect("compiles");
    let err = rules
        .decide(&claim("employee", None), &RegisterAnswer::default())
        .expect_err("abroad, no rule");
    assert_eq!(err.skipped.len(), 5);
    assert_eq!(err.skipped[4].1, "residence abroad has no cantonal fund");
}

/// The error of `text` as a rules file: (line, rule, message).
fn error_of(text: &str) -> RulesError {
    RoutingRules::parse(text, "bad.toml").expect_err("refused")
}

#[test]
fn file_errors_name_file_line_and_rule() {
    let e = error_of(&SHIPPED.replace(
        "affiliation(genre=1,current).office",
        "affiliation(genre=one).office",
    ));
    assert_eq!(e.rule.as_deref(), Some("employee-current-affiliation"));
    let line = SHIPPED
        .lines()
        .position(|l| l.contains("affiliation(genre=1,current)"))
        .expect("line")
        + 1;
    assert_eq!(e.line, Some(line));
    assert!(
        e.to_string().starts_with(&format!(
            "bad.toml: line {line}: rule \"employee-current-affiliation\": office: "
        )),
        "{e}"
    );

    let e = error_of(&SHIPPED.replace("activity = \"selfEmployed\"", "activity = \"freelance\""));
    assert_eq!(e.rule.as_deref(), Some("self-employed-affiliation"));
    assert!(e.message.contains("freelance"), "{e}");
    assert!(e.line.is_some());

    let e = error_of(&SHIPPED.replace(
        "when = { residence = \"abroad\" }",
        "when = { residense = \"abroad\" }",
    ));
    let line = SHIPPED
        .lines()
        .position(|l| l.contains("residence = \"abroad\" }"))
        .expect("line")
        + 1;
    assert_eq!(e.line, Some(line), "{e}");
    assert!(e.message.contains("residense"), "{e}");

    let e = error_of(&SHIPPED.replace(
        "id = \"self-employed-affiliation\"",
        "id = \"employee-current-affiliation\"",
    ));
    assert!(e.message.contains("earlier rule"), "{e}");

    let e = error_of(&SHIPPED.replace("JU = \"150.000\"\n", ""));
    assert!(e.message.contains("lacks JU"), "{e}");

    let e = error_of(&SHIPPED.replace("GE = \"025.000\"", "GE = \"25\""));
    assert!(e.message.contains("cantonal_funds.GE"), "{e}");

    // After the catch-all, a rule is still reachable: the cantonal fund yields nothing abroad.
    let text = format!("{SHIPPED}\n[[rule]]\nid = \"after-all\"\noffice = \"001.000\"\n");
    assert!(RoutingRules::parse(&text, "ok.toml").is_ok());

    let unreachable = SHIPPED.replace("when = { residence = \"abroad\" }\n", "");
    let e = error_of(&unreachable);
    assert_eq!(e.rule.as_deref(), Some("employee-current-affiliation"));
    assert!(e.message.contains("unreachable"), "{e}");

    let e = error_of("[[rule]\nid = 1\n");
    assert_eq!(e.line, Some(1), "{e}");
    assert!(
        error_of("[cantonal_funds]\nZH = \"001.000\"\n")
            .message
            .contains("lacks")
    );
}

#[test]
fn a_gateway_uses_the_rules_beside_its_configuration_else_the_shipped_ones() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("guichet.toml");
    let shipped = RoutingRules::for_config(&config).expect("shipped");
    assert_eq!(shipped.rules.len(), rules().rules.len());
    std::fs::create_dir_all(dir.path().join("routing")).expect("dir");
    let file = dir.path().join("routing/apg.toml");
    std::fs::write(&file, "[[rule]]\nid = \"broken\"\n").expect("write");
    let refused = RoutingRules::for_config(&config)
        .expect_err("a broken file beside the configuration is refused, not skipped");
    assert!(
        refused.to_string().contains("routing/apg.toml"),
        "{refused}"
    );
}
