//! Access control on the receiving side: verify + decrypt + inspect + apply of a one-keystroke
//! envelope on a kept shadow, of a 1,000-op batch, and of a refused keystroke (which re-forks
//! the shadow); decryption alone; releasing thousands of envelopes that waited for their key;
//! and changes arriving before the ones they build on. Only the receiving replica's work is
//! timed; the sender's is done outside the clock.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use loro::ExportMode;
use time::OffsetDateTime;
use weft::acl::{DeviceIdentity, Outcome, Outgoing, Replica, ReplicaConfig, Role};
use weft::crypto::envelope::HEADER_VERSION;
use weft::crypto::{Envelope, EnvelopeHeader, EpochKey, InviteSecret};
use weft::identity::{DeviceKey, LocalWallet, PairingCertificate, PairingRequest, VerifyPolicy};
use weft::model::{Clock, ItemId, Workspace};

const T0: i64 = 1_790_000_000;
const BODY_CHARS: usize = 2_000;

fn at(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap()
}

fn config() -> ReplicaConfig {
    ReplicaConfig {
        policy: VerifyPolicy::default(),
        clock: Clock::Fixed(T0 * 1000),
        ..ReplicaConfig::default()
    }
}

fn identity(wallet: &LocalWallet) -> (DeviceKey, DeviceIdentity) {
    let key = DeviceKey::generate();
    let request = PairingRequest::new(wallet.address(), key.id(), at(T0 - 86_400));
    let cert = PairingCertificate::sign_with(&request, wallet).unwrap();
    let id = DeviceIdentity::new(key.clone(), cert, &VerifyPolicy::default()).unwrap();
    (key, id)
}

/// An editor and a receiving replica (a viewer) that has accepted everything so far, with one
/// document of `BODY_CHARS` characters.
struct Pair {
    editor: Replica,
    receiver: Replica,
    commenter: Replica,
    commenter_key: DeviceKey,
    doc: ItemId,
    now: i64,
}

fn pair() -> Pair {
    let (owner_w, editor_w, viewer_w, commenter_w) = (
        LocalWallet::generate(),
        LocalWallet::generate(),
        LocalWallet::generate(),
        LocalWallet::generate(),
    );
    let (owner, founding) =
        Replica::create("bench", identity(&owner_w).1, config(), at(T0)).unwrap();
    let mut owner = owner;
    let genesis = founding.genesis.encode();
    let mut editor = Replica::join(&genesis, identity(&editor_w).1, config()).unwrap();
    let mut receiver = Replica::join(&genesis, identity(&viewer_w).1, config()).unwrap();
    let (commenter_key, commenter_id) = identity(&commenter_w);
    let mut commenter = Replica::join(&genesis, commenter_id, config()).unwrap();
    let mut now = T0 + 1;
    // Everyone joins from an invite, whose lockbox carries the key.
    let mut acl = vec![founding.rotation.clone()];
    let mut secrets = Vec::new();
    for (w, role) in [
        (&editor_w, Role::Editor),
        (&viewer_w, Role::Viewer),
        (&commenter_w, Role::Commenter),
    ] {
        let (op, secret) = owner.invite(w.address(), role, at(now)).unwrap();
        acl.push(op);
        secrets.push(secret);
    }
    let mut envs = vec![founding.first.encode()];
    for (r, secret) in [&mut editor, &mut receiver, &mut commenter]
        .into_iter()
        .zip(&secrets)
    {
        for op in &acl {
            r.receive_acl_op(&op.encode(), at(now));
        }
        r.redeem_invite(secret, at(now)).unwrap();
    }
    now += 1;
    acl = vec![
        editor.publish_device_certificate(at(now)).unwrap(),
        receiver.publish_device_certificate(at(now)).unwrap(),
        commenter.publish_device_certificate(at(now)).unwrap(),
    ];
    let mut doc = None;
    {
        let ws = editor.workspace();
        let d = ws.create_doc("Bench", None).unwrap();
        ws.set_body(d, &"lorem ipsum ".repeat(BODY_CHARS / 12 + 1)[..BODY_CHARS])
            .unwrap();
        doc = doc.or(Some(d));
    }
    now += 1;
    for r in [&mut owner, &mut receiver, &mut commenter] {
        for op in &acl {
            r.receive_acl_op(&op.encode(), at(now));
        }
    }
    envs.push(editor.local_commit(at(now)).unwrap().unwrap().encode());
    for r in [&mut receiver, &mut commenter, &mut editor] {
        for op in &acl {
            r.receive_acl_op(&op.encode(), at(now));
        }
        for e in &envs {
            r.receive_envelope(e, at(now));
        }
    }
    Pair {
        editor,
        receiver,
        commenter,
        commenter_key,
        doc: doc.unwrap(),
        now,
    }
}

