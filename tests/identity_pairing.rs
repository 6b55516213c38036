//! Building and verifying pairing certificates, including hostile and malformed input.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use weft::identity::pairing::MAX_MESSAGE_BYTES;
use weft::identity::{
    DeviceId, DeviceKey, LocalWallet, PairingCertificate, PairingError, PairingRequest, Recap,
    RecapError, Signature65, SignatureError, VerifyPolicy, WorkspaceScope,
};

const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const OTHER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const DEVICE_SEED: &str = "9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c";

const GOLDEN: &str = "weft wants you to sign in with your Ethereum account:
0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266

Allow this device to sign weft changes for this wallet. I further authorize the stated URI to perform the following actions on my behalf: (1) 'weft': 'sign-changes' for 'urn:weft:workspace:*'.

URI: did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme
Version: 1
Chain ID: 1
Nonce: 3rGXwm9aJ5yPLBgpd
Issued At: 2025-01-01T00:00:00Z
Expiration Time: 2026-01-01T00:00:00Z
Resources:
- urn:recap:eyJhdHQiOnsidXJuOndlZnQ6d29ya3NwYWNlOioiOnsid2VmdC9zaWduLWNoYW5nZXMiOlt7fV19fSwicHJmIjpbXX0";

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn wallet() -> LocalWallet {
    LocalWallet::from_secret_hex(DEV_KEY).unwrap()
}

fn device() -> DeviceId {
    DeviceKey::from_secret_bytes(&hex::decode(DEVICE_SEED).unwrap())
        .unwrap()
        .id()
}

fn request() -> PairingRequest {
    let now = at("2025-01-01T00:00:00.750Z");
    let mut request = PairingRequest::new(wallet().address(), device(), now);
    request.nonce = "3rGXwm9aJ5yPLBgpd".into();
    request.expires_at = at("2026-01-01T00:00:00Z");
    request
}

fn signed(message: &str) -> PairingCertificate {
    PairingCertificate::new(
        message.to_string(),
        wallet().sign_message(message.as_bytes()),
    )
}

fn verify(cert: &PairingCertificate) -> Result<weft::identity::VerifiedPairing, PairingError> {
    cert.verify(
        &VerifyPolicy::default(),
        &device(),
        at("2025-06-01T12:00:00Z"),
    )
}

#[test]
fn the_message_has_the_documented_layout() {
    let message = request().to_message().unwrap();
    assert_eq!(message, GOLDEN);
    assert!(message.is_ascii());
    assert!(message.len() < MAX_MESSAGE_BYTES);
}

#[test]
fn a_locally_signed_certificate_verifies() {
    let cert = PairingCertificate::sign_with(&request(), &wallet()).unwrap();
    assert_eq!(cert.message(), GOLDEN);
    let verified = verify(&cert).unwrap();
    assert_eq!(verified.address, wallet().address());
    assert_eq!(verified.device, device());
    assert_eq!(verified.domain, "weft");
    assert_eq!(verified.chain_id, 1);
    assert_eq!(verified.nonce, "3rGXwm9aJ5yPLBgpd");
    assert_eq!(verified.issued_at, at("2025-01-01T00:00:00Z"));
    assert_eq!(verified.expires_at, at("2026-01-01T00:00:00Z"));
    assert_eq!(verified.not_before, None);
    assert_eq!(verified.scope, WorkspaceScope::All);
    assert!(verified.scope.covers("any-workspace"));
    assert_eq!(verified.cert_hash, cert.cert_hash());
}

#[test]
fn a_per_workspace_scope_is_granted_and_recovered() {
    let mut request = request();
    request.scope = WorkspaceScope::only(["b3f1c2d4", "a0e9"]);
    request.chain_id = 10;
    let cert = PairingCertificate::sign_with(&request, &wallet()).unwrap();
    assert!(cert.message().contains(
        "(1) 'weft': 'sign-changes' for 'urn:weft:workspace:a0e9'. (2) 'weft': 'sign-changes' for 'urn:weft:workspace:b3f1c2d4'."
    ));
    let verified = verify(&cert).unwrap();
    assert_eq!(verified.scope, WorkspaceScope::only(["a0e9", "b3f1c2d4"]));
    assert!(verified.scope.covers("a0e9"));
    assert!(!verified.scope.covers("ffff"));
    assert_eq!(verified.chain_id, 10);
}

#[test]
fn a_signature_over_another_message_is_rejected() {
    let other = GOLDEN.replace("3rGXwm9aJ5yPLBgpd", "3rGXwm9aJ5yPLBgpX");
    let cert = PairingCertificate::new(GOLDEN.into(), wallet().sign_message(other.as_bytes()));
    let err = verify(&cert).unwrap_err();
    assert!(
        matches!(err, PairingError::WrongAddress { claimed, .. } if claimed == wallet().address()),
        "{err:?}"
    );
}

