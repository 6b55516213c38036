//! ReCap (EIP-5573) encoding and statement translation, checked against the EIP's examples.

use weft::identity::{parse_canonical_siwe, Recap, RecapError};

/// The ReCap URI and the statement given for it in EIP-5573 (the example with `prf` and
/// restrictions).
const EIP_RECAP: &str = "urn:recap:eyJhdHQiOnsiaHR0cHM6Ly9leGFtcGxlLmNvbS9waWN0dXJlcy8iOnsiY3J1ZC9kZWxldGUiOlt7fV0sImNydWQvdXBkYXRlIjpbe31dLCJvdGhlci9hY3Rpb24iOlt7fV19LCJtYWlsdG86dXNlcm5hbWVAZXhhbXBsZS5jb20iOnsibXNnL3JlY2VpdmUiOlt7Im1heF9jb3VudCI6NSwidGVtcGxhdGVzIjpbIm5ld3NsZXR0ZXIiLCJtYXJrZXRpbmciXX1dLCJtc2cvc2VuZCI6W3sidG8iOiJzb21lb25lQGVtYWlsLmNvbSJ9LHsidG8iOiJqb2VAZW1haWwuY29tIn1dfX0sInByZiI6WyJ6ZGo3V2o2Rk5TNHJVVWJzaUp2amp4Y3NOcVpkRENTaVlSOHNLUVhmb1BmcFNadUF3Il19";
const EIP_RECAP_STATEMENT: &str = "I further authorize the stated URI to perform the following actions on my behalf: (1) 'crud': 'delete', 'update' for 'https://example.com/pictures/'. (2) 'other': 'action' for 'https://example.com/pictures/'. (3) 'msg': 'receive', 'send' for 'mailto:username@example.com'.";

/// The complete example SIWE message of EIP-5573.
const EIP_MESSAGE: &str = "example.com wants you to sign in with your Ethereum account:
0x0000000000000000000000000000000000000000

I further authorize the stated URI to perform the following actions on my behalf: (1) 'example': 'append', 'read' for 'https://example.com'. (2) 'other': 'action' for 'https://example.com'. (3) 'example': 'append', 'delete' for 'my:resource:uri.1'. (4) 'example': 'append' for 'my:resource:uri.2'. (5) 'example': 'append' for 'my:resource:uri.3'.

URI: did:key:example
Version: 1
Chain ID: 1
Nonce: mynonce1
Issued At: 2022-06-21T12:00:00.000Z
Resources:
- urn:recap:eyJhdHQiOnsiaHR0cHM6Ly9leGFtcGxlLmNvbSI6eyJleGFtcGxlL2FwcGVuZCI6W10sImV4YW1wbGUvcmVhZCI6W10sIm90aGVyL2FjdGlvbiI6W119LCJteTpyZXNvdXJjZTp1cmkuMSI6eyJleGFtcGxlL2FwcGVuZCI6W10sImV4YW1wbGUvZGVsZXRlIjpbXX0sIm15OnJlc291cmNlOnVyaS4yIjp7ImV4YW1wbGUvYXBwZW5kIjpbXX0sIm15OnJlc291cmNlOnVyaS4zIjp7ImV4YW1wbGUvYXBwZW5kIjpbXX19LCJwcmYiOltdfQ";

