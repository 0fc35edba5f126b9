//! Whole-file configuration tests: the shipped file, paths, and one refusal per field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Config, normalize};

#[test]
fn shipped_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml");
    let c = Config::load(&path).expect("shipped config");
    assert_eq!(c.offices.deadline, Duration::from_secs(2));
    assert!(c.offices.adapters.ends_with("adapters"));
    assert!(!c.offices.adapters.to_string_lossy().contains(".."));
    match &c.store.location {
        super::StoreLocation::Sqlite { file } => {
            assert!(file.ends_with("data/guichet.db"), "{}", file.display());
            assert!(!file.to_string_lossy().contains(".."));
        }
        other => panic!("the shipped store is SQLite, not {other}"),
    }
    let seal = c.seal.as_ref().expect("the shipped config has a seal");
    assert!(seal.cert.ends_with("certs/seal-guichet.pem"), "{seal:?}");
    assert_eq!(
        normalize(Path::new("config/../certs/./a.pem")),
        PathBuf::from("certs/a.pem")
    );
    assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
}

#[test]
fn errors_name_the_field() {
    let p = Path::new("/etc/guichet.toml");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml"))
            .expect("read");
    let e = Config::parse(p, &text.replace("127.0.0.1:8443", "localhost")).expect_err("bad listen");
    assert!(e.to_string().contains("server.listen"), "{e}");
    let e = Config::parse(p, &text.replace("deadline_ms = 2000", "deadline_ms = 5"))
        .expect_err("bad deadline");
    assert!(e.to_string().contains("offices.deadline_ms"), "{e}");
    for (from, to, field) in [
        (
            "cache_max_bytes = 67108864",
            "cache_max_bytes = 1024",
            "protection.cache_max_bytes",
        ),
        (
            "cache_max_bytes = 67108864",
            "cache_max_entries = 10",
            "protection.cache_max_entries",
        ),
        (
            "max_entries_per_answer = 20000",
            "max_entries_per_answer = 0",
            "protection.max_entries_per_answer",
        ),
        (
            "max_entries_per_answer = 20000",
            "max_entries_per_answer = 1000001",
            "protection.max_entries_per_answer",
        ),
    ] {
        let e = Config::parse(p, &text.replace(from, to)).expect_err(to);
        let m = e.to_string();
        assert!(m.contains(field) && m.contains("/etc/guichet.toml"), "{m}");
    }
    let e = Config::parse(p, &text.replacen("[server]", "[server]\nbogus = 1", 1))
        .expect_err("unknown field");
    assert!(
        e.to_string().contains("bogus") && e.to_string().contains("line"),
        "{e}"
    );
}

fn shipped() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml"))
        .expect("read")
}

/// The shipped file with `from` replaced by `to` (which must occur in it).
fn edited(from: &str, to: &str) -> String {
    let text = shipped();
    assert!(text.contains(from), "the shipped config has no {from:?}");
    text.replacen(from, to, 1)
}

