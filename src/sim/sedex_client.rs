//! A simulated sedex client per sedex fund (issue #15, contract "The sedex file
//! interface"): the gateway shares the fund's folder `<root>/<office>/` with `outbox/`,
//! `inbox/`, `receipts/` and `processed/`.
//!
//! - The client polls `outbox/` and takes a message only once its envelope
//!   `envl_<id>.xml` is there next to `data_<id>.xml` (a data file alone is left alone:
//!   the sender is still writing). It removes the pair and writes `receipts/
//!   receipt_<id>.xml` (eCH-0090 v2): `601` at once, then after the configured delay
//!   `100` once the message is in the fund's inbox, replacing the file atomically.
//! - The fund decides on the claim ([`super::apg::Funds::handle`], idempotent by
//!   `messageId`, so a message sent twice is delivered twice and acknowledged the same),
//!   and its acknowledgement arrives in `inbox/` as `data_<id>.xml` then `envl_<id>.xml`
//!   (eCH-0090 v1). A fund answering `202` on its listener sends its acknowledgement the
//!   same way.
//! - Faults (fault file kinds, [`super::Fault`]): `sedex-lost-receipt` (no `100`; the
//!   acknowledgement still comes), `sedex-transient` (a `4xx`/`5xx` receipt, then
//!   delivery and `100`), `sedex-expire` (never delivered: `701`, then the final `204`).
//! - An envelope that cannot be read gets `200`; an envelope without its data `202`; an
//!   envelope for another participant than the fund `301` — all final, nothing delivered.
//!
//! Every file is written under a temporary dot-name in the same folder and renamed into
//! place, so a reader never sees half a file.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quick_xml::Reader;
use quick_xml::events::Event;
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;
use tokio::sync::watch;

use super::apg::{Ack, ClaimTransport, SedexSetup, transport_of};
use super::behaviour::Fault;
use super::population::SimOffice;
use super::server::Simulator;
use crate::model::OfficeId;

/// The four folders of a sedex client.
pub const FOLDERS: [&str; 4] = ["outbox", "inbox", "receipts", "processed"];

const UTC_SECONDS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// How the simulated sedex clients run.
#[derive(Debug, Clone)]
pub struct SedexOptions {
    /// Each sedex fund's folder is `<root>/<office>/` (created with its four folders).
    pub root: PathBuf,
    /// Time from pickup to delivery (and between the steps of a fault); `0` in tests.
    pub delay: Duration,
    /// How often `outbox/` is looked at.
    pub poll: Duration,
}

impl SedexOptions {
    /// Delivery after `delay`, `outbox/` looked at every 20 ms.
    pub fn new(root: impl Into<PathBuf>, delay: Duration) -> SedexOptions {
        SedexOptions {
            root: root.into(),
            delay,
            poll: Duration::from_millis(20),
        }
    }
}

/// Why the sedex folders could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("sedex folder {path}: {source}")]
pub struct SedexError {
    /// The folder.
    pub path: String,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

/// Creates the folders of every fund that uses sedex and returns the setup.
pub(crate) fn prepare(
    offices: &[SimOffice],
    options: &SedexOptions,
) -> Result<SedexSetup, SedexError> {
    let mut folders = HashMap::new();
    let mut transports = HashMap::new();
    for o in offices {
        let Some(t) = transport_of(o) else { continue };
        transports.insert(o.id, t);
        if !t.uses_sedex() {
            continue;
        }
        let dir = folder_of(&options.root, o.id);
        for sub in FOLDERS {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| SedexError {
                path: path.display().to_string(),
                source,
            })?;
        }
        folders.insert(o.id, dir);
    }
    Ok(SedexSetup {
        folders,
        transports,
        delay: options.delay,
    })
}

