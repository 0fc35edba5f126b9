//! HTTP/1.1 written and read by hand (shared by `routes` and the console tests'
//! `console_http`): a request that closes its connection, and an answer split into its
//! status, headers (lower-case names) and body — what goes over the wire, nothing more.
#![allow(dead_code)]

/// A request for `target` on `host` with `headers` in order and `body` with its length;
/// the connection closes after the answer.
pub fn request(
    method: &str,
    target: &str,
    host: &str,
    headers: &[(String, String)],
    body: &str,
) -> Vec<u8> {
    let mut r = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    r.into_bytes()
}

/// An answer: status, headers (lower-case names, in a `Vec` or a map) and body.
#[derive(Debug)]
pub struct Answer<H> {
    pub status: u16,
    pub headers: H,
    pub body: Vec<u8>,
}

/// Splits a whole answer at its blank line (panics when the answer has none).
pub fn parse<H: FromIterator<(String, String)>>(raw: &[u8]) -> Answer<H> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}
