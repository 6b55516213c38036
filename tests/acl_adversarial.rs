//! Forged, tampered, replayed, hijacked and mis-certified changes: each is refused on every
//! replica with a reason, and nothing accepted is lost.

mod acl_common;

use acl_common::*;
use loro::{ExportMode, LoroDoc};
use weft::acl::{AclOp, AclOpBody, AclOpKind, AclOutcome, ContentVersion, Outcome, Refusal, Role};
use weft::crypto::envelope::HEADER_VERSION;
use weft::crypto::{Envelope, EnvelopeHeader, WorkspaceId};
use weft::identity::{DeviceKey, PairingCertificate, PairingRequest};

fn reasons_contain(reasons: &[String], needle: &str) {
    assert!(
        reasons.iter().all(|r| r.contains(needle)),
        "expected every reason to mention {needle:?}: {reasons:?}"
    );
}

/// Delivers raw bytes to every replica and returns their outcomes.
fn deliver_raw(net: &mut Net, bytes: &[u8]) -> Vec<Outcome> {
    let now = net.tick();
    net.replicas
        .iter_mut()
        .map(|r| r.receive_envelope(bytes, now).outcome)
        .collect()
}

fn all_bad_signature(outcomes: &[Outcome]) {
    for o in outcomes {
        assert_eq!(o, &Outcome::Quarantined(Refusal::BadSignature));
    }
}

#[test]
fn forged_signatures_and_tampered_payloads_are_refused() {
    let mut t = team();
    let doc = t.doc;
    // An honest edit, intercepted before delivery.
    let env = rogue_envelope(&mut t.net, "editor", 2, |ws| {
        ws.append_body(doc, " world").unwrap()
    });
    let good = env.encode();
    let header_len = u16::from_be_bytes([good[4], good[5]]) as usize;

    // Tampered payload: one byte of the Loro update changed.
    let mut tampered = good.clone();
    let payload_byte = 6 + header_len + 4 + 10;
    tampered[payload_byte] ^= 0x01;
    all_bad_signature(&deliver_raw(&mut t.net, &tampered));

    // Tampered header: the sequence number changed.
    let mut reseq = good.clone();
    reseq[6 + 1 + 32 + 4 + 33 + 32 + 7] ^= 0x01;
    all_bad_signature(&deliver_raw(&mut t.net, &reseq));

    // Forged: the same header and payload signed by another key.
    let forger = DeviceKey::generate();
    let mut forged = good.clone();
    let n = forged.len();
    let other = Envelope::seal(
        EnvelopeHeader {
            device: forger.id(),
            ..env.header().clone()
        },
        env.payload().to_vec(),
        &forger,
    )
    .unwrap()
    .encode();
    forged[n - 64..].copy_from_slice(&other[other.len() - 64..]);
    all_bad_signature(&deliver_raw(&mut t.net, &forged));

    // The genuine one is still accepted afterwards (the outsider, without the key, holds it
    // for the key), and nothing else changed.
    let outcomes = deliver_raw(&mut t.net, &good);
    for (r, o) in t.net.replicas.iter().zip(outcomes) {
        if can_read(r, &env) {
            assert_eq!(o, Outcome::Applied);
        } else {
            assert!(
                matches!(&o, Outcome::Pending(m) if m.epoch.is_some()),
                "{o:?}"
            );
        }
    }
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello world");
    }
    for r in &t.net.replicas {
        assert_eq!(
            r.quarantine()
                .iter()
                .filter(|q| q.reason == Refusal::BadSignature && !q.may_be_released)
                .count(),
            3
        );
    }
}

#[test]
fn garbage_is_quarantined_as_unreadable_and_nothing_panics() {
    let mut t = team();
    for bytes in [&b""[..], b"WFTE", b"WFTE\xff\xff", &[0u8; 300][..]] {
        for o in deliver_raw(&mut t.net, bytes) {
            assert!(
                matches!(o, Outcome::Quarantined(Refusal::Unreadable(_))),
                "{o:?}"
            );
        }
    }
}

#[test]
fn a_replayed_envelope_is_a_duplicate_and_changes_nothing() {
    let mut t = team();
    let doc = t.doc;
    let env = t.net.edit("editor", |ws| ws.append_body(doc, "!").unwrap());
    t.net.sync();
    let before = document(&t.net.replicas[0]);
    for o in deliver_raw(&mut t.net, &env.encode()) {
        assert_eq!(o, Outcome::Duplicate);
    }
    assert_eq!(document(&t.net.replicas[0]), before);
    assert_eq!(t.net.replicas[0].workspace().body(doc).unwrap(), "hello!");
}

