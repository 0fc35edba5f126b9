//! The deployment files against the gateway they deploy: the ConfigMap's `guichet.toml` is
//! a configuration the gateway accepts, the Deployment gives more time than the gateway's
//! grace period, and every metric the Grafana dashboard and the Prometheus alerts use is
//! one a running gateway exports on `/metrics`. (The manifests' schema and the rules'
//! syntax are checked in `.ci/run` with kubernetes-validate and promtool.)

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Federation, Options};

fn deploy(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The block scalar `guichet.toml: |` of the ConfigMap, unindented.
fn configmap_toml() -> String {
    let text = deploy("kubernetes/configmap.yaml");
    let mut lines = text.lines().skip_while(|l| l.trim() != "guichet.toml: |");
    lines.next().expect("a guichet.toml key");
    lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first integer after `key:` in `text`.
fn yaml_int(text: &str, key: &str) -> u64 {
    let mut lines = text.lines().map(str::trim);
    let at = lines
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{key} missing"));
    let value = at[key.len()..].trim_start_matches(':').trim();
    if !value.is_empty() {
        return value.parse().expect("an integer");
    }
    // `sleep:` then `seconds: N` on the next line.
    let next = lines.next().expect("a value line");
    next.rsplit(':')
        .next()
        .expect("value")
        .trim()
        .parse()
        .expect("an integer")
}

#[test]
fn the_configmap_is_a_configuration_the_gateway_accepts() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guichet.toml");
    std::fs::write(&path, configmap_toml()).expect("write");
    let config = guichet::config::Config::load(&path).expect("the ConfigMap's guichet.toml");
    assert!(
        config.admin_listen.is_some(),
        "the probes need the ops port"
    );
    assert_eq!(config.admin_listen.map(|a| a.port()), Some(9464));
    assert_eq!(config.server.listen.port(), 8443);
    assert_eq!(
        config.store.location.backend(),
        "postgres",
        "replicas share PostgreSQL"
    );

    let deployment = deploy("kubernetes/deployment.yaml");
    let termination = yaml_int(&deployment, "terminationGracePeriodSeconds");
    let pre_stop = yaml_int(&deployment, "sleep");
    let grace = config.server.grace_period.as_secs();
    assert!(
        termination > grace + pre_stop,
        "terminationGracePeriodSeconds {termination} must exceed the grace period {grace} s \
         plus the preStop pause {pre_stop} s"
    );
    assert_eq!(yaml_int(&deployment, "replicas"), 3);
}

/// `guichet_…` names used in a file, without the samples' suffixes.
fn used_metrics(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("guichet_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let base = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        names.insert(base.to_owned());
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_use_only_exported_metrics() {
    let dashboard = deploy("grafana/guichet.json");
    let json: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    let panels = json["panels"].as_array().expect("panels");
    let ids: BTreeSet<u64> = panels.iter().filter_map(|p| p["id"].as_u64()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for p in panels {
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{} has a query", p["title"]);
        assert!(targets.iter().all(|t| t["expr"].as_str().is_some()));
    }
    let alerts = deploy("prometheus/alerts.yml");

    let fed = Federation::build(Options::default(), |_| {}).await;
    touch_every_family();
    let client = fed.portal();
    let start = Instant::now();
    let exported = loop {
        let text = client
            .get(format!("http://{}/metrics", fed.ops))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let names: BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        // The outbox gauges appear once the delivery worker has migrated the store.
        if names.contains("guichet_outbox_oldest_age_seconds") {
            break names;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (file, text) in [("dashboard", &dashboard), ("alerts", &alerts)] {
        let used = used_metrics(text);
        assert!(used.len() >= 5, "{file}: {used:?}");
        let unknown: Vec<&String> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics /metrics does not have: {unknown:?}"
        );
    }
    for alert in [
        "guichet_certificate_days_left",
        "guichet_crl_next_update_seconds",
        "guichet_circuit_state",
        "guichet_outbox_oldest_age_seconds",
        "guichet_audit_write_failures",
    ] {
        assert!(used_metrics(&alerts).contains(alert), "no alert on {alert}");
    }
}

/// A labelled family appears on `/metrics` with its first sample: give each family of the
/// gateway's registry (shared with the in-process gateway) one label set, at zero, so that
/// every registered name is printed without provoking each event.
fn touch_every_family() {
    use guichet::metrics::*;
    let m = &*METRICS;
    let office = || OfficeLabels {
        office: "001.000".into(),
    };
    let kind = || KindLabels { kind: "test" };
    let _ = m.requests.get_or_create(&RouteLabels {
        route: "/test",
        status: 200,
    });
    let _ = m.office_seconds.get_or_create(&office());
    let _ = m.office_outcomes.get_or_create(&OutcomeLabels {
        office: "001.000".into(),
        status: "ok",
    });
    let _ = m.cache.get_or_create(&kind());
    let _ = m.rejections.get_or_create(&kind());
    let _ = m.connections_closed.get_or_create(&ConnectionLabels {
        listener: "test",
        reason: "test",
    });
    let _ = m.office_retries.get_or_create(&office());
    let _ = m.office_retries_refused.get_or_create(&office());
    let _ = m.answers_refused.get_or_create(&RefusedAnswerLabels {
        office: "001.000".into(),
        reason: "test",
    });
    let _ = m.deliveries.get_or_create(&DeliveryLabels {
        office: "001.000".into(),
        outcome: "test",
    });
    let _ = m.routing_discrepancies.get_or_create(&kind());
    let _ = m.routing_offices_asked.get_or_create(&RoutingLabels {
        mode: "test",
        register: "test",
    });
}
