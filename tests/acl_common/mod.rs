//! Shared helpers for the access-control tests: real wallets, real device keys, real pairing
//! certificates, several replicas in one process, and a message bus between them.
#![allow(dead_code)]

use loro::ExportMode;
use time::OffsetDateTime;
use weft::acl::{
    AclOp, AclOpKind, AclOutcome, DeviceIdentity, Founding, Outcome, Outgoing, Replica,
    ReplicaConfig, Role,
};
use weft::crypto::envelope::HEADER_VERSION;
use weft::crypto::{AclOpId, Envelope, EnvelopeHeader, EpochKey};
use weft::identity::{
    Address, DeviceKey, LocalWallet, PairingCertificate, PairingRequest, VerifyPolicy,
};
use weft::model::{Clock, ItemId, Workspace};

/// 2026-09-21 (Unix seconds); every test runs on this fixed clock.
pub const T0: i64 = 1_790_000_000;

pub fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).expect("valid time")
}

pub fn config() -> ReplicaConfig {
    ReplicaConfig {
        policy: VerifyPolicy::default(),
        clock: Clock::Fixed(T0 * 1000),
        ..ReplicaConfig::default()
    }
}

/// A pairing certificate for `device` signed by `wallet`, valid from a day before T0 for a year.
pub fn certificate(wallet: &LocalWallet, device: &DeviceKey) -> PairingCertificate {
    let request = PairingRequest::new(wallet.address(), device.id(), at(T0 - 86_400));
    PairingCertificate::sign_with(&request, wallet).expect("sign pairing")
}

/// A device of a wallet: its key (kept, so tests can play a modified client) and identity.
pub struct Device {
    pub key: DeviceKey,
    pub identity: DeviceIdentity,
}

pub fn device(wallet: &LocalWallet) -> Device {
    let key = DeviceKey::generate();
    let cert = certificate(wallet, &key);
    let identity =
        DeviceIdentity::new(key.clone(), cert, &VerifyPolicy::default()).expect("identity");
    Device { key, identity }
}

/// A message on the bus.
#[derive(Clone, Debug)]
pub enum Msg {
    Acl(Vec<u8>),
    Env(Vec<u8>),
}

/// Replicas plus everything any of them has published, delivered in order.
pub struct Net {
    pub replicas: Vec<Replica>,
    pub names: Vec<&'static str>,
    pub keys: Vec<DeviceKey>,
    pub msgs: Vec<Msg>,
    delivered: Vec<usize>,
    pub now: i64,
}

impl Net {
    pub fn found(name: &'static str, owner: &LocalWallet) -> (Net, Founding) {
        let d = device(owner);
        let (replica, founding) =
            Replica::create("team", d.identity, config(), at(T0)).expect("create workspace");
        let mut net = Net {
            replicas: vec![replica],
            names: vec![name],
            keys: vec![d.key],
            msgs: vec![
                Msg::Acl(founding.genesis.encode()),
                Msg::Acl(founding.rotation.encode()),
                Msg::Env(founding.first.encode()),
            ],
            delivered: vec![3],
            now: T0,
        };
        net.tick();
        (net, founding)
    }

    /// Advances the shared clock by one second.
    pub fn tick(&mut self) -> OffsetDateTime {
        self.now += 1;
        at(self.now)
    }

    /// A new replica for a device of `wallet`; returns its index.
    pub fn join(&mut self, name: &'static str, wallet: &LocalWallet) -> usize {
        let d = device(wallet);
        let Msg::Acl(genesis) = &self.msgs[0] else {
            unreachable!()
        };
        let r = Replica::join(genesis, d.identity, config()).expect("join");
        self.add_replica(name, r, d.key)
    }

    /// Adds a replica made elsewhere; returns its index.
    pub fn add_replica(&mut self, name: &'static str, r: Replica, key: DeviceKey) -> usize {
        self.replicas.push(r);
        self.names.push(name);
        self.keys.push(key);
        self.delivered.push(0);
        self.replicas.len() - 1
    }