#[test]
fn an_envelope_from_another_workspace_is_refused() {
    let mut t = team();
    let mut other = team();
    let doc = other.doc;
    let env = other
        .net
        .edit("editor", |ws| ws.append_body(doc, "?").unwrap());
    for o in deliver_raw(&mut t.net, &env.encode()) {
        assert!(
            matches!(o, Outcome::Quarantined(Refusal::OtherWorkspace(_))),
            "{o:?}"
        );
    }
    // Signed for a made-up workspace id by a member's own device: still refused.
    let i = t.net.index("editor");
    let key = t.net.keys[i].clone();
    let header = EnvelopeHeader {
        workspace: WorkspaceId([0xab; 32]),
        ..env.header().clone()
    };
    let header = EnvelopeHeader {
        device: key.id(),
        ..header
    };
    let foreign = Envelope::seal(header, env.payload().to_vec(), &key).unwrap();
    for o in deliver_raw(&mut t.net, &foreign.encode()) {
        assert!(
            matches!(o, Outcome::Quarantined(Refusal::OtherWorkspace(_))),
            "{o:?}"
        );
    }
}

#[test]
fn writing_as_another_devices_loro_peer_is_refused() {
    let mut t = team();
    let doc = t.doc;
    // The editor's first device writes; its Loro peer is now bound to that device.
    let honest = t
        .net
        .edit("editor", |ws| ws.append_body(doc, " one").unwrap());
    t.net.sync();
    let peer = honest.header().peers[0];
    // The editor's second device (same wallet!) continues that peer's history.
    let i = t.net.index("editor2");
    let fork = t.net.replicas[i].workspace().loro().fork();
    fork.set_peer_id(peer).unwrap();
    let before = fork.oplog_vv();
    let ws = weft::model::Workspace::open_replica(fork, "x", weft::model::Clock::Fixed(0));
    ws.append_body(doc, " two").unwrap();
    let payload = ws.loro().export(ExportMode::updates(&before)).unwrap();
    let now = t.net.tick();
    let r = &t.net.replicas[i];
    let header = EnvelopeHeader {
        version: HEADER_VERSION,
        workspace: r.workspace_id(),
        epoch: 0,
        device: r.identity().device(),
        cert_hash: r.identity().cert_hash(),
        seq: 1,
        time: now.unix_timestamp(),
        peers: vec![peer],
        acl_heads: r.log().heads(),
        salts: vec![],
        builds_on: vec![],
        nonce: vec![],
    };
    let hijack = seal_as(&t.net, i, header, &payload);
    t.net.publish_env(hijack.clone());
    t.net.sync();
    let reasons = t.net.assert_quarantined_everywhere(&hijack);
    reasons_contain(&reasons, "belongs to device");
    t.net.assert_applied_everywhere(&honest);
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello one");
    }
}

#[test]
fn copying_a_peers_first_changes_is_refused_and_the_honest_history_survives() {
    let mut t = team();
    let doc = t.doc;
    let honest = t
        .net
        .edit("editor", |ws| ws.append_body(doc, " one").unwrap());
    t.net.sync();
    // The peer that created the doc belongs to the editor's first device. The commenter signs
    // other content under the same Loro ids: one id, two contents.
    let creator_peer = honest.header().peers[0];
    let rogue = LoroDoc::new();
    rogue.set_peer_id(creator_peer).unwrap();
    rogue.get_map("trash").insert("x", 1).unwrap();
    rogue.commit();
    let payload = rogue.export(ExportMode::all_updates()).unwrap();
    let i = t.net.index("commenter");
    let now = t.net.tick();
    let r = &t.net.replicas[i];
    let header = EnvelopeHeader {
        version: HEADER_VERSION,
        workspace: r.workspace_id(),
        epoch: 0,
        device: r.identity().device(),
        cert_hash: r.identity().cert_hash(),
        seq: 1,
        time: now.unix_timestamp(),
        peers: vec![creator_peer],
        acl_heads: r.log().heads(),
        salts: vec![],
        builds_on: vec![],
        nonce: vec![],
    };
    let copy = seal_as(&t.net, i, header, &payload);
    t.net.publish_env(copy.clone());
    t.net.sync();
    // The editor's peer is derived from its device (the salt is in its signed header), so the
    // copy alone is refused, naming the peer, and the editor's history stays applied.
    let reasons = t.net.assert_quarantined_everywhere(&copy);
    reasons_contain(
        &reasons,
        &format!("Loro peer {creator_peer} belongs to device"),
    );
    t.net.assert_applied_everywhere(&honest);
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello one");
        assert_eq!(r.workspace().doc(doc).unwrap().title, "Plan");
    }
    t.net.assert_converged();
    let q = t.net.replicas[0].quarantine();
    assert!(q.iter().any(|e| e.address == Some(t.commenter.address())));
}