/// (shipped text, replacement, refused key, value the message quotes).
#[rustfmt::skip]
const OUT_OF_RANGE: &[(&str, &str, &str, &str)] = &[
    ("grace_period_ms = 10000", "grace_period_ms = 300001", "server.grace_period_ms", "300001"),
    ("sender_id = \"T6-000000-1\"", "sender_id = \"T6 000\"", "offices.sender_id", "T6 000"),
    ("participant_prefix = \"T6\"", "participant_prefix = \"\"", "offices.participant_prefix", "\"\""),
    ("latency_p99_ms = 250", "latency_p99_ms = 60001", "simulator.latency_p99_ms", "60001"),
    ("latency_median_ms = 20", "latency_median_ms = 251", "simulator.latency_median_ms", "251"),
    ("register_listen = \"127.0.0.1:18202\"", "register_listen = \"localhost\"", "simulator.register_listen", "localhost"),
    ("register_lag_days = 0", "register_lag_days = 3651", "simulator.register_lag_days", "3651"),
    ("register_missing_newest_share = 0.0", "register_missing_newest_share = 1.5", "simulator.register_missing_newest_share", "1.5"),
    ("register_stale_closed_share = 0.0", "register_stale_closed_share = -0.1", "simulator.register_stale_closed_share", "-0.1"),
    ("hedge_budget_percent = 10", "hedge_budget_percent = 101", "protection.hedge_budget_percent", "101"),
    ("cache_ttl_ms = 10000", "cache_ttl_ms = 3600001", "protection.cache_ttl_ms", "3600001"),
    ("breaker_open_ms = 5000", "breaker_open_ms = 3600001", "protection.breaker_open_ms", "3600001"),
    ("breaker_window_ms = 10000", "breaker_window_ms = 99", "protection.breaker_window_ms", "99"),
    ("breaker_min_calls = 20", "breaker_min_calls = 100001", "protection.breaker_min_calls", "100001"),
    ("breaker_failure_rate_percent = 50", "breaker_failure_rate_percent = 0", "protection.breaker_failure_rate_percent", "0"),
    ("breaker_half_open_calls = 3", "breaker_half_open_calls = 0", "protection.breaker_half_open_calls", "0"),
    ("retry_budget_percent = 50", "retry_budget_percent = 101", "protection.retry_budget_percent", "101"),
    ("retry_min_per_second = 10", "retry_min_per_second = 10001", "protection.retry_min_per_second", "10001"),
    ("retry_max_per_call = 2", "retry_max_per_call = 6", "protection.retry_max_per_call", "6"),
    ("cache_max_bytes = 67108864", "cache_max_bytes = 17179869185", "protection.cache_max_bytes", "17179869185"),
    ("max_queries_in_flight = 512", "max_queries_in_flight = 0", "protection.max_queries_in_flight", "0"),
    ("max_queries_in_flight = 512", "max_queries_in_flight = 1000001", "protection.max_queries_in_flight", "1000001"),
    ("portal_queries_per_second = 50", "portal_queries_per_second = 0", "protection.portal_queries_per_second", "0"),
    ("portal_queries_per_second = 50", "portal_queries_per_second = 0.00001", "protection.portal_queries_per_second", "0.00001"),
    ("portal_queries_per_second = 50", "portal_queries_per_second = 1000001", "protection.portal_queries_per_second", "1000001"),
    ("portal_queries_per_second = 50", "portal_queries_per_second = nan", "protection.portal_queries_per_second", "NaN"),
    ("portal_queries_per_second = 50", "portal_queries_per_second = -1", "protection.portal_queries_per_second", "-1"),
    ("portal_burst = 100", "portal_burst = 0", "protection.portal_burst", "0"),
    ("max_file_bytes = 67108864", "max_file_bytes = 4095", "audit.max_file_bytes", "4095"),
    ("max_file_bytes = 67108864", "max_file_bytes = 1099511627777", "audit.max_file_bytes", "1099511627777"),
    ("checkpoint_every = 1000", "checkpoint_every = 0", "audit.checkpoint_every", "0"),
    ("idle_timeout_ms = 60000", "idle_timeout_ms = 99", "server.idle_timeout_ms", "99"),
    ("watch_interval_ms = 1000", "watch_interval_ms = 60001", "server.watch_interval_ms", "60001"),
    ("watch_interval_ms = 1000", "watch_interval_ms = 1000\nreplica_id = \"gw 1\"", "server.replica_id", "gw 1"),
    ("lease_ms = 60000", "lease_ms = 999", "store.lease_ms", "999"),
    ("pool_size = 8", "pool_size = 257", "store.pool_size", "257"),
    ("url = \"sqlite://../data/guichet.db\"", "url = \"mysql://db/g\"", "store.url", "mysql://db/g"),
    ("\nallow_loopback = true", "\nallow_loopback = true\nendpoint_networks = [\"10.0.0.0/33\"]", "offices.endpoint_networks", "10.0.0.0/33"),
    ("\nallow_loopback = true", "\nallow_loopback = true\nendpoint_host_suffixes = [\"a b\"]", "offices.endpoint_host_suffixes", "a b"),
];

