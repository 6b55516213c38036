//! The official EIP-4361 test vectors (spruceid/siwe, folder `test/`).
//!
//! The folder is `../shared/data/siwe-vectors` next to the crate, or `$WEFT_SIWE_VECTORS`.
//! When it is absent the tests say so and pass, unless `WEFT_REQUIRE_VECTORS=1`.
//!
//! What is checked:
//! - `parsing_positive.json`: every message parses with [`parse_canonical_siwe`] (siwe 0.6's
//!   parser + exact round trip + nonce rules), every field matches, and writing the fields back
//!   in EIP-4361 layout gives the message text. Known gaps of siwe 0.6 are listed in
//!   [`KNOWN_PARSER_GAPS`]; the test fails if the set of failing vectors differs from it.
//! - `parsing_negative.json`: every message is rejected.
//! - `parsing_negative_objects.json`: every field set is rejected (missing fields when writing
//!   the text, anything else by the parser).
//! - `verification_positive.json` / `verification_negative.json`: the fields are written as a
//!   message, parsed, checked for the time window at `time` (or now) with siwe's own
//!   `valid_at`, for `domainBinding` and `matchNonce` when present, and the signature is
//!   recovered with weft's EIP-191 code (normalising `v`) and compared with the address.
//!   siwe's own `verify_eip191` must agree on every signature that parses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use weft::identity::{parse_canonical_siwe, recover_address, Address, Signature65};

/// Vectors that are newer than the siwe 0.6 parser.
const KNOWN_PARSER_GAPS: &[&str] = &["domain contains optional scheme"];

fn vectors_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("WEFT_SIWE_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/siwe-vectors")
        });
    if dir.join("parsing_positive.json").is_file() {
        return Some(dir);
    }
    if std::env::var("WEFT_REQUIRE_VECTORS").as_deref() == Ok("1") {
        panic!(
            "SIWE vectors not found at {} and WEFT_REQUIRE_VECTORS=1",
            dir.display()
        );
    }
    eprintln!(
        "skipping: SIWE vectors not found at {} (set WEFT_SIWE_VECTORS to their folder)",
        dir.display()
    );
    None
}

fn load(dir: &Path, name: &str) -> Map<String, Value> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        other => panic!("{} is not a JSON object: {other:?}", path.display()),
    }
}

fn text_field<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    fields.get(key).and_then(Value::as_str)
}

/// Writes a field set in EIP-4361 layout; fails when a required field is missing.
fn message_from_fields(fields: &Map<String, Value>) -> Result<String, String> {
    let required = |key: &str| -> Result<String, String> {
        match fields.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(format!("missing {key}")),
        }
    };
    let domain = match text_field(fields, "scheme") {
        Some(scheme) => format!("{scheme}://{}", required("domain")?),
        None => required("domain")?,
    };
    let mut text = format!(
        "{domain} wants you to sign in with your Ethereum account:\n{}\n\n",
        required("address")?
    );
    if let Some(statement) = text_field(fields, "statement") {
        text.push_str(statement);
        text.push('\n');
    }
    text.push_str(&format!(
        "\nURI: {}\nVersion: {}\nChain ID: {}\nNonce: {}\nIssued At: {}",
        required("uri")?,
        required("version")?,
        required("chainId")?,
        required("nonce")?,
        required("issuedAt")?
    ));
    for (key, tag) in [
        ("expirationTime", "Expiration Time"),
        ("notBefore", "Not Before"),
        ("requestId", "Request ID"),
    ] {
        if let Some(value) = text_field(fields, key) {
            text.push_str(&format!("\n{tag}: {value}"));
        }
    }
    if let Some(Value::Array(resources)) = fields.get("resources") {
        text.push_str("\nResources:");
        for r in resources {
            text.push_str(&format!("\n- {}", r.as_str().unwrap_or_default()));
        }
    }
    Ok(text)
}

fn check_fields(name: &str, message: &siwe::Message, fields: &Map<String, Value>) {
    let get = |k: &str| text_field(fields, k).map(str::to_string);
    assert_eq!(
        Some(message.domain.to_string()),
        get("domain"),
        "{name}: domain"
    );
    assert_eq!(
        Some(Address::from_bytes(message.address).to_string()),
        get("address"),
        "{name}: address"
    );
    assert_eq!(message.statement, get("statement"), "{name}: statement");
    assert_eq!(Some(message.uri.to_string()), get("uri"), "{name}: uri");
    assert_eq!(get("version").as_deref(), Some("1"), "{name}: version");
    assert_eq!(
        Some(message.chain_id),
        fields.get("chainId").and_then(Value::as_u64),
        "{name}: chain id"
    );
    assert_eq!(Some(message.nonce.clone()), get("nonce"), "{name}: nonce");
    assert_eq!(
        Some(message.issued_at.to_string()),
        get("issuedAt"),
        "{name}: issued at"
    );
    assert_eq!(
        message.expiration_time.as_ref().map(|t| t.to_string()),
        get("expirationTime"),
        "{name}: expiration"
    );
    assert_eq!(
        message.not_before.as_ref().map(|t| t.to_string()),
        get("notBefore"),
        "{name}: not before"
    );
    assert_eq!(message.request_id, get("requestId"), "{name}: request id");
    let resources: Vec<String> = message.resources.iter().map(|r| r.to_string()).collect();
    let expected: Vec<String> = match fields.get("resources") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => Vec::new(),
    };
    assert_eq!(resources, expected, "{name}: resources");
}

