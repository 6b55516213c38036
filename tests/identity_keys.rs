//! Device keys, did:key ids and key files.

use std::fs;
use std::path::Path;

use weft::identity::{
    DeviceId, DeviceIdError, DeviceKey, KeyFileError, KeyKind, LocalWallet, SecretKeyError,
};

/// Vectors from the did:key method specification's secp256k1 test vectors
/// (`seed` is the private key; the public key is the compressed SEC1 point).
const DID_KEY_VECTORS: &[(&str, &str, &str)] = &[
    (
        "9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c",
        "03874c15c7fda20e539c6e5ba573c139884c351188799f5458b4b41f7924f235cd",
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
    ),
    (
        "f0f4df55a2b3ff13051ea814a8f24ad00f2e469af73c363ac7e9fb999a9072ed",
        "03d4b8cf1953bd38ea9f79a51c4fd4be325ff9c103b26db490d121a03201bd5343",
        "did:key:zQ3shtxV1FrJfhqE1dvxYRcCknWNjHc3c5X1y3ZSoPDi2aur2",
    ),
];

fn vector_key(i: usize) -> DeviceKey {
    DeviceKey::from_secret_bytes(&hex::decode(DID_KEY_VECTORS[i].0).unwrap()).unwrap()
}

#[test]
fn did_key_matches_the_spec_vectors() {
    for (i, (_, public, did)) in DID_KEY_VECTORS.iter().enumerate() {
        let id = vector_key(i).id();
        assert_eq!(hex::encode(id.as_bytes()), *public);
        assert_eq!(id.to_string(), *did);
        assert_eq!(id.did_key(), *did);
        let parsed: DeviceId = did.parse().unwrap();
        assert_eq!(parsed, id);
        assert_eq!(
            parsed.verifying_key(),
            *vector_key(i).signing_key().verifying_key()
        );
    }
}

#[test]
fn generated_ids_round_trip_through_text_and_serde() {
    for _ in 0..20 {
        let id = DeviceKey::generate().id();
        let text = id.to_string();
        assert!(text.starts_with("did:key:zQ3s"), "{text}");
        assert_eq!(text.parse::<DeviceId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<DeviceId>(&json).unwrap(), id);
    }
}

#[test]
fn uncompressed_public_keys_give_the_same_id() {
    let key = vector_key(0);
    let uncompressed = key.signing_key().verifying_key().to_encoded_point(false);
    let id = DeviceId::from_sec1_bytes(uncompressed.as_bytes()).unwrap();
    assert_eq!(id, key.id());
}

#[test]
fn bad_device_ids_are_rejected_with_the_reason() {
    type Check = fn(&DeviceIdError) -> bool;
    let cases: &[(&str, Check)] = &[
        ("zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", |e| {
            matches!(e, DeviceIdError::NotDidKey(_))
        }),
        ("did:web:example.com", |e| {
            matches!(e, DeviceIdError::NotDidKey(_))
        }),
        (
            "did:key:uQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
            |e| matches!(e, DeviceIdError::NotBase58btc),
        ),
        (
            "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYB0e",
            |e| matches!(e, DeviceIdError::BadBase58(_)),
        ),
        // An Ed25519 did:key from the same specification.
        (
            "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
            |e| matches!(e, DeviceIdError::NotSecp256k1(_)),
        ),
        ("did:key:z", |e| matches!(e, DeviceIdError::NotSecp256k1(_))),
    ];
    for (text, check) in cases {
        let err = text.parse::<DeviceId>().unwrap_err();
        assert!(check(&err), "{text}: unexpected {err:?}");
        assert!(!err.to_string().is_empty());
    }

    // The secp256k1 multicodec with a key of the wrong length.
    let mut short = vec![0xe7, 0x01];
    short.extend_from_slice(&vector_key(0).id().as_bytes()[..32]);
    let text = format!("did:key:z{}", bs58::encode(short).into_string());
    assert_eq!(
        text.parse::<DeviceId>().unwrap_err(),
        DeviceIdError::WrongLength { found: 32 }
    );

    // 0xe7 0x01 + 33 bytes that are not a curve point (x = 0 has no square root here).
    let mut payload = vec![0xe7, 0x01, 0x02];
    payload.extend_from_slice(&[0u8; 32]);
    let text = format!("did:key:z{}", bs58::encode(payload).into_string());
    assert_eq!(
        text.parse::<DeviceId>().unwrap_err(),
        DeviceIdError::InvalidPoint
    );
}

#[test]
fn bad_secret_bytes_are_rejected() {
    assert_eq!(
        DeviceKey::from_secret_bytes(&[1u8; 31]).unwrap_err(),
        SecretKeyError::WrongLength { found: 31 }
    );
    assert_eq!(
        DeviceKey::from_secret_bytes(&[0u8; 32]).unwrap_err(),
        SecretKeyError::OutOfRange
    );
    assert_eq!(
        DeviceKey::from_secret_bytes(&[0xffu8; 32]).unwrap_err(),
        SecretKeyError::OutOfRange
    );
    assert!(matches!(
        LocalWallet::from_secret_hex("0xnothex").unwrap_err(),
        SecretKeyError::NotHex(_)
    ));
}

