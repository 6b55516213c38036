//! Hostile membership ops: junk from keys that were never members, ops beyond the author's role,
//! floods of valid concurrent ops, ops waiting for parents that never come, certificates
//! squatted on another member's device, expired devices citing old heads, and junk keys aimed at
//! what a store keeps. Each is refused with a reason that names it, and afterwards every honest
//! member still writes and the owner still removes, on every replica.

mod acl_common;
mod bucket_common;
mod shared_common;

use acl_common::*;
use weft::acl::{
    AclOp, AclOpBody, AclOpKind, AclOutcome, ContentVersion, QuarantinedItem, Refusal, Role,
    MAX_REFUSED_OPS_KEPT_PER_DEVICE, MAX_WAITING_FROM_UNKNOWN, MAX_WAITING_PER_UNKNOWN_DEVICE,
};
use weft::crypto::epoch::{KeyShare, PreviousKeys, WrappedKey};
use weft::crypto::{AclOpId, EpochKey};
use weft::identity::{
    Address, CertHash, DeviceKey, LocalWallet, PairingCertificate, PairingRequest, VerifyPolicy,
};

/// Most ACL heads an op or envelope may cite.
const MAX_HEADS: usize = 64;

/// An op signed with `key`, with whatever the signer likes in it (a modified client).
fn forge(
    key: &DeviceKey,
    cert_hash: CertHash,
    kind: AclOpKind,
    parents: Vec<AclOpId>,
    time: i64,
) -> AclOp {
    AclOp::sign(
        AclOpBody {
            kind,
            author: key.id(),
            cert_hash,
            parents,
            time,
            seen: ContentVersion::default(),
        },
        key,
    )
    .expect("sign")
}

/// Hands `op` to every replica now and returns what each said.
fn deliver(net: &mut Net, op: &AclOp) -> Vec<AclOutcome> {
    let now = at(net.now);
    net.replicas
        .iter_mut()
        .map(|r| r.receive_acl_op(&op.encode(), now).outcome)
        .collect()
}

/// A certificate by which `wallet` pairs `device`.
fn certificate_for(wallet: &LocalWallet, device: &DeviceKey) -> PairingCertificate {
    let request = PairingRequest::new(wallet.address(), device.id(), at(T0 - 86_400));
    PairingCertificate::sign_with(&request, wallet).expect("sign pairing")
}

/// The hash of a certificate pairing `device`.
fn hash_of(certificate: &PairingCertificate, device: &DeviceKey) -> CertHash {
    weft::acl::DeviceIdentity::new(
        device.clone(),
        certificate.clone(),
        &VerifyPolicy::default(),
    )
    .expect("the certificate pairs the device")
    .cert_hash()
}

/// The kinds of junk a key may sign: every kind that does something to someone else.
fn junk_kind(t: &Team, k: usize) -> AclOpKind {
    let editor_device = t.net.replicas[t.net.index("editor")].identity().device();
    let owner_device = t.net.replicas[0].identity().device();
    let ws = t.net.replicas[0].workspace_id();
    match k % 7 {
        0 => AclOpKind::Add {
            member: LocalWallet::generate().address(),
            role: Role::Admin,
        },
        1 => AclOpKind::Remove {
            member: t.editor.address(),
        },
        2 => AclOpKind::ChangeRole {
            member: t.editor.address(),
            role: Role::Viewer,
        },
        3 => AclOpKind::RevokeDevice {
            device: editor_device,
        },
        4 => {
            let key = EpochKey::generate();
            let epoch = 2 + k as u32;
            AclOpKind::RotateKey {
                epoch,
                check: key.check(&ws, epoch),
                wraps: vec![(
                    owner_device,
                    WrappedKey::seal(&key, &ws, epoch, &owner_device),
                )],
                previous: PreviousKeys::seal(&[], &key, &ws, epoch).expect("seal"),
            }
        }
        5 => AclOpKind::ShareKeys {
            device: owner_device,
            share: KeyShare::seal(&[(1, EpochKey::generate())], &ws, &owner_device).expect("seal"),
        },
        _ => AclOpKind::Invite {
            id: weft::crypto::InviteSecret::generate().id(),
            member: LocalWallet::generate().address(),
            role: Role::Editor,
            lockbox: weft::crypto::Lockbox::seal(&[], &weft::crypto::InviteSecret::generate(), &ws)
                .expect("seal"),
        },
    }
}

