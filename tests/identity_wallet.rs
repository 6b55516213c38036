//! Addresses, EIP-191 signatures and the local wallet.

use weft::identity::{
    eip191_hash, recover_address, Address, AddressError, LocalWallet, Signature65, SignatureError,
};

/// The first well-known development account of anvil/hardhat.
const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const DEV_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// Made with eth-account 0.14 (`Account.sign_message(encode_defunct(text=…), DEV_KEY)`).
const DEV_SIGNATURES: &[(&str, &str)] = &[
    ("hello weft", "0x390d24e2209a0d050659eb33c1027bad15235bbb968183ea9440b4c2b082133b4d521cdd79781812a370274adfe8478d4262c8acad1ab214a131a75c7c0458df1b"),
    ("hello weft 1", "0xdaec4cd0878b622fc1b1f8ede3879d1746f91bda936d5b006d584bac97fc3c791210874f8a4624d3485c2ba3db786f28cff4a4141e05c8a19da2c4cf8b24dd841c"),
];

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

fn dev_wallet() -> LocalWallet {
    LocalWallet::from_secret_hex(DEV_KEY).unwrap()
}

#[test]
fn eip55_vectors_display_and_parse() {
    // From EIP-55.
    let valid = [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
    ];
    for text in valid {
        let address: Address = text.parse().unwrap();
        assert_eq!(address.to_string(), text);
        let lower: Address = text.to_lowercase().parse().unwrap();
        assert_eq!(lower, address, "all-lowercase is accepted");
        let upper: Address = format!("0x{}", text[2..].to_uppercase()).parse().unwrap();
        assert_eq!(upper, address, "all-uppercase is accepted");
    }
}

#[test]
fn bad_addresses_are_rejected_with_the_reason() {
    let err = "0xD1220a0cf47c7B9Be7A2E6BA89F429762e7b9aDb"
        .parse::<Address>()
        .unwrap_err();
    assert_eq!(
        err,
        AddressError::BadChecksum {
            expected: "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb".into()
        }
    );
    assert!(err.to_string().contains("typo"));
    assert_eq!(
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA"
            .parse::<Address>()
            .unwrap_err(),
        AddressError::WrongLength { found: 38 }
    );
    assert_eq!(
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedAA"
            .parse::<Address>()
            .unwrap_err(),
        AddressError::WrongLength { found: 42 }
    );
    assert_eq!(
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
            .parse::<Address>()
            .unwrap_err(),
        AddressError::MissingPrefix
    );
    assert_eq!(
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg"
            .parse::<Address>()
            .unwrap_err(),
        AddressError::NotHex
    );
    assert_eq!(
        " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n"
            .parse::<Address>()
            .unwrap()
            .to_string(),
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    );
}

#[test]
fn addresses_serialise_as_checksummed_strings() {
    let address: Address = DEV_ADDRESS.parse().unwrap();
    let json = serde_json::to_string(&address).unwrap();
    assert_eq!(json, format!("\"{DEV_ADDRESS}\""));
    assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), address);
    assert!(serde_json::from_str::<Address>("\"0x1234\"").is_err());
}

#[test]
fn local_wallet_matches_eth_account() {
    let wallet = dev_wallet();
    assert_eq!(wallet.address().to_string(), DEV_ADDRESS);
    for (message, expected) in DEV_SIGNATURES {
        let signature = wallet.sign_message(message.as_bytes());
        assert_eq!(signature.to_hex(), *expected, "{message}");
        assert_eq!(
            recover_address(message.as_bytes(), &signature).unwrap(),
            wallet.address()
        );
    }
    // Both recovery parities are covered by the vectors.
    let vs: Vec<u8> = DEV_SIGNATURES
        .iter()
        .map(|(_, s)| s.parse::<Signature65>().unwrap().as_bytes()[64])
        .collect();
    assert_eq!(vs, [27, 28]);
}

#[test]
fn known_siwe_signature_recovers_its_address() {
    // The example in the siwe crate's documentation.
    let message = "localhost:4361 wants you to sign in with your Ethereum account:\n0x6Da01670d8fc844e736095918bbE11fE8D564163\n\nSIWE Notepad Example\n\nURI: http://localhost:4361\nVersion: 1\nChain ID: 1\nNonce: kEWepMt9knR6lWJ6A\nIssued At: 2021-12-07T18:28:18.807Z";
    let signature: Signature65 = "6228b3ecd7bf2df018183aeab6b6f1db1e9f4e3cbe24560404112e25363540eb679934908143224d746bbb5e1aa65ab435684081f4dbb74a0fec57f98f40f5051c".parse().unwrap();
    assert_eq!(
        signature.recover(message.as_bytes()).unwrap().to_string(),
        "0x6Da01670d8fc844e736095918bbE11fE8D564163"
    );
}

#[test]
fn eip191_hash_prefixes_the_decimal_length() {
    use sha3::{Digest, Keccak256};
    let message = b"0123456789ab";
    let expected: [u8; 32] =
        Keccak256::digest(b"\x19Ethereum Signed Message:\n120123456789ab").into();
    assert_eq!(eip191_hash(message), expected);
}

