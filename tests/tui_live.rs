//! The app next to other processes on the same home: their commits appear (and the caret stays),
//! ours reach the store in batches, the search index keeps up with both, and long histories.

mod tui_support;

use crossterm::event::KeyCode;
use tui_support::*;
use weft::tui::{Effect, Keymap, Msg, Target};

#[test]
fn changes_from_another_process_appear_and_the_caret_stays() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    app.update(key(KeyCode::End));
    type_text(&mut app, " Soon");
    app.update(Msg::Flush);
    let caret = app.editor().map(|e| e.caret()).expect("editor");
    let mut other = s.other_process("script");
    other
        .workspace()
        .text(s.ids.roadmap)
        .expect("text")
        .insert(0, "Inserted by a script\n")
        .expect("insert");
    other.workspace().commit();
    let fields = weft::model::CardFields {
        title: "From a script".into(),
        ..Default::default()
    };
    other
        .workspace()
        .add_card(s.ids.done, &fields, "")
        .expect("card");
    other.flush().expect("flush");
    app.update(Msg::Refresh);
    let ed = app.editor().expect("editor");
    assert_eq!(
        ed.text(),
        app.workspace().body(s.ids.roadmap).expect("body")
    );
    assert_eq!(
        ed.caret(),
        (caret.0 + 1, caret.1),
        "same character, one line down"
    );
    type_text(&mut app, "!");
    assert!(app
        .workspace()
        .body(s.ids.roadmap)
        .expect("body")
        .ends_with("Soon!\n"));
    let t = draw(&mut app, 80, 24);
    assert!(
        find(t.backend().buffer(), "Launch 8").is_some(),
        "sidebar counts the new card"
    );
}

#[test]
fn edits_are_flushed_in_batches_and_reach_the_store() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    let mut scheduled = 0;
    for c in "Batched ".chars() {
        scheduled += app
            .update(ch(c))
            .iter()
            .filter(|e| **e == Effect::ScheduleFlush)
            .count();
    }
    assert_eq!(scheduled, 1, "one flush for a burst of keys");
    assert!(app.has_unsaved());
    app.update(Msg::Flush);
    assert!(!app.has_unsaved());
    let other = s.other_process("reader");
    assert!(other
        .workspace()
        .body(s.ids.roadmap)
        .expect("body")
        .starts_with("Batched "));
    let fx = app.update(Msg::Paste("pasted\r\ntext".into()));
    assert!(fx.contains(&Effect::ScheduleFlush));
    assert!(app
        .workspace()
        .body(s.ids.roadmap)
        .expect("body")
        .starts_with("Batched pasted\ntext"));
}

#[test]
fn text_typed_while_another_process_writes_is_still_found_by_search() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    type_text(&mut app, "zeppelin ");
    let mut other = s.other_process("script");
    other
        .workspace()
        .create_doc("Elsewhere", None)
        .expect("doc");
    other.flush().expect("flush");
    app.update(Msg::Refresh);
    app.update(Msg::Flush);
    let hits = app.replica().search("zeppelin", 5).expect("search");
    assert_eq!(hits.len(), 1, "the index has the typed word");
    assert_eq!(hits[0].title, "Roadmap");
    let t = draw(&mut app, 80, 24);
    assert!(find(t.backend().buffer(), "Elsewhere").is_some());
}

#[test]
fn a_flush_does_not_swallow_what_another_process_committed_just_before() {
    let s = Sample::new();
    let mut app = s.app();
    app.open(Target::Doc(s.ids.roadmap));
    app.update(ch('i'));
    type_text(&mut app, "mine ");
    let mut other = s.other_process("script");
    other.workspace().create_doc("Theirs", None).expect("doc");
    other.flush().expect("flush");
    // Our batched flush runs before the next refresh tick.
    app.update(Msg::Flush);
    app.update(Msg::Refresh);
    let titles: Vec<String> = app
        .workspace()
        .docs(false)
        .into_iter()
        .map(|d| d.title)
        .collect();
    assert!(titles.contains(&"Theirs".to_string()), "{titles:?}");
    let t = draw(&mut app, 80, 24);
    assert!(find(t.backend().buffer(), "Theirs").is_some());
    // And the other way round: they see ours.
    other.refresh().expect("refresh");
    assert!(other
        .workspace()
        .body(s.ids.roadmap)
        .expect("body")
        .starts_with("mine "));
}

#[test]
fn a_long_history_lists_the_newest_versions() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("w").join("weft.db");
    let mut r = weft::store::Replica::create(&path, "w", "local", weft::model::Clock::Fixed(T0))
        .expect("create");
    let ws = r.workspace();
    let doc = ws.create_doc("Log", None).expect("doc");
    for i in 0..60 {
        // A commit message keeps Loro from merging the changes, so each is a version.
        ws.loro().set_next_commit_message(&format!("entry {i}"));
        ws.append_body(doc, &format!("entry {i}\n"))
            .expect("append");
    }
    r.flush().expect("flush");
    let versions = r.workspace().doc_history(doc).expect("history").len();
    assert!(versions > 50, "{versions}");
    let mut app = weft::tui::App::new(
        r,
        weft::tui::AppOptions {
            workspace: "w".into(),
            identity: "local".into(),
            theme: dark(),
            keymap: Keymap::defaults(),
            notices: Vec::new(),
        },
    );
    app.open(Target::History(doc));
    let t = draw(&mut app, 120, 40);
    let text = screen(t.backend().buffer());
    assert!(
        text.contains(&format!("v{versions} of {versions}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} older not listed", versions - 50)),
        "{text}"
    );
    assert!(text.contains("entry 0"));
}
