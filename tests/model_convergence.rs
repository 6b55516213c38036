//! Property test: 3–5 replicas apply random sequences of every model operation and exchange their
//! updates in random order, with duplicates; all converge, and every accepted edit is present.
//! `WEFT_PROPTEST_CASES=N` runs more cases.

mod common;

use std::collections::HashSet;

use loro::ExportMode;
use proptest::prelude::*;
use weft::model::{CardFields, CommentId, ItemId, ItemKind, Workspace};

#[derive(Debug, Clone)]
struct Step {
    replica: usize,
    op: u8,
    a: u32,
    b: u32,
    deliver: Option<(usize, usize)>,
}

fn steps() -> impl Strategy<Value = (usize, Vec<Step>)> {
    (3usize..=5).prop_flat_map(|n| {
        let step = (
            0..n,
            0u8..14,
            any::<u32>(),
            any::<u32>(),
            proptest::option::of((any::<usize>(), 0..n)),
        )
            .prop_map(|(replica, op, a, b, deliver)| Step {
                replica,
                op,
                a,
                b,
                deliver,
            });
        (Just(n), proptest::collection::vec(step, 1..70))
    })
}

struct World {
    ws: Vec<Workspace>,
    /// Every update any replica produced, in the order produced: (sender, bytes).
    messages: Vec<(usize, Vec<u8>)>,
    tokens: Vec<(ItemId, String)>,
    comments: HashSet<CommentId>,
    purged: HashSet<ItemId>,
}

impl World {
    fn pick<T: Copy>(items: &[T], k: u32) -> Option<T> {
        (!items.is_empty()).then(|| items[k as usize % items.len()])
    }

    fn live_items(ws: &Workspace, kind: ItemKind) -> Vec<ItemId> {
        match kind {
            ItemKind::Doc => ws.docs(false).iter().map(|d| d.id).collect(),
            ItemKind::Board => ws.boards(false).iter().map(|b| b.id).collect(),
            ItemKind::Column => ws
                .boards(false)
                .iter()
                .flat_map(|b| b.columns.iter().map(|c| c.id))
                .collect(),
            ItemKind::Card => ws
                .boards(false)
                .iter()
                .flat_map(|b| b.columns.iter().flat_map(|c| c.cards.iter().map(|k| k.id)))
                .collect(),
        }
    }

