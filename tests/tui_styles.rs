//! Where colour carries meaning, check the cells' styles: focus, selection, errors, an over-limit
//! column, the caret, Markdown emphasis. Also that meaning survives without colour (NO_COLOR) and that
//! every built-in theme and colour depth draws every screen.

mod tui_support;

use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use tui_support::*;
use weft::tui::theme::Slot;
use weft::tui::{ColorMode, Command, Keymap, Msg, Target, Theme};

fn cell_at(buf: &Buffer, needle: &str) -> ratatui::buffer::Cell {
    let (x, y) =
        find(buf, needle).unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", screen(buf)));
    buf[(x, y)].clone()
}

#[test]
fn the_focused_pane_is_thick_and_in_the_focus_colour() {
    let s = Sample::new();
    let mut app = s.app();
    let theme = dark();
    let t = draw(&mut app, 80, 24);
    let buf = t.backend().buffer();
    // The sidebar has focus at start.
    assert_eq!(buf[(0, 0)].symbol(), "┏");
    assert_eq!(buf[(0, 0)].fg, theme.color(Slot::BorderFocus));
    assert!(buf[(0, 0)].modifier.contains(Modifier::BOLD));
    let main_x = find(buf, "┌ weft").map(|(x, _)| x).expect("main pane");
    assert_eq!(buf[(main_x, 0)].fg, theme.color(Slot::Border));
    // Tab moves focus to the main pane.
    app.update(Msg::Run(Command::FocusNext));
    let t = draw(&mut app, 80, 24);
    let buf = t.backend().buffer();
    assert_eq!(buf[(0, 0)].symbol(), "┌");
    assert_eq!(buf[(main_x, 0)].symbol(), "┏");
    assert_eq!(buf[(main_x, 0)].fg, theme.color(Slot::BorderFocus));
}

#[test]
fn the_selected_row_uses_the_selection_style() {
    let s = Sample::new();
    let mut app = s.app();
    let theme = dark();
    let t = draw(&mut app, 80, 24);
    let selected = cell_at(t.backend().buffer(), "Welcome");
    assert_eq!(selected.bg, theme.color(Slot::SelectionBg));
    assert!(selected.modifier.contains(Modifier::BOLD));
    let other = cell_at(t.backend().buffer(), "Roadmap");
    assert_ne!(other.bg, theme.color(Slot::SelectionBg));
    app.update(ch('j'));
    let t = draw(&mut app, 80, 24);
    assert_eq!(
        cell_at(t.backend().buffer(), "Team notes").bg,
        theme.color(Slot::SelectionBg)
    );
}

#[test]
fn errors_in_the_status_bar_are_red_and_bold() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Card(s.ids.invite));
    app.update(ch('D'));
    app.update(ctrl('u'));
    type_text(&mut app, "soon");
    app.update(key(KeyCode::Enter));
    let theme = dark();
    let t = draw(&mut app, 80, 24);
    let err = cell_at(t.backend().buffer(), "invalid due date");
    assert_eq!(err.fg, theme.color(Slot::Error));
    assert!(err.modifier.contains(Modifier::BOLD));
    // Esc gives up; an error from an action shows in the status bar the same way.
    app.update(key(KeyCode::Esc));
    app.open(Target::Board(s.ids.board));
    app.update(ch('w'));
    type_text(&mut app, "x");
    app.update(key(KeyCode::Enter));
    let t = draw(&mut app, 80, 24);
    let err = cell_at(t.backend().buffer(), "is not a number");
    assert_eq!(err.fg, theme.color(Slot::Error));
}

#[test]
fn a_column_over_its_wip_limit_is_marked_without_relying_on_colour() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Board(s.ids.board));
    let theme = dark();
    let t = draw(&mut app, 120, 40);
    let buf = t.backend().buffer();
    let over = cell_at(buf, "3/2 !");
    assert_eq!(over.fg, theme.color(Slot::Error));
    assert!(over.modifier.contains(Modifier::BOLD));
    let fine = cell_at(buf, "3/5");
    assert_ne!(fine.fg, theme.color(Slot::Error));
    assert!(find(buf, "3/5 !").is_none());
}

#[test]
fn the_caret_is_reversed_in_the_editor() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    app.update(key(KeyCode::End));
    let t = draw(&mut app, 80, 24);
    let buf = t.backend().buffer();
    let (x, y) = find(buf, "relay.").expect("text");
    let caret = &buf[(x + 6, y)];
    assert!(caret.modifier.contains(Modifier::REVERSED), "{caret:?}");
    assert!(!buf[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn markdown_headings_and_code_are_styled_in_view_mode() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.welcome));
    let theme = dark();
    let t = draw(&mut app, 120, 40);
    let buf = t.backend().buffer();
    let heading = cell_at(buf, "Getting around");
    assert_eq!(heading.fg, theme.color(Slot::Heading));
    assert!(heading.modifier.contains(Modifier::BOLD));
    assert_eq!(cell_at(buf, "fn main").fg, theme.color(Slot::Code));
    assert!(cell_at(buf, "documents").modifier.contains(Modifier::BOLD));
    let link = cell_at(buf, "guide]");
    assert!(link.modifier.contains(Modifier::UNDERLINED));
    assert_eq!(link.fg, theme.color(Slot::Link));
}

