//! The membership log: a hash-linked DAG of signed membership ops, and the rules every replica
//! applies to it.
//!
//! # Rules
//!
//! These rules are a pure function of the set of ops a replica holds, so every replica that holds
//! the same ops reaches the same membership, whatever order the ops arrived in.
//!
//! 1. **Genesis.** A workspace starts with one `Genesis` op, signed by the owner's device and
//!    carrying the owner's pairing certificate (which must cover all workspaces, since the
//!    workspace id is the hash of the genesis itself). The owner is the wallet of that
//!    certificate; there is exactly one owner, forever (nobody can make another owner).
//! 2. **Every op cites its parents** (the log heads its author had seen), its author device and
//!    that device's certificate, the time, and the document version its author had seen. An op
//!    is judged against the state made by the valid ops in its causal past (its ancestors),
//!    never against ops its author could not have seen.
//! 3. **Devices.** A device signs for its wallet once a `DeviceCertificate` op publishes its
//!    pairing certificate: published by the device itself (the op's author is the device the
//!    certificate pairs; nobody else can publish it, so no one can bind a device they do not
//!    hold), only while the wallet is a member, with a certificate that covers this workspace and
//!    was in force at the op's time. A device is bound to one wallet for good: a certificate
//!    binding it to another wallet than the one its first valid certificate (in causal order)
//!    names is void, and between concurrent bindings of one device to different wallets the
//!    first in resolution order (rule 8) holds. `RevokeDevice` stops a device for good; a wallet
//!    may revoke its own devices, and anyone may revoke the devices of a wallet whose role is
//!    below theirs.
//! 4. **Roles.** owner > admin > editor > commenter > viewer. Adding, changing and removing
//!    members needs admin or owner, and nobody acts on a member whose role is equal to or
//!    higher than their own, nor grants a role equal to or higher than their own: admins manage
//!    editors, commenters and viewers; the owner also manages admins.
//! 5. **Strong remove.** A `Remove` of a member, a `ChangeRole` that lowers them, or a
//!    `RevokeDevice` of one of their devices voids every op of theirs that the restricting op had
//!    not seen (not among its ancestors) and that the restriction would have forbidden, and, since
//!    ops are judged against the valid ops before them, everything whose authority came from a
//!    voided op (the members a voided `Add` added, their devices, their changes). Document changes
//!    follow the same rule with the restricting op's recorded document version: a removed
//!    member's changes that the remover had not seen are void; those it had seen are kept.
//! 6. **No concurrent re-add; the most restrictive concurrent assignment wins.** When ops
//!    concurrently assign an address different roles (`Add`, `ChangeRole`, `Remove`), the one
//!    giving the least access wins and the others are void: a `Remove` beats a concurrent re-add or
//!    promotion.
//! 7. **Mutual restriction by seniority.** When two restricting ops would each void the other
//!    (possible only through concurrency, for instance two devices of one wallet revoking each
//!    other), the op of the more senior author wins: higher role first (the owner always wins),
//!    then the member whose current role was granted earlier, then the device certified earlier,
//!    then the smaller op id.
//! 8. **Deterministic order.** Wherever an order is needed, ops are taken by causal depth, then by
//!    op id. Validity is computed by repeating a pass over that order until nothing changes
//!    (bounded, so even a pathological log resolves the same way everywhere).
//! 9. **Time.** An op's time may not be earlier than its parents'. A certificate is judged at the
//!    time of the op or change that uses it. Ops and changes dated in the future beyond a small
//!    clock skew wait until that time comes. Since every op is dated no earlier than its
//!    parents, the time a certificate is judged at is the newest time in the op's causal past.
//! 10. **Admission.** An op enters the log only if, read against every op in its causal past
//!     as if all were valid, it is signed by a device certified there for a wallet that was given
//!     a role there, with a certificate in force at its time, and does something the highest role
//!     that wallet was given there could do (a certificate only by its own device). This is a pure
//!     function of the op's past, so every replica admits the same ops, and it never refuses an op
//!     the rules above could find valid. Anything else (ops from keys that were never members,
//!     ops beyond their author's role) is refused with its reason before it is stored, so it never
//!     becomes a head. Ops waiting for parents or for their time are bounded per author and in
//!     all (tighter for devices no held op certifies); past a bound an op is refused for now and
//!     judged afresh when it arrives again. Refused ops kept for the quarantine list are bounded
//!     too (a few per author). An admissible op that cites a refused op still kept (well
//!     formed and signed; older versions cited every head, junk included) brings it into the
//!     log, where these rules find it void.
//! 11. **Citing heads.** Ops and envelopes made on a replica cite the valid ops that no other
//!     valid op descends from, never void ones, at most 64 (an op's and an envelope's limit):
//!     past that, first those covering what the device rests on (its certificate, its wallet's
//!     grant, the current rotation), then the deepest. Ops that are void (refused after admission, or voided later by strong
//!     remove) therefore never crowd out the ones that count; 64 concurrent *valid* heads can
//!     only come from a flood by members, and the next op, citing the deepest 64, brings the count
//!     down (the flood it leaves out is concurrent with it, so a removal voids it).
//!
//! This module stores the DAG; [`super::resolve`] applies the rules, [`super::admit`] rule 10.