#[test]
fn a_sequence_number_used_twice_refuses_nothing_by_itself() {
    let mut t = team();
    let doc = t.doc;
    // Two envelopes of one device with one sequence number but different Loro ids (two
    // processes of one home, or a modified client): the sequence number only indexes the
    // transport, so both are judged on what they carry, and both are valid.
    let a = rogue_envelope(&mut t.net, "editor2", 5, |ws| {
        ws.append_body(doc, " A").unwrap()
    });
    let b = rogue_envelope(&mut t.net, "editor2", 5, |ws| {
        ws.append_body(doc, " B").unwrap()
    });
    assert_ne!(a.header().peers, b.header().peers);
    t.net.publish_env(a.clone());
    t.net.sync();
    t.net.assert_applied_everywhere(&a);
    t.net.publish_env(b.clone());
    t.net.sync();
    t.net.assert_applied_everywhere(&a);
    t.net.assert_applied_everywhere(&b);
    t.net.assert_converged();
    let body = t.net.replicas[0].workspace().body(doc).unwrap();
    assert!(body.contains(" A") && body.contains(" B"), "{body}");
}

/// A device of `wallet` whose certificate expires at `expires`, joined and certified.
fn short_lived_device(t: &mut Team, expires: i64) -> usize {
    let key = DeviceKey::generate();
    let mut request = PairingRequest::new(t.editor.address(), key.id(), at(T0 - 60));
    request.expires_at = at(expires);
    let cert = PairingCertificate::sign_with(&request, &t.editor).unwrap();
    let identity = weft::acl::DeviceIdentity::new(key.clone(), cert, &Default::default()).unwrap();
    let genesis = t.net.replicas[0].log().genesis().encode();
    let r = weft::acl::Replica::join(&genesis, identity, config()).unwrap();
    let i = t.net.add_replica("laptop", r, key);
    t.net.sync();
    t.net
        .act("laptop", |r, now| r.publish_device_certificate(now));
    t.net.sync();
    i
}

#[test]
fn an_expired_certificate_signs_nothing() {
    let mut t = team();
    let doc = t.doc;
    let expires = t.net.now + 1_000;
    let laptop = short_lived_device(&mut t, expires);
    // Before expiry the laptop writes normally.
    let ok = t
        .net
        .edit("laptop", |ws| ws.append_body(doc, " (laptop)").unwrap());
    t.net.sync();
    t.net.assert_applied_everywhere(&ok);
    // After expiry its own replica refuses locally, and a modified client's change is refused
    // everywhere.
    t.net.now = expires + 10;
    let now = t.net.tick();
    t.net.replicas[laptop]
        .workspace()
        .append_body(doc, " late")
        .unwrap();
    let err = t.net.replicas[laptop].local_commit(now).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    let late = rogue_envelope(&mut t.net, "laptop", 7, |ws| {
        ws.append_body(doc, " later").unwrap()
    });
    t.net.publish_env(late.clone());
    t.net.sync();
    reasons_contain(&t.net.assert_quarantined_everywhere(&late), "expired");
    // Backdating does not help once it cites membership changes made after the expiry.
    let a = t.admin.address();
    let _ = a;
    t.net.act("admin", |r, now| {
        r.add_member(
            weft::identity::LocalWallet::generate().address(),
            Role::Viewer,
            now,
        )
    });
    t.net.sync();
    let mut backdated = rogue_envelope(&mut t.net, "laptop", 8, |ws| {
        ws.append_body(doc, " old").unwrap()
    });
    let header = EnvelopeHeader {
        time: expires - 5,
        ..backdated.header().clone()
    };
    backdated = reseal(&t.net, laptop, header, &backdated);
    t.net.publish_env(backdated.clone());
    t.net.sync();
    reasons_contain(
        &t.net.assert_quarantined_everywhere(&backdated),
        "dated earlier",
    );
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello (laptop)");
    }
}