/// What a user notices after an attack: the editor's doc is intact, the editor still writes and
/// every replica applies it, the owner still removes a member and every replica sees it, then the
/// editor writes again; no replica cites more heads than an op may carry, and all agree.
fn honest_members_still_work(t: &mut Team) {
    let doc = t.doc;
    let before = t.net.replicas[0].workspace().body(doc).unwrap();
    let first = t.net.edit("editor", |ws| {
        ws.append_body(doc, " + still writing").unwrap()
    });
    t.net.sync();
    t.net.assert_applied_everywhere(&first);
    let commenter = t.commenter.address();
    t.net.act("owner", |r, now| r.remove_member(commenter, now));
    t.net.sync();
    let second = t
        .net
        .edit("editor", |ws| ws.append_body(doc, " + after").unwrap());
    t.net.sync();
    t.net.assert_applied_everywhere(&second);
    for (r, n) in t.net.replicas.iter().zip(&t.net.names) {
        assert_eq!(r.members().role(&commenter), None, "{n}");
        assert!(r.acl_heads().len() <= MAX_HEADS, "{n}");
    }
    for r in t.net.key_holders() {
        if r.members()
            .reading_devices()
            .contains(&r.identity().device())
        {
            assert_eq!(
                r.workspace().body(doc).unwrap(),
                format!("{before} + still writing + after")
            );
        }
    }
    t.net.assert_converged();
}

fn junk_from_a_key_that_was_never_a_member(n: usize) {
    let mut t = team();
    let junk = DeviceKey::generate();
    let genesis = t.net.replicas[0].log().genesis().id();
    let sizes: Vec<usize> = t.net.replicas.iter().map(|r| r.log().len()).collect();
    let heads: Vec<Vec<AclOpId>> = t.net.replicas.iter().map(|r| r.log().heads()).collect();
    for k in 0..n {
        let kind = junk_kind(&t, k);
        let op = forge(
            &junk,
            CertHash([k as u8; 32]),
            kind,
            vec![genesis],
            t.net.now,
        );
        for o in deliver(&mut t.net, &op) {
            assert!(
                matches!(&o, AclOutcome::Refused(Refusal::UnknownDevice(d)) if *d == junk.id()),
                "junk op {k}: {o:?}"
            );
            let AclOutcome::Refused(r) = o else {
                unreachable!()
            };
            assert!(r.to_string().contains(&junk.id().to_string()), "{r}");
        }
        // The bus carries it too: replicas joining later refuse it the same way.
        t.net.publish_op(op);
    }
    t.net.sync();
    for (i, r) in t.net.replicas.iter().enumerate() {
        assert_eq!(r.log().len(), sizes[i], "no junk op entered the log");
        assert_eq!(r.log().heads(), heads[i]);
        let kept = r
            .quarantine()
            .into_iter()
            .filter(|q| q.device == Some(junk.id()))
            .count();
        assert!(
            (1..=MAX_REFUSED_OPS_KEPT_PER_DEVICE).contains(&kept),
            "refused junk kept: {kept}"
        );
        assert!(r.pending().iter().all(|p| p.device != junk.id()));
    }
    honest_members_still_work(&mut t);
}

#[test]
fn seventy_junk_ops_from_a_key_that_was_never_a_member_stop_nobody() {
    junk_from_a_key_that_was_never_a_member(70);
}

#[test]
fn five_hundred_junk_ops_from_a_key_that_was_never_a_member_stop_nobody() {
    junk_from_a_key_that_was_never_a_member(500);
}

