//! Membership changes racing with edits and with each other: strong remove, mutual removal,
//! no concurrent re-add, device revocation, late-arriving ops releasing held changes. Every case
//! is delivered in different orders to different replicas and must end the same everywhere.

mod acl_common;

use acl_common::*;
use weft::acl::{AclOutcome, Action, Outcome, Refusal, Role};
use weft::identity::LocalWallet;

fn quarantined_because(net: &Net, env: &weft::crypto::Envelope, needle: &str) {
    for reason in net.assert_quarantined_everywhere(env) {
        assert!(reason.contains(needle), "expected {needle:?} in {reason:?}");
    }
}

#[test]
fn a_removed_editors_concurrent_edits_are_void_everywhere_and_earlier_ones_kept() {
    let mut t = team();
    let doc = t.doc;
    let editor = t.editor.address();
    let kept = t
        .net
        .edit("editor", |ws| ws.append_body(doc, " kept").unwrap());
    t.net.sync();
    // The admin removes the editor, having seen `kept`; the editor, not knowing, keeps typing.
    let removal = t.net.act("admin", |r, now| r.remove_member(editor, now));
    let void1 = t
        .net
        .edit("editor", |ws| ws.append_body(doc, " void1").unwrap());
    let void2 = t
        .net
        .edit("editor2", |ws| ws.append_body(doc, " void2").unwrap());
    // The owner and the commenter see the edits before the removal; the commenter even builds
    // on them. Everyone else gets the removal first.
    let owner = t.net.index("owner");
    let commenter = t.net.index("commenter");
    for i in [owner, commenter] {
        t.net.receive(i, &Msg::Env(void1.encode()));
        t.net.receive(i, &Msg::Env(void2.encode()));
        assert!(t.net.replicas[i]
            .workspace()
            .body(doc)
            .unwrap()
            .contains("void1"));
    }
    let dependent = t.net.edit("commenter", |ws| {
        ws.add_comment(doc, "nice additions", None, None).unwrap();
    });
    let receipt = t.net.replicas[owner].receive_acl_op(&removal.encode(), at(t.net.now));
    assert_eq!(receipt.outcome, AclOutcome::Accepted);
    assert!(receipt.effects.rebuilt);
    assert_eq!(receipt.effects.withdrawn.len(), 2);
    t.net.sync();

    t.net.assert_applied_everywhere(&kept);
    quarantined_because(&t.net, &void1, "removed from the workspace");
    quarantined_because(&t.net, &void2, "removed from the workspace");
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello kept");
        assert_eq!(r.members().role(&editor), None);
        // What depends on a void change cannot be applied either; it waits, visibly.
        assert!(
            matches!(
                r.envelope_outcome(&dependent.id()),
                Some(Outcome::Pending(_))
            ),
            "{:?}",
            r.envelope_outcome(&dependent.id())
        );
        let pending = r.pending();
        let entry = pending
            .iter()
            .find(|p| p.device == dependent.header().device)
            .expect("the dependent comment is listed as pending");
        assert!(!entry.blocked_by.is_empty());
        assert!(entry
            .blocked_by
            .iter()
            .all(|b| *b == void1.id() || *b == void2.id()));
    }
    t.net.assert_converged();
}

#[test]
fn a_late_add_releases_the_newcomers_changes() {
    let mut t = team();
    let doc = t.doc;
    let newcomer = LocalWallet::generate();
    let n = t.net.join("newcomer", &newcomer);
    let address = newcomer.address();
    let add = t.net.invite("admin", n, address, Role::Commenter);
    let cert = t
        .net
        .act("newcomer", |r, now| r.publish_device_certificate(now));
    let comment = t.net.edit("newcomer", |ws| {
        ws.add_comment(doc, "hi all", None, None).unwrap();
    });
    // The owner gets the comment first, then the certificate, then the Add.
    let owner = t.net.index("owner");
    let now = at(t.net.now);
    let r = &mut t.net.replicas[owner];
    let first = r.receive_envelope(&comment.encode(), now);
    assert!(
        matches!(&first.outcome, Outcome::Pending(m) if !m.acl_ops.is_empty()),
        "{first:?}"
    );
    let second = r.receive_acl_op(&cert.encode(), now);
    assert!(
        matches!(second.outcome, AclOutcome::Pending(_)),
        "{second:?}"
    );
    let third = r.receive_acl_op(&add.encode(), now);
    assert_eq!(third.outcome, AclOutcome::Accepted);
    assert_eq!(third.effects.released, vec![comment.id()]);
    assert_eq!(r.workspace().comments_on(doc).len(), 1);
    t.net.sync();
    t.net.assert_applied_everywhere(&comment);
    t.net.assert_converged();
}

