//! Property: one rogue member runs a modified client next to three honest replicas (owner,
//! admin, editor). Its role is drawn (commenter, editor or admin) and it uses only the keys it
//! holds: its device key and its wallet. Between honest edits (docs, cards, comments) and honest
//! membership changes (adding, re-roling and removing the rogue or a spare member, revoking the
//! rogue's device, and the key rotations these cause), it signs sequence twins of its own
//! changes, changes under honest members' Loro peers, junk membership ops, certificates squatted
//! on honest devices, snapshots (when admin), replays of anyone's messages and changes citing
//! stale membership heads. Messages reach replicas in random partial deliveries (rogue input
//! often to only some replicas, in different orders).
//!
//! Afterwards, with everything delivered everywhere: every replica agrees on membership and the
//! document; every honest change that any honest replica had applied at any earlier point is
//! applied on every honest replica; and honest members still write and the owner still removes.
//!
//! The random runs find open cases (see docs/design-notes.md, "A rogue member next to honest
//! ones"), so they are ignored for now: `cargo test --test acl_rogue -- --ignored` runs them,
//! `PROPTEST_CASES=300` runs more cases than the default 12. The fixed mix below runs in CI.

mod acl_common;

use std::collections::BTreeSet;

use acl_common::*;
use loro::{ExportMode, LoroDoc};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use weft::acl::{
    AclOp, AclOpBody, AclOpKind, Action, ContentVersion, Outcome, Outgoing, QuarantinedItem,
    Refusal, Role,
};
use weft::crypto::envelope::{derive_peer, HEADER_VERSION};
use weft::crypto::epoch::KeyShare;
use weft::crypto::{AclOpId, Envelope, EnvelopeHeader, EnvelopeId};
use weft::identity::{
    Address, CertHash, DeviceId, LocalWallet, PairingCertificate, PairingRequest,
};
use weft::model::{CardFields, Clock, CommentId, ItemId, Workspace};

/// The replicas, by index in the net.
const OWNER: usize = 0;
const ADMIN: usize = 1;
const EDITOR: usize = 2;
const ROGUE: usize = 3;
const HONEST: [usize; 3] = [OWNER, ADMIN, EDITOR];
const NAMES: [&str; 4] = ["owner", "admin", "editor", "rogue"];

/// The roles the rogue may be given (at the start, or later by an honest admin).
const ROGUE_ROLES: [Role; 3] = [Role::Commenter, Role::Editor, Role::Admin];

#[derive(Clone, Debug)]
enum Step {
    /// An honest member appends to the doc (if it may).
    Type { who: usize, text: u8 },
    /// An honest member adds a card to the board (if it may).
    Card { who: usize },
    /// An honest member comments on the doc.
    Comment { who: usize },
    /// An honest member resolves the n-th comment.
    Resolve { who: usize, n: usize },
    /// The owner or the honest admin changes the rogue's role (or the spare member's).
    SetRole {
        who: usize,
        spare: bool,
        role: usize,
    },
    /// The owner or the honest admin removes the rogue (or the spare member).
    Remove { who: usize, spare: bool },
    /// The owner or the honest admin adds the rogue (or the spare member) back.
    Add {
        who: usize,
        spare: bool,
        role: usize,
    },
    /// The owner or the honest admin revokes the rogue's device.
    Revoke { who: usize },
    /// The rogue writes as an honest client would (what its twins later contradict).
    RogueWrite { text: u8 },
    /// The rogue acts, and hands its message to the replicas in `mask` at once.
    Rogue { attack: Attack, mask: u8 },
    /// A few random messages to one replica.
    Deliver { to: usize, count: usize },
    /// Everything not yet seen, in order, to one replica.
    Catch { to: usize },
}

#[derive(Clone, Debug)]
enum Attack {
    /// A second envelope at the seq of one of the rogue's envelopes: the same Loro ids with
    /// other content, or new ids.
    Twin { pick: usize, same_ids: bool },
    /// A change written under an honest envelope's Loro peer: a copy of its first changes, or
    /// a continuation of its history.
    ForeignPeer { pick: usize, copy_first: bool },
    /// A membership op the rogue may not sign (or citing parents nobody has).
    JunkOp { kind: usize, at_genesis: bool },
    /// The rogue's wallet certifies an honest device and the rogue's device publishes it.
    Squat { victim: usize, at_genesis: bool },
    /// A whole-document snapshot (an admin may write one; others are refused).
    Snapshot { text: u8 },
    /// A message anyone published, sent again; or an honest update signed again as the rogue's.
    Replay { pick: usize, resign: bool },
    /// An edit citing membership heads the rogue held earlier.
    StaleHeads { pick: usize, seq: u64 },
}

