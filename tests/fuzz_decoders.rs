//! Every decoder of input from outside the process, under structured fuzzing: envelopes,
//! membership ops (and the key material and certificates inside them), room frames (sealed and
//! open), log segments, snapshot objects and snapshot payloads, join codes, pairing
//! certificates and key files. Valid samples come from the real encoders (real wallets, device
//! keys, certificates, signatures and sealing); thousands of structured mutants of them must each
//! be decoded to `Ok` or a typed error without a panic, and without any single allocation over
//! the decoder's bound. What decodes is fed onward where cheap (signature checks, opening with
//! the right key, the engine).
//!
//! `WEFT_FUZZ_SEED` replays a run's mutations, `WEFT_FUZZ_ITERS` sets the mutants per decoder
//! (see `fuzz_common`).

mod acl_common;
mod fuzz_common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use acl_common::{at, plaintext, seal_as, team, T0};
use fuzz_common::{iters, proportional, run, Rng, Sample};
use weft::acl::{AclOp, AclOpKind, Outcome, Refusal, Role};
use weft::crypto::{
    AclOpId, Envelope, EnvelopeHeader, EpochKey, InviteSecret, KeyShare, Lockbox, PreviousKeys,
    WorkspaceId, WrappedKey,
};
use weft::identity::{
    parse_canonical_siwe, CertHash, DeviceId, DeviceKey, KeyFileError, LocalWallet,
    PairingCertificate, Recap, Signature65, VerifyPolicy,
};
use weft::sync::live::{Frame, OpsHeld, Sealer};
use weft::sync::seal::CarrierKey;
use weft::sync::share::{
    decode_segment, decode_snapshot, encode_segment, encode_snapshot, JoinCode,
};

/// Random mutants per decoder by default (the whole file runs in well under a minute in a debug
/// build on two cores).
const DEFAULT_ITERS: usize = 8000;

// ---------------------------------------------------------------------------------------------
// Valid inputs from the real encoders, built once.

struct Corpus {
    workspace: WorkspaceId,
    /// Every epoch key of the workspace, to open envelopes that decode.
    keys: Vec<(u32, EpochKey)>,
    envelopes: Vec<Vec<u8>>,
    ops: Vec<Vec<u8>>,
    certificates: Vec<(PairingCertificate, DeviceId)>,
    devices: Vec<DeviceId>,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(build_corpus)
}