use std::collections::{BTreeSet, HashMap};

use super::op::AclOp;
use crate::crypto::AclOpId;
use crate::identity::VerifiedPairing;

/// A set of log positions (by arrival), for ancestor queries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PositionSet(Vec<u64>);

impl PositionSet {
    pub(crate) fn insert(&mut self, i: usize) {
        let (w, b) = (i / 64, i % 64);
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << b;
    }
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    pub(crate) fn union_with(&mut self, other: &PositionSet) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

/// One op in the log.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) op: AclOp,
    pub(crate) depth: u32,
    /// Arrival positions of the op and all its ancestors.
    pub(crate) past: PositionSet,
    /// The verified certificate of a `Genesis` or `DeviceCertificate` op.
    pub(crate) pairing: Option<VerifiedPairing>,
}

/// The DAG of membership ops whose parents are all present. Ops are checked for structure and
/// signature before they get here; validity is [`super::resolve`]'s job.
#[derive(Clone, Debug)]
pub struct MembershipLog {
    pub(crate) entries: Vec<Entry>,
    index: HashMap<AclOpId, usize>,
    heads: BTreeSet<AclOpId>,
    /// Arrival positions in resolution order: by depth, then id.
    order: Vec<usize>,
}

impl MembershipLog {
    /// A log holding only `genesis`.
    pub(crate) fn new(genesis: AclOp, pairing: VerifiedPairing) -> Self {
        let mut log = Self {
            entries: Vec::new(),
            index: HashMap::new(),
            heads: BTreeSet::new(),
            order: Vec::new(),
        };
        log.push(genesis, Vec::new(), Some(pairing));
        log
    }

    /// Adds an op whose parents are all present. Returns `false` if it was already there.
    /// `pairing` is the verified certificate a `Genesis` or `DeviceCertificate` op carries.
    pub(crate) fn insert(&mut self, op: AclOp, pairing: Option<VerifiedPairing>) -> bool {
        if self.index.contains_key(&op.id()) {
            return false;
        }
        let parents: Vec<usize> = op
            .body()
            .parents
            .iter()
            .filter_map(|p| self.index.get(p).copied())
            .collect();
        debug_assert_eq!(parents.len(), op.body().parents.len());
        self.push(op, parents, pairing);
        true
    }

    fn push(&mut self, op: AclOp, parents: Vec<usize>, pairing: Option<VerifiedPairing>) {
        let i = self.entries.len();
        let mut past = PositionSet::default();
        let mut depth = 0;
        for p in parents {
            past.union_with(&self.entries[p].past);
            depth = depth.max(self.entries[p].depth + 1);
            self.heads.remove(&self.entries[p].op.id());
        }
        past.insert(i);
        let id = op.id();
        self.index.insert(id, i);
        self.heads.insert(id);
        let key = (depth, id);
        let at = self
            .order
            .partition_point(|&j| (self.entries[j].depth, self.entries[j].op.id()) < key);
        self.entries.push(Entry {
            op,
            depth,
            past,
            pairing,
        });
        self.order.insert(at, i);
    }

    /// The genesis op.
    pub fn genesis(&self) -> &AclOp {
        &self.entries[0].op
    }

    /// Whether the log holds this op.
    pub fn contains(&self, id: &AclOpId) -> bool {
        self.index.contains_key(id)
    }

    /// An op by id.
    pub fn get(&self, id: &AclOpId) -> Option<&AclOp> {
        self.index.get(id).map(|&i| &self.entries[i].op)
    }

    /// The ops no other op cites, ascending.
    pub fn heads(&self) -> Vec<AclOpId> {
        self.heads.iter().copied().collect()
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a log has at least its genesis.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every op, in resolution order.
    pub fn ops(&self) -> impl Iterator<Item = &AclOp> {
        self.order.iter().map(|&i| &self.entries[i].op)
    }

    pub(crate) fn position(&self, id: &AclOpId) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub(crate) fn order(&self) -> &[usize] {
        &self.order
    }

    /// Arrival positions of the given ops and all their ancestors. `None` if one is missing.
    pub(crate) fn past_of(&self, heads: &[AclOpId]) -> Option<PositionSet> {
        let mut past = PositionSet::default();
        for h in heads {
            past.union_with(&self.entries[*self.index.get(h)?].past);
        }
        Some(past)
    }

    /// The latest time among the given ops (`i64::MIN` when there are none).
    pub(crate) fn max_time(&self, ids: &[AclOpId]) -> i64 {
        ids.iter()
            .filter_map(|id| self.get(id))
            .map(|op| op.body().time)
            .max()
            .unwrap_or(i64::MIN)
    }
}
