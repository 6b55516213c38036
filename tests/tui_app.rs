//! The app driven by keys, as a user would: what each action does to the workspace, and what the
//! user sees happen. The workspace is a real store on disk with a fixed clock.

mod tui_support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_support::*;
use weft::model::ItemKind;
use weft::tui::{Effect, Keymap, Msg, Target};

fn column_titles(app: &weft::tui::App, board: weft::model::ItemId) -> Vec<(String, Vec<String>)> {
    app.workspace()
        .board(board, false)
        .expect("board")
        .columns
        .into_iter()
        .map(|c| (c.name, c.cards.into_iter().map(|k| k.title).collect()))
        .collect()
}

#[test]
fn cards_move_across_columns_and_up_and_down_with_keys() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    app.update(ch('L'));
    let cols = column_titles(&app, s.ids.board);
    assert_eq!(cols[1].1[0], "Invite a teammate", "moved right, same row");
    assert!(app
        .status_text()
        .unwrap_or_default()
        .contains("over its WIP limit (4/2)"));
    app.update(ch('J'));
    app.update(ch('J'));
    assert_eq!(
        column_titles(&app, s.ids.board)[1].1[2],
        "Invite a teammate"
    );
    app.update(ch('K'));
    assert_eq!(
        column_titles(&app, s.ids.board)[1].1[1],
        "Invite a teammate"
    );
    app.update(ch('L'));
    let cols = column_titles(&app, s.ids.board);
    assert_eq!(
        cols[2].1,
        ["Install weft", "Invite a teammate"],
        "lands at the bottom when the row is past the end"
    );
    app.update(ch('H'));
    app.update(ch('H'));
    let cols = column_titles(&app, s.ids.board);
    assert_eq!(cols[0].1[1], "Invite a teammate");
    assert_eq!(cols[1].1.len(), 3);
    // The selection followed the card the whole way: moving again moves the same card.
    app.update(ch('K'));
    assert_eq!(
        column_titles(&app, s.ids.board)[0].1[0],
        "Invite a teammate"
    );
}

#[test]
fn cards_and_columns_are_added_renamed_and_trashed() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    app.update(ch('n'));
    type_text(&mut app, "Brand new card");
    app.update(key(KeyCode::Enter));
    assert_eq!(
        column_titles(&app, s.ids.board)[0]
            .1
            .last()
            .map(String::as_str),
        Some("Brand new card")
    );
    app.update(ch('r'));
    app.update(ctrl('u'));
    type_text(&mut app, "Renamed card");
    app.update(key(KeyCode::Enter));
    assert!(column_titles(&app, s.ids.board)[0]
        .1
        .contains(&"Renamed card".to_string()));
    app.update(ch('d'));
    assert!(!column_titles(&app, s.ids.board)[0]
        .1
        .contains(&"Renamed card".to_string()));
    assert!(app
        .workspace()
        .trashed_items()
        .iter()
        .any(|i| i.title == "Renamed card"));
    app.update(ch('C'));
    type_text(&mut app, "Review");
    app.update(key(KeyCode::Enter));
    app.update(ch('l'));
    app.update(ch('l'));
    app.update(ch('l'));
    app.update(ch('R'));
    app.update(ctrl('u'));
    type_text(&mut app, "In review");
    app.update(key(KeyCode::Enter));
    app.update(ch('w'));
    type_text(&mut app, "4");
    app.update(key(KeyCode::Enter));
    app.update(ch('<'));
    let board = app.workspace().board(s.ids.board, false).expect("board");
    assert_eq!(board.columns[2].name, "In review");
    assert_eq!(board.columns[2].wip_limit, Some(4));
    app.update(ch('D'));
    let names: Vec<String> = column_titles(&app, s.ids.board)
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(names, ["To do", "Doing", "Done"]);
}