#[test]
fn debug_output_never_shows_the_private_key() {
    let key = vector_key(0);
    let debug = format!("{key:?}");
    assert!(!debug.contains(DID_KEY_VECTORS[0].0));
    assert!(debug.contains(DID_KEY_VECTORS[0].2));
    let wallet = LocalWallet::from_secret_hex(DID_KEY_VECTORS[0].0).unwrap();
    assert!(!format!("{wallet:?}").contains(DID_KEY_VECTORS[0].0));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn plain_key_file_round_trips_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/device.key");
    let key = DeviceKey::generate();
    key.save(&path, None).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let loaded = DeviceKey::load(&path, None).unwrap();
    assert_eq!(loaded.key.id(), key.id());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // A passphrase given for a plain file is simply not needed.
    assert_eq!(
        DeviceKey::load(&path, Some("unused")).unwrap().key.id(),
        key.id()
    );
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn saving_replaces_an_existing_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.key");
    DeviceKey::generate().save(&path, None).unwrap();
    let second = DeviceKey::generate();
    second.save(&path, None).unwrap();
    assert_eq!(DeviceKey::load(&path, None).unwrap().key.id(), second.id());
}

#[test]
fn sealed_key_file_round_trips_and_rejects_a_wrong_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.key");
    let key = DeviceKey::generate();
    key.save(&path, Some("correct horse battery staple"))
        .unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let raw = fs::read(&path).unwrap();
    assert!(
        !raw.windows(32)
            .any(|w| w == key.signing_key().to_bytes().as_slice()),
        "the sealed file must not contain the key in the clear"
    );

    let loaded = DeviceKey::load(&path, Some("correct horse battery staple")).unwrap();
    assert_eq!(loaded.key.id(), key.id());

    let err = DeviceKey::load(&path, Some("wrong")).unwrap_err();
    assert!(
        matches!(err, KeyFileError::WrongPassphrase { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("wrong passphrase"));
    assert!(err.to_string().contains(&path.display().to_string()));

    let err = DeviceKey::load(&path, None).unwrap_err();
    assert!(
        matches!(err, KeyFileError::PassphraseRequired { .. }),
        "{err:?}"
    );

    assert!(matches!(
        key.save(&path, Some("")).unwrap_err(),
        KeyFileError::EmptyPassphrase
    ));
}

#[test]
fn a_modified_sealed_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.key");
    DeviceKey::generate().save(&path, Some("pw")).unwrap();
    let mut raw = fs::read(&path).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    fs::write(&path, &raw).unwrap();
    assert!(matches!(
        DeviceKey::load(&path, Some("pw")).unwrap_err(),
        KeyFileError::WrongPassphrase { .. }
    ));
}

#[test]
fn truncated_and_garbage_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.key");
    for passphrase in [None, Some("pw")] {
        DeviceKey::generate().save(&path, passphrase).unwrap();
        let raw = fs::read(&path).unwrap();
        fs::write(&path, &raw[..raw.len() - 5]).unwrap();
        let err = DeviceKey::load(&path, passphrase).unwrap_err();
        assert!(matches!(err, KeyFileError::Damaged { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("truncated"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
    }

    for garbage in [
        &b""[..],
        b"-----BEGIN PRIVATE KEY-----\n",
        b"weftkey",
        &[0xffu8; 200][..],
    ] {
        fs::write(&path, garbage).unwrap();
        let err = DeviceKey::load(&path, None).unwrap_err();
        assert!(matches!(err, KeyFileError::Damaged { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    let mut future = b"weftkey".to_vec();
    future.extend_from_slice(&[9, 0, 0]);
    future.extend_from_slice(&[1u8; 32]);
    fs::write(&path, &future).unwrap();
    assert!(matches!(
        DeviceKey::load(&path, None).unwrap_err(),
        KeyFileError::UnsupportedVersion { version: 9, .. }
    ));

    assert!(matches!(
        DeviceKey::load(&dir.path().join("absent.key"), None).unwrap_err(),
        KeyFileError::Missing { .. }
    ));
    assert!(matches!(
        DeviceKey::load(dir.path(), None).unwrap_err(),
        KeyFileError::Damaged { .. } | KeyFileError::Io { .. }
    ));
}

#[test]
fn device_and_wallet_key_files_are_not_interchangeable() {
    let dir = tempfile::tempdir().unwrap();
    let wallet_path = dir.path().join("wallet.key");
    let wallet = LocalWallet::generate();
    wallet.save(&wallet_path, None).unwrap();
    assert_eq!(
        LocalWallet::load(&wallet_path, None).unwrap().key.address(),
        wallet.address()
    );
    let err = DeviceKey::load(&wallet_path, None).unwrap_err();
    assert!(
        matches!(
            err,
            KeyFileError::WrongKind {
                expected: KeyKind::Device,
                found: KeyKind::Wallet,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("holds a wallet key, not a device key"));

    let sealed = dir.path().join("wallet-sealed.key");
    wallet.save(&sealed, Some("pw")).unwrap();
    assert_eq!(
        LocalWallet::load(&sealed, Some("pw"))
            .unwrap()
            .key
            .address(),
        wallet.address()
    );
}

#[cfg(unix)]
#[test]
fn loose_permissions_load_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.key");
    let key = DeviceKey::generate();
    key.save(&path, None).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let loaded = DeviceKey::load(&path, None).unwrap();
    assert_eq!(loaded.key.id(), key.id());
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].contains("644"), "{}", loaded.warnings[0]);
    assert!(
        loaded.warnings[0].contains("chmod 600"),
        "{}",
        loaded.warnings[0]
    );
}
