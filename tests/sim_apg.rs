//! The simulated funds' side of the loss-of-earnings claim (issue #15, item 7), over real
//! mutual TLS and real folders: the contract's claim accepted by the competent fund and
//! transferred by another, a retry acknowledged the same and counted once, a second claim
//! for the period refused as `duplicate-period`, bad data refused as `invalid-data`; the
//! simulated sedex client taking only complete pairs (envelope last), writing `601` then
//! `100`, answering through `inbox/`, and its faults (lost receipt, `4xx` then `100`,
//! expiry); a fund answering `202` with its acknowledgement over sedex.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use guichet::adapter::Registry;
use guichet::mapping::MappingSet;
use guichet::model::{OfficeId, Vn};
use guichet::pki::ensure_dev_pki;
use guichet::sim::apg::{Activity, ClaimTransport, competent_fund, read_claim, transport_of};
use guichet::sim::{Fault, Federation, FederationOptions, Latency, SedexOptions, Simulator};

const CLAIM: &str = include_str!("fixtures/contract/apg-claim.xml");
const CLAIM_ID: &str = "4e7d2a90-1c3b-4a5e-8f6d-7b9c0a1e2f04";
/// Bound on waiting for a file the simulator writes (the machine is loaded).
const PATIENCE: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn id(s: &str) -> OfficeId {
    s.parse().expect("office id")
}

struct Sim {
    dir: tempfile::TempDir,
    fed: Federation,
    client: reqwest::Client,
}

impl Sim {
    async fn start() -> Sim {
        let dir = tempfile::tempdir().expect("tempdir");
        let mappings = MappingSet::load_dir(&repo().join("mappings")).expect("mappings");
        let registry = Registry::load_dir(&repo().join("adapters"), &mappings).expect("registry");
        let offices: Vec<String> = registry.iter().map(|a| a.office.to_string()).collect();
        let pki = ensure_dev_pki(&dir.path().join("certs"), &offices).expect("dev pki");
        let faults = Default::default();
        let options = FederationOptions {
            latency: Latency::ZERO,
            faults: &faults,
            ephemeral: true,
            register: None,
        };
        let fed = Federation::start(&registry, &pki, options)
            .await
            .expect("federation");
        let roots = guichet::tls::load_certs(&pki.ca_cert).expect("ca");
        let identity = (
            guichet::tls::load_certs(&pki.gateway_client.cert).expect("cert"),
            guichet::tls::load_key(&pki.gateway_client.key).expect("key"),
        );
        let tls = guichet::tls::client_config(&roots, Some(identity)).expect("tls");
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Sim { dir, fed, client }
    }

    fn sim(&self) -> &Arc<Simulator> {
        self.fed.simulator()
    }

    /// Starts the sedex clients with folders in the test's tempdir.
    fn start_sedex(&self, delay: Duration) -> PathBuf {
        let root = self.dir.path().join("sedex");
        let mut options = SedexOptions::new(&root, delay);
        options.poll = Duration::from_millis(5);
        self.fed.start_sedex(&options).expect("sedex folders");
        root
    }

