//! What each role may write, enforced on every replica: owner, admin, editor (two devices),
//! commenter, viewer, outsider.

mod acl_common;

use acl_common::*;
use weft::acl::{
    AclOp, AclOpBody, AclOpKind, AclOutcome, Action, ContentVersion, Outcome, Refusal, Role,
};
use weft::model::CommentId;

#[test]
fn the_team_converges_and_everyone_has_their_role() {
    let t = team();
    t.net.assert_converged();
    let members = t.net.replicas[0].members();
    assert_eq!(members.role(&t.owner.address()), Some(Role::Owner));
    assert_eq!(members.role(&t.admin.address()), Some(Role::Admin));
    assert_eq!(members.role(&t.editor.address()), Some(Role::Editor));
    assert_eq!(members.role(&t.commenter.address()), Some(Role::Commenter));
    assert_eq!(members.role(&t.viewer.address()), Some(Role::Viewer));
    assert_eq!(members.role(&t.outsider.address()), None);
    let editor_devices = members
        .devices
        .values()
        .filter(|d| d.address == t.editor.address())
        .count();
    assert_eq!(editor_devices, 2, "both editor devices are paired");
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(t.doc).unwrap(), "hello");
        assert!(r.quarantine().is_empty(), "{:?}", r.quarantine());
        assert!(r.pending().is_empty(), "{:?}", r.pending());
    }
    // The outsider holds every envelope, unread, waiting for a key it will never get.
    let outsider = &t.net.replicas[t.net.index("outsider")];
    assert!(outsider.epoch_keys().is_empty());
    assert!(outsider.applied().is_empty());
    let pending = outsider.pending();
    assert_eq!(pending.len(), t.net.envelopes().len());
    assert!(pending.iter().all(|p| p.missing.epoch == Some(1)));
}

#[test]
fn a_viewers_edit_is_refused_locally_and_quarantined_everywhere() {
    let mut t = team();
    let viewer = t.viewer.address();
    let refusal = t.net.replicas[t.net.index("viewer")]
        .can(&viewer, &Action::EditDocs)
        .unwrap_err();
    assert!(refusal.to_string().contains("viewer"), "{refusal}");
    let doc = t.doc;
    let env = rogue_envelope(&mut t.net, "viewer", 1, |ws| {
        ws.append_body(doc, " -- defaced").unwrap();
    });
    t.net.publish_env(env.clone());
    t.net.sync();
    let reasons = t.net.assert_quarantined_everywhere(&env);
    assert!(reasons[0].contains("viewer"), "{reasons:?}");
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(t.doc).unwrap(), "hello");
    }
    t.net.assert_converged();
}

#[test]
fn a_viewers_local_edit_is_undone_with_the_reason() {
    let mut t = team();
    let now = t.net.tick();
    let viewer = t.net.r("viewer");
    viewer.workspace().append_body(t.doc, " nope").unwrap();
    let err = viewer.local_commit(now).unwrap_err();
    assert!(err.to_string().contains("viewer"), "{err}");
    assert_eq!(viewer.workspace().body(t.doc).unwrap(), "hello");
}

