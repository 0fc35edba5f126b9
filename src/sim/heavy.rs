//! A pathological but valid account: many entries, a share of them reversals that cancel
//! nothing. It is what a hostile or broken office can send well under its size limit, and
//! what the merge, the off-reactor translation and the benchmarks are measured against.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::Response;
use hyper::body::Frame;

use super::render::RenderError;
use super::{Person, SimOffice, SimRequest, render_answer};
use crate::model::{IkEntry, IncomeCode, Money, Month, OfficeId};

/// `entries` IK entries of `office`, of which `unmatched_reversals` are reversals that
/// match no entry; of the rest, every fourth is a reversal cancelling the entry before it.
/// Deterministic, no two entries identical, years 1990–2023, ten employer accounts.
pub fn heavy_entries(office: OfficeId, entries: usize, unmatched_reversals: usize) -> Vec<IkEntry> {
    let unmatched = unmatched_reversals.min(entries);
    let normal = entries - unmatched;
    let mut out = Vec::with_capacity(entries);
    for i in 0..normal {
        let reversal = i % 4 == 3;
        // A reversal repeats the key of the entry before it, with the opposite amount.
        let base = if reversal { i - 1 } else { i };
        let amount = 100 * (base as i64 + 1);
        out.push(line(
            office,
            base,
            reversal,
            if reversal { -amount } else { amount },
        ));
    }
    for j in 0..unmatched {
        // Odd centimes: no normal entry (whole francs) has the opposite amount.
        let amount = -(100 * (j as i64 + 1) + 1);
        out.push(line(office, j, true, amount));
    }
    out
}

/// The person's account at `office` replaced by a heavy one, rendered on the blocking
/// pool (megabytes of XML: the simulator must not stall its own reactor either).
pub(super) async fn render(
    office: &SimOffice,
    person: &Person,
    request: SimRequest,
    entries: usize,
    unmatched_reversals: usize,
) -> Result<Vec<u8>, RenderError> {
    let (office, mut person) = (office.clone(), person.clone());
    tokio::task::spawn_blocking(move || {
        let heavy = heavy_entries(office.id, entries, unmatched_reversals);
        person.accounts.insert(office.id, heavy);
        render_answer(&office.dialect, &office, &person, &request)
    })
    .await
    .unwrap_or(Err(RenderError::Interrupted))
}

/// Sends `body` in 256 KiB frames and counts it in `sent` once its last frame is taken.
pub(super) fn counted(body: Bytes, sent: Arc<AtomicU64>) -> Response<BoxBody<Bytes, Infallible>> {
    const FRAME: usize = 256 * 1024;
    let stream = futures_util::stream::unfold(body, move |mut rest| {
        let sent = Arc::clone(&sent);
        async move {
            if rest.is_empty() {
                return None;
            }
            let head = rest.split_to(FRAME.min(rest.len()));
            if rest.is_empty() {
                sent.fetch_add(1, Ordering::Relaxed);
            }
            Some((Ok::<_, Infallible>(Frame::data(head)), rest))
        }
    });
    Response::builder()
        .header("content-type", "application/xml")
        .body(StreamBody::new(stream).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

fn line(office: OfficeId, i: usize, reversal: bool, centimes: i64) -> IkEntry {
    let month = (i % 12) as u8 + 1;
    let code =
        IncomeCode::new(u8::from(reversal), 1).expect("digits 0–1 and 1 form an income code");
    IkEntry {
        year: 1990 + (i % 34) as u16,
        office,
        account_number: format!("{:04}.{:03}", 1000 + (i / 34) % 10, i % 7),
        month_from: Month::Known(month),
        month_to: Month::Known(month),
        income_code: code,
        income: Money(centimes),
        care_credit_fraction: None,
        employer: None,
        booking_date: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_no_identical_entries() {
        let office = OfficeId::new(25, 0).expect("office");
        let mut all = heavy_entries(office, 36_000, 12_000);
        assert_eq!(all.len(), 36_000);
        assert_eq!(
            all.iter().filter(|e| e.income_code.is_reversal()).count(),
            12_000 + 24_000 / 4
        );
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 36_000);
    }
}