#[test]
fn ops_beyond_their_authors_role_never_enter_the_log() {
    let mut t = team();
    let genesis = t.net.replicas[0].log().genesis().id();
    let heads: Vec<Vec<AclOpId>> = t.net.replicas.iter().map(|r| r.log().heads()).collect();
    let owner_device = t.net.replicas[0].identity().device();
    let mut refused = 0;
    for (name, parents_at_genesis) in [
        ("editor", false),
        ("editor", true),
        ("commenter", false),
        ("viewer", false),
        ("outsider", false),
    ] {
        let i = t.net.index(name);
        let key = t.net.keys[i].clone();
        let cert = t.net.replicas[i].identity().cert_hash();
        for k in 0..70 {
            // Shares, and revoking one's own devices, are things any member may do; the rest
            // needs admin.
            let kind = match junk_kind(&t, k) {
                AclOpKind::ShareKeys { .. } => AclOpKind::Add {
                    member: LocalWallet::generate().address(),
                    role: Role::Viewer,
                },
                AclOpKind::RevokeDevice { .. } => AclOpKind::RevokeDevice {
                    device: owner_device,
                },
                other => other,
            };
            let parents = if parents_at_genesis {
                vec![genesis]
            } else {
                t.net.replicas[i].acl_heads()
            };
            let op = forge(&key, cert, kind, parents, t.net.now);
            for (o, r) in deliver(&mut t.net, &op).into_iter().zip(&t.net.replicas) {
                let reason = match o {
                    AclOutcome::Refused(reason) => reason,
                    other => panic!("{name}'s op {k} was not refused: {other:?}"),
                };
                match &reason {
                    Refusal::RoleTooLow { .. } | Refusal::CannotGrant { .. } => {}
                    Refusal::UnknownDevice(d) if *d == key.id() => {}
                    Refusal::NotAMember(a) if name == "outsider" && *a == t.outsider.address() => {}
                    other => panic!("{name}'s op {k}: unexpected reason {other}"),
                }
                assert!(!r.log().contains(&op.id()));
                refused += 1;
            }
            t.net.publish_op(op);
        }
    }
    assert!(refused > 0);
    t.net.sync();
    for (r, heads) in t.net.replicas.iter().zip(&heads) {
        assert_eq!(&r.log().heads(), heads);
        assert!(
            r.quarantine()
                .iter()
                .filter(|q| matches!(q.item, QuarantinedItem::AclOp(_)))
                .count()
                <= 5 * MAX_REFUSED_OPS_KEPT_PER_DEVICE
        );
    }
    honest_members_still_work(&mut t);
}

#[test]
fn a_flood_of_valid_concurrent_ops_cannot_push_the_cited_heads_past_the_limit() {
    let mut t = team();
    // The commenter's modified client gives itself its keys 70 times, each op citing the same
    // heads: all are things a member may do, so all enter the log, as 70 concurrent heads.
    let c = t.net.index("commenter");
    let key = t.net.keys[c].clone();
    let me = t.net.replicas[c].identity().device();
    let cert = t.net.replicas[c].identity().cert_hash();
    let ws = t.net.replicas[c].workspace_id();
    let keys = t.net.replicas[c].epoch_keys();
    let heads = t.net.replicas[c].acl_heads();
    let start = t.net.now;
    let mut flood = Vec::new();
    for k in 0..70 {
        let share = KeyShare::seal(&keys, &ws, &me).expect("seal");
        let op = forge(
            &key,
            cert,
            AclOpKind::ShareKeys { device: me, share },
            heads.clone(),
            start + k,
        );
        flood.push(op.id());
        t.net.publish_op(op);
    }
    t.net.now = start + 70;
    t.net.sync();
    for r in &t.net.replicas {
        assert!(r.log().heads().len() >= 70, "{}", r.log().heads().len());
        assert!(r.acl_heads().len() <= MAX_HEADS);
        for id in &flood {
            assert_eq!(r.resolution().verdict(r.log(), id), Some(&Ok(())));
        }
    }
    // Writing and removing still work; the removal cites the deepest heads it may, and the
    // flood it did not cite is void under strong remove: it stops nobody either.
    honest_members_still_work(&mut t);
    let owner = &t.net.replicas[0];
    let void = flood
        .iter()
        .filter(|id| {
            matches!(
                owner.resolution().verdict(owner.log(), id),
                Some(Err(Refusal::RemovedConcurrently { .. }))
            )
        })
        .count();
    assert!(void >= 70 - MAX_HEADS, "{void} void");
    for r in &t.net.replicas {
        let cited = r.acl_heads();
        assert!(cited.iter().all(|h| !flood.contains(h) || {
            matches!(r.resolution().verdict(r.log(), h), Some(Ok(())))
        }));
        assert!(cited.len() < 10, "{}", cited.len());
    }
}

