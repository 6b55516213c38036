//! End-to-end encryption in the access-control core: every workspace is encrypted from its
//! creation, invites carry keys in a lockbox, new devices get keys by a share, removals
//! rotate the key so removed members cannot read what is written after, and anything that does
//! not decrypt is refused with the reason.

mod acl_common;

use acl_common::*;
use weft::acl::{AclOutcome, Founding, Outcome, Outgoing, Redemption, Refusal, Replica, Role};
use weft::crypto::{Envelope, EnvelopeHeader, EpochKey};
use weft::identity::LocalWallet;

const SECRET: &str = "the secret is swordfish";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// No published byte (envelope or op) contains the plaintext.
fn assert_nothing_leaks(net: &Net, plaintext: &str) {
    let mut envelopes = 0;
    for m in &net.msgs {
        let bytes = match m {
            Msg::Env(b) => {
                envelopes += 1;
                b
            }
            Msg::Acl(b) => b,
        };
        assert!(
            !contains(bytes, plaintext.as_bytes()),
            "{plaintext:?} is readable in a published message"
        );
    }
    assert!(envelopes > 0);
}

fn epoch_of(net: &mut Net, name: &str) -> u32 {
    net.r(name).current_epoch()
}

fn keyring(r: &Replica) -> Vec<(u32, [u8; 32])> {
    r.epoch_keys()
        .into_iter()
        .map(|(e, k)| (e, *k.as_bytes()))
        .collect()
}

#[test]
fn a_new_workspace_starts_encrypted_at_epoch_one() {
    let owner = LocalWallet::generate();
    let (net, founding) = Net::found("owner", &owner);
    let Founding {
        genesis,
        rotation,
        first,
    } = founding;
    assert_eq!(first.header().epoch, 1);
    assert_eq!(first.header().nonce.len(), 24);
    assert_eq!(rotation.body().parents, vec![genesis.id()]);
    let r = &net.replicas[0];
    assert_eq!(r.current_epoch(), 1);
    assert!(r.has_current_key());
    assert_eq!(r.epoch_keys().len(), 1);
    // The owner recovers the key from the log with the device key alone.
    let key = net.keys[0].clone();
    let again = Replica::join(
        &genesis.encode(),
        weft::acl::DeviceIdentity::new(
            key,
            r.identity().certificate().clone(),
            &Default::default(),
        )
        .unwrap(),
        config(),
    )
    .unwrap();
    let mut again = again;
    again.receive_acl_op(&rotation.encode(), at(T0 + 1));
    assert_eq!(keyring(&again), keyring(r));
    let receipt = again.receive_envelope(&first.encode(), at(T0 + 1));
    assert_eq!(receipt.outcome, Outcome::Applied);
}

#[test]
fn an_invited_editor_joins_from_the_code_reads_history_and_writes() {
    let owner = LocalWallet::generate();
    let (mut net, _) = Net::found("owner", &owner);
    let mut doc = None;
    net.edit("owner", |ws| {
        let d = ws.create_doc("Plans", None).unwrap();
        ws.set_body(d, SECRET).unwrap();
        doc = Some(d);
    });
    let doc = doc.unwrap();
    let editor = LocalWallet::generate();
    let address = editor.address();
    let now = net.tick();
    let o = net.index("owner");
    let (invite, secret) = net.replicas[o]
        .invite(address, Role::Editor, now)
        .expect("the owner invites");
    net.publish_op(invite.clone());
    // The invitee's device opens the workspace and redeems the code before the invite arrives:
    // the code is kept until it does.
    let e = net.join("editor", &editor);
    let now = net.tick();
    assert_eq!(
        net.replicas[e].redeem_invite(&secret, now).unwrap(),
        Redemption::Waiting
    );
    net.sync();
    let r = &net.replicas[e];
    assert_eq!(r.members().role(&address), Some(Role::Editor));
    assert!(r.has_current_key(), "the lockbox gave the current key");
    assert_eq!(r.workspace().body(doc).unwrap(), SECRET, "reads history");
    // It pairs its device and writes; everyone accepts it.
    net.act("editor", |r, t| r.publish_device_certificate(t));
    net.sync();
    let edit = net.edit("editor", |ws| ws.append_body(doc, " and more").unwrap());
    net.sync();
    net.assert_applied_everywhere(&edit);
    assert_eq!(
        net.replicas[o].workspace().body(doc).unwrap(),
        format!("{SECRET} and more")
    );
    net.assert_converged();
    assert_nothing_leaks(&net, SECRET);
    assert_nothing_leaks(&net, "and more");
}

