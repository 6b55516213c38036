//! Display names are member-writable and signed: every member (viewers included) sets their
//! own profile, and a change to anyone else's profile is refused by every replica, whoever
//! sends it, while the victim's name stays.

mod acl_common;

use acl_common::*;
use weft::acl::{Action, Outcome};
use weft::model::{Workspace, PROFILES_ROOT};

/// The raw profile key a client writes for `address`'s name.
fn name_key(address: &weft::identity::Address) -> String {
    format!("{}/name", address.to_checksum().to_ascii_lowercase())
}

fn name_everywhere(t: &Team, who: &weft::identity::Address) -> Vec<Option<String>> {
    t.net
        .key_holders()
        .map(|r| r.workspace().display_name(&who.to_checksum()))
        .collect()
}

fn assert_name_everywhere(t: &Team, who: &weft::identity::Address, want: &str) {
    for got in name_everywhere(t, who) {
        assert_eq!(got.as_deref(), Some(want));
    }
}

#[test]
fn every_member_sets_their_own_name_and_it_reaches_everyone() {
    let mut t = team();
    let names = [
        ("owner", t.owner.address(), "Olga"),
        ("editor", t.editor.address(), "Ada"),
        ("commenter", t.commenter.address(), "Cy"),
        ("viewer", t.viewer.address(), "Vi"),
    ];
    for (who, address, name) in names {
        let me = t.net.index(who);
        assert!(
            t.net.replicas[me]
                .can(&address, &Action::SetOwnProfile)
                .is_ok(),
            "{who} may name themself"
        );
        let env = t.net.edit(who, |ws| {
            ws.set_display_name(Some(name)).unwrap();
        });
        t.net.sync();
        t.net.assert_applied_everywhere(&env);
    }
    for (_, address, name) in names {
        assert_name_everywhere(&t, &address, name);
    }
    // A second device of the editor renames the same profile: last write wins, everywhere.
    let env = t.net.edit("editor2", |ws| {
        ws.set_display_name(Some("Ada L.")).unwrap();
    });
    t.net.sync();
    t.net.assert_applied_everywhere(&env);
    assert_name_everywhere(&t, &t.editor.address(), "Ada L.");
    t.net.assert_converged();
}

#[test]
fn a_modified_client_cannot_set_another_members_name_and_the_victims_name_stays() {
    let mut t = team();
    let victim = t.editor.address();
    t.net.edit("editor", |ws| {
        ws.set_display_name(Some("Ada")).unwrap();
    });
    t.net.sync();
    assert_name_everywhere(&t, &victim, "Ada");

    // The admin (high role, no envelope sent yet: sequence 1) and the commenter each overwrite
    // or delete the editor's name with a modified client.
    let key = name_key(&victim);
    let k = key.clone();
    let overwrite = rogue_envelope(&mut t.net, "admin", 1, move |ws| {
        ws.loro()
            .get_map(PROFILES_ROOT)
            .insert(&k, "Mallory")
            .unwrap();
    });
    let k = key.clone();
    let delete = rogue_envelope(&mut t.net, "commenter", 1, move |ws| {
        ws.loro().get_map(PROFILES_ROOT).delete(&k).unwrap();
    });
    // The commenter hides the write to the victim's profile next to a legitimate one of its own.
    let own = name_key(&t.commenter.address());
    let k = key.clone();
    let mixed = rogue_envelope(&mut t.net, "commenter", 2, move |ws: &mut Workspace| {
        let map = ws.loro().get_map(PROFILES_ROOT);
        map.insert(&own, "Cy").unwrap();
        map.insert(&k, "Ada (admin)").unwrap();
    });
    for env in [&overwrite, &delete, &mixed] {
        t.net.publish_env(env.clone());
    }
    t.net.sync();
    for env in [&overwrite, &delete, &mixed] {
        let reasons = t.net.assert_quarantined_everywhere(env);
        for r in &reasons {
            assert!(
                r.contains("setting the profile of") && r.contains("nobody may do"),
                "the refusal names the reason: {r}"
            );
            assert!(r.contains(&victim.to_checksum()), "names the victim: {r}");
        }
    }
    assert_name_everywhere(&t, &victim, "Ada");
    // The refused mixed change took its own half with it; the commenter's honest rename (on its
    // real replica, which never held the rogue changes) still works, and so do the victim's.
    for got in name_everywhere(&t, &t.commenter.address()) {
        assert_eq!(got, None);
    }
    let cy = t.net.edit("commenter", |ws| {
        ws.set_display_name(Some("Cy")).unwrap();
    });
    let ada = t.net.edit("editor", |ws| {
        ws.set_display_name(Some("Ada Lovelace")).unwrap();
    });
    t.net.sync();
    t.net.assert_applied_everywhere(&cy);
    t.net.assert_applied_everywhere(&ada);
    assert_name_everywhere(&t, &victim, "Ada Lovelace");
    assert_name_everywhere(&t, &t.commenter.address(), "Cy");
    t.net.assert_converged();
}

