//! The store, the same tests on both backends: `sqlite::…` always (a file in a tempdir),
//! `postgres::…` with `--features postgres-tests` (a fresh schema of the database named by
//! `GUICHET_TEST_DATABASE_URL`, dropped afterwards; without the variable or the server
//! those tests FAIL). Each body below is one test, run once per backend by `both!`.
//! Time is a manual clock: lease expiry and retry times are moved, never waited for.

use std::collections::HashSet;
use std::time::Duration;

use guichet::config::StoreConfig;
use guichet::model::{Identity, OfficeId, Role};
use guichet::store::{
    Clock, Created, NewReceipt, NewSubmission, OutboxState, ReceiptKind, Step, Store, StoreError,
    Subject, SubmissionId, SubmissionState, SubmissionType,
};

const LEASE: Duration = Duration::from_secs(60);
const START_MS: i64 = 1_780_000_000_000;

/// One database for one test, on either backend.
struct Db {
    config: StoreConfig,
    clock: Clock,
    store: Store,
    _dir: Option<tempfile::TempDir>,
    #[cfg(feature = "postgres-tests")]
    schema: Option<guichet::store::scratch::ScratchSchema>,
}

impl Db {
    async fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StoreConfig::sqlite(dir.path().join("data").join("guichet.db"));
        Db::open(config, Some(dir)).await
    }

    #[cfg(feature = "postgres-tests")]
    async fn postgres() -> Db {
        let schema = guichet::store::scratch::ScratchSchema::create()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut db = Db::open(schema.config(), None).await;
        db.schema = Some(schema);
        db
    }

    async fn open(config: StoreConfig, dir: Option<tempfile::TempDir>) -> Db {
        let clock = Clock::manual(START_MS);
        let store = Store::open(&config)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", config.location))
            .with_clock(clock.clone());
        Db {
            config,
            clock,
            store,
            _dir: dir,
            #[cfg(feature = "postgres-tests")]
            schema: None,
        }
    }

    /// A second store on the same database and clock: another replica.
    async fn replica(&self) -> Store {
        Store::open(&self.config)
            .await
            .expect("replica")
            .with_clock(self.clock.clone())
    }

    async fn finish(self) {
        self.store.close().await;
        #[cfg(feature = "postgres-tests")]
        if let Some(schema) = self.schema {
            schema.drop_schema().await.expect("drop schema");
        }
    }
}

/// Runs each body once per backend.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::Db::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        #[cfg(feature = "postgres-tests")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::Db::postgres().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

both!(
    idempotency_same_body_and_other_body,
    another_portal_sees_nothing,
    concurrent_claimers_never_share_a_row,
    expired_lease_is_reclaimed_and_the_old_holder_changes_nothing,
    release_on_shutdown_hands_rows_back,
    a_deferred_row_waits_unchanged_and_a_superseded_one_closes_alone,
    retry_then_final_failure_with_history,
    transfer_queues_a_new_delivery_with_a_new_message_id,
    late_acknowledgement_and_repeated_one,
    outbox_gauges,
    migrations_are_idempotent,
    a_refused_submission_leaves_nothing,
    killed_mid_write_leaves_nothing_half_written,
    sixteen_writers_queue_without_waiting_on_the_lock,
);

fn portal(name: &str) -> Identity {
    Identity::new(Role::Portal, name).expect("portal identity")
}

fn office(s: &str) -> OfficeId {
    s.parse().expect("office id")
}

fn claim(key: &str, body: &str) -> NewSubmission {
    NewSubmission {
        id: SubmissionId::random(),
        kind: SubmissionType::ApgClaim,
        portal: portal("demo"),
        idempotency_key: key.to_owned(),
        body: body.to_owned(),
        competent_office: office("001.000"),
        routing_rule: "employer-fund".to_owned(),
        routing_basis: None,
        receipt: NewReceipt {
            kind: ReceiptKind::Submission,
            jws: format!("eyJhbGciOiJFUzI1NiJ9.{key}.sig"),
        },
        delivery_expiry: Duration::from_secs(30 * 24 * 3600),
    }
}

