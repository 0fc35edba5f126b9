//! The wire side of a submission: the claim rendered from its canonical JSON with the
//! `ech-apg` mapping, a fund's acknowledgement read, and one sedex send (data file and
//! envelope, each fsync'ed and renamed) into a temporary folder.
//!
//! Run: `cargo bench --bench submission -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use guichet::mapping::{MappingSet, SubmissionParams};
use guichet::model::ApgClaim;
use guichet::sedex::{Envelope, SedexFolder};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> Vec<u8> {
    let path = root().join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bench_submission(c: &mut Criterion) {
    let set = MappingSet::load_dir(&root().join("mappings")).expect("mappings");
    let apg = set.submission("ech-apg").expect("ech-apg").clone();
    let body = read("tests/fixtures/claims/apg-claim.json");
    let claim = ApgClaim::from_json(&body).expect("valid claim");
    let canonical = claim.canonical_json();
    let params = SubmissionParams {
        sender_id: "T6-000000-1",
        recipient_id: "T6-025000-1",
        message_id: "4e7d2a90-1c3b-4a5e-8f6d-7b9c0a1e2f04",
        business_process_id: "sub-01JF3Q8W6Z4K2M9T7R5V1X3B8N",
        message_date: "2026-11-26T14:02:11Z",
        test_delivery: true,
        routing_rule: "employee-current-affiliation",
        competent_office: "025.000".parse().expect("office"),
    };
    let mut g = c.benchmark_group("submission");
    g.bench_function("render claim (stored canonical JSON → XML)", |b| {
        b.iter(|| {
            let form: Value = serde_json::from_slice(black_box(&canonical)).expect("json");
            apg.render(&params, &form).expect("renders")
        })
    });
    for name in ["accepted", "rejected", "transferred"] {
        let ack = read(&format!("tests/fixtures/contract/apg-ack-{name}.xml"));
        g.bench_function(format!("read ack {name}"), |b| {
            b.iter(|| apg.read_ack(black_box(&ack), 1 << 20).expect("reads"))
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = SedexFolder::open(dir.path()).expect("sedex folder");
    let xml = apg
        .render(&params, &serde_json::from_slice(&canonical).expect("json"))
        .expect("renders");
    let at = time::OffsetDateTime::now_utc();
    let mut n = 0u64;
    g.bench_function("sedex send (data + envelope, fsync + rename each)", |b| {
        b.iter(|| {
            n += 1;
            let envelope =
                Envelope::new(&format!("m-{n}"), 2014, 0, "T6-000000-1", "T6-066000-1", at);
            folder.send(xml.as_bytes(), &envelope).expect("send")
        })
    });
    g.finish();
}

criterion_group!(benches, bench_submission);
criterion_main!(benches);