#[test]
fn junk_waiting_for_parents_that_never_come_is_bounded() {
    let mut t = team();
    // One made-up key, many ops citing an op nobody has.
    let junk = DeviceKey::generate();
    let mut waiting = 0;
    for k in 0..100u32 {
        let op = forge(
            &junk,
            CertHash([1; 32]),
            AclOpKind::Remove {
                member: t.editor.address(),
            },
            vec![AclOpId([(k % 251) as u8 + 1; 32])],
            t.net.now + k as i64,
        );
        let outcomes = deliver(&mut t.net, &op);
        match &outcomes[0] {
            AclOutcome::Pending(m) => {
                assert_eq!(m.acl_ops.len(), 1);
                waiting += 1;
            }
            AclOutcome::Refused(r @ Refusal::TooManyWaiting { device, .. }) => {
                assert_eq!(*device, junk.id());
                assert!(r.to_string().contains("waiting"), "{r}");
            }
            other => panic!("{other:?}"),
        }
        assert!(outcomes.iter().all(|o| *o == outcomes[0]));
    }
    assert_eq!(waiting, MAX_WAITING_PER_UNKNOWN_DEVICE);
    // Many made-up keys, one op each.
    for k in 0..(2 * MAX_WAITING_FROM_UNKNOWN) {
        let key = DeviceKey::generate();
        let op = forge(
            &key,
            CertHash([2; 32]),
            AclOpKind::Remove {
                member: t.editor.address(),
            },
            vec![AclOpId([(k % 251) as u8 + 1; 32])],
            t.net.now,
        );
        deliver(&mut t.net, &op);
    }
    for r in &t.net.replicas {
        let pending = r
            .pending()
            .into_iter()
            .filter(|p| matches!(p.item, QuarantinedItem::AclOp(_)))
            .count();
        assert!(pending <= MAX_WAITING_FROM_UNKNOWN, "{pending} ops wait");
        assert!(
            r.quarantine().len() < 50,
            "refusals for lack of room are not kept"
        );
    }
    honest_members_still_work(&mut t);
}

/// The commenter's wallet certifies `victim` and the commenter's device publishes it, citing the
/// genesis alone and citing everything: refused everywhere, before it enters any log.
fn squat(t: &mut Team, victim: &DeviceKey) {
    let c = t.net.index("commenter");
    let key = t.net.keys[c].clone();
    let certificate = certificate_for(&t.commenter, victim);
    let cert_hash = hash_of(&certificate, victim);
    let genesis = t.net.replicas[0].log().genesis().id();
    for parents in [vec![genesis], t.net.replicas[c].acl_heads()] {
        let op = forge(
            &key,
            cert_hash,
            AclOpKind::DeviceCertificate {
                certificate: certificate.clone(),
            },
            parents,
            t.net.now,
        );
        for (o, r) in deliver(&mut t.net, &op).into_iter().zip(&t.net.replicas) {
            match o {
                AclOutcome::Refused(reason @ Refusal::CertificateNotSelfPublished { .. }) => {
                    assert_eq!(
                        reason,
                        Refusal::CertificateNotSelfPublished {
                            device: victim.id(),
                            author: key.id(),
                        }
                    );
                    assert!(reason.to_string().contains("its own pairing certificate"));
                }
                other => panic!("the squat was not refused: {other:?}"),
            }
            assert!(!r.log().contains(&op.id()));
        }
        t.net.publish_op(op);
    }
    t.net.sync();
}

#[test]
fn a_certificate_squatted_before_the_real_pairing_is_refused_and_the_device_pairs() {
    let mut t = team();
    let doc = t.doc;
    let laptop = t.net.join("laptop", &t.editor);
    t.net.sync();
    let laptop_key = t.net.keys[laptop].clone();
    squat(&mut t, &laptop_key);
    t.net
        .act("laptop", |r, now| r.publish_device_certificate(now));
    t.net.sync();
    let env = t.net.edit("laptop", |ws| {
        ws.append_body(doc, " (from the laptop)").unwrap()
    });
    t.net.sync();
    t.net.assert_applied_everywhere(&env);
    for r in &t.net.replicas {
        assert_eq!(
            r.members().devices[&laptop_key.id()].address,
            t.editor.address()
        );
    }
    honest_members_still_work(&mut t);
}

#[test]
fn a_certificate_squatted_after_the_real_pairing_is_refused_and_the_device_keeps_writing() {
    let mut t = team();
    let doc = t.doc;
    let e2 = t.net.index("editor2");
    let victim = t.net.keys[e2].clone();
    squat(&mut t, &victim);
    let env = t
        .net
        .edit("editor2", |ws| ws.append_body(doc, " (editor2)").unwrap());
    t.net.sync();
    t.net.assert_applied_everywhere(&env);
    for r in &t.net.replicas {
        assert_eq!(
            r.members().devices[&victim.id()].address,
            t.editor.address()
        );
    }
    honest_members_still_work(&mut t);
}

