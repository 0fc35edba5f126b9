//! Cost of a receipt: signing one (ES256 over the JWS, the `x5c` header encoded once per
//! seal) and verifying one offline (signature, seal checks, chain to the root).
//!
//! Run: `cargo bench --bench receipts -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use guichet::pki::manage::{self, IssueRequest};
use guichet::pki::{Identity, Role};
use guichet::receipt::{
    ReceiptBody, SealPaths, Sealer, SubmissionOutcome, SubmissionReceipt, verify,
};
use rustls_pki_types::UnixTime;

fn body() -> ReceiptBody {
    ReceiptBody::Submission(SubmissionReceipt {
        submission_id: "0b6f2d7e-4c1a-4e55-9d0e-2f7a9c3b8e11".into(),
        submission_type: "apg-claim".into(),
        sha256: "9c".repeat(32),
        competent_office: "025.000".into(),
        routing_rule: Some("employer-fund".into()),
        received_at: "2026-11-29T19:00:00Z".into(),
        outcome: SubmissionOutcome::Received,
    })
}

fn receipts(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = manage::init(&tmp.path().join("fed")).expect("init");
    let request = IssueRequest {
        identity: Identity::new(Role::Seal, "guichet").expect("identity"),
        days: 30,
        server: false,
        dns: Vec::new(),
        ips: Vec::new(),
        force: false,
    };
    manage::issue(&layout, &request).expect("issue seal");
    let sealer = Sealer::load(SealPaths {
        cert: layout.dir.join("seal-guichet.pem"),
        key: layout.dir.join("seal-guichet.key"),
        ca: layout.root.cert.clone(),
    })
    .expect("sealer");
    let roots = guichet::tls::load_certs(&layout.root.cert).expect("root");
    let jws = sealer.seal(body()).expect("seal").jws;

    c.bench_function("receipt/seal", |b| {
        b.iter(|| black_box(sealer.seal(body()).expect("seal")))
    });
    c.bench_function("receipt/verify", |b| {
        b.iter(|| black_box(verify(&jws, &roots, UnixTime::now()).expect("verify")))
    });
}

criterion_group!(benches, receipts);
criterion_main!(benches);