#[test]
fn no_color_draws_no_colour_but_keeps_focus_and_selection_visible() {
    let s = Sample::new();
    let theme = Theme::builtin("dark", ColorMode::NoColor).expect("theme");
    let mut app = s.app_with(theme, Keymap::defaults(), Vec::new());
    for target in [
        Target::Board(s.ids.board),
        Target::Doc(s.ids.welcome),
        Target::Trash,
    ] {
        app.open(target);
        let t = draw(&mut app, 120, 40);
        let buf = t.backend().buffer();
        for cell in buf.content() {
            assert!(
                matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset),
                "{cell:?}"
            );
        }
    }
    app.update(Msg::Run(Command::FocusNext));
    let t = draw(&mut app, 80, 24);
    let buf = t.backend().buffer();
    let sel = cell_at(buf, "Trash (");
    assert!(
        sel.modifier.contains(Modifier::REVERSED),
        "selection shows as reverse video"
    );
    assert_eq!(buf[(0, 0)].symbol(), "┏", "focus shows as a thick border");
}

#[test]
fn every_theme_and_colour_depth_draws_every_screen() {
    let s = Sample::new();
    for (name, _) in weft::tui::theme::BUILTIN {
        for mode in [
            ColorMode::TrueColor,
            ColorMode::Ansi256,
            ColorMode::Ansi16,
            ColorMode::NoColor,
        ] {
            let theme = Theme::builtin(name, mode).expect("theme");
            let mut app = s.app_with(theme.clone(), Keymap::defaults(), Vec::new());
            for target in [
                Target::Doc(s.ids.welcome),
                Target::Board(s.ids.board),
                Target::Card(s.ids.invite),
                Target::Trash,
                Target::History(s.ids.welcome),
            ] {
                app.open(target);
                let t = draw(&mut app, 80, 24);
                let buf = t.backend().buffer();
                for cell in buf.content() {
                    match mode {
                        ColorMode::Ansi16 | ColorMode::NoColor => assert!(
                            !matches!(cell.fg, Color::Rgb(..) | Color::Indexed(_)),
                            "{name} {mode:?}: {:?}",
                            cell.fg
                        ),
                        ColorMode::Ansi256 => assert!(!matches!(cell.fg, Color::Rgb(..))),
                        ColorMode::TrueColor => {}
                    }
                }
            }
        }
    }
}

#[test]
fn hostile_text_from_the_workspace_never_reaches_the_terminal() {
    let s = Sample::new();
    let mut other = s.other_process("mallory");
    let ws = other.workspace();
    let evil = "\u{1b}]52;c;aGk=\u{7}\u{1b}[2J\u{202e}evil\u{0}\u{9b}31m";
    let doc = ws.create_doc(&format!("Title {evil}"), None).expect("doc");
    ws.set_body(doc, &format!("body {evil}\nline two {evil}"))
        .expect("body");
    ws.add_comment(doc, &format!("comment {evil}"), Some(0), None)
        .expect("comment");
    let fields = weft::model::CardFields {
        title: format!("Card {evil}"),
        labels: vec![format!("l{evil}")],
        assignees: vec![format!("a{evil}")],
        due: None,
    };
    let card = ws.add_card(s.ids.todo, &fields, evil).expect("card");
    ws.set_title(s.ids.doing, &format!("Col {evil}"))
        .expect("rename");
    other.flush().expect("flush");
    let mut app = s.app();
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    let mut screens = 0;
    for target in [
        Target::Doc(doc),
        Target::Board(s.ids.board),
        Target::Card(card),
        Target::History(doc),
    ] {
        app.open(target);
        for m in [None, Some(ch('c')), Some(ch('i'))] {
            if let Some(m) = m {
                app.update(m);
            }
            for (w, h) in SIZES {
                let t = draw(&mut app, w, h);
                for cell in t.backend().buffer().content() {
                    assert!(
                        !cell.symbol().chars().any(unsafe_char),
                        "{:?} on {target:?}",
                        cell.symbol()
                    );
                }
                screens += 1;
            }
            app.update(key(KeyCode::Esc));
        }
    }
    app.update(ch('/'));
    type_text(&mut app, "evil");
    let t = draw(&mut app, 120, 40);
    assert!(
        find(t.backend().buffer(), "evil").is_some(),
        "the text itself is shown"
    );
    for cell in t.backend().buffer().content() {
        assert!(!cell.symbol().chars().any(unsafe_char));
    }
    assert!(screens >= 24);
}
