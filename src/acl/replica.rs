//! The replica: the pure engine one device runs for one workspace. It holds the membership log,
//! the document, a shadow copy used to inspect incoming updates, the Loro peer bindings, and
//! every envelope it has received with its standing (applied, pending, quarantined). A store and
//! a transport drive it: they hand it bytes and a clock reading, persist what it accepts, and
//! deliver what it produces. It does no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k256::ecdsa::VerifyingKey;
use loro::{ExportMode, IdSpan, LoroDoc};
use time::OffsetDateTime;

use super::claims::Claims;
pub(crate) use super::device::verify_certificate;
pub use super::device::{DeviceIdentity, ReplicaConfig};
use super::inspect::Inspector;
use super::judge::{Blob, Content, HeadsState, Held, Status, Verdict};
use super::keys::{KeyDuties, Keyring};
use super::log::MembershipLog;
use super::op::{AclOp, AclOpBody, AclOpKind, ContentVersion};
use super::outcome::{Effects, Outcome, Outgoing, QuarantinedItem, Receipt};
use super::refusal::Refusal;
use super::release::Waits;
use super::resolve::Resolution;
use super::state::check_cert_time;
use crate::crypto::envelope::{derive_peer, PeerSalt, HEADER_VERSION, MAX_BUILDS_ON};
use crate::crypto::epoch::NONCE_LEN;
use crate::crypto::{
    AclOpId, Envelope, EnvelopeError, EnvelopeHeader, EnvelopeId, WireError, WorkspaceId,
};
use crate::identity::{DeviceId, VerifiedPairing, WorkspaceScope};
use crate::model::{ModelError, Workspace};

/// Why a replica could not be created or joined.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicaError {
    /// The genesis or certificate is not acceptable.
    #[error("the workspace cannot be opened: {0}")]
    Refused(#[from] Refusal),
    /// The document could not be created.
    #[error("the document could not be created: {0}")]
    Model(#[from] ModelError),
}

/// Why a local change or membership action was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The local user's role does not allow it; the change was undone.
    #[error("not allowed: {0}")]
    NotAllowed(#[from] Refusal),
    /// The local document could not be exported.
    #[error("the change could not be packaged: {0}")]
    Export(String),
    /// This device does not hold the key of the current epoch, so it cannot encrypt: a member
    /// must share the keys with it (the edits stay in the document, unsent).
    #[error("this device has not been given the key of epoch {epoch} yet, so it cannot encrypt changes; another member's device shares it once it sees this device")]
    NoKey {
        /// The current epoch.
        epoch: u32,
    },
    /// An invite code that does not open its invite's lockbox.
    #[error("the invite cannot be used: {0}")]
    Invite(String),
}

/// A new workspace: the replica plus what must be published for others to join, in this
/// order.
#[derive(Debug)]
pub struct Founding {
    /// The genesis op (its hash is the workspace id).
    pub genesis: AclOp,
    /// The first key rotation: epoch 1, its key wrapped for the owner's device (so the owner
    /// recovers it from the log with the device key alone).
    pub rotation: AclOp,
    /// The owner's first change (workspace name and settings), encrypted under epoch 1.
    pub first: Envelope,
}

/// The engine one device runs for one workspace.
pub struct Replica {
    pub(crate) me: DeviceIdentity,
    pub(crate) config: ReplicaConfig,
    pub(crate) workspace_id: WorkspaceId,
    pub(crate) log: MembershipLog,
    pub(crate) resolution: Resolution,
    /// Membership ops waiting for their parents or their time.
    pub(crate) waiting_ops: BTreeMap<AclOpId, (AclOp, Option<VerifiedPairing>)>,
    pub(crate) ws: Workspace,
    pub(crate) shadow: LoroDoc,
    pub(crate) inspector: Inspector,
    pub(crate) held: BTreeMap<EnvelopeId, Held>,
    /// Held envelopes that are not applied (pending or quarantined).
    pub(crate) unsettled: BTreeSet<EnvelopeId>,
    /// Pending envelopes by what they wait for (see `release.rs`).
    pub(crate) waits: Waits,
    /// Unreadable, foreign or forged items: (bytes, what, reason).
    pub(crate) rejected: Vec<super::outcome::QuarantineEntry>,
    /// Positions in `rejected` by item, to answer repeats without a scan.
    pub(crate) rejected_index: HashMap<QuarantinedItem, Vec<usize>>,
    pub(crate) claims: Claims,
    pub(crate) keys: HashMap<DeviceId, VerifyingKey>,
    pub(crate) heads_cache: HashMap<Vec<AclOpId>, HeadsState>,
    pub(crate) sent_peer: u64,
    pub(crate) sent: i32,
    /// The salt this session derived the document's Loro peer id from (see [`super::claims`]).
    pub(crate) peer_salt: PeerSalt,
    pub(crate) seq: u64,
    pub(crate) outbox: Vec<Outgoing>,
    /// Envelopes whose applied state changed during the current call.
    pub(crate) transitions: Vec<(EnvelopeId, bool)>,
    pub(crate) rebuilt: bool,
    /// The epoch keys this device holds, and what it has learned from the log about keys.
    pub(crate) keyring: Keyring,
    /// Rotations and shares this device has already published on its own initiative.
    pub(crate) duties: KeyDuties,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("workspace", &self.workspace_id)
            .field("device", &self.me.device())
            .field("ops", &self.log.len())
            .field("envelopes", &self.held.len())
            .finish_non_exhaustive()
    }
}