#[test]
fn a_removal_that_turns_out_void_releases_what_it_had_quarantined() {
    let mut t = team();
    let doc = t.doc;
    let (admin, editor) = (t.admin.address(), t.editor.address());
    // The admin removes the editor while the owner, concurrently, makes the admin an editor:
    // the removal needed admin rights the admin was losing at the same time, so it is void.
    let removal = t.net.act("admin", |r, now| r.remove_member(editor, now));
    let demotion = t
        .net
        .act("owner", |r, now| r.change_role(admin, Role::Editor, now));
    let edit = t
        .net
        .edit("editor", |ws| ws.append_body(doc, " still here").unwrap());
    let viewer = t.net.index("viewer");
    t.net.receive(viewer, &Msg::Acl(removal.encode()));
    t.net.receive(viewer, &Msg::Env(edit.encode()));
    assert!(matches!(
        t.net.replicas[viewer].envelope_outcome(&edit.id()),
        Some(Outcome::Quarantined(Refusal::RemovedConcurrently { .. }))
    ));
    let receipt = t.net.replicas[viewer].receive_acl_op(&demotion.encode(), at(t.net.now));
    assert_eq!(receipt.effects.released, vec![edit.id()]);
    t.net.sync();
    t.net.assert_applied_everywhere(&edit);
    for r in &t.net.replicas {
        assert_eq!(r.members().role(&editor), Some(Role::Editor));
        assert_eq!(r.members().role(&admin), Some(Role::Editor));
        assert!(matches!(
            r.resolution().verdict(r.log(), &removal.id()),
            Some(Err(Refusal::DemotedConcurrently { .. }))
        ));
    }
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello still here");
    }
    t.net.assert_converged();
}

#[test]
fn admins_cannot_remove_each_other() {
    let mut t = team();
    let second = LocalWallet::generate();
    t.net.join("admin2", &second);
    let a2 = second.address();
    t.net
        .act("owner", |r, now| r.add_member(a2, Role::Admin, now));
    t.net.sync();
    t.net
        .act("admin2", |r, now| r.publish_device_certificate(now));
    t.net.sync();
    let a1 = t.admin.address();
    for (name, target) in [("admin", a2), ("admin2", a1)] {
        let i = t.net.index(name);
        let me = t.net.replicas[i].identity().address();
        let refusal = t.net.replicas[i]
            .can(&me, &Action::RemoveMember { member: target })
            .unwrap_err();
        assert!(matches!(refusal, Refusal::NotBelow { .. }), "{refusal}");
        assert!(t.net.replicas[i]
            .remove_member(target, at(t.net.now))
            .is_err());
    }
    t.net.assert_converged();
}

#[test]
fn mutual_removal_resolves_by_seniority_identically_everywhere() {
    // The owner has two devices; each revokes the other before hearing of the other's op.
    let mut t = team();
    let owner2 = t.net.join("owner2", &t.owner);
    let _ = owner2;
    t.net.sync();
    t.net
        .act("owner2", |r, now| r.publish_device_certificate(now));
    t.net.sync();
    let d1 = t.net.replicas[t.net.index("owner")].identity().device();
    let d2 = t.net.replicas[t.net.index("owner2")].identity().device();
    let r1 = t.net.act("owner", |r, now| r.revoke_device(d2, now));
    let r2 = t.net.act("owner2", |r, now| r.revoke_device(d1, now));
    // Half the replicas hear r2 first.
    for name in ["admin", "editor", "viewer"] {
        let i = t.net.index(name);
        t.net.receive(i, &Msg::Acl(r2.encode()));
    }
    t.net.sync();
    for r in &t.net.replicas {
        // The device paired first (the one that created the workspace) is senior and wins.
        assert!(matches!(
            r.resolution().verdict(r.log(), &r1.id()),
            Some(Ok(()))
        ));
        assert!(matches!(
            r.resolution().verdict(r.log(), &r2.id()),
            Some(Err(_))
        ));
        assert!(r.members().devices[&d2].revoked_by.is_some());
        assert!(r.members().devices[&d1].revoked_by.is_none());
    }
    t.net.assert_converged();
}