async fn create(db: &Db, key: &str) -> SubmissionId {
    match db
        .store
        .create_submission(claim(key, "{\"n\":1}"))
        .await
        .expect("create")
    {
        Created::New(s) => s.id,
        Created::Existing(s) => panic!("{key} existed as {}", s.id),
    }
}

async fn idempotency_same_body_and_other_body(db: &Db) {
    let first = claim("k-1", "{\"a\":1}");
    let stored = match db
        .store
        .create_submission(first.clone())
        .await
        .expect("create")
    {
        Created::New(s) => s,
        other => panic!("expected new, got {other:?}"),
    };
    assert_eq!(stored.id, first.id);
    assert_eq!(stored.state, SubmissionState::Routed);
    assert_eq!(stored.portal, "urn:guichet:portal:demo");
    assert_eq!(stored.body, "{\"a\":1}");
    assert_eq!(stored.body_sha256, guichet::store::sha256_hex(b"{\"a\":1}"));
    let states: Vec<_> = stored.history.iter().map(|h| h.state).collect();
    assert_eq!(states, [SubmissionState::Received, SubmissionState::Routed]);
    assert_eq!(stored.history[1].office, Some(office("001.000")));
    assert_eq!(stored.receipts.len(), 1);
    assert_eq!(stored.receipts[0].kind, ReceiptKind::Submission);
    assert_eq!(
        stored.receipts[0].sha256,
        guichet::store::sha256_hex(first.receipt.jws.as_bytes())
    );

    // Same key, same body, a new id and receipt from the caller: the first one, nothing new.
    let again = db
        .store
        .create_submission(claim("k-1", "{\"a\":1}"))
        .await
        .expect("repeat");
    assert_eq!(again, Created::Existing(stored.clone()));
    let outbox = db
        .store
        .outbox_of(&Subject::submission(stored.id))
        .await
        .expect("outbox");
    assert_eq!(outbox.len(), 1);

    // Same key, other body: conflict, nothing written.
    let other = db.store.create_submission(claim("k-1", "{\"a\":2}")).await;
    assert!(matches!(other, Err(StoreError::Conflict)), "{other:?}");
    assert_eq!(
        db.store.integrity().await.expect("integrity").submissions,
        1
    );

    // The lookup the route makes before sealing: the stored one, a conflict, or nothing.
    let demo = portal("demo");
    let same = guichet::store::sha256_hex(b"{\"a\":1}");
    let found = db.store.replay(&demo, "k-1", &same).await.expect("replay");
    assert_eq!(found, Some(stored.clone()));
    let differs = guichet::store::sha256_hex(b"{\"a\":2}");
    let refused = db.store.replay(&demo, "k-1", &differs).await;
    assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    let unused = db.store.replay(&demo, "k-2", &same).await.expect("replay");
    assert_eq!(unused, None);
    let theirs = db.store.replay(&portal("other"), "k-1", &same).await;
    assert_eq!(theirs.expect("replay"), None);

    // The key is per portal.
    let mut elsewhere = claim("k-1", "{\"a\":2}");
    elsewhere.portal = portal("other");
    assert!(matches!(
        db.store.create_submission(elsewhere).await,
        Ok(Created::New(_))
    ));
}

async fn another_portal_sees_nothing(db: &Db) {
    let id = create(db, "k").await;
    let mine = db
        .store
        .get_submission(&portal("demo"), id)
        .await
        .expect("get");
    assert_eq!(mine.map(|s| s.id), Some(id));
    let theirs = db
        .store
        .get_submission(&portal("other"), id)
        .await
        .expect("get");
    assert_eq!(theirs, None);
    let missing = db
        .store
        .get_submission(&portal("demo"), SubmissionId::random())
        .await
        .expect("get");
    assert_eq!(missing, None);
}