#[test]
fn redeeming_after_the_invite_arrived_opens_it_at_once_and_a_wrong_code_does_not() {
    let owner = LocalWallet::generate();
    let (mut net, _) = Net::found("owner", &owner);
    let invitee = LocalWallet::generate();
    let address = invitee.address();
    let now = net.tick();
    let (invite, secret) = net.replicas[0].invite(address, Role::Viewer, now).unwrap();
    net.publish_op(invite);
    let v = net.join("viewer", &invitee);
    net.sync();
    assert!(!net.replicas[v].has_current_key());
    // Pending for the key, never applied, until the code is redeemed.
    let first = net.envelopes()[0].clone();
    assert!(matches!(
        net.replicas[v].envelope_outcome(&first.id()),
        Some(Outcome::Pending(m)) if m.epoch == Some(1)
    ));
    let now = net.tick();
    let wrong = weft::crypto::InviteSecret::generate();
    assert_eq!(
        net.replicas[v].redeem_invite(&wrong, now).unwrap(),
        Redemption::Waiting
    );
    match net.replicas[v].redeem_invite(&secret, now).unwrap() {
        Redemption::Opened { epochs, effects } => {
            assert_eq!(epochs, vec![1]);
            assert_eq!(effects.released, vec![first.id()]);
            assert!(effects.keys_learned);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        net.replicas[v].envelope_outcome(&first.id()),
        Some(Outcome::Applied)
    );
}

#[test]
fn a_removal_rotates_the_key_and_the_removed_member_cannot_read_what_follows() {
    let mut t = team();
    let doc = t.doc;
    let before = epoch_of(&mut t.net, "owner");
    let kept = t
        .net
        .edit("owner", |ws| ws.append_body(doc, " before").unwrap());
    t.net.sync();
    let editor = t.editor.address();
    t.net.act("admin", |r, now| r.remove_member(editor, now));
    t.net.sync();
    for r in &t.net.replicas {
        assert_eq!(r.current_epoch(), before + 1, "{:?}", r.identity().device());
    }
    let after = t
        .net
        .edit("owner", |ws| ws.append_body(doc, SECRET).unwrap());
    t.net.sync();
    assert_eq!(after.header().epoch, before + 1);
    for name in ["editor", "editor2"] {
        let i = t.net.index(name);
        let r = &t.net.replicas[i];
        assert!(!r.has_current_key(), "{name} was removed");
        assert_eq!(r.envelope_outcome(&kept.id()), Some(Outcome::Applied));
        match r.envelope_outcome(&after.id()) {
            Some(Outcome::Pending(m)) => assert_eq!(m.epoch, Some(before + 1), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        assert!(!r.workspace().body(doc).unwrap().contains(SECRET));
        assert!(r
            .pending()
            .iter()
            .any(|p| p.missing.epoch == Some(before + 1)));
    }
    for name in ["owner", "admin", "commenter", "viewer"] {
        let i = t.net.index(name);
        assert_eq!(
            t.net.replicas[i].envelope_outcome(&after.id()),
            Some(Outcome::Applied),
            "{name}"
        );
    }
    t.net.assert_applied_everywhere(&after);
    t.net.assert_converged();
    assert_nothing_leaks(&t.net, SECRET);
}

#[test]
fn a_second_device_of_a_member_gets_the_keys_by_a_share() {
    let mut t = team();
    let doc = t.doc;
    let v2 = t.net.join("viewer2", &t.viewer);
    t.net.sync();
    assert!(!t.net.replicas[v2].has_current_key());
    t.net
        .act("viewer2", |r, now| r.publish_device_certificate(now));
    let device = t.net.replicas[v2].identity().device();
    // The editor is not responsible for the viewer's devices: on its replica, the log shows
    // the new device without a key until someone who is shares.
    let editor = t.net.index("editor");
    t.net.deliver_to(editor);
    assert!(t.net.replicas[editor]
        .devices_awaiting_keys()
        .contains(&device));
    t.net.sync();
    // The viewer's first device shared the keys on its own.
    let r = &t.net.replicas[v2];
    assert!(r.has_current_key());
    assert_eq!(r.workspace().body(doc).unwrap(), "hello");
    assert!(t.net.replicas[editor].devices_awaiting_keys().is_empty());
    let shares = t
        .net
        .replicas[0]
        .log()
        .ops()
        .filter(|op| matches!(op.kind(), weft::acl::AclOpKind::ShareKeys { device: d, .. } if *d == device))
        .count();
    assert!(shares >= 1);
    t.net.assert_converged();
}

#[test]
fn a_backlog_that_arrived_before_the_key_is_released_in_full_whatever_its_order() {
    let mut t = team();
    let doc = t.doc;
    let v2 = t.net.join("viewer2", &t.viewer);
    // Two members type one keystroke per change, all within one second, while the viewer's new
    // device is not paired yet; a commenter's modified client writes into the body among them.
    let mut rogue = None;
    for i in 0..40usize {
        let who = if i % 3 == 0 { "admin" } else { "editor" };
        t.net.now -= 1;
        t.net.edit(who, |ws| {
            let mut text = ws.text(doc).expect("body");
            let at = i % (text.len_chars() + 1);
            text.insert(at, if i % 2 == 0 { "a" } else { "b" })
                .expect("insert");
        });
        if i == 20 {
            t.net.now -= 1;
            rogue = Some(rogue_envelope(&mut t.net, "commenter", 1, |ws| {
                ws.text(doc).expect("body").insert(0, "!").expect("insert");
            }));
            t.net.publish_env(rogue.clone().expect("made"));
        }
    }
    let rogue = rogue.expect("made");
    // The new device gets the membership in order and the changes newest first, before it
    // holds any key: everything waits for the key.
    let (ops, envs): (Vec<Msg>, Vec<Msg>) = t
        .net
        .msgs
        .iter()
        .cloned()
        .partition(|m| matches!(m, Msg::Acl(_)));
    for m in ops.iter().chain(envs.iter().rev()) {
        t.net.receive(v2, m);
    }
    let waiting = t.net.replicas[v2].pending();
    assert_eq!(waiting.len(), envs.len());
    assert!(waiting.iter().all(|p| p.missing.epoch.is_some()));
    // Paired, it gets the keys by a share and releases the whole backlog at once.
    t.net
        .act("viewer2", |r, now| r.publish_device_certificate(now));
    t.net.sync();
    let r = &t.net.replicas[v2];
    assert!(r.pending().is_empty(), "{:?}", r.pending());
    let body = r.workspace().body(doc).expect("body");
    assert_eq!(body.len(), "hello".len() + 40);
    assert_eq!(body, t.net.r("editor").workspace().body(doc).expect("body"));
    for name in ["owner", "viewer2"] {
        assert!(
            matches!(
                t.net.r(name).envelope_outcome(&rogue.id()),
                Some(Outcome::Quarantined(_))
            ),
            "{name}"
        );
    }
    t.net.assert_converged();
}

#[test]
fn sharing_by_hand_with_a_device_that_may_not_read_is_refused() {
    let mut t = team();
    let outsider = t.net.index("outsider");
    let device = t.net.replicas[outsider].identity().device();
    let now = t.net.tick();
    let err = t.net.r("owner").share_keys(device, now).unwrap_err();
    assert!(err.to_string().contains("not paired"), "{err}");
    let viewer = t.net.index("viewer");
    let device = t.net.replicas[viewer].identity().device();
    let op = t
        .net
        .r("editor")
        .share_keys(device, now)
        .expect("any member may share");
    t.net.publish_op(op);
    t.net.sync();
    t.net.assert_converged();
}

#[test]
fn a_tampered_ciphertext_is_quarantined_with_the_reason() {
    let mut t = team();
    let doc = t.doc;
    let honest = rogue_envelope(&mut t.net, "editor", 9, |ws| {
        ws.append_body(doc, " x").unwrap()
    });
    // A modified client flips a ciphertext byte and signs again: the signature is the
    // device's own, the ciphertext does not authenticate.
    let mut payload = honest.payload().to_vec();
    payload[3] ^= 0x20;
    let i = t.net.index("editor");
    let tampered = Envelope::seal(honest.header().clone(), payload, &t.net.keys[i]).unwrap();
    tampered.verify_signature().unwrap();
    t.net.publish_env(tampered.clone());
    t.net.sync();
    let epoch = tampered.header().epoch;
    for reason in t.net.assert_quarantined_everywhere(&tampered) {
        assert!(
            reason.contains(&format!("cannot be decrypted with epoch {epoch}'s key")),
            "{reason}"
        );
    }
    let q = t.net.replicas[0].quarantine();
    let entry = q
        .iter()
        .find(|e| e.reason == Refusal::CannotDecrypt { epoch })
        .expect("listed in the quarantine");
    assert!(!entry.may_be_released);
    assert_eq!(entry.address, Some(t.editor.address()));
    assert_eq!(t.net.replicas[0].workspace().body(doc).unwrap(), "hello");
}

#[test]
fn a_ciphertext_moved_to_another_epoch_or_header_does_not_decrypt() {
    let mut t = team();
    let doc = t.doc;
    let e = t.net.index("editor");
    let old = rogue_envelope(&mut t.net, "editor", 20, |ws| {
        ws.append_body(doc, " old").unwrap()
    });
    let old_epoch = old.header().epoch;
    let commenter = t.commenter.address();
    t.net.act("admin", |r, now| r.remove_member(commenter, now));
    t.net.sync();
    let new_epoch = epoch_of(&mut t.net, "editor");
    assert_eq!(new_epoch, old_epoch + 1);
    let heads = t.net.replicas[e].log().heads();
    let now = t.net.tick().unix_timestamp();
    // The ciphertext of the old epoch, relabelled as the new epoch.
    let relabelled = Envelope::seal(
        EnvelopeHeader {
            epoch: new_epoch,
            seq: 21,
            time: now,
            acl_heads: heads.clone(),
            ..old.header().clone()
        },
        old.payload().to_vec(),
        &t.net.keys[e],
    )
    .unwrap();
    // The same ciphertext under a header with another sequence number (swapped AAD).
    let swapped = Envelope::seal(
        EnvelopeHeader {
            seq: 22,
            ..old.header().clone()
        },
        old.payload().to_vec(),
        &t.net.keys[e],
    )
    .unwrap();
    // The update sealed with the key of the old epoch but labelled with the new one.
    let update = plaintext(&t.net, &old);
    let (_, old_key) = t.net.replicas[e]
        .epoch_keys()
        .into_iter()
        .find(|(ep, _)| *ep == old_epoch)
        .unwrap();
    let wrong_key = Envelope::seal_encrypted(
        EnvelopeHeader {
            epoch: new_epoch,
            seq: 23,
            time: now,
            acl_heads: heads.clone(),
            ..old.header().clone()
        },
        &update,
        &t.net.keys[e],
        &old_key,
    )
    .unwrap();
    for env in [&relabelled, &swapped, &wrong_key] {
        t.net.publish_env(env.clone());
    }
    // An epoch that the cited history never started, and a plaintext envelope.
    let unknown = Envelope::seal_encrypted(
        EnvelopeHeader {
            epoch: new_epoch + 5,
            seq: 24,
            time: now,
            acl_heads: heads.clone(),
            ..old.header().clone()
        },
        &update,
        &t.net.keys[e],
        &EpochKey::generate(),
    )
    .unwrap();
    let plain = Envelope::seal(
        EnvelopeHeader {
            epoch: 0,
            nonce: vec![],
            seq: 25,
            time: now,
            acl_heads: heads,
            ..old.header().clone()
        },
        update,
        &t.net.keys[e],
    )
    .unwrap();
    t.net.publish_env(unknown.clone());
    t.net.publish_env(plain.clone());
    t.net.sync();
    for env in [&relabelled, &swapped, &wrong_key] {
        let epoch = env.header().epoch;
        for reason in t.net.assert_quarantined_everywhere(env) {
            assert!(
                reason.contains(&format!("cannot be decrypted with epoch {epoch}'s key")),
                "{reason}"
            );
        }
    }
    for reason in t.net.assert_quarantined_everywhere(&unknown) {
        assert!(reason.contains("never started"), "{reason}");
    }
    for (name, o) in t.net.outcomes(&plain) {
        assert_eq!(
            o,
            Some(Outcome::Quarantined(Refusal::NotEncrypted)),
            "{name}"
        );
    }
    // Nothing changed for anyone who reads the workspace (the outsider never could).
    for r in t.net.replicas.iter().filter(|r| r.has_current_key()) {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello");
    }
    t.net.assert_converged();
}

#[test]
fn concurrent_removals_by_two_admins_converge_on_one_epoch_that_excludes_both() {
    let mut t = team();
    let doc = t.doc;
    let second = LocalWallet::generate();
    t.net.join("admin2", &second);
    let a2 = second.address();
    t.net
        .act("owner", |r, now| r.add_member(a2, Role::Admin, now));
    t.net.sync();
    t.net
        .act("admin2", |r, now| r.publish_device_certificate(now));
    t.net.sync();
    let start = epoch_of(&mut t.net, "owner");
    let (commenter, viewer) = (t.commenter.address(), t.viewer.address());
    // Each admin removes one member without having heard of the other's removal.
    let first_len = t.net.msgs.len();
    t.net.act("admin", |r, now| r.remove_member(commenter, now));
    let mid = t.net.msgs.len();
    t.net.act("admin2", |r, now| r.remove_member(viewer, now));
    let end = t.net.msgs.len();
    // Deliver each admin's ops to the other side first in opposite orders.
    let (a_ops, b_ops): (Vec<Msg>, Vec<Msg>) = (
        t.net.msgs[first_len..mid].to_vec(),
        t.net.msgs[mid..end].to_vec(),
    );
    for (name, order) in [("owner", [&a_ops, &b_ops]), ("editor", [&b_ops, &a_ops])] {
        let i = t.net.index(name);
        for batch in order {
            for m in batch.iter() {
                t.net.receive(i, m);
            }
        }
    }
    t.net.sync();
    let current = t.net.replicas[0].members().epoch.expect("an epoch");
    assert!(
        current.epoch > start + 1,
        "a rotation healed the concurrent ones"
    );
    let member_names = ["owner", "admin", "admin2", "editor", "editor2"];
    let reference = keyring(&t.net.replicas[0]);
    for name in member_names {
        let i = t.net.index(name);
        let r = &t.net.replicas[i];
        assert_eq!(r.members().epoch, Some(current), "{name}");
        assert!(r.has_current_key(), "{name}");
        assert_eq!(keyring(r), reference, "keyring of {name}");
    }
    for name in ["commenter", "viewer"] {
        let i = t.net.index(name);
        assert!(!t.net.replicas[i].has_current_key(), "{name} was removed");
    }
    let after = t
        .net
        .edit("editor", |ws| ws.append_body(doc, SECRET).unwrap());
    t.net.sync();
    for name in ["commenter", "viewer", "outsider"] {
        let i = t.net.index(name);
        assert!(
            matches!(
                t.net.replicas[i].envelope_outcome(&after.id()),
                Some(Outcome::Pending(m)) if m.epoch == Some(current.epoch)
            ),
            "{name}"
        );
    }
    t.net.assert_applied_everywhere(&after);
    t.net.assert_converged();
}

#[test]
fn a_rotation_by_a_concurrently_removed_admin_is_void() {
    let mut t = team();
    let doc = t.doc;
    let (admin, editor) = (t.admin.address(), t.editor.address());
    let removal = t.net.act("owner", |r, now| r.remove_member(admin, now));
    let owner_rotation = match t.net.msgs.last() {
        Some(Msg::Acl(b)) => weft::acl::AclOp::decode(b).unwrap(),
        _ => panic!("the owner's rotation follows the removal"),
    };
    let admin_i = t.net.index("admin");
    let now = t.net.tick();
    let own = t.net.replicas[admin_i].remove_member(editor, now).unwrap();
    let admin_rotation = match t.net.replicas[admin_i].take_outbox().pop() {
        Some(Outgoing::AclOp(op)) => op,
        other => panic!("a rotation follows the removal: {other:?}"),
    };
    t.net.publish_op(own.clone());
    t.net.publish_op(admin_rotation.clone());
    t.net.sync();
    for r in &t.net.replicas {
        let verdict = |id: weft::crypto::AclOpId| r.resolution().verdict(r.log(), &id).cloned();
        assert_eq!(verdict(removal.id()), Some(Ok(())));
        assert_eq!(verdict(owner_rotation.id()), Some(Ok(())));
        assert!(matches!(
            verdict(admin_rotation.id()),
            Some(Err(Refusal::RemovedConcurrently { .. }))
        ));
        assert_eq!(r.members().role(&editor), Some(Role::Editor));
        assert_eq!(
            r.members().epoch.map(|e| e.rotation),
            Some(owner_rotation.id())
        );
    }
    let after = t
        .net
        .edit("editor", |ws| ws.append_body(doc, " still").unwrap());
    t.net.sync();
    t.net.assert_applied_everywhere(&after);
    assert!(!can_read(&t.net.replicas[admin_i], &after));
    t.net.assert_converged();
}

#[test]
fn a_member_revoking_their_own_device_makes_an_admin_rotate() {
    let mut t = team();
    let doc = t.doc;
    let start = epoch_of(&mut t.net, "owner");
    let lost = t.net.replicas[t.net.index("editor2")].identity().device();
    t.net.act("editor", |r, now| r.revoke_device(lost, now));
    t.net.sync();
    assert!(epoch_of(&mut t.net, "owner") > start);
    let e2 = t.net.index("editor2");
    assert!(!t.net.replicas[e2].has_current_key());
    let after = t
        .net
        .edit("editor", |ws| ws.append_body(doc, SECRET).unwrap());
    t.net.sync();
    assert!(matches!(
        t.net.replicas[e2].envelope_outcome(&after.id()),
        Some(Outcome::Pending(m)) if m.epoch.is_some()
    ));
    t.net.assert_applied_everywhere(&after);
    t.net.assert_converged();
}

#[test]
fn keys_persisted_and_installed_again_reopen_everything() {
    let owner = LocalWallet::generate();
    let (mut net, _) = Net::found("owner", &owner);
    let mut doc = None;
    net.edit("owner", |ws| {
        doc = Some(ws.create_doc("Plans", None).unwrap());
    });
    let doc = doc.unwrap();
    // A viewer joins from an invite: its keys came from the lockbox, which nothing in the log
    // gives it again without the code.
    let invitee = LocalWallet::generate();
    let now = net.tick();
    let (invite, secret) = net.replicas[0]
        .invite(invitee.address(), Role::Viewer, now)
        .unwrap();
    net.publish_op(invite);
    let v = net.join("viewer", &invitee);
    net.sync();
    let now = net.tick();
    net.replicas[v].redeem_invite(&secret, now).unwrap();
    net.edit("owner", |ws| ws.append_body(doc, SECRET).unwrap());
    net.sync();
    assert_eq!(net.replicas[v].workspace().body(doc).unwrap(), SECRET);
    let saved = net.replicas[v].epoch_keys();
    // The store reopens the workspace: a fresh replica for the same device, the saved keys,
    // and the log and envelopes replayed, in either order.
    for keys_first in [true, false] {
        let identity = net.replicas[v].identity().clone();
        let genesis = net.replicas[0].log().genesis().encode();
        let mut again = Replica::join(&genesis, identity, config()).unwrap();
        let now = at(net.now);
        if keys_first {
            again.install_keys(&saved, now);
        }
        for m in &net.msgs {
            match m {
                Msg::Acl(b) => {
                    again.receive_acl_op(b, now);
                }
                Msg::Env(b) => {
                    again.receive_envelope(b, now);
                }
            }
        }
        if !keys_first {
            assert!(again.applied().is_empty(), "nothing reads without the keys");
            let effects = again.install_keys(&saved, now);
            assert_eq!(effects.released.len(), 3);
            assert!(effects.keys_learned);
        }
        assert_eq!(again.applied(), net.replicas[v].applied());
        assert_eq!(document(&again), document(&net.replicas[v]));
        assert_eq!(keyring(&again), keyring(&net.replicas[v]));
    }
}

#[test]
fn an_edit_without_the_current_key_stays_local_with_the_reason() {
    let owner = LocalWallet::generate();
    let (mut net, _) = Net::found("owner", &owner);
    let member = LocalWallet::generate();
    let address = member.address();
    net.act("owner", |r, now| r.add_member(address, Role::Editor, now));
    let m = net.join("member", &member);
    net.sync();
    // The member's device publishes its certificate, but nobody has shared the keys yet.
    let now = net.tick();
    let cert = net.replicas[m].publish_device_certificate(now).unwrap();
    let doc = net.replicas[m]
        .workspace()
        .create_doc("Draft", None)
        .unwrap();
    let err = net.replicas[m].local_commit(now).unwrap_err();
    assert!(
        matches!(err, weft::acl::LocalError::NoKey { epoch: 1 }),
        "{err}"
    );
    assert!(net.replicas[m].workspace().is_live(doc), "the edit is kept");
    // The owner's replica sees the certificate and shares; the held edit goes out next time.
    net.publish_op(cert);
    net.sync();
    assert!(net.replicas[m].has_current_key());
    let now = net.tick();
    let env = net.replicas[m]
        .local_commit(now)
        .unwrap()
        .expect("the held edit is sealed now");
    net.publish_env(env.clone());
    net.sync();
    net.assert_applied_everywhere(&env);
    net.assert_converged();
}

#[test]
fn a_viewer_invite_is_refused_from_an_editor_and_an_invite_to_a_member_too() {
    let mut t = team();
    let now = t.net.tick();
    let newcomer = LocalWallet::generate().address();
    let err = t
        .net
        .r("editor")
        .invite(newcomer, Role::Viewer, now)
        .unwrap_err();
    assert!(err.to_string().contains("admin"), "{err}");
    let viewer = t.viewer.address();
    let err = t
        .net
        .r("admin")
        .invite(viewer, Role::Editor, now)
        .unwrap_err();
    assert!(err.to_string().contains("already a member"), "{err}");
    let err = t
        .net
        .r("admin")
        .invite(newcomer, Role::Admin, now)
        .unwrap_err();
    assert!(err.to_string().contains("cannot grant"), "{err}");
    let (op, _) = t
        .net
        .r("admin")
        .invite(newcomer, Role::Commenter, now)
        .unwrap();
    t.net.publish_op(op.clone());
    t.net.sync();
    for r in &t.net.replicas {
        assert_eq!(
            r.resolution().verdict(r.log(), &op.id()).cloned(),
            Some(Ok(()))
        );
        assert_eq!(r.members().role(&newcomer), Some(Role::Commenter));
    }
    let receipt = t.net.replicas[0].receive_acl_op(&op.encode(), at(t.net.now));
    assert_eq!(receipt.outcome, AclOutcome::Duplicate);
}

#[test]
fn an_envelope_under_an_epoch_whose_heads_have_not_arrived_waits_for_them() {
    let mut t = team();
    let doc = t.doc;
    let commenter = t.commenter.address();
    t.net.act("admin", |r, now| r.remove_member(commenter, now));
    let a = t.net.index("admin");
    t.net.deliver_to(a);
    let env = t
        .net
        .edit("admin", |ws| ws.append_body(doc, " new").unwrap());
    // The viewer gets the envelope before the removal and the rotation.
    let v = t.net.index("viewer");
    let now = at(t.net.now);
    let first = t.net.replicas[v].receive_envelope(&env.encode(), now);
    assert!(
        matches!(&first.outcome, Outcome::Pending(m) if !m.acl_ops.is_empty()),
        "{first:?}"
    );
    t.net.sync();
    assert_eq!(
        t.net.replicas[v].envelope_outcome(&env.id()),
        Some(Outcome::Applied)
    );
    t.net.assert_converged();
}

#[test]
fn a_member_left_out_of_a_rotation_that_turned_void_gets_its_key() {
    // Found by the convergence property test. The admin removes the editor and rotates without
    // them, while the owner, concurrently, makes the admin a commenter: the removal and the
    // rotation are void, the editor stays, but the admin's comment, sealed under the void
    // rotation's key, is valid (commenters comment). The editor must be able to read it.
    let mut t = team();
    let doc = t.doc;
    let (admin, editor) = (t.admin.address(), t.editor.address());
    let removal = t.net.act("admin", |r, now| r.remove_member(editor, now));
    t.net
        .act("owner", |r, now| r.change_role(admin, Role::Commenter, now));
    let comment = t.net.edit("admin", |ws| {
        ws.add_comment(doc, SECRET, None, None).unwrap();
    });
    t.net.sync();
    for r in &t.net.replicas {
        assert!(matches!(
            r.resolution().verdict(r.log(), &removal.id()),
            Some(Err(Refusal::DemotedConcurrently { .. }))
        ));
        assert_eq!(r.members().role(&editor), Some(Role::Editor));
    }
    for name in ["editor", "editor2"] {
        let i = t.net.index(name);
        assert!(can_read(&t.net.replicas[i], &comment), "{name}");
    }
    t.net.assert_applied_everywhere(&comment);
    t.net.assert_converged();
    assert_nothing_leaks(&t.net, SECRET);
}

#[test]
fn an_outsiders_copied_share_neither_forces_a_rotation_nor_stops_a_real_share() {
    use weft::acl::{AclOp, AclOpBody, AclOpKind, ContentVersion};
    let mut t = team();
    let start = epoch_of(&mut t.net, "owner");
    let copied = t.net.replicas[0]
        .log()
        .ops()
        .find_map(|op| match op.kind() {
            AclOpKind::ShareKeys { share, .. } => Some(share.clone()),
            _ => None,
        })
        .expect("the team's devices got their keys by shares");
    // The viewer pairs a second device; before its certificate spreads, the outsider publishes
    // copies of a real share's bytes, addressed to that device and to itself.
    let v2 = t.net.join("viewer2", &t.viewer);
    t.net.deliver_to(v2);
    let now = t.net.tick();
    let cert = t.net.replicas[v2].publish_device_certificate(now).unwrap();
    let o = t.net.index("outsider");
    let outsider = t.net.replicas[o].identity().clone();
    let heads = t.net.replicas[o].log().heads();
    for device in [t.net.replicas[v2].identity().device(), outsider.device()] {
        let fake = AclOp::sign(
            AclOpBody {
                kind: AclOpKind::ShareKeys {
                    device,
                    share: copied.clone(),
                },
                author: outsider.device(),
                cert_hash: outsider.cert_hash(),
                parents: heads.clone(),
                time: now.unix_timestamp(),
                seen: ContentVersion::default(),
            },
            &t.net.keys[o],
        )
        .unwrap();
        t.net.publish_op(fake);
    }
    t.net.publish_op(cert);
    t.net.sync();
    assert_eq!(epoch_of(&mut t.net, "owner"), start, "nobody rotated");
    assert!(t.net.replicas[v2].has_current_key(), "the real share came");
    t.net.assert_converged();
}
