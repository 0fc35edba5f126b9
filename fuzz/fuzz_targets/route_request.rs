//! Arbitrary HTTP requests through the router's matching and parsing layer
//! (`guichet::server::inspect`): method, request target (path and query) and header
//! lines. The property: no panic, and a refusal is a `4xx` problem document.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Line 1: method; line 2: request target; the rest: `name: value` header lines.
    let mut lines = data.split(|b| *b == b'\n');
    let method = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let target = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let headers: Vec<(&[u8], &[u8])> = lines
        .filter_map(|l| {
            let colon = l.iter().position(|b| *b == b':')?;
            let (name, value) = l.split_at(colon);
            Some((name, value[1..].trim_ascii()))
        })
        .collect();
    if let Err(problem) = guichet::server::inspect(&method, &target, &headers) {
        assert!(problem.status.is_client_error(), "{}", problem.status);
        let response = problem.into_response();
        assert!(response.status().is_client_error());
    }
});