/// Refused items the engine remembers (see `bound_rejected`).
pub(crate) const MAX_REJECTED: usize = 512;
/// Items written by a newer weft the engine remembers.
pub(crate) const MAX_REJECTED_NEWER: usize = 4096;

pub(crate) fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

impl Replica {
    /// Creates a workspace named `name` owned by this device's wallet.
    ///
    /// Fails if the certificate does not cover all workspaces (a new workspace's id is not known
    /// before its genesis is signed) or was not in force at `now`.
    pub fn create(
        name: &str,
        me: DeviceIdentity,
        config: ReplicaConfig,
        now: OffsetDateTime,
    ) -> Result<(Self, Founding), ReplicaError> {
        if me.pairing_ref().scope != WorkspaceScope::All {
            return Err(Refusal::CertificateNotValid {
                device: me.device(),
                why: "creating a workspace needs a certificate for all workspaces".into(),
            }
            .into());
        }
        check_cert_time(me.pairing_ref(), unix(now))?;
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        let body = AclOpBody {
            kind: AclOpKind::Genesis {
                certificate: me.certificate().clone(),
                salt,
            },
            author: me.device(),
            cert_hash: me.cert_hash(),
            parents: Vec::new(),
            time: unix(now),
            seen: ContentVersion::default(),
        };
        let genesis =
            AclOp::sign(body, me.key_ref()).map_err(|e| Refusal::Unreadable(e.to_string()))?;
        // The first changes are written under the session's derived peer id already.
        let doc = LoroDoc::new();
        let peer_salt = set_derived_peer(&doc, &me.device());
        let ws = Workspace::create_in(doc, name, &me.address().to_checksum(), config.clock)?;
        let mut replica = Self::assemble(me, config, genesis.clone(), ws, peer_salt)?;
        let rotation = replica
            .rotate(unix(now))
            .map_err(|e| Refusal::Unreadable(e.to_string()))?;
        replica.transitions.clear();
        let first = replica
            .local_commit(now)
            .map_err(|e| Refusal::Unreadable(e.to_string()))?
            .ok_or_else(|| Refusal::Unreadable("the new workspace wrote nothing".into()))?;
        Ok((
            replica,
            Founding {
                genesis,
                rotation,
                first,
            },
        ))
    }