async fn concurrent_claimers_never_share_a_row(db: &Db) {
    const ROWS: usize = 40;
    for i in 0..ROWS {
        create(db, &format!("k-{i}")).await;
    }
    let replica = db.replica().await;
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = if w % 2 == 0 {
            db.store.clone()
        } else {
            replica.clone()
        };
        tasks.push(tokio::spawn(async move {
            let worker = format!("worker-{w}");
            let mut got = Vec::new();
            loop {
                let batch = store.claim_due(&worker, 3, LEASE).await.expect("claim");
                if batch.is_empty() {
                    return got;
                }
                for d in batch {
                    assert_eq!(d.lease.owner, worker);
                    store
                        .complete(&d.lease, &Step::to(SubmissionState::Delivered))
                        .await
                        .expect("complete");
                    got.push(d.lease.outbox_id);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a row was claimed twice");
    assert_eq!(all.len(), ROWS);
    replica.close().await;
}

async fn expired_lease_is_reclaimed_and_the_old_holder_changes_nothing(db: &Db) {
    let id = create(db, "k").await;
    let a = db.store.claim_due("a", 10, LEASE).await.expect("claim a");
    assert_eq!(a.len(), 1);
    assert!(
        db.store
            .claim_due("b", 10, LEASE)
            .await
            .expect("b")
            .is_empty()
    );
    // Replica `a` dies; its lease runs out.
    db.clock.advance(LEASE + Duration::from_millis(1));
    let b = db.store.claim_due("b", 10, LEASE).await.expect("claim b");
    assert_eq!(b.len(), 1);
    assert_eq!(
        b[0].message_id, a[0].message_id,
        "the same message id on retry"
    );
    assert_eq!(b[0].lease.outbox_id, a[0].lease.outbox_id);
    let late = db
        .store
        .complete(&a[0].lease, &Step::to(SubmissionState::Accepted))
        .await;
    assert!(
        matches!(late, Err(StoreError::LeaseLost { .. })),
        "{late:?}"
    );
    let accepted = Step {
        state: SubmissionState::Accepted,
        detail: Some("ack accepted".into()),
        case_number: Some("C-42".into()),
        receipt: Some(NewReceipt {
            kind: ReceiptKind::Delivery,
            jws: "h.delivery.s".into(),
        }),
    };
    db.store
        .complete(&b[0].lease, &accepted)
        .await
        .expect("complete b");
    let s = db
        .store
        .load_submission(id)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(s.state, SubmissionState::Accepted);
    assert_eq!(s.case_number.as_deref(), Some("C-42"));
    assert_eq!(s.receipts_of(ReceiptKind::Delivery).count(), 1);
    assert_eq!(
        s.history.last().map(|h| h.state),
        Some(SubmissionState::Accepted)
    );
    // An extended lease replaces the old one; a done row cannot be extended.
    assert!(db.store.extend_lease(&b[0].lease, LEASE).await.is_err());
}

async fn release_on_shutdown_hands_rows_back(db: &Db) {
    for i in 0..3 {
        create(db, &format!("k-{i}")).await;
    }
    let held = db.store.claim_due("a", 10, LEASE).await.expect("claim");
    assert_eq!(held.len(), 3);
    let extended = db
        .store
        .extend_lease(&held[0].lease, LEASE * 2)
        .await
        .expect("extend");
    assert!(extended.expires_at > held[0].lease.expires_at);
    assert_eq!(db.store.release_leases("a").await.expect("release"), 3);
    let taken = db.store.claim_due("b", 10, LEASE).await.expect("claim b");
    assert_eq!(taken.len(), 3, "released rows are due at once");
    assert!(taken.iter().all(|d| d.attempts == 0));
    assert_eq!(db.store.release_leases("a").await.expect("again"), 0);
}

async fn a_deferred_row_waits_unchanged_and_a_superseded_one_closes_alone(db: &Db) {
    let id = create(db, "k").await;
    let d = db.store.claim_due("a", 1, LEASE).await.expect("claim");
    let history = |s: &guichet::store::Submission| s.history.len();
    let before = db
        .store
        .load_submission(id)
        .await
        .expect("load")
        .expect("sub");
    db.store
        .defer(&d[0].lease, START_MS + 5_000)
        .await
        .expect("defer");
    // Not due before its time, then due with attempts, error and history unchanged.
    assert!(
        db.store
            .claim_due("b", 1, LEASE)
            .await
            .expect("early")
            .is_empty()
    );
    db.clock.advance(Duration::from_secs(5));
    let again = db.store.claim_due("b", 1, LEASE).await.expect("due");
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].attempts, again[0].last_error.as_deref()),
        (0, None)
    );
    let after = db
        .store
        .load_submission(id)
        .await
        .expect("load")
        .expect("sub");
    assert_eq!(history(&after), history(&before));
    // The old lease changes nothing any more.
    assert!(matches!(
        db.store.defer(&d[0].lease, START_MS).await,
        Err(StoreError::LeaseLost { .. })
    ));
    // Closed as superseded: the row is done, the submission untouched.
    db.store
        .close_superseded(&again[0].lease)
        .await
        .expect("close");
    let rows = db
        .store
        .outbox_of(&guichet::store::Subject::submission(id))
        .await
        .expect("outbox");
    assert_eq!(rows[0].state, OutboxState::Done);
    let closed = db
        .store
        .load_submission(id)
        .await
        .expect("load")
        .expect("sub");
    assert_eq!(
        (closed.state, history(&closed)),
        (after.state, history(&after))
    );
    assert!(matches!(
        db.store.close_superseded(&again[0].lease).await,
        Err(StoreError::LeaseLost { .. })
    ));
}

async fn retry_then_final_failure_with_history(db: &Db) {
    let id = create(db, "k").await;
    let d = db.store.claim_due("a", 1, LEASE).await.expect("claim");
    let next = db.clock.now_ms() + 5_000;
    db.store
        .retry_later(&d[0].lease, next, "connect refused")
        .await
        .expect("retry");
    assert!(
        db.store
            .claim_due("a", 1, LEASE)
            .await
            .expect("early")
            .is_empty()
    );
    db.clock.advance(Duration::from_secs(5));
    let d = db.store.claim_due("a", 1, LEASE).await.expect("due again");
    assert_eq!(d[0].attempts, 1);
    assert_eq!(d[0].last_error.as_deref(), Some("connect refused"));
    db.store.fail(&d[0].lease, "expired").await.expect("fail");
    let s = db
        .store
        .load_submission(id)
        .await
        .expect("load")
        .expect("s");
    assert_eq!(s.state, SubmissionState::Failed);
    let states: Vec<_> = s.history.iter().map(|h| h.state).collect();
    assert_eq!(
        states,
        [
            SubmissionState::Received,
            SubmissionState::Routed,
            SubmissionState::Delivering,
            SubmissionState::Failed
        ]
    );
    assert_eq!(
        s.history[2].detail.as_deref(),
        Some("attempt 1 failed: connect refused")
    );
    let rows = db
        .store
        .outbox_of(&Subject::submission(id))
        .await
        .expect("rows");
    assert_eq!(rows[0].state, OutboxState::Failed);
    assert_eq!(db.store.outbox_stats().await.expect("stats").depth, 0);
}

async fn transfer_queues_a_new_delivery_with_a_new_message_id(db: &Db) {
    let id = create(db, "k").await;
    let first = db.store.claim_due("a", 1, LEASE).await.expect("claim");
    let receipt = NewReceipt {
        kind: ReceiptKind::Delivery,
        jws: "h.transferred.s".into(),
    };
    db.clock.advance(Duration::from_millis(1));
    db.store
        .transfer(
            id,
            Some(&first[0].lease),
            office("066.000"),
            "transferred by 001.000",
            Some(receipt),
            Duration::from_secs(3600),
        )
        .await
        .expect("transfer");
    let s = db
        .store
        .load_submission(id)
        .await
        .expect("load")
        .expect("s");
    assert_eq!(s.state, SubmissionState::Transferred);
    assert_eq!(s.competent_office, office("066.000"));
    assert_eq!(s.transferred_to().collect::<Vec<_>>(), [office("066.000")]);
    let second = db.store.claim_due("a", 5, LEASE).await.expect("claim new");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].target_office, office("066.000"));
    assert_ne!(second[0].message_id, first[0].message_id);
    let rows = db
        .store
        .outbox_of(&Subject::submission(id))
        .await
        .expect("rows");
    let states: Vec<_> = rows.iter().map(|r| r.state).collect();
    assert_eq!(states, [OutboxState::Done, OutboxState::Pending]);
    // The old lease is spent.
    let again = db
        .store
        .transfer(
            id,
            Some(&first[0].lease),
            office("002.000"),
            "x",
            None,
            LEASE,
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::LeaseLost { .. })),
        "{again:?}"
    );
}