    fn apply(&mut self, i: usize, s: &Step) {
        let ws = &self.ws[i];
        let before = ws.loro().oplog_vv();
        let token = format!("<{i}.{}>", self.tokens.len());
        let docs = Self::live_items(ws, ItemKind::Doc);
        let cols = Self::live_items(ws, ItemKind::Column);
        let cards = Self::live_items(ws, ItemKind::Card);
        let texts: Vec<ItemId> = docs.iter().chain(cards.iter()).copied().collect();
        // Errors are fine (an op on something trashed is refused); what succeeded must converge.
        match s.op {
            0 => {
                let parent = if s.b % 2 == 0 {
                    Self::pick(&docs, s.a)
                } else {
                    None
                };
                let _ = ws.create_doc(&format!("doc {token}"), parent);
            }
            1 | 2 => {
                if let Some(t) = Self::pick(&texts, s.a) {
                    if let Ok(mut text) = ws.text(t) {
                        let pos = s.b as usize % (text.len_chars() + 1);
                        // Insert only between tokens, so tokens stay whole.
                        let body = text.to_string_lossless();
                        let pos = body
                            .chars()
                            .take(pos)
                            .collect::<String>()
                            .rfind('>')
                            .map(|b| body[..=b].chars().count())
                            .unwrap_or(0);
                        if ws.is_live(t) && text.insert(pos, &token).is_ok() {
                            ws.commit();
                            self.tokens.push((t, token.clone()));
                        }
                    }
                }
            }
            3 => {
                if let Some(t) = Self::pick(&texts, s.a) {
                    let _ = ws.set_title(t, &format!("title {token}"));
                }
            }
            4 => {
                let _ = ws.create_board(&format!("board {token}"), &["a", "b"]);
            }
            5 => {
                if let Some(c) = Self::pick(&cols, s.a) {
                    let _ = ws.add_card(
                        c,
                        &CardFields {
                            title: format!("card {token}"),
                            ..Default::default()
                        },
                        "",
                    );
                }
            }
            6 | 7 => {
                if let (Some(card), Some(col)) = (Self::pick(&cards, s.a), Self::pick(&cols, s.b)) {
                    let _ = ws.move_card(card, col, Some(s.b as usize % 3));
                }
            }
            8 => {
                if let Some(card) = Self::pick(&cards, s.a) {
                    let fields = CardFields {
                        title: format!("edited {token}"),
                        labels: vec![format!("l{}", s.b % 3)],
                        assignees: vec![format!("u{}", s.b % 2)],
                        due: Some(format!("2026-12-{:02}", 1 + s.b % 28)),
                    };
                    let _ = ws.edit_card(card, &fields);
                }
            }
            9 => {
                if let Some(t) = Self::pick(&texts, s.a) {
                    let anchor = ws
                        .text(t)
                        .ok()
                        .map(|x| x.len_chars())
                        .filter(|_| s.b % 2 == 0);
                    if let Ok(c) = ws.add_comment(t, &format!("comment {token}"), anchor, None) {
                        self.comments.insert(c);
                    }
                }
            }
            10 => {
                let all: Vec<_> = ws.all_comments().into_iter().map(|c| c.id).collect();
                if !all.is_empty() {
                    let _ = ws.resolve_comment(&all[s.a as usize % all.len()], s.b % 2 == 0);
                }
            }
            11 => {
                let pool: Vec<ItemId> = texts.iter().chain(cols.iter()).copied().collect();
                if let Some(t) = Self::pick(&pool, s.a) {
                    let _ = ws.trash(t);
                }
            }
            12 => {
                if let Some(t) = Self::pick(
                    &ws.trashed_items().iter().map(|t| t.id).collect::<Vec<_>>(),
                    s.a,
                ) {
                    let _ = ws.restore(t);
                }
            }
            _ => {
                if let Some(t) = Self::pick(
                    &ws.trashed_items().iter().map(|t| t.id).collect::<Vec<_>>(),
                    s.a,
                ) {
                    if ws.purge(t).is_ok() {
                        self.purged.insert(t);
                    }
                }
            }
        }
        ws.commit();
        if ws.loro().oplog_vv() != before {
            let bytes = ws
                .loro()
                .export(ExportMode::updates(&before))
                .expect("export");
            self.messages.push((i, bytes));
        }
    }
}

fn check(n: usize, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut world = World {
        ws: common::replicas(n),
        messages: Vec::new(),
        tokens: Vec::new(),
        comments: HashSet::new(),
        purged: HashSet::new(),
    };
    for s in &steps {
        world.apply(s.replica, s);
        // Deliver one random earlier message (maybe again: duplicates are allowed).
        if let Some((m, to)) = s.deliver {
            if !world.messages.is_empty() {
                let (from, bytes) = &world.messages[m % world.messages.len()];
                if *from != to {
                    world.ws[to].loro().import(bytes).expect("import");
                }
            }
        }
    }
    // Finally every replica gets every message, newest first (worst order for causality), twice.
    for (to, ws) in world.ws.iter().enumerate() {
        for (from, bytes) in world.messages.iter().rev().chain(world.messages.iter()) {
            if *from != to {
                ws.loro().import(bytes).expect("import");
            }
        }
    }
    let first = common::state(&world.ws[0]);
    for ws in &world.ws[1..] {
        prop_assert_eq!(&common::state(ws), &first);
    }
    let ws = &world.ws[0];
    // Every accepted text insert is present, unless its item was purged.
    let purged_under = |id: ItemId| ws.kind_of(id).is_none() || world.purged.contains(&id);
    for (item, token) in &world.tokens {
        if !purged_under(*item) {
            let body = ws.body(*item).unwrap();
            prop_assert!(
                body.contains(token.as_str()),
                "token {} missing from {}: {:?}",
                token,
                item,
                body
            );
        }
    }
    // Every comment is kept (comments on purged items as detached ones).
    let ids: HashSet<CommentId> = ws.all_comments().into_iter().map(|c| c.id).collect();
    for c in &world.comments {
        prop_assert!(ids.contains(c), "comment {} lost", c);
    }
    // Every card sits in exactly one column.
    let mut seen = HashSet::new();
    for b in ws.boards(true) {
        for col in b.columns {
            for card in col.cards {
                prop_assert!(seen.insert(card.id), "card {} listed twice", card.id);
            }
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("WEFT_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn replicas_converge_and_keep_every_accepted_edit((n, steps) in steps()) {
        check(n, steps)?;
    }
}
