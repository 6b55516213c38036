//! People have names in the terminal UI of a shared workspace: the members screen (addresses one
//! key away), cards and the assignee picker, comment authors, the history list, teammates' carets,
//! setting one's own name, and pairing a wallet that is not a member.

mod acl_common;
mod shared_common;
mod tui_support;

use crossterm::event::KeyCode;
use shared_common::*;
use tui_support::*;
use weft::acl::Role;
use weft::identity::LocalWallet;
use weft::model::{CardFields, ItemId};
use weft::store::identity::IdentityStore;
use weft::store::Home;
use weft::sync::live::Peer;
use weft::tui::keymap::Keymap;
use weft::tui::{App, AppOptions, Msg, Target};

/// Every screen is drawn at these sizes, smallest first.
const SIZES: [(u16, u16); 4] = [(40, 12), (60, 15), (80, 24), (120, 40)];

fn app_on(dev: Dev) -> (App, tempfile::TempDir) {
    let Dev { dir, replica, .. } = dev;
    let mut app = App::new(
        replica.expect("open"),
        AppOptions {
            workspace: "team".into(),
            identity: "owner".into(),
            theme: dark(),
            keymap: Keymap::defaults(),
            notices: Vec::new(),
        },
    );
    app.update(Msg::Resize(80, 24));
    (app, dir)
}

struct Team {
    owner: Dev,
    ada: String,
    plan: ItemId,
    card: ItemId,
}

/// The owner ("Olga"), an editor ("Ada") who commented on the plan and edited it, and a viewer
/// with no name; a board with one card.
fn team() -> Team {
    let (ow, ew, vw) = (fixed_wallet(1), fixed_wallet(2), fixed_wallet(3));
    let mut owner = found_as(fixed_device(&ow, 11));
    let ws = owner.r().workspace();
    let plan = ws.create_doc("Plan", None).unwrap();
    ws.set_body(plan, "Ship on Friday.").unwrap();
    let board = ws.create_board("Launch", &["To do", "Done"]).unwrap();
    let column = ws.board(board, false).unwrap().columns[0].id;
    let card = ws
        .add_card(
            column,
            &CardFields {
                title: "Write the notes".into(),
                ..Default::default()
            },
            "",
        )
        .unwrap();
    ws.set_display_name(Some("Olga")).unwrap();
    owner.r().flush().unwrap();
    owner.r().add_member(ew.address(), Role::Editor).unwrap();
    owner.r().add_member(vw.address(), Role::Viewer).unwrap();
    let mut editor = join_as(&owner, fixed_device(&ew, 12));
    carry(&mut owner, &mut editor);
    editor.r().publish_device().unwrap();
    settle(&mut editor, &mut owner);
    let ws = editor.r().workspace();
    ws.set_display_name(Some("Ada")).unwrap();
    ws.add_comment(plan, "Friday is tight.", Some(3), None)
        .unwrap();
    ws.set_body(plan, "Ship on Friday, or Monday.").unwrap();
    editor.r().flush().unwrap();
    settle(&mut editor, &mut owner);
    Team {
        owner,
        ada: ew.address().to_checksum(),
        plan,
        card,
    }
}

fn text_of(app: &mut App, w: u16, h: u16) -> String {
    screen(draw(app, w, h).backend().buffer())
}

#[test]
fn the_members_screen_shows_names_with_the_address_one_key_away() {
    let t = team();
    let ada = t.ada.clone();
    let (mut app, _dir) = app_on(t.owner);
    app.open(Target::Members);
    for (w, h) in SIZES {
        let d = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("names_members_{w}x{h}"), d.backend());
    }
    let text = text_of(&mut app, 80, 24);
    let short = weft::tui::short_identity(&ada);
    assert!(text.contains(&format!("Ada  {short}")), "{text}");
    assert!(text.contains("Olga"), "{text}");
    assert!(
        !text.contains(&ada),
        "the full address waits for a key:\n{text}"
    );
    app.update(ch('.'));
    let text = text_of(&mut app, 80, 24);
    assert!(text.contains(&ada), "{text}");
    // The sidebar lists members by name too.
    assert!(text.contains("Ada editor"), "{text}");
}

#[test]
fn a_member_sets_their_own_name_from_the_members_screen() {
    let t = team();
    let (mut app, _dir) = app_on(t.owner);
    app.open(Target::Members);
    app.update(ch('n'));
    let text = text_of(&mut app, 80, 24);
    assert!(text.contains("Your display name"), "{text}");
    // Olga is filled in; a name too long is refused with the reason and the prompt stays.
    for _ in 0..4 {
        app.update(key(KeyCode::Backspace));
    }
    app.update(Msg::Paste("x".repeat(41)));
    app.update(key(KeyCode::Enter));
    let text = text_of(&mut app, 80, 24);
    assert!(text.contains("at most 40 characters"), "{text}");
    for _ in 0..41 {
        app.update(key(KeyCode::Backspace));
    }
    type_text(&mut app, "Olga K.");
    app.update(key(KeyCode::Enter));
    let me = app.workspace().actor().to_string();
    assert_eq!(
        app.workspace().display_name(&me).as_deref(),
        Some("Olga K.")
    );
    let text = text_of(&mut app, 80, 24);
    assert!(text.contains("Olga K."), "{text}");
}