#[test]
fn a_certificate_of_another_device_is_refused() {
    let mut t = team();
    let doc = t.doc;
    // editor2 signs naming the first editor device's certificate.
    let e1 = t.net.index("editor");
    let foreign_cert = t.net.replicas[e1].identity().cert_hash();
    let env = rogue_envelope(&mut t.net, "editor2", 3, |ws| {
        ws.append_body(doc, " x").unwrap()
    });
    let header = EnvelopeHeader {
        cert_hash: foreign_cert,
        ..env.header().clone()
    };
    let e2 = t.net.index("editor2");
    let env = reseal(&t.net, e2, header, &env);
    t.net.publish_env(env.clone());
    t.net.sync();
    reasons_contain(
        &t.net.assert_quarantined_everywhere(&env),
        "never published",
    );

    // An unpaired device publishes the editor's first device's certificate as its own.
    let stranger = DeviceKey::generate();
    let now = t.net.tick();
    let r = &t.net.replicas[0];
    let op = AclOp::sign(
        AclOpBody {
            kind: AclOpKind::DeviceCertificate {
                certificate: t.net.replicas[e1].identity().certificate().clone(),
            },
            author: stranger.id(),
            cert_hash: foreign_cert,
            parents: r.log().heads(),
            time: now.unix_timestamp(),
            seen: ContentVersion::default(),
        },
        &stranger,
    )
    .unwrap();
    let e1_device = t.net.replicas[e1].identity().device();
    for r in &mut t.net.replicas {
        let o = r.receive_acl_op(&op.encode(), now).outcome;
        assert!(
            matches!(o, AclOutcome::Refused(Refusal::CertificateNotSelfPublished { device, author })
                if device == e1_device && author == stranger.id()),
            "{o:?}"
        );
        assert!(!r.log().contains(&op.id()));
    }
}

#[test]
fn membership_ops_beyond_ones_role_are_refused_everywhere() {
    let mut t = team();
    let newcomer = weft::identity::LocalWallet::generate().address();
    let owner = t.owner.address();
    let admin = t.admin.address();
    // The UI refuses first …
    let ed = t.net.index("editor");
    let err = t.net.replicas[ed]
        .add_member(newcomer, Role::Viewer, at(T0 + 500))
        .unwrap_err();
    assert!(err.to_string().contains("admin"), "{err}");
    let ad = t.net.index("admin");
    assert!(t.net.replicas[ad]
        .remove_member(owner, at(T0 + 500))
        .is_err());
    assert!(t.net.replicas[ad]
        .add_member(newcomer, Role::Admin, at(T0 + 500))
        .is_err());
    // … and a modified client's ops are refused by every replica.
    let mut forge = |name: &str, kind: AclOpKind| {
        let i = t.net.index(name);
        let now = t.net.tick();
        let r = &t.net.replicas[i];
        AclOp::sign(
            AclOpBody {
                kind,
                author: r.identity().device(),
                cert_hash: r.identity().cert_hash(),
                parents: r.log().heads(),
                time: now.unix_timestamp(),
                seen: ContentVersion::default(),
            },
            &t.net.keys[i],
        )
        .unwrap()
    };
    let ops = [
        forge(
            "editor",
            AclOpKind::Add {
                member: newcomer,
                role: Role::Viewer,
            },
        ),
        forge("admin", AclOpKind::Remove { member: owner }),
        forge(
            "admin",
            AclOpKind::Add {
                member: newcomer,
                role: Role::Admin,
            },
        ),
        forge(
            "admin",
            AclOpKind::ChangeRole {
                member: admin,
                role: Role::Owner,
            },
        ),
        forge(
            "commenter",
            AclOpKind::ChangeRole {
                member: t.commenter.address(),
                role: Role::Editor,
            },
        ),
    ];
    for op in &ops {
        t.net.publish_op(op.clone());
    }
    t.net.sync();
    for r in &t.net.replicas {
        for op in &ops {
            // Refused before it entered the log (nothing that role could ever do), or in it
            // and void.
            let refused_at_the_door = !r.log().contains(&op.id())
                && r.quarantine()
                    .iter()
                    .any(|q| q.item == weft::acl::QuarantinedItem::AclOp(op.id()));
            assert!(
                refused_at_the_door
                    || matches!(r.resolution().verdict(r.log(), &op.id()), Some(Err(_))),
                "{:?} should be refused",
                op.kind()
            );
        }
        assert_eq!(r.members().role(&newcomer), None);
        assert_eq!(r.members().role(&owner), Some(Role::Owner));
        assert_eq!(
            r.members().role(&t.commenter.address()),
            Some(Role::Commenter)
        );
    }
    t.net.assert_converged();
}

