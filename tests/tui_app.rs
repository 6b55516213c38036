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

#[test]
fn end_in_view_mode_goes_to_the_end_of_the_doc() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.welcome));
    app.update(ch('G'));
    let ed = app.editor().expect("editor");
    assert_eq!(
        ed.caret_offset(),
        ed.len_chars(),
        "the end, not the last line's start"
    );
    app.update(ch('i'));
    type_text(&mut app, " END");
    app.update(key(KeyCode::Esc));
    app.update(Msg::Flush);
    let body = app.workspace().body(s.ids.welcome).expect("body");
    assert!(body.ends_with("paragraph. END"), "{body}");
    // ctrl-End while editing, from the first line: the end again.
    app.update(ch('g'));
    app.update(ch('i'));
    app.update(Msg::Key(KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL)));
    type_text(&mut app, "!");
    let body = app.workspace().body(s.ids.welcome).expect("body");
    assert!(body.ends_with("paragraph. END!"), "{body}");
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Home,
        KeyModifiers::CONTROL,
    )));
    type_text(&mut app, "^");
    let body = app.workspace().body(s.ids.welcome).expect("body");
    assert!(body.starts_with("^# Welcome"), "{body}");
}

#[test]
fn tabs_are_drawn_to_the_next_tab_stop_in_view_edit_and_history() {
    let s = Sample::new();
    let mut r = s.other_process("local");
    r.workspace()
        .set_body(s.ids.roadmap, "a\tb\n\tindented\nab\tc")
        .expect("body");
    r.flush().expect("flush");
    drop(r);
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    let t = draw(&mut app, 80, 24);
    let shown = screen(t.backend().buffer());
    // Columns of 4: "a" then three spaces; a tab at the start is four; "ab" then two.
    for want in ["a   b ", "      indented", "  ab  c "] {
        assert!(shown.contains(want), "{want:?} in view mode:\n{shown}");
    }
    // Where the text starts in view mode, and so where each character is.
    let (bx, by) = find(t.backend().buffer(), "a   b").expect("first line");
    let (cx, cy) = find(t.backend().buffer(), "ab  c").expect("last line");
    assert_eq!((cx, cy), (bx, by + 2));
    app.update(ch('i'));
    // The caret after the tab of "ab\tc", while editing: column 4 of the text.
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::End));
    app.update(key(KeyCode::Left));
    let t = draw(&mut app, 80, 24);
    let shown = screen(t.backend().buffer());
    for want in ["a   b", "    indented", "ab  c"] {
        assert!(shown.contains(want), "{want:?} in edit mode:\n{shown}");
    }
    let (ex, ey) = find(t.backend().buffer(), "ab  c").expect("last line");
    let caret = t.backend().buffer()[(ex + 4, ey)].style();
    assert!(
        caret
            .add_modifier
            .contains(ratatui::style::Modifier::REVERSED)
            || caret.bg != t.backend().buffer()[(ex + 5, ey)].style().bg,
        "the caret is drawn on the 'c' after the tab"
    );
    app.update(key(KeyCode::Esc));
    app.update(ch('H'));
    let screen = format!("{}", draw(&mut app, 120, 40).backend());
    assert!(screen.contains("a   b"), "{screen}");
    assert!(screen.contains("ab  c"), "{screen}");
}

