//! Throughput of the answer translator per dialect, the merge of a full query
//! (101 offices) and of one hostile 36k-entry answer, and AHV number parsing.
//!
//! Run: `cargo bench --bench mapping -- --warm-up-time 1 --measurement-time 3`
//!
//! Answers are built from the contract examples in `tests/fixtures/contract/` by repeating
//! their record elements, byte for byte (the vendor answer stays ISO-8859-1).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use guichet::mapping::{DEFAULT_MAX_ANSWER_BYTES, Mapping, MappingSet};
use guichet::merge::{YearRange, merge};
use guichet::model::{Answer, AnswerStatus, OfficeId, OfficeOutcome, Vn};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = root().join("tests/fixtures/contract").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Rebuilds `doc` with `count` records, cycling through the records found between
/// `open` and `close` (bytes outside the records, indentation included, are kept).
fn with_records(doc: &[u8], open: &[u8], close: &[u8], count: usize) -> Vec<u8> {
    let mut records: Vec<&[u8]> = Vec::new();
    let mut at = 0;
    let mut first = None;
    let mut last_end = 0;
    while let Some(start) = find(doc, open, at) {
        let end = find(doc, close, start).expect("record closes") + close.len();
        first.get_or_insert(start);
        records.push(&doc[start..end]);
        last_end = end;
        at = end;
    }
    let first = first.expect("at least one record");
    // The whitespace between two records of the example, reused as separator.
    let sep: &[u8] = if records.len() > 1 {
        let second = find(doc, open, first + records[0].len()).expect("second record");
        &doc[first + records[0].len()..second]
    } else {
        b"\n"
    };
    let mut out = doc[..first].to_vec();
    for i in 0..count {
        if i > 0 {
            out.extend_from_slice(sep);
        }
        out.extend_from_slice(records[i % records.len()]);
    }
    out.extend_from_slice(&doc[last_end..]);
    out
}

fn mappings() -> MappingSet {
    MappingSet::load_dir(&root().join("mappings")).expect("mappings")
}

fn office(id: &str) -> OfficeId {
    id.parse().expect("office id")
}

/// The office of a dialect's contract example (its answers name that office).
fn example_office(dialect: &str) -> OfficeId {
    match dialect {
        "ech-ik" => office("025.000"),
        "vendor-ik" => office("066.000"),
        _ => office("325.000"),
    }
}

fn translate(m: &Mapping, office: OfficeId, body: &[u8]) -> Answer {
    m.translate(office, body, DEFAULT_MAX_ANSWER_BYTES)
        .expect("benchmark answers are valid")
}

fn ech_ik(entries: usize) -> Vec<u8> {
    with_records(
        &fixture("ik-response-ech.xml"),
        b"<ik:entry>",
        b"</ik:entry>",
        entries,
    )
}

fn vendor_ik(entries: usize) -> Vec<u8> {
    with_records(
        &fixture("ik-response-vendor.xml"),
        b"<accountData>",
        b"</accountData>",
        entries,
    )
}

fn ech_iv(cases: usize) -> Vec<u8> {
    with_records(
        &fixture("iv-response.xml"),
        b"<iv:case>",
        b"</iv:case>",
        cases,
    )
}

fn bench_translate(c: &mut Criterion) {
    let set = mappings();
    // (bench id = dialect/variant, body, records it holds)
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        ("ech-ik/example-5", ech_ik(5), 5),
        ("ech-ik/12-entries", ech_ik(12), 12),
        ("vendor-ik/example-3", vendor_ik(3), 3),
        ("vendor-ik/15-entries", vendor_ik(15), 15),
        ("ech-iv/example-2", ech_iv(2), 2),
        ("ech-iv/10-cases", ech_iv(10), 10),
    ];
    let mut group = c.benchmark_group("translate");
    for (id, body, records) in &cases {
        let dialect = id.split('/').next().unwrap_or_default();
        let m = set.get(dialect).expect("dialect");
        let office = &example_office(dialect);
        let answer = translate(m, *office, body);
        assert_eq!(
            answer.entries.len() + answer.iv_cases.len(),
            *records,
            "{id}: the generated answer does not hold the records expected"
        );
        eprintln!("{id}: {} bytes, {records} records", body.len());
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(*id, |b| {
            b.iter(|| {
                m.translate(*office, black_box(body), DEFAULT_MAX_ANSWER_BYTES)
                    .expect("valid")
            })
        });
    }
    group.finish();
}