async fn late_acknowledgement_and_repeated_one(db: &Db) {
    let id = create(db, "k").await;
    let d = db.store.claim_due("a", 1, LEASE).await.expect("claim");
    db.store
        .complete(
            &d[0].lease,
            &Step::to(SubmissionState::Delivered).detail("sedex 100"),
        )
        .await
        .expect("delivered");
    assert_eq!(db.store.outbox_stats().await.expect("stats").depth, 0);
    let ack = Step {
        state: SubmissionState::Rejected,
        detail: Some("duplicate-period".into()),
        case_number: None,
        receipt: Some(NewReceipt {
            kind: ReceiptKind::Delivery,
            jws: "h.rejected.s".into(),
        }),
    };
    assert!(
        db.store
            .acknowledge(id, office("001.000"), &ack)
            .await
            .expect("ack")
    );
    assert!(
        !db.store
            .acknowledge(id, office("001.000"), &ack)
            .await
            .expect("repeat")
    );
    let s = db
        .store
        .load_submission(id)
        .await
        .expect("load")
        .expect("s");
    assert_eq!(s.state, SubmissionState::Rejected);
    assert_eq!(
        s.receipts.len(),
        2,
        "the repeated acknowledgement added nothing"
    );
    let unknown = db
        .store
        .acknowledge(SubmissionId::random(), office("001.000"), &ack)
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

async fn outbox_gauges(db: &Db) {
    let empty = db.store.outbox_stats().await.expect("stats");
    assert_eq!((empty.depth, empty.leased, empty.oldest_age), (0, 0, None));
    create(db, "k-1").await;
    db.clock.advance(Duration::from_secs(10));
    create(db, "k-2").await;
    db.store.claim_due("a", 1, LEASE).await.expect("claim");
    db.clock.advance(Duration::from_secs(5));
    let stats = db.store.outbox_stats().await.expect("stats");
    assert_eq!(stats.depth, 2);
    assert_eq!(stats.leased, 1);
    assert_eq!(stats.oldest_age, Some(Duration::from_secs(15)));
}

async fn migrations_are_idempotent(db: &Db) {
    let latest = guichet::store::MIGRATIONS.iter().map(|m| m.0).max();
    assert_eq!(db.store.schema_version().await.expect("version"), latest);
    assert!(db.store.is_migrated().await.expect("migrated"));
    create(db, "k").await;
    assert_eq!(Some(db.store.migrate().await.expect("again")), latest);
    // Three replicas starting together on the migrated database.
    let opened = futures_util::future::join_all((0..3).map(|_| Store::open(&db.config))).await;
    for store in opened {
        store.expect("replica open").close().await;
    }
    assert_eq!(
        db.store.integrity().await.expect("integrity").submissions,
        1
    );
}

async fn a_refused_submission_leaves_nothing(db: &Db) {
    // The outbox's message ids are unique; the same submission id twice makes the second
    // transaction fail at its first insert; an id that exists but a new key fails after
    // nothing was written. Both leave the store as it was.
    let first = claim("k-1", "{}");
    db.store
        .create_submission(first.clone())
        .await
        .expect("first");
    let mut clash = claim("k-2", "{}");
    clash.id = first.id;
    let refused = db.store.create_submission(clash).await;
    assert!(
        matches!(refused, Err(StoreError::Database { .. })),
        "{refused:?}"
    );
    let integrity = db.store.integrity().await.expect("integrity");
    assert_eq!(integrity.submissions, 1);
    assert!(integrity.is_sound(), "{integrity:?}");
    let rows = db
        .store
        .outbox_of(&Subject::submission(first.id))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
}

/// Names the child's database: `sqlite:FILE` or `postgres:SCHEMA:URL`.
const CHILD_ENV: &str = "GUICHET_STORE_CRASH_CHILD";

/// Not a test of its own: the child process of `killed_mid_write_leaves_nothing_half_written`,
/// which creates submissions as fast as it can until it is killed. Without
/// `GUICHET_STORE_CRASH_CHILD` it returns at once.
#[tokio::test]
async fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let config = if let Some(file) = spec.strip_prefix("sqlite:") {
        StoreConfig::sqlite(file)
    } else {
        let rest = spec.strip_prefix("postgres:").expect("child spec");
        let (schema, url) = rest.split_once(':').expect("schema:url");
        StoreConfig::postgres(url, Some(schema.to_owned()))
    };
    let store = Store::open(&config).await.expect("child open");
    for i in 0.. {
        let mut new = claim(&format!("crash-{i}"), &"x".repeat(4096));
        new.portal = portal("crash");
        store.create_submission(new).await.expect("child create");
    }
}

