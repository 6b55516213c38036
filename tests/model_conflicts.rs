//! The conflict rules of DESIGN.md, each built across replicas and checked on every replica.

mod common;

use common::{replicas, send, state, sync_all};
use weft::model::{CardFields, ItemKind, TrashStatus};

fn card(title: &str) -> CardFields {
    CardFields {
        title: title.into(),
        ..Default::default()
    }
}

#[test]
fn concurrent_edits_of_one_text_merge_without_loss() {
    let r = replicas(2);
    let doc = r[0].create_doc("Plan", None).unwrap();
    r[0].set_body(doc, "hello world").unwrap();
    sync_all(&r);
    // Alice types at the start, Bob at the end, offline from each other.
    r[0].text(doc).unwrap().insert(0, "Alice: ").unwrap();
    r[1].text(doc).unwrap().insert(11, " — Bob").unwrap();
    sync_all(&r);
    for ws in &r {
        assert_eq!(ws.body(doc).unwrap(), "Alice: hello world — Bob");
    }
}

#[test]
fn concurrent_moves_of_one_card_leave_it_in_exactly_one_column() {
    let r = replicas(3);
    let board = r[0]
        .create_board("Work", &["To do", "Doing", "Done"])
        .unwrap();
    let cols: Vec<_> = r[0]
        .board(board, false)
        .unwrap()
        .columns
        .iter()
        .map(|c| c.id)
        .collect();
    let c = r[0].add_card(cols[0], &card("Fix login"), "").unwrap();
    sync_all(&r);
    r[1].move_card(c, cols[1], None).unwrap();
    r[2].move_card(c, cols[2], Some(0)).unwrap();
    sync_all(&r);
    let views: Vec<_> = r.iter().map(|ws| ws.board(board, false).unwrap()).collect();
    for v in &views {
        let places: Vec<_> = v
            .columns
            .iter()
            .filter(|col| col.cards.iter().any(|k| k.id == c))
            .map(|col| col.name.clone())
            .collect();
        assert_eq!(
            places.len(),
            1,
            "card must be in exactly one column: {places:?}"
        );
        let total: usize = v
            .columns
            .iter()
            .map(|col| col.cards.iter().filter(|k| k.id == c).count())
            .sum();
        assert_eq!(total, 1);
    }
    assert_eq!(state(&r[0]), state(&r[1]));
    assert_eq!(state(&r[1]), state(&r[2]));
}

#[test]
fn trash_concurrent_with_an_edit_restores_the_item_with_a_reason() {
    let r = replicas(2);
    let doc = r[0].create_doc("Spec", None).unwrap();
    sync_all(&r);
    r[0].trash(doc).unwrap();
    r[1].append_body(doc, "one more paragraph").unwrap();
    // Before they meet, each sees its own view.
    assert!(r[0].trash_status(doc).is_trashed());
    assert!(r[1].trash_status(doc).is_live());
    sync_all(&r);
    for ws in &r {
        match ws.trash_status(doc) {
            TrashStatus::Restored { by, reason, .. } => {
                assert_eq!(by, "alice");
                assert!(reason.contains("edited"), "reason: {reason}");
            }
            other => panic!("expected restored, got {other:?}"),
        }
        assert!(ws.docs(false).iter().any(|d| d.id == doc));
        assert_eq!(ws.body(doc).unwrap(), "one more paragraph");
        assert!(ws.trashed_items().is_empty());
    }
}

#[test]
fn trash_seen_before_later_activity_stays_trashed() {
    // An edit made before the trash (and seen by the trasher) does not revive it.
    let r = replicas(2);
    let doc = r[0].create_doc("Old", None).unwrap();
    sync_all(&r);
    r[1].append_body(doc, "edit first").unwrap();
    sync_all(&r);
    r[0].trash(doc).unwrap();
    sync_all(&r);
    for ws in &r {
        assert!(ws.trash_status(doc).is_trashed());
        assert_eq!(ws.trashed_items().len(), 1);
        assert!(
            ws.append_body(doc, "x").is_err(),
            "editing a trashed doc is refused"
        );
    }
}

#[test]
fn comment_on_an_item_trashed_concurrently_restores_it() {
    let r = replicas(2);
    let board = r[0].create_board("B", &["Col"]).unwrap();
    let col = r[0].board(board, false).unwrap().columns[0].id;
    let c = r[0].add_card(col, &card("Card"), "desc").unwrap();
    sync_all(&r);
    r[0].trash(c).unwrap();
    r[1].add_comment(c, "wait, I still need this", None, None)
        .unwrap();
    sync_all(&r);
    for ws in &r {
        match ws.trash_status(c) {
            TrashStatus::Restored { reason, .. } => {
                assert!(reason.contains("bob commented"), "{reason}")
            }
            other => panic!("expected restored, got {other:?}"),
        }
        assert_eq!(ws.board(board, false).unwrap().columns[0].cards.len(), 1);
    }
}