#[test]
fn the_help_overlay_is_filtered_with_slash() {
    let s = Sample::new();
    let mut app = s.app();
    app.update(ch('?'));
    let all = format!("{}", draw(&mut app, 80, 24).backend());
    assert!(all.contains("/ filter"), "{all}");
    app.update(ch('/'));
    type_text(&mut app, "trash");
    assert_eq!(app.screen_name(), "HELP", "typing went into the filter");
    let t = draw(&mut app, 80, 24);
    let shown = format!("{}", t.backend());
    assert!(shown.contains("Open the trash"), "{shown}");
    assert!(shown.contains("Take the item out of the trash"), "{shown}");
    assert!(
        !shown.contains("Next line"),
        "other keys are gone:\n{shown}"
    );
    assert!(!shown.contains("Create a doc"), "{shown}");
    // A scope's title matches all of its keys.
    assert!(shown.contains("Next item"), "{shown}");
    // Two words: both must match.
    type_text(&mut app, " purge");
    let shown = format!("{}", draw(&mut app, 80, 24).backend());
    assert!(shown.contains("Delete the item for good"), "{shown}");
    assert!(!shown.contains("Open the trash"), "{shown}");
    type_text(&mut app, " zzz");
    let shown = format!("{}", draw(&mut app, 80, 24).backend());
    assert!(shown.contains("no key matches"), "{shown}");
    // Esc clears the filter; the next one closes help.
    app.update(key(KeyCode::Esc));
    let shown = format!("{}", draw(&mut app, 80, 24).backend());
    assert!(shown.contains("Quit weft"), "{shown}");
    assert!(
        shown.contains("/ filter · j/k scroll"),
        "the whole list again: {shown}"
    );
    assert_eq!(app.screen_name(), "HELP");
    // Enter keeps a filter and goes back to scrolling; esc then clears it.
    app.update(ch('/'));
    type_text(&mut app, "board");
    app.update(key(KeyCode::Enter));
    app.update(ch('j'));
    assert_eq!(app.screen_name(), "HELP");
    let shown = format!("{}", draw(&mut app, 80, 24).backend());
    assert!(shown.contains("/board"), "{shown}");
    app.update(key(KeyCode::Esc));
    assert_eq!(app.screen_name(), "HELP");
    app.update(key(KeyCode::Esc));
    assert_ne!(app.screen_name(), "HELP");
}

#[test]
fn history_lists_who_and_what_changed_in_each_version() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::History(s.ids.welcome));
    let t = draw(&mut app, 120, 40);
    let screen = format!("{}", t.backend());
    // A workspace that is not shared has one writer: this user.
    assert!(screen.contains("v3 you · now"), "{screen}");
    assert!(screen.contains("+5 −4 ‘Final’"), "{screen}");
    assert!(
        screen.contains("+27 −0 ‘Bob added this paragraph.’"),
        "{screen}"
    );
    // Narrower, the quote is cut and still closed.
    let screen = format!("{}", draw(&mut app, 80, 24).backend());
    assert!(screen.contains("+27 −0 ‘Bob added"), "{screen}");
    assert!(screen.contains("…’"), "{screen}");
}

#[test]
fn long_messages_are_shortened_and_kept_whole_in_the_message_log() {
    let s = Sample::new();
    let mut app = s.app();
    let long = "could not reach the bucket at https://storage.example.com/team-bucket: \
                connection refused after 3 tries; changes stay queued and are sent later";
    app.notice(long, true);
    let t = draw(&mut app, 80, 24);
    let bar = row_text(t.backend().buffer(), 23);
    assert!(
        bar.contains("✗ could not reach the bucket"),
        "the start shows: {bar}"
    );
    assert!(
        bar.contains("(ctrl-g all)"),
        "and where to read the rest: {bar}"
    );
    assert!(
        bar.contains("sync: off"),
        "the sync state keeps its place: {bar}"
    );
    // A short message leaves room for the workspace and identity.
    app.notice("saved", false);
    let bar = row_text(draw(&mut app, 80, 24).backend().buffer(), 23);
    assert!(
        bar.contains("team") && bar.contains("local") && bar.contains("saved"),
        "{bar}"
    );
    // The log shows every message, whole.
    app.update(ctrl('g'));
    assert_eq!(app.screen_name(), "MESSAGES");
    let shown = screen(draw(&mut app, 80, 24).backend().buffer());
    let flat: String = shown.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("sent later"), "{shown}");
    assert!(flat.contains("saved"), "{shown}");
    app.update(key(KeyCode::Esc));
    // `:messages` in the palette opens it too.
    app.update(ch(':'));
    type_text(&mut app, "messages");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.screen_name(), "MESSAGES");
    app.update(key(KeyCode::Esc));
    // The log is bounded: the oldest go, and it says how many.
    for i in 0..weft::tui::app::MAX_MESSAGES + 5 {
        app.notice(&format!("message {i}"), false);
    }
    let (kept, dropped) = app.messages();
    assert_eq!(kept.len(), weft::tui::app::MAX_MESSAGES);
    assert_eq!(
        dropped, 7,
        "the two first messages and five of the numbered ones"
    );
    assert_eq!(
        kept.last().map(|m| m.text.as_str()),
        Some(format!("message {}", weft::tui::app::MAX_MESSAGES + 4).as_str())
    );
    // The same message again is counted, not repeated.
    app.notice("again", false);
    app.notice("again", false);
    let (kept, _) = app.messages();
    assert_eq!(kept.last().map(|m| m.repeats), Some(2));
}