async fn killed_mid_write_leaves_nothing_half_written(db: &Db) {
    let spec = match &db.config.location {
        guichet::config::StoreLocation::Sqlite { file } => format!("sqlite:{}", file.display()),
        guichet::config::StoreLocation::Postgres { url, schema, .. } => {
            format!("postgres:{}:{url}", schema.as_deref().expect("test schema"))
        }
    };
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, spec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn child");
    // Wait (bounded) until the child has committed a good number of submissions: it is
    // then in the middle of one more transaction most of the time.
    let bound = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let n = db.store.integrity().await.expect("integrity").submissions;
        if n >= 30 {
            break;
        }
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("the child ended by itself ({status}) after {n} submissions");
        }
        assert!(
            std::time::Instant::now() < bound,
            "the child wrote only {n} submissions"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill -9"); // SIGKILL: no destructor, no rollback by the child
    child.wait().expect("reap child");

    // A fresh connection (SQLite: recovers the WAL) sees only whole submissions; on the
    // system clock, as the child's rows are due by it.
    let after = Store::open(&db.config).await.expect("reopen");
    let integrity = after.integrity().await.expect("integrity");
    assert!(integrity.submissions >= 30);
    assert!(integrity.is_sound(), "{integrity:?}");
    // And the store goes on: every committed claim is due exactly once.
    let due = after
        .claim_due("survivor", 10_000, LEASE)
        .await
        .expect("claim");
    assert_eq!(due.len() as u64, integrity.submissions);
    let ids: HashSet<_> = due.iter().map(|d| d.message_id.clone()).collect();
    assert_eq!(ids.len(), due.len());
    after.close().await;
}

