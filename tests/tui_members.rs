//! The members screen and role checks in the terminal UI of a shared workspace: who is a member
//! with which devices, what was refused and why, managing members with keys, and a viewer's weft
//! refusing edits up front with the reason.

mod acl_common;
mod shared_common;
mod tui_support;

use crossterm::event::KeyCode;
use shared_common::*;
use tui_support::*;
use weft::acl::Role;
use weft::tui::keymap::Keymap;
use weft::tui::{App, AppOptions, Msg, Target};

fn app_on(dev: Dev, identity: &str) -> (App, tempfile::TempDir) {
    let Dev { dir, replica, .. } = dev;
    let mut app = App::new(
        replica.expect("open"),
        AppOptions {
            workspace: "team".into(),
            identity: identity.into(),
            theme: dark(),
            keymap: Keymap::defaults(),
            notices: Vec::new(),
        },
    );
    app.update(Msg::Resize(80, 24));
    (app, dir)
}

/// Owner, an editor who joined with one device, a viewer who tried to write anyway.
fn team() -> (Dev, Dev) {
    let (ow, ew, vw) = (fixed_wallet(1), fixed_wallet(2), fixed_wallet(3));
    let mut owner = found_as(fixed_device(&ow, 11));
    let plan = owner.r().workspace().create_doc("Plan", None).unwrap();
    owner
        .r()
        .workspace()
        .set_body(plan, "Ship on Friday.")
        .unwrap();
    owner.r().flush().unwrap();
    owner.r().add_member(ew.address(), Role::Editor).unwrap();
    owner.r().add_member(vw.address(), Role::Viewer).unwrap();
    let mut editor = join_as(&owner, fixed_device(&ew, 12));
    carry(&mut owner, &mut editor);
    editor.r().publish_device().unwrap();
    settle(&mut editor, &mut owner);
    let mut viewer = join_as(&owner, fixed_device(&vw, 13));
    carry(&mut owner, &mut viewer);
    viewer.r().publish_device().unwrap();
    settle(&mut viewer, &mut owner);
    let forged = rogue(&mut viewer, 2, |ws| {
        ws.create_doc("Forged", None).unwrap();
    });
    owner.r().receive_envelope("relay", &forged).unwrap();
    (owner, viewer)
}

#[test]
fn the_members_screen_lists_roles_devices_and_what_was_refused() {
    let (owner, _viewer) = team();
    let (mut app, _dir) = app_on(owner, "0x1a64…");
    app.open(Target::Members);
    for (w, h) in SIZES {
        let t = draw(&mut app, w, h);
        let text = format!("{}", t.backend());
        assert!(
            text.contains("⚠ 1 refused"),
            "status bar counts it:\n{text}"
        );
        insta::assert_snapshot!(format!("members_{w}x{h}"), t.backend());
    }
}

#[test]
fn members_are_added_re_roled_and_removed_with_keys() {
    let (owner, _viewer) = team();
    let (mut app, _dir) = app_on(owner, "owner");
    app.open(Target::Members);
    let newcomer = fixed_wallet(9).address().to_checksum();
    app.update(ch('a'));
    type_text(&mut app, &format!("{newcomer} commenter"));
    app.update(key(KeyCode::Enter));
    assert!(
        app.status_text()
            .unwrap_or_default()
            .contains("as a commenter"),
        "{:?}",
        app.status_text()
    );
    let role_of = |app: &App| {
        app.replica()
            .members()
            .unwrap()
            .role(&fixed_wallet(9).address())
    };
    assert_eq!(role_of(&app), Some(Role::Commenter));
    // A bad role keeps the prompt open and says why; nothing changes.
    app.update(ch('a'));
    type_text(&mut app, &format!("{newcomer} boss"));
    app.update(key(KeyCode::Enter));
    let screen = format!("{}", draw(&mut app, 80, 24).backend());
    assert!(screen.contains("not a role"), "{screen}");
    app.update(key(KeyCode::Esc));
    // Select the newcomer (members are listed strongest role first) and remove them.
    let index = app
        .replica()
        .member_list()
        .iter()
        .position(|m| m.address == fixed_wallet(9).address())
        .unwrap();
    for _ in 0..index {
        app.update(ch('j'));
    }
    app.update(ch('d'));
    app.update(ch('y'));
    assert_eq!(role_of(&app), None, "{:?}", app.status_text());
}

#[test]
fn a_viewer_s_weft_refuses_edits_up_front_and_says_why() {
    let (_owner, viewer) = team();
    let (mut app, _dir) = app_on(viewer, "viewer");
    let doc = app.replica().workspace().docs(false)[0].id;
    app.open(Target::Doc(doc));
    app.update(ch('e'));
    let status = app.status_text().unwrap_or_default().to_string();
    assert!(
        status.starts_with("read-only: you are a viewer; "),
        "the reason comes first, so a narrow status bar still shows it: {status}"
    );
    // Typing does nothing to the document.
    let before = app.replica().workspace().body(doc).unwrap();
    type_text(&mut app, "xyz");
    assert_eq!(app.replica().workspace().body(doc).unwrap(), before);
    // New docs are refused too.
    app.update(key(KeyCode::Tab));
    app.update(ch('n'));
    assert!(app.status_text().unwrap_or_default().contains("read-only"));
}

#[test]
fn a_viewer_is_offered_only_what_a_viewer_can_do() {
    let (_owner, viewer) = team();
    let (mut app, _dir) = app_on(viewer, "viewer");
    let home = format!("{}", draw(&mut app, 80, 24).backend());
    assert!(!home.contains("new doc"), "{home}");
    assert!(!home.contains("new board"), "{home}");
    let doc = app.replica().workspace().docs(false)[0].id;
    app.open(Target::Doc(doc));
    let t = draw(&mut app, 80, 24);
    let footer = row_text(t.backend().buffer(), 22);
    assert!(footer.contains("history"), "{footer}");
    assert!(
        !footer.contains("edit"),
        "a viewer is not offered editing: {footer}"
    );
    assert!(!footer.contains("comment "), "nor commenting: {footer}");
}

#[test]
fn history_says_who_wrote_each_version() {
    let (owner, viewer) = team();
    let owner_address = fixed_wallet(1).address().to_checksum();
    let short = weft::tui::short_identity(&owner_address);
    let (mut app, _dir) = app_on(viewer, "viewer");
    let doc = app.replica().workspace().docs(false)[0].id;
    app.open(Target::History(doc));
    let screen = format!("{}", draw(&mut app, 120, 40).backend());
    assert!(
        screen.contains(&short),
        "the owner wrote the plan:\n{screen}"
    );
    assert!(screen.contains("+15 −0 ‘Ship on Friday.’"), "{screen}");
    let (mut app, _dir) = app_on(owner, "owner");
    app.open(Target::History(doc));
    let screen = format!("{}", draw(&mut app, 120, 40).backend());
    assert!(
        screen.contains("v1 you · now"),
        "their own versions say so:\n{screen}"
    );
}