#[test]
fn card_detail_edits_fields_and_threads() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    app.update(ch('j'));
    app.update(key(KeyCode::Enter));
    let id = s.ids.write_docs;
    for (k, text) in [
        ('t', "Write the guide"),
        ('l', "docs, writing"),
        ('a', "bob, carol"),
        ('D', "2026-12-31"),
    ] {
        app.update(ch(k));
        app.update(ctrl('u'));
        type_text(&mut app, text);
        app.update(key(KeyCode::Enter));
    }
    let card = app.workspace().card(id).expect("card");
    assert_eq!(card.title, "Write the guide");
    assert_eq!(card.labels, ["docs", "writing"]);
    assert_eq!(card.assignees, ["bob", "carol"]);
    assert_eq!(card.due.as_deref(), Some("2026-12-31"));
    app.update(ch('e'));
    type_text(&mut app, "Outline first.");
    app.update(key(KeyCode::Esc));
    assert_eq!(app.workspace().body(id).expect("body"), "Outline first.");
    app.update(ch('c'));
    type_text(&mut app, "Who reviews?");
    app.update(key(KeyCode::Enter));
    app.update(ch('r'));
    type_text(&mut app, "Me.");
    app.update(key(KeyCode::Enter));
    let thread = app.workspace().comments_on(id);
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[1].parent.as_ref(), Some(&thread[0].id));
    app.update(ch('x'));
    assert!(app.workspace().comments_on(id)[0].resolved);
    app.update(ch('x'));
    assert!(!app.workspace().comments_on(id)[0].resolved);
    assert_eq!(app.workspace().card(id).expect("card").comments, 2);
}

#[test]
fn doc_comments_are_anchored_and_follow_edits() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    for _ in 0.."Q4: sync over the ".len() {
        app.update(Msg::Key(KeyEvent::new(KeyCode::Right, KeyModifiers::NONE)));
    }
    // In view mode the caret moves by line; put it on "relay" through the editor.
    app.update(ch('i'));
    app.update(key(KeyCode::Home));
    for _ in 0.."Q4: sync over the ".len() {
        app.update(key(KeyCode::Right));
    }
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::ALT,
    )));
    type_text(&mut app, "Which relay?");
    app.update(key(KeyCode::Enter));
    let c = &app.workspace().comments_on(s.ids.roadmap)[0];
    assert_eq!(c.anchor, Some(18));
    assert!(c.context.contains("relay"), "{}", c.context);
    app.update(key(KeyCode::Home));
    type_text(&mut app, "Next: ");
    app.update(key(KeyCode::Esc));
    let c = &app.workspace().comments_on(s.ids.roadmap)[0];
    assert_eq!(c.anchor, Some(24), "the anchor moved with the text");
    // The panel lists it; resolving and reopening work from there.
    app.update(ch('c'));
    app.update(ch('x'));
    assert!(app.workspace().comments_on(s.ids.roadmap)[0].resolved);
    app.update(ch('x'));
    assert!(!app.workspace().comments_on(s.ids.roadmap)[0].resolved);
    let t = draw(&mut app, 120, 40);
    assert!(find(t.backend().buffer(), "Which relay?").is_some());
    assert!(find(t.backend().buffer(), "L1 local").is_some());
}

#[test]
fn search_jumps_to_the_hit() {
    let s = Sample::new();
    let mut app = s.app();
    app.update(ch('/'));
    type_text(&mut app, "relay");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.screen_name(), "VIEW");
    assert_eq!(app.editor().map(|e| e.target()), Some(s.ids.roadmap));
    assert_eq!(
        app.editor().map(|e| e.caret()),
        Some((0, 18)),
        "caret on the match"
    );
    app.update(ch('/'));
    type_text(&mut app, "join code");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.screen_name(), "CARD");
    assert_eq!(app.editor().map(|e| e.target()), Some(s.ids.invite));
    app.update(ch('/'));
    type_text(&mut app, "zzzz");
    let t = draw(&mut app, 80, 24);
    assert!(find(t.backend().buffer(), "no matches").is_some());
}