fn encode(json: &str) -> String {
    // An independent unpadded base64url encoder, so these tests do not trust the library's.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = json.as_bytes();
    let mut out = String::from("urn:recap:");
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn the_eip_example_capability_translates_to_the_eip_statement() {
    let recap = Recap::from_resource_uri(EIP_RECAP).unwrap();
    assert_eq!(recap.statement(), EIP_RECAP_STATEMENT);
    assert_eq!(recap.to_resource_uri(), EIP_RECAP);
    assert_eq!(
        recap.prf,
        vec!["zdj7Wj6FNS4rUUbsiJvjjxcsNqZdDCSiYR8sKQXfoPfpSZuAw".to_string()]
    );
    assert!(recap.grants_unrestricted("https://example.com/pictures/", "crud/delete"));
    assert!(!recap.grants_unrestricted("mailto:username@example.com", "msg/send"));
}

#[test]
fn the_eip_example_message_statement_ends_with_its_recap_statement() {
    let message = parse_canonical_siwe(EIP_MESSAGE).unwrap();
    let recap = Recap::from_resource_uri(message.resources.last().unwrap().as_str()).unwrap();
    assert!(message.statement.unwrap().ends_with(&recap.statement()));
    assert_eq!(
        recap.to_resource_uri(),
        message.resources.last().unwrap().as_str()
    );
}

#[test]
fn weft_grants_round_trip() {
    let recap = Recap::new()
        .grant("urn:weft:workspace:b", "weft/sign-changes")
        .grant("urn:weft:workspace:a", "weft/sign-changes")
        .grant("urn:weft:workspace:a", "weft/read");
    assert_eq!(
        recap.to_json(),
        r#"{"att":{"urn:weft:workspace:a":{"weft/read":[{}],"weft/sign-changes":[{}]},"urn:weft:workspace:b":{"weft/sign-changes":[{}]}},"prf":[]}"#
    );
    assert_eq!(
        recap.statement(),
        "I further authorize the stated URI to perform the following actions on my behalf: (1) 'weft': 'read', 'sign-changes' for 'urn:weft:workspace:a'. (2) 'weft': 'sign-changes' for 'urn:weft:workspace:b'."
    );
    let uri = recap.to_resource_uri();
    assert_eq!(uri, encode(&recap.to_json()));
    assert_eq!(Recap::from_resource_uri(&uri).unwrap(), recap);
}

#[test]
fn only_canonical_well_formed_recaps_are_accepted() {
    let canonical = r#"{"att":{"urn:weft:workspace:*":{"weft/sign-changes":[{}]}},"prf":[]}"#;
    assert!(Recap::from_resource_uri(&encode(canonical)).is_ok());

    type Check = fn(&RecapError) -> bool;
    let cases: &[(&str, Check)] = &[
        (
            r#"{"prf":[],"att":{"urn:weft:workspace:*":{"weft/sign-changes":[{}]}}}"#,
            |e| *e == RecapError::NotCanonical,
        ),
        (
            r#"{"att": {"urn:weft:workspace:*":{"weft/sign-changes":[{}]}},"prf":[]}"#,
            |e| *e == RecapError::NotCanonical,
        ),
        (
            r#"{"att":{"urn:weft:workspace:b":{"weft/x":[{}]},"urn:weft:workspace:a":{"weft/x":[{}]}},"prf":[]}"#,
            |e| *e == RecapError::NotCanonical,
        ),
        (
            r#"{"att":{"urn:weft:workspace:*":{"sign-changes":[{}]}},"prf":[]}"#,
            |e| matches!(e, RecapError::BadAbility(_)),
        ),
        (
            r#"{"att":{"workspace":{"weft/sign-changes":[{}]}},"prf":[]}"#,
            |e| matches!(e, RecapError::BadTarget(_)),
        ),
        (
            r#"{"att":{"urn:x:'quoted'":{"weft/sign-changes":[{}]}},"prf":[]}"#,
            |e| matches!(e, RecapError::BadTarget(_)),
        ),
        (
            r#"{"att":{"urn:weft:workspace:*":{"weft/sign-changes":[1]}},"prf":[]}"#,
            |e| matches!(e, RecapError::BadJson(_)),
        ),
        (
            r#"{"att":{"urn:weft:workspace:*":{"weft/sign-changes":[{}]}},"prf":[],"x":1}"#,
            |e| matches!(e, RecapError::BadJson(_)),
        ),
        (r#"{"att":{},"prf":[]}"#, |e| *e == RecapError::Empty),
        (r#"{"att":{"urn:a:b":{}},"prf":[]}"#, |e| {
            *e == RecapError::Empty
        }),
        ("not json", |e| matches!(e, RecapError::BadJson(_))),
    ];
    for (json, check) in cases {
        let err = Recap::from_resource_uri(&encode(json)).unwrap_err();
        assert!(check(&err), "{json}: unexpected {err:?}");
    }
    assert_eq!(
        Recap::from_resource_uri("urn:other:abc").unwrap_err(),
        RecapError::NotRecapUri
    );
    let long = format!("urn:recap:{}", "A".repeat(5000));
    assert!(matches!(
        Recap::from_resource_uri(&long).unwrap_err(),
        RecapError::TooLong { .. }
    ));
}
