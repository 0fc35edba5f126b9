//! Durable `create_submission`s per second (one transaction: submission, history,
//! receipt, outbox row; committed to disk before it returns) on the embedded SQLite file
//! and, when `GUICHET_TEST_DATABASE_URL` names one, on PostgreSQL (a scratch schema,
//! dropped afterwards). One writer at a time, and 16 at once as the ingress would.
//!
//! Run: `cargo bench --bench store -- --warm-up-time 1 --measurement-time 5`
//! (with PostgreSQL: `GUICHET_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use guichet::config::StoreConfig;
use guichet::model::{Identity, Role};
use guichet::store::scratch::{ScratchSchema, TEST_DATABASE_URL};
use guichet::store::{NewReceipt, NewSubmission, ReceiptKind, Store, SubmissionId, SubmissionType};

/// Claims in flight in the concurrent case.
const CONCURRENT: u64 = 16;

fn body() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claims/apg-claim.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn submission(n: u64, body: &str) -> NewSubmission {
    NewSubmission {
        id: SubmissionId::random(),
        kind: SubmissionType::ApgClaim,
        portal: Identity::new(Role::Portal, "bench").expect("identity"),
        idempotency_key: format!("bench-{n}-{}", uuid::Uuid::new_v4().simple()),
        body: body.to_owned(),
        competent_office: "001.000".parse().expect("office"),
        routing_rule: "bench".into(),
        routing_basis: None,
        receipt: NewReceipt {
            kind: ReceiptKind::Submission,
            // About the size of an ES256 compact JWS with an x5c chain of two certificates.
            jws: "e".repeat(2_400),
        },
        delivery_expiry: Duration::from_secs(30 * 24 * 3600),
    }
}

/// Creates `iters` submissions with `in_flight` writers; the elapsed time.
async fn create_many(store: &Store, iters: u64, in_flight: u64, body: Arc<String>) -> Duration {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let writers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (store, next, body) = (store.clone(), next.clone(), body.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= iters {
                        return;
                    }
                    store
                        .create_submission(submission(n, &body))
                        .await
                        .expect("create_submission");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    start.elapsed()
}

fn bench_backend(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    config: &StoreConfig,
) {
    let mut config = config.clone();
    config.pool_size = std::num::NonZeroU32::new(CONCURRENT as u32).expect("pool");
    let store = rt.block_on(Store::open(&config)).expect("open store");
    let body = Arc::new(body());
    let mut group = c.benchmark_group(format!("store/{name}"));
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    for in_flight in [1, CONCURRENT] {
        group.bench_function(format!("create_submission/{in_flight}-in-flight"), |b| {
            b.iter_custom(|iters| rt.block_on(create_many(&store, iters, in_flight, body.clone())))
        });
    }
    group.finish();
    rt.block_on(store.close());
}

fn bench_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    bench_backend(
        c,
        &rt,
        "sqlite",
        &StoreConfig::sqlite(dir.path().join("bench.db")),
    );
    if std::env::var_os(TEST_DATABASE_URL).is_none() {
        eprintln!("store/postgres: not run ({TEST_DATABASE_URL} is not set)");
        return;
    }
    let schema = rt
        .block_on(ScratchSchema::create())
        .unwrap_or_else(|e| panic!("{e}"));
    bench_backend(c, &rt, "postgres", &schema.config());
    rt.block_on(schema.drop_schema()).expect("drop schema");
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
