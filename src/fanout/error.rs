//! Why one office call failed: the typed `CallError`, the exchange `Step` it names, and
//! its classification (retryable, size cap, from a `reqwest`/`rustls` error). No I/O
//! here; messages carry no personal data and no OS error text.

use crate::tls::{OfficeCertError, describe_handshake_error, office_cert_error};

/// The step of an office exchange that failed; the conformance probe names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The TCP connection could not be made.
    Connect,
    /// The TLS handshake failed (chain, expiry, revocation, protocol).
    Tls,
    /// The certificate is valid but not the office's (or not the pinned one).
    Identity,
    /// The office answered with another status than `200` (redirects included).
    HttpStatus,
    /// The connection broke during the exchange.
    Transport,
    /// The answer is too large, does not translate or is about another person.
    Translation,
    /// No answer within the time allowed.
    Timeout,
}

impl Step {
    /// `connect`, `tls`, `identity`, `http-status`, `transport`, `translation`, `timeout`.
    pub fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Tls => "tls",
            Step::Identity => "identity",
            Step::HttpStatus => "http-status",
            Step::Transport => "transport",
            Step::Translation => "translation",
            Step::Timeout => "timeout",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why one office call failed. Messages carry no personal data and no OS error text
/// (a probe must not tell a refused port from a filtered one in the OS's words).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The connection could not be made.
    #[error("could not connect to the office")]
    Connect,
    /// The handshake failed for another reason than the office's identity.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The office presented a federation certificate that is not its own (or not the
    /// pinned one): the handshake was aborted, nothing was sent.
    #[error("{0}; nothing was sent")]
    Identity(OfficeCertError),
    /// The office answered with a redirect, which is never followed.
    #[error("redirect refused (HTTP {0})")]
    Redirect(u16),
    /// The office answered with another status than 200.
    #[error("HTTP {0}")]
    Status(u16),
    /// The connection broke after it was made.
    #[error("the connection broke during the exchange")]
    Transport,
    /// The answer exceeds the adapter's size limit.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    /// The answer holds more IK entries and IV cases than the gateway takes from one.
    #[error("answer too large: more than {0} IK entries and IV cases")]
    TooManyRecords(usize),
    /// The answer does not translate (redacted: no values).
    #[error("{0}")]
    Answer(String),
    /// The office's HTTP client could not be built.
    #[error("cannot build the office client")]
    Client,
}

impl CallError {
    /// Which step failed.
    pub fn step(&self) -> Step {
        match self {
            CallError::Connect | CallError::Client => Step::Connect,
            CallError::Tls(_) => Step::Tls,
            CallError::Identity(_) => Step::Identity,
            CallError::Redirect(_) | CallError::Status(_) => Step::HttpStatus,
            CallError::Transport => Step::Transport,
            CallError::TooLarge(_) | CallError::TooManyRecords(_) | CallError::Answer(_) => {
                Step::Translation
            }
        }
    }

    /// The size cap that refused the answer, as a metric label.
    pub(super) fn cap(&self) -> Option<&'static str> {
        match self {
            CallError::TooLarge(_) => Some("byte-limit"),
            CallError::TooManyRecords(_) => Some("entry-cap"),
            _ => None,
        }
    }

    /// Worth another try: the office said so (`503`) or was not reached at all.
    pub(super) fn retryable(&self) -> bool {
        matches!(self, CallError::Connect | CallError::Status(503))
    }

    /// Classifies a failed request: a handshake refused for the office's identity, another
    /// TLS failure, no connection, or a connection that broke later.
    pub(super) fn from_reqwest(e: &reqwest::Error) -> CallError {
        // `io::Error::source` skips the error it wraps, so io errors are opened by hand.
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(tls) = err.downcast_ref::<rustls::Error>() {
                return match office_cert_error(tls) {
                    Some(id) => CallError::Identity(id.clone()),
                    None => CallError::Tls(describe_handshake_error(tls)),
                };
            }
            cur = match err.downcast_ref::<std::io::Error>() {
                Some(io) => io
                    .get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static)),
                None => err.source(),
            };
        }
        if e.is_connect() {
            CallError::Connect
        } else {
            CallError::Transport
        }
    }
}
