//! Property: random membership ops and document edits on several replicas, honest and rogue,
//! delivered in random orders → every replica reaches the same membership and the same
//! accepted document.

mod acl_common;

use acl_common::*;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use weft::acl::{Action, Role};
use weft::model::CommentId;

const NAMES: [&str; 6] = ["owner", "admin", "editor", "editor2", "commenter", "viewer"];

#[derive(Clone, Debug)]
enum Step {
    /// Append to the shared doc (honest: only if the replica's user may).
    Type { who: usize, text: u8 },
    /// A modified client appends regardless of role.
    RogueType { who: usize, seq: u64 },
    /// Comment on the doc.
    Comment { who: usize },
    /// Resolve the n-th comment.
    Resolve { who: usize, n: usize },
    /// Change the role of a member (by index of wallet: 1 admin, 2 editor, 4 commenter, 5 viewer).
    SetRole {
        who: usize,
        target: usize,
        role: usize,
    },
    /// Remove a member.
    Remove { who: usize, target: usize },
    /// Add back a member who is not one.
    Add {
        who: usize,
        target: usize,
        role: usize,
    },
    /// Revoke the editor's second device.
    RevokeSecond { who: usize },
    /// Deliver a few random messages to a random replica.
    Deliver { to: usize, count: usize },
}

fn step() -> impl Strategy<Value = Step> {
    let who = 0..NAMES.len();
    prop_oneof![
        4 => (who.clone(), any::<u8>()).prop_map(|(who, text)| Step::Type { who, text }),
        1 => (who.clone(), 1u64..1000).prop_map(|(who, seq)| Step::RogueType { who, seq }),
        2 => who.clone().prop_map(|who| Step::Comment { who }),
        1 => (who.clone(), 0usize..4).prop_map(|(who, n)| Step::Resolve { who, n }),
        2 => (0usize..2, prop::sample::select(vec![1usize, 2, 4, 5]), 0usize..4)
            .prop_map(|(who, target, role)| Step::SetRole { who, target, role }),
        1 => (0usize..2, prop::sample::select(vec![1usize, 2, 4, 5]))
            .prop_map(|(who, target)| Step::Remove { who, target }),
        1 => (0usize..2, prop::sample::select(vec![1usize, 2, 4, 5]), 0usize..4)
            .prop_map(|(who, target, role)| Step::Add { who, target, role }),
        1 => prop::sample::select(vec![0usize, 1, 2]).prop_map(|who| Step::RevokeSecond { who }),
        4 => (who, 1usize..6).prop_map(|(to, count)| Step::Deliver { to, count }),
    ]
}

const ROLES: [Role; 4] = [Role::Viewer, Role::Commenter, Role::Editor, Role::Admin];

fn run(steps: Vec<Step>, seed: u64) {
    let mut t = team();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let wallets = [
        t.owner.address(),
        t.admin.address(),
        t.editor.address(),
        t.editor.address(),
        t.commenter.address(),
        t.viewer.address(),
    ];
    let doc = t.doc;
    let mut comments: Vec<CommentId> = Vec::new();
    for s in steps {
        match s {
            Step::Type { who, text } => {
                let me = wallets[who];
                let i = t.net.index(NAMES[who]);
                if t.net.replicas[i].can(&me, &Action::EditDocs).is_ok()
                    && t.net.replicas[i].workspace().is_live(doc)
                {
                    let now = t.net.tick();
                    let r = &mut t.net.replicas[i];
                    let c = char::from(b'a' + text % 26).to_string();
                    if r.workspace().append_body(doc, &c).is_ok() {
                        if let Ok(Some(env)) = r.local_commit(now) {
                            t.net.publish_env(env);
                        }
                    }
                }
            }
            Step::RogueType { who, seq } => {
                let i = t.net.index(NAMES[who]);
                if t.net.replicas[i].workspace().is_live(doc) {
                    let env = rogue_envelope(&mut t.net, NAMES[who], 10_000 + seq, |ws| {
                        let _ = ws.append_body(doc, "#");
                    });
                    t.net.publish_env(env);
                }
            }
            Step::Comment { who } => {
                let me = wallets[who];
                let i = t.net.index(NAMES[who]);
                if t.net.replicas[i].can(&me, &Action::Comment).is_ok() {
                    let now = t.net.tick();
                    let r = &mut t.net.replicas[i];
                    if let Ok(c) = r.workspace().add_comment(doc, "note", None, None) {
                        if let Ok(Some(env)) = r.local_commit(now) {
                            comments.push(c);
                            t.net.publish_env(env);
                        }
                    }
                }
            }
            Step::Resolve { who, n } => {
                let Some(c) = comments.get(n).cloned() else {
                    continue;
                };
                let me = wallets[who];
                let i = t.net.index(NAMES[who]);
                if t.net.replicas[i]
                    .can(&me, &Action::ResolveComment(c.clone()))
                    .is_ok()
                {
                    let now = t.net.tick();
                    let r = &mut t.net.replicas[i];
                    if r.workspace().resolve_comment(&c, true).is_ok() {
                        if let Ok(Some(env)) = r.local_commit(now) {
                            t.net.publish_env(env);
                        }
                    }
                }
            }
            Step::SetRole { who, target, role } => {
                let (member, role) = (wallets[target], ROLES[role]);
                try_act(&mut t.net, who, |r, now| r.change_role(member, role, now));
            }
            Step::Remove { who, target } => {
                let member = wallets[target];
                try_act(&mut t.net, who, |r, now| r.remove_member(member, now));
            }
            Step::Add { who, target, role } => {
                let (member, role) = (wallets[target], ROLES[role]);
                try_act(&mut t.net, who, |r, now| r.add_member(member, role, now));
            }
            Step::RevokeSecond { who } => {
                let second = t.net.replicas[t.net.index("editor2")].identity().device();
                try_act(&mut t.net, who, |r, now| r.revoke_device(second, now));
            }
            Step::Deliver { to, count } => {
                let i = t.net.index(NAMES[to]);
                for _ in 0..count {
                    let m = t.net.msgs[rng.gen_range(0..t.net.msgs.len())].clone();
                    t.net.receive(i, &m);
                }
            }
        }
    }
    // Everyone gets everything, each replica in its own random order.
    loop {
        let published = t.net.msgs.len();
        for i in 0..t.net.replicas.len() {
            let mut order: Vec<usize> = (0..published).collect();
            order.shuffle(&mut rng);
            for k in order {
                let m = t.net.msgs[k].clone();
                t.net.receive(i, &m);
            }
        }
        if t.net.msgs.len() == published {
            break;
        }
    }
    t.net.sync();
    t.net.assert_converged();
}