#[test]
fn a_signature_by_another_account_is_rejected_with_the_eip1271_hint() {
    let other = LocalWallet::from_secret_hex(OTHER_KEY).unwrap();
    let cert = PairingCertificate::new(GOLDEN.into(), other.sign_message(GOLDEN.as_bytes()));
    let err = verify(&cert).unwrap_err();
    assert_eq!(
        err,
        PairingError::WrongAddress {
            claimed: wallet().address(),
            recovered: other.address()
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("does not match address 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        "{text}"
    );
    assert!(text.contains("EIP-1271 wallets need an RPC"), "{text}");
    // sign_with refuses to sign a request for someone else's address.
    let mut request = request();
    request.address = other.address();
    assert!(matches!(
        PairingCertificate::sign_with(&request, &wallet()).unwrap_err(),
        PairingError::InvalidRequest(_)
    ));
}

#[test]
fn a_certificate_for_another_device_is_rejected() {
    let cert = signed(GOLDEN);
    let other = DeviceKey::generate().id();
    let err = cert
        .verify(&VerifyPolicy::default(), &other, at("2025-06-01T00:00:00Z"))
        .unwrap_err();
    assert_eq!(
        err,
        PairingError::WrongDevice {
            expected: other,
            found: device().to_string()
        }
    );
}

#[test]
fn expiry_and_not_before_are_judged_at_the_given_time() {
    let cert = signed(GOLDEN);
    let policy = VerifyPolicy::default();
    assert!(cert
        .verify(&policy, &device(), at("2026-01-01T00:00:00Z"))
        .is_ok());
    let err = cert
        .verify(&policy, &device(), at("2026-01-01T00:00:01Z"))
        .unwrap_err();
    assert!(matches!(err, PairingError::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("2026-01-01T00:00:00Z"), "{err}");

    // An expired certificate still vouches for changes made while it was in force.
    let verified = cert.verify_ignoring_time(&policy, &device()).unwrap();
    assert!(verified.check_valid_at(at("2025-03-01T00:00:00Z")).is_ok());
    assert!(verified.check_valid_at(at("2027-03-01T00:00:00Z")).is_err());

    let mut request = request();
    request.not_before = Some(at("2025-02-01T00:00:00Z"));
    let cert = PairingCertificate::sign_with(&request, &wallet()).unwrap();
    assert!(cert
        .message()
        .contains("\nNot Before: 2025-02-01T00:00:00Z\n"));
    let err = cert
        .verify(&policy, &device(), at("2025-01-31T23:59:59Z"))
        .unwrap_err();
    assert!(matches!(err, PairingError::NotYetValid { .. }), "{err:?}");
    assert!(cert
        .verify(&policy, &device(), at("2025-02-01T00:00:00Z"))
        .is_ok());
}

#[test]
fn a_tampered_statement_is_rejected() {
    // Human part changed: the ReCap still matches, but the signature no longer does.
    let tampered = GOLDEN.replace("Allow this device", "Allow every device");
    let cert = PairingCertificate::new(tampered, wallet().sign_message(GOLDEN.as_bytes()));
    assert!(matches!(
        verify(&cert).unwrap_err(),
        PairingError::WrongAddress { .. }
    ));

    // Capability sentence changed: it no longer matches the ReCap resource.
    let tampered = GOLDEN.replace("'sign-changes' for", "'sign-all' for");
    let err = verify(&signed(&tampered)).unwrap_err();
    assert!(matches!(err, PairingError::RecapMismatch { .. }), "{err:?}");

    // Resource changed to grant something else (statement kept): mismatch as well.
    let recap = Recap::new().grant("urn:weft:workspace:*", "weft/admin");
    let tampered = replace_recap(GOLDEN, &recap.to_resource_uri());
    assert!(matches!(
        verify(&signed(&tampered)).unwrap_err(),
        PairingError::RecapMismatch { .. }
    ));

    // Consistent statement and resource that grant no weft/sign-changes.
    let tampered = GOLDEN.replace("'sign-changes' for", "'read' for").replace(
        &recap_line(GOLDEN),
        &Recap::new()
            .grant("urn:weft:workspace:*", "weft/read")
            .to_resource_uri(),
    );
    assert_eq!(
        verify(&signed(&tampered)).unwrap_err(),
        PairingError::NoSignChangesGrant
    );

    let non_ascii = GOLDEN.replace("Allow this device", "Allow this dévice");
    let err = verify(&signed(&non_ascii)).unwrap_err();
    assert!(matches!(err, PairingError::BadStatement(_)), "{err:?}");
}

fn recap_line(message: &str) -> String {
    message
        .lines()
        .last()
        .unwrap()
        .trim_start_matches("- ")
        .to_string()
}

fn replace_recap(message: &str, uri: &str) -> String {
    message.replace(&recap_line(message), uri)
}

#[test]
fn non_canonical_text_is_rejected() {
    // A space on the blank line after the statement parses, but does not print back the same.
    let spaced = GOLDEN.replace(
        "'urn:weft:workspace:*'.\n\n",
        "'urn:weft:workspace:*'.\n \n",
    );
    assert_eq!(
        verify(&signed(&spaced)).unwrap_err(),
        PairingError::NotCanonical
    );
    let padded = GOLDEN.replace("Chain ID: 1", "Chain ID: 01");
    assert_eq!(
        verify(&signed(&padded)).unwrap_err(),
        PairingError::NotCanonical
    );
    // Layout errors the parser itself refuses.
    for broken in [
        GOLDEN.replace("URI: did", "URI:  did"),
        GOLDEN.replace('\n', "\r\n"),
        format!("{GOLDEN}\n"),
        GOLDEN.replace("Version: 1\n", ""),
    ] {
        let err = verify(&signed(&broken)).unwrap_err();
        assert!(
            matches!(err, PairingError::Malformed(_)),
            "{broken:?}: {err:?}"
        );
    }
}

#[test]
fn an_oversized_message_is_rejected_before_parsing() {
    let big = GOLDEN.replace(
        "Allow this device",
        &format!("Allow this device{}", " please".repeat(300)),
    );
    assert!(big.len() > MAX_MESSAGE_BYTES);
    assert_eq!(
        verify(&signed(&big)).unwrap_err(),
        PairingError::TooLarge {
            size: big.len(),
            max: MAX_MESSAGE_BYTES
        }
    );
}

#[test]
fn missing_or_misplaced_parts_are_rejected() {
    let no_expiry = GOLDEN.replace("\nExpiration Time: 2026-01-01T00:00:00Z", "");
    assert_eq!(
        verify(&signed(&no_expiry)).unwrap_err(),
        PairingError::MissingExpiration
    );

    let no_resources = GOLDEN.split("\nResources:").next().unwrap().to_string();
    assert_eq!(
        verify(&signed(&no_resources)).unwrap_err(),
        PairingError::MissingRecap
    );

    let recap_not_last = format!("{GOLDEN}\n- https://example.com/extra");
    assert_eq!(
        verify(&signed(&recap_not_last)).unwrap_err(),
        PairingError::MissingRecap
    );

    let garbled = replace_recap(GOLDEN, "urn:recap:eyJhdHQiOnt9");
    assert!(matches!(
        verify(&signed(&garbled)).unwrap_err(),
        PairingError::BadRecap(_)
    ));

    let fractional = GOLDEN.replace(
        "Issued At: 2025-01-01T00:00:00Z",
        "Issued At: 2025-01-01T00:00:00.5Z",
    );
    assert!(matches!(
        verify(&signed(&fractional)).unwrap_err(),
        PairingError::BadTimestamp {
            field: "issued-at time",
            ..
        }
    ));

    let short_nonce = GOLDEN.replace("3rGXwm9aJ5yPLBgpd", "3rGX-m9a");
    assert!(matches!(
        verify(&signed(&short_nonce)).unwrap_err(),
        PairingError::Malformed(_)
    ));
}

#[test]
fn the_domain_must_be_allowed() {
    let mut request = request();
    request.domain = "evil.example".into();
    let cert = PairingCertificate::sign_with(&request, &wallet()).unwrap();
    let err = verify(&cert).unwrap_err();
    assert_eq!(
        err,
        PairingError::DomainNotAllowed {
            domain: "evil.example".into(),
            allowed: "weft".into()
        }
    );
    let policy = VerifyPolicy::allowing(["weft", "EVIL.example"]);
    assert!(cert
        .verify(&policy, &device(), at("2025-06-01T00:00:00Z"))
        .is_ok());
}

#[test]
fn high_s_and_v_variants_give_the_same_certificate() {
    let cert = signed(GOLDEN);
    let raw = *cert.signature().as_bytes();

    let twin = high_s_twin(&raw);
    let twin_cert =
        PairingCertificate::from_signature_text(GOLDEN.into(), &hex::encode(twin)).unwrap();
    assert_eq!(twin_cert, cert);
    assert_eq!(twin_cert.cert_hash(), cert.cert_hash());
    assert_eq!(verify(&twin_cert).unwrap(), verify(&cert).unwrap());

    for bytes in [raw, twin] {
        let mut v01 = bytes;
        v01[64] -= 27;
        let c = PairingCertificate::new(GOLDEN.into(), Signature65::from_bytes(&v01).unwrap());
        assert_eq!(c, cert);
        assert!(verify(&c).is_ok());
    }

    for v in [55u8, 29, 2] {
        let mut bad = raw;
        bad[64] = v;
        assert_eq!(
            PairingCertificate::from_signature_text(GOLDEN.into(), &hex::encode(bad)).unwrap_err(),
            PairingError::BadSignature(SignatureError::BadRecoveryByte { v })
        );
    }
}

#[test]
fn pasted_garbage_signatures_are_rejected() {
    let hex_sig = signed(GOLDEN).signature().to_hex();
    assert!(
        PairingCertificate::from_signature_text(GOLDEN.into(), &format!(" {hex_sig}\n")).is_ok()
    );
    for (text, check) in [
        (
            "0xnot-a-signature",
            (|e| matches!(e, SignatureError::NotHex(_))) as fn(&SignatureError) -> bool,
        ),
        (&hex_sig[..100], |e| {
            matches!(e, SignatureError::WrongLength { found: 49 })
        }),
        ("", |e| matches!(e, SignatureError::Empty)),
    ] {
        match PairingCertificate::from_signature_text(GOLDEN.into(), text).unwrap_err() {
            PairingError::BadSignature(e) => assert!(check(&e), "{text}: {e:?}"),
            other => panic!("{text}: unexpected {other:?}"),
        }
    }
}

#[test]
fn certificates_serialise_and_normalise_on_the_way_in() {
    let cert = signed(GOLDEN);
    let json = serde_json::to_string(&cert).unwrap();
    let back: PairingCertificate = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cert);

    let twin_json = serde_json::json!({
        "message": GOLDEN,
        "signature": format!("0x{}", hex::encode(high_s_twin(cert.signature().as_bytes()))),
    });
    let twin: PairingCertificate = serde_json::from_value(twin_json).unwrap();
    assert_eq!(twin.cert_hash(), cert.cert_hash());
    assert!(
        serde_json::from_str::<PairingCertificate>(r#"{"message":"x","signature":"0x1b"}"#)
            .is_err()
    );
}

#[test]
fn invalid_requests_are_refused_when_building() {
    type Change = Box<dyn Fn(&mut PairingRequest)>;
    let cases: Vec<(&str, Change)> = vec![
        ("short nonce", Box::new(|r| r.nonce = "abc".into())),
        (
            "symbol nonce",
            Box::new(|r| r.nonce = "abcd-efgh-ijk".into()),
        ),
        ("scheme", Box::new(|r| r.domain = "https://weft".into())),
        ("bad domain", Box::new(|r| r.domain = "we ft".into())),
        (
            "empty scope",
            Box::new(|r| r.scope = WorkspaceScope::only(Vec::<String>::new())),
        ),
        (
            "bad workspace",
            Box::new(|r| r.scope = WorkspaceScope::only(["a'b"])),
        ),
        (
            "expiry first",
            Box::new(|r| r.expires_at = r.issued_at - Duration::seconds(1)),
        ),
    ];
    for (name, change) in cases {
        let mut r = request();
        change(&mut r);
        assert!(
            matches!(r.to_message(), Err(PairingError::InvalidRequest(_))),
            "{name}: {:?}",
            r.to_message()
        );
    }
}

#[test]
fn the_default_request_is_valid_for_a_year_with_a_random_nonce() {
    let now = at("2025-01-01T10:20:30.123456Z");
    let a = PairingRequest::new(wallet().address(), device(), now);
    let b = PairingRequest::new(wallet().address(), device(), now);
    assert_ne!(a.nonce, b.nonce);
    let cert = PairingCertificate::sign_with(&a, &wallet()).unwrap();
    assert!(cert.message().contains("Issued At: 2025-01-01T10:20:30Z\n"));
    assert!(cert
        .message()
        .contains("Expiration Time: 2026-01-01T10:20:30Z\n"));
    assert!(cert
        .verify(&VerifyPolicy::default(), &device(), now)
        .is_ok());
}

#[test]
fn recap_errors_are_specific() {
    assert_eq!(
        Recap::from_resource_uri("https://example.com").unwrap_err(),
        RecapError::NotRecapUri
    );
    assert!(matches!(
        Recap::from_resource_uri("urn:recap:e30=").unwrap_err(),
        RecapError::BadBase64(_)
    ));
    // {"att":{},"prf":[]}
    assert_eq!(
        Recap::from_resource_uri("urn:recap:eyJhdHQiOnt9LCJwcmYiOltdfQ").unwrap_err(),
        RecapError::Empty
    );
}

/// secp256k1 group order, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// The malleable twin of a signature: s' = n - s, v flipped.
fn high_s_twin(sig: &[u8; 65]) -> [u8; 65] {
    let mut out = *sig;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(ORDER[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        out[32 + i] = d.rem_euclid(256) as u8;
    }
    out[64] = if sig[64] == 27 { 28 } else { 27 };
    out
}
