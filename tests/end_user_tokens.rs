//! End-user tokens bound to the portal's certificate (issue #14), over real mutual TLS
//! against 101 simulated offices. Every token here is minted by the test itself, with keys
//! it generates (aws-lc-rs) and signs with `jsonwebtoken`: none comes from the code under
//! test. A token is accepted only when every check passes; each refusal is a `401` whose
//! `WWW-Authenticate` names the failed check, another person's token is a `403`, and in
//! neither case is any office asked. The JWKS rotates without a restart.

mod common;

#[path = "support/captured_logs.rs"]
mod captured_logs;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use captured_logs::LOGS;
use common::{Federation, Options};
use guichet::model::Vn;
use guichet::pki::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://login.test.invalid";
const AUDIENCE: &str = "urn:guichet:gateway:test";
const ACR_OK: &str = "urn:test:loa:substantial";
const SKEW: u64 = 60;
/// Bound for an awaited event (a JWKS poll); the tests assert what happens, never how fast.
const PATIENCE: Duration = Duration::from_secs(30);

/// A signing key of the test's own identity provider and its public JWK.
struct TestKey {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    jwk: Value,
}

fn es256(kid: &str) -> TestKey {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let alg = &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("ec key");
    let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("pair");
    let point = pair.public_key().as_ref(); // 0x04 || x || y
    TestKey {
        kid: kid.to_owned(),
        alg: Algorithm::ES256,
        key: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                    "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])}),
    }
}

fn rs256(kid: &str) -> TestKey {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().expect("pkcs8");
    let public = pair.public_key();
    TestKey {
        kid: kid.to_owned(),
        alg: Algorithm::RS256,
        key: EncodingKey::from_rsa_der(pkcs1_of_pkcs8(pkcs8.as_ref())),
        jwk: json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": B64.encode(public.exponent().big_endian_without_leading_zero())}),
    }
}

/// The RSAPrivateKey (PKCS#1) inside a PKCS#8 PrivateKeyInfo: SEQUENCE { INTEGER version,
/// SEQUENCE algorithm, OCTET STRING privateKey }.
fn pkcs1_of_pkcs8(der: &[u8]) -> &[u8] {
    fn tlv(b: &[u8]) -> (u8, &[u8], &[u8]) {
        let (len, head) = match b[1] {
            n if n < 0x80 => (usize::from(n), 2),
            n => {
                let k = usize::from(n & 0x7f);
                (
                    b[2..2 + k].iter().fold(0, |a, x| a << 8 | usize::from(*x)),
                    2 + k,
                )
            }
        };
        (b[0], &b[head..head + len], &b[head + len..])
    }
    let (_, info, _) = tlv(der);
    let (_, _, rest) = tlv(info); // version
    let (_, _, rest) = tlv(rest); // algorithm
    let (tag, key, _) = tlv(rest);
    assert_eq!(tag, 0x04, "privateKey is an OCTET STRING");
    key
}

/// Writes the JWKS of `keys` where the gateway reads it, atomically.
fn publish(path: &Path, keys: &[&TestKey]) {
    let set = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&set).expect("json")).expect("write jwks");
    std::fs::rename(&tmp, path).expect("rename jwks");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// `x5t#S256` of the first certificate of a PEM file, computed here.
fn thumbprint(cert: &Path) -> String {
    let pem = std::fs::read_to_string(cert).expect("cert");
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("der");
    B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der).as_ref())
}

/// Valid claims for `vn`, bound to the certificate with thumbprint `cnf`.
fn claims(vn: Vn, cnf: &str) -> Value {
    let t = now();
    json!({"iss": ISSUER, "sub": format!("subject-{}", vn.serial()), "aud": AUDIENCE,
           "iat": t, "nbf": t, "exp": t + 300, "acr": ACR_OK,
           "cnf": {"x5t#S256": cnf}, "ahvn13": vn.digits()})
}

fn remove(claims: &mut Value, name: &str) {
    if let Some(o) = claims.as_object_mut() {
        o.remove(name);
    }
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.key).expect("sign")
}

/// The test provider as the gateway's only issuer (its JWKS in `jwks`).
fn identity(jwks: &Path) -> String {
    format!(
        "[identity]\naudience = \"{AUDIENCE}\"\nclock_skew_seconds = {SKEW}\n\n\
         [[identity.issuers]]\nissuer = \"{ISSUER}\"\njwks = \"{}\"\n\
         acr = [\"{ACR_OK}\", \"urn:test:loa:high\"]\n",
        jwks.display()
    )
}

