//! Crash points for the exactly-once tests: with `GUICHET_CRASH_AT=<point>` in its
//! environment, a debug build of the gateway stops at that point of a delivery — it
//! prints `guichet: crash point <point> reached` on standard error and blocks — so that
//! the test can `kill -9` it exactly there and restart it. Release builds compile the
//! points to nothing; the variable is never read there.

/// Where a delivery can be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The claim is stored, nothing is sent yet.
    BeforeSend,
    /// Sedex: the data file is written, the envelope is not.
    BetweenDataAndEnvelope,
    /// Sent (the fund has it), its answer is not recorded yet.
    AfterSend,
    /// The outcome is known, not yet in the store.
    BeforeRecord,
}

impl CrashPoint {
    /// The value of `GUICHET_CRASH_AT` that selects it.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::BeforeSend => "before-send",
            CrashPoint::BetweenDataAndEnvelope => "between-data-and-envelope",
            CrashPoint::AfterSend => "after-send",
            CrashPoint::BeforeRecord => "before-record",
        }
    }
}

/// Stops here for good when `GUICHET_CRASH_AT` names `p` (debug builds only).
#[cfg(debug_assertions)]
pub(super) fn point(p: CrashPoint) {
    if std::env::var("GUICHET_CRASH_AT").is_ok_and(|v| v == p.name()) {
        eprintln!("guichet: crash point {} reached", p.name());
        loop {
            std::thread::park();
        }
    }
}

/// Release builds: nothing.
#[cfg(not(debug_assertions))]
pub(super) fn point(_: CrashPoint) {}
