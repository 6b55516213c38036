//! Shared workspaces in the store: real SQLite files, real device keys and wallet-signed pairing
//! certificates, several devices each with its own database, exchanging what they wrote the way a
//! carrier does. What is applied, pending or refused must be the same on every device and survive
//! a restart.

mod acl_common;
mod shared_common;

use acl_common::{config, Device};
use shared_common::*;
use weft::acl::{Outcome, Role};
use weft::identity::LocalWallet;
use weft::store::Replica;

#[test]
fn an_editor_joins_writes_and_every_device_keeps_it_after_a_restart() {
    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    owner
        .r()
        .add_member(ew.address(), Role::Editor)
        .expect("owner adds an editor");
    let mut editor = join(&owner, &ew);
    carry(&mut owner, &mut editor);
    assert_eq!(editor.r().my_role(), Some(Role::Editor));
    editor.r().publish_device().expect("publish device");
    settle(&mut editor, &mut owner);
    let doc = editor
        .r()
        .workspace()
        .create_doc("Plan", None)
        .expect("editor writes");
    editor.r().workspace().set_body(doc, "ship it").unwrap();
    assert_eq!(editor.r().flush().unwrap(), 1, "sealed into one envelope");
    let outcomes = carry(&mut editor, &mut owner);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Applied | Outcome::Duplicate))
            && outcomes.contains(&Outcome::Applied),
        "{outcomes:?}"
    );
    assert_eq!(body_of(owner.r(), "Plan"), "ship it");
    // Search sees what arrived.
    assert_eq!(owner.r().search("ship", 5).unwrap().len(), 1);

    owner.restart();
    editor.restart();
    assert_eq!(body_of(owner.r(), "Plan"), "ship it");
    assert_eq!(titles(owner.r()), titles(editor.r()));
    assert!(owner.r().quarantine().is_empty());
    assert_eq!(editor.r().my_role(), Some(Role::Editor));
}

#[test]
fn a_viewer_cannot_edit_locally_and_a_forged_edit_is_refused_everywhere_and_stays_refused() {
    let (ow, vw) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    owner.r().add_member(vw.address(), Role::Viewer).unwrap();
    let mut viewer = join(&owner, &vw);
    carry(&mut owner, &mut viewer);
    viewer
        .r()
        .publish_device()
        .expect("a viewer may publish its device");
    settle(&mut viewer, &mut owner);

    // The viewer's own weft refuses and undoes the edit.
    assert!(viewer.r().can(&weft::acl::Action::EditDocs).is_err());
    viewer.r().workspace().create_doc("Mine now", None).unwrap();
    let err = viewer.r().flush().unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
    assert!(!titles(viewer.r()).contains(&"Mine now".to_string()));

    // A modified client signs it anyway: the owner keeps it in quarantine, never applies it.
    let forged = rogue(&mut viewer, 2, |ws| {
        ws.create_doc("Forged", None).unwrap();
    });
    let receipt = owner.r().receive_envelope("test", &forged).unwrap();
    assert!(
        matches!(receipt.outcome, Outcome::Quarantined(_)),
        "{:?}",
        receipt.outcome
    );
    assert!(!titles(owner.r()).contains(&"Forged".to_string()));
    let q = owner.r().quarantine();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].address, Some(vw.address()));
    let reason = q[0].reason.to_string();

    owner.restart();
    assert!(!titles(owner.r()).contains(&"Forged".to_string()));
    let q = owner.r().quarantine();
    assert_eq!(q.len(), 1, "the quarantine survives a restart");
    assert_eq!(q[0].reason.to_string(), reason);
    // The same bytes again are a repeat, not a second entry.
    owner.r().receive_envelope("test", &forged).unwrap();
    assert_eq!(owner.r().quarantine().len(), 1);
}

/// An owner and an editor whose device the owner knows, each with the other's ops.
fn owner_and_editor() -> (Dev, Dev, LocalWallet) {
    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    owner.r().add_member(ew.address(), Role::Editor).unwrap();
    let mut editor = join(&owner, &ew);
    carry(&mut owner, &mut editor);
    editor.r().publish_device().unwrap();
    settle(&mut editor, &mut owner);
    (owner, editor, ew)
}

#[test]
fn a_removed_editor_s_unseen_edits_are_void_and_earlier_ones_kept() {
    let (mut owner, mut editor, ew) = owner_and_editor();
    editor.r().workspace().create_doc("Before", None).unwrap();
    editor.r().flush().unwrap();
    carry(&mut editor, &mut owner);
    // Offline: the editor writes more while the owner removes them.
    editor.r().workspace().create_doc("After", None).unwrap();
    editor.r().flush().unwrap();
    owner.r().remove_member(ew.address()).unwrap();
    let outcomes = carry(&mut editor, &mut owner);
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Quarantined(_))),
        "{outcomes:?}"
    );
    let t = titles(owner.r());
    assert!(t.contains(&"Before".to_string()), "{t:?}");
    assert!(!t.contains(&"After".to_string()), "{t:?}");
    owner.restart();
    let t = titles(owner.r());
    assert!(t.contains(&"Before".to_string()) && !t.contains(&"After".to_string()));
    assert_eq!(owner.r().members().unwrap().role(&ew.address()), None);
}