fn build_corpus() -> Corpus {
    let mut t = team();
    let doc = t.doc;
    let net = &mut t.net;
    // More kinds of op: an invite (and its redemption), a role change, a device revocation and
    // a removal (each followed by a key rotation), keys shared with one device.
    let guest = LocalWallet::generate();
    let joiner = net.join("guest", &guest);
    net.invite("admin", joiner, guest.address(), Role::Viewer);
    net.sync();
    let viewer = t.viewer.address();
    net.act("owner", |r, now| {
        r.change_role(viewer, Role::Commenter, now)
    });
    let editor2 = net.replicas[net.index("editor2")].identity().device();
    net.act("owner", |r, now| r.revoke_device(editor2, now));
    net.sync();
    let commenter = t.commenter.address();
    net.act("admin", |r, now| r.remove_member(commenter, now));
    net.sync();
    let admin = net.index("admin");
    let editor_device = net.replicas[net.index("editor")].identity().device();
    let now = net.tick();
    if let Ok(op) = net.replicas[admin].share_keys(editor_device, now) {
        net.publish_op(op);
    }
    net.edit("editor", |ws| {
        ws.append_body(doc, " and more").expect("edit");
    });
    net.sync();
    let now = net.tick();
    let snapshot = net.replicas[admin]
        .seal_snapshot(now)
        .expect("an admin seals a snapshot");

    let mut envelopes: Vec<Vec<u8>> = net.envelopes().iter().map(Envelope::encode).collect();
    envelopes.push(snapshot.encode());
    // The plaintext form with every count at its cap (built on a real header, so fields a newer
    // header adds keep their real values).
    let key = DeviceKey::generate();
    let full = Envelope::seal(
        EnvelopeHeader {
            epoch: 0,
            device: key.id(),
            cert_hash: CertHash([3; 32]),
            seq: 7,
            time: T0,
            peers: (0..64).collect(),
            acl_heads: (0..64u8).map(|i| AclOpId([i; 32])).collect(),
            nonce: vec![5; 32],
            ..snapshot.header().clone()
        },
        b"not a loro update".to_vec(),
        &key,
    )
    .expect("seal");
    envelopes.push(full.encode());

    let ops: Vec<Vec<u8>> = net
        .msgs
        .iter()
        .filter_map(|m| match m {
            acl_common::Msg::Acl(b) => Some(b.clone()),
            acl_common::Msg::Env(_) => None,
        })
        .collect();
    let mut certificates = Vec::new();
    for b in &ops {
        let op = AclOp::decode(b).expect("a published op decodes");
        if let AclOpKind::Genesis { certificate, .. }
        | AclOpKind::DeviceCertificate { certificate } = op.kind()
        {
            certificates.push((certificate.clone(), op.body().author));
        }
    }
    let mut keys = BTreeMap::new();
    for r in &net.replicas {
        for (e, k) in r.epoch_keys() {
            keys.entry(e).or_insert(k);
        }
    }
    Corpus {
        workspace: net.replicas[0].workspace_id(),
        keys: keys.into_iter().collect(),
        envelopes,
        ops,
        certificates,
        devices: net.replicas.iter().map(|r| r.identity().device()).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Where the length and count fields of each format are, so mutations hit them on purpose.

fn envelope_sample(bytes: &[u8]) -> Sample {
    let env = Envelope::decode(bytes).expect("a sample envelope decodes");
    let h = env.header();
    let header_len = env.header_bytes().len();
    let peers_at = 6 + 1 + 32 + 4 + 33 + 32 + 8 + 8;
    let heads_at = peers_at + 1 + 8 * h.peers.len();
    let nonce_at = heads_at + 1 + 32 * h.acl_heads.len();
    Sample::new(bytes.to_vec())
        .field(4, 2)
        .field(6, 1)
        .field(6 + 1 + 32, 4)
        .field(6 + 1 + 32 + 4 + 33 + 32, 8)
        .field(peers_at, 1)
        .field(heads_at, 1)
        .field(nonce_at, 1)
        .field(6 + header_len, 4)
}

/// The fields of a sealed key list starting at `at` holding `keys` keys.
fn key_list_fields(s: Sample, at: usize, keys: usize) -> Sample {
    s.field(at, 2).field(at + 2 + 36 * keys + 24, 4)
}

fn op_sample(bytes: &[u8]) -> Sample {
    let op = AclOp::decode(bytes).expect("a sample op decodes");
    let body = op.body();
    let body_end = bytes.len() - 64;
    let seen_at = body_end - 12 * body.seen.0.len() - 4;
    let parents_at = seen_at - 8 - 32 * body.parents.len() - 1;
    let s = Sample::new(bytes.to_vec())
        .field(4, 4)
        .field(8, 1)
        .field(9, 1)
        .field(seen_at, 4)
        .field(parents_at, 1)
        .field(seen_at - 8, 8);
    match op.kind() {
        AclOpKind::Genesis { .. } | AclOpKind::DeviceCertificate { .. } => s.field(10, 2),
        AclOpKind::RotateKey {
            wraps, previous, ..
        } => {
            let s = s.field(10, 4).field(46, 2);
            key_list_fields(s, 48 + 138 * wraps.len(), previous.index().len())
        }
        AclOpKind::Invite { lockbox, .. } => key_list_fields(s, 47, lockbox.index().len()),
        AclOpKind::ShareKeys { share, .. } => key_list_fields(s, 148, share.index().len()),
        _ => s,
    }
}

fn frame_sample(frame: &Frame) -> Sample {
    let s = Sample::new(frame.encode()).field(4, 1).field(5, 1);
    match frame {
        Frame::Hello { .. } => s.field(6 + 33, 4),
        Frame::Want { .. } => s.field(6, 4),
        _ => s,
    }
}

fn segment_sample(envelopes: &[&[u8]]) -> Sample {
    let bytes = encode_segment(envelopes);
    let mut s = Sample::new(bytes).field(4, 1).field(5, 4);
    let mut at = 9;
    for e in envelopes {
        s = s.field(at, 4);
        at += 4 + e.len();
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Onward checks on what decodes.

fn envelope_onward(c: &Corpus, env: &Envelope) {
    let _ = env.verify_signature();
    if let Some((_, k)) = c.keys.iter().find(|(e, _)| *e == env.header().epoch) {
        let _ = env.open(k);
    }
}

fn op_onward(op: &AclOp) {
    let _ = op.verify_signature();
    let _ = op.kind().describe();
    if let AclOpKind::Genesis { certificate, .. } | AclOpKind::DeviceCertificate { certificate } =
        op.kind()
    {
        let _ = certificate.verify_ignoring_time(&VerifyPolicy::default(), &op.body().author);
    }
}

// ---------------------------------------------------------------------------------------------
// The decoders.

#[test]
fn envelopes_survive_mutation() {
    let c = corpus();
    let samples: Vec<Sample> = c.envelopes.iter().map(|b| envelope_sample(b)).collect();
    run(
        "envelope",
        &samples,
        iters(DEFAULT_ITERS),
        |b| proportional(b.len()),
        |b| match Envelope::decode(b) {
            Ok(env) => {
                envelope_onward(c, &env);
                true
            }
            Err(e) => {
                let _ = e.to_string();
                false
            }
        },
    )
    .assert_clean();
}

#[test]
fn membership_ops_survive_mutation() {
    let c = corpus();
    let samples: Vec<Sample> = c.ops.iter().map(|b| op_sample(b)).collect();
    run(
        "membership op",
        &samples,
        iters(DEFAULT_ITERS),
        |b| proportional(b.len()),
        |b| match AclOp::decode(b) {
            Ok(op) => {
                op_onward(&op);
                true
            }
            Err(e) => {
                let _ = e.to_string();
                false
            }
        },
    )
    .assert_clean();
}

#[test]
fn key_material_survives_mutation() {
    let ws = WorkspaceId([4; 32]);
    let me = DeviceKey::generate();
    let under = EpochKey::generate();
    let secret = InviteSecret::generate();
    let keys: Vec<(u32, EpochKey)> = (1..=5).map(|e| (e, EpochKey::generate())).collect();
    let lists: Vec<Sample> = [0usize, 1, 5]
        .iter()
        .flat_map(|n| {
            let k = &keys[..*n];
            [
                key_list_fields(
                    Sample::new(PreviousKeys::seal(k, &under, &ws, 9).unwrap().encode()),
                    0,
                    *n,
                ),
                key_list_fields(
                    Sample::new(Lockbox::seal(k, &secret, &ws).unwrap().encode()),
                    0,
                    *n,
                ),
            ]
        })
        .collect();
    let shares: Vec<Sample> = [0usize, 2, 5]
        .iter()
        .map(|n| {
            let share = KeyShare::seal(&keys[..*n], &ws, &me.id()).unwrap();
            key_list_fields(Sample::new(share.encode()), 105, *n)
        })
        .collect();
    let wrapped: Vec<Sample> = (1..=3)
        .map(|e| Sample::new(WrappedKey::seal(&under, &ws, e, &me.id()).encode()))
        .collect();
    let n = iters(DEFAULT_ITERS) / 3;
    run(
        "previous keys / lockbox",
        &lists,
        n,
        |b| proportional(b.len()),
        |b| {
            let a = PreviousKeys::decode(b).map(|p| {
                let _ = p.open(&under, &ws, 9);
            });
            let l = Lockbox::decode(b).map(|l| {
                let _ = l.open(&secret, &ws);
            });
            a.is_ok() || l.is_ok()
        },
    )
    .assert_clean();
    run(
        "key share",
        &shares,
        n,
        |b| proportional(b.len()),
        |b| {
            KeyShare::decode(b)
                .map(|s| {
                    let _ = s.index();
                    let _ = s.open(&ws, &me);
                })
                .is_ok()
        },
    )
    .assert_clean();
    run(
        "wrapped key",
        &wrapped,
        n,
        |b| proportional(b.len()),
        |b| {
            WrappedKey::decode(b)
                .map(|w| {
                    let _ = w.open(&ws, 2, &me);
                })
                .is_ok()
        },
    )
    .assert_clean();
}

#[test]
fn room_frames_survive_mutation() {
    let c = corpus();
    let seqs: BTreeMap<DeviceId, u64> = c
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i as u64 * 1000 + 1))
        .collect();
    let mut frames = vec![
        Frame::Hello {
            device: c.devices[0],
            seqs: seqs.clone(),
            ops: Some(OpsHeld {
                count: 7,
                digest: [3; 32],
            }),
        },
        Frame::Hello {
            device: c.devices[1],
            seqs: BTreeMap::new(),
            ops: None,
        },
        Frame::Want {
            device: Some(c.devices[1]),
            seqs: seqs.clone(),
            ops: Some(OpsHeld {
                count: 2,
                digest: [9; 32],
            }),
        },
        Frame::Want {
            device: None,
            seqs,
            ops: None,
        },
        Frame::Presence(Rng::for_decoder("presence").bytes(80)),
        Frame::Part {
            id: [5; 16],
            index: 1,
            total: 3,
            bytes: Rng::for_decoder("part").bytes(300),
        },
    ];
    frames.extend(c.envelopes.iter().take(3).cloned().map(Frame::Envelope));
    frames.extend(c.ops.iter().take(3).cloned().map(Frame::AclOp));
    let samples: Vec<Sample> = frames.iter().map(frame_sample).collect();
    let decode = |b: &[u8]| match Frame::decode(b) {
        Ok(Frame::Envelope(e)) => {
            if let Ok(env) = Envelope::decode(&e) {
                envelope_onward(c, &env);
            }
            true
        }
        Ok(Frame::AclOp(o)) => {
            if let Ok(op) = AclOp::decode(&o) {
                op_onward(&op);
            }
            true
        }
        Ok(_) => true,
        Err(_) => false,
    };
    run(
        "room frame",
        &samples,
        iters(DEFAULT_ITERS),
        |b| proportional(b.len()),
        decode,
    )
    .assert_clean();

    // Sealed as they travel: mutants of the ciphertext must fail to open, cheaply.
    let sealer = Sealer {
        key: CarrierKey::generate(),
        id: c.workspace,
    };
    let sealed: Vec<Sample> = frames.iter().map(|f| Sample::new(sealer.seal(f))).collect();
    run(
        "sealed room frame",
        &sealed,
        iters(DEFAULT_ITERS) / 3,
        |b| proportional(b.len()),
        |b| sealer.open(b).is_ok(),
    )
    .assert_clean();
}

#[test]
fn log_segments_survive_mutation() {
    let c = corpus();
    let envs: Vec<&[u8]> = c.envelopes.iter().map(Vec::as_slice).collect();
    let samples = vec![
        segment_sample(&envs[..1]),
        segment_sample(&envs[..3.min(envs.len())]),
        segment_sample(&envs),
    ];
    run(
        "log segment",
        &samples,
        iters(DEFAULT_ITERS),
        |b| proportional(b.len()),
        |b| match decode_segment(b) {
            Ok(list) => {
                for e in list {
                    if let Ok(env) = Envelope::decode(e) {
                        envelope_onward(c, &env);
                    }
                }
                true
            }
            Err(_) => false,
        },
    )
    .assert_clean();
}

#[test]
fn snapshot_objects_survive_mutation() {
    let c = corpus();
    let snapshot = c.envelopes[c.envelopes.len() - 2].as_slice();
    let covers: BTreeMap<DeviceId, u64> = c
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i as u64 + 1))
        .collect();
    let author = weft::identity::DeviceKey::generate();
    let object = |covers: &BTreeMap<DeviceId, u64>| {
        encode_snapshot(covers, snapshot, &author, &c.workspace).expect("a snapshot envelope")
    };
    let samples = vec![
        Sample::new(object(&covers)).field(4, 1).field(5, 4),
        Sample::new(object(&BTreeMap::new()))
            .field(4, 1)
            .field(5, 4),
    ];
    run(
        "snapshot object",
        &samples,
        iters(DEFAULT_ITERS),
        |b| proportional(b.len()),
        |b| match decode_snapshot(b) {
            Ok(object) => {
                if let Ok(env) = Envelope::decode(object.envelope) {
                    let _ = object.covers_vouched(&c.workspace, &env);
                    envelope_onward(c, &env);
                }
                true
            }
            Err(_) => false,
        },
    )
    .assert_clean();
}