#[test]
fn the_trash_message_says_what_happened_first_and_fits() {
    let s = Sample::new();
    let mut app = s.app();
    app.update(ch('j'));
    app.update(ch('d'));
    let bar = row_text(draw(&mut app, 80, 24).backend().buffer(), 23);
    assert!(
        bar.contains("trashed “Team notes” (T opens the trash)"),
        "{bar}"
    );
}

#[test]
fn below_the_smallest_size_no_key_reaches_the_hidden_screen() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    assert!(app.is_editing());
    let before = app.workspace().body(s.ids.roadmap).expect("body");
    for (w, h) in [(39, 24), (80, 11), (30, 10)] {
        let t = draw(&mut app, w, h);
        let shown = screen(t.backend().buffer());
        let flat: String = shown.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("terminal too small"), "{shown}");
        type_text(&mut app, "typed blind\n");
        app.update(Msg::Paste("pasted blind".into()));
        app.update(key(KeyCode::Esc));
        app.update(ch('q'));
        assert!(!app.should_quit(), "a plain q is dropped too");
        assert_eq!(app.workspace().body(s.ids.roadmap).expect("body"), before);
        assert!(app.is_editing(), "esc did not reach the editor either");
    }
    // Back at a size that is drawn, typing works again.
    draw(&mut app, 40, 12);
    type_text(&mut app, "seen");
    assert!(app
        .workspace()
        .body(s.ids.roadmap)
        .expect("body")
        .starts_with("seen"));
    // Quitting still works when too small.
    draw(&mut app, 20, 5);
    app.update(ctrl('q'));
    assert!(app.should_quit());
}

#[test]
fn narrow_panes_take_turns_and_keys_go_to_the_one_shown() {
    let s = Sample::new();
    let mut app = s.app();
    for (w, h) in [(60, 15), (40, 12)] {
        app.open(Target::Doc(s.ids.roadmap));
        let shown = screen(draw(&mut app, w, h).backend().buffer());
        assert!(shown.contains("Q4: sync over the relay."), "{shown}");
        assert!(
            !shown.contains("DOCS"),
            "the sidebar is folded away:\n{shown}"
        );
        assert!(
            shown.contains("tab sidebar"),
            "and says how to get it:\n{shown}"
        );
        // Tab shows the sidebar instead; keys then go to it, not to the doc.
        app.update(key(KeyCode::Tab));
        let shown = screen(draw(&mut app, w, h).backend().buffer());
        assert!(shown.contains("DOCS"), "{shown}");
        assert!(!shown.contains("Q4: sync"), "{shown}");
        let before = app.workspace().body(s.ids.roadmap).expect("body");
        type_text(&mut app, "iixyz");
        assert!(!app.is_editing());
        assert_eq!(app.workspace().body(s.ids.roadmap).expect("body"), before);
        // Opening from the sidebar shows the doc again.
        app.update(key(KeyCode::Tab));
        app.update(ch('i'));
        type_text(&mut app, "ok ");
        assert!(app
            .workspace()
            .body(s.ids.roadmap)
            .expect("body")
            .starts_with("ok "));
        let shown = screen(draw(&mut app, w, h).backend().buffer());
        assert!(shown.contains("ok Q4"), "{shown}");
        app.update(key(KeyCode::Esc));
    }
    // A doc left in edit mode behind the sidebar gets no paste either.
    app.update(ch('i'));
    app.update(Msg::Run(weft::tui::Command::FocusNext));
    let shown = screen(draw(&mut app, 40, 12).backend().buffer());
    assert!(shown.contains("DOCS"), "{shown}");
    let before = app.workspace().body(s.ids.roadmap).expect("body");
    app.update(Msg::Paste("pasted where it is not seen".into()));
    assert_eq!(app.workspace().body(s.ids.roadmap).expect("body"), before);
}