/// Starts one client per sedex-only fund of `setup`, until `stop` turns true.
pub(crate) fn spawn_clients(
    sim: &Arc<Simulator>,
    setup: &SedexSetup,
    poll: Duration,
    stop: &watch::Receiver<bool>,
) {
    for (office, dir) in &setup.folders {
        if setup.transports.get(office) != Some(&ClaimTransport::Sedex) {
            continue;
        }
        let Some(fund) = sim.offices().iter().find(|o| o.id == *office).cloned() else {
            continue;
        };
        tokio::spawn(watch_outbox(
            Arc::clone(sim),
            fund,
            dir.clone(),
            setup.delay,
            poll,
            stop.clone(),
        ));
    }
}

async fn watch_outbox(
    sim: Arc<Simulator>,
    fund: SimOffice,
    dir: PathBuf,
    delay: Duration,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(poll.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        for (id, taken) in take_ready(&dir.join("outbox")) {
            let job = Job {
                sim: Arc::clone(&sim),
                fund: fund.clone(),
                dir: dir.clone(),
                delay,
            };
            tokio::spawn(job.run(id, taken));
        }
    }
}

/// What was found for one envelope in `outbox/`.
enum Taken {
    /// Envelope and data.
    Pair { envelope: Vec<u8>, data: Vec<u8> },
    /// An envelope whose data file is missing.
    NoData,
}

/// Removes every complete pair (and every envelope without data) from `outbox`.
fn take_ready(outbox: &Path) -> Vec<(String, Taken)> {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| Some(n.strip_prefix("envl_")?.strip_suffix(".xml")?.to_owned()))
        .collect();
    ids.sort();
    let mut out = Vec::new();
    for id in ids {
        let envl = outbox.join(format!("envl_{id}.xml"));
        let data = outbox.join(format!("data_{id}.xml"));
        let Ok(envelope) = std::fs::read(&envl) else {
            continue;
        };
        let taken = match std::fs::read(&data) {
            Ok(data) => Taken::Pair { envelope, data },
            Err(_) => Taken::NoData,
        };
        if std::fs::remove_file(&envl).is_err() {
            continue;
        }
        let _ = std::fs::remove_file(&data);
        out.push((id, taken));
    }
    out
}

/// The fields of an eCH-0090 envelope the client needs.
#[derive(Debug, Default, PartialEq, Eq)]
struct Envelope {
    message_id: String,
    message_type: String,
    message_class: String,
    reference_message_id: String,
    sender_id: String,
    recipient_id: String,
}

fn read_envelope(bytes: &[u8]) -> Option<Envelope> {
    let text = super::render::decode(bytes).ok()?;
    let mut reader = Reader::from_str(&text);
    let mut env = Envelope::default();
    let mut current: Option<&mut String> = None;
    loop {
        match reader.read_event().ok()? {
            Event::DocType(_) => return None,
            Event::Start(s) => {
                current = match s.local_name().into_inner() {
                    b"messageId" => Some(&mut env.message_id),
                    b"messageType" => Some(&mut env.message_type),
                    b"messageClass" => Some(&mut env.message_class),
                    b"referenceMessageId" => Some(&mut env.reference_message_id),
                    b"senderId" => Some(&mut env.sender_id),
                    b"recipientId" => Some(&mut env.recipient_id),
                    _ => None,
                };
            }
            Event::Text(t) => {
                if let Some(field) = current.as_mut() {
                    field.push_str(t.xml_content().ok()?.trim());
                }
            }
            Event::End(_) => current = None,
            Event::Eof => break,
            _ => {}
        }
    }
    (!env.message_id.is_empty() && !env.recipient_id.is_empty()).then_some(env)
}

/// One message taken from `outbox/`, on its way to the fund.
struct Job {
    sim: Arc<Simulator>,
    fund: SimOffice,
    dir: PathBuf,
    delay: Duration,
}