#[test]
fn join_codes_survive_mutation() {
    let c = corpus();
    let codes = [
        JoinCode {
            name: "team".into(),
            workspace: c.workspace.to_string(),
            bucket: "s3://bucket/prefix?region=eu-west-1".into(),
            relay: Some("wss://relay.example:8443".into()),
            carrier: CarrierKey::generate().to_hex(),
            secret: Some(hex_of(InviteSecret::generate().as_bytes())),
        },
        JoinCode {
            name: "ünïcode ✓".into(),
            workspace: c.workspace.to_string(),
            bucket: "file:///srv/weft".into(),
            relay: None,
            carrier: CarrierKey::generate().to_hex(),
            secret: None,
        },
    ];
    // The code as typed (its text), and the JSON inside it (re-encoded after mutation, so the
    // mutations reach the JSON reader and the field checks).
    let texts: Vec<Sample> = codes
        .iter()
        .map(|c| Sample::new(c.encode().into_bytes()))
        .collect();
    let jsons: Vec<Sample> = codes
        .iter()
        .map(|c| Sample::new(serde_json::to_vec(c).unwrap()))
        .collect();
    // What `weft join` reads from a decoded code: the workspace id, the carrier key, the secret.
    let onward = |code: JoinCode| {
        let _ = code.workspace.parse::<WorkspaceId>();
        let _ = CarrierKey::from_hex(&code.carrier);
        if let Some(secret) = &code.secret {
            let _ = hex::decode(secret)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(InviteSecret::from_bytes);
        }
        let _ = url::Url::parse(&code.bucket);
        if let Some(relay) = &code.relay {
            let _ = url::Url::parse(relay);
        }
    };
    let decode_text = |b: &[u8]| {
        JoinCode::decode(&String::from_utf8_lossy(b))
            .map(onward)
            .is_ok()
    };
    run(
        "join code",
        &texts,
        iters(DEFAULT_ITERS) / 2,
        |b| proportional(b.len() * 3),
        decode_text,
    )
    .assert_clean();
    run(
        "join code JSON",
        &jsons,
        iters(DEFAULT_ITERS) / 2,
        |b| proportional(b.len() * 2),
        |b| {
            let text = format!("weft1-{}", bs58_encode(b));
            JoinCode::decode(&text).map(onward).is_ok()
        },
    )
    .assert_clean();
}

