//! Pairing from the shell: the local wallet, an external signer (weft's wallet in another home
//! standing in for MetaMask or `cast wallet sign`), and every way a pasted signature can be wrong.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;

fn weft(home: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = common::weft_command(home);
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn weft");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn ok(home: &Path, args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = weft(home, args, stdin);
    assert!(
        out.status.success(),
        "weft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn err(home: &Path, args: &[&str]) -> String {
    let out = weft(home, args, None);
    assert!(!out.status.success(), "weft {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn json(home: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(home, &a, None)).unwrap()
}

/// A wallet living in its own home: the "external" signer.
struct Signer {
    home: tempfile::TempDir,
    address: String,
}

impl Signer {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let address = json(home.path(), &["wallet", "new"])["address"]
            .as_str()
            .unwrap()
            .to_string();
        Signer { home, address }
    }
    fn sign(&self, message: &str) -> String {
        ok(
            self.home.path(),
            &["wallet", "sign", "--stdin"],
            Some(message.as_bytes()),
        )
        .trim()
        .to_string()
    }
}

#[test]
fn first_run_pairs_the_local_wallet_and_writes_as_it() {
    let home = tempfile::tempdir().unwrap();
    ok(home.path(), &[], None);
    let devices = json(home.path(), &["devices"]);
    assert_eq!(devices.as_array().unwrap().len(), 1);
    assert_eq!(devices[0]["local_wallet"], true);
    let address = devices[0]["address"].as_str().unwrap();
    assert!(address.starts_with("0x") && address.len() == 42);
    assert_eq!(json(home.path(), &["wallet", "show"])["address"], address);
    // What this device writes is attributed to that wallet.
    ok(home.path(), &["doc", "new", "Mine"], None);
    let docs = json(home.path(), &["doc", "ls"]);
    let mine = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["title"] == "Mine")
        .unwrap();
    assert_eq!(mine["created_by"], address);
    // The device key is private to the user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("data/identity/device.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn pairing_with_an_external_wallet_by_pasted_signature() {
    let home = tempfile::tempdir().unwrap();
    ok(home.path(), &[], None);
    let wallet = Signer::new();
    let message = ok(
        home.path(),
        &["pair", "--address", &wallet.address, "--print-message"],
        None,
    );
    assert!(message.starts_with("weft wants you to sign in with your Ethereum account:\n"));
    assert!(message.contains(&wallet.address));
    // Asking again gives the same pending message (the signer may be slow).
    assert_eq!(
        ok(
            home.path(),
            &["pair", "--address", &wallet.address, "--print-message"],
            None
        ),
        message
    );
    let signature = wallet.sign(&message);
    let paired = json(
        home.path(),
        &[
            "pair",
            "--address",
            &wallet.address,
            "--signature",
            &signature,
        ],
    );
    assert_eq!(paired["address"], wallet.address.as_str());
    let devices = json(home.path(), &["devices"]);
    assert!(devices
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["address"] == wallet.address.as_str() && d["local_wallet"] == false));
    // Workspaces created from now on are owned by the external wallet; one made before keeps
    // the wallet that is its member.
    ok(home.path(), &["init", "signed"], None);
    ok(
        home.path(),
        &["-w", "signed", "doc", "new", "Signed work"],
        None,
    );
    let docs = json(home.path(), &["-w", "signed", "doc", "ls"]);
    let d = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["title"] == "Signed work")
        .unwrap();
    assert_eq!(d["created_by"], wallet.address.as_str());
}

#[test]
fn a_second_device_of_the_same_wallet_pairs_the_same_way() {
    let wallet = Signer::new();
    let mut devices = Vec::new();
    for _ in 0..2 {
        let home = tempfile::tempdir().unwrap();
        let message = ok(
            home.path(),
            &["pair", "--address", &wallet.address, "--print-message"],
            None,
        );
        ok(
            home.path(),
            &[
                "pair",
                "--address",
                &wallet.address,
                "--signature",
                &wallet.sign(&message),
            ],
            None,
        );
        let listed = json(home.path(), &["devices"]);
        assert_eq!(listed[0]["address"], wallet.address.as_str());
        devices.push(listed[0]["device"].as_str().unwrap().to_string());
    }
    assert_ne!(devices[0], devices[1], "each device has its own key");
}

#[test]
fn wrong_signatures_are_explained_and_nothing_is_stored() {
    let home = tempfile::tempdir().unwrap();
    let wallet = Signer::new();
    let other = Signer::new();
    let message = ok(
        home.path(),
        &["pair", "--address", &wallet.address, "--print-message"],
        None,
    );
    // Signed by another wallet.
    let e = err(
        home.path(),
        &[
            "pair",
            "--address",
            &wallet.address,
            "--signature",
            &other.sign(&message),
        ],
    );
    assert!(e.contains(&other.address) && e.contains("EIP-1271"), "{e}");
    // A signature of some other text.
    let e = err(
        home.path(),
        &[
            "pair",
            "--address",
            &wallet.address,
            "--signature",
            &wallet.sign("hello"),
        ],
    );
    assert!(e.contains("does not match") || e.contains("not"), "{e}");
    // Not a signature at all.
    assert!(err(
        home.path(),
        &[
            "pair",
            "--address",
            &wallet.address,
            "--signature",
            "0xnothex"
        ]
    )
    .contains("hex"));
    assert!(err(
        home.path(),
        &[
            "pair",
            "--address",
            &wallet.address,
            "--signature",
            "0x1234"
        ]
    )
    .contains("65 bytes"));
    // A malformed address.
    assert!(err(
        home.path(),
        &["pair", "--address", "0x123", "--print-message"]
    )
    .contains("not a wallet address"));
    // No pending pairing for this address.
    assert!(err(
        home.path(),
        &[
            "pair",
            "--address",
            &other.address,
            "--signature",
            &other.sign("x")
        ]
    )
    .contains("weft pair --address"));
    // Still unpaired, and the right signature still works afterwards.
    assert!(json(home.path(), &["devices"])
        .as_array()
        .unwrap()
        .is_empty());
    ok(
        home.path(),
        &[
            "pair",
            "--address",
            &wallet.address,
            "--signature",
            &wallet.sign(&message),
        ],
        None,
    );
    assert_eq!(json(home.path(), &["devices"]).as_array().unwrap().len(), 1);
}

#[test]
fn the_local_wallet_imports_a_known_key_and_never_overwrites() {
    let home = tempfile::tempdir().unwrap();
    // The example key from the eth-account documentation.
    let key = b"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n";
    let out: Value =
        serde_json::from_str(&ok(home.path(), &["wallet", "import", "--json"], Some(key))).unwrap();
    assert_eq!(out["address"], "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
    assert!(err(home.path(), &["wallet", "new"]).contains("never overwrites"));
    let bad = weft(home.path(), &["wallet", "import"], Some(b"not a key\n"));
    assert!(!bad.status.success());
    // Signing is EIP-191 and deterministic (RFC 6979).
    let a = ok(home.path(), &["wallet", "sign", "hello"], None);
    assert_eq!(a, ok(home.path(), &["wallet", "sign", "hello"], None));
    assert_eq!(a.trim().len(), 132);
}