#[test]
fn parsing_positive_vectors_parse_and_round_trip() {
    let Some(dir) = vectors_dir() else { return };
    let mut failed = BTreeSet::new();
    let vectors = load(&dir, "parsing_positive.json");
    assert!(!vectors.is_empty());
    for (name, case) in &vectors {
        let text = case["message"].as_str().expect("message text");
        let fields = case["fields"].as_object().expect("fields");
        assert_eq!(
            message_from_fields(fields).as_deref(),
            Ok(text),
            "{name}: the fields written out must give the message"
        );
        match parse_canonical_siwe(text) {
            Ok(message) => {
                assert_eq!(message.to_string(), text, "{name}");
                check_fields(name, &message, fields);
            }
            Err(err) => {
                eprintln!("{name}: not accepted: {err}");
                failed.insert(name.as_str());
            }
        }
    }
    let known: BTreeSet<&str> = KNOWN_PARSER_GAPS.iter().copied().collect();
    assert_eq!(
        failed, known,
        "failing positive vectors differ from the known gaps"
    );
}

#[test]
fn parsing_negative_vectors_are_rejected() {
    let Some(dir) = vectors_dir() else { return };
    let vectors = load(&dir, "parsing_negative.json");
    assert!(!vectors.is_empty());
    let accepted: Vec<&String> = vectors
        .iter()
        .filter(|(_, text)| parse_canonical_siwe(text.as_str().expect("message text")).is_ok())
        .map(|(name, _)| name)
        .collect();
    assert!(
        accepted.is_empty(),
        "accepted negative vectors: {accepted:?}"
    );
}

#[test]
fn parsing_negative_objects_are_rejected() {
    let Some(dir) = vectors_dir() else { return };
    let vectors = load(&dir, "parsing_negative_objects.json");
    assert!(!vectors.is_empty());
    for (name, fields) in &vectors {
        let fields = fields.as_object().expect("fields");
        if let Ok(text) = message_from_fields(fields) {
            assert!(
                parse_canonical_siwe(&text).is_err(),
                "{name}: accepted\n{text}"
            );
        }
    }
}

/// Runs the checks described at the top of the file; names the first one that fails.
fn verify_vector(case: &Map<String, Value>) -> Result<(), &'static str> {
    let text = message_from_fields(case).map_err(|_| "fields")?;
    let message = parse_canonical_siwe(&text).map_err(|_| "parse")?;
    let signature: Signature65 = text_field(case, "signature")
        .ok_or("signature")?
        .parse()
        .map_err(|_| "signature")?;
    let siwe_agrees = message.verify_eip191(signature.as_bytes()).is_ok();

    let now = match text_field(case, "time") {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).map_err(|_| "time")?,
        None => OffsetDateTime::now_utc(),
    };
    if !message.valid_at(&now) {
        return Err("time");
    }
    if let Some(domain) = text_field(case, "domainBinding") {
        if message.domain.as_str() != domain {
            return Err("domain");
        }
    }
    if let Some(nonce) = text_field(case, "matchNonce") {
        if message.nonce != nonce {
            return Err("nonce");
        }
    }
    let recovered = recover_address(text.as_bytes(), &signature).map_err(|_| "recover")?;
    let ours = recovered == Address::from_bytes(message.address);
    assert_eq!(ours, siwe_agrees, "weft and siwe disagree on the signature");
    if ours {
        Ok(())
    } else {
        Err("address")
    }
}

#[test]
fn verification_positive_vectors_verify() {
    let Some(dir) = vectors_dir() else { return };
    let vectors = load(&dir, "verification_positive.json");
    assert!(!vectors.is_empty());
    for (name, case) in &vectors {
        let result = verify_vector(case.as_object().expect("fields"));
        assert_eq!(result, Ok(()), "{name}");
    }
}

#[test]
fn verification_negative_vectors_fail_for_the_labelled_reason() {
    let Some(dir) = vectors_dir() else { return };
    let expected = |name: &str| -> Option<&'static str> {
        Some(match name {
            "expired message" | "not yet valid" | "custom time" => "time",
            "domain binding" => "domain",
            "custom nonce" => "nonce",
            "malformed signature" => "signature",
            "wrong signature" => "address",
            "invalid issuedAt" | "invalid notBefore" | "invalid expirationTime" => "parse",
            _ => return None,
        })
    };
    let vectors = load(&dir, "verification_negative.json");
    assert!(!vectors.is_empty());
    for (name, case) in &vectors {
        let result = verify_vector(case.as_object().expect("fields"));
        assert!(result.is_err(), "{name}: verified");
        if let Some(reason) = expected(name) {
            assert_eq!(result, Err(reason), "{name}");
        }
    }
}