#[test]
fn a_commenter_comments_but_cannot_touch_bodies_or_others_comments() {
    let mut t = team();
    let doc = t.doc;
    // Their own comment is accepted everywhere.
    let mut mine = None;
    let own = t.net.edit("commenter", |ws| {
        mine = Some(ws.add_comment(doc, "looks good", None, None).unwrap());
    });
    let mine = mine.unwrap();
    // The editor's comment, which the commenter will try to rewrite.
    let mut theirs = None;
    t.net.edit("editor", |ws| {
        theirs = Some(ws.add_comment(doc, "needs work", None, None).unwrap());
    });
    t.net.sync();
    t.net.assert_applied_everywhere(&own);
    let theirs = theirs.unwrap();

    // Editing their own comment is fine; editing the doc body or the editor's comment is not.
    let edit_own = t.net.edit("commenter", |ws| {
        ws.edit_comment(&mine, "looks great").unwrap()
    });
    let body = rogue_envelope(&mut t.net, "commenter", 3, |ws| {
        ws.append_body(doc, " (commenter was here)").unwrap()
    });
    let theirs_c = theirs.clone();
    let other = rogue_envelope(&mut t.net, "commenter", 4, |ws| {
        ws.set_actor(&t.editor.address().to_checksum());
        ws.edit_comment(&theirs_c, "actually fine").unwrap()
    });
    t.net.publish_env(body.clone());
    t.net.publish_env(other.clone());
    t.net.sync();
    t.net.assert_applied_everywhere(&edit_own);
    let r1 = t.net.assert_quarantined_everywhere(&body);
    assert!(r1[0].contains("editing documents"), "{r1:?}");
    let r2 = t.net.assert_quarantined_everywhere(&other);
    assert!(r2[0].contains("someone else's comment"), "{r2:?}");
    for r in t.net.key_holders() {
        let ws = r.workspace();
        assert_eq!(ws.comment(&mine).unwrap().body, "looks great");
        assert_eq!(ws.comment(&theirs).unwrap().body, "needs work");
        assert_eq!(ws.body(doc).unwrap(), "hello");
    }
    // The UI would have refused both beforehand.
    let c = t.commenter.address();
    let rc = &t.net.replicas[t.net.index("commenter")];
    assert!(rc.can(&c, &Action::EditComment(mine.clone())).is_ok());
    assert!(rc.can(&c, &Action::EditComment(theirs.clone())).is_err());
    assert!(rc.can(&c, &Action::ResolveComment(theirs.clone())).is_err());
    assert!(rc.can(&c, &Action::EditDocs).is_err());
    t.net.assert_converged();
}

#[test]
fn a_comment_in_someone_elses_name_is_quarantined() {
    let mut t = team();
    let doc = t.doc;
    let owner = t.owner.address().to_checksum();
    let forged = rogue_envelope(&mut t.net, "commenter", 1, |ws| {
        ws.set_actor(&owner);
        ws.add_comment(doc, "I, the owner, approve", None, None)
            .unwrap();
    });
    t.net.publish_env(forged.clone());
    t.net.sync();
    let reasons = t.net.assert_quarantined_everywhere(&forged);
    assert!(reasons[0].contains("someone else's name"), "{reasons:?}");
    assert!(t.net.replicas[0].workspace().all_comments().is_empty());
}

#[test]
fn an_editor_resolves_others_comments_but_does_not_purge_or_change_settings() {
    let mut t = team();
    let doc = t.doc;
    let mut c = None;
    t.net.edit("commenter", |ws| {
        c = Some(ws.add_comment(doc, "typo in line 1", None, None).unwrap());
    });
    t.net.sync();
    let c: CommentId = c.unwrap();
    let resolve = t
        .net
        .edit("editor2", |ws| ws.resolve_comment(&c, true).unwrap());
    t.net.sync();
    t.net.edit("editor", |ws| ws.trash(doc).unwrap());
    t.net.sync();
    t.net.assert_applied_everywhere(&resolve);
    let purge = rogue_envelope(&mut t.net, "editor", 9, |ws| ws.purge(doc).unwrap());
    let settings = rogue_envelope(&mut t.net, "editor2", 9, |ws| {
        ws.loro()
            .get_map("meta")
            .insert("name", "mine now")
            .unwrap();
    });
    t.net.publish_env(purge.clone());
    t.net.publish_env(settings.clone());
    t.net.sync();
    let r = t.net.assert_quarantined_everywhere(&purge);
    assert!(r[0].contains("deleting items for good"), "{r:?}");
    let r = t.net.assert_quarantined_everywhere(&settings);
    assert!(r[0].contains("settings"), "{r:?}");
    // The admin may purge.
    let admin_purge = t.net.edit("admin", |ws| ws.purge(doc).unwrap());
    t.net.sync();
    t.net.assert_applied_everywhere(&admin_purge);
    for r in t.net.key_holders() {
        assert!(r.workspace().kind_of(doc).is_none(), "purged everywhere");
        assert!(r.workspace().comment(&c).unwrap().resolved);
        assert_eq!(r.workspace().name(), "team");
    }
    t.net.assert_converged();
}