fn try_act(
    net: &mut Net,
    who: usize,
    f: impl FnOnce(
        &mut weft::acl::Replica,
        time::OffsetDateTime,
    ) -> Result<weft::acl::AclOp, weft::acl::LocalError>,
) {
    let now = net.tick();
    let i = net.index(NAMES[who]);
    if let Ok(op) = f(&mut net.replicas[i], now) {
        net.publish_op(op);
    }
    for out in net.replicas[i].take_outbox() {
        match out {
            weft::acl::Outgoing::Envelope(e) => net.publish_env(e),
            weft::acl::Outgoing::AclOp(o) => net.publish_op(o),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_on_membership_and_document(
        steps in proptest::collection::vec(step(), 5..40),
        seed in any::<u64>(),
    ) {
        run(steps, seed);
    }
}

#[test]
fn a_busy_session_converges() {
    // A fixed, longer mix as a regression anchor.
    let mut steps = Vec::new();
    for k in 0..60usize {
        steps.push(match k % 9 {
            0 => Step::Type {
                who: 2,
                text: k as u8,
            },
            1 => Step::Type {
                who: 3,
                text: k as u8,
            },
            2 => Step::Comment { who: 4 },
            3 => Step::Deliver {
                to: k % 6,
                count: 3,
            },
            4 => Step::SetRole {
                who: 1,
                target: 4,
                role: k % 3,
            },
            5 => Step::RogueType {
                who: 5,
                seq: k as u64,
            },
            6 => Step::Resolve { who: 2, n: k % 3 },
            7 => Step::Remove {
                who: 0,
                target: [2usize, 4, 5][k % 3],
            },
            _ => Step::Add {
                who: 1,
                target: [2usize, 4, 5][k % 3],
                role: k % 3,
            },
        });
    }
    run(steps, 7);
}

/// Changes from several writers reach a replica in a random order, each often before what it
/// builds on. After every arrival the replica holds exactly what judging everything again would
/// give: releasing only what an arrival may unblock misses nothing.
#[test]
fn changes_that_arrive_before_what_they_build_on_are_released_as_soon_as_it_arrives() {
    for seed in 0..6u64 {
        let mut t = team();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let doc = t.doc;
        let probe = t.net.join("probe", &t.viewer);
        let reference = t.net.join("reference", &t.viewer);
        t.net.sync();
        t.net
            .act("probe", |r, now| r.publish_device_certificate(now));
        t.net
            .act("reference", |r, now| r.publish_device_certificate(now));
        t.net.sync();
        let before = t.net.msgs.len();
        let writers = ["owner", "admin", "editor", "editor2"];
        for k in 0..40usize {
            let who = writers[rng.gen_range(0..writers.len())];
            let now = t.net.tick();
            let i = t.net.index(who);
            let r = &mut t.net.replicas[i];
            let at = rng.gen_range(0..=r.workspace().body(doc).expect("body").chars().count());
            let mut text = r.workspace().text(doc).expect("body");
            text.insert(at, &char::from(b'a' + (k % 26) as u8).to_string())
                .expect("insert");
            let env = r.local_commit(now).expect("sealed").expect("written");
            t.net.publish_env(env);
            // Writers see each other's changes now and then, so they build on each other.
            let other = t.net.index(writers[rng.gen_range(0..writers.len())]);
            if rng.gen_bool(0.5) {
                t.net.deliver_to(other);
            }
            if k == 20 {
                let env = rogue_envelope(&mut t.net, "commenter", 77, |ws| {
                    let _ = ws.append_body(doc, "#");
                });
                t.net.publish_env(env);
            }
        }
        let mut order: Vec<usize> = (before..t.net.msgs.len()).collect();
        order.shuffle(&mut rng);
        for k in order {
            let m = t.net.msgs[k].clone();
            t.net.receive(probe, &m);
            t.net.receive(reference, &m);
            let now = t.net.tick();
            t.net.replicas[reference].tick(now);
            let (p, r) = (&t.net.replicas[probe], &t.net.replicas[reference]);
            assert_eq!(p.applied(), r.applied(), "seed {seed}");
            assert_eq!(p.pending().len(), r.pending().len(), "seed {seed}");
        }
        t.net.sync();
        assert!(t.net.replicas[probe].pending().is_empty(), "seed {seed}");
        t.net.assert_converged();
    }
}