/// Every out-of-range value is refused with the file, the key and the value; none is
/// clamped into range.
#[test]
fn out_of_range_values_are_refused_naming_file_field_and_value() {
    let p = Path::new("/etc/guichet.toml");
    for &(from, to, field, value) in OUT_OF_RANGE {
        let e = Config::parse(p, &edited(from, to)).expect_err(to);
        let m = e.to_string();
        assert!(m.starts_with("config /etc/guichet.toml: "), "{m}");
        assert!(m.contains(&format!("{field}: ")), "{to}: {m}");
        assert!(m.contains(value), "{to}: {m}");
        match e.problem {
            super::ConfigProblem::Field(f) => assert_eq!(f.field, field, "{to}"),
            other => panic!("{to}: not a field error: {other:?}"),
        }
    }
}

/// The bounds themselves are accepted and kept exactly as written.
#[test]
fn values_at_the_bounds_are_kept_as_written() {
    let p = Path::new("/etc/guichet.toml");
    let text = shipped()
        .replacen("hedge_budget_percent = 10", "hedge_budget_percent = 100", 1)
        .replacen(
            "max_queries_in_flight = 512",
            "max_queries_in_flight = 1000000",
            1,
        )
        .replacen("cache_max_bytes = 67108864", "cache_max_bytes = 65536", 1)
        .replacen("max_file_bytes = 67108864", "max_file_bytes = 4096", 1)
        .replacen("grace_period_ms = 10000", "grace_period_ms = 300000", 1)
        .replacen("latency_median_ms = 20", "latency_median_ms = 250", 1);
    let c = Config::parse(p, &text).expect("bounds are valid");
    assert_eq!(c.protection.hedge_budget, Some(1.0));
    assert_eq!(c.protection.max_queries_in_flight, 1_000_000);
    assert_eq!(c.protection.cache_max_bytes, 65_536);
    assert_eq!(c.audit.max_file_bytes, 4096);
    assert_eq!(c.server.grace_period, Duration::from_secs(300));
    assert_eq!(c.simulator.latency_median, c.simulator.latency_p99);
}

#[test]
fn an_unreadable_file_is_named() {
    let e = Config::load(Path::new("/nonexistent/guichet.toml")).expect_err("missing");
    let m = e.to_string();
    assert!(
        m.starts_with("config /nonexistent/guichet.toml: cannot read"),
        "{m}"
    );
}

/// A portal quota may refill slower than one query a second (an integer still reads).
#[test]
fn portal_quotas_may_refill_slower_than_one_a_second() {
    let p = Path::new("/etc/guichet.toml");
    let shipped = Config::parse(p, &shipped()).expect("integer rate");
    assert_eq!(shipped.protection.portal_queries_per_second, 50.0);
    let hourly = edited(
        "portal_queries_per_second = 50",
        "portal_queries_per_second = 0.0002777",
    );
    let c = Config::parse(p, &hourly).expect("one an hour");
    assert_eq!(c.protection.portal_queries_per_second, 0.0002777);
}

#[test]
fn seal_section_is_optional_and_checked() {
    let p = Path::new("/etc/guichet.toml");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml"))
            .expect("read");
    let start = text.find("[seal]").expect("seal section");
    let end = start + text[start..].find("[admin]").expect("admin after seal");
    let without = format!("{}{}", &text[..start], &text[end..]);
    assert!(Config::parse(p, &without).expect("no seal").seal.is_none());
    let e = Config::parse(p, &text.replace("[seal]", "[seal]\ntimestamp = 1"))
        .expect_err("unknown key");
    assert!(e.to_string().contains("timestamp"), "{e}");
    let e = Config::parse(
        p,
        &text.replace("key = \"../certs/seal-guichet.key\"\n", ""),
    )
    .expect_err("missing key");
    assert!(e.to_string().contains("key"), "{e}");
    let e = Config::parse(
        p,
        &text.replace("cert = \"../certs/seal-guichet.pem\"", "cert = \"\""),
    )
    .expect_err("empty path");
    assert!(e.to_string().contains("seal.cert"), "{e}");
}