/// Types `n` characters at pseudo-random positions in one local change and seals it.
fn type_chars(p: &mut Pair, n: usize, seed: &mut u64) -> Vec<u8> {
    let ws = p.editor.workspace();
    let mut text = ws.text(p.doc).unwrap();
    for _ in 0..n {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pos = (*seed >> 33) as usize % (text.len_chars() + 1);
        text.insert(pos, "x").unwrap();
    }
    ws.commit();
    p.now += 1;
    p.editor.local_commit(at(p.now)).unwrap().unwrap().encode()
}

fn receive(p: &mut Pair, bytes: &[u8]) -> Duration {
    let start = Instant::now();
    let receipt = p.receiver.receive_envelope(bytes, at(p.now));
    let took = start.elapsed();
    assert_eq!(receipt.outcome, Outcome::Applied);
    took
}

fn typing(c: &mut Criterion) {
    let mut p = pair();
    let mut seed = 1;
    let sample = type_chars(&mut p, 1, &mut seed);
    receive(&mut p, &sample);
    c.bench_function("acl/decode_and_verify_signature (keystroke)", |b| {
        b.iter(|| {
            let env = Envelope::decode(&sample).unwrap();
            env.verify_signature().unwrap();
        })
    });
    let (_, key) = current_key(&p.receiver);
    let env = Envelope::decode(&sample).unwrap();
    c.bench_function("acl/decrypt (keystroke)", |b| {
        b.iter(|| env.open(&key).unwrap())
    });
    let big = {
        let bytes = type_chars(&mut p, 1_000, &mut seed);
        receive(&mut p, &bytes);
        Envelope::decode(&bytes).unwrap()
    };
    c.bench_function("acl/decrypt (1,000-op batch)", |b| {
        b.iter(|| big.open(&key).unwrap())
    });
    c.bench_function(
        "acl/receive_keystroke (verify+inspect+apply, kept shadow)",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let bytes = type_chars(&mut p, 1, &mut seed);
                    total += receive(&mut p, &bytes);
                }
                total
            })
        },
    );
}

fn batch(c: &mut Criterion) {
    let mut p = pair();
    let mut seed = 7;
    let mut group = c.benchmark_group("acl");
    group.sample_size(20);
    group.bench_function("receive_1000_op_batch (verify+inspect+apply)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let bytes = type_chars(&mut p, 1_000, &mut seed);
                total += receive(&mut p, &bytes);
            }
            total
        })
    });
    group.finish();
}

/// A commenter's modified client types into the document body: inspected in the shadow,
/// refused, and the shadow re-forked from the document.
fn refused(c: &mut Criterion) {
    let mut p = pair();
    let mut seq = 100;
    c.bench_function(
        "acl/refuse_keystroke (inspect, refuse, re-fork shadow)",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    seq += 1;
                    p.now += 1;
                    let bytes = rogue_keystroke(&p, seq);
                    let start = Instant::now();
                    let receipt = p.receiver.receive_envelope(&bytes, at(p.now));
                    total += start.elapsed();
                    assert!(matches!(receipt.outcome, Outcome::Quarantined(_)));
                }
                total
            })
        },
    );
}

fn rogue_keystroke(p: &Pair, seq: u64) -> Vec<u8> {
    let r = &p.commenter;
    let doc = r.workspace().loro().fork();
    let before = doc.oplog_vv();
    let ws = Workspace::open_replica(doc, "rogue", Clock::Fixed(0));
    ws.text(p.doc).unwrap().insert(0, "!").unwrap();
    ws.commit();
    let payload = ws.loro().export(ExportMode::updates(&before)).unwrap();
    let (epoch, key) = current_key(r);
    let header = EnvelopeHeader {
        version: HEADER_VERSION,
        workspace: r.workspace_id(),
        epoch,
        device: p.commenter_key.id(),
        cert_hash: r.identity().cert_hash(),
        seq,
        time: p.now,
        peers: vec![ws.loro().peer_id()],
        acl_heads: r.log().heads(),
        salts: vec![],
        builds_on: vec![],
        nonce: vec![],
    };
    Envelope::seal_encrypted(header, &payload, &p.commenter_key, &key)
        .unwrap()
        .encode()
}