#[test]
fn a_device_is_never_moved_to_another_wallet_and_concurrent_bindings_resolve_alike() {
    let mut t = team();
    let e2 = t.net.index("editor2");
    let key = t.net.keys[e2].clone();
    // The device itself signs a certificate of another member's wallet: after its real pairing
    // it is refused.
    let other = certificate_for(&t.viewer, &key);
    let other_hash = hash_of(&other, &key);
    let op = forge(
        &key,
        other_hash,
        AclOpKind::DeviceCertificate {
            certificate: other.clone(),
        },
        t.net.replicas[e2].acl_heads(),
        t.net.now,
    );
    for o in deliver(&mut t.net, &op) {
        assert_eq!(
            o,
            AclOutcome::Refused(Refusal::DeviceOfAnotherWallet {
                device: key.id(),
                bound_to: t.editor.address(),
                claimed_for: t.viewer.address(),
            })
        );
    }
    // Concurrent with the real pairing (same parents): one binding holds, the same everywhere.
    let real = t.net.replicas[0]
        .log()
        .ops()
        .find(|o| {
            o.body().author == key.id() && matches!(o.kind(), AclOpKind::DeviceCertificate { .. })
        })
        .expect("editor2's pairing")
        .clone();
    let twin = forge(
        &key,
        other_hash,
        AclOpKind::DeviceCertificate { certificate: other },
        real.body().parents.clone(),
        real.body().time,
    );
    t.net.publish_op(twin.clone());
    t.net.sync();
    let owner = &t.net.replicas[0];
    let verdicts = |r: &weft::acl::Replica| {
        (
            r.resolution().verdict(r.log(), &real.id()).cloned(),
            r.resolution().verdict(r.log(), &twin.id()).cloned(),
        )
    };
    let (a, b) = verdicts(owner);
    assert!(
        a.as_ref().is_some_and(|v| v.is_ok()) != b.as_ref().is_some_and(|v| v.is_ok()),
        "exactly one binding holds: {a:?} {b:?}"
    );
    let loser = if a.as_ref().is_some_and(|v| v.is_ok()) {
        b
    } else {
        a
    };
    assert!(
        matches!(loser, Some(Err(Refusal::DeviceOfAnotherWallet { .. }))),
        "{loser:?}"
    );
    let bound: Address = owner.members().devices[&key.id()].address;
    for r in &t.net.replicas {
        assert_eq!(verdicts(r), verdicts(owner));
        assert_eq!(r.members().devices[&key.id()].address, bound);
    }
    t.net.assert_converged();
}

#[test]
fn an_expired_device_cannot_sign_membership_ops_by_citing_old_heads() {
    let mut t = team();
    let key = DeviceKey::generate();
    let expires = t.net.now + 1_000;
    let mut request = PairingRequest::new(t.editor.address(), key.id(), at(T0 - 60));
    request.expires_at = at(expires);
    let cert = PairingCertificate::sign_with(&request, &t.editor).unwrap();
    let identity =
        weft::acl::DeviceIdentity::new(key.clone(), cert, &VerifyPolicy::default()).unwrap();
    let genesis = t.net.replicas[0].log().genesis().encode();
    let r = weft::acl::Replica::join(&genesis, identity, config()).unwrap();
    let laptop = t.net.add_replica("laptop", r, key.clone());
    t.net.sync();
    t.net
        .act("laptop", |r, now| r.publish_device_certificate(now));
    t.net.sync();
    let old_heads = t.net.replicas[laptop].acl_heads();
    let cert_hash = t.net.replicas[laptop].identity().cert_hash();
    let ws = t.net.replicas[laptop].workspace_id();
    let keys = t.net.replicas[laptop].epoch_keys();
    // Time passes; the admin adds someone after the expiry.
    t.net.now = expires + 10;
    let newcomer = LocalWallet::generate().address();
    t.net
        .act("admin", |r, now| r.add_member(newcomer, Role::Viewer, now));
    t.net.sync();
    let new_heads = t.net.replicas[0].acl_heads();
    let share = || AclOpKind::ShareKeys {
        device: key.id(),
        share: KeyShare::seal(&keys, &ws, &key.id()).unwrap(),
    };
    // Citing the old heads, at its real time: expired.
    let late = forge(&key, cert_hash, share(), old_heads, t.net.now);
    for o in deliver(&mut t.net, &late) {
        match o {
            AclOutcome::Refused(r @ Refusal::CertificateNotValid { .. }) => {
                assert!(r.to_string().contains("expired"), "{r}")
            }
            other => panic!("{other:?}"),
        }
    }
    // Dated before the expiry, citing what it had seen since: dated before its own past.
    let backdated = forge(&key, cert_hash, share(), new_heads, expires - 5);
    for o in deliver(&mut t.net, &backdated) {
        assert_eq!(o, AclOutcome::Refused(Refusal::DatedBeforeItsPast));
    }
    for r in &t.net.replicas {
        assert!(!r.log().contains(&late.id()) && !r.log().contains(&backdated.id()));
    }
    t.net.assert_converged();
}