    pub fn index(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no replica {name}"))
    }

    pub fn r(&mut self, name: &str) -> &mut Replica {
        let i = self.index(name);
        &mut self.replicas[i]
    }

    pub fn publish_op(&mut self, op: AclOp) {
        self.msgs.push(Msg::Acl(op.encode()));
    }

    pub fn publish_env(&mut self, env: Envelope) {
        self.msgs.push(Msg::Env(env.encode()));
    }

    fn publish_outbox(&mut self, i: usize) {
        for out in self.replicas[i].take_outbox() {
            match out {
                Outgoing::Envelope(e) => self.publish_env(e),
                Outgoing::AclOp(o) => self.publish_op(o),
            }
        }
    }

    /// Delivers every message `i` has not seen yet, in publication order.
    pub fn deliver_to(&mut self, i: usize) {
        while self.delivered[i] < self.msgs.len() {
            let m = self.msgs[self.delivered[i]].clone();
            self.delivered[i] += 1;
            let now = at(self.now);
            match m {
                Msg::Acl(b) => {
                    self.replicas[i].receive_acl_op(&b, now);
                }
                Msg::Env(b) => {
                    self.replicas[i].receive_envelope(&b, now);
                }
            }
            self.publish_outbox(i);
        }
    }

    /// Delivers one message to replica `i` now (it will be delivered again by `sync`, as a
    /// harmless duplicate).
    pub fn receive(&mut self, i: usize, m: &Msg) {
        let now = at(self.now);
        match m {
            Msg::Acl(b) => {
                self.replicas[i].receive_acl_op(b, now);
            }
            Msg::Env(b) => {
                self.replicas[i].receive_envelope(b, now);
            }
        }
        self.publish_outbox(i);
    }

    /// Delivers everything to everyone.
    pub fn sync(&mut self) {
        loop {
            for i in 0..self.replicas.len() {
                self.deliver_to(i);
            }
            if self.delivered.iter().all(|d| *d == self.msgs.len()) {
                break;
            }
        }
    }