#[test]
fn two_processes_on_one_home_never_reuse_a_sequence_number() {
    let (ow, ew) = (LocalWallet::generate(), LocalWallet::generate());
    let mut owner = found(&ow);
    owner.r().add_member(ew.address(), Role::Editor).unwrap();
    // A second process on the owner's home: same file, same device.
    let mut second = Dev {
        dir: tempfile::tempdir().unwrap(),
        device: Device {
            key: owner.device.key.clone(),
            identity: owner.device.identity.clone(),
        },
        replica: Some(
            Replica::open_shared(&owner.path(), None, owner.device.identity.clone(), config())
                .unwrap(),
        ),
    };
    for i in 0..5 {
        owner
            .r()
            .workspace()
            .create_doc(&format!("first {i}"), None)
            .unwrap();
        owner.r().flush().unwrap();
        second
            .r()
            .workspace()
            .create_doc(&format!("second {i}"), None)
            .unwrap();
        second.r().flush().unwrap();
    }
    owner.r().refresh().unwrap();
    assert_eq!(titles(owner.r()).len(), 10);
    // Another device receives all of it: nothing looks like equivocation.
    let mut editor = join(&owner, &ew);
    carry(&mut owner, &mut editor);
    editor.r().publish_device().unwrap();
    settle(&mut editor, &mut owner);
    assert!(
        editor.r().quarantine().is_empty(),
        "nothing looks like equivocation: {:?}",
        editor.r().quarantine()
    );
    assert!(editor.r().engine().unwrap().pending().is_empty());
    assert_eq!(titles(editor.r()), titles(owner.r()));
}

#[test]
fn an_index_left_for_later_is_made_on_the_next_open_if_the_process_stopped_first() {
    let ow = LocalWallet::generate();
    let mut owner = found(&ow);
    // As the live app does: write, hand the envelope over, index after.
    owner.r().defer_index(true);
    let doc = owner
        .r()
        .workspace()
        .create_doc("Live notes", None)
        .unwrap();
    owner
        .r()
        .workspace()
        .set_body(doc, "the word is pelican")
        .unwrap();
    owner.r().flush().unwrap();
    assert_eq!(owner.r().take_sealed().len(), 1, "the sealed envelope");
    assert!(
        owner.r().search("pelican", 5).unwrap().is_empty(),
        "not indexed yet"
    );
    owner.r().index_now().unwrap();
    assert_eq!(owner.r().search("pelican", 5).unwrap().len(), 1);

    // Another edit, and the process stops before indexing it.
    owner
        .r()
        .workspace()
        .set_body(doc, "the word is cormorant")
        .unwrap();
    owner.r().flush().unwrap();
    owner.restart();
    let hits = owner.r().search("cormorant", 5).unwrap();
    assert_eq!(hits.len(), 1, "indexed on open: {hits:?}");
    assert!(owner.r().search("pelican", 5).unwrap().is_empty());
}

#[test]
fn a_comment_written_on_top_of_a_refused_edit_is_listed_with_it() {
    let (mut owner, mut editor, ew) = owner_and_editor();
    let doc = owner.r().workspace().create_doc("Plan", None).unwrap();
    owner.r().flush().unwrap();
    carry(&mut owner, &mut editor);
    // Offline: the editor edits, then comments; meanwhile the owner makes them a commenter.
    editor.r().workspace().set_body(doc, "rewritten").unwrap();
    editor.r().flush().unwrap();
    editor
        .r()
        .workspace()
        .add_comment(doc, "why I rewrote it", None, None)
        .unwrap();
    editor.r().flush().unwrap();
    owner
        .r()
        .change_role(ew.address(), Role::Commenter)
        .unwrap();
    carry(&mut editor, &mut owner);
    let refused = owner.r().quarantine();
    let reasons: Vec<String> = refused.iter().map(|q| q.reason.to_string()).collect();
    assert_eq!(
        refused.len(),
        2,
        "the edit and the comment on top of it: {reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("was made a commenter")),
        "{reasons:?}"
    );
    let edit = refused
        .iter()
        .find(|q| q.reason.to_string().contains("was made a commenter"))
        .unwrap();
    let weft::acl::QuarantinedItem::Envelope(edit_id) = edit.item else {
        panic!("an envelope")
    };
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(&format!("builds on a refused change ({})", edit_id.short()))),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().all(|r| !r.contains("AclOpId(")),
        "{reasons:?}"
    );
    assert!(owner.r().workspace().all_comments().is_empty());
}

#[test]
fn a_badly_signed_envelope_is_refused_again_after_every_restart_while_signed_ones_replay() {
    let (mut owner, mut editor, _) = owner_and_editor();
    let doc = editor.r().workspace().create_doc("Signed", None).unwrap();
    editor.r().workspace().set_body(doc, "kept").unwrap();
    editor.r().flush().unwrap();
    carry(&mut editor, &mut owner);
    // The same edit with one byte of its signature changed.
    let good = rogue(&mut editor, 9, |ws| {
        ws.create_doc("Badly signed", None).unwrap();
    });
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let receipt = owner.r().receive_envelope("test", &bad).unwrap();
    assert!(
        matches!(
            receipt.outcome,
            Outcome::Quarantined(weft::acl::Refusal::BadSignature)
        ),
        "{:?}",
        receipt.outcome
    );
    for _ in 0..2 {
        // Signatures checked once are not checked again on open; this one never passed, so it
        // is checked again, and refused again.
        owner.restart();
        assert_eq!(body_of(owner.r(), "Signed"), "kept");
        assert!(!titles(owner.r()).contains(&"Badly signed".to_string()));
        let q = owner.r().quarantine();
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!(q[0].reason, weft::acl::Refusal::BadSignature);
    }
}