#[test]
fn a_junk_key_cannot_replace_a_kept_epoch_key() {
    use shared_common::*;
    let (ow, ew, vw) = (
        LocalWallet::generate(),
        LocalWallet::generate(),
        LocalWallet::generate(),
    );
    let mut owner = found(&ow);
    owner.r().add_member(ew.address(), Role::Editor).unwrap();
    let mut editor = join(&owner, &ew);
    carry(&mut owner, &mut editor);
    editor.r().publish_device().unwrap();
    settle(&mut editor, &mut owner);
    let doc = owner.r().workspace().create_doc("Plan", None).unwrap();
    owner.r().workspace().set_body(doc, "kept").unwrap();
    owner.r().flush().unwrap();
    // The viewer joins from a join code: its keys come from the invite's lockbox alone.
    let secret = owner.r().invite(vw.address(), Role::Viewer).unwrap();
    let mut viewer = join(&owner, &vw);
    carry(&mut owner, &mut viewer);
    assert!(viewer.r().redeem_invite(&secret).unwrap());
    assert_eq!(body_of(viewer.r(), "Plan"), "kept");
    let engine = viewer.r().engine().unwrap();
    let ws = engine.workspace_id();
    let (epoch, real_check, _) = engine.committed_epoch_keys()[0].clone();
    let heads = editor.r().engine().unwrap().acl_heads();
    // The editor's modified client shares a made-up key of that epoch with the viewer's device
    // (picked so that, kept by epoch alone, it would be written last and win).
    let junk = loop {
        let k = EpochKey::generate();
        if k.check(&ws, epoch) > real_check {
            break k;
        }
    };
    let me = viewer.device.key.id();
    let op = forge(
        &editor.device.key,
        editor.device.identity.cert_hash(),
        AclOpKind::ShareKeys {
            device: me,
            share: KeyShare::seal(&[(epoch, junk.clone())], &ws, &me).unwrap(),
        },
        heads,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    );
    viewer.r().receive_acl_op("test", &op.encode()).unwrap();
    let engine = viewer.r().engine().unwrap();
    assert!(
        engine.epoch_keys().iter().any(|(_, k)| *k == junk),
        "the junk key was learned"
    );
    assert!(
        engine
            .committed_epoch_keys()
            .iter()
            .all(|(_, c, _)| *c == real_check),
        "it matches no rotation, so it is not kept"
    );
    // And a made-up device's share of a junk key never enters the log at all.
    let stranger = DeviceKey::generate();
    let op = forge(
        &stranger,
        CertHash([3; 32]),
        AclOpKind::ShareKeys {
            device: me,
            share: KeyShare::seal(&[(epoch, EpochKey::generate())], &ws, &me).unwrap(),
        },
        viewer.r().engine().unwrap().acl_heads(),
        time::OffsetDateTime::now_utc().unix_timestamp(),
    );
    viewer.r().receive_acl_op("test", &op.encode()).unwrap();
    assert!(!viewer.r().engine().unwrap().log().contains(&op.id()));
    // Reopened, the viewer still reads the workspace with the key it kept.
    viewer.restart();
    assert_eq!(body_of(viewer.r(), "Plan"), "kept");
    assert!(viewer
        .r()
        .engine()
        .unwrap()
        .committed_epoch_keys()
        .iter()
        .any(|(e, c, _)| *e == epoch && *c == real_check));
}