fn attack() -> impl Strategy<Value = Attack> {
    prop_oneof![
        3 => (any::<usize>(), any::<bool>())
            .prop_map(|(pick, same_ids)| Attack::Twin { pick, same_ids }),
        2 => (any::<usize>(), any::<bool>())
            .prop_map(|(pick, copy_first)| Attack::ForeignPeer { pick, copy_first }),
        2 => (0usize..7, any::<bool>())
            .prop_map(|(kind, at_genesis)| Attack::JunkOp { kind, at_genesis }),
        1 => (prop::sample::select(HONEST.to_vec()), any::<bool>())
            .prop_map(|(victim, at_genesis)| Attack::Squat { victim, at_genesis }),
        2 => any::<u8>().prop_map(|text| Attack::Snapshot { text }),
        2 => (any::<usize>(), any::<bool>())
            .prop_map(|(pick, resign)| Attack::Replay { pick, resign }),
        2 => (any::<usize>(), 1u64..40).prop_map(|(pick, seq)| Attack::StaleHeads { pick, seq }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let honest = prop::sample::select(HONEST.to_vec());
    let managers = prop::sample::select(vec![OWNER, ADMIN]);
    prop_oneof![
        4 => (honest.clone(), any::<u8>()).prop_map(|(who, text)| Step::Type { who, text }),
        1 => honest.clone().prop_map(|who| Step::Card { who }),
        2 => honest.clone().prop_map(|who| Step::Comment { who }),
        1 => (honest, 0usize..4).prop_map(|(who, n)| Step::Resolve { who, n }),
        1 => (managers.clone(), any::<bool>(), 0usize..3)
            .prop_map(|(who, spare, role)| Step::SetRole { who, spare, role }),
        1 => (managers.clone(), any::<bool>()).prop_map(|(who, spare)| Step::Remove { who, spare }),
        1 => (managers.clone(), any::<bool>(), 0usize..3)
            .prop_map(|(who, spare, role)| Step::Add { who, spare, role }),
        1 => managers.prop_map(|who| Step::Revoke { who }),
        2 => any::<u8>().prop_map(|text| Step::RogueWrite { text }),
        8 => (attack(), any::<u8>()).prop_map(|(attack, mask)| Step::Rogue { attack, mask }),
        4 => (0usize..4, 1usize..8).prop_map(|(to, count)| Step::Deliver { to, count }),
        1 => (0usize..4).prop_map(|to| Step::Catch { to }),
    ]
}

/// The workspace, the people in it and what the run has recorded.
struct World {
    net: Net,
    owner: Address,
    rogue_wallet: LocalWallet,
    spare: Address,
    doc: ItemId,
    column: ItemId,
    comments: Vec<CommentId>,
    /// Every envelope an honest replica sealed.
    honest: BTreeSet<EnvelopeId>,
    /// The honest envelopes some honest replica has applied at some point.
    seen_applied: BTreeSet<EnvelopeId>,
    /// Envelopes the rogue signed, its twins' originals among them.
    rogue_envs: Vec<Envelope>,
    /// Membership heads the rogue's replica held, over time.
    rogue_heads: Vec<Vec<AclOpId>>,
    /// The next seq the rogue's forgeries use.
    rogue_seq: u64,
    /// What each rogue envelope was, for failure messages.
    made: Vec<(EnvelopeId, String)>,
    /// The step being run.
    doing: Option<Step>,
    /// Whether the rogue's input reaches every replica at once (and a change under another
    /// member's peer only after every replica holds that member's changes).
    at_once: bool,
}

fn setup(rogue_role: Role) -> World {
    let owner = LocalWallet::generate();
    let admin = LocalWallet::generate();
    let editor = LocalWallet::generate();
    let rogue = LocalWallet::generate();
    let spare = LocalWallet::generate().address();
    let (mut net, _) = Net::found("owner", &owner);
    net.join("admin", &admin);
    net.join("editor", &editor);
    net.join("rogue", &rogue);
    let a = admin.address();
    net.act("owner", |r, t| r.add_member(a, Role::Admin, t));
    net.sync();
    net.act("admin", |r, t| r.publish_device_certificate(t));
    net.sync();
    for (who, role) in [(editor.address(), Role::Editor), (spare, Role::Viewer)] {
        net.act("admin", |r, t| r.add_member(who, role, t));
    }
    let ra = rogue.address();
    net.act("owner", |r, t| r.add_member(ra, rogue_role, t));
    net.sync();
    for name in ["editor", "rogue"] {
        net.act(name, |r, t| r.publish_device_certificate(t));
    }
    net.sync();
    let mut made = None;
    let first = net.edit("editor", |ws| {
        let d = ws.create_doc("Plan", None).expect("create doc");
        ws.set_body(d, "hello").expect("body");
        let board = ws.create_board("Sprint", &["Todo"]).expect("board");
        let column = ws.board(board, false).expect("board").columns[0].id;
        made = Some((d, column));
    });
    net.sync();
    let (doc, column) = made.expect("doc created");
    let rogue_heads = vec![net.replicas[ROGUE].log().heads()];
    let mut w = World {
        net,
        owner: owner.address(),
        rogue_wallet: rogue,
        spare,
        doc,
        column,
        comments: Vec::new(),
        honest: BTreeSet::new(),
        seen_applied: BTreeSet::new(),
        rogue_envs: Vec::new(),
        rogue_heads,
        rogue_seq: 5_000,
        made: Vec::new(),
        doing: None,
        at_once: false,
    };
    w.honest.insert(first.id());
    w.record();
    w
}

impl World {
    /// Publishes what replica `i` has to send (an honest replica's envelopes are recorded).
    fn flush(&mut self, i: usize) {
        for out in self.net.replicas[i].take_outbox() {
            match out {
                Outgoing::Envelope(e) => {
                    if i != ROGUE {
                        self.honest.insert(e.id());
                    }
                    self.net.publish_env(e);
                }
                Outgoing::AclOp(o) => self.net.publish_op(o),
            }
        }
    }

    /// Hands `m` to replica `i` now and publishes what it answers.
    fn receive(&mut self, i: usize, m: &Msg) {
        let now = at(self.net.now);
        match m {
            Msg::Acl(b) => {
                self.net.replicas[i].receive_acl_op(b, now);
            }
            Msg::Env(b) => {
                self.net.replicas[i].receive_envelope(b, now);
            }
        }
        self.flush(i);
    }

    /// Records which honest envelopes the honest replicas hold applied now.
    fn record(&mut self) {
        for i in HONEST {
            let r = &self.net.replicas[i];
            for id in &self.honest {
                if r.envelope_outcome(id) == Some(Outcome::Applied) {
                    self.seen_applied.insert(*id);
                }
            }
        }
        let heads = self.net.replicas[ROGUE].log().heads();
        if self.rogue_heads.last() != Some(&heads) {
            self.rogue_heads.push(heads);
        }
    }

    /// An honest local edit by replica `i`, if its role allows `action` and the edit works.
    fn honest_edit(&mut self, i: usize, action: Action, edit: impl FnOnce(&Workspace) -> bool) {
        let me = self.net.replicas[i].identity().address();
        if self.net.replicas[i].can(&me, &action).is_err() {
            return;
        }
        let now = self.net.tick();
        let r = &mut self.net.replicas[i];
        if !edit(r.workspace()) {
            return;
        }
        if let Ok(Some(env)) = r.local_commit(now) {
            self.honest.insert(env.id());
            self.net.publish_env(env);
        }
        self.flush(i);
    }

    /// A membership change by an honest replica, if it may make it.
    fn honest_act(
        &mut self,
        i: usize,
        f: impl FnOnce(
            &mut weft::acl::Replica,
            time::OffsetDateTime,
        ) -> Result<AclOp, weft::acl::LocalError>,
    ) {
        let now = self.net.tick();
        if let Ok(op) = f(&mut self.net.replicas[i], now) {
            self.net.publish_op(op);
        }
        self.flush(i);
    }

    /// Publishes a rogue message and hands it at once to the replicas in `mask`.
    fn rogue_send(&mut self, m: Msg, mask: u8) {
        let mask = if self.at_once { 0b1111 } else { mask };
        self.net.msgs.push(m.clone());
        for i in 0..4 {
            if mask & (1 << i) != 0 {
                self.receive(i, &m);
            }
        }
    }

    fn rogue_env(&mut self, env: Envelope, mask: u8) {
        self.made
            .push((env.id(), format!("{:?} mask {mask}", self.doing)));
        self.rogue_envs.push(env.clone());
        self.rogue_send(Msg::Env(env.encode()), mask);
    }

    fn next_seq(&mut self) -> u64 {
        self.rogue_seq += 1;
        self.rogue_seq
    }

    /// Whether the rogue's replica holds a key it could seal under.
    fn rogue_has_keys(&self) -> bool {
        !self.net.replicas[ROGUE].epoch_keys().is_empty()
    }
}

/// The document a modified client writes on: its own, or the owner's (as if leaked) when it
/// holds no key.
fn rogue_doc(net: &Net) -> LoroDoc {
    let r = &net.replicas[ROGUE];
    if r.epoch_keys().is_empty() {
        net.replicas[OWNER].workspace().loro().fork()
    } else {
        r.workspace().loro().fork()
    }
}

/// A header of the rogue's device, with whatever it likes in it.
fn rogue_header(
    net: &Net,
    seq: u64,
    peers: Vec<u64>,
    salts: Vec<[u8; 16]>,
    heads: Vec<AclOpId>,
) -> EnvelopeHeader {
    let r = &net.replicas[ROGUE];
    EnvelopeHeader {
        version: HEADER_VERSION,
        workspace: r.workspace_id(),
        epoch: 0,
        device: net.keys[ROGUE].id(),
        cert_hash: r.identity().cert_hash(),
        seq,
        time: net.now,
        peers,
        acl_heads: heads,
        salts,
        builds_on: vec![],
        nonce: vec![],
    }
}

/// Whether some replica holds the key of the epoch the rogue would seal under at `heads`
/// (the harness can only seal under a key somebody holds).
fn sealable(net: &Net, heads: &[AclOpId]) -> bool {
    let r = &net.replicas[ROGUE];
    key_at(r, heads, r).is_some() || net.replicas.iter().any(|h| key_at(r, heads, h).is_some())
}

/// An edit by the rogue's device on `base` under `peer` (derived from its own device with a
/// fresh salt when `None`), citing `heads`.
fn rogue_edit(
    net: &Net,
    base: LoroDoc,
    seq: u64,
    peer: Option<u64>,
    heads: Vec<AclOpId>,
    edit: impl FnOnce(&Workspace),
) -> Option<Envelope> {
    if !sealable(net, &heads) {
        return None;
    }
    let (peer, salts) = match peer {
        Some(p) => (p, vec![]),
        None => {
            let salt: [u8; 16] = rand::random();
            (derive_peer(&net.keys[ROGUE].id(), &salt), vec![salt])
        }
    };
    base.set_peer_id(peer).ok()?;
    let before = base.oplog_vv();
    let ws = Workspace::open_replica(base, "rogue", Clock::Fixed(net.now * 1000));
    edit(&ws);
    ws.commit();
    let payload = ws.loro().export(ExportMode::updates(&before)).ok()?;
    let header = rogue_header(net, seq, vec![peer], salts, heads);
    Some(seal_as(net, ROGUE, header, &payload))
}

/// A twin of the rogue's `original`: its header (seq included) with another update, written
/// on the document as it was before `original`.
fn twin(
    net: &Net,
    original: &Envelope,
    same_ids: bool,
    doc: ItemId,
    text: &str,
) -> Option<Envelope> {
    let plain = net
        .replicas
        .iter()
        .flat_map(|r| r.epoch_keys())
        .filter(|(e, _)| *e == original.header().epoch)
        .find_map(|(_, k)| original.open(&k).ok())?;
    let m = LoroDoc::decode_import_blob_meta(&plain, true).ok()?;
    if !matches!(m.mode, loro::EncodedBlobMode::Updates) {
        return None;
    }
    let source = net.replicas.iter().find(|r| {
        let vv = r.workspace().loro().oplog_vv();
        m.start_frontiers
            .iter()
            .all(|id| vv.get(&id.peer).is_some_and(|c| *c > id.counter))
    })?;
    let base = source.workspace().loro().fork_at(&m.start_frontiers).ok()?;
    let (peer, salts) = if same_ids {
        let peer = *original.header().peers.first()?;
        (peer, original.header().salts.clone())
    } else {
        let salt: [u8; 16] = rand::random();
        (derive_peer(&net.keys[ROGUE].id(), &salt), vec![salt])
    };
    base.set_peer_id(peer).ok()?;
    let before = base.oplog_vv();
    let ws = Workspace::open_replica(base, "rogue", Clock::Fixed(net.now * 1000));
    ws.append_body(doc, text).ok()?;
    ws.commit();
    let payload = ws.loro().export(ExportMode::updates(&before)).ok()?;
    let header = EnvelopeHeader {
        peers: vec![peer],
        salts,
        nonce: vec![],
        ..original.header().clone()
    };
    Some(seal_as(net, ROGUE, header, &payload))
}

/// An op signed by the rogue's device with whatever it likes in it.
fn forge_op(net: &Net, kind: AclOpKind, parents: Vec<AclOpId>) -> AclOp {
    let r = &net.replicas[ROGUE];
    AclOp::sign(
        AclOpBody {
            kind,
            author: net.keys[ROGUE].id(),
            cert_hash: r.identity().cert_hash(),
            parents,
            time: net.now,
            seen: ContentVersion::default(),
        },
        &net.keys[ROGUE],
    )
    .expect("sign")
}

/// What the rogue may not do whatever role it holds (or, below admin, what needs admin).
fn junk_kind(w: &World, k: usize) -> AclOpKind {
    let owner_device = w.net.replicas[OWNER].identity().device();
    let editor_device = w.net.replicas[EDITOR].identity().device();
    let rogue_is_admin = w.net.replicas[ROGUE].my_role() >= Some(Role::Admin);
    match k {
        0 => AclOpKind::Remove { member: w.owner },
        1 => AclOpKind::ChangeRole {
            member: w.owner,
            role: Role::Viewer,
        },
        2 => AclOpKind::RevokeDevice {
            device: owner_device,
        },
        3 => AclOpKind::Add {
            member: LocalWallet::generate().address(),
            role: Role::Owner,
        },
        4 if !rogue_is_admin => AclOpKind::RevokeDevice {
            device: editor_device,
        },
        _ if !rogue_is_admin => AclOpKind::Add {
            member: LocalWallet::generate().address(),
            role: Role::Admin,
        },
        // An admin may do those: a key share to itself instead (any member may), made junk by
        // citing parents nobody has.
        _ => AclOpKind::ShareKeys {
            device: w.net.keys[ROGUE].id(),
            share: KeyShare::seal(
                &w.net.replicas[ROGUE].epoch_keys(),
                &w.net.replicas[ROGUE].workspace_id(),
                &w.net.keys[ROGUE].id(),
            )
            .expect("seal"),
        },
    }
}

fn certificate_for(wallet: &LocalWallet, device: DeviceId, now: i64) -> PairingCertificate {
    let request = PairingRequest::new(wallet.address(), device, at(now - 86_400));
    PairingCertificate::sign_with(&request, wallet).expect("sign pairing")
}

fn attack_step(w: &mut World, a: Attack, mask: u8) {
    w.net.tick();
    match a {
        Attack::Twin { pick, same_ids } => {
            if w.rogue_envs.is_empty() {
                return;
            }
            let original = w.rogue_envs[pick % w.rogue_envs.len()].clone();
            if let Some(env) = twin(&w.net, &original, same_ids, w.doc, " +TWIN") {
                w.rogue_env(env, mask);
            }
        }
        Attack::ForeignPeer { pick, copy_first } => {
            if w.at_once {
                w.net.sync();
            }
            let honest: Vec<Envelope> = w
                .net
                .envelopes()
                .into_iter()
                .filter(|e| w.honest.contains(&e.id()) && !e.header().peers.is_empty())
                .collect();
            if honest.is_empty() {
                return;
            }
            let victim = &honest[pick % honest.len()];
            let peer = victim.header().peers[0];
            let heads = w.net.replicas[ROGUE].log().heads();
            let seq = w.next_seq();
            let env = if copy_first {
                let rogue = LoroDoc::new();
                if rogue.set_peer_id(peer).is_err() {
                    return;
                }
                let _ = rogue.get_map("trash").insert("x", 1);
                rogue.commit();
                let Ok(payload) = rogue.export(ExportMode::all_updates()) else {
                    return;
                };
                if !sealable(&w.net, &heads) {
                    return;
                }
                let header = rogue_header(&w.net, seq, vec![peer], vec![], heads);
                Some(seal_as(&w.net, ROGUE, header, &payload))
            } else {
                let base = rogue_doc(&w.net);
                if !base.oplog_vv().contains_key(&peer) {
                    return;
                }
                let doc = w.doc;
                rogue_edit(&w.net, base, seq, Some(peer), heads, |ws| {
                    let _ = ws.add_comment(doc, "as you", None, None);
                })
            };
            if let Some(env) = env {
                w.rogue_env(env, mask);
            }
        }
        Attack::JunkOp { kind, at_genesis } => {
            let genesis = w.net.replicas[ROGUE].log().genesis().id();
            let parents = if kind == 6
                || (kind == 5 && w.net.replicas[ROGUE].my_role() >= Some(Role::Admin))
            {
                vec![AclOpId(rand::random())]
            } else if at_genesis {
                vec![genesis]
            } else {
                w.net.replicas[ROGUE].acl_heads()
            };
            let op = forge_op(&w.net, junk_kind(w, kind), parents);
            w.rogue_send(Msg::Acl(op.encode()), mask);
        }
        Attack::Squat { victim, at_genesis } => {
            let device = w.net.keys[victim].id();
            let certificate = certificate_for(&w.rogue_wallet, device, w.net.now);
            let parents = if at_genesis {
                vec![w.net.replicas[ROGUE].log().genesis().id()]
            } else {
                w.net.replicas[ROGUE].acl_heads()
            };
            let op = AclOp::sign(
                AclOpBody {
                    kind: AclOpKind::DeviceCertificate { certificate },
                    author: w.net.keys[ROGUE].id(),
                    cert_hash: CertHash(rand::random()),
                    parents,
                    time: w.net.now,
                    seen: ContentVersion::default(),
                },
                &w.net.keys[ROGUE],
            )
            .expect("sign");
            w.rogue_send(Msg::Acl(op.encode()), mask);
        }
        Attack::Snapshot { text } => {
            // A snapshot of the rogue's document with one more edit of its own, under a peer
            // derived from its device.
            let heads = w.net.replicas[ROGUE].log().heads();
            if !w.rogue_has_keys() || !sealable(&w.net, &heads) {
                return;
            }
            let base = rogue_doc(&w.net);
            let salt: [u8; 16] = rand::random();
            let peer = derive_peer(&w.net.keys[ROGUE].id(), &salt);
            if base.set_peer_id(peer).is_err() {
                return;
            }
            let ws = Workspace::open_replica(base, "rogue", Clock::Fixed(w.net.now * 1000));
            let c = char::from(b'A' + text % 26).to_string();
            let _ = ws.append_body(w.doc, &c);
            ws.commit();
            let Ok(payload) = ws.loro().export(ExportMode::Snapshot) else {
                return;
            };
            let seq = w.next_seq();
            let header = rogue_header(&w.net, seq, vec![], vec![], heads);
            let env = seal_as(&w.net, ROGUE, header, &payload);
            w.rogue_env(env, mask);
        }
        Attack::Replay { pick, resign } => {
            if w.net.msgs.is_empty() {
                return;
            }
            let m = w.net.msgs[pick % w.net.msgs.len()].clone();
            match (&m, resign) {
                (Msg::Env(b), true) => {
                    let Ok(env) = Envelope::decode(b) else { return };
                    let Some(plain) = w
                        .net
                        .replicas
                        .iter()
                        .flat_map(|r| r.epoch_keys())
                        .filter(|(e, _)| *e == env.header().epoch)
                        .find_map(|(_, k)| env.open(&k).ok())
                    else {
                        return;
                    };
                    let heads = env.header().acl_heads.clone();
                    if !sealable(&w.net, &heads) {
                        return;
                    }
                    let seq = w.next_seq();
                    let header = EnvelopeHeader {
                        device: w.net.keys[ROGUE].id(),
                        cert_hash: w.net.replicas[ROGUE].identity().cert_hash(),
                        seq,
                        nonce: vec![],
                        ..env.header().clone()
                    };
                    let env = seal_as(&w.net, ROGUE, header, &plain);
                    w.rogue_env(env, mask);
                }
                _ => w.rogue_send(m, mask),
            }
        }
        Attack::StaleHeads { pick, seq } => {
            let heads = w.rogue_heads[pick % w.rogue_heads.len()].clone();
            let base = rogue_doc(&w.net);
            let doc = w.doc;
            // Sometimes an old seq too (a twin of whatever the rogue sent at that seq).
            let seq = if seq % 3 == 0 { seq } else { w.next_seq() };
            if let Some(env) = rogue_edit(&w.net, base, seq, None, heads, |ws| {
                let _ = ws.append_body(doc, "~");
            }) {
                w.rogue_env(env, mask);
            }
        }
    }
}

fn run(rogue_role: Role, steps: Vec<Step>, seed: u64, at_once: bool) -> World {
    let mut w = setup(rogue_role);
    w.at_once = at_once;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let rogue_address = w.rogue_wallet.address();
    for s in steps {
        w.doing = Some(s.clone());
        match s {
            Step::Type { who, text } => {
                let doc = w.doc;
                let c = char::from(b'a' + text % 26).to_string();
                w.honest_edit(who, Action::EditDocs, |ws| {
                    ws.is_live(doc) && ws.append_body(doc, &c).is_ok()
                });
            }
            Step::Card { who } => {
                let column = w.column;
                w.honest_edit(who, Action::EditBoards, |ws| {
                    let fields = CardFields {
                        title: "task".into(),
                        ..CardFields::default()
                    };
                    ws.add_card(column, &fields, "").is_ok()
                });
            }
            Step::Comment { who } => {
                let doc = w.doc;
                let mut made = None;
                w.honest_edit(who, Action::Comment, |ws| {
                    made = ws.add_comment(doc, "note", None, None).ok();
                    made.is_some()
                });
                w.comments.extend(made);
            }
            Step::Resolve { who, n } => {
                let Some(c) = w.comments.get(n).cloned() else {
                    continue;
                };
                let c2 = c.clone();
                w.honest_edit(who, Action::ResolveComment(c), |ws| {
                    ws.resolve_comment(&c2, true).is_ok()
                });
            }
            Step::SetRole { who, spare, role } => {
                let member = if spare { w.spare } else { rogue_address };
                let role = ROGUE_ROLES[role];
                w.honest_act(who, |r, now| r.change_role(member, role, now));
            }
            Step::Remove { who, spare } => {
                let member = if spare { w.spare } else { rogue_address };
                w.honest_act(who, |r, now| r.remove_member(member, now));
            }
            Step::Add { who, spare, role } => {
                let member = if spare { w.spare } else { rogue_address };
                let role = ROGUE_ROLES[role];
                w.honest_act(who, |r, now| r.add_member(member, role, now));
            }
            Step::Revoke { who } => {
                let device = w.net.keys[ROGUE].id();
                w.honest_act(who, |r, now| r.revoke_device(device, now));
            }
            Step::RogueWrite { text } => {
                // What an unmodified client of the rogue's would send, if it may.
                let now = w.net.tick();
                let doc = w.doc;
                let r = &mut w.net.replicas[ROGUE];
                let me = r.identity().address();
                if r.can(&me, &Action::Comment).is_ok() {
                    let c = char::from(b'a' + text % 26).to_string();
                    let ok = if r.can(&me, &Action::EditDocs).is_ok() {
                        r.workspace().append_body(doc, &c).is_ok()
                    } else {
                        r.workspace().add_comment(doc, &c, None, None).is_ok()
                    };
                    if ok {
                        if let Ok(Some(env)) = r.local_commit(now) {
                            w.rogue_envs.push(env.clone());
                            w.net.publish_env(env);
                        }
                    }
                }
                // Its key shares and the like go out as well (they are not honest envelopes).
                for out in w.net.replicas[ROGUE].take_outbox() {
                    match out {
                        Outgoing::Envelope(e) => {
                            w.rogue_envs.push(e.clone());
                            w.net.publish_env(e);
                        }
                        Outgoing::AclOp(o) => w.net.publish_op(o),
                    }
                }
            }
            Step::Rogue { attack, mask } => attack_step(&mut w, attack, mask),
            Step::Deliver { to, count } => {
                for _ in 0..count {
                    let m = w.net.msgs[rng.gen_range(0..w.net.msgs.len())].clone();
                    w.receive(to, &m);
                }
            }
            Step::Catch { to } => {
                let mut k = 0;
                while k < w.net.msgs.len() {
                    let m = w.net.msgs[k].clone();
                    w.receive(to, &m);
                    k += 1;
                }
            }
        }
        w.record();
    }
    // Everyone gets everything, each replica in its own random order, until nothing new.
    loop {
        let published = w.net.msgs.len();
        for i in 0..w.net.replicas.len() {
            let mut order: Vec<usize> = (0..published).collect();
            order.shuffle(&mut rng);
            for k in order {
                let m = w.net.msgs[k].clone();
                w.receive(i, &m);
            }
        }
        w.record();
        if w.net.msgs.len() == published {
            break;
        }
    }
    w.net.sync();
    w.record();
    assert_honest_replicas_agree(&w);
    let voided = assert_honest_history_kept(&w);

    // Honest members still write, and the owner still removes.
    let doc = w.doc;
    let mut last = None;
    for i in [EDITOR, ADMIN, OWNER] {
        let now = w.net.tick();
        let r = &mut w.net.replicas[i];
        if r.workspace().is_live(doc) {
            r.workspace().append_body(doc, "!").expect("append");
        } else {
            r.workspace().create_doc("After", None).expect("create");
        }
        let env = r
            .local_commit(now)
            .unwrap_or_else(|e| panic!("{}'s last edit was refused locally: {e}", NAMES[i]))
            .expect("the edit wrote something");
        w.honest.insert(env.id());
        w.net.publish_env(env.clone());
        w.flush(i);
        last = Some(env);
    }
    let late = LocalWallet::generate().address();
    let owner_i = OWNER;
    w.honest_act(owner_i, |r, now| r.add_member(late, Role::Viewer, now));
    w.net.sync();
    for member in [late, rogue_address] {
        if w.net.replicas[OWNER].members().role(&member).is_some() {
            let now = w.net.tick();
            let op = w.net.replicas[OWNER]
                .remove_member(member, now)
                .unwrap_or_else(|e| panic!("the owner could not remove a member: {e}"));
            w.net.publish_op(op);
            w.flush(OWNER);
        }
    }
    w.net.sync();
    w.record();
    let last = last.expect("three edits");
    for i in HONEST {
        let r = &w.net.replicas[i];
        assert_eq!(
            r.envelope_outcome(&last.id()),
            Some(Outcome::Applied),
            "{}: the owner's last edit",
            NAMES[i]
        );
        assert_eq!(r.members().role(&late), None, "{}", NAMES[i]);
        assert_eq!(r.members().role(&rogue_address), None, "{}", NAMES[i]);
    }
    assert_honest_replicas_agree(&w);
    assert_eq!(assert_honest_history_kept(&w), voided);
    w
}

/// The honest replicas hold the same membership, the same applied changes and the same
/// document. (The rogue's replica is its own business: its modified client may apply what it
/// likes.)
fn assert_honest_replicas_agree(w: &World) {
    let first = &w.net.replicas[OWNER];
    for i in HONEST {
        let r = &w.net.replicas[i];
        assert_eq!(r.members(), first.members(), "membership of {}", NAMES[i]);
        assert!(r.has_current_key(), "{} has no current key", NAMES[i]);
        assert_eq!(
            r.applied(),
            first.applied(),
            "applied changes of {}",
            NAMES[i]
        );
        assert_eq!(document(r), document(first), "document of {}", NAMES[i]);
    }
}

/// Every honest change some honest replica applied at some point is applied on every honest
/// replica now, except one that builds on a change of the rogue's that strong remove voided (the
/// rogue was removed, demoted or revoked by an op that had not seen it): by design that change
/// and what depends on it are void, on every replica alike, and listed with the reason. Returns
/// how many such honest changes there were.
fn assert_honest_history_kept(w: &World) -> usize {
    assert!(!w.seen_applied.is_empty());
    let envs: std::collections::BTreeMap<EnvelopeId, Envelope> =
        w.net.envelopes().into_iter().map(|e| (e.id(), e)).collect();
    let rogue_device = w.net.keys[ROGUE].id();
    let mut voided = 0;
    for id in &w.seen_applied {
        let outcomes: Vec<Option<Outcome>> = HONEST
            .iter()
            .map(|i| w.net.replicas[*i].envelope_outcome(id))
            .collect();
        if outcomes.iter().all(|o| *o == Some(Outcome::Applied)) {
            continue;
        }
        let on = voided_rogue_change_under(w, &envs, id, rogue_device);
        let Some((on, reason)) = on else {
            let missing: Vec<u64> = outcomes
                .iter()
                .flat_map(|o| match o {
                    Some(Outcome::Pending(m)) => m.changes.iter().map(|c| c.peer).collect(),
                    _ => vec![],
                })
                .collect();
            let carriers: Vec<String> = envs
                .values()
                .filter(|e| e.header().peers.iter().any(|p| missing.contains(p)))
                .map(|e| {
                    format!(
                        "{:?} by {} seq {} cited {}: {:?}",
                        e.id(),
                        if e.header().device == rogue_device {
                            "rogue"
                        } else {
                            "honest"
                        },
                        e.header().seq,
                        envs[id].header().builds_on.contains(&e.id()),
                        w.net.replicas[OWNER].envelope_outcome(&e.id())
                    )
                })
                .collect();
            panic!(
                "honest change {id:?}, applied earlier, is no longer applied: {outcomes:?}; \
                 the missing changes are in {carriers:#?}; it cites {:?}",
                envs[id].header().builds_on
            );
        };
        for (i, o) in HONEST.iter().zip(&outcomes) {
            assert!(
                matches!(o, Some(Outcome::Pending(_))),
                "{}: {id:?} builds on the voided {on:?}: {o:?}",
                NAMES[*i]
            );
        }
        assert!(
            matches!(
                reason,
                Refusal::RemovedConcurrently { .. }
                    | Refusal::DeviceRevokedConcurrently { .. }
                    | Refusal::DemotedConcurrently { .. }
                    // A documented limit: twins built on by different members (the rogue
                    // sent each to different members) resolve to the lowest id.
                    | Refusal::TwinOfBuiltOn { .. }
            ),
            "{id:?} builds on the rogue's {on:?} ({:?}), refused for another reason: {reason}; \
             it waits: {outcomes:?}; it cites {:?}",
            w.made.iter().find(|(e, _)| *e == on),
            envs[id].header().builds_on
        );
        voided += 1;
    }
    voided
}

/// The rogue's change, void by strong remove on every honest replica, that honest change `id`
/// builds on (through the changes it cites), with its refusal.
fn voided_rogue_change_under(
    w: &World,
    envs: &std::collections::BTreeMap<EnvelopeId, Envelope>,
    id: &EnvelopeId,
    rogue: DeviceId,
) -> Option<(EnvelopeId, Refusal)> {
    let waits_on: std::collections::BTreeMap<EnvelopeId, EnvelopeId> = w.net.replicas[OWNER]
        .quarantine()
        .into_iter()
        .filter_map(|q| match (q.item, q.reason) {
            (QuarantinedItem::Envelope(e), Refusal::BuildsOnRefused { on }) => Some((e, on)),
            _ => None,
        })
        .collect();
    let mut todo = vec![*id];
    let mut seen = BTreeSet::new();
    while let Some(e) = todo.pop() {
        if !seen.insert(e) {
            continue;
        }
        let Some(env) = envs.get(&e) else { continue };
        if env.header().device == rogue {
            let reasons: Vec<Option<Outcome>> = HONEST
                .iter()
                .map(|i| w.net.replicas[*i].envelope_outcome(&e))
                .collect();
            match reasons.first() {
                Some(Some(Outcome::Quarantined(r))) if reasons.iter().all(|o| *o == reasons[0]) => {
                    return Some((e, r.clone()));
                }
                // The rogue's own change waiting for something void: look at what.
                Some(Some(Outcome::Pending(_)))
                    if reasons
                        .iter()
                        .all(|o| matches!(o, Some(Outcome::Pending(_)))) => {}
                _ => continue,
            }
        }
        todo.extend(env.header().builds_on.iter().copied());
        // A snapshot's changes are not cited by the changes written on them: the replica
        // lists what a waiting change waits for.
        todo.extend(waits_on.get(&e).copied());
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    // Ignored until the cases it finds are fixed (docs/design-notes.md, "A rogue member next to
    // honest ones", lists them; each has a deterministic test below or a saved case in
    // tests/acl_rogue.proptest-regressions, which replays first). Run it with
    // `cargo test --test acl_rogue -- --ignored`, more cases with PROPTEST_CASES=300.
    #[test]
    #[ignore = "finds open cases (design notes: a rogue member next to honest ones)"]
    fn a_rogue_member_cannot_void_honest_work_or_split_the_replicas(
        role in 0usize..3,
        steps in proptest::collection::vec(step(), 5..40),
        seed in any::<u64>(),
    ) {
        let _ = run(ROGUE_ROLES[role], steps, seed, false);
    }

    /// The same, with every rogue input handed to all replicas at once (honest messages still
    /// arrive in random partial deliveries), and a change under another member's peer sent only
    /// once every replica holds that member's changes. Still finds an open case: a rogue change
    /// that leaves out its citations, built on by an honest member, then twinned.
    #[test]
    #[ignore = "finds an open case (design notes: a rogue member next to honest ones)"]
    fn a_rogue_member_sending_to_everyone_at_once_cannot_void_honest_work(
        role in 0usize..3,
        steps in proptest::collection::vec(step(), 5..40),
        seed in any::<u64>(),
    ) {
        let _ = run(ROGUE_ROLES[role], steps, seed, true);
    }
}

/// A fixed, busy mix of every attack by a rogue of each role, every rogue input reaching all
/// replicas at once, honest messages in partial deliveries: what holds today, checked in CI.
#[test]
fn a_rogue_of_each_role_trying_everything_changes_nothing_honest() {
    for (r, role) in ROGUE_ROLES.into_iter().enumerate() {
        let mut steps = Vec::new();
        for k in 0..48usize {
            let mask = (k * 5 + r) as u8;
            steps.push(match k % 12 {
                0 => Step::Type {
                    who: EDITOR,
                    text: k as u8,
                },
                1 => Step::RogueWrite { text: k as u8 },
                2 => Step::Rogue {
                    attack: Attack::Twin {
                        pick: k,
                        same_ids: k % 24 == 2,
                    },
                    mask,
                },
                3 => Step::Comment { who: ADMIN },
                4 => Step::Rogue {
                    attack: Attack::ForeignPeer {
                        pick: k,
                        copy_first: k % 24 == 4,
                    },
                    mask,
                },
                5 => Step::Deliver {
                    to: k % 4,
                    count: 4,
                },
                6 => Step::Rogue {
                    attack: Attack::JunkOp {
                        kind: k % 7,
                        at_genesis: k % 24 == 6,
                    },
                    mask,
                },
                7 => Step::Rogue {
                    attack: Attack::Squat {
                        victim: HONEST[k % 3],
                        at_genesis: k % 24 == 7,
                    },
                    mask,
                },
                8 => Step::Rogue {
                    attack: Attack::Snapshot { text: k as u8 },
                    mask,
                },
                9 => Step::Rogue {
                    attack: Attack::Replay {
                        pick: k * 7,
                        resign: k % 24 == 9,
                    },
                    mask,
                },
                10 => Step::Rogue {
                    attack: Attack::StaleHeads {
                        pick: k,
                        seq: k as u64,
                    },
                    mask,
                },
                _ => match k {
                    11 => Step::SetRole {
                        who: ADMIN,
                        spare: false,
                        role: (r + 1) % 3,
                    },
                    23 => Step::Card { who: OWNER },
                    35 => Step::Remove {
                        who: OWNER,
                        spare: false,
                    },
                    _ => Step::Catch { to: k % 3 },
                },
            });
        }
        let w = run(role, steps, 11 + r as u64, true);
        // The rogue did try: forged envelopes of every kind, all refused by every honest
        // replica, while honest changes were applied.
        for kind in ["Twin", "ForeignPeer", "Snapshot", "Replay", "StaleHeads"] {
            assert!(
                w.made.iter().any(|(_, what)| what.contains(kind)),
                "{role:?}: no {kind}"
            );
        }
        let refused = w
            .made
            .iter()
            .filter(|(id, _)| {
                HONEST.iter().all(|i| {
                    matches!(
                        w.net.replicas[*i].envelope_outcome(id),
                        Some(Outcome::Quarantined(_))
                    )
                })
            })
            .count();
        assert!(refused >= 5, "{role:?}: {refused} refused");
        assert!(w.seen_applied.len() >= 10, "{role:?}");
    }
}

/// The rogue (an editor) sees the admin's first change under a new Loro peer before the owner
/// does, and sends the owner, first, a copy of that peer's first changes (an old-format claim:
/// no salt) and then a continuation of the admin's real history under the same peer. The owner,
/// who has not seen the peer proven yet, applies both and writes on top. When the admin's
/// change (whose salt proves the peer) arrives, both rogue envelopes are refused; the owner's
/// change must still apply.
#[test]
#[ignore = "open: a first-come claim on a peer whose proof has not arrived voids work built on it"]
fn work_built_on_a_copied_peer_before_its_proof_arrived_survives() {
    let mut w = setup(Role::Editor);
    let doc = w.doc;
    // The admin writes; only the rogue receives it.
    w.honest_edit(ADMIN, Action::EditDocs, |ws| {
        ws.append_body(doc, " admin").is_ok()
    });
    let v = w.net.envelopes().last().unwrap().clone();
    assert!(w.honest.contains(&v.id()));
    let peer = v.header().peers[0];
    w.receive(ROGUE, &Msg::Env(v.encode()));
    let end = w.net.replicas[ROGUE].workspace().loro().oplog_vv()[&peer];
    // A copy of the peer's first changes (same ids, other content), to the owner only.
    let copy = LoroDoc::new();
    copy.set_peer_id(peer).unwrap();
    for k in 0..end {
        copy.get_map("trash").insert(&k.to_string(), 1).unwrap();
    }
    copy.commit();
    assert_eq!(copy.oplog_vv()[&peer], end);
    let heads = w.net.replicas[ROGUE].log().heads();
    let seq = w.next_seq();
    let header = rogue_header(&w.net, seq, vec![peer], vec![], heads.clone());
    let r0 = seal_as(
        &w.net,
        ROGUE,
        header,
        &copy.export(ExportMode::all_updates()).unwrap(),
    );
    w.rogue_env(r0.clone(), 1 << OWNER);
    // More changes of the peer, written on the copy, to the owner only.
    let seq = w.next_seq();
    let meta = LoroDoc::decode_import_blob_meta(&plaintext(&w.net, &v), true).unwrap();
    let base = w.net.replicas[ROGUE]
        .workspace()
        .loro()
        .fork_at(&meta.start_frontiers)
        .unwrap();
    base.import(&copy.export(ExportMode::all_updates()).unwrap())
        .unwrap();
    let r1 = rogue_edit(&w.net, base, seq, Some(peer), heads, |ws| {
        ws.append_body(doc, " as the admin").unwrap();
    })
    .unwrap();
    w.rogue_env(r1.clone(), 1 << OWNER);
    for e in [&r0, &r1] {
        assert_eq!(
            w.net.replicas[OWNER].envelope_outcome(&e.id()),
            Some(Outcome::Applied)
        );
    }
    // The owner writes on top.
    w.honest_edit(OWNER, Action::EditDocs, |ws| {
        ws.append_body(doc, " owner").is_ok()
    });
    let h = w.net.envelopes().last().unwrap().clone();
    assert!(w.honest.contains(&h.id()));
    w.record();
    assert!(w.seen_applied.contains(&h.id()));
    w.net.sync();
    w.record();
    for e in [&r0, &r1] {
        let reasons = w.net.assert_quarantined_everywhere(e);
        assert!(reasons
            .iter()
            .all(|r| r.contains(&format!("Loro peer {peer} belongs to device"))));
    }
    for i in HONEST {
        let r = &w.net.replicas[i];
        assert_eq!(
            r.envelope_outcome(&v.id()),
            Some(Outcome::Applied),
            "{}",
            NAMES[i]
        );
        assert_eq!(
            r.envelope_outcome(&h.id()),
            Some(Outcome::Applied),
            "{}: the owner's change written on the copy",
            NAMES[i]
        );
    }
    assert_honest_replicas_agree(&w);
}

/// The rogue (an admin) writes a change under its own peer and seals a snapshot holding it,
/// then signs a twin of that change (the same Loro ids, other content) for the admin, and a
/// twin of the twin for the owner and the editor; the editor writes on the second twin. With
/// everything delivered, the second twin is the one built on, so the first change and the
/// first twin are refused everywhere. But a replica that applied the snapshot first holds the
/// first change's content under those ids, so it refuses the second twin as a bad payload and
/// the editor's change waits for it forever, while the editor (which had the twin first) refuses
/// the snapshot: the replicas split, and the editor's change is lost everywhere but at home.
#[test]
#[ignore = "open: a snapshot holding a refused twin's changes splits the replicas"]
fn a_snapshot_holding_a_refused_twins_changes_does_not_split_the_replicas() {
    let mut w = setup(Role::Admin);
    let doc = w.doc;
    let now = w.net.tick();
    let r = &mut w.net.replicas[ROGUE];
    r.workspace().append_body(doc, " rogue").unwrap();
    let first = r.local_commit(now).unwrap().unwrap();
    w.rogue_envs.push(first.clone());
    w.net.publish_env(first.clone());
    attack_step(&mut w, Attack::Snapshot { text: 0 }, 1 << ROGUE);
    let snapshot = w.rogue_envs[1].clone();
    attack_step(
        &mut w,
        Attack::Twin {
            pick: 0,
            same_ids: true,
        },
        (1 << ADMIN) | (1 << ROGUE),
    );
    attack_step(
        &mut w,
        Attack::Twin {
            pick: 2,
            same_ids: true,
        },
        (1 << OWNER) | (1 << EDITOR),
    );
    let built_on = w.rogue_envs[3].clone();
    w.honest_edit(EDITOR, Action::EditDocs, |ws| {
        ws.append_body(doc, " editor").is_ok()
    });
    let h = w.net.envelopes().last().unwrap().clone();
    assert!(w.honest.contains(&h.id()));
    assert!(h.header().builds_on.contains(&built_on.id()));
    w.record();
    w.net.sync();
    w.record();
    for i in HONEST {
        let r = &w.net.replicas[i];
        assert_eq!(
            r.envelope_outcome(&h.id()),
            Some(Outcome::Applied),
            "{}: the editor's change (snapshot: {:?})",
            NAMES[i],
            r.envelope_outcome(&snapshot.id())
        );
    }
    assert_honest_replicas_agree(&w);
}

/// The rogue (an editor) writes a change, then a second one on top of it that leaves out the
/// citation of the first (a modified client signs what it likes). The editor writes on the
/// second. Then the rogue signs a twin of the first (the same Loro ids, other content). Nobody
/// cited the first, so it and its twin are both refused; the second waits for the first's
/// changes forever, and so does the editor's change, on every replica.
#[test]
#[ignore = "open: a change that leaves out its citations, built on, then twinned, voids honest work"]
fn work_built_on_a_change_that_hides_what_it_builds_on_survives_a_twin() {
    let mut w = setup(Role::Editor);
    let doc = w.doc;
    let heads = w.net.replicas[ROGUE].log().heads();
    let seq = w.next_seq();
    let first = rogue_edit(&w.net, rogue_doc(&w.net), seq, None, heads.clone(), |ws| {
        ws.append_body(doc, " one").unwrap()
    })
    .unwrap();
    w.rogue_env(first.clone(), 0b1111);
    let seq = w.next_seq();
    let second = rogue_edit(&w.net, rogue_doc(&w.net), seq, None, heads, |ws| {
        ws.append_body(doc, " two").unwrap()
    })
    .unwrap();
    assert!(second.header().builds_on.is_empty());
    w.rogue_env(second.clone(), 0b1111);
    for i in HONEST {
        for e in [&first, &second] {
            assert_eq!(
                w.net.replicas[i].envelope_outcome(&e.id()),
                Some(Outcome::Applied)
            );
        }
    }
    w.honest_edit(EDITOR, Action::EditDocs, |ws| {
        ws.append_body(doc, " editor").is_ok()
    });
    let h = w.net.envelopes().last().unwrap().clone();
    assert!(w.honest.contains(&h.id()));
    assert_eq!(h.header().builds_on, vec![second.id()]);
    w.net.sync();
    w.record();
    let t = twin(&w.net, &first, true, doc, " TWIN").unwrap();
    w.rogue_env(t.clone(), 0b1111);
    w.net.sync();
    w.record();
    for i in HONEST {
        let r = &w.net.replicas[i];
        assert_eq!(
            r.envelope_outcome(&h.id()),
            Some(Outcome::Applied),
            "{}: the editor's change (the rogue's first {:?}, its twin {:?})",
            NAMES[i],
            r.envelope_outcome(&first.id()),
            r.envelope_outcome(&t.id()),
        );
    }
    assert_honest_replicas_agree(&w);
}