    /// Opens the replica of a workspace from its genesis op, before anything else arrives.
    ///
    /// Fails if the bytes are not a valid genesis.
    pub fn join(
        genesis: &[u8],
        me: DeviceIdentity,
        config: ReplicaConfig,
    ) -> Result<Self, ReplicaError> {
        let op = AclOp::decode(genesis).map_err(|e| Refusal::Unreadable(e.to_string()))?;
        let doc = LoroDoc::new();
        let peer_salt = set_derived_peer(&doc, &me.device());
        let ws = Workspace::open_replica(doc, &me.address().to_checksum(), config.clock);
        Self::assemble(me, config, op, ws, peer_salt)
    }

    fn assemble(
        me: DeviceIdentity,
        config: ReplicaConfig,
        genesis: AclOp,
        ws: Workspace,
        peer_salt: PeerSalt,
    ) -> Result<Self, ReplicaError> {
        let AclOpKind::Genesis { certificate, .. } = genesis.kind() else {
            return Err(Refusal::Unreadable(
                "the first op of a workspace must be its genesis".into(),
            )
            .into());
        };
        genesis
            .verify_signature()
            .map_err(|_| Refusal::BadSignature)?;
        let pairing = verify_certificate(certificate, &config.policy)?;
        if pairing.device != genesis.body().author
            || pairing.cert_hash != genesis.body().cert_hash
            || pairing.scope != WorkspaceScope::All
            || !genesis.body().parents.is_empty()
        {
            return Err(Refusal::CertificateNotValid {
                device: genesis.body().author,
                why: "the genesis must be signed by the device its all-workspace certificate pairs"
                    .into(),
            }
            .into());
        }
        check_cert_time(&pairing, genesis.body().time)?;
        let workspace_id = WorkspaceId(genesis.id().0);
        let log = MembershipLog::new(genesis, pairing);
        let resolution = Resolution::compute(&log);
        let shadow = ws.loro().fork();
        Ok(Self {
            me,
            config,
            workspace_id,
            log,
            resolution,
            waiting_ops: BTreeMap::new(),
            ws,
            shadow,
            inspector: Inspector::new(),
            held: BTreeMap::new(),
            unsettled: BTreeSet::new(),
            waits: Waits::default(),
            rejected: Vec::new(),
            rejected_index: HashMap::new(),
            claims: Claims::default(),
            keys: HashMap::new(),
            heads_cache: HashMap::new(),
            sent_peer: 0,
            sent: 0,
            peer_salt,
            seq: 0,
            outbox: Vec::new(),
            transitions: Vec::new(),
            rebuilt: false,
            keyring: Keyring::new(workspace_id),
            duties: KeyDuties::default(),
        })
    }

    /// The workspace id (hash of the genesis).
    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    /// The document, holding exactly the accepted changes plus this device's unsent edits.
    /// Edit it through the model API, then call [`local_commit`](Self::local_commit).
    pub fn workspace(&self) -> &Workspace {
        &self.ws
    }

    /// This device.
    pub fn identity(&self) -> &DeviceIdentity {
        &self.me
    }

    /// The membership log.
    pub fn log(&self) -> &MembershipLog {
        &self.log
    }

    /// The resolved membership log.
    pub fn resolution(&self) -> &Resolution {
        &self.resolution
    }