#[test]
fn a_removed_admins_concurrent_add_is_void_and_so_is_everything_it_enabled() {
    let mut t = team();
    let doc = t.doc;
    let admin = t.admin.address();
    let newcomer = LocalWallet::generate();
    let n = t.net.join("newcomer", &newcomer);
    let address = newcomer.address();
    // The admin invites a newcomer, who joins from the code, pairs a device and comments …
    let add = t.net.invite("admin", n, address, Role::Editor);
    let cert = t
        .net
        .act("newcomer", |r, now| r.publish_device_certificate(now));
    let comment = t.net.edit("newcomer", |ws| {
        ws.add_comment(doc, "glad to be here", None, None).unwrap();
    });
    assert_eq!(
        t.net.replicas[n].members().role(&address),
        Some(Role::Editor)
    );
    // … while the owner, who had seen none of it, removes the admin.
    let removal = t.net.act("owner", |r, now| r.remove_member(admin, now));
    t.net.sync();
    for r in &t.net.replicas {
        assert!(matches!(
            r.resolution().verdict(r.log(), &removal.id()),
            Some(Ok(()))
        ));
        assert!(matches!(
            r.resolution().verdict(r.log(), &add.id()),
            Some(Err(Refusal::RemovedConcurrently { .. }))
        ));
        assert!(matches!(
            r.resolution().verdict(r.log(), &cert.id()),
            Some(Err(_))
        ));
        assert_eq!(r.members().role(&address), None);
        assert_eq!(r.members().role(&admin), None);
        assert!(r.workspace().comments_on(doc).is_empty());
    }
    t.net.assert_quarantined_everywhere(&comment);
    t.net.assert_converged();
}

#[test]
fn a_removal_beats_a_concurrent_promotion_and_a_later_re_add_works() {
    let mut t = team();
    let commenter = t.commenter.address();
    let removal = t.net.act("admin", |r, now| r.remove_member(commenter, now));
    let promotion = t.net.act("owner", |r, now| {
        r.change_role(commenter, Role::Editor, now)
    });
    t.net.sync();
    for r in &t.net.replicas {
        assert!(matches!(
            r.resolution().verdict(r.log(), &promotion.id()),
            Some(Err(Refusal::Superseded { .. }))
        ));
        assert!(matches!(
            r.resolution().verdict(r.log(), &removal.id()),
            Some(Ok(()))
        ));
        assert_eq!(r.members().role(&commenter), None);
    }
    // Once the removal is known, adding them back is an ordinary add.
    t.net
        .act("owner", |r, now| r.add_member(commenter, Role::Viewer, now));
    t.net.sync();
    for r in &t.net.replicas {
        assert_eq!(r.members().role(&commenter), Some(Role::Viewer));
    }
    t.net.assert_converged();
}

#[test]
fn a_revoked_devices_concurrent_changes_are_void_and_its_earlier_ones_kept() {
    let mut t = team();
    let doc = t.doc;
    let early = t
        .net
        .edit("editor2", |ws| ws.append_body(doc, " early").unwrap());
    t.net.sync();
    let lost = t.net.replicas[t.net.index("editor2")].identity().device();
    let revoke = t.net.act("editor", |r, now| r.revoke_device(lost, now));
    let late = t
        .net
        .edit("editor2", |ws| ws.append_body(doc, " late").unwrap());
    let owner = t.net.index("owner");
    t.net.receive(owner, &Msg::Env(late.encode()));
    t.net.sync();
    let _ = revoke;
    t.net.assert_applied_everywhere(&early);
    quarantined_because(&t.net, &late, "revoked");
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello early");
        assert_eq!(r.members().role(&t.editor.address()), Some(Role::Editor));
    }
    // The editor's other device keeps working.
    let still = t.net.edit("editor", |ws| ws.append_body(doc, "!").unwrap());
    t.net.sync();
    t.net.assert_applied_everywhere(&still);
    t.net.assert_converged();
}

#[test]
fn the_members_list_shows_devices_and_when_they_were_paired() {
    let t = team();
    let members = t.net.replicas[0].members();
    let editor_devices: Vec<_> = members
        .devices
        .values()
        .filter(|d| d.address == t.editor.address())
        .collect();
    assert_eq!(editor_devices.len(), 2);
    for d in editor_devices {
        let cert = d.certificates.values().next().unwrap();
        assert_eq!(cert.pairing.issued_at.unix_timestamp(), T0 - 86_400);
        assert!(cert.published_at > T0);
        assert!(d.revoked_by.is_none());
    }
}