/// `guichet migrate --config`: creates the schema once, then finds it up to date.
#[tokio::test]
async fn migrate_command_creates_then_finds_up_to_date() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml");
    let text = std::fs::read_to_string(&shipped).expect("shipped config");
    let from = "url = \"sqlite://../data/guichet.db\"";
    assert!(
        text.contains(from),
        "the shipped config names its SQLite file"
    );
    let config = dir.path().join("guichet.toml");
    std::fs::write(&config, text.replace(from, "url = \"sqlite://state/g.db\"")).expect("write");
    let latest = guichet::store::MIGRATIONS
        .iter()
        .map(|m| m.0)
        .max()
        .expect("a migration");
    let first = guichet::cli::migrate(&config).await.expect("migrate");
    assert!(
        first.ends_with(&format!("schema created, version {latest}")),
        "{first}"
    );
    assert!(dir.path().join("state/g.db").exists());
    let second = guichet::cli::migrate(&config).await.expect("again");
    assert!(
        second.ends_with(&format!("schema version {latest}, up to date")),
        "{second}"
    );
}

/// Sixteen concurrent writers with no busy timeout at all: on SQLite the store queues its
/// own write transactions, so none finds the file locked (without the queue, every
/// `BEGIN IMMEDIATE` that meets another writer fails at once with "database is locked").
async fn sixteen_writers_queue_without_waiting_on_the_lock(db: &Db) {
    let mut config = db.config.clone();
    config.pool_size = std::num::NonZeroU32::new(16).expect("16");
    config.busy_timeout = Duration::ZERO;
    let store = Store::open(&config).await.expect("open");
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..8 {
                    let new = claim(&format!("w{w}-{i}"), "{\"n\":1}");
                    store.create_submission(new).await.expect("no busy error");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    let integrity = store.integrity().await.expect("integrity");
    assert_eq!(integrity.submissions, 128);
    assert!(integrity.is_sound(), "{integrity:?}");
    store.close().await;
}