#[test]
fn trash_restores_and_purges_after_asking() {
    let s = Sample::new();
    let mut app = s.app();
    app.update(ch('T'));
    assert_eq!(app.screen_name(), "TRASH");
    let first = app.workspace().trashed_items()[0].clone();
    app.update(ch('r'));
    assert!(app.workspace().is_live(first.id));
    let next = app.workspace().trashed_items()[0].clone();
    app.update(ch('p'));
    app.update(ch('n'));
    assert!(app.workspace().kind_of(next.id).is_some(), "no means no");
    app.update(ch('p'));
    app.update(ch('y'));
    assert!(app.workspace().kind_of(next.id).is_none(), "purged");
    assert!(app.workspace().trashed_items().is_empty());
}

#[test]
fn history_restores_an_old_version_as_a_new_change() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.welcome));
    app.update(ch('H'));
    assert_eq!(app.screen_name(), "HISTORY");
    app.update(ch('j'));
    app.update(ch('j'));
    app.update(ch('r'));
    app.update(ch('y'));
    let body = app.workspace().body(s.ids.welcome).expect("body");
    assert_eq!(body, WELCOME, "the first version's text is back");
    assert_eq!(app.editor().map(|e| e.text()), Some(body));
    // The restore is itself a version: nothing was rewritten.
    assert_eq!(
        app.workspace()
            .doc_history(s.ids.welcome)
            .expect("history")
            .len(),
        4
    );
}

#[test]
fn keys_are_remapped_from_the_keymap_file() {
    let s = Sample::new();
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("keys.toml"),
        "[keys]\n\"board.move-card-right\" = [\"ctrl-right\"]\n",
    )
    .expect("write");
    let (keymap, notice) = Keymap::load(dir.path());
    assert!(notice.is_none());
    let mut app = s.app_with(dark(), keymap, Vec::new());
    app.open(Target::Board(s.ids.board));
    app.update(ch('L'));
    assert_eq!(
        column_titles(&app, s.ids.board)[0].1[0],
        "Invite a teammate",
        "L is unbound now"
    );
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Right,
        KeyModifiers::CONTROL,
    )));
    assert_eq!(
        column_titles(&app, s.ids.board)[1].1[0],
        "Invite a teammate"
    );
    app.update(ch('?'));
    let mut row = None;
    for _ in 0..12 {
        let t = draw(&mut app, 120, 40);
        let buf = t.backend().buffer();
        if let Some((_, y)) = find(buf, "board.move-card-right") {
            row = Some(row_text(buf, y));
            break;
        }
        app.update(key(KeyCode::PageDown));
    }
    let row = row.expect("listed in help");
    assert!(row.contains("ctrl-right"), "{row}");
}

#[test]
fn a_bad_keymap_file_is_reported_and_defaults_apply() {
    let s = Sample::new();
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("keys.toml"),
        "[keys]\n\"board.jump\" = \"x\"\n",
    )
    .expect("write");
    let (keymap, notice) = Keymap::load(dir.path());
    let notice = notice.expect("a message");
    assert!(
        notice.contains("unknown command \"board.jump\""),
        "{notice}"
    );
    let mut app = s.app_with(dark(), keymap, vec![notice]);
    let t = draw(&mut app, 120, 40);
    assert!(find(t.backend().buffer(), "using default keys").is_some());
    app.open(Target::Board(s.ids.board));
    app.update(ch('L'));
    assert_eq!(
        column_titles(&app, s.ids.board)[1].1[0],
        "Invite a teammate"
    );
}

#[test]
fn the_palette_runs_commands_by_name() {
    let s = Sample::new();
    let mut app = s.app();
    app.update(ch(':'));
    type_text(&mut app, "open the trash");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.screen_name(), "TRASH");
    app.update(ctrl('p'));
    type_text(&mut app, "move card right");
    app.update(key(KeyCode::Enter));
    assert!(app
        .status_text()
        .unwrap_or_default()
        .contains("works on a board"));
}

