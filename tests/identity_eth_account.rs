//! Cross-check with an independent signer (Python eth-account).
//!
//! - `tests/fixtures/identity/pairing_messages.json`: pairing messages weft builds from fixed
//!   keys, devices, nonces and times (checked here; rewritten with `WEFT_UPDATE_FIXTURES=1`).
//! - `tests/fixtures/identity/eth_account_signatures.json`: those messages signed by
//!   eth-account (`python3 scripts/eth_account_fixtures.py`); verified here.
//! - `tests/fixtures/identity/weft_signatures.json`: the same messages signed by weft's local
//!   wallet (checked here; rewritten with `WEFT_UPDATE_FIXTURES=1`); the script's `--check`
//!   mode confirms eth-account recovers the same addresses from them.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use weft::identity::{
    DeviceId, DeviceKey, LocalWallet, PairingCertificate, PairingRequest, Signature65,
    VerifyPolicy, WorkspaceScope,
};

/// anvil/hardhat development accounts 0 and 1 (public test keys; the script uses the same).
const WALLET_KEYS: [&str; 2] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
];
const WALLET_ADDRESSES: [&str; 2] = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
];
/// Device keys from the did:key specification's secp256k1 vectors.
const DEVICE_SEEDS: [&str; 2] = [
    "9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c",
    "f0f4df55a2b3ff13051ea814a8f24ad00f2e469af73c363ac7e9fb999a9072ed",
];
const VERIFY_AT: &str = "2025-06-01T00:00:00Z";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/identity")
}

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn wallet(i: usize) -> LocalWallet {
    LocalWallet::from_secret_hex(WALLET_KEYS[i]).unwrap()
}

fn device(i: usize) -> DeviceId {
    DeviceKey::from_secret_bytes(&hex::decode(DEVICE_SEEDS[i]).unwrap())
        .unwrap()
        .id()
}

struct Case {
    name: &'static str,
    wallet: usize,
    device: usize,
    request: PairingRequest,
}

fn cases() -> Vec<Case> {
    let issued = at("2025-01-01T00:00:00Z");
    let mut all = PairingRequest::new(wallet(0).address(), device(0), issued);
    all.nonce = "k3Xq9VmB2pLr7TzW".into();
    all.expires_at = at("2026-01-01T00:00:00Z");

    let mut two = PairingRequest::new(wallet(1).address(), device(1), issued);
    two.nonce = "N7w4Jd2QfZ8sYc1H".into();
    two.chain_id = 10;
    two.scope = WorkspaceScope::only(["3f2a9c1e", "b7d04e55"]);
    two.not_before = Some(at("2025-01-02T00:00:00Z"));
    two.expires_at = at("2025-12-31T23:59:59Z");

    let mut second =
        PairingRequest::new(wallet(0).address(), device(1), at("2025-03-15T08:30:00Z"));
    second.nonce = "Qp5Rt8Uv1Wx4Yz7A".into();
    second.expires_at = at("2030-03-15T08:30:00Z");

    vec![
        Case {
            name: "all workspaces",
            wallet: 0,
            device: 0,
            request: all,
        },
        Case {
            name: "two workspaces, chain 10, not before",
            wallet: 1,
            device: 1,
            request: two,
        },
        Case {
            name: "second device of the same wallet",
            wallet: 0,
            device: 1,
            request: second,
        },
    ]
}

fn read_json(name: &str) -> Value {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; regenerate it (see the top of tests/identity_eth_account.rs)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares `expected` with the committed fixture, or rewrites it when asked to.
fn check_or_update(name: &str, expected: Value) {
    let path = fixtures().join(name);
    if std::env::var("WEFT_UPDATE_FIXTURES").as_deref() == Ok("1") {
        std::fs::create_dir_all(fixtures()).unwrap();
        let text = serde_json::to_string_pretty(&expected).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    assert_eq!(
        read_json(name),
        expected,
        "{} is stale; rerun with WEFT_UPDATE_FIXTURES=1, then python3 scripts/eth_account_fixtures.py",
        path.display()
    );
}

fn messages() -> Vec<Value> {
    cases()
        .iter()
        .map(|case| {
            json!({
                "name": case.name,
                "address": WALLET_ADDRESSES[case.wallet],
                "device": device(case.device).to_string(),
                "verify_at": VERIFY_AT,
                "message": case.request.to_message().unwrap(),
            })
        })
        .collect()
}

#[test]
fn the_fixed_accounts_have_their_well_known_addresses() {
    for (i, address) in WALLET_ADDRESSES.iter().enumerate() {
        assert_eq!(wallet(i).address().to_string(), *address);
    }
}

#[test]
fn pairing_messages_fixture_is_current() {
    check_or_update("pairing_messages.json", json!({ "messages": messages() }));
}

#[test]
fn weft_signatures_fixture_is_current() {
    let signatures: Vec<Value> = cases()
        .iter()
        .map(|case| {
            let cert = PairingCertificate::sign_with(&case.request, &wallet(case.wallet)).unwrap();
            json!({
                "name": case.name,
                "address": WALLET_ADDRESSES[case.wallet],
                "message": cert.message(),
                "signature": cert.signature().to_hex(),
            })
        })
        .collect();
    check_or_update(
        "weft_signatures.json",
        json!({ "signer": "weft LocalWallet", "signatures": signatures }),
    );
}

#[test]
fn eth_account_signatures_verify_as_certificates() {
    let fixture = read_json("eth_account_signatures.json");
    let signatures = fixture["signatures"].as_array().expect("signatures array");
    let messages = messages();
    assert_eq!(
        signatures.len(),
        messages.len(),
        "one signature per message"
    );
    let mut parities = Vec::new();
    for (entry, expected) in signatures.iter().zip(&messages) {
        let name = entry["name"].as_str().unwrap();
        assert_eq!(
            entry["message"], expected["message"],
            "{name}: message changed"
        );
        let message = entry["message"].as_str().unwrap();
        let address = entry["address"].as_str().unwrap();
        let signature: Signature65 = entry["signature"].as_str().unwrap().parse().unwrap();
        parities.push(signature.as_bytes()[64]);

        assert_eq!(
            signature.recover(message.as_bytes()).unwrap().to_string(),
            address,
            "{name}"
        );
        let device: DeviceId = expected["device"].as_str().unwrap().parse().unwrap();
        let cert = PairingCertificate::new(message.to_string(), signature);
        let verified = cert
            .verify(&VerifyPolicy::default(), &device, at(VERIFY_AT))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.address.to_string(), address);
        assert_eq!(verified.device, device);

        // RFC 6979 makes signing deterministic: weft's wallet produces the very same bytes.
        let key = WALLET_ADDRESSES.iter().position(|a| *a == address).unwrap();
        assert_eq!(
            wallet(key).sign_message(message.as_bytes()),
            signature,
            "{name}"
        );
    }
    eprintln!("recovery bytes in the eth-account fixtures: {parities:?}");
}