    /// A membership action by `name`'s replica, published.
    pub fn act(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Replica, OffsetDateTime) -> Result<AclOp, weft::acl::LocalError>,
    ) -> AclOp {
        let now = self.tick();
        let i = self.index(name);
        let op =
            f(&mut self.replicas[i], now).unwrap_or_else(|e| panic!("{name} could not act: {e}"));
        self.publish_op(op.clone());
        self.publish_outbox(i);
        op
    }

    /// `inviter` invites `address` with `role`; replica `joiner` (a device of that wallet that
    /// has joined) receives everything published so far and redeems the code. Returns the
    /// published invite op.
    pub fn invite(&mut self, inviter: &str, joiner: usize, address: Address, role: Role) -> AclOp {
        let now = self.tick();
        let i = self.index(inviter);
        let (op, secret) = self.replicas[i]
            .invite(address, role, now)
            .unwrap_or_else(|e| panic!("{inviter} could not invite: {e}"));
        self.publish_op(op.clone());
        self.publish_outbox(i);
        self.deliver_to(joiner);
        let now = at(self.now);
        self.replicas[joiner]
            .redeem_invite(&secret, now)
            .expect("the code opens the invite");
        self.publish_outbox(joiner);
        op
    }

    /// An honest local edit by `name`, sealed and published.
    pub fn edit(&mut self, name: &str, f: impl FnOnce(&Workspace)) -> Envelope {
        let now = self.tick();
        let i = self.index(name);
        f(self.replicas[i].workspace());
        let env = self.replicas[i]
            .local_commit(now)
            .unwrap_or_else(|e| panic!("{name}'s edit was refused locally: {e}"))
            .expect("the edit wrote something");
        self.publish_env(env.clone());
        env
    }

    /// The outcome of an envelope on every replica, by name.
    pub fn outcomes(&self, env: &Envelope) -> Vec<(&'static str, Option<Outcome>)> {
        self.replicas
            .iter()
            .zip(&self.names)
            .map(|(r, n)| (*n, r.envelope_outcome(&env.id())))
            .collect()
    }

    /// Asserts every replica quarantined `env` (its author's replica included, when it is a
    /// rogue envelope) and returns the reasons. A replica without the key of its epoch (an
    /// outsider, a removed member) cannot look inside: there it must be quarantined for a
    /// reason that needs no key, or wait for the key.
    pub fn assert_quarantined_everywhere(&self, env: &Envelope) -> Vec<String> {
        let mut reasons = Vec::new();
        for (r, n) in self.replicas.iter().zip(&self.names) {
            match r.envelope_outcome(&env.id()) {
                Some(Outcome::Quarantined(reason)) => reasons.push(reason.to_string()),
                Some(Outcome::Pending(m)) if !can_read(r, env) => assert_eq!(
                    m.epoch,
                    Some(env.header().epoch),
                    "{n}: without the key it must wait for the key"
                ),
                other => panic!("{n}: expected quarantined, got {other:?}"),
            }
        }
        assert!(!reasons.is_empty(), "no replica could judge it");
        reasons
    }

    /// Asserts every replica that holds the key applied `env`, and every other one holds it
    /// pending for the key.
    pub fn assert_applied_everywhere(&self, env: &Envelope) {
        let mut readers = 0;
        for (r, n) in self.replicas.iter().zip(&self.names) {
            let o = r.envelope_outcome(&env.id());
            if can_read(r, env) {
                readers += 1;
                assert_eq!(o, Some(Outcome::Applied), "{n}");
            } else {
                assert!(
                    matches!(&o, Some(Outcome::Pending(m)) if m.epoch == Some(env.header().epoch)),
                    "{n} has no key for epoch {}, so it must wait for it: {o:?}",
                    env.header().epoch
                );
            }
        }
        assert!(readers > 0, "nobody could read it");
    }

    /// The replicas that hold any key, so read at least part of the workspace (all but the
    /// outsider's, which only ever waits).
    pub fn key_holders(&self) -> impl Iterator<Item = &Replica> {
        self.replicas.iter().filter(|r| !r.epoch_keys().is_empty())
    }

    /// Every envelope published so far.
    pub fn envelopes(&self) -> Vec<Envelope> {
        self.msgs
            .iter()
            .filter_map(|m| match m {
                Msg::Env(b) => Envelope::decode(b).ok(),
                Msg::Acl(_) => None,
            })
            .collect()
    }

    /// Every replica holds the same membership (current key epoch included). Every replica
    /// whose device may read holds the current key and reads everything the first replica
    /// (the owner's) applied, and holds the same document; a replica that may not read (an
    /// outsider, a removed member, a revoked device) does not hold the current key, holds a
    /// part of the document, and waits for the rest.
    pub fn assert_converged(&self) {
        let first = &self.replicas[0];
        let doc = document(first);
        let applied = first.applied();
        let envelopes = self.envelopes();
        let applied_envs: Vec<&Envelope> = envelopes
            .iter()
            .filter(|e| applied.binary_search(&e.id()).is_ok())
            .collect();
        for (r, n) in self.replicas.iter().zip(&self.names) {
            assert_eq!(r.members(), first.members(), "membership of {n}");
            let reads = r
                .members()
                .reading_devices()
                .contains(&r.identity().device());
            let reads_all = applied_envs.iter().all(|e| can_read(r, e));
            if reads {
                assert!(r.has_current_key(), "{n} may read but has no current key");
                assert!(
                    reads_all,
                    "{n} may read but lacks keys for what was applied"
                );
            } else {
                assert!(
                    !r.has_current_key(),
                    "{n} may not read but holds the current key"
                );
            }
            if reads_all {
                assert_eq!(r.applied(), applied, "applied envelopes of {n}");
                assert_eq!(document(r), doc, "document of {n}");
            } else {
                let mine = r.applied();
                for id in &mine {
                    assert!(
                        applied.contains(id),
                        "{n} applied {id:?}, the owner did not"
                    );
                }
                for id in applied.iter().filter(|id| !mine.contains(id)) {
                    assert!(
                        matches!(r.envelope_outcome(id), Some(Outcome::Pending(_))),
                        "{n}: {id:?} must wait, not be refused: {:?}",
                        r.envelope_outcome(id)
                    );
                }
            }
        }
    }
}