#[test]
fn copy_sends_a_card_link_or_the_doc_text() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    let fx = app.update(ch('y'));
    assert_eq!(
        fx,
        [Effect::Copy(format!("weft://team/card/{}", s.ids.invite))]
    );
    app.open(Target::Doc(s.ids.roadmap));
    let fx = app.update(ch('y'));
    assert_eq!(fx, [Effect::Copy("Q4: sync over the relay.\n".into())]);
}

#[test]
fn quit_and_suspend_work_everywhere_but_q_is_typed_in_text() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    assert!(app.update(ch('q')).iter().all(|e| *e != Effect::Quit));
    assert!(app
        .workspace()
        .body(s.ids.roadmap)
        .expect("body")
        .starts_with('q'));
    assert_eq!(app.update(ctrl('z')), [Effect::Suspend]);
    app.update(ch('?'));
    assert_eq!(app.update(ctrl('q')), [Effect::Quit]);
    assert!(app.should_quit());
}

#[test]
fn docs_and_pages_are_created_from_the_sidebar() {
    let s = Sample::new();
    let mut app = s.app();
    app.update(ch('n'));
    type_text(&mut app, "Plans");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.screen_name(), "VIEW");
    let plans = app.editor().map(|e| e.target()).expect("opened");
    app.update(key(KeyCode::Esc));
    app.update(ch('N'));
    type_text(&mut app, "Q1 plan");
    app.update(key(KeyCode::Enter));
    let child = app.editor().map(|e| e.target()).expect("opened");
    assert_eq!(app.workspace().doc(child).expect("doc").parent, Some(plans));
    app.update(key(KeyCode::Esc));
    app.update(ch('d'));
    assert!(!app.workspace().is_live(child));
    assert_eq!(app.screen_name(), "HOME");
    app.update(ch('b'));
    type_text(&mut app, "Sprint");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.screen_name(), "BOARD");
    assert!(app
        .workspace()
        .find_by_title("Sprint")
        .iter()
        .any(|(_, k)| *k == ItemKind::Board));
}

#[test]
fn theme_comes_from_the_flag_then_the_config_file() {
    let s = Sample::new();
    let root = tempfile::tempdir().expect("dir");
    let home = weft::store::Home::at(root.path());
    std::fs::create_dir_all(&home.config).expect("config dir");
    std::fs::write(home.config_file(), "theme = \"light\"\n").expect("write");
    let open = || s.other_process("local");
    let app = weft::tui::build_app(open(), &home, "team", None);
    assert_eq!(app.theme().name(), "light");
    let app = weft::tui::build_app(open(), &home, "team", Some("high-contrast"));
    assert_eq!(app.theme().name(), "high-contrast");
    std::fs::create_dir_all(home.config.join("themes")).expect("themes dir");
    std::fs::write(
        home.config.join("themes").join("mine.toml"),
        "inherits = \"ansi16\"\n[colors]\nerror = \"magenta\"\n",
    )
    .expect("write");
    let app = weft::tui::build_app(open(), &home, "team", Some("mine"));
    assert_eq!(app.theme().name(), "mine");
    let app = weft::tui::build_app(open(), &home, "team", Some("nope"));
    assert!(app
        .status_text()
        .unwrap_or_default()
        .contains("no theme called \"nope\""));
    std::fs::write(home.config_file(), "theme = 3\n").expect("write");
    let app = weft::tui::build_app(open(), &home, "team", None);
    assert!(app
        .status_text()
        .unwrap_or_default()
        .contains("config.toml"));
}

#[test]
fn the_mouse_is_ignored_unless_turned_on() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.welcome));
    let wheel = || {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 40,
            row: 10,
            modifiers: KeyModifiers::NONE,
        })
    };
    app.update(wheel());
    assert_eq!(app.editor().map(|e| e.caret().0), Some(0), "off by default");
    app.set_mouse(true);
    app.update(wheel());
    assert_eq!(
        app.editor().map(|e| e.caret().0),
        Some(3),
        "the wheel scrolls three lines"
    );
}