/// One query's outcomes: 74 funds + 27 IV offices. Five funds hold 12–20 entries
/// (reversals included), two IV offices hold cases, everyone else has nothing.
fn full_query() -> (Vn, Vec<OfficeOutcome>) {
    let set = mappings();
    let ech = set.get("ech-ik").expect("ech-ik");
    let vendor = set.get("vendor-ik").expect("vendor-ik");
    let iv = set.get("ech-iv").expect("ech-iv");
    let vn = Vn::parse("7561234567897").expect("vn");
    let latency = Duration::from_millis(40);

    let ech12 = translate(ech, office("025.000"), &ech_ik(12));
    let ech20 = translate(ech, office("025.000"), &ech_ik(20));
    let vendor15 = translate(vendor, office("066.000"), &vendor_ik(15));
    let iv2 = translate(iv, office("325.000"), &fixture("iv-response.xml"));
    let iv5 = translate(iv, office("325.000"), &ech_iv(5));

    // The same answer, as if another office had sent it.
    let moved = |a: &Answer, to: OfficeId| {
        let mut a = a.clone();
        // Repeated records become other years, so the merge sees distinct entries
        // (each group of example records, its reversal pair included, moves together).
        let group = if a.entries.len() > 5 { 5 } else { usize::MAX };
        for (i, e) in a.entries.iter_mut().enumerate() {
            e.office = to;
            e.year -= (i / group) as u16 * 4;
        }
        a.iv_cases.iter_mut().for_each(|c| c.office = to);
        a
    };
    let none = Answer {
        status: AnswerStatus::NoAccount,
        ..Answer::default()
    };

    let mut outcomes = Vec::with_capacity(101);
    for n in 1..=74u16 {
        let id = OfficeId::new(n, 0).expect("fund id");
        let answer = match n {
            25 => moved(&ech12, id),
            26 => moved(&ech20, id),
            35 => moved(&ech12, id),
            44 => moved(&ech12, id),
            66 => moved(&vendor15, id),
            _ => none.clone(),
        };
        outcomes.push(OfficeOutcome::answered(
            id,
            &format!("Caisse {n:03}"),
            answer,
            latency,
        ));
    }
    for n in 301..=327u16 {
        let id = OfficeId::new(n, 0).expect("IV office id");
        let answer = match n {
            325 => moved(&iv2, id),
            301 => moved(&iv5, id),
            _ => none.clone(),
        };
        outcomes.push(OfficeOutcome::answered(
            id,
            &format!("Office AI {n:03}"),
            answer,
            latency,
        ));
    }
    assert_eq!(outcomes.len(), 101);
    (vn, outcomes)
}

fn bench_merge(c: &mut Criterion) {
    let (vn, outcomes) = full_query();
    let entries: usize = outcomes.iter().map(|o| o.entries.len()).sum();
    let cases: usize = outcomes.iter().map(|o| o.iv_cases.len()).sum();
    eprintln!("merge: 101 outcomes, {entries} entries, {cases} IV cases");
    let mut group = c.benchmark_group("merge");
    group.throughput(Throughput::Elements(outcomes.len() as u64));
    group.bench_function("101-offices", |b| {
        b.iter_batched(
            || outcomes.clone(),
            |o| merge(vn, o, YearRange::default()),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("101-offices/years-2020-2021", |b| {
        let range = YearRange {
            from: Some(2020),
            to: Some(2021),
        };
        b.iter_batched(
            || outcomes.clone(),
            |o| merge(vn, o, range),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    bench_merge_heavy(c, vn);
}

/// The hostile office of issue #12: 36,000 entries, 12,000 of them reversals that cancel
/// nothing (quadratic before the merge indexed reversals: ~0.9 s per query).
fn bench_merge_heavy(c: &mut Criterion, vn: Vn) {
    let id = office("025.000");
    let heavy = Answer {
        status: AnswerStatus::Ok,
        entries: guichet::sim::heavy_entries(id, 36_000, 12_000),
        ..Answer::default()
    };
    let outcomes = vec![OfficeOutcome::answered(
        id,
        "Caisse 025",
        heavy,
        Duration::from_millis(40),
    )];
    let mut group = c.benchmark_group("merge");
    group.sample_size(10);
    group.throughput(Throughput::Elements(36_000));
    group.bench_function("36k-entries-12k-unmatched-reversals", |b| {
        b.iter_batched(
            || outcomes.clone(),
            |o| merge(vn, o, YearRange::default()),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn bench_vn(c: &mut Criterion) {
    let mut group = c.benchmark_group("vn");
    group.bench_function("parse/13-digits", |b| {
        b.iter(|| Vn::parse(black_box("7561234567897")))
    });
    group.bench_function("parse/dotted", |b| {
        b.iter(|| Vn::parse(black_box("756.1234.5678.97")))
    });
    group.bench_function("parse/bad-check-digit", |b| {
        b.iter(|| Vn::parse(black_box("7561234567890")))
    });
    group.finish();
}

/// The end-user check of a self-service query: one ES256 token of the development
/// provider, verified (signature, claims, cnf, AHV claim) by the gateway's verifier.
fn bench_token(c: &mut Criterion) {
    use guichet::pki::idp;
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = guichet::pki::ensure_dev_pki(dir.path(), &[]).expect("dev pki");
    let signer = idp::Signer::load(&pki.idp.key, idp::DEV_ISSUER).expect("key");
    let portal = idp::thumbprint_of_pem(&pki.portal.cert).expect("cert");
    let vn = Vn::from_serial(42);
    let grant = idp::Grant {
        vn,
        portal: &portal,
        audience: idp::DEV_AUDIENCE,
        acr: idp::DEV_ACR,
        ttl: std::time::Duration::from_secs(3600),
    };
    let header = format!("Bearer {}", signer.mint(&grant).expect("token"));
    let issuer = guichet::config::IssuerConfig {
        issuer: idp::DEV_ISSUER.into(),
        jwks: pki.idp.jwks.clone(),
        acr: vec![idp::DEV_ACR.into()],
        ahv_claim: "ahvn13".into(),
    };
    let jwks = signer.jwks_json().expect("jwks");
    let verifier = guichet::identity::Verifier::with_jwks(
        idp::DEV_AUDIENCE,
        std::time::Duration::from_secs(30),
        issuer,
        jwks.as_bytes(),
    )
    .expect("verifier");
    let mut group = c.benchmark_group("end-user-token");
    group.bench_function("verify/es256", |b| {
        b.iter(|| {
            let v = verifier.verify(Some(black_box(header.as_bytes())), Some(&portal));
            assert!(v.is_ok_and(|v| v.vn == vn));
        })
    });
    group.finish();
}

criterion_group!(benches, bench_translate, bench_merge, bench_vn, bench_token);
criterion_main!(benches);