/// Whether `r` holds a key that opens `env`.
pub fn can_read(r: &Replica, env: &Envelope) -> bool {
    r.epoch_keys()
        .iter()
        .any(|(e, k)| *e == env.header().epoch && env.open(k).is_ok())
}

/// The key of the epoch current at `heads` in `r`'s log, taken from `holder`'s keyring.
pub fn key_at(r: &Replica, heads: &[AclOpId], holder: &Replica) -> Option<(u32, EpochKey)> {
    let current = r.resolution().state_at(r.log(), heads)?.epoch?;
    let Some(AclOpKind::RotateKey { epoch, check, .. }) =
        r.log().get(&current.rotation).map(|op| op.kind().clone())
    else {
        return None;
    };
    holder
        .epoch_keys()
        .into_iter()
        .find(|(e, k)| *e == epoch && k.check(&r.workspace_id(), epoch) == check)
}

/// The key a modified client of replica `i` seals under when it cites `heads`: the key of the
/// epoch current there, its own, or, for a device without it (an outsider, a removed member),
/// another replica's, as if it had leaked: the owner's, or, when the owner has not received
/// that rotation yet, any holder's (its author holds it). Encryption is not authorisation: the
/// envelope must still be refused for what it does and who signed it.
pub fn sealing_key(net: &Net, i: usize, heads: &[AclOpId]) -> (u32, EpochKey) {
    let r = &net.replicas[i];
    key_at(r, heads, r)
        .or_else(|| net.replicas.iter().find_map(|h| key_at(r, heads, h)))
        .expect("the rotation's author holds its key")
}

/// Encrypts `update` under replica `i`'s sealing key and signs it with its device key (a
/// modified client: no local checks).
pub fn seal_as(net: &Net, i: usize, header: EnvelopeHeader, update: &[u8]) -> Envelope {
    let (epoch, key) = sealing_key(net, i, &header.acl_heads);
    let header = EnvelopeHeader { epoch, ..header };
    Envelope::seal_encrypted(header, update, &net.keys[i], &key).expect("seal")
}

/// The Loro update inside `env`, decrypted with any key a replica holds.
pub fn plaintext(net: &Net, env: &Envelope) -> Vec<u8> {
    net.replicas
        .iter()
        .flat_map(|r| r.epoch_keys())
        .filter(|(e, _)| *e == env.header().epoch)
        .find_map(|(_, k)| env.open(&k).ok())
        .expect("some replica reads it")
}

/// `env`'s update under another header, encrypted and signed again by replica `i`'s device.
pub fn reseal(net: &Net, i: usize, header: EnvelopeHeader, env: &Envelope) -> Envelope {
    let update = plaintext(net, env);
    seal_as(net, i, header, &update)
}

/// The accepted document as users see it, plus the set of changes it holds. (Root containers
/// that were only looked at show up empty in Loro's deep value, so they are left out.)
pub fn document(r: &Replica) -> (serde_json::Value, Vec<(u64, i32)>) {
    let value = serde_json::to_value(r.workspace().export_all()).expect("serialise");
    let doc = r.workspace().loro();
    let mut vv: Vec<(u64, i32)> = doc.oplog_vv().iter().map(|(p, c)| (*p, *c)).collect();
    vv.sort();
    // The replica's own unsent peer may differ; only accepted changes count.
    vv.retain(|(_, c)| *c > 0);
    (value, vv)
}