#[test]
fn an_outsider_with_a_valid_wallet_signature_but_no_role_is_quarantined() {
    let mut t = team();
    // The outsider's device publishes its (genuine) certificate anyway: the op is refused.
    let i = t.net.index("outsider");
    let now = t.net.tick();
    let r = &t.net.replicas[i];
    let body = AclOpBody {
        kind: AclOpKind::DeviceCertificate {
            certificate: r.identity().certificate().clone(),
        },
        author: r.identity().device(),
        cert_hash: r.identity().cert_hash(),
        parents: r.log().heads(),
        time: now.unix_timestamp(),
        seen: ContentVersion::default(),
    };
    let op = AclOp::sign(body, &t.net.keys[i]).unwrap();
    let outcome = t.net.replicas[0].receive_acl_op(&op.encode(), now).outcome;
    assert!(
        matches!(&outcome, AclOutcome::Refused(Refusal::NotAMember(a)) if *a == t.outsider.address()),
        "{outcome:?}"
    );
    t.net.publish_op(op);
    let doc = t.doc;
    let env = rogue_envelope(&mut t.net, "outsider", 1, |ws| {
        ws.append_body(doc, " spam").unwrap()
    });
    t.net.publish_env(env.clone());
    t.net.sync();
    let reasons = t.net.assert_quarantined_everywhere(&env);
    assert!(
        reasons.iter().all(|r| r.contains("not been paired")),
        "{reasons:?}"
    );
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello");
        assert!(r
            .quarantine()
            .iter()
            .any(|q| q.address == Some(t.outsider.address())));
    }
}

#[test]
fn snapshots_only_from_admins() {
    let mut t = team();
    let doc = t.doc;
    // An editor's snapshot (which would carry everything) is refused; the admin's is accepted.
    let editor_snapshot = snapshot_envelope(&mut t.net, "editor", 7, |ws| {
        ws.append_body(doc, " via snapshot").unwrap()
    });
    t.net.publish_env(editor_snapshot.clone());
    t.net.sync();
    let r = t.net.assert_quarantined_everywhere(&editor_snapshot);
    assert!(r[0].contains("snapshot"), "{r:?}");
    let admin_snapshot = snapshot_envelope(&mut t.net, "admin", 7, |ws| {
        ws.append_body(doc, " by admin").unwrap()
    });
    t.net.publish_env(admin_snapshot.clone());
    t.net.sync();
    t.net.assert_applied_everywhere(&admin_snapshot);
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello by admin");
    }
}

/// A whole-document snapshot signed by `name`'s device after an edit on a copy of its document.
fn snapshot_envelope(
    net: &mut Net,
    name: &str,
    seq: u64,
    edit: impl FnOnce(&weft::model::Workspace),
) -> weft::crypto::Envelope {
    use weft::crypto::EnvelopeHeader;
    let now = net.tick();
    let i = net.index(name);
    let r = &net.replicas[i];
    let key = net.keys[i].clone();
    let doc = r.workspace().loro().fork();
    let ws = weft::model::Workspace::open_replica(
        doc,
        &r.identity().address().to_checksum(),
        weft::model::Clock::Fixed(0),
    );
    edit(&ws);
    ws.commit();
    let payload = ws.loro().export(loro::ExportMode::Snapshot).unwrap();
    let header = EnvelopeHeader {
        version: weft::crypto::envelope::HEADER_VERSION,
        workspace: r.workspace_id(),
        epoch: 0,
        device: key.id(),
        cert_hash: r.identity().cert_hash(),
        seq,
        time: now.unix_timestamp(),
        peers: vec![],
        acl_heads: r.log().heads(),
        salts: vec![],
        builds_on: vec![],
        nonce: vec![],
    };
    seal_as(net, i, header, &payload)
}

#[test]
fn outcomes_are_reported_to_the_sender_of_each_envelope() {
    let mut t = team();
    let doc = t.doc;
    let env = rogue_envelope(&mut t.net, "viewer", 1, |ws| {
        ws.append_body(doc, "!").unwrap()
    });
    let now = t.net.tick();
    let receipt = t.net.replicas[0].receive_envelope(&env.encode(), now);
    assert!(
        matches!(
            receipt.outcome,
            Outcome::Quarantined(Refusal::RoleTooLow { .. })
        ),
        "{receipt:?}"
    );
    let again = t.net.replicas[0].receive_envelope(&env.encode(), now);
    assert_eq!(again.outcome, Outcome::Duplicate);
}
