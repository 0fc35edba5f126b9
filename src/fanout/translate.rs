//! CPU-heavy steps of a query kept off the reactor threads: translating a large answer
//! and merging a large account run on tokio's blocking pool, at most one per core at a
//! time, so that the accept loop, `/healthz` and other queries are not delayed by one
//! office sending tens of thousands of entries (issue #12). Small answers and accounts,
//! the normal case, are handled in place: handing them over would cost more than it saves.
//! This module owns no wire format: the mapping translates, the merge merges.

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use super::error::CallError;
use crate::adapter::Adapter;
use crate::mapping::AnswerErrorKind;
use crate::merge::{ConsolidatedAccount, YearRange, merge};
use crate::model::{Answer, OfficeOutcome, Vn};

/// Answers of at least this many bytes are translated on the blocking pool (about 800
/// IK entries; a translation this size takes about a millisecond in a release build).
pub const OFFLOAD_ANSWER_BYTES: usize = 256 * 1024;

/// Accounts of at least this many entries and cases (all offices together) are merged
/// on the blocking pool.
pub const OFFLOAD_MERGE_RECORDS: usize = 2_000;

/// One permit per core: heavy work never takes more CPUs than the machine has, whatever
/// the number of such queries in flight (the others wait, without holding a reactor thread).
fn heavy_slots() -> Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    Arc::clone(SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Arc::new(Semaphore::new(cores))
    }))
}

/// Runs `work` on the blocking pool within a heavy slot. A panic inside is resumed here,
/// as if `work` had run in place.
async fn offload<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    // The semaphore is never closed; were it, the work would run without a slot.
    let permit = heavy_slots().acquire_owned().await.ok();
    let handle = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    });
    match handle.await {
        Ok(value) => value,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only when the runtime shuts down before the task ran; so does this task.
            Err(_) => std::panic::resume_unwind(Box::new("blocking pool shut down")),
        },
    }
}

/// Translates one office's answer (already read within the adapter's byte limit),
/// taking at most `max_records` IK entries and IV cases.
pub(crate) async fn answer(
    adapter: &Adapter,
    body: Vec<u8>,
    max_records: usize,
) -> Result<Answer, CallError> {
    let (mapping, office, limit) = (
        Arc::clone(&adapter.mapping),
        adapter.office,
        adapter.max_answer_bytes,
    );
    let heavy = body.len() >= OFFLOAD_ANSWER_BYTES;
    let translate = move || mapping.translate_capped(office, &body, limit, max_records);
    let result = if heavy {
        offload(translate).await
    } else {
        translate()
    };
    result.map_err(|e| match e.kind {
        AnswerErrorKind::TooManyRecords { limit } => CallError::TooManyRecords(limit),
        _ => CallError::Answer(e.redacted()),
    })
}

/// Merges the outcomes of one query, on the blocking pool when the account is large.
pub(crate) async fn account(
    vn: Vn,
    outcomes: Vec<OfficeOutcome>,
    range: YearRange,
) -> ConsolidatedAccount {
    let records: usize = outcomes
        .iter()
        .map(|o| o.entries.len() + o.iv_cases.len())
        .sum();
    if records >= OFFLOAD_MERGE_RECORDS {
        offload(move || merge(vn, outcomes, range)).await
    } else {
        merge(vn, outcomes, range)
    }
}