/// The standard team: owner, admin, editor (two devices), commenter, viewer, and an outsider
/// with a valid wallet and a paired device but no role. Everyone is synced.
pub struct Team {
    pub net: Net,
    pub owner: LocalWallet,
    pub admin: LocalWallet,
    pub editor: LocalWallet,
    pub commenter: LocalWallet,
    pub viewer: LocalWallet,
    pub outsider: LocalWallet,
    pub doc: ItemId,
}

pub fn team() -> Team {
    let owner = LocalWallet::generate();
    let admin = LocalWallet::generate();
    let editor = LocalWallet::generate();
    let commenter = LocalWallet::generate();
    let viewer = LocalWallet::generate();
    let outsider = LocalWallet::generate();
    let (mut net, _) = Net::found("owner", &owner);
    net.join("admin", &admin);
    net.join("editor", &editor);
    net.join("editor2", &editor);
    net.join("commenter", &commenter);
    net.join("viewer", &viewer);
    net.join("outsider", &outsider);

    let a = admin.address();
    net.act("owner", |r, t| r.add_member(a, Role::Admin, t));
    net.sync();
    net.act("admin", |r, t| r.publish_device_certificate(t));
    net.sync();
    for (who, role) in [
        (editor.address(), Role::Editor),
        (commenter.address(), Role::Commenter),
        (viewer.address(), Role::Viewer),
    ] {
        net.act("admin", |r, t| r.add_member(who, role, t));
    }
    net.sync();
    for name in ["editor", "editor2", "commenter", "viewer"] {
        net.act(name, |r, t| r.publish_device_certificate(t));
    }
    net.sync();
    let mut doc = None;
    net.edit("editor", |ws| {
        let d = ws.create_doc("Plan", None).expect("create doc");
        ws.set_body(d, "hello").expect("body");
        doc = Some(d);
    });
    net.sync();
    Team {
        net,
        owner,
        admin,
        editor,
        commenter,
        viewer,
        outsider,
        doc: doc.expect("doc created"),
    }
}

/// What a modified client could send: an edit made on a copy of `name`'s document, encrypted
/// (see [`sealing_key`]) and signed with that replica's device key, bypassing every local
/// check.
pub fn rogue_envelope(
    net: &mut Net,
    name: &str,
    seq: u64,
    edit: impl FnOnce(&mut Workspace),
) -> Envelope {
    let now = net.tick();
    let i = net.index(name);
    let r = &net.replicas[i];
    let key = net.keys[i].clone();
    // A device that was never given a key (the outsider) cannot see the document; it edits
    // the owner's, as if the key had leaked.
    let source = if r.epoch_keys().is_empty() {
        &net.replicas[0]
    } else {
        r
    };
    let doc = source.workspace().loro().fork();
    let before = doc.oplog_vv();
    let actor = r.identity().address().to_checksum();
    let mut ws = Workspace::open_replica(doc, &actor, Clock::Fixed(now.unix_timestamp() * 1000));
    edit(&mut ws);
    ws.commit();
    let payload = ws
        .loro()
        .export(ExportMode::updates(&before))
        .expect("export");
    let header = EnvelopeHeader {
        version: HEADER_VERSION,
        workspace: r.workspace_id(),
        epoch: 0,
        device: key.id(),
        cert_hash: r.identity().cert_hash(),
        seq,
        time: now.unix_timestamp(),
        peers: vec![ws.loro().peer_id()],
        acl_heads: r.log().heads(),
        salts: vec![],
        builds_on: vec![],
        nonce: vec![],
    };
    seal_as(net, i, header, &payload)
}

pub fn is_accepted(o: &AclOutcome) -> bool {
    matches!(o, AclOutcome::Accepted)
}

pub fn addr(w: &LocalWallet) -> Address {
    w.address()
}
