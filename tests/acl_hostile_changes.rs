//! Hostile members cannot void others' changes: sequence twins signed by a removed member's
//! device, a revoked device or a current member, and Loro peer ids taken from another device.
//! Each is delivered in several orders; every replica ends with the honest history applied and
//! the hostile envelope alone refused, with a reason that names it.

mod acl_common;
mod shared_common;

use acl_common::*;
use loro::{ExportMode, LoroDoc};
use weft::acl::{Outcome, Refusal, Role};
use weft::crypto::envelope::{derive_peer, HEADER_VERSION, HEADER_VERSION_1};
use weft::crypto::{Envelope, EnvelopeHeader, EpochKey};
use weft::model::{CardFields, Clock, ItemId, Workspace};

/// The Loro update inside `env` and what it says about itself.
fn meta(net: &Net, env: &Envelope) -> loro::ImportBlobMetadata {
    LoroDoc::decode_import_blob_meta(&plaintext(net, env), true).expect("a Loro update")
}

/// What a modified client of replica `i` signs as a twin of `original` (an envelope of the
/// same device): the same header — sequence number, membership heads, time, citations —
/// and an update written by `edit` on the document as it was before `original`. With
/// `same_ids`, under the same Loro peer, so it carries the same Loro ids with other content;
/// otherwise under a new peer the device derives, so its ids are new.
fn twin(
    net: &Net,
    i: usize,
    original: &Envelope,
    same_ids: bool,
    edit: impl FnOnce(&Workspace),
) -> Envelope {
    let m = meta(net, original);
    let base = net.replicas[0]
        .workspace()
        .loro()
        .fork_at(&m.start_frontiers)
        .expect("the owner holds what the original built on");
    let device = net.keys[i].id();
    let (peer, salts) = if same_ids {
        (original.header().peers[0], original.header().salts.clone())
    } else {
        let salt = [0x5a; 16];
        (derive_peer(&device, &salt), vec![salt])
    };
    base.set_peer_id(peer).unwrap();
    let before = base.oplog_vv();
    if same_ids {
        assert_eq!(
            before.get(&peer).copied().unwrap_or(0),
            m.partial_start_vv.get(&peer).copied().unwrap_or(0),
            "the twin starts where the original does"
        );
    }
    let ws = Workspace::open_replica(base, "rogue", Clock::Fixed(T0 * 1000));
    edit(&ws);
    ws.commit();
    let payload = ws.loro().export(ExportMode::updates(&before)).unwrap();
    let header = EnvelopeHeader {
        peers: vec![peer],
        salts,
        nonce: vec![],
        ..original.header().clone()
    };
    seal_as(net, i, header, &payload)
}

/// A twin of `original` whose ciphertext does not open with any key the workspace has.
fn undecryptable_twin(net: &Net, i: usize, original: &Envelope) -> Envelope {
    let header = EnvelopeHeader {
        nonce: vec![],
        ..original.header().clone()
    };
    Envelope::seal_encrypted(header, b"junk", &net.keys[i], &EpochKey::generate()).unwrap()
}

fn reasons_contain(reasons: &[String], needle: &str) {
    assert!(
        reasons.iter().all(|r| r.contains(needle)),
        "expected every reason to mention {needle:?}: {reasons:?}"
    );
}

fn bodies(net: &Net, doc: ItemId) -> Vec<String> {
    net.key_holders()
        .map(|r| r.workspace().body(doc).unwrap())
        .collect()
}

fn assert_body(net: &Net, doc: ItemId, want: &str) {
    for b in bodies(net, doc) {
        assert_eq!(b, want);
    }
}

/// The body on every replica that can read `latest` (a removed member's or revoked device's
/// replica cannot read what was written after the key rotated).
fn assert_body_read(net: &Net, doc: ItemId, want: &str, latest: &Envelope) {
    let mut readers = 0;
    for (r, n) in net.replicas.iter().zip(&net.names) {
        if can_read(r, latest) {
            readers += 1;
            assert_eq!(r.workspace().body(doc).unwrap(), want, "{n}");
        }
    }
    assert!(readers > 1);
}

/// Delivers `batches` to every replica in the order given (each replica that already has a
/// message gets a harmless duplicate), then everything else.
fn deliver_in_order(net: &mut Net, batches: &[&Vec<Msg>]) {
    for i in 0..net.replicas.len() {
        for batch in batches {
            for m in batch.iter() {
                net.receive(i, m);
            }
        }
    }
    net.sync();
}