async fn start(jwks: &Path, keys: &[&TestKey]) -> Federation {
    publish(jwks, keys);
    let section = identity(jwks);
    let o = Options {
        server: "watch_interval_ms = 100",
        identity: Some(&section),
        ..Options::default()
    };
    Federation::build(o, |_| {}).await
}

/// What came back: status, `WWW-Authenticate`, body.
struct Answer {
    status: u16,
    challenge: Option<String>,
    body: Value,
}

async fn ask(
    client: &reqwest::Client,
    fed: &Federation,
    path: &str,
    token: Option<&str>,
    purpose: Option<&str>,
    case: Option<&str>,
) -> Answer {
    let mut req = client.get(fed.url(path));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(p) = purpose {
        req = req.header("purpose", p);
    }
    if let Some(c) = case {
        req = req.header("case-reference", c);
    }
    let r = req.send().await.expect("answer");
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_owned());
    Answer {
        status: r.status().as_u16(),
        challenge,
        body: r.json().await.unwrap_or(Value::Null),
    }
}

fn account(vn: Vn) -> String {
    format!("/v1/accounts/{}", vn.digits())
}

/// Every record of the audit folder.
fn audit_records(fed: &Federation) -> Vec<Value> {
    let mut out = Vec::new();
    for (_, f) in guichet::audit::log_files(&fed.dir.path().join("audit")).expect("audit files") {
        for line in std::fs::read_to_string(f).expect("read").lines() {
            out.push(serde_json::from_str(line).expect("record"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_valid_token_of_that_person_from_that_portal_opens_the_account() {
    let logs = LOGS.clone();
    let keys = tempfile::tempdir().expect("tempdir");
    let jwks = keys.path().join("jwks.json");
    let (ec, rsa) = (es256("ec-1"), rs256("rsa-1"));
    let fed = start(&jwks, &[&ec, &rsa]).await;
    let portal = fed.portal();
    let cnf = thumbprint(&fed.pki.portal.cert);
    let (alice, bob) = (Vn::from_serial(4242), Vn::from_serial(777));
    let mut tokens: Vec<String> = Vec::new();
    let mut mint = |key: &TestKey, c: &Value| {
        let t = sign(key, c);
        tokens.push(t.clone());
        t
    };

    // Valid: ES256 and RS256, and an exp just past but within the clock skew.
    let valid = mint(&ec, &claims(alice, &cnf));
    let a = ask(&portal, &fed, &account(alice), Some(&valid), None, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["vn"], alice.digits());
    let rs = mint(&rsa, &claims(alice, &cnf));
    assert_eq!(
        ask(&portal, &fed, &account(alice), Some(&rs), None, None)
            .await
            .status,
        200
    );
    let mut late = claims(alice, &cnf);
    late["exp"] = json!(now() - SKEW / 2);
    let late = mint(&ec, &late);
    assert_eq!(
        ask(&portal, &fed, &account(alice), Some(&late), None, None)
            .await
            .status,
        200,
        "within the clock skew"
    );

    // Each failure: 401, the challenge names the check, no office is asked.
    let stranger = es256("ec-1"); // same kid, key unknown to the gateway
    let other = fed.client_as(Role::Portal, "other-portal");
    let mut cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some("not-a-jwt".into())),
        ("malformed", Some("a.b.c".into())),
    ];
    let altered = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(alice, &cnf);
        f(&mut c);
        c
    };
    let refused: Vec<(&str, Value, &TestKey)> = vec![
        ("expired", altered(&|c| c["exp"] = json!(now() - 3600)), &ec),
        (
            "not-yet-valid",
            altered(&|c| c["nbf"] = json!(now() + 3600)),
            &ec,
        ),
        ("iat", altered(&|c| c["iat"] = json!(now() + 3600)), &ec),
        ("iat", altered(&|c| remove(c, "iat")), &ec),
        ("signature", claims(alice, &cnf), &stranger),
        (
            "issuer",
            altered(&|c| c["iss"] = json!("https://evil.invalid")),
            &ec,
        ),
        (
            "audience",
            altered(&|c| c["aud"] = json!("urn:guichet:gateway:other")),
            &ec,
        ),
        (
            "acr",
            altered(&|c| c["acr"] = json!("urn:test:loa:low")),
            &ec,
        ),
        ("acr", altered(&|c| remove(c, "acr")), &ec),
        (
            "cnf",
            altered(&|c| c["cnf"]["x5t#S256"] = json!(B64.encode([7u8; 32]))),
            &ec,
        ),
        ("cnf", altered(&|c| remove(c, "cnf")), &ec),
        (
            "ahv-claim",
            altered(&|c| c["ahvn13"] = json!("7561234567890")),
            &ec,
        ),
        ("ahv-claim", altered(&|c| remove(c, "ahvn13")), &ec),
    ];
    for (check, c, key) in &refused {
        cases.push((check, Some(mint(key, c))));
    }
    // A token whose payload was changed after signing.
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    parts[1] = B64.encode(serde_json::to_vec(&claims(bob, &cnf)).expect("json"));
    cases.push(("signature", Some(parts.join("."))));
    // HS256 with the public key as secret (algorithm confusion).
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(alice, &cnf),
        &EncodingKey::from_secret(ec.jwk.to_string().as_bytes()).expect("hmac key"),
    )
    .expect("hs256");
    cases.push(("signature", Some(hs)));

    tokens.extend(cases.iter().filter_map(|c| c.1.clone()));
    let before = fed.sim.total_requests();
    for (check, token) in &cases {
        let a = ask(&portal, &fed, &account(alice), token.as_deref(), None, None).await;
        assert_eq!(a.status, 401, "{check}: {}", a.body);
        let challenge = a.challenge.unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
            "{check}: {challenge}"
        );
        assert!(
            challenge.contains(&format!("error_description=\"{check}:")),
            "{check}: {challenge}"
        );
        let detail = a.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(&format!("{check}:")), "{check}: {detail}");
        assert_eq!(a.body["status"], 401);
        if let Some(t) = token {
            assert!(!challenge.contains(t.as_str()) && !a.body.to_string().contains(t.as_str()));
        }
        assert!(!a.body.to_string().contains(&alice.digits()));
    }
    // The token of the right person presented by another portal's certificate: cnf.
    let a = ask(&other, &fed, &account(alice), Some(&valid), None, None).await;
    assert_eq!(a.status, 401);
    assert!(
        a.challenge
            .unwrap_or_default()
            .contains("error_description=\"cnf:")
    );
    // A valid token of Alice used for Bob: 403, and not a 401.
    let a = ask(&portal, &fed, &account(bob), Some(&valid), None, None).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.challenge, None);
    assert!(
        !a.body.to_string().contains(&bob.digits())
            && !a.body.to_string().contains(&alice.digits())
    );
    // The accesses of Bob with Alice's token: 403 as well.
    let a = ask(
        &portal,
        &fed,
        &format!("{}/accesses", account(bob)),
        Some(&valid),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        fed.sim.total_requests(),
        before,
        "no office was asked for a refused token"
    );

    // Alice's own accesses with her token: the three reads above, end-user bound.
    let a = ask(
        &portal,
        &fed,
        &format!("{}/accesses", account(alice)),
        Some(&valid),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["accesses"].as_array().map(Vec::len),
        Some(3),
        "{}",
        a.body
    );

    // The audit: each read records the issuer and a keyed hash of `sub`, never the token.
    let records = audit_records(&fed);
    let reads: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "account-query" || r["kind"] == "accesses-query")
        .collect();
    assert_eq!(
        reads.len(),
        4,
        "three reads and one listing: refusals contact nothing"
    );
    for r in &reads {
        let bound = &r["binding"]["endUser"];
        assert_eq!(bound["issuer"], ISSUER, "{r}");
        let subject = bound["subject"].as_str().expect("subject hash");
        assert_eq!(subject.len(), 64, "{r}");
        assert!(subject.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_eq!(
        reads[0]["binding"], reads[3]["binding"],
        "the same person, the same hash"
    );

    // Neither the log nor the audit holds a token or an AHV number.
    let mut text = logs.text();
    assert!(text.contains("account query"), "the scenario was logged");
    for r in &records {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    for line in text.lines() {
        for t in tokens.iter().filter(|t| t.len() > 40) {
            let signature = t.rsplit('.').next().unwrap_or(t);
            assert!(!line.contains(t.as_str()), "token in {line}");
            assert!(
                signature.len() < 40 || !line.contains(signature),
                "signature in {line}"
            );
        }
        for vn in [alice, bob] {
            assert!(
                !line.contains(&vn.digits()) && !line.contains(&vn.dotted()),
                "vn in {line}"
            );
        }
        assert!(!line.contains("subject-4242"), "sub in clear: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn institutional_purposes_need_a_case_reference_which_is_audited() {
    let keys = tempfile::tempdir().expect("tempdir");
    let jwks = keys.path().join("jwks.json");
    let ec = es256("ec-1");
    let fed = start(&jwks, &[&ec]).await;
    let portal = fed.portal();
    let vn = Vn::from_serial(31);
    let before = fed.sim.total_requests();
    let a = ask(
        &portal,
        &fed,
        &account(vn),
        None,
        Some("pension-calculation"),
        None,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("Case-Reference"),
        "{}",
        a.body
    );
    for bad in ["", "x".repeat(65).as_str(), "two words"] {
        let a = ask(
            &portal,
            &fed,
            &account(vn),
            None,
            Some("benefit-review"),
            Some(bad),
        )
        .await;
        assert_eq!(a.status, 403, "{bad:?}: {}", a.body);
        assert!(
            a.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("Case-Reference")
        );
    }
    assert_eq!(fed.sim.total_requests(), before, "no office asked");
    let a = ask(
        &portal,
        &fed,
        &account(vn),
        None,
        Some("pension-calculation"),
        Some("PK-2026/0815"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let records = audit_records(&fed);
    let query = records
        .iter()
        .find(|r| r["kind"] == "account-query")
        .expect("the query is recorded");
    assert_eq!(query["binding"]["caseReference"], "PK-2026/0815", "{query}");
    assert_eq!(query["purpose"], "pension-calculation");
    // Self-service still needs the token, whatever Case-Reference says.
    let a = ask(
        &portal,
        &fed,
        &account(vn),
        None,
        Some("self-service"),
        Some("PK-1"),
    )
    .await;
    assert_eq!(a.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_rotates_without_a_restart() {
    let keys = tempfile::tempdir().expect("tempdir");
    let jwks = keys.path().join("jwks.json");
    let (old, new) = (es256("2026-11"), es256("2026-12"));
    let fed = start(&jwks, &[&old]).await;
    let portal = fed.portal();
    let cnf = thumbprint(&fed.pki.portal.cert);
    let vn = Vn::from_serial(99);
    let (t_old, t_new) = (sign(&old, &claims(vn, &cnf)), sign(&new, &claims(vn, &cnf)));
    let status = |t: String| {
        let (portal, fed_url) = (portal.clone(), fed.url(&account(vn)));
        async move {
            portal
                .get(fed_url)
                .bearer_auth(t)
                .send()
                .await
                .expect("answer")
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(t_old.clone()).await, 200);
    assert_eq!(status(t_new.clone()).await, 401, "not published yet");

    // The provider publishes its next key next to the current one.
    publish(&jwks, &[&old, &new]);
    let since = Instant::now();
    while status(t_new.clone()).await != 200 {
        assert!(since.elapsed() < PATIENCE, "the new key was never taken up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(t_old.clone()).await, 200, "both during the rotation");

    // Then removes the old one: its tokens are refused, the new ones still pass.
    publish(&jwks, &[&new]);
    let since = Instant::now();
    while status(t_old.clone()).await != 401 {
        assert!(
            since.elapsed() < PATIENCE,
            "the removed key was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(t_new.clone()).await, 200);

    // A broken file keeps the last good keys.
    std::fs::write(&jwks, "{ not json").expect("break");
    let reloads = |fed: &Federation| {
        audit_records(fed)
            .iter()
            .filter(|r| r["kind"] == "reload" && r["result"] == "failed")
            .count()
    };
    let since = Instant::now();
    while reloads(&fed) == 0 {
        assert!(
            since.elapsed() < PATIENCE,
            "the broken file was never looked at"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(t_new).await, 200, "the last good keys stay");
    let recorded: Vec<Value> = audit_records(&fed)
        .into_iter()
        .filter(|r| r["kind"] == "reload")
        .collect();
    assert!(
        recorded.len() >= 3,
        "every JWKS change is recorded: {recorded:?}"
    );
    assert!(
        recorded[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("2026-12")
    );
}