#[test]
fn a_card_is_assigned_from_a_picker_of_members_and_shows_their_name() {
    let t = team();
    let (ada, card) = (t.ada.clone(), t.card);
    let (mut app, _dir) = app_on(t.owner);
    app.open(Target::Card(card));
    app.update(ch('a'));
    for (w, h) in SIZES {
        let d = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("names_assignee_picker_{w}x{h}"), d.backend());
    }
    let text = text_of(&mut app, 80, 24);
    assert!(text.contains("[ ] Ada"), "{text}");
    // Members strongest first: Olga (owner), Ada (editor), the viewer.
    app.update(ch('j'));
    app.update(ch(' '));
    assert!(text_of(&mut app, 80, 24).contains("[x] Ada"));
    app.update(key(KeyCode::Esc));
    let view = app.workspace().card(card).unwrap();
    assert_eq!(view.assignees, [ada], "stored as the address");
    for (w, h) in SIZES {
        let d = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("names_card_assigned_{w}x{h}"), d.backend());
    }
    assert!(text_of(&mut app, 80, 24).contains("@Ada"));
    // Toggling again takes her off.
    app.update(ch('a'));
    app.update(ch('j'));
    app.update(key(KeyCode::Enter));
    app.update(key(KeyCode::Esc));
    assert!(app.workspace().card(card).unwrap().assignees.is_empty());
}

#[test]
fn comments_and_history_name_their_author() {
    let t = team();
    let plan = t.plan;
    let (mut app, _dir) = app_on(t.owner);
    app.open(Target::Doc(plan));
    app.update(ch('c'));
    for (w, h) in SIZES {
        let d = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("names_comment_author_{w}x{h}"), d.backend());
    }
    assert!(text_of(&mut app, 80, 24).contains("Ada"));
    app.open(Target::History(plan));
    for (w, h) in SIZES {
        let d = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("names_history_{w}x{h}"), d.backend());
    }
    let text = text_of(&mut app, 80, 24);
    assert!(text.contains("Ada"), "Ada wrote the last version:\n{text}");
}

#[test]
fn a_teammates_caret_carries_their_name_beside_the_row_being_typed() {
    let t = team();
    let (ada, plan) = (t.ada.clone(), t.plan);
    let (mut app, _dir) = app_on(t.owner);
    let ws = app.workspace();
    ws.set_body(plan, "First line.\nSecond line.\nThird line.")
        .unwrap();
    app.open(Target::Doc(plan));
    // The local user types on the second line; Ada's caret is on the same line, further on.
    app.update(ch('i'));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::End));
    let offset = "First line.\nSecond".chars().count();
    let caret = app.workspace().caret_at(plan, offset).unwrap();
    app.set_presence(vec![Peer {
        address: ada.clone(),
        device: "laptop".into(),
        view: "doc".into(),
        caret: Some((plan.to_string(), caret)),
        seen: std::time::Instant::now(),
    }]);
    for (w, h) in SIZES {
        let d = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("names_caret_flag_{w}x{h}"), d.backend());
        let buf = d.backend().buffer().clone();
        let (_, line_y) = find(&buf, "Second").expect("the line being typed");
        let (_, flag_y) = find(&buf, "‸Ada").expect("Ada's flag");
        assert_ne!(flag_y, line_y, "the flag never covers the line being typed");
        assert!(flag_y + 1 == line_y || flag_y == line_y + 1);
        assert!(
            row_text(&buf, line_y).contains("line."),
            "the typed line is whole"
        );
    }
}

#[test]
fn pairing_a_wallet_that_is_not_a_member_says_what_to_do() {
    let t = team();
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let (mut app, _d) = app_on(t.owner);
    app.set_pairer(Box::new(
        IdentityStore::open(&home, None).expect("identity"),
    ));
    let stranger = LocalWallet::generate();
    app.update(ch('P'));
    app.update(Msg::Paste(stranger.address().to_checksum()));
    let effects = app.update(key(KeyCode::Enter));
    let message = effects
        .iter()
        .find_map(|e| match e {
            weft::tui::Effect::Copy(m) => Some(m.clone()),
            _ => None,
        })
        .expect("the message is copied");
    app.update(Msg::Paste(
        stranger.sign_message(message.as_bytes()).to_hex(),
    ));
    let text = text_of(&mut app, 120, 40);
    let short = weft::tui::short_identity(&stranger.address().to_checksum());
    assert!(
        text.contains(&format!(
            "{short}: not a member of team: ask an admin for `weft invite`"
        )),
        "{text}"
    );
}