impl Job {
    async fn run(self, id: String, taken: Taken) {
        let Taken::Pair { envelope, data } = taken else {
            let env = Envelope {
                message_id: id,
                ..Envelope::default()
            };
            self.receipt(&env, 202, "No payload found");
            return;
        };
        let Some(env) = read_envelope(&envelope) else {
            let env = Envelope {
                message_id: id,
                ..Envelope::default()
            };
            self.receipt(&env, 200, "Invalid envelope syntax");
            return;
        };
        if env.recipient_id != self.fund.id.participant_id("T6") {
            self.receipt(&env, 301, "Unknown recipient ID");
            return;
        }
        self.receipt(&env, 601, "Message sent, not yet delivered");
        let fault = self.sim.fault(self.fund.id);
        match fault {
            Some(Fault::SedexExpire) => {
                tokio::time::sleep(self.delay).await;
                self.receipt(&env, 701, "Message will expire soon");
                tokio::time::sleep(self.delay).await;
                self.receipt(&env, 204, "Message expired");
                return;
            }
            Some(Fault::SedexTransient(status)) => {
                tokio::time::sleep(self.delay).await;
                self.receipt(&env, status, "Recipient temporarily unreachable");
            }
            _ => {}
        }
        tokio::time::sleep(self.delay).await;
        let ack = self.sim.funds().handle(
            &self.fund,
            self.sim.offices(),
            self.sim.reference_year(),
            |vn| self.sim.person(vn),
            &data,
        );
        if fault != Some(Fault::SedexLostReceipt) {
            self.receipt(&env, 100, "Message successfully transmitted");
        }
        match ack {
            Ok(ack) => {
                if let Err(e) = put_ack(&self.dir, &self.fund, &ack) {
                    tracing::warn!(office = %self.fund.id, error = %e, "simulated sedex client: cannot write the acknowledgement");
                }
            }
            Err(e) => {
                tracing::debug!(office = %self.fund.id, error = %e, "simulated fund: unreadable claim over sedex");
            }
        }
    }

    fn receipt(&self, env: &Envelope, status: u16, info: &str) {
        let path = self
            .dir
            .join("receipts")
            .join(format!("receipt_{}.xml", safe_name(&env.message_id)));
        self.sim
            .funds()
            .record_receipt(self.fund.id, &env.message_id, status);
        if let Err(e) = write_atomically(&path, render_receipt(env, status, info).as_bytes()) {
            tracing::warn!(office = %self.fund.id, error = %e, "simulated sedex client: cannot write a receipt");
        }
    }
}

/// Sends a fund's acknowledgement after `delay` (a fund that answered `202`).
pub(crate) fn send_ack_later(setup: &SedexSetup, fund: SimOffice, ack: Arc<Ack>) {
    let Some(dir) = setup.folders.get(&fund.id).cloned() else {
        return;
    };
    let delay = setup.delay;
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if let Err(e) = put_ack(&dir, &fund, &ack) {
            tracing::warn!(office = %fund.id, error = %e, "simulated sedex client: cannot write the acknowledgement");
        }
    });
}

/// Puts `ack` into `inbox/`: the data file, then the envelope.
fn put_ack(dir: &Path, fund: &SimOffice, ack: &Ack) -> std::io::Result<()> {
    let inbox = dir.join("inbox");
    let id = safe_name(&ack.message_id);
    write_atomically(&inbox.join(format!("data_{id}.xml")), &ack.xml)?;
    let env = Envelope {
        message_id: ack.message_id.clone(),
        message_type: "2014".to_owned(),
        message_class: "0".to_owned(),
        reference_message_id: ack.claim_message_id.clone(),
        sender_id: fund.id.participant_id("T6"),
        recipient_id: ack.recipient_id.clone(),
    };
    write_atomically(
        &inbox.join(format!("envl_{id}.xml")),
        render_envelope(&env).as_bytes(),
    )
}

/// A message id usable in a file name (ids are UUIDs; anything else is replaced by `_`).
fn safe_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(UTC_SECONDS)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// An eCH-0090 v2 receipt in the style of `sedex-receipt.xml`.
fn render_receipt(env: &Envelope, status: u16, info: &str) -> String {
    let mut out = String::with_capacity(600);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <receipt xmlns=\"http://www.ech.ch/xmlns/eCH-0090/2\" version=\"2.0\">\n",
    );
    let i = "  ";
    let text = super::apg::ack::text;
    text(&mut out, i, "eventDate", &now());
    text(&mut out, i, "statusCode", &status.to_string());
    text(&mut out, i, "statusInfo", info);
    text(&mut out, i, "messageId", &env.message_id);
    for (name, value) in [
        ("messageType", &env.message_type),
        ("messageClass", &env.message_class),
        ("senderId", &env.sender_id),
        ("recipientId", &env.recipient_id),
    ] {
        if !value.is_empty() {
            text(&mut out, i, name, value);
        }
    }
    out.push_str("</receipt>\n");
    out
}