#[test]
fn membership_objects_that_do_not_open_with_the_carrier_key_are_refused_before_parsing() {
    use shared_common::*;
    let rig = bucket_common::rig::folder();
    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    owner.r().add_member(ew.address(), Role::Editor).unwrap();
    let sync = sync_of(&rig.bucket, &mut owner);
    sync.round(owner.r()).unwrap();
    // A genuine op (the editor's device publishing its own certificate), put in the bucket
    // without the carrier's seal under the name its id gives it.
    let editor = device(&ew);
    let engine = owner.r().engine().unwrap();
    let ws_id = engine.workspace_id();
    let op = forge(
        &editor.key,
        editor.identity.cert_hash(),
        AclOpKind::DeviceCertificate {
            certificate: editor.identity.certificate().clone(),
        },
        engine.acl_heads(),
        time::OffsetDateTime::now_utc().unix_timestamp(),
    );
    let key = format!(
        "ws/{}/acl/{}",
        hex::encode(ws_id.as_bytes()),
        hex::encode(op.id().as_bytes())
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(rig.bucket.put(&key, op.encode().into()))
        .unwrap();
    let report = sync.round(owner.r()).unwrap();
    assert!(report.refused >= 1, "{report:?}");
    assert!(!owner.r().engine().unwrap().log().contains(&op.id()));
    assert!(
        owner.r().quarantine().is_empty(),
        "never parsed, so never kept"
    );
    // Sealed with the carrier key, the same op is read and accepted.
    let carrier = weft::sync::seal::CarrierKey::from_hex(
        &owner.r().sync_value("carrier.key").unwrap().unwrap(),
    )
    .unwrap();
    let sealed = carrier.seal(&ws_id, b"acl", &op.encode());
    rt.block_on(rig.bucket.put(&key, sealed.into())).unwrap();
    sync.round(owner.r()).unwrap();
    assert!(owner.r().engine().unwrap().log().contains(&op.id()));
}

#[test]
fn an_honest_op_that_cites_a_refused_op_still_counts() {
    // An older weft let every op into the log and cited every head, junk included: its honest
    // ops, replayed after the upgrade, cite ops that are now refused at the door. They must
    // still count, and bring what they cite along (void); junk citing junk does not.
    let mut t = team();
    let stranger = DeviceKey::generate();
    let heads = t.net.replicas[0].acl_heads();
    let junk = forge(
        &stranger,
        CertHash([9; 32]),
        AclOpKind::Add {
            member: LocalWallet::generate().address(),
            role: Role::Admin,
        },
        heads.clone(),
        t.net.now,
    );
    for o in deliver(&mut t.net, &junk) {
        assert!(
            matches!(o, AclOutcome::Refused(Refusal::UnknownDevice(_))),
            "{o:?}"
        );
    }
    let newcomer = LocalWallet::generate().address();
    let mut parents = heads.clone();
    parents.push(junk.id());
    let owner_device = t.net.replicas[0].identity().device();
    let owner_cert = t.net.replicas[0].identity().cert_hash();
    let honest = forge(
        &t.net.keys[0].clone(),
        owner_cert,
        AclOpKind::Add {
            member: newcomer,
            role: Role::Viewer,
        },
        parents,
        t.net.now + 1,
    );
    assert_eq!(honest.body().author, owner_device);
    let more_junk = forge(
        &DeviceKey::generate(),
        CertHash([8; 32]),
        AclOpKind::Remove {
            member: t.editor.address(),
        },
        vec![junk.id()],
        t.net.now + 1,
    );
    t.net.now += 1;
    for o in deliver(&mut t.net, &honest) {
        assert_eq!(o, AclOutcome::Accepted);
    }
    for o in deliver(&mut t.net, &more_junk) {
        assert!(
            matches!(o, AclOutcome::Refused(Refusal::UnknownDevice(_))),
            "{o:?}"
        );
    }
    t.net.publish_op(junk.clone());
    t.net.publish_op(honest.clone());
    t.net.publish_op(more_junk.clone());
    t.net.sync();
    for r in &t.net.replicas {
        assert_eq!(r.members().role(&newcomer), Some(Role::Viewer));
        assert!(matches!(
            r.resolution().verdict(r.log(), &junk.id()),
            Some(Err(Refusal::UnknownDevice(_)))
        ));
        assert!(!r.log().contains(&more_junk.id()));
        assert!(!r.acl_heads().contains(&junk.id()));
    }
    honest_members_still_work(&mut t);
}