#[test]
fn writing_into_a_container_before_it_exists_is_refused_and_does_not_block_its_creator() {
    let mut t = team();
    let doc = t.doc;
    // The commenter's next comment will be the map created by its next op; an editor's
    // modified client writes into that container before it exists.
    let c = t.net.index("commenter");
    let cdoc = t.net.replicas[c].workspace().loro();
    let peer = cdoc.peer_id();
    let next = cdoc.oplog_vv().get(&peer).copied().unwrap_or(0);
    let future = loro::ContainerID::new_normal(loro::ID::new(peer, next), loro::ContainerType::Map);
    let squat = rogue_envelope(&mut t.net, "editor2", 40, |ws| {
        // Loro's API will not write into a container that does not exist, so forge the op:
        // make an ordinary trash write, then retarget it in the change's JSON form.
        let base = ws.loro();
        let tmp = base.fork();
        tmp.set_peer_id(base.peer_id()).unwrap();
        let before = tmp.oplog_vv();
        tmp.get_map("trash").insert("x", 1).unwrap();
        tmp.commit();
        let mut json = tmp
            .export_json_updates_without_peer_compression(&before, &tmp.oplog_vv())
            .unwrap();
        json.changes[0].ops[0].container = future.clone();
        base.import_json_updates(json).unwrap();
    });
    t.net.publish_env(squat.clone());
    t.net.sync();
    let reasons = t.net.assert_quarantined_everywhere(&squat);
    reasons_contain(&reasons, "could not have seen");
    // The commenter's real comment, which creates that container, is accepted everywhere.
    let mut id = None;
    let comment = t.net.edit("commenter", |ws| {
        id = Some(ws.add_comment(doc, "first!", None, None).unwrap());
    });
    assert_eq!(id.unwrap().as_str(), loro::ID::new(peer, next).to_string());
    t.net.sync();
    t.net.assert_applied_everywhere(&comment);
    t.net.assert_converged();
}

#[test]
fn a_removed_member_cannot_void_others_work_by_copying_their_peer() {
    let mut t = team();
    let doc = t.doc;
    let honest = t
        .net
        .edit("editor", |ws| ws.append_body(doc, " one").unwrap());
    t.net.sync();
    let c = t.net.index("commenter");
    let old_heads = t.net.replicas[c].log().heads();
    let commenter = t.commenter.address();
    t.net.act("admin", |r, now| r.remove_member(commenter, now));
    t.net.sync();
    // After the removal, the commenter's modified client copies the editor's peer, citing the
    // membership as it was before the removal.
    let peer = honest.header().peers[0];
    let rogue = LoroDoc::new();
    rogue.set_peer_id(peer).unwrap();
    rogue.get_map("trash").insert("x", 1).unwrap();
    rogue.commit();
    let now = t.net.tick();
    let r = &t.net.replicas[c];
    let header = EnvelopeHeader {
        version: HEADER_VERSION,
        workspace: r.workspace_id(),
        epoch: 0,
        device: r.identity().device(),
        cert_hash: r.identity().cert_hash(),
        seq: 1,
        time: now.unix_timestamp(),
        peers: vec![peer],
        acl_heads: old_heads,
        salts: vec![],
        builds_on: vec![],
        nonce: vec![],
    };
    let copy = seal_as(
        &t.net,
        c,
        header,
        &rogue.export(ExportMode::all_updates()).unwrap(),
    );
    t.net.publish_env(copy.clone());
    t.net.sync();
    // Its Loro ids are ones the remover had seen, but they belong to the editor's device.
    reasons_contain(
        &t.net.assert_quarantined_everywhere(&copy),
        "belongs to device",
    );
    t.net.assert_applied_everywhere(&honest);
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello one");
    }
    t.net.assert_converged();
}