#[test]
fn profile_entries_of_the_wrong_shape_are_refused() {
    let mut t = team();
    let me = t.commenter.address();
    // Own address but not in lowercase: two keys for one person would make the name ambiguous.
    let upper = format!("{}/name", me.to_checksum());
    let nested = name_key(&me);
    let bad_case = rogue_envelope(&mut t.net, "commenter", 1, move |ws| {
        ws.loro()
            .get_map(PROFILES_ROOT)
            .insert(&upper, "Cy")
            .unwrap();
    });
    let container = rogue_envelope(&mut t.net, "commenter", 2, move |ws| {
        ws.loro()
            .get_map(PROFILES_ROOT)
            .insert_container(&nested, loro::LoroMap::new())
            .unwrap();
    });
    for env in [&bad_case, &container] {
        t.net.publish_env(env.clone());
    }
    t.net.sync();
    for env in [&bad_case, &container] {
        let reasons = t.net.assert_quarantined_everywhere(env);
        assert!(
            reasons.iter().all(|r| r.contains("profile entry")),
            "{reasons:?}"
        );
    }
    t.net.assert_converged();
}

#[test]
fn a_viewer_names_themself_but_still_writes_nothing_else() {
    let mut t = team();
    let doc = t.doc;
    // From a modified client, the same mix is refused everywhere.
    let own = name_key(&t.viewer.address());
    let mixed = rogue_envelope(&mut t.net, "viewer", 1, move |ws| {
        ws.loro().get_map(PROFILES_ROOT).insert(&own, "Vi").unwrap();
        ws.append_body(doc, " -- defaced").unwrap();
    });
    t.net.publish_env(mixed.clone());
    t.net.sync();
    let reasons = t.net.assert_quarantined_everywhere(&mixed);
    assert!(reasons.iter().all(|r| r.contains("viewer")), "{reasons:?}");
    for r in t.net.key_holders() {
        assert_eq!(r.workspace().body(doc).unwrap(), "hello");
    }

    // Locally, the same mix is undone with the reason.
    let now = t.net.tick();
    let viewer = t.net.r("viewer");
    viewer.workspace().set_display_name(Some("Vi")).unwrap();
    viewer.workspace().append_body(doc, " nope").unwrap();
    let err = viewer.local_commit(now).unwrap_err();
    assert!(err.to_string().contains("viewer"), "{err}");
    assert_eq!(viewer.workspace().body(doc).unwrap(), "hello");
    assert_eq!(
        viewer
            .workspace()
            .display_name(&t.viewer.address().to_checksum()),
        None
    );

    // Their name alone goes through.
    let env = t.net.edit("viewer", |ws| {
        ws.set_display_name(Some("Vi")).unwrap();
    });
    t.net.sync();
    t.net.assert_applied_everywhere(&env);
    assert_name_everywhere(&t, &t.viewer.address(), "Vi");
    assert!(matches!(
        t.net.replicas[0].envelope_outcome(&env.id()),
        Some(Outcome::Applied)
    ));
    t.net.assert_converged();
}