    /// Envelopes and ops produced as a side effect: local edits sealed before a document
    /// rebuild, and the key rotations and shares this device takes on by itself (see
    /// [`super::keys`]). Deliver them like the results of [`local_commit`](Self::local_commit),
    /// after the op that caused them; call it after every call that takes a clock reading.
    pub fn take_outbox(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outbox)
    }

    /// Gives the document a new Loro peer id derived from this device and a fresh salt (a new
    /// session of the document: after a rebuild).
    pub(crate) fn derive_local_peer(&mut self) {
        self.peer_salt = set_derived_peer(self.ws.loro(), &self.me.device());
    }

    /// Verifying key of a device, decompressed once.
    fn key_of(&mut self, device: &DeviceId) -> VerifyingKey {
        *self
            .keys
            .entry(*device)
            .or_insert_with(|| device.verifying_key())
    }

    /// The reason these exact bytes were rejected before, if they were.
    pub(crate) fn already_rejected(&self, item: QuarantinedItem, bytes: &[u8]) -> Option<Refusal> {
        self.rejected_index
            .get(&item)?
            .iter()
            .map(|&i| &self.rejected[i])
            .find(|e| e.bytes == bytes)
            .map(|e| e.reason.clone())
    }

    pub(crate) fn reject(
        &mut self,
        bytes: &[u8],
        item: QuarantinedItem,
        device: Option<DeviceId>,
        reason: Refusal,
    ) {
        if item != QuarantinedItem::Unreadable {
            self.rejected_index
                .entry(item)
                .or_default()
                .push(self.rejected.len());
        }
        self.rejected.push(super::outcome::QuarantineEntry {
            item,
            device,
            address: None,
            reason,
            may_be_released: false,
            bytes: bytes.to_vec(),
        });
        self.bound_rejected();
    }

    /// Keep the list of refused items bounded (anyone who can reach this device can send junk):
    /// the newest [`MAX_REJECTED`] of them, and separately the newest [`MAX_REJECTED_NEWER`]
    /// written by a newer weft. The store keeps samples and counts of the rest; a repeat of a
    /// forgotten item is judged again, to the same verdict.
    fn bound_rejected(&mut self) {
        if self.rejected.len() <= MAX_REJECTED {
            return;
        }
        let newer = |e: &super::outcome::QuarantineEntry| {
            let why = e.reason.to_string();
            why.contains("upgrade weft") || why.contains("newer weft")
        };
        let n_newer = self.rejected.iter().filter(|e| newer(e)).count();
        let n_other = self.rejected.len() - n_newer;
        if n_other <= MAX_REJECTED && n_newer <= MAX_REJECTED_NEWER {
            return;
        }
        // Drop the oldest down to half of each cap, so trimming happens once in a while.
        let keep_other = if n_other > MAX_REJECTED {
            MAX_REJECTED / 2
        } else {
            n_other
        };
        let keep_newer = if n_newer > MAX_REJECTED_NEWER {
            MAX_REJECTED_NEWER / 2
        } else {
            n_newer
        };
        let mut drop_other = n_other - keep_other;
        let mut drop_newer = n_newer - keep_newer;
        self.rejected.retain(|e| {
            let slot = if newer(e) {
                &mut drop_newer
            } else {
                &mut drop_other
            };
            if *slot > 0 {
                *slot -= 1;
                false
            } else {
                true
            }
        });
        self.rejected_index.clear();
        for (i, e) in self.rejected.iter().enumerate() {
            if e.item != QuarantinedItem::Unreadable {
                self.rejected_index.entry(e.item).or_default().push(i);
            }
        }
    }

    /// Receives an envelope from another device (or an echo of one of ours).
    ///
    /// Checks, in order: it can be read, belongs to this workspace, is encrypted (epoch 1 or
    /// more), is signed by the device it names; then that the membership ops it cites have
    /// arrived, that its epoch was started among them and this device holds that epoch's key
    /// (otherwise it waits, [`Missing::epoch`](super::Missing::epoch)), that it decrypts
    /// (otherwise it is quarantined for good) and carries the Loro peers it declares; then,
    /// against those ops, that the device signs for a member whose role (lowered by any
    /// concurrent removal that had not seen it) permits everything it writes, that its Loro
    /// peers are its own, and that it does not reuse a sequence number. Valid envelopes are
    /// applied; others are kept, in quarantine with a reason or pending on what they wait for.
    pub fn receive_envelope(&mut self, bytes: &[u8], now: OffsetDateTime) -> Receipt {
        self.receive(bytes, now, false)
    }

    /// [`receive_envelope`](Self::receive_envelope) for bytes whose signature this device has
    /// already checked (its store replaying what it kept): every other check runs as usual.
    pub fn receive_checked_envelope(&mut self, bytes: &[u8], now: OffsetDateTime) -> Receipt {
        self.receive(bytes, now, true)
    }

    /// Whether an envelope passed the structural checks (its signature among them) and is kept.
    pub fn holds(&self, id: &EnvelopeId) -> bool {
        self.held.contains_key(id)
    }

    fn receive(&mut self, bytes: &[u8], now: OffsetDateTime, signature_checked: bool) -> Receipt {
        let now = unix(now);
        if !self.waiting_ops.is_empty() && self.admit_waiting(now) {
            self.reconcile(now);
            self.key_duties(now);
        }
        let outcome = self.receive_envelope_inner(bytes, now, signature_checked);
        if matches!(outcome, Outcome::Applied) {
            self.release_waiting(now);
        }
        Receipt {
            outcome,
            effects: self.take_effects(None),
        }
    }

    fn receive_envelope_inner(
        &mut self,
        bytes: &[u8],
        now: i64,
        signature_checked: bool,
    ) -> Outcome {
        let env = match Envelope::decode(bytes) {
            Ok(e) => e,
            Err(EnvelopeError::Malformed(WireError::NewerVersion(v))) => {
                // Not misjudged: kept, and judged again by a weft that knows the version.
                let r = Refusal::NewerVersion(v);
                self.reject(bytes, QuarantinedItem::Unreadable, None, r.clone());
                return Outcome::Quarantined(r);
            }
            Err(e) => {
                let r = Refusal::Unreadable(e.to_string());
                self.reject(bytes, QuarantinedItem::Unreadable, None, r.clone());
                return Outcome::Quarantined(r);
            }
        };
        let id = env.id();
        let header = env.header();
        if self.held.contains_key(&id) {
            // Same header and payload; a copy with another signature is simply ignored.
            return Outcome::Duplicate;
        }
        if let Some(r) = self.already_rejected(QuarantinedItem::Envelope(id), bytes) {
            return Outcome::Quarantined(r);
        }
        let device = header.device;
        let structural = if header.workspace != self.workspace_id {
            Err(Refusal::OtherWorkspace(header.workspace))
        } else if header.epoch == 0 {
            Err(Refusal::NotEncrypted)
        } else if header.nonce.len() != NONCE_LEN {
            Err(Refusal::Unreadable(format!(
                "an encrypted envelope has a {NONCE_LEN}-byte nonce, this one has {}",
                header.nonce.len()
            )))
        } else if signature_checked {
            Ok(())
        } else {
            let key = self.key_of(&device);
            env.verify_signature_with(&key)
                .map_err(|_| Refusal::BadSignature)
        };
        let structural = structural.and_then(|()| match header.underived_peer() {
            Some(peer) => Err(Refusal::PeerNotDerived { peer, device }),
            None => Ok(()),
        });
        if let Err(r) = structural {
            self.reject(
                bytes,
                QuarantinedItem::Envelope(id),
                Some(device),
                r.clone(),
            );
            return Outcome::Quarantined(r);
        }
        let seq = header.seq;
        let derived = header.derived_peers();
        let header_peers = header.peers.clone();
        let cited = header.builds_on.clone();
        if device == self.me.device() {
            // Another process on this home signed it: never reuse its sequence number.
            self.seq = self.seq.max(seq);
        }
        self.held.insert(
            id,
            Held {
                env,
                content: Content::Sealed,
                summary: None,
                status: Status::Pending(Default::default()),
            },
        );
        self.unsettled.insert(id);
        // A proof that a peer is this device's withdraws other devices' claims on it.
        let mut rejudge = false;
        for peer in &header_peers {
            self.claims.declare(*peer, device);
        }
        for peer in derived {
            rejudge |= self.claims.derive(peer, device);
        }
        self.claims.cite(id, &cited);
        self.try_unlock(&id);
        rejudge |= self.claim_peers(&id);
        // A citation may decide which of a device's twins stands.
        rejudge |= !cited.is_empty() && self.twin_verdicts_changed(&id);
        if rejudge {
            // A contested peer, a twin or a proven peer may void other envelopes too, wherever
            // they stand: judge everything again, rebuilding if something applied became void.
            self.settle_all(now);
            return self.status_outcome(&id);
        }
        self.judge_and_settle(&id, now, false);
        self.status_outcome(&id)
    }

    pub(crate) fn judge_and_settle(&mut self, id: &EnvelopeId, now: i64, in_doc: bool) {
        match self.judge(id, now) {
            Verdict::Apply { in_shadow } => self.apply(id, in_shadow, in_doc),
            Verdict::Pending(m) => self.set_pending(id, m),
            Verdict::Refuse(r) => self.set_status(id, Status::Quarantined(r)),
        }
    }

    fn status_outcome(&self, id: &EnvelopeId) -> Outcome {
        match self.held.get(id).map(|h| &h.status) {
            Some(Status::Applied) => Outcome::Applied,
            Some(Status::Pending(m)) => Outcome::Pending(m.clone()),
            Some(Status::Quarantined(r)) => Outcome::Quarantined(r.clone()),
            None => Outcome::Quarantined(Refusal::Unreadable("not kept".into())),
        }
    }

    /// Collects the net applied-state changes of this call (excluding `subject`).
    pub(crate) fn take_effects(&mut self, subject: Option<&EnvelopeId>) -> Effects {
        let mut first: BTreeMap<EnvelopeId, bool> = BTreeMap::new();
        for (id, now_applied) in self.transitions.drain(..) {
            first.entry(id).or_insert(!now_applied);
        }
        let mut effects = Effects {
            rebuilt: std::mem::take(&mut self.rebuilt),
            keys_learned: self.keyring.take_learned(),
            ..Effects::default()
        };
        for (id, was) in first {
            if Some(&id) == subject {
                continue;
            }
            let is = self
                .held
                .get(&id)
                .is_some_and(|h| h.status == Status::Applied);
            match (was, is) {
                (false, true) => effects.released.push(id),
                (true, false) => effects.withdrawn.push(id),
                _ => {}
            }
        }
        effects
    }

    /// Seals this device's edits since the last envelope into one signed envelope, after
    /// checking that the local user's role permits what they write. Returns `None` if there
    /// is nothing new.
    ///
    /// Fails if the role does not permit the edits; they are then undone (the document is
    /// rebuilt without them), so nothing that other replicas would refuse stays on screen.
    /// Check [`can`](Self::can) before editing to refuse earlier.
    pub fn local_commit(&mut self, now: OffsetDateTime) -> Result<Option<Envelope>, LocalError> {
        let now = unix(now);
        let result = self.seal(now);
        if let Err(LocalError::NotAllowed(_)) = &result {
            self.rebuild(now);
        }
        self.transitions.clear();
        self.rebuilt = false;
        result
    }

    /// Seals unsent local edits into the outbox (used before a rebuild).
    pub(crate) fn seal_unsent(&mut self, now: i64) {
        if let Ok(Some(env)) = self.seal(now) {
            self.outbox.push(Outgoing::Envelope(env));
        }
    }

    fn seal(&mut self, now: i64) -> Result<Option<Envelope>, LocalError> {
        self.ws.commit();
        let doc = self.ws.loro();
        let peer = doc.peer_id();
        if peer != self.sent_peer {
            self.sent_peer = peer;
            self.sent = 0;
        }
        let end = doc.oplog_vv().get(&peer).copied().unwrap_or(0);
        if end <= self.sent {
            return Ok(None);
        }
        let payload = doc
            .export(ExportMode::updates_in_range(vec![IdSpan::new(
                peer, self.sent, end,
            )]))
            .map_err(|e| LocalError::Export(e.to_string()))?;
        let blob = Blob::read(&payload).map_err(|e| LocalError::Export(e.to_string()))?;
        let env = self.seal_payload(now, payload, blob, vec![peer])?;
        self.sent = end;
        Ok(Some(env))
    }

    /// Signs and encrypts `payload` (an update or a snapshot this device made) as its next
    /// envelope, judging it like any other first: kept and applied if valid, forgotten if not.
    pub(crate) fn seal_payload(
        &mut self,
        now: i64,
        payload: Vec<u8>,
        blob: Blob,
        peers: Vec<u64>,
    ) -> Result<Envelope, LocalError> {
        let Some((epoch, epoch_key)) = self.current_key() else {
            return Err(self.why_no_key(now));
        };
        let heads = self.acl_heads();
        let device = self.me.device();
        // Every peer this session derived is proven so; any other (a peer id set by hand) is
        // sent without salts, under the old first-come rules.
        let salts = if peers
            .iter()
            .all(|p| derive_peer(&device, &self.peer_salt) == *p)
        {
            vec![self.peer_salt; peers.len()]
        } else {
            Vec::new()
        };
        let builds_on = self.builds_on(&blob);
        let header = EnvelopeHeader {
            version: HEADER_VERSION,
            workspace: self.workspace_id,
            epoch,
            device,
            cert_hash: self.me.cert_hash(),
            seq: self.seq + 1,
            time: now.max(self.log.max_time(&heads)),
            peers,
            salts,
            acl_heads: heads,
            builds_on,
            nonce: Vec::new(),
        };
        let env = Envelope::seal_encrypted(header, &payload, self.me.key_ref(), &epoch_key)
            .map_err(|e| LocalError::Export(e.to_string()))?;
        let update = match super::snapshot::unwrap(&payload) {
            Some(Ok((_, loro))) => loro.to_vec(),
            _ => payload,
        };
        let id = env.id();
        self.held.insert(
            id,
            Held {
                env: env.clone(),
                content: Content::Open { update, blob },
                summary: None,
                status: Status::Pending(Default::default()),
            },
        );
        self.unsettled.insert(id);
        for peer in &env.header().peers {
            self.claims.declare(*peer, device);
        }
        for peer in env.header().derived_peers() {
            self.claims.derive(peer, device);
        }
        self.claims.cite(id, &env.header().builds_on);
        self.claim_peers(&id);
        match self.judge(&id, now) {
            Verdict::Apply { in_shadow } => {
                self.apply(&id, in_shadow, true);
                self.seq += 1;
                Ok(env)
            }
            Verdict::Refuse(r) => {
                self.forget(&id);
                Err(LocalError::NotAllowed(r))
            }
            Verdict::Pending(m) => {
                self.forget(&id);
                Err(LocalError::Export(format!(
                    "the change cannot be judged yet: {m}"
                )))
            }
        }
    }

    fn forget(&mut self, id: &EnvelopeId) {
        self.unsettled.remove(id);
        if let Some(h) = self.held.remove(id) {
            self.claims.forget(id, &h.env.header().builds_on);
        }
        self.transitions.retain(|(t, _)| t != id);
    }

    /// The applied envelopes that carried the Loro changes an update depends on (the update's
    /// external dependencies), lowest id first, at most [`MAX_BUILDS_ON`].
    fn builds_on(&self, blob: &Blob) -> Vec<EnvelopeId> {
        if blob.snapshot {
            return Vec::new();
        }
        let mut out: Vec<EnvelopeId> = blob
            .deps
            .iter()
            .flat_map(|d| self.claims.carriers(d.peer, d.counter))
            .filter(|e| {
                self.held
                    .get(e)
                    .is_some_and(|h| h.status == Status::Applied)
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out.truncate(MAX_BUILDS_ON);
        out
    }
}

/// Sets `doc`'s Loro peer id to one derived from `device` and a fresh random salt; returns
/// the salt. (Should Loro refuse the id, the document keeps its random one and this session's
/// changes go out without salts, under the old first-come rules.)
fn set_derived_peer(doc: &LoroDoc, device: &DeviceId) -> PeerSalt {
    let mut salt = PeerSalt::default();
    for _ in 0..4 {
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        if doc.set_peer_id(derive_peer(device, &salt)).is_ok() {
            break;
        }
    }
    salt
}