#[test]
fn pairing_certificates_survive_mutation() {
    let c = corpus();
    let policy = VerifyPolicy::default();
    let certs = &c.certificates;
    assert!(!certs.is_empty());
    // The signed text: mutated as bytes (read as UTF-8 with replacements, so multi-byte
    // characters land anywhere) and as lines.
    let texts: Vec<Sample> = certs
        .iter()
        .map(|(cert, _)| Sample::new(cert.message().as_bytes().to_vec()))
        .collect();
    let check_text = |b: &[u8], cert: &PairingCertificate, device: &DeviceId| {
        let text = String::from_utf8_lossy(b).into_owned();
        let parsed = parse_canonical_siwe(&text).is_ok();
        let again = PairingCertificate::new(text, *cert.signature());
        let verified = again.verify_ignoring_time(&policy, device).is_ok();
        let _ = again.cert_hash();
        parsed || verified
    };
    let (cert0, device0) = &certs[0];
    run(
        "certificate text",
        &texts,
        iters(DEFAULT_ITERS) / 2,
        |b| proportional(b.len()),
        |b| check_text(b, cert0, device0) || check_text(b, &certs[certs.len() - 1].0, device0),
    )
    .assert_clean();

    let mut rng = Rng::for_decoder("certificate lines");
    let mut failures = Vec::new();
    let n = iters(DEFAULT_ITERS) / 3;
    for case in 0..n {
        let (cert, device) = rng.pick(certs);
        let mut ls: Vec<String> = cert.message().lines().map(str::to_string).collect();
        let what = match rng.below(5) {
            0 => {
                let i = rng.below(ls.len());
                ls.remove(i);
                format!("remove line {i}")
            }
            1 => {
                let i = rng.below(ls.len());
                let l = ls[i].clone();
                ls.insert(i, l);
                format!("repeat line {i}")
            }
            2 => {
                let (a, b) = (rng.below(ls.len()), rng.below(ls.len()));
                ls.swap(a, b);
                format!("swap lines {a} and {b}")
            }
            3 => {
                let i = rng.below(ls.len());
                let cut = rng.upto(ls[i].len());
                let cut = (0..=cut)
                    .rev()
                    .find(|c| ls[i].is_char_boundary(*c))
                    .unwrap_or(0);
                ls[i].truncate(cut);
                format!("cut line {i} at {cut}")
            }
            _ => {
                let i = rng.below(ls.len());
                let extra = *rng.pick(&[
                    "é",
                    "\u{0}",
                    "💥",
                    ":",
                    " ",
                    "\r",
                    "0x",
                    "- ",
                    "éééééééééééééééééééééééééééééééé",
                ]);
                let at = (0..=rng.upto(ls[i].len()))
                    .rev()
                    .find(|c| ls[i].is_char_boundary(*c))
                    .unwrap_or(0);
                ls[i].insert_str(at, extra);
                format!("insert {extra:?} in line {i} at {at}")
            }
        };
        let text = ls.join("\n");
        let (out, _) = fuzz_common::measured(|| check_text(text.as_bytes(), cert, device));
        if out.is_err() {
            failures.push(format!("case {case} [{what}] panicked on {text:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "certificate lines (WEFT_FUZZ_SEED={}):\n{}",
        fuzz_common::seed(),
        failures.join("\n")
    );

    // The certificate as JSON (how it is pasted and kept), its recap, its signature.
    let jsons: Vec<Sample> = certs
        .iter()
        .map(|(cert, _)| Sample::new(serde_json::to_vec(cert).unwrap()))
        .collect();
    run(
        "certificate JSON",
        &jsons,
        iters(DEFAULT_ITERS) / 3,
        |b| proportional(b.len()),
        |b| {
            serde_json::from_slice::<PairingCertificate>(b)
                .map(|cert| {
                    let _ = cert.verify_ignoring_time(&policy, device0);
                })
                .is_ok()
        },
    )
    .assert_clean();
    let recaps: Vec<Sample> = certs
        .iter()
        .filter_map(|(cert, _)| {
            let uri = cert
                .message()
                .lines()
                .last()?
                .strip_prefix("- ")?
                .to_string();
            Some(Sample::new(uri.into_bytes()))
        })
        .collect();
    run(
        "recap",
        &recaps,
        iters(DEFAULT_ITERS) / 3,
        |b| proportional(b.len()),
        |b| Recap::from_resource_uri(&String::from_utf8_lossy(b)).is_ok(),
    )
    .assert_clean();
    let signatures: Vec<Sample> = certs
        .iter()
        .map(|(cert, _)| Sample::new(cert.signature().as_bytes().to_vec()))
        .collect();
    run(
        "wallet signature",
        &signatures,
        iters(DEFAULT_ITERS) / 3,
        |b| proportional(b.len()),
        |b| {
            let raw = Signature65::from_bytes(b).is_ok();
            let text = String::from_utf8_lossy(b).parse::<Signature65>().is_ok();
            let hex = format!("0x{}", hex_of(b)).parse::<Signature65>().is_ok();
            raw || text || hex
        },
    )
    .assert_clean();
}

#[test]
fn key_files_survive_mutation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let device = DeviceKey::generate();
    let wallet = LocalWallet::generate();
    let plain_device = dir.path().join("device.key");
    let plain_wallet = dir.path().join("wallet.key");
    let sealed_device = dir.path().join("sealed.key");
    device.save(&plain_device, None).unwrap();
    wallet.save(&plain_wallet, None).unwrap();
    device.save(&sealed_device, Some("pass phrase")).unwrap();
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    // The sealed file's costs are little-endian at bytes 10, 14, 18.
    let samples = vec![
        Sample::new(read(&plain_device)),
        Sample::new(read(&plain_wallet)),
        Sample::new(read(&sealed_device)),
    ];
    let path = dir.path().join("mutant.key");
    run(
        "key file",
        &samples,
        iters(DEFAULT_ITERS) / 2,
        // The file is read whole (at most 4 KiB), nothing more.
        |b| proportional(b.len()),
        |b| {
            std::fs::write(&path, b).unwrap();
            // A sealed file without its passphrase is as far as this goes: accepted.
            let d = matches!(
                DeviceKey::load(&path, None),
                Ok(_) | Err(KeyFileError::PassphraseRequired { .. })
            );
            let w = LocalWallet::load(&path, None).is_ok();
            d || w
        },
    )
    .assert_clean();
    // With a passphrase, the Argon2id costs come from the file: mutants keep small costs (the
    // real ones take a second each in a debug build), except costs over the caps, which must be
    // refused before any work.
    let mut rng = Rng::for_decoder("sealed key file");
    let mut failures = Vec::new();
    let sealed = read(&sealed_device);
    let n = (iters(DEFAULT_ITERS) / 30).max(10);
    for case in 0..n {
        let (mut b, what) = fuzz_common::mutant(&mut rng, &[Sample::new(sealed.clone())]);
        let mut small = true;
        if b.len() >= 22 {
            let cost = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
            let (m, t, p) = (cost(10), cost(14), cost(18));
            let over = m > 1024 * 1024 || t > 16 || p > 16;
            if !over {
                b[10..14].copy_from_slice(&(8 + m % 64).to_le_bytes());
                b[14..18].copy_from_slice(&(1 + t % 2).to_le_bytes());
                b[18..22].copy_from_slice(&(1 + p % 2).to_le_bytes());
            }
            small = !over;
        }
        std::fs::write(&path, &b).unwrap();
        let (out, largest) = fuzz_common::measured(|| {
            let _ = DeviceKey::load(&path, Some("pass phrase"));
        });
        let limit = proportional(b.len()) + if small { 64 * 1024 } else { 0 };
        if out.is_err() || largest > limit {
            failures.push(format!(
                "case {case} [{what}]: {}, largest allocation {largest} (bound {limit}); input {}",
                if out.is_err() {
                    "panicked"
                } else {
                    "over the bound"
                },
                fuzz_common::hex(&b)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "sealed key file (WEFT_FUZZ_SEED={}):\n{}",
        fuzz_common::seed(),
        failures.join("\n")
    );
}

/// The engine's entry points: mutants of real envelopes, ops and snapshot payloads (the last
/// re-encrypted and re-signed by the admin's device, so they reach the payload reader) into a
/// member's replica. Each gets an outcome; nothing panics; the honest document stays.
#[test]
fn the_engine_takes_mutants_without_panicking() {
    let mut t = team();
    let doc = t.doc;
    let net = &mut t.net;
    let admin = net.index("admin");
    let editor = net.index("editor");
    let now = net.tick();
    let snapshot = net.replicas[admin].seal_snapshot(now).expect("snapshot");
    net.publish_env(snapshot.clone());
    net.sync();
    let before = net.replicas[editor].workspace().body(doc).ok();
    let payload = plaintext(net, &snapshot);
    let envelopes: Vec<Sample> = net
        .envelopes()
        .iter()
        .map(|e| envelope_sample(&e.encode()))
        .collect();
    let ops: Vec<Sample> = net
        .msgs
        .iter()
        .filter_map(|m| match m {
            acl_common::Msg::Acl(b) => Some(op_sample(b)),
            acl_common::Msg::Env(_) => None,
        })
        .collect();
    let payloads = vec![Sample::new(payload).field(8, 4)];

    let mut rng = Rng::for_decoder("engine");
    let n = (iters(DEFAULT_ITERS) / 5).max(20);
    let mut failures = Vec::new();
    let mut largest = 0;
    let when = at(net.now);
    for case in 0..n {
        let (bytes, what) = fuzz_common::mutant(&mut rng, &envelopes);
        let (out, big) = fuzz_common::measured(|| {
            let _ = net.replicas[editor].receive_envelope(&bytes, when);
        });
        largest = largest.max(big);
        if out.is_err() {
            failures.push(format!("envelope case {case} [{what}]"));
        }
        let (bytes, what) = fuzz_common::mutant(&mut rng, &ops);
        let (out, big) = fuzz_common::measured(|| {
            let _ = net.replicas[editor].receive_acl_op(&bytes, when);
        });
        largest = largest.max(big);
        if out.is_err() {
            failures.push(format!("op case {case} [{what}]"));
        }
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for case in 0..n {
        let (bytes, what) = fuzz_common::mutant(&mut rng, &payloads);
        // A fresh sequence number each, so each is judged on its own (not as a twin).
        let header = EnvelopeHeader {
            seq: snapshot.header().seq + 1 + case as u64,
            ..snapshot.header().clone()
        };
        let env = seal_as(net, admin, header, &bytes);
        let (out, big) =
            fuzz_common::measured(|| net.replicas[editor].receive_envelope(&env.encode(), when));
        largest = largest.max(big);
        if let Ok(receipt) = &out {
            let kind = match &receipt.outcome {
                Outcome::Quarantined(Refusal::BadPayload(_)) => "refused: bad payload",
                Outcome::Quarantined(_) => "refused for another reason",
                Outcome::Applied => "applied",
                Outcome::Pending(_) => "pending",
                Outcome::Duplicate => "duplicate",
            };
            *outcomes.entry(kind.to_string()).or_default() += 1;
            // Every input gets an outcome the replica remembers.
            assert_eq!(
                net.replicas[editor].envelope_outcome(&env.id()).is_some(),
                !matches!(receipt.outcome, Outcome::Duplicate),
                "snapshot payload case {case} [{what}]: {:?}",
                receipt.outcome
            );
        }
        if out.is_err() {
            failures.push(format!(
                "snapshot payload case {case} [{what}]: {}",
                fuzz_common::hex(&bytes[..bytes.len().min(256)])
            ));
        }
    }
    eprintln!(
        "fuzz engine: {} cases, largest allocation {largest} bytes; snapshot payloads: {outcomes:?}",
        3 * n
    );
    assert!(
        outcomes.get("refused: bad payload").is_some_and(|n| *n > 0),
        "mutated snapshot payloads reach the payload reader: {outcomes:?}"
    );
    assert!(
        failures.is_empty(),
        "engine (WEFT_FUZZ_SEED={}):\n{}",
        fuzz_common::seed(),
        failures.join("\n")
    );
    assert_eq!(
        net.replicas[editor].workspace().body(doc).ok(),
        before,
        "the honest document is unchanged"
    );
}

fn hex_of(b: &[u8]) -> String {
    fuzz_common::hex(b)
}

fn bs58_encode(b: &[u8]) -> String {
    bs58::encode(b).into_string()
}

// ---------------------------------------------------------------------------------------------
// What the fuzzer found, kept as regression tests, and a check that it can fail at all.

/// Found by this fuzzer: a count that costs two or four bytes to claim used to reserve room for
/// every entry it announced before any was read (36 KiB for a sealed key list of 1024 keys,
/// 138 KiB for a rotation's 1000 wraps, 64 KiB for a segment of 4096 envelopes). Each is now
/// refused as truncated after reserving no more than its bytes can hold.
#[test]
fn a_claimed_count_reserves_nothing_for_entries_that_are_not_there() {
    let small = |what: &str, bytes: &[u8], decode: &dyn Fn(&[u8]) -> bool| {
        let (out, largest) = fuzz_common::measured(|| decode(bytes));
        assert!(
            matches!(out, Ok(false)),
            "{what}: a claimed count without its entries is an error"
        );
        assert!(
            largest <= proportional(bytes.len()),
            "{what}: {largest} bytes reserved for a {}-byte input",
            bytes.len()
        );
    };
    // A key list claiming 1024 keys, alone and inside a key share.
    small("previous keys", &[0x04, 0x00], &|b| {
        PreviousKeys::decode(b).is_ok()
    });
    small("lockbox", &[0x04, 0x00], &|b| Lockbox::decode(b).is_ok());
    let me = DeviceKey::generate();
    let mut share =
        WrappedKey::seal(&EpochKey::generate(), &WorkspaceId([1; 32]), 0, &me.id()).encode();
    share.extend_from_slice(&[0x04, 0x00]);
    small("key share", &share, &|b| KeyShare::decode(b).is_ok());
    // A rotation claiming 1000 wraps.
    let mut body = vec![1u8, 6, 0, 0, 0, 1];
    body.extend_from_slice(&[0; 32]);
    body.extend_from_slice(&1000u16.to_be_bytes());
    let mut op = b"WFTA".to_vec();
    op.extend_from_slice(&(body.len() as u32).to_be_bytes());
    op.extend_from_slice(&body);
    op.extend_from_slice(&[0; 64]);
    small("rotation", &op, &|b| AclOp::decode(b).is_ok());
    // A segment claiming 4096 envelopes.
    small("segment", b"WFTS\x01\x00\x00\x10\x00", &|b| {
        decode_segment(b).is_ok()
    });
}

/// The fuzzer itself reports a decoder that panics or over-allocates, with the seed, the
/// mutation and the input (so a green run means something).
#[test]
fn the_fuzzer_reports_a_panic_and_an_oversized_allocation() {
    let corpus = [Sample::new(b"WFTR\x01\x02\x00\x00\x00\x00".to_vec()).field(6, 4)];
    let panicky = run(
        "panicky",
        &corpus,
        200,
        |b| proportional(b.len()),
        |b| {
            if b.len() < 10 {
                let _ = b[20];
            }
            true
        },
    );
    assert!(!panicky.failures.is_empty());
    assert!(
        panicky.failures[0].contains("PANICKED"),
        "{}",
        panicky.failures[0]
    );
    assert!(
        panicky.failures[0].contains("truncate to"),
        "{}",
        panicky.failures[0]
    );
    let greedy = run(
        "greedy",
        &corpus,
        200,
        |b| proportional(b.len()),
        |b| {
            let claimed = u32::from_be_bytes([b[6], b[7], b[8], b[9]]) as usize;
            let v: Vec<u8> = Vec::with_capacity(claimed.min(1 << 20));
            std::hint::black_box(v);
            b.len() == 10
        },
    );
    assert!(greedy
        .failures
        .iter()
        .any(|f| f.contains("allocated") && f.contains("4-byte length/count field at 6")));
    let outcome = std::panic::catch_unwind(|| panicky.assert_clean());
    let message = outcome.expect_err("a failing run fails the test");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("WEFT_FUZZ_SEED="), "{message}");
}

/// Inputs over a decoder's size limit are refused before anything of them is copied.
#[test]
fn inputs_over_the_size_limits_are_refused_before_they_are_copied() {
    use weft::identity::pairing::MAX_MESSAGE_BYTES;
    use weft::sync::live::MAX_MESSAGE;
    let refused = |what: &str, decode: &dyn Fn() -> bool| {
        let (out, largest) = fuzz_common::measured(decode);
        assert!(matches!(out, Ok(false)), "{what} is refused");
        assert!(
            largest <= 16 * 1024,
            "{what}: {largest} bytes allocated at once"
        );
    };
    // A whole frame (reassembled from parts) is at most 16 MiB and a little.
    let mut frame = Frame::Presence(vec![7; MAX_MESSAGE]).encode();
    frame.push(0);
    refused("a frame over 16 MiB", &|| Frame::decode(&frame).is_ok());
    let code = format!("weft1-{}", "z".repeat(100_000));
    refused("a join code of 100,000 characters", &|| {
        JoinCode::decode(&code).is_ok()
    });
    let text = "a".repeat(MAX_MESSAGE_BYTES + 1);
    refused("a certificate text over its limit", &|| {
        parse_canonical_siwe(&text).is_ok()
    });
    let recap = format!("urn:recap:{}", "e".repeat(100_000));
    refused("a ReCap URI of 100,000 characters", &|| {
        Recap::from_resource_uri(&recap).is_ok()
    });
    // Claimed lengths over the caps, with the bytes present.
    let mut envelope = b"WFTE\xff\xff".to_vec();
    envelope.extend_from_slice(&[0xff; 64]);
    refused("an envelope header over its cap", &|| {
        Envelope::decode(&envelope).is_ok()
    });
    let mut op = b"WFTA".to_vec();
    op.extend_from_slice(&u32::MAX.to_be_bytes());
    op.extend_from_slice(&[0; 200]);
    refused("an op body over its cap", &|| AclOp::decode(&op).is_ok());
}
