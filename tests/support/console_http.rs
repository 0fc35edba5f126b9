//! Plain HTTP/1.1 to the operations listener for the console tests: one request per
//! connection, no redirects followed, cookies handled by the test itself — what a
//! browser would send, nothing more.
#![allow(dead_code)]

use std::net::SocketAddr;

#[path = "http1.rs"]
mod http1;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The session cookie this answer sets (`name=value`).
    pub fn cookie(&self) -> Option<String> {
        let c = self.header("set-cookie")?;
        c.split(';').next().map(|s| s.trim().to_owned())
    }

    /// The value of the first `name="csrf"` hidden field.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a token");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("end of value")].to_owned()
    }
}

/// Sends one request; `form` is an `application/x-www-form-urlencoded` body.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Resp {
    let mut headers = Vec::new();
    if let Some(c) = cookie {
        headers.push(("Cookie".to_owned(), c.to_owned()));
    }
    if form.is_some() {
        headers.push((
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ));
    }
    let request = http1::request(
        method,
        target,
        &addr.to_string(),
        &headers,
        form.unwrap_or(""),
    );
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(&request).await.expect("write");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.expect("read");
    let answer: http1::Answer<Vec<(String, String)>> = http1::parse(&raw);
    Resp {
        status: answer.status,
        headers: answer.headers,
        body: String::from_utf8(answer.body).expect("utf-8 answer"),
    }
}

pub async fn get(addr: SocketAddr, target: &str, cookie: Option<&str>) -> Resp {
    send(addr, "GET", target, cookie, None).await
}

pub async fn post(addr: SocketAddr, target: &str, cookie: &str, form: &str) -> Resp {
    send(addr, "POST", target, Some(cookie), Some(form)).await
}

/// AHV numbers in text: the dotted form `756.NNNN.NNNN.NN`, or thirteen digits from 756.
pub fn ahv_numbers(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    for i in 0..b.len() {
        if !b[i..].starts_with(b"756") || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            continue;
        }
        let rest = &text[i..];
        let dotted = rest.len() >= 16
            && rest.as_bytes()[3] == b'.'
            && rest.as_bytes()[8] == b'.'
            && rest.as_bytes()[13] == b'.'
            && rest[..16].bytes().filter(u8::is_ascii_digit).count() == 13;
        let plain = rest.len() >= 13
            && rest.as_bytes()[..13].iter().all(u8::is_ascii_digit)
            && rest
                .as_bytes()
                .get(13)
                .is_none_or(|c| !c.is_ascii_alphanumeric());
        if dotted || plain {
            found.push(rest[..if dotted { 16 } else { 13 }].to_owned());
        }
    }
    found
}

/// Whether `word` occurs in `text` as a whole word.
pub fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}
