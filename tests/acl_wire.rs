//! Decoding never panics: random bytes, truncations and bit flips of valid envelopes and
//! membership ops (key rotations, invites and shares included) are errors (or, for a flip that
//! still parses, fail the signature check); key material decodes the same way.

use proptest::prelude::*;
use weft::acl::{AclOp, AclOpBody, AclOpKind, ContentVersion, Role};
use weft::crypto::envelope::{HEADER_VERSION, MAX_ACL_HEADS, MAX_PEERS};
use weft::crypto::{
    AclOpId, Envelope, EnvelopeError, EnvelopeHeader, EpochKey, InviteSecret, KeyShare, Lockbox,
    PreviousKeys, WireError, WorkspaceId, WrappedKey,
};
use weft::identity::{Address, CertHash, DeviceKey};

fn key() -> DeviceKey {
    DeviceKey::from_secret_bytes(&[7u8; 32]).unwrap()
}

fn envelope(peers: Vec<u64>, heads: usize, payload: Vec<u8>) -> Envelope {
    let key = key();
    let header = EnvelopeHeader {
        version: HEADER_VERSION,
        workspace: WorkspaceId([1; 32]),
        epoch: 1,
        device: key.id(),
        cert_hash: CertHash([2; 32]),
        seq: 3,
        time: 1_790_000_000,
        peers,
        acl_heads: (0..heads).map(|i| AclOpId([i as u8; 32])).collect(),
        salts: vec![],
        builds_on: vec![],
        nonce: vec![],
    };
    Envelope::seal_encrypted(header, &payload, &key, &EpochKey::from_bytes([3; 32])).unwrap()
}

fn op(kind_pick: u8) -> AclOp {
    let key = key();
    let member = Address::from_bytes([9; 20]);
    let ws = WorkspaceId([1; 32]);
    let epoch_key = EpochKey::from_bytes([6; 32]);
    let kind = match kind_pick % 7 {
        0 => AclOpKind::Add {
            member,
            role: Role::Editor,
        },
        1 => AclOpKind::ChangeRole {
            member,
            role: Role::Viewer,
        },
        2 => AclOpKind::Remove { member },
        3 => AclOpKind::RevokeDevice { device: key.id() },
        4 => AclOpKind::RotateKey {
            epoch: 2,
            check: epoch_key.check(&ws, 2),
            wraps: vec![(key.id(), WrappedKey::seal(&epoch_key, &ws, 2, &key.id()))],
            previous: PreviousKeys::seal(&[(1, EpochKey::from_bytes([5; 32]))], &epoch_key, &ws, 2)
                .unwrap(),
        },
        5 => {
            let secret = InviteSecret::from_bytes([8; 32]);
            AclOpKind::Invite {
                id: secret.id(),
                member,
                role: Role::Commenter,
                lockbox: Lockbox::seal(&[(1, epoch_key)], &secret, &ws).unwrap(),
            }
        }
        _ => AclOpKind::ShareKeys {
            device: key.id(),
            share: KeyShare::seal(&[(1, epoch_key)], &ws, &key.id()).unwrap(),
        },
    };
    AclOp::sign(
        AclOpBody {
            kind,
            author: key.id(),
            cert_hash: CertHash([4; 32]),
            parents: vec![AclOpId([5; 32])],
            time: 1_790_000_000,
            seen: ContentVersion([(11, 4), (12, 9)].into_iter().collect()),
        },
        &key,
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Envelope::decode(&bytes);
        let _ = AclOp::decode(&bytes);
        let mut prefixed = b"WFTE".to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = Envelope::decode(&prefixed);
        let mut prefixed = b"WFTA".to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = AclOp::decode(&prefixed);
    }

    #[test]
    fn random_key_material_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let me = key();
        let ws = WorkspaceId([1; 32]);
        if let Ok(w) = WrappedKey::decode(&bytes) {
            let _ = w.open(&ws, 1, &me);
        }
        if let Ok(p) = PreviousKeys::decode(&bytes) {
            let _ = p.open(&EpochKey::from_bytes([1; 32]), &ws, 1);
        }
        if let Ok(l) = Lockbox::decode(&bytes) {
            let _ = l.open(&InviteSecret::from_bytes([1; 32]), &ws);
        }
        if let Ok(s) = KeyShare::decode(&bytes) {
            let _ = s.open(&ws, &me);
        }
    }

    #[test]
    fn truncations_of_valid_encodings_are_errors(
        peers in proptest::collection::btree_set(any::<u64>(), 0..8),
        heads in 0usize..6,
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        pick in any::<u8>(),
    ) {
        let env = envelope(peers.into_iter().collect(), heads, payload);
        let bytes = env.encode();
        prop_assert_eq!(Envelope::decode(&bytes).unwrap(), env);
        for cut in 0..bytes.len() {
            prop_assert!(Envelope::decode(&bytes[..cut]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(Envelope::decode(&longer).is_err());
        let o = op(pick);
        let ob = o.encode();
        for cut in 0..ob.len() {
            prop_assert!(AclOp::decode(&ob[..cut]).is_err());
        }
    }

    #[test]
    fn bit_flips_are_errors_or_fail_the_signature(
        payload in proptest::collection::vec(any::<u8>(), 1..100),
        at in any::<usize>(),
        bit in 0u8..8,
        pick in any::<u8>(),
    ) {
        let env = envelope(vec![1, 2], 2, payload);
        let mut bytes = env.encode();
        let i = at % bytes.len();
        bytes[i] ^= 1 << bit;
        if let Ok(e) = Envelope::decode(&bytes) {
            prop_assert!(e.verify_signature().is_err());
        }
        let o = op(pick);
        let mut ob = o.encode();
        let j = at % ob.len();
        ob[j] ^= 1 << bit;
        if let Ok(o) = AclOp::decode(&ob) {
            prop_assert!(o.verify_signature().is_err());
        }
    }
}

#[test]
fn caps_are_enforced_when_sealing_and_when_reading() {
    let key = key();
    let too_many_peers = EnvelopeHeader {
        version: HEADER_VERSION,
        workspace: WorkspaceId([1; 32]),
        epoch: 0,
        device: key.id(),
        cert_hash: CertHash([2; 32]),
        seq: 1,
        time: 0,
        peers: (0..=MAX_PEERS as u64).collect(),
        acl_heads: vec![],
        salts: vec![],
        builds_on: vec![],
        nonce: vec![],
    };
    assert!(matches!(
        Envelope::seal(too_many_peers.clone(), vec![], &key),
        Err(EnvelopeError::Malformed(WireError::TooLarge { .. }))
    ));
    let too_many_heads = EnvelopeHeader {
        peers: vec![],
        acl_heads: (0..=MAX_ACL_HEADS)
            .map(|i| AclOpId([i as u8; 32]))
            .collect(),
        ..too_many_peers
    };
    assert!(Envelope::seal(too_many_heads, vec![], &key).is_err());
    // A length prefix claiming more than the cap is refused before anything is read.
    let mut bytes = envelope(vec![], 0, vec![]).encode();
    let header_len = u16::from_be_bytes([bytes[4], bytes[5]]) as usize;
    let at = 6 + header_len;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Envelope::decode(&bytes),
        Err(EnvelopeError::Malformed(WireError::TooLarge { .. }))
    ));
    bytes[4..6].copy_from_slice(&u16::MAX.to_be_bytes());
    assert!(matches!(
        Envelope::decode(&bytes),
        Err(EnvelopeError::Malformed(WireError::TooLarge { .. }))
    ));
}