#[test]
fn comment_whose_target_was_purged_is_kept_as_detached() {
    let r = replicas(2);
    let doc = r[0].create_doc("Draft", None).unwrap();
    r[0].set_body(doc, "the quick brown fox").unwrap();
    sync_all(&r);
    let comment = r[1].add_comment(doc, "fox?", Some(16), None).unwrap();
    r[0].trash(doc).unwrap();
    send(&r[1], &r[0]); // the comment arrives concurrently with the trash: doc is revived...
    assert!(!r[0].trash_status(doc).is_trashed());
    r[0].trash(doc).unwrap(); // ...so Alice trashes it again, having seen the comment,
    r[0].purge(doc).unwrap(); // and purges it.
    sync_all(&r);
    for ws in &r {
        assert!(ws.kind_of(doc).is_none());
        let detached = ws.detached_comments();
        assert_eq!(detached.len(), 1);
        assert_eq!(detached[0].id, comment);
        assert_eq!(detached[0].body, "fox?");
        assert!(detached[0].context.contains("Draft") && detached[0].context.contains("fox"));
    }
}

#[test]
fn concurrent_field_writes_pick_the_same_winner_everywhere() {
    let r = replicas(3);
    let board = r[0].create_board("B", &["Col"]).unwrap();
    let col = r[0].board(board, false).unwrap().columns[0].id;
    let c = r[0].add_card(col, &card("Card"), "").unwrap();
    sync_all(&r);
    r[0].set_title(c, "Title by Alice").unwrap();
    r[1].set_title(c, "Title by Bob").unwrap();
    let mut f = r[2].card(c).unwrap();
    let mut fields = CardFields {
        title: f.title.clone(),
        labels: vec!["urgent".into()],
        assignees: std::mem::take(&mut f.assignees),
        due: Some("2026-12-24".into()),
    };
    r[2].edit_card(c, &fields).unwrap();
    fields.title = "ignored".into();
    sync_all(&r);
    let views: Vec<_> = r.iter().map(|ws| ws.card(c).unwrap()).collect();
    assert!(views.iter().all(|v| v.title == views[0].title));
    assert!(["Title by Alice", "Title by Bob"].contains(&views[0].title.as_str()));
    // Carol's other fields survive the concurrent title writes (fields are LWW one by one).
    for v in &views {
        assert_eq!(v.labels, vec!["urgent".to_string()]);
        assert_eq!(v.due.as_deref(), Some("2026-12-24"));
    }
}

#[test]
fn concurrent_first_description_edits_merge() {
    // The description text is created lazily; two replicas creating it at once must not lose either.
    let r = replicas(2);
    let board = r[0].create_board("B", &["Col"]).unwrap();
    let col = r[0].board(board, false).unwrap().columns[0].id;
    let c = r[0].add_card(col, &card("Card"), "").unwrap();
    sync_all(&r);
    r[0].append_body(c, "from alice. ").unwrap();
    r[1].append_body(c, "from bob. ").unwrap();
    sync_all(&r);
    let body = r[0].body(c).unwrap();
    assert_eq!(body, r[1].body(c).unwrap());
    assert!(
        body.contains("from alice.") && body.contains("from bob."),
        "{body}"
    );
}

#[test]
fn comment_anchor_follows_edits() {
    let r = replicas(2);
    let doc = r[0].create_doc("Doc", None).unwrap();
    r[0].set_body(doc, "alpha beta gamma").unwrap();
    let c = r[0].add_comment(doc, "about beta", Some(6), None).unwrap();
    sync_all(&r);
    r[1].text(doc).unwrap().insert(0, "PREFIX ").unwrap();
    sync_all(&r);
    for ws in &r {
        let view = ws.comment(&c).unwrap();
        let pos = view.anchor.unwrap();
        let body = ws.body(doc).unwrap();
        assert_eq!(&body.chars().skip(pos).take(4).collect::<String>(), "beta");
    }
}

#[test]
fn moving_a_page_under_itself_is_refused() {
    let r = replicas(1);
    let a = r[0].create_doc("A", None).unwrap();
    let b = r[0].create_doc("B", Some(a)).unwrap();
    assert!(r[0].move_doc(a, Some(b), None).is_err());
    assert!(r[0].move_doc(a, Some(a), None).is_err());
    assert_eq!(
        r[0].docs(false)
            .iter()
            .map(|d| (d.title.as_str(), d.depth))
            .collect::<Vec<_>>(),
        vec![("A", 0), ("B", 1)]
    );
    assert_eq!(r[0].kind_of(b), Some(ItemKind::Doc));
}

#[test]
fn reading_never_writes() {
    // A read that wrote an op would count as activity on a trashed item and make replicas diverge.
    let r = replicas(1);
    let doc = r[0].create_doc("Untouched", None).unwrap();
    let board = r[0].create_board("B", &["Col"]).unwrap();
    let col = r[0].board(board, false).unwrap().columns[0].id;
    let c = r[0].add_card(col, &card("Card"), "").unwrap();
    r[0].trash(doc).unwrap();
    let before = r[0].version();
    let _ = r[0].export_all();
    let _ = (
        r[0].body(doc),
        r[0].body(c),
        r[0].text(doc).map(|t| t.to_string_lossless()),
    );
    let _ = (
        r[0].docs(true),
        r[0].boards(true),
        r[0].trashed_items(),
        r[0].all_comments(),
    );
    assert_eq!(r[0].version(), before);
    assert!(r[0].trash_status(doc).is_trashed());
}