    async fn post(&self, office: &str, body: &str) -> (u16, String) {
        let url = self.fed.endpoints()[&id(office)].clone();
        let r = self
            .client
            .post(url)
            .header("content-type", "application/xml")
            .body(body.to_owned())
            .send()
            .await
            .expect("post over mTLS");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    /// A person (and the fund competent for an employee claim of theirs) whose competent
    /// fund satisfies `wanted`.
    fn person_with(&self, wanted: impl Fn(OfficeId) -> bool) -> (Vn, OfficeId) {
        let sim = self.sim();
        for serial in 1..200_000 {
            let vn = Vn::from_serial(serial * 7_919);
            let claim = read_claim(claim_for(vn, CLAIM_ID, "2026-10-05", "2026-10-23").as_bytes())
                .expect("claim");
            let person = sim.person(vn);
            let fund = competent_fund(
                &person,
                &claim,
                Activity::Employee,
                sim.offices(),
                sim.reference_year(),
            );
            if let Some(f) = fund.filter(|f| wanted(*f)) {
                return (vn, f);
            }
        }
        panic!("no person found with the wanted competent fund");
    }

    fn fund_with(&self, transport: ClaimTransport) -> Vec<OfficeId> {
        self.sim()
            .offices()
            .iter()
            .filter(|o| transport_of(o) == Some(transport))
            .map(|o| o.id)
            .collect()
    }
}

/// The contract's claim for `vn`, with `message_id` and the period `start`–`end`.
fn claim_for(vn: Vn, message_id: &str, start: &str, end: &str) -> String {
    let days = (time::Date::parse(end, &time::format_description::well_known::Iso8601::DATE)
        .expect("end")
        - time::Date::parse(start, &time::format_description::well_known::Iso8601::DATE)
            .expect("start"))
    .whole_days()
        + 1;
    CLAIM
        .replace("7561234567897", &vn.digits())
        .replace(CLAIM_ID, message_id)
        .replace("2026-10-05", start)
        .replace("2026-10-23", end)
        .replace(
            "<apg:numberOfDays>19</apg:numberOfDays>",
            &format!("<apg:numberOfDays>{days}</apg:numberOfDays>"),
        )
}

/// The text of the first element with local name `name`.
fn field(xml: &str, name: &str) -> Option<String> {
    let open = xml.find(&format!(":{name}>"))?;
    let rest = &xml[open + name.len() + 2..];
    Some(rest[..rest.find('<')?].to_owned())
}

async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn receipt_status(folder: &Path, message_id: &str) -> Option<String> {
    let text =
        std::fs::read_to_string(folder.join(format!("receipts/receipt_{message_id}.xml"))).ok()?;
    let start = text.find("<statusCode>")? + "<statusCode>".len();
    Some(text[start..start + 3].to_owned())
}

/// The acknowledgement in `inbox/` for the claim `message_id`: only once both its data
/// file and its envelope are there.
fn inbox_ack(folder: &Path, message_id: &str) -> Option<String> {
    for entry in std::fs::read_dir(folder.join("inbox")).ok()? {
        let name = entry.ok()?.file_name().into_string().ok()?;
        let Some(ack_id) = name
            .strip_prefix("envl_")
            .and_then(|n| n.strip_suffix(".xml"))
        else {
            continue;
        };
        let data = std::fs::read_to_string(folder.join(format!("inbox/data_{ack_id}.xml"))).ok()?;
        let envelope = std::fs::read_to_string(folder.join("inbox").join(&name)).ok()?;
        assert!(envelope.contains(&format!(">{ack_id}<")), "{envelope}");
        if field(&data, "referenceMessageId").as_deref() == Some(message_id) {
            return Some(data);
        }
    }
    None
}

/// Writes `data` then the envelope into `outbox/`, as the gateway does.
fn send(folder: &Path, message_id: &str, fund: OfficeId, data: &str, envelope: bool) {
    let outbox = folder.join("outbox");
    std::fs::write(outbox.join(format!("data_{message_id}.xml")), data).expect("data");
    if envelope {
        write_envelope(folder, message_id, fund);
    }
}

fn write_envelope(folder: &Path, message_id: &str, fund: OfficeId) {
    let text = include_str!("fixtures/contract/sedex-envelope.xml")
        .replace(CLAIM_ID, message_id)
        .replace("T6-066000-1", &fund.participant_id("T6"));
    let tmp = folder.join(format!("outbox/.envl_{message_id}.tmp"));
    std::fs::write(&tmp, text).expect("envelope");
    std::fs::rename(&tmp, folder.join(format!("outbox/envl_{message_id}.xml"))).expect("rename");
}

#[tokio::test]
async fn the_contract_claim_is_accepted_by_the_competent_fund_and_transferred_by_another() {
    let s = Sim::start().await;
    let (status, ack) = s.post("025.000", CLAIM).await;
    assert_eq!(status, 200, "{ack}");
    // The synthetic person of the example works for an employer of another fund.
    assert_eq!(
        field(&ack, "outcome").as_deref(),
        Some("transferred"),
        "{ack}"
    );
    let to = field(&ack, "transferredTo").expect("transferredTo");
    assert_ne!(to, "025.000");
    assert_eq!(field(&ack, "action").as_deref(), Some("6"));
    let (status, ack) = s.post(&to, CLAIM).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(field(&ack, "outcome").as_deref(), Some("accepted"), "{ack}");
    let case = field(&ack, "caseNumber").expect("case number");
    assert!(
        case.starts_with(&format!("APG-{}-2026-", &to[..3])),
        "{case}"
    );
    assert_eq!(field(&ack, "referenceMessageId").as_deref(), Some(CLAIM_ID));
    assert_eq!(
        field(&ack, "businessProcessId").as_deref(),
        Some("sub-01JF3Q8W6Z4K2M9T7R5V1X3B8N")
    );
    assert_eq!(field(&ack, "recipientId").as_deref(), Some("T6-000000-1"));
    assert_eq!(field(&ack, "senderId"), Some(id(&to).participant_id("T6")));
    assert_eq!(field(&ack, "testDeliveryFlag").as_deref(), Some("true"));
    assert_ne!(field(&ack, "messageId").as_deref(), Some(CLAIM_ID));
}

#[tokio::test]
async fn a_retry_gets_the_same_ack_counted_once_and_a_new_message_id_for_the_period_is_a_duplicate()
{
    let s = Sim::start().await;
    let (vn, fund) = s.person_with(|f| s.sim().funds().transport(f) == ClaimTransport::Sync);
    let fund = fund.to_string();
    let claim = claim_for(vn, CLAIM_ID, "2026-10-05", "2026-10-23");
    let (status, first) = s.post(&fund, &claim).await;
    assert_eq!(status, 200);
    assert_eq!(
        field(&first, "outcome").as_deref(),
        Some("accepted"),
        "{first}"
    );
    let (_, again) = s.post(&fund, &claim).await;
    assert_eq!(again, first, "the very same acknowledgement, byte for byte");
    let counts = s.fed.claims(id(&fund));
    assert_eq!((counts.distinct, counts.deliveries), (1, 2));

    let other = "0b7e4f43-8d7c-4c55-9a0b-6a7f3e2d1c09";
    let overlapping = claim_for(vn, other, "2026-10-20", "2026-10-30");
    let (status, dup) = s.post(&fund, &overlapping).await;
    assert_eq!(status, 200);
    assert_eq!(field(&dup, "outcome").as_deref(), Some("rejected"), "{dup}");
    assert_eq!(
        field(&dup, "reasonCode").as_deref(),
        Some("duplicate-period")
    );
    assert_eq!(field(&dup, "action").as_deref(), Some("8"));
    assert!(
        field(&dup, "reason")
            .is_some_and(|r| r.contains(&field(&first, "caseNumber").expect("case"))),
        "{dup}"
    );
    let later = claim_for(
        vn,
        "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "2026-11-02",
        "2026-11-06",
    );
    let (_, ok) = s.post(&fund, &later).await;
    assert_eq!(field(&ok, "outcome").as_deref(), Some("accepted"), "{ok}");
    let counts = s.fed.claims(id(&fund));
    assert_eq!((counts.distinct, counts.deliveries), (3, 4));
    assert_eq!(s.fed.claims(id("025.000")).deliveries, 0);
}

#[tokio::test]
async fn bad_data_is_rejected_as_invalid_data_and_unreadable_claims_get_no_ack() {
    let s = Sim::start().await;
    let bad = CLAIM
        .replace("CH9300762011623852957", "CH9300762011623852958")
        .replace("<apg:serviceType>11<", "<apg:serviceType>99<");
    let (status, ack) = s.post("025.000", &bad).await;
    assert_eq!(status, 200);
    assert_eq!(field(&ack, "outcome").as_deref(), Some("rejected"), "{ack}");
    assert_eq!(field(&ack, "reasonCode").as_deref(), Some("invalid-data"));
    let reason = field(&ack, "reason").expect("reason");
    assert!(
        reason.contains("content/payment/iban") && reason.contains("serviceType"),
        "{reason}"
    );
    assert!(
        !reason.contains("756"),
        "no AHV number in the reason: {reason}"
    );

    let (status, text) = s.post("025.000", &CLAIM.replace(CLAIM_ID, "")).await;
    assert_eq!(status, 400, "{text}");
    let (status, _) = s.post("325.000", CLAIM).await;
    assert_eq!(status, 404, "an IV office takes no claims");
    let counts = s.fed.claims(id("025.000"));
    assert_eq!((counts.distinct, counts.deliveries), (1, 1));
}

#[tokio::test]
async fn the_sedex_client_takes_pairs_envelope_last_and_writes_601_then_100_then_the_ack() {
    let s = Sim::start().await;
    let root = s.start_sedex(Duration::ZERO);
    let sedex = s.fund_with(ClaimTransport::Sedex);
    assert!(sedex.contains(&id("066.000")), "{sedex:?}");
    let (vn, fund) = s.person_with(|f| sedex.contains(&f));
    let folder = s.fed.sedex_folder(fund).expect("sedex folder");
    assert_eq!(folder, root.join(fund.to_string()));
    for sub in guichet::sim::SEDEX_FOLDERS {
        assert!(folder.join(sub).is_dir(), "{sub}");
    }
    let (status, _) = s.post(&fund.to_string(), CLAIM).await;
    assert_eq!(
        status, 404,
        "a sedex-only fund takes no claims on its listener"
    );

    let a = "a1a1a1a1-0000-4000-8000-000000000001";
    let b = "b2b2b2b2-0000-4000-8000-000000000002";
    let claim_a = claim_for(vn, a, "2026-10-05", "2026-10-23");
    send(&folder, a, fund, &claim_a, false);
    let claim_b = claim_for(vn, b, "2027-03-01", "2027-03-05");
    send(&folder, b, fund, &claim_b, true);
    wait_for("receipt 100 of b", || {
        (receipt_status(&folder, b).as_deref() == Some("100")).then_some(())
    })
    .await;
    assert!(
        folder.join(format!("outbox/data_{a}.xml")).exists(),
        "a data file without its envelope is not taken"
    );
    assert_eq!(receipt_status(&folder, a), None);

    write_envelope(&folder, a, fund);
    wait_for("receipt 100 of a", || {
        (receipt_status(&folder, a).as_deref() == Some("100")).then_some(())
    })
    .await;
    assert_eq!(s.sim().funds().receipts(fund, a), vec![601, 100]);
    let ack = wait_for("the acknowledgement of a in inbox/", || {
        inbox_ack(&folder, a)
    })
    .await;
    assert_eq!(field(&ack, "outcome").as_deref(), Some("accepted"), "{ack}");
    assert!(!folder.join(format!("outbox/data_{a}.xml")).exists());

    // Sent again (a gateway that crashed before it recorded the send): same ack, one claim.
    send(&folder, a, fund, &claim_a, true);
    wait_for("the second delivery", || {
        (s.fed.claims(fund).deliveries == 3).then_some(())
    })
    .await;
    let counts = s.fed.claims(fund);
    assert_eq!((counts.distinct, counts.deliveries), (2, 3));
    assert_eq!(
        s.sim().funds().ack(fund, a).map(|x| x.xml.clone()),
        Some(ack.into_bytes())
    );
}

#[tokio::test]
async fn sedex_faults_lost_receipt_transient_then_100_and_expiry() {
    let s = Sim::start().await;
    s.start_sedex(Duration::ZERO);
    let sedex = s.fund_with(ClaimTransport::Sedex);
    assert!(sedex.len() >= 3, "{sedex:?}");
    let cases = [
        (Fault::SedexLostReceipt, "601", vec![601], true),
        (Fault::SedexTransient(402), "100", vec![601, 402, 100], true),
        (Fault::SedexExpire, "204", vec![601, 701, 204], false),
    ];
    for (i, (fault, last, history, delivered)) in cases.into_iter().enumerate() {
        let fund = sedex[i];
        s.sim().set_fault(fund, Some(fault.clone()));
        let folder = s.fed.sedex_folder(fund).expect("folder");
        let message_id = format!("f{i}f{i}f{i}f{i}-0000-4000-8000-00000000000{i}");
        let claim = claim_for(
            Vn::from_serial(4_242 + i as u32),
            &message_id,
            "2026-10-05",
            "2026-10-23",
        );
        send(&folder, &message_id, fund, &claim, true);
        if delivered {
            let ack = wait_for("the acknowledgement", || inbox_ack(&folder, &message_id)).await;
            assert!(field(&ack, "outcome").is_some(), "{ack}");
        } else {
            wait_for("the final receipt", || {
                (receipt_status(&folder, &message_id).as_deref() == Some(last)).then_some(())
            })
            .await;
        }
        assert_eq!(
            receipt_status(&folder, &message_id).as_deref(),
            Some(last),
            "{fault:?}"
        );
        assert_eq!(
            s.sim().funds().receipts(fund, &message_id),
            history,
            "{fault:?}"
        );
        let counts = s.fed.claims(fund);
        assert_eq!(counts.deliveries, u64::from(delivered), "{fault:?}");
        if !delivered {
            assert_eq!(inbox_ack(&folder, &message_id), None);
        }
    }
}

#[tokio::test]
async fn a_fund_answering_202_sends_its_ack_over_sedex() {
    let s = Sim::start().await;
    s.start_sedex(Duration::ZERO);
    let later = s.fund_with(ClaimTransport::SyncThenSedex);
    let fund = *later.first().expect("a sync-202 fund");
    let folder = s.fed.sedex_folder(fund).expect("folder");
    let (status, body) = s.post(&fund.to_string(), CLAIM).await;
    assert_eq!((status, body.as_str()), (202, ""));
    let ack = wait_for("the acknowledgement in inbox/", || {
        inbox_ack(&folder, CLAIM_ID)
    })
    .await;
    assert!(field(&ack, "outcome").is_some(), "{ack}");
    let (status, _) = s.post(&fund.to_string(), CLAIM).await;
    assert_eq!(status, 202);
    let counts = s.fed.claims(fund);
    assert_eq!((counts.distinct, counts.deliveries), (1, 2));
    // A fund without sedex transport still answers on its listener.
    let (status, _) = s.post("025.000", CLAIM).await;
    assert_eq!(status, 200);
}

#[test]
fn the_shipped_adapters_say_how_each_fund_takes_claims_as_the_simulator_plays_it() {
    use guichet::adapter::SubmissionTransport;
    let mappings = MappingSet::load_dir(&repo().join("mappings")).expect("mappings");
    let registry = Registry::load_dir(&repo().join("adapters"), &mappings).expect("registry");
    let config =
        guichet::config::Config::load(&repo().join("config/guichet.toml")).expect("config");
    assert_eq!(
        config.simulator.sedex.dir,
        PathBuf::from(guichet::config::DEFAULT_SEDEX_DIR)
    );
    let mut seen = std::collections::BTreeMap::new();
    for office in guichet::sim::offices_of(&registry) {
        let adapter = registry.get(office.id).expect("adapter");
        let transport = transport_of(&office);
        let declared = adapter.submissions.as_ref();
        let folder = config.simulator.sedex.dir.join(office.id.to_string());
        match (transport, declared.map(|s| &s.transport)) {
            (None, None) => {}
            (Some(ClaimTransport::Sedex), Some(SubmissionTransport::Sedex)) => {
                let s = declared.expect("declared");
                assert_eq!(s.sedex_folder.as_ref(), Some(&folder));
                assert_eq!(
                    s.participant_id.as_deref(),
                    Some(office.id.participant_id("T6").as_str())
                );
            }
            // The acknowledgements that follow a `202` arrive in the fund's sedex folder.
            (Some(ClaimTransport::SyncThenSedex), Some(SubmissionTransport::Sync { .. })) => {
                let s = declared.expect("declared");
                assert_eq!(s.sedex_folder.as_ref(), Some(&folder));
            }
            (Some(ClaimTransport::Sync), Some(SubmissionTransport::Sync { .. })) => {
                assert_eq!(declared.and_then(|s| s.sedex_folder.as_ref()), None);
            }
            (t, d) => panic!("{}: simulator {t:?}, adapter {d:?}", office.id),
        }
        *seen.entry(format!("{transport:?}")).or_insert(0) += 1;
    }
    assert_eq!(seen["None"], 27, "{seen:?}");
    assert!(
        seen["Some(Sedex)"] >= 3 && seen["Some(SyncThenSedex)"] >= 3,
        "{seen:?}"
    );
    assert!(seen["Some(Sync)"] > 60, "{seen:?}");
}

#[tokio::test]
async fn adapters_written_for_a_federation_name_its_sedex_folders() {
    let s = Sim::start().await;
    s.start_sedex(Duration::ZERO);
    let to = s.dir.path().join("adapters");
    s.fed
        .write_adapters(&repo().join("adapters"), &to)
        .expect("adapters");
    let mappings = MappingSet::load_dir(&repo().join("mappings")).expect("mappings");
    let registry = Registry::load_dir(&to, &mappings).expect("registry");
    for (fund, transport) in [
        ("066.000", guichet::adapter::SubmissionTransport::Sedex),
        (
            "069.000",
            guichet::adapter::SubmissionTransport::Sync {
                path: Some("/apg/v1/claims".into()),
            },
        ),
    ] {
        let fund = id(fund);
        let declared = registry
            .get(fund)
            .and_then(|a| a.submissions.as_ref())
            .expect("submissions");
        assert_eq!(declared.transport, transport);
        assert_eq!(declared.sedex_folder, s.fed.sedex_folder(fund), "{fund}");
        assert!(declared.sedex_folder.is_some(), "{fund}");
    }
}

#[tokio::test]
async fn an_office_fault_answers_before_the_fund_and_is_not_a_delivery() {
    let s = Sim::start().await;
    let fund = id("025.000");
    s.sim().set_fault(fund, Some(Fault::Status(503)));
    let (status, _) = s.post("025.000", CLAIM).await;
    assert_eq!(status, 503);
    assert_eq!(s.fed.claims(fund).deliveries, 0);
    s.sim().set_fault(fund, None);
    let (status, ack) = s.post("025.000", CLAIM).await;
    assert_eq!(status, 200, "{ack}");
    let counts = s.fed.claims(fund);
    assert_eq!((counts.distinct, counts.deliveries), (1, 1));
}

/// The gateway's own `ech-apg` mapping renders the claim for `recipient`.
fn gateway_claim(recipient: OfficeId, message_id: &str, json: &str) -> String {
    use guichet::mapping::SubmissionParams;
    let set = MappingSet::load_dir(&repo().join("mappings")).expect("mappings");
    let claim =
        guichet::model::ApgClaim::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
    let form: serde_json::Value =
        serde_json::from_slice(&claim.canonical_json()).expect("canonical JSON");
    let params = SubmissionParams {
        sender_id: "T6-000000-1",
        recipient_id: &recipient.participant_id("T6"),
        message_id,
        business_process_id: "sub-01JF3Q8W6Z4K2M9T7R5V1X3B8N",
        message_date: "2026-11-26T14:02:11Z",
        test_delivery: true,
        routing_rule: "employee-current-affiliation",
        competent_office: recipient,
    };
    set.submission("ech-apg")
        .expect("ech-apg")
        .render(&params, &form)
        .expect("renders")
}

/// The gateway's own `ech-apg` mapping reads a fund's acknowledgement.
fn gateway_reads(ack: &str) -> guichet::model::ApgAck {
    let set = MappingSet::load_dir(&repo().join("mappings")).expect("mappings");
    set.submission("ech-apg")
        .expect("ech-apg")
        .read_ack(ack.as_bytes(), 64 * 1024)
        .unwrap_or_else(|e| panic!("the gateway cannot read the fund's ack: {e:?}\n{ack}"))
}

#[tokio::test]
async fn the_gateway_mapping_and_the_simulated_funds_understand_each_other() {
    use guichet::model::{AckOutcome, RejectReason};
    let s = Sim::start().await;
    let json = std::fs::read_to_string(repo().join("tests/fixtures/claims/apg-claim.json"))
        .expect("claim json");
    let first = id("025.000");
    let (status, ack) = s
        .post("025.000", &gateway_claim(first, CLAIM_ID, &json))
        .await;
    assert_eq!(status, 200, "{ack}");
    let read = gateway_reads(&ack);
    assert_eq!(read.reference_message_id, CLAIM_ID);
    assert_eq!(
        read.business_process_id.as_deref(),
        Some("sub-01JF3Q8W6Z4K2M9T7R5V1X3B8N")
    );
    let AckOutcome::Transferred { to, .. } = read.outcome else {
        panic!("transferred expected: {:?}", read.outcome);
    };
    let (status, ack) = s
        .post(&to.to_string(), &gateway_claim(to, CLAIM_ID, &json))
        .await;
    assert_eq!(status, 200, "{ack}");
    let read = gateway_reads(&ack);
    assert!(
        matches!(&read.outcome, AckOutcome::Accepted { case_number } if case_number.starts_with("APG-")),
        "{:?}",
        read.outcome
    );
    let other = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
    let (_, ack) = s
        .post(&to.to_string(), &gateway_claim(to, other, &json))
        .await;
    assert!(
        matches!(
            gateway_reads(&ack).outcome,
            AckOutcome::Rejected {
                reason: RejectReason::DuplicatePeriod,
                ..
            }
        ),
        "{ack}"
    );
    let bad = CLAIM
        .replace("CH9300762011623852957", "CH9300762011623852958")
        .replace(CLAIM_ID, "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98");
    let (_, ack) = s.post(&to.to_string(), &bad).await;
    assert!(
        matches!(
            gateway_reads(&ack).outcome,
            AckOutcome::Rejected {
                reason: RejectReason::InvalidData,
                ..
            }
        ),
        "{ack}"
    );
}

#[tokio::test]
async fn the_gateway_sedex_folder_and_the_simulated_sedex_client_understand_each_other() {
    use guichet::model::AckOutcome;
    use guichet::sedex::{Envelope, SedexFolder, SedexStatus};
    let s = Sim::start().await;
    s.start_sedex(Duration::ZERO);
    let sedex = s.fund_with(ClaimTransport::Sedex);
    let (vn, fund) = s.person_with(|f| sedex.contains(&f));
    let folder = SedexFolder::open(&s.fed.sedex_folder(fund).expect("folder")).expect("open");
    let claim = claim_for(vn, CLAIM_ID, "2026-10-05", "2026-10-23");
    let envelope = Envelope::new(
        CLAIM_ID,
        2014,
        0,
        "T6-000000-1",
        &fund.participant_id("T6"),
        time::OffsetDateTime::now_utc(),
    );
    folder.send(claim.as_bytes(), &envelope).expect("send");
    let receipt = wait_for("the final receipt", || {
        folder
            .receipt(CLAIM_ID)
            .expect("receipt readable")
            .filter(|r| r.status.is_final())
    })
    .await;
    assert_eq!(receipt.status, SedexStatus::Delivered);
    let message = wait_for("the acknowledgement in inbox/", || {
        folder
            .inbox()
            .expect("inbox")
            .into_iter()
            .next()
            .map(|m| m.expect("a readable pair"))
    })
    .await;
    assert_eq!(
        message.envelope.reference_message_id.as_deref(),
        Some(CLAIM_ID)
    );
    assert_eq!(message.envelope.sender_id, fund.participant_id("T6"));
    let ack = gateway_reads(&String::from_utf8(message.data).expect("utf-8"));
    assert_eq!(ack.reference_message_id, CLAIM_ID);
    assert!(
        matches!(ack.outcome, AckOutcome::Accepted { .. }),
        "{:?}",
        ack.outcome
    );
    folder
        .mark_processed(&message.envelope.message_id)
        .expect("processed");
    assert_eq!(s.fed.claims(fund).distinct, 1);
}

#[test]
fn claims_routed_by_the_simulated_register_are_accepted_where_they_arrive() {
    use guichet::model::ApgClaim;
    use guichet::routing::RoutingRules;
    use guichet::sim::apg::Outcome;
    let mappings = MappingSet::load_dir(&repo().join("mappings")).expect("mappings");
    let registry = Registry::load_dir(&repo().join("adapters"), &mappings).expect("registry");
    let rules = RoutingRules::load(&repo().join("config/routing/apg.toml")).expect("rules");
    let year = 2026;
    let sim = Simulator::new(guichet::sim::offices_of(&registry), Latency::ZERO, year);
    let json = std::fs::read_to_string(repo().join("tests/fixtures/claims/apg-claim.json"))
        .expect("claim json");
    let today = guichet::sim::register::today_for(year);
    let mut by_rule = std::collections::BTreeMap::<String, usize>::new();
    for serial in 1..=300u32 {
        let vn = Vn::from_serial(serial * 104_729);
        let text = json.replace("7561234567897", &vn.digits());
        let claim = ApgClaim::from_json(text.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
        let person = sim.person(vn);
        let register = guichet::sim::register::holdings(&person, year, today).to_answer();
        let decision = rules.decide(&claim, &register).expect("a rule decides");
        let fund = sim
            .offices()
            .iter()
            .find(|o| o.id == decision.office)
            .expect("a fund of the federation");
        let message_id = format!("00000000-0000-4000-8000-{serial:012}");
        let xml = gateway_claim(fund.id, &message_id, &text);
        let ack = sim
            .funds()
            .handle(fund, sim.offices(), year, |v| sim.person(v), xml.as_bytes())
            .expect("readable claim");
        assert!(
            matches!(ack.outcome, Outcome::Accepted { .. }),
            "serial {serial}: rule {} chose {}, the fund answered {:?}",
            decision.rule_id,
            fund.id,
            ack.outcome
        );
        *by_rule.entry(decision.rule_id.clone()).or_default() += 1;
    }
    assert!(by_rule.len() >= 2, "{by_rule:?}");
}