fn current_key(r: &Replica) -> (u32, EpochKey) {
    let epoch = r.current_epoch();
    r.epoch_keys()
        .into_iter()
        .find(|(e, _)| *e == epoch)
        .unwrap()
}

/// What a member's second device receives: `n` keystrokes typed on the first device (each its
/// own envelope, about 20 a second, as the app seals them while someone types), and then the
/// key share the first device publishes when it sees the second device's certificate.
struct Backlog {
    genesis: Vec<u8>,
    /// The rotation to epoch 1 and the second device's certificate.
    ops: Vec<Vec<u8>>,
    envelopes: Vec<Vec<u8>>,
    share: Vec<u8>,
    second: DeviceIdentity,
    now: i64,
}

fn backlog(n: usize) -> Backlog {
    let wallet = LocalWallet::generate();
    let (mut laptop, founding) =
        Replica::create("bench", identity(&wallet).1, config(), at(T0)).unwrap();
    let doc = laptop.workspace().create_doc("Notes", None).unwrap();
    let mut envelopes = vec![founding.first.encode()];
    envelopes.push(laptop.local_commit(at(T0)).unwrap().unwrap().encode());
    let mut now = T0;
    for i in 0..n {
        let mut text = laptop.workspace().text(doc).unwrap();
        text.insert(i % 97, if i % 2 == 0 { "a" } else { "b" })
            .unwrap();
        now = T0 + 1 + (i / 20) as i64;
        envelopes.push(laptop.local_commit(at(now)).unwrap().unwrap().encode());
    }
    let second = identity(&wallet).1;
    let mut phone = Replica::join(&founding.genesis.encode(), second.clone(), config()).unwrap();
    phone.receive_acl_op(&founding.rotation.encode(), at(now));
    let cert = phone.publish_device_certificate(at(now)).unwrap();
    laptop.receive_acl_op(&cert.encode(), at(now));
    let share = laptop
        .take_outbox()
        .into_iter()
        .find_map(|o| match o {
            Outgoing::AclOp(op) => Some(op.encode()),
            Outgoing::Envelope(_) => None,
        })
        .expect("the first device shares its keys with the second");
    Backlog {
        genesis: founding.genesis.encode(),
        ops: vec![founding.rotation.encode(), cert.encode()],
        envelopes,
        share,
        second,
        now,
    }
}

/// The second device, holding every envelope of the backlog, each waiting for the key.
fn waiting(b: &Backlog) -> Replica {
    let mut r = Replica::join(&b.genesis, b.second.clone(), config()).unwrap();
    for op in &b.ops {
        r.receive_acl_op(op, at(b.now));
    }
    for e in &b.envelopes {
        let receipt = r.receive_envelope(e, at(b.now));
        assert!(matches!(&receipt.outcome, Outcome::Pending(m) if m.epoch.is_some()));
    }
    r
}

/// The key share arrives: every waiting envelope is decrypted, judged, inspected and applied.
fn release_waiting(c: &mut Criterion) {
    let sizes: Vec<usize> = std::env::var("WEFT_BENCH_RELEASE")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![2_000, 5_000, 10_000]);
    let mut group = c.benchmark_group("acl/release_waiting_on_key_share");
    group.sample_size(10);
    for n in sizes {
        let b = backlog(n);
        group.bench_function(n.to_string(), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut r = waiting(&b);
                    let start = Instant::now();
                    let receipt = r.receive_acl_op(&b.share, at(b.now));
                    total += start.elapsed();
                    assert_eq!(receipt.effects.released.len(), b.envelopes.len());
                    assert!(r.pending().is_empty() && r.quarantine().is_empty());
                }
                total
            })
        });
    }
    group.finish();
}

/// Two members type `n` keystrokes each, the second on top of everything the first typed; a
/// third member's device receives the second's changes first (each waits for the first's) and
/// then the first's, as a join that reads the logs in that order would.
struct Interleaved {
    genesis: Vec<u8>,
    ops: Vec<Vec<u8>>,
    secret: InviteSecret,
    reader: DeviceIdentity,
    first: Vec<Vec<u8>>,
    second: Vec<Vec<u8>>,
    now: i64,
}