/// An eCH-0090 v1 envelope in the style of `sedex-envelope.xml`.
fn render_envelope(env: &Envelope) -> String {
    let mut out = String::with_capacity(600);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <eCH-0090:envelope xmlns:eCH-0090=\"http://www.ech.ch/xmlns/eCH-0090/1\" version=\"1.0\">\n",
    );
    let i = "  ";
    let text = super::apg::ack::text;
    let date = now();
    text(&mut out, i, "eCH-0090:messageId", &env.message_id);
    text(&mut out, i, "eCH-0090:messageType", &env.message_type);
    text(&mut out, i, "eCH-0090:messageClass", &env.message_class);
    if !env.reference_message_id.is_empty() {
        text(
            &mut out,
            i,
            "eCH-0090:referenceMessageId",
            &env.reference_message_id,
        );
    }
    text(&mut out, i, "eCH-0090:senderId", &env.sender_id);
    text(&mut out, i, "eCH-0090:recipientId", &env.recipient_id);
    text(&mut out, i, "eCH-0090:eventDate", &date);
    text(&mut out, i, "eCH-0090:messageDate", &date);
    out.push_str("</eCH-0090:envelope>\n");
    out
}

/// Writes `bytes` to a dot-named temporary file next to `path`, syncs it and renames it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The folder of `office` under `root` (as [`prepare`] creates it).
pub fn folder_of(root: &Path, office: OfficeId) -> PathBuf {
    root.join(office.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_envelope_and_writes_receipts_like_the_example() {
        let env = read_envelope(include_bytes!(
            "../../tests/fixtures/contract/sedex-envelope.xml"
        ))
        .expect("envelope");
        assert_eq!(env.message_id, "4e7d2a90-1c3b-4a5e-8f6d-7b9c0a1e2f04");
        assert_eq!(env.recipient_id, "T6-066000-1");
        assert_eq!(env.sender_id, "T6-000000-1");
        let receipt = render_receipt(&env, 100, "Message successfully transmitted");
        let example = String::from_utf8_lossy(include_bytes!(
            "../../tests/fixtures/contract/sedex-receipt.xml"
        ))
        .into_owned();
        let strip_date = |s: &str| {
            s.lines()
                .filter(|l| !l.contains("eventDate"))
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip_date(&receipt), strip_date(&example));
        let answer = Envelope {
            reference_message_id: env.message_id.clone(),
            ..Envelope::default()
        };
        let answer = Envelope {
            message_id: "ack-1".into(),
            recipient_id: "T6-000000-1".into(),
            ..answer
        };
        let back = read_envelope(render_envelope(&answer).as_bytes()).expect("own envelope");
        assert_eq!(back, answer);
        assert_eq!(read_envelope(b"<!DOCTYPE x><x/>"), None);
        assert_eq!(read_envelope(b"<envelope/>"), None);
    }

    #[test]
    fn takes_only_complete_pairs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = dir.path();
        std::fs::write(outbox.join("data_a.xml"), b"<a/>").expect("write");
        assert!(take_ready(outbox).is_empty(), "data alone stays");
        assert!(outbox.join("data_a.xml").exists());
        std::fs::write(outbox.join("envl_a.xml"), b"<e/>").expect("write");
        std::fs::write(outbox.join("envl_b.xml"), b"<e/>").expect("write");
        let taken = take_ready(outbox);
        assert_eq!(taken.len(), 2);
        assert!(matches!(taken[0], (ref id, Taken::Pair { .. }) if id == "a"));
        assert!(matches!(taken[1], (ref id, Taken::NoData) if id == "b"));
        assert_eq!(std::fs::read_dir(outbox).expect("list").count(), 0);
    }
}