/// `[routing]`: absent means broadcast without a report; register and verify need the
/// register's endpoint (within `[offices]`' policy) and a `register` identity; every
/// refusal names the key.
#[test]
fn routing_section() {
    use crate::model::{Role, RoutingMode};
    let p = Path::new("/etc/guichet.toml");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml"))
            .expect("read");
    let without: String = match text.find("\n[routing]") {
        Some(at) => {
            // The shipped file may carry a [routing] section: drop it (up to the next one).
            let rest = &text[at + 1..];
            let end = rest[1..].find("\n[").map_or(rest.len(), |e| e + 2);
            format!("{}{}", &text[..at + 1], &rest[end..])
        }
        None => text.clone(),
    };
    let c = Config::parse(p, &without).expect("without [routing]");
    assert!(c.routing.is_none());
    let with = |section: &str| format!("{without}\n[routing]\n{section}\n");
    let c = Config::parse(
        p,
        &with(
            "mode = \"register\"\nendpoint = \"https://127.0.0.1:18202/register\"\n\
             identity = \"urn:guichet:register:zas\"\non_register_failure = \"fail\"",
        ),
    )
    .expect("register mode");
    let r = c.routing.expect("routing");
    assert_eq!(r.mode, RoutingMode::Register);
    assert_eq!(r.on_register_failure, super::RegisterFallback::Fail);
    let e = r.register.expect("register");
    assert_eq!(e.identity.role, Role::Register);
    assert_eq!(e.timeout, Duration::from_millis(300));
    assert_eq!(r.cache_ttl, Some(Duration::from_secs(60)));
    let c = Config::parse(p, &with("mode = \"broadcast\"")).expect("broadcast");
    assert!(c.routing.is_some_and(|r| r.register.is_none()));
    for (section, field) in [
        ("mode = \"register\"", "routing.endpoint"),
        ("mode = \"sometimes\"", "routing.mode"),
        (
            "mode = \"verify\"\nendpoint = \"https://127.0.0.1:1/r\"",
            "routing.identity",
        ),
        (
            "mode = \"verify\"\nendpoint = \"http://127.0.0.1:1/r\"\nidentity = \"urn:guichet:register:zas\"",
            "routing.endpoint",
        ),
        (
            "mode = \"verify\"\nendpoint = \"https://127.0.0.1:1/r\"\nidentity = \"urn:guichet:office:025.000\"",
            "routing.identity",
        ),
        (
            "mode = \"register\"\nendpoint = \"https://127.0.0.1:1/r\"\nidentity = \"urn:guichet:register:zas\"\ntimeout_ms = 0",
            "routing.timeout_ms",
        ),
        (
            "on_register_failure = \"retry\"",
            "routing.on_register_failure",
        ),
        ("cache_ttl_ms = 3600001", "routing.cache_ttl_ms"),
        ("colour = 1", "colour"),
    ] {
        let e = Config::parse(p, &with(section)).expect_err(section);
        let m = e.to_string();
        assert!(
            m.contains(field) && m.contains("/etc/guichet.toml"),
            "{section}: {m}"
        );
    }
    // Outside the endpoint policy: refused like an adapter's endpoint.
    let strict = without.replace("allow_loopback = true", "allow_loopback = false");
    if strict != without {
        let e = Config::parse(
            p,
            &format!(
                "{strict}\n[routing]\nmode = \"register\"\nendpoint = \"https://127.0.0.1:1/r\"\nidentity = \"urn:guichet:register:zas\"\n"
            ),
        )
        .expect_err("loopback refused");
        assert!(e.to_string().contains("routing.endpoint"), "{e}");
    }
}