fn interleaved(n: usize) -> Interleaved {
    let (ow, mw, rw) = (
        LocalWallet::generate(),
        LocalWallet::generate(),
        LocalWallet::generate(),
    );
    let (mut owner, founding) =
        Replica::create("bench", identity(&ow).1, config(), at(T0)).unwrap();
    let genesis = founding.genesis.encode();
    let (to_member, member_secret) = owner.invite(mw.address(), Role::Editor, at(T0)).unwrap();
    let (to_reader, secret) = owner.invite(rw.address(), Role::Editor, at(T0)).unwrap();
    let reader = identity(&rw).1;
    let mut member = Replica::join(&genesis, identity(&mw).1, config()).unwrap();
    let mut third = Replica::join(&genesis, reader.clone(), config()).unwrap();
    let mut ops: Vec<Vec<u8>> = [founding.rotation, to_member, to_reader]
        .iter()
        .map(|op| op.encode())
        .collect();
    for r in [&mut member, &mut third] {
        for op in &ops {
            r.receive_acl_op(op, at(T0));
        }
    }
    member.redeem_invite(&member_secret, at(T0)).unwrap();
    third.redeem_invite(&secret, at(T0)).unwrap();
    ops.push(member.publish_device_certificate(at(T0)).unwrap().encode());
    ops.push(third.publish_device_certificate(at(T0)).unwrap().encode());
    // Deliver every op to everyone, with the shares their key duties publish, until quiet.
    loop {
        let before = ops.len();
        for r in [&mut owner, &mut member, &mut third] {
            for op in ops.clone() {
                r.receive_acl_op(&op, at(T0));
            }
            for out in r.take_outbox() {
                if let Outgoing::AclOp(op) = out {
                    ops.push(op.encode());
                }
            }
        }
        if ops.len() == before {
            break;
        }
    }
    let doc = owner.workspace().create_doc("Notes", None).unwrap();
    let mut first = vec![
        founding.first.encode(),
        owner.local_commit(at(T0)).unwrap().unwrap().encode(),
    ];
    for i in 0..n {
        let mut text = owner.workspace().text(doc).unwrap();
        text.insert(i % 97, "a").unwrap();
        first.push(
            owner
                .local_commit(at(T0 + 1 + (i / 20) as i64))
                .unwrap()
                .unwrap()
                .encode(),
        );
    }
    let now = T0 + 2 + (n / 10) as i64;
    for e in &first {
        assert_eq!(
            member.receive_envelope(e, at(now)).outcome,
            Outcome::Applied
        );
    }
    let mut second = Vec::new();
    for i in 0..n {
        let mut text = member.workspace().text(doc).unwrap();
        text.insert(i % 89, "b").unwrap();
        second.push(member.local_commit(at(now)).unwrap().unwrap().encode());
    }
    Interleaved {
        genesis,
        ops,
        secret,
        reader,
        first,
        second,
        now,
    }
}

/// The second writer's changes arrive first and wait; then each of the first writer's arrives
/// and is applied, releasing what builds on it.
fn out_of_order(c: &mut Criterion) {
    let sizes: Vec<usize> = std::env::var("WEFT_BENCH_OUT_OF_ORDER")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 2_000, 4_000]);
    let mut group = c.benchmark_group("acl/changes_before_what_they_build_on");
    group.sample_size(10);
    for n in sizes {
        let b = interleaved(n);
        group.bench_function(n.to_string(), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut r = Replica::join(&b.genesis, b.reader.clone(), config()).unwrap();
                    for op in &b.ops {
                        r.receive_acl_op(op, at(b.now));
                    }
                    r.redeem_invite(&b.secret, at(b.now)).unwrap();
                    for e in &b.second {
                        r.receive_envelope(e, at(b.now));
                    }
                    assert_eq!(r.pending().len(), b.second.len());
                    let start = Instant::now();
                    for e in &b.first {
                        r.receive_envelope(e, at(b.now));
                    }
                    total += start.elapsed();
                    assert!(r.pending().is_empty());
                    assert_eq!(r.applied().len(), b.first.len() + b.second.len());
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = typing, batch, refused, release_waiting, out_of_order
}
criterion_main!(benches);