/// The messages published since `from`.
fn since(net: &Net, from: usize) -> Vec<Msg> {
    net.msgs[from..].to_vec()
}

/// Every order of `n` batches.
fn orders(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for rest in orders(n - 1) {
        for at in 0..=rest.len() {
            let mut o = rest.clone();
            o.insert(at, n - 1);
            out.push(o);
        }
    }
    out
}

fn permutations() -> Vec<Vec<usize>> {
    orders(3)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Restriction {
    /// The owner removes the admin (the twin's author) from the workspace.
    RemoveMember,
    /// The owner revokes the editor's second device (a stolen laptop).
    RevokeDevice,
}

/// A restricted device's twin of its accepted change, in every order of the original, the
/// twin, the restriction and a teammate's later edit built on the original (the teammate and
/// the owner, who restricts, have the original first).
fn restricted_devices_twin(restriction: Restriction, same_ids: bool) {
    for order in orders(4) {
        let mut t = team();
        let doc = t.doc;
        let (author, mate) = match restriction {
            Restriction::RemoveMember => ("admin", "editor"),
            Restriction::RevokeDevice => ("editor2", "admin"),
        };
        let a = t.net.index(author);
        let from = t.net.msgs.len();
        let original = t
            .net
            .edit(author, |ws| ws.append_body(doc, " +original").unwrap());
        let original_msgs = since(&t.net, from);
        for name in ["owner", mate] {
            let i = t.net.index(name);
            for m in &original_msgs {
                t.net.receive(i, m);
            }
        }
        // A teammate builds on it (delivered to the others below).
        let from = t.net.msgs.len();
        let mate_edit = t
            .net
            .edit(mate, |ws| ws.append_body(doc, " +teammate").unwrap());
        let mate_msgs = since(&t.net, from);
        // The owner restricts the author (with the rotation that follows).
        let from = t.net.msgs.len();
        match restriction {
            Restriction::RemoveMember => {
                let admin = addr(&t.admin);
                t.net.act("owner", |r, now| r.remove_member(admin, now));
            }
            Restriction::RevokeDevice => {
                let device = t.net.keys[a].id();
                t.net.act("owner", |r, now| r.revoke_device(device, now));
            }
        }
        let restriction_msgs = since(&t.net, from);
        // The author's modified client signs a twin of the original, citing what it cited.
        let rogue = twin(&t.net, a, &original, same_ids, |ws| {
            ws.append_body(doc, " +ROGUE").unwrap()
        });
        let twin_msgs = vec![Msg::Env(rogue.encode())];
        t.net.publish_env(rogue.clone());
        let batches = [&twin_msgs, &restriction_msgs, &mate_msgs, &original_msgs];
        let ordered: Vec<&Vec<Msg>> = order.iter().map(|k| batches[*k]).collect();
        deliver_in_order(&mut t.net, &ordered);

        // (order: 0 twin, 1 restriction, 2 teammate's edit, 3 original)
        let case = format!("{restriction:?}, same ids {same_ids}, order {order:?}");
        t.net.assert_applied_everywhere(&original);
        t.net.assert_applied_everywhere(&mate_edit);
        assert_body(&t.net, doc, "hello +original +teammate");
        let reasons = t.net.assert_quarantined_everywhere(&rogue);
        if same_ids {
            reasons_contain(&reasons, "it is a twin");
            reasons_contain(&reasons, "which others built on");
        } else {
            reasons_contain(&reasons, "that had not seen this");
        }
        t.net.assert_converged();
        // The refused twin does not hold back what a snapshot says it covers.
        let through = t.net.replicas[0].applied_through();
        assert!(
            through.get(&t.net.keys[a].id()) >= Some(&original.header().seq),
            "{case}: {through:?}"
        );
        let quarantine = t.net.replicas[0].quarantine();
        assert!(
            quarantine
                .iter()
                .any(|q| q.device == Some(t.net.keys[a].id())),
            "{case}: the twin is listed in the quarantine"
        );

        // The owner still writes and removes.
        let owner_edit = t
            .net
            .edit("owner", |ws| ws.append_body(doc, " +owner").unwrap());
        t.net.sync();
        t.net.assert_applied_everywhere(&owner_edit);
        assert_body_read(&t.net, doc, "hello +original +teammate +owner", &owner_edit);
        let commenter = addr(&t.commenter);
        t.net.act("owner", |r, now| r.remove_member(commenter, now));
        t.net.sync();
        for r in &t.net.replicas {
            assert_eq!(r.members().role(&commenter), None, "{case}");
        }
        t.net.assert_converged();
    }
}

#[test]
fn a_removed_members_twin_with_the_same_loro_ids_leaves_the_original_and_what_was_built_on_it() {
    restricted_devices_twin(Restriction::RemoveMember, true);
}

#[test]
fn a_removed_members_twin_with_new_loro_ids_is_void_and_the_original_stays() {
    restricted_devices_twin(Restriction::RemoveMember, false);
}

#[test]
fn a_revoked_devices_twin_with_the_same_loro_ids_leaves_the_original_and_what_was_built_on_it() {
    restricted_devices_twin(Restriction::RevokeDevice, true);
}

#[test]
fn a_revoked_devices_twin_with_new_loro_ids_is_void_and_the_original_stays() {
    restricted_devices_twin(Restriction::RevokeDevice, false);
}

#[test]
fn a_twin_that_does_not_decrypt_changes_nothing() {
    for restriction in [Restriction::RemoveMember, Restriction::RevokeDevice] {
        let mut t = team();
        let doc = t.doc;
        let author = match restriction {
            Restriction::RemoveMember => "admin",
            Restriction::RevokeDevice => "editor2",
        };
        let a = t.net.index(author);
        let original = t
            .net
            .edit(author, |ws| ws.append_body(doc, " +original").unwrap());
        t.net.sync();
        let before: Vec<_> = t.net.replicas.iter().map(document).collect();
        let junk = undecryptable_twin(&t.net, a, &original);
        t.net.publish_env(junk.clone());
        t.net.sync();
        // Nothing moved: the original stays applied, the documents are as they were.
        t.net.assert_applied_everywhere(&original);
        let after: Vec<_> = t.net.replicas.iter().map(document).collect();
        assert_eq!(before, after);
        reasons_contain(
            &t.net.assert_quarantined_everywhere(&junk),
            "cannot be decrypted",
        );
        // And after the restriction, still nothing.
        match restriction {
            Restriction::RemoveMember => {
                let admin = addr(&t.admin);
                t.net.act("owner", |r, now| r.remove_member(admin, now));
            }
            Restriction::RevokeDevice => {
                let device = t.net.keys[a].id();
                t.net.act("owner", |r, now| r.revoke_device(device, now));
            }
        }
        t.net.sync();
        t.net.assert_applied_everywhere(&original);
        assert_body(&t.net, doc, "hello +original");
        let owner_edit = t
            .net
            .edit("owner", |ws| ws.append_body(doc, " +owner").unwrap());
        t.net.sync();
        t.net.assert_applied_everywhere(&owner_edit);
        assert_body_read(&t.net, doc, "hello +original +owner", &owner_edit);
        t.net.assert_converged();
    }
}

#[test]
fn a_current_members_twin_of_a_change_others_built_on_is_refused_in_every_order() {
    for first in [true, false] {
        let mut t = team();
        let doc = t.doc;
        let e2 = t.net.index("editor2");
        let original = t
            .net
            .edit("editor2", |ws| ws.append_body(doc, " +original").unwrap());
        t.net.sync();
        let from = t.net.msgs.len();
        let built = t
            .net
            .edit("admin", |ws| ws.append_body(doc, " +admin").unwrap());
        let built_msgs = since(&t.net, from);
        let rogue = twin(&t.net, e2, &original, true, |ws| {
            ws.append_body(doc, " +OTHER").unwrap()
        });
        t.net.publish_env(rogue.clone());
        let twin_msgs = vec![Msg::Env(rogue.encode())];
        let order = if first {
            [&twin_msgs, &built_msgs]
        } else {
            [&built_msgs, &twin_msgs]
        };
        deliver_in_order(&mut t.net, &order);
        t.net.assert_applied_everywhere(&original);
        t.net.assert_applied_everywhere(&built);
        assert_body(&t.net, doc, "hello +original +admin");
        let reasons = t.net.assert_quarantined_everywhere(&rogue);
        reasons_contain(&reasons, "it is a twin");
        reasons_contain(&reasons, "which others built on");
        t.net.assert_converged();
    }
}

#[test]
fn a_current_members_twins_nobody_built_on_are_both_refused_in_every_order_and_nothing_else_is() {
    for order in permutations() {
        let mut t = team();
        let doc = t.doc;
        let e2 = t.net.index("editor2");
        // editor2 writes, and signs a twin of it; meanwhile the commenter comments on what it
        // has (not built on either).
        let from = t.net.msgs.len();
        let original = t
            .net
            .edit("editor2", |ws| ws.append_body(doc, " +original").unwrap());
        let original_msgs = since(&t.net, from);
        let rogue = twin(&t.net, e2, &original, true, |ws| {
            ws.append_body(doc, " +OTHER").unwrap()
        });
        let twin_msgs = vec![Msg::Env(rogue.encode())];
        t.net.publish_env(rogue.clone());
        let from = t.net.msgs.len();
        let mut comment = None;
        let concurrent = t.net.edit("commenter", |ws| {
            comment = Some(ws.add_comment(doc, "looks good", None, None).unwrap());
        });
        let comment = comment.unwrap();
        let concurrent_msgs = since(&t.net, from);
        let batches = [&original_msgs, &twin_msgs, &concurrent_msgs];
        let ordered: Vec<&Vec<Msg>> = order.iter().map(|k| batches[*k]).collect();
        deliver_in_order(&mut t.net, &ordered);

        // The equivocated change and its twin are refused, the same way everywhere.
        for env in [&original, &rogue] {
            let reasons = t.net.assert_quarantined_everywhere(env);
            reasons_contain(&reasons, "nobody built on either");
        }
        // Everyone else's work is intact.
        t.net.assert_applied_everywhere(&concurrent);
        assert_body(&t.net, doc, "hello");
        for r in t.net.key_holders() {
            assert_eq!(
                r.workspace().comment(&comment).unwrap().body,
                "looks good",
                "{order:?}"
            );
        }
        t.net.assert_converged();
        // The equivocating device's next honest change applies (it builds on neither).
        let next = t
            .net
            .edit("editor", |ws| ws.append_body(doc, " +editor").unwrap());
        t.net.sync();
        t.net.assert_applied_everywhere(&next);
        assert_body(&t.net, doc, "hello +editor");
        t.net.assert_converged();
    }
}

/// The admin's first changes in this session: a doc, a board with a card, a comment.
struct Victim {
    env: Envelope,
    doc: ItemId,
    card: ItemId,
    comment: weft::model::CommentId,
}

fn victims_work(t: &mut Team) -> Victim {
    let mut out = None;
    let env = t.net.edit("admin", |ws| {
        let doc = ws.create_doc("Roadmap", None).unwrap();
        ws.set_body(doc, "ship it").unwrap();
        let board = ws.create_board("Sprint", &["Todo"]).unwrap();
        let column = ws.board(board, false).unwrap().columns[0].id;
        let card = ws
            .add_card(
                column,
                &CardFields {
                    title: "Release".into(),
                    ..CardFields::default()
                },
                "",
            )
            .unwrap();
        let comment = ws.add_comment(doc, "by Friday", None, None).unwrap();
        out = Some((doc, card, comment));
    });
    let (doc, card, comment) = out.unwrap();
    Victim {
        env,
        doc,
        card,
        comment,
    }
}

fn assert_victims_work_survives(t: &Team, v: &Victim) {
    t.net.assert_applied_everywhere(&v.env);
    for r in t.net.replicas.iter().filter(|r| can_read(r, &v.env)) {
        let ws = r.workspace();
        assert_eq!(ws.doc(v.doc).unwrap().title, "Roadmap");
        assert_eq!(ws.body(v.doc).unwrap(), "ship it");
        assert_eq!(ws.card(v.card).unwrap().title, "Release");
        assert_eq!(ws.comment(&v.comment).unwrap().body, "by Friday");
    }
}

/// A header for replica `i` claiming `peer` without proof (as a modified client would).
fn hijack_header(
    net: &Net,
    i: usize,
    peer: u64,
    heads: Vec<weft::crypto::AclOpId>,
) -> EnvelopeHeader {
    let r = &net.replicas[i];
    EnvelopeHeader {
        version: HEADER_VERSION,
        workspace: r.workspace_id(),
        epoch: 0,
        device: r.identity().device(),
        cert_hash: r.identity().cert_hash(),
        seq: 1,
        time: net.now,
        peers: vec![peer],
        salts: vec![],
        acl_heads: heads,
        builds_on: vec![],
        nonce: vec![],
    }
}

#[derive(Clone, Copy, Debug)]
enum Hijacker {
    Commenter,
    Editor,
    RemovedCommenter,
}

fn hijack(hijacker: Hijacker, copy_first_changes: bool, hijack_first: bool) {
    let mut t = team();
    let (name, heads) = match hijacker {
        Hijacker::Commenter => ("commenter", None),
        Hijacker::Editor => ("editor", None),
        Hijacker::RemovedCommenter => {
            let c = t.net.index("commenter");
            let heads = t.net.replicas[c].log().heads();
            let commenter = addr(&t.commenter);
            t.net.act("admin", |r, now| r.remove_member(commenter, now));
            t.net.sync();
            ("commenter", Some(heads))
        }
    };
    let i = t.net.index(name);
    let heads = heads.unwrap_or_else(|| t.net.replicas[i].log().heads());
    // The victim's change, not delivered yet: its peer id is in its plaintext header.
    let from = t.net.msgs.len();
    let v = victims_work(&mut t);
    let victim_msgs = since(&t.net, from);
    let peer = v.env.header().peers[0];
    if !copy_first_changes {
        // Writing after the victim's changes needs them: deliver first.
        deliver_in_order(&mut t.net, &[&victim_msgs]);
    }
    t.net.tick();
    let payload = if copy_first_changes {
        // One Loro id, two contents: the victim's first changes, rewritten.
        let rogue = LoroDoc::new();
        rogue.set_peer_id(peer).unwrap();
        rogue.get_map("trash").insert("x", 1).unwrap();
        rogue.commit();
        rogue.export(ExportMode::all_updates()).unwrap()
    } else {
        // Continuing the victim's history: a comment under the victim's peer (a removed member
        // cannot read the new epoch: it writes on the owner's document, as if it had leaked).
        let fork = t.net.replicas[0].workspace().loro().fork();
        fork.set_peer_id(peer).unwrap();
        let before = fork.oplog_vv();
        let ws = Workspace::open_replica(fork, "x", Clock::Fixed(T0 * 1000));
        ws.add_comment(v.doc, "as you", None, None).unwrap();
        ws.commit();
        ws.loro().export(ExportMode::updates(&before)).unwrap()
    };
    let header = hijack_header(&t.net, i, peer, heads);
    let rogue = seal_as(&t.net, i, header, &payload);
    let rogue_msgs = vec![Msg::Env(rogue.encode())];
    t.net.publish_env(rogue.clone());
    if hijack_first {
        deliver_in_order(&mut t.net, &[&rogue_msgs, &victim_msgs]);
    } else {
        deliver_in_order(&mut t.net, &[&victim_msgs, &rogue_msgs]);
    }
    let case = format!("{hijacker:?}, copy {copy_first_changes}, first {hijack_first}");
    let reasons = t.net.assert_quarantined_everywhere(&rogue);
    reasons_contain(&reasons, &format!("Loro peer {peer} belongs to device"));
    assert_victims_work_survives(&t, &v);
    t.net.assert_converged();
    // The victim keeps writing under its peer.
    let more = t
        .net
        .edit("admin", |ws| ws.append_body(v.doc, " soon").unwrap());
    t.net.sync();
    t.net.assert_applied_everywhere(&more);
    assert_body_read(&t.net, v.doc, "ship it soon", &more);
    let _ = case;
    t.net.assert_converged();
}

#[test]
fn a_commenter_cannot_take_an_editors_loro_peer() {
    for copy in [true, false] {
        hijack(Hijacker::Commenter, copy, false);
    }
    hijack(Hijacker::Commenter, true, true);
}

#[test]
fn an_editor_cannot_take_another_members_loro_peer() {
    for copy in [true, false] {
        hijack(Hijacker::Editor, copy, false);
    }
    hijack(Hijacker::Editor, true, true);
}

#[test]
fn a_removed_member_cannot_take_a_members_loro_peer() {
    for copy in [true, false] {
        hijack(Hijacker::RemovedCommenter, copy, false);
    }
    hijack(Hijacker::RemovedCommenter, true, true);
}

#[test]
fn a_salt_that_does_not_derive_the_peer_is_refused() {
    let mut t = team();
    let doc = t.doc;
    let v = victims_work(&mut t);
    t.net.sync();
    let peer = v.env.header().peers[0];
    // The commenter presents the victim's own salt: it derives the peer only for the victim.
    let c = t.net.index("commenter");
    let rogue = LoroDoc::new();
    rogue.set_peer_id(peer).unwrap();
    rogue.get_map("trash").insert("x", 1).unwrap();
    rogue.commit();
    let header = EnvelopeHeader {
        salts: v.env.header().salts.clone(),
        ..hijack_header(&t.net, c, peer, t.net.replicas[c].log().heads())
    };
    let forged = seal_as(
        &t.net,
        c,
        header,
        &rogue.export(ExportMode::all_updates()).unwrap(),
    );
    t.net.publish_env(forged.clone());
    t.net.sync();
    let reasons = t.net.assert_quarantined_everywhere(&forged);
    reasons_contain(
        &reasons,
        &format!("declares Loro peer {peer} with a salt that does not derive"),
    );
    assert_victims_work_survives(&t, &v);
    assert_body(&t.net, doc, "hello");
    t.net.assert_converged();
}

#[test]
fn every_local_change_declares_a_peer_derived_from_its_device() {
    let mut t = team();
    let doc = t.doc;
    for name in ["owner", "admin", "editor", "commenter"] {
        let i = t.net.index(name);
        let env = t.net.edit(name, |ws| {
            ws.add_comment(doc, "hi", None, None).unwrap();
        });
        let h = env.header();
        assert_eq!(h.version, HEADER_VERSION);
        assert_eq!(h.salts.len(), 1, "{name}");
        assert_eq!(derive_peer(&t.net.keys[i].id(), &h.salts[0]), h.peers[0]);
        assert_eq!(t.net.replicas[i].workspace().loro().peer_id(), h.peers[0]);
    }
    t.net.sync();
    // An edit built on others' cites the envelopes it builds on.
    let last = t.net.envelopes().last().cloned().unwrap();
    let next = t.net.edit("editor", |ws| ws.append_body(doc, "!").unwrap());
    assert!(
        next.header().builds_on.contains(&last.id()),
        "{:?}",
        next.header()
    );
    t.net.sync();
    t.net.assert_applied_everywhere(&next);
}

/// An honest edit as a weft of header version 1 signed it, before the upgrade: no salt, no
/// citations, a random peer.
fn version_1_edit(net: &mut Net, name: &str, edit: impl FnOnce(&Workspace)) -> Envelope {
    let now = net.tick();
    let i = net.index(name);
    let r = &net.replicas[i];
    let doc = r.workspace().loro().fork();
    let before = doc.oplog_vv();
    let ws = Workspace::open_replica(doc, "x", Clock::Fixed(now.unix_timestamp() * 1000));
    edit(&ws);
    ws.commit();
    let payload = ws.loro().export(ExportMode::updates(&before)).unwrap();
    let header = EnvelopeHeader {
        version: HEADER_VERSION_1,
        ..hijack_header(net, i, ws.loro().peer_id(), r.log().heads())
    };
    let header = EnvelopeHeader {
        time: now.unix_timestamp(),
        seq: 100,
        ..header
    };
    let env = seal_as(net, i, header, &payload);
    assert_eq!(env.encode()[6], 1, "a version-1 header");
    env
}

#[test]
fn version_1_envelopes_from_before_the_upgrade_are_still_accepted() {
    let mut t = team();
    let doc = t.doc;
    let old = version_1_edit(&mut t.net, "editor", |ws| {
        ws.append_body(doc, " (old weft)").unwrap()
    });
    let back = Envelope::decode(&old.encode()).unwrap();
    assert_eq!(back, old);
    t.net.publish_env(old.clone());
    t.net.sync();
    t.net.assert_applied_everywhere(&old);
    assert_body(&t.net, doc, "hello (old weft)");
    // A device joining later replays the old envelope with the rest.
    let late = addr(&t.owner);
    let _ = late;
    let newcomer = weft::identity::LocalWallet::generate();
    let n = t.net.join("newcomer", &newcomer);
    let who = addr(&newcomer);
    t.net.invite("owner", n, who, Role::Editor);
    t.net.sync();
    t.net
        .act("newcomer", |r, now| r.publish_device_certificate(now));
    t.net.sync();
    t.net.assert_applied_everywhere(&old);
    assert_body(&t.net, doc, "hello (old weft)");
    // An old-format claim never takes a derived peer.
    let v = victims_work(&mut t);
    t.net.sync();
    let peer = v.env.header().peers[0];
    let c = t.net.index("editor");
    let rogue = LoroDoc::new();
    rogue.set_peer_id(peer).unwrap();
    rogue.get_map("trash").insert("x", 1).unwrap();
    rogue.commit();
    let header = EnvelopeHeader {
        version: HEADER_VERSION_1,
        ..hijack_header(&t.net, c, peer, t.net.replicas[c].log().heads())
    };
    let copy = seal_as(
        &t.net,
        c,
        header,
        &rogue.export(ExportMode::all_updates()).unwrap(),
    );
    t.net.publish_env(copy.clone());
    t.net.sync();
    reasons_contain(
        &t.net.assert_quarantined_everywhere(&copy),
        &format!("Loro peer {peer} belongs to device"),
    );
    assert_victims_work_survives(&t, &v);
    t.net.assert_converged();
}

#[test]
fn an_envelope_of_a_newer_version_is_refused_with_the_upgrade_message_and_kept() {
    let mut t = team();
    let doc = t.doc;
    let env = rogue_envelope(&mut t.net, "editor", 9, |ws| {
        ws.append_body(doc, " from the future").unwrap()
    });
    let mut bytes = env.encode();
    assert_eq!(bytes[6], HEADER_VERSION);
    bytes[6] = HEADER_VERSION + 1;
    let now = t.net.tick();
    for r in &mut t.net.replicas {
        let o = r.receive_envelope(&bytes, now).outcome;
        assert_eq!(
            o,
            Outcome::Quarantined(Refusal::NewerVersion(HEADER_VERSION + 1))
        );
        let Outcome::Quarantined(reason) = o else {
            unreachable!()
        };
        assert!(
            reason
                .to_string()
                .contains("written by a newer weft: upgrade"),
            "{reason}"
        );
        assert!(!reason.is_permanent());
        // Kept, bytes and all, and the same answer again.
        assert!(r.quarantine().iter().any(|q| q.bytes == bytes));
        assert_eq!(
            r.receive_envelope(&bytes, now).outcome,
            Outcome::Quarantined(Refusal::NewerVersion(HEADER_VERSION + 1))
        );
    }
    assert_body(&t.net, doc, "hello");
    t.net.assert_converged();
}

#[test]
fn a_store_keeps_an_envelope_of_a_newer_version_across_a_restart() {
    let owner = weft::identity::LocalWallet::generate();
    let mut dev = shared_common::found(&owner);
    let mut bytes = shared_common::rogue(&mut dev, 50, |ws| {
        let d = ws.create_doc("Later", None).unwrap();
        ws.set_body(d, "from a newer weft").unwrap();
    });
    bytes[6] = HEADER_VERSION + 1;
    let receipt = dev.r().receive_envelope("relay", &bytes).unwrap();
    assert_eq!(
        receipt.outcome,
        Outcome::Quarantined(Refusal::NewerVersion(HEADER_VERSION + 1))
    );
    let kept = |dev: &mut shared_common::Dev| {
        dev.r()
            .quarantine()
            .into_iter()
            .filter(|q| q.bytes == bytes)
            .map(|q| q.reason.to_string())
            .collect::<Vec<_>>()
    };
    let before = kept(&mut dev);
    assert!(!before.is_empty());
    assert!(
        before[0].contains("written by a newer weft: upgrade"),
        "{before:?}"
    );
    // Replayed from the file on open: judged again, the same way, bytes intact.
    dev.restart();
    let after = kept(&mut dev);
    assert!(!after.is_empty(), "the store kept the bytes");
    assert!(
        after[0].contains("written by a newer weft: upgrade"),
        "{after:?}"
    );
    assert!(!shared_common::titles(dev.r()).contains(&"Later".to_string()));
}