#[test]
fn signing_then_recovering_round_trips() {
    let wallet = LocalWallet::generate();
    for len in [0usize, 1, 31, 32, 33, 1000] {
        let message: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let signature = wallet.sign_message(&message);
        assert!(matches!(signature.as_bytes()[64], 27 | 28));
        assert_eq!(signature.recover(&message).unwrap(), wallet.address());
        // Another message recovers some other address: the caller must compare.
        let mut other = message.clone();
        other.push(1);
        assert_ne!(signature.recover(&other).unwrap(), wallet.address());
    }
}

#[test]
fn recovery_byte_zero_and_one_are_normalised() {
    let wallet = dev_wallet();
    for (message, _) in DEV_SIGNATURES {
        let signature = wallet.sign_message(message.as_bytes());
        let mut raw = *signature.as_bytes();
        raw[64] -= 27;
        let normalised = Signature65::from_bytes(&raw).unwrap();
        assert_eq!(normalised, signature);
        assert_eq!(
            normalised.recover(message.as_bytes()).unwrap(),
            wallet.address()
        );
    }
}

#[test]
fn other_recovery_bytes_are_rejected() {
    let signature = dev_wallet().sign_message(b"hello weft");
    for v in [2u8, 26, 29, 35, 36, 37, 38, 55, 255] {
        let mut raw = *signature.as_bytes();
        raw[64] = v;
        let err = Signature65::from_bytes(&raw).unwrap_err();
        assert_eq!(err, SignatureError::BadRecoveryByte { v });
        assert!(err.to_string().contains(&format!("v = {v}")));
    }
}

#[test]
fn high_s_twins_are_normalised_to_the_same_signature() {
    let wallet = dev_wallet();
    for (message, _) in DEV_SIGNATURES {
        let signature = wallet.sign_message(message.as_bytes());
        let twin = high_s_twin(signature.as_bytes());
        assert_ne!(&twin, signature.as_bytes());
        let normalised = Signature65::from_bytes(&twin).unwrap();
        assert_eq!(normalised, signature);
        assert_eq!(
            normalised.recover(message.as_bytes()).unwrap(),
            wallet.address()
        );
        // The twin written with v = 0/1 is accepted too.
        let mut twin01 = twin;
        twin01[64] -= 27;
        assert_eq!(Signature65::from_bytes(&twin01).unwrap(), signature);
    }
}

#[test]
fn pasted_signatures_are_parsed_leniently_but_checked() {
    let (_, hex) = DEV_SIGNATURES[0];
    let expected: Signature65 = hex.parse().unwrap();
    for pasted in [
        hex.to_string(),
        hex.trim_start_matches("0x").to_string(),
        format!("  {hex}\n"),
        format!("\r\n{}\r\n", hex.to_uppercase().replace("0X", "0x")),
        format!("\"{hex}\""),
    ] {
        assert_eq!(
            pasted.parse::<Signature65>().unwrap(),
            expected,
            "{pasted:?}"
        );
    }

    let long = format!("{hex}00");
    let cases: &[(&str, SignatureError)] = &[
        ("", SignatureError::Empty),
        ("  0x \n", SignatureError::Empty),
        (
            &hex[..hex.len() - 2],
            SignatureError::WrongLength { found: 64 },
        ),
        (&long, SignatureError::WrongLength { found: 66 }),
    ];
    for (text, expected) in cases {
        assert_eq!(
            text.parse::<Signature65>().unwrap_err(),
            *expected,
            "{text}"
        );
    }
    for garbage in ["0xzz", "hello", "0x12 34", &hex[..hex.len() - 1]] {
        let err = garbage.parse::<Signature65>().unwrap_err();
        assert!(
            matches!(err, SignatureError::NotHex(_)),
            "{garbage}: {err:?}"
        );
    }
}

#[test]
fn out_of_range_r_and_s_are_rejected() {
    let good = *dev_wallet().sign_message(b"x").as_bytes();
    let mut zero_r = good;
    zero_r[..32].fill(0);
    assert_eq!(
        Signature65::from_bytes(&zero_r).unwrap_err(),
        SignatureError::OutOfRange
    );
    let mut zero_s = good;
    zero_s[32..64].fill(0);
    assert_eq!(
        Signature65::from_bytes(&zero_s).unwrap_err(),
        SignatureError::OutOfRange
    );
    let mut big_s = good;
    big_s[32..64].copy_from_slice(&ORDER);
    assert_eq!(
        Signature65::from_bytes(&big_s).unwrap_err(),
        SignatureError::OutOfRange
    );
}

#[test]
fn signatures_serialise_as_hex_strings() {
    let signature = dev_wallet().sign_message(b"hello weft");
    let json = serde_json::to_string(&signature).unwrap();
    assert_eq!(json, format!("\"{}\"", DEV_SIGNATURES[0].1));
    assert_eq!(
        serde_json::from_str::<Signature65>(&json).unwrap(),
        signature
    );
    let twin = format!("\"0x{}\"", hex::encode(high_s_twin(signature.as_bytes())));
    assert_eq!(
        serde_json::from_str::<Signature65>(&twin).unwrap(),
        signature
    );
}