#[test]
fn end_user_binding_is_configured_per_purpose_and_needs_an_issuer() {
    use super::Requirement;
    let p = Path::new("/etc/guichet.toml");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml"))
            .expect("read");
    let c = Config::parse(p, &text).expect("shipped");
    assert_eq!(
        c.privacy.requirement("self-service"),
        Requirement::EndUserToken
    );
    assert_eq!(
        c.privacy.requirement("benefit-review"),
        Requirement::CaseReference
    );
    assert_eq!(c.identity.issuers.len(), 1);
    assert_eq!(c.identity.issuers[0].ahv_claim, "ahvn13");
    assert_eq!(c.identity.clock_skew, Duration::from_secs(30));
    assert!(c.identity.issuers[0].jwks.is_absolute());
    // Without the lists, the defaults: self-service needs the token.
    let defaults = text
        .replace("end_user_token = [\"self-service\"]\n", "")
        .replace(
            "case_reference = [\"pension-calculation\", \"benefit-review\"]\n",
            "",
        );
    let c = Config::parse(p, &defaults).expect("defaults");
    assert_eq!(
        c.privacy.requirement("self-service"),
        Requirement::EndUserToken
    );
    assert_eq!(
        c.privacy.requirement("pension-calculation"),
        Requirement::CaseReference
    );
    // A portal may state self-service but nobody can vouch for its users: refused.
    let start = text.find("\n[identity]\n").expect("identity section");
    let end = text.find("\n[audit]\n").expect("audit section");
    let no_issuer = format!("{}{}", &text[..start], &text[end..]);
    let e = Config::parse(p, &no_issuer).expect_err("no issuer");
    assert!(e.to_string().contains("privacy.end_user_token"), "{e}");
    let opted_out = no_issuer.replace("end_user_token = [\"self-service\"]", "end_user_token = []");
    let c = Config::parse(p, &opted_out).expect("no token required");
    assert_eq!(c.privacy.requirement("self-service"), Requirement::Nothing);
    for (from, to, field) in [
        (
            "clock_skew_seconds = 30",
            "clock_skew_seconds = 301",
            "identity.clock_skew_seconds",
        ),
        (
            "acr = [\"urn:guichet:acr:substantial\", \"urn:guichet:acr:high\"]",
            "acr = []",
            "identity.issuers[0].acr",
        ),
        (
            "ahv_claim = \"ahvn13\"",
            "ahv_claim = \"sub\"",
            "identity.issuers[0].ahv_claim",
        ),
        (
            "case_reference = [\"pension-calculation\", \"benefit-review\"]",
            "case_reference = [\"self-service\"]",
            "privacy.case_reference",
        ),
        (
            "audience = \"urn:guichet:gateway:guichet\"",
            "audience = \"\"",
            "identity.audience",
        ),
    ] {
        let e = Config::parse(p, &text.replace(from, to)).expect_err(to);
        assert!(e.to_string().contains(field), "{to}: {e}");
    }
}

#[test]
fn messages_section_is_checked() {
    let p = Path::new("/etc/guichet.toml");
    let text = shipped();
    let c = Config::parse(p, &text).expect("shipped");
    let m = c
        .messages
        .as_ref()
        .expect("the shipped config has [messages]");
    assert_eq!(m.active_key, "dev-1");
    assert!(m.keys["dev-1"].ends_with("certs/messages-dev-1.key"));
    assert_eq!(
        m.retention_of(crate::message::MessageKind::Information),
        Duration::from_secs(365 * 86_400)
    );
    for (from, to, field) in [
        (
            "active_key = \"dev-1\"",
            "active_key = \"dev-2\"",
            "messages.active_key",
        ),
        (
            "information = 365",
            "information = 0",
            "messages.retention_days.information",
        ),
        (
            "dev-1 = \"../certs/messages-dev-1.key\"",
            "\"dev 1\" = \"x\"",
            "messages.keys.dev 1",
        ),
    ] {
        let e = Config::parse(p, &text.replace(from, to)).expect_err(field);
        assert!(e.to_string().contains(field), "{e}");
    }
}
