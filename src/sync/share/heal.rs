//! Healing the bucket: every round, each device checks the objects it relies on — its own log,
//! the logs it has read, the repair objects — against what it remembers of them (key, size, ETag,
//! which envelopes), and republishes what is lost or damaged from the envelopes it holds.
//!
//! - A writer lists its own `log/<device>/` (one cheap listing) and reads back only objects whose
//!   size or ETag differ from what it wrote, or that it does not know. Whatever it uploaded that no
//!   intact object holds any more goes up again: under its own key when that key is free, else as a
//!   repair object (stores that only create never overwrite).
//! - A reader remembers the segments it read intact. When one disappears or changes into
//!   something that does not open, any member that holds those envelopes republishes them as a
//!   repair object, `repair/<device>/<first>-<last>-<by>`: envelopes are signed by their authors,
//!   so a repairer can add nothing the author's own log could not carry, and every reader's engine
//!   judges each envelope as always.
//! - Every reader lists `repair/` and reads the repair objects it has not read (a gap in a
//!   device's sequence, or changes waiting on missing ones, are filled from there).
//! - A damaged object is read once; it is read again only when its size or ETag changes. What is
//!   wrong is kept as a [`Problem`] (which device's changes, which key, since when, what is being
//!   done), said once in the round that found it, and dropped when healed.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::{
    decode_segment, encode_segment, plan_segments, seen_key, BucketSync, Report, SyncError,
};
use crate::crypto::Envelope;
use crate::store::{Replica, SharedTable};
use crate::sync::bucket::{keys, LogKey, ObjectInfo, PutNew};

/// Key of the sync_state value holding what this device knows of one device's objects.
pub(super) fn segs_key(device_hex: &str) -> String {
    format!("bucket.seg.{device_hex}")
}
/// Key of the sync_state value holding the open problems.
const PROBLEMS: &str = "bucket.problems";
/// Set when the workspace moved to another bucket: once this device has read the logs there, it
/// puts back what it holds of each device's log that the copy lacks.
pub(super) const MOVED: &str = "bucket.moved";
/// How often a long-running sync lists every log whole to see what the bucket lost.
pub const FULL_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// The requests to check an object this device has answered.
const WANTS_ANSWERED: &str = "bucket.want.answered";
/// Set once this device has checked that everything it uploaded before it kept [`Seg`]s is held.
pub(super) const MINE_CHECKED: &str = "bucket.seg.checked";

/// A damaged object waiting for a repair is read again after 2, 4, 8, … rounds, at most this
/// power of two (1024 rounds: about an hour of background sync).
const MAX_REREAD_SHIFT: u32 = 10;

/// What this device knows of one object holding a device's envelopes (a log segment or a
/// repair object).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Seg {
    /// First and last seq of the envelopes it holds.
    pub first: u64,
    pub last: u64,
    /// How many envelopes; 0 when it was never read here (covered by a snapshot, or read by an
    /// older weft): its loss is then nobody's hole as far as this device knows.
    pub n: u32,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

impl Seg {
    /// A segment this device just wrote (`n` envelopes, seqs `first..=last`, `size` bytes).
    pub fn written(first: u64, last: u64, n: usize, size: u64) -> Seg {
        Seg {
            first,
            last,
            n: u32::try_from(n).unwrap_or(u32::MAX),
            size,
            etag: None,
        }
    }

    fn same_object(&self, o: &ObjectInfo) -> bool {
        self.size == o.size && (self.etag.is_none() || o.e_tag.is_none() || self.etag == o.e_tag)
    }
}

type Segs = BTreeMap<String, Seg>;

/// What is being done about a [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repair {
    /// This device republished the envelopes in this round.
    Republished,
    /// A repair object in the bucket holds them.
    Repaired,
    /// Waiting for a member who holds these changes to sync (the author, or anyone who read them).
    Waiting,
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Repair::Republished => "republished by this device",
            Repair::Repaired => "repaired from another copy",
            Repair::Waiting => "waiting for a member who holds these changes to sync",
        })
    }
}

/// A lost or damaged object in the bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// The object's key.
    pub key: String,
    /// The device whose changes it should hold (hex).
    pub device: String,
    /// Whether that device is this one.
    pub mine: bool,
    /// What is wrong: "missing", "truncated (…)", "garbage (…)", …
    pub what: String,
    /// The envelopes it held, when known.
    pub first: Option<u64>,
    pub last: Option<u64>,
    /// When this device first saw it (Unix seconds).
    pub since: i64,
    /// Size and ETag of the damaged object as last read (not read again while they stay).
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub repair: Repair,
    /// How often it was read damaged, and how many rounds pass before it is read again.
    #[serde(default)]
    pub reads: u32,
    #[serde(default)]
    pub wait_rounds: u32,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.device.is_empty() {
            // Not a log: the workspace's genesis.
            return write!(
                f,
                "the workspace's genesis: {} is {}; {}",
                self.key, self.what, self.repair
            );
        }
        let whose = if self.mine {
            "this device's".to_string()
        } else {
            format!("device {}'s", &self.device[..self.device.len().min(12)])
        };
        let which = match (self.first, self.last) {
            (Some(a), Some(b)) if a == b => format!(" change {a}"),
            (Some(a), Some(b)) => format!(" changes {a}-{b}"),
            _ => " changes".to_string(),
        };
        let since = time::OffsetDateTime::from_unix_timestamp(self.since)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| self.since.to_string());
        write!(
            f,
            "{whose}{which}: {} is {} (since {since}); {}",
            self.key, self.what, self.repair
        )
    }
}

/// The lost or damaged objects this device knows of and cannot repair itself yet.
pub fn open_problems(replica: &Replica) -> Result<Vec<Problem>, SyncError> {
    Ok(load_problems(replica)?.into_values().collect())
}

fn load_problems(replica: &Replica) -> Result<BTreeMap<String, Problem>, SyncError> {
    Ok(replica
        .sync_value(PROBLEMS)?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

fn save_problems(replica: &Replica, p: &BTreeMap<String, Problem>) -> Result<(), SyncError> {
    if p.is_empty() {
        replica.remove_sync_value(PROBLEMS)?;
    } else {
        let text = serde_json::to_string(p).map_err(|e| SyncError::Other(e.to_string()))?;
        replica.set_sync_value(PROBLEMS, &text)?;
    }
    Ok(())
}

pub(super) fn load_segs(replica: &Replica, device_hex: &str) -> Result<Option<Segs>, SyncError> {
    Ok(replica
        .sync_value(&segs_key(device_hex))?
        .and_then(|v| serde_json::from_str(&v).ok()))
}

pub(super) fn save_segs(replica: &Replica, device_hex: &str, s: &Segs) -> Result<(), SyncError> {
    let text = serde_json::to_string(s).map_err(|e| SyncError::Other(e.to_string()))?;
    replica.set_sync_value(&segs_key(device_hex), &text)?;
    Ok(())
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// How far the reads of a round are.
#[derive(Default)]
struct Tally {
    done: usize,
    total: usize,
    bytes: u64,
    total_bytes: u64,
}

/// What reading one object found.
pub(super) enum Read {
    /// Not there (any more).
    Gone,
    /// It holds `n` envelopes of the expected device, seqs `first..=last`.
    Intact { first: u64, last: u64, n: u32 },
    /// It does not: what is wrong with it.
    Damaged(String),
}

/// A device's envelopes this replica holds (passed the structural checks), by seq, in `range`.
fn held_envelopes(
    replica: &Replica,
    device: &crate::identity::DeviceId,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Vec<(u64, Vec<u8>)>, SyncError> {
    let Some(engine) = replica.engine() else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
    for (_, bytes) in replica.inputs(SharedTable::Envelopes, 0)? {
        let Ok(env) = Envelope::decode(&bytes) else {
            continue;
        };
        let h = env.header();
        if h.device == *device && range.contains(&h.seq) && engine.holds(&env.id()) {
            out.push((h.seq, bytes));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

impl BucketSync {
    /// Read one object meant to hold `device`'s envelopes from `first` on (the seq its key names)
    /// and say whether it does. With `feed`, whatever envelopes it holds go to the engine (judged
    /// as always) and bytes that are no envelopes are kept in quarantine with the key.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn read_object(
        &self,
        replica: &mut Replica,
        key: &str,
        device: &str,
        first: u64,
        known_size: Option<u64>,
        feed: bool,
        report: &mut Report,
    ) -> Result<Read, SyncError> {
        let Some(bytes) = self.rt.block_on(self.bucket.get(key))? else {
            return Ok(Read::Gone);
        };
        report.downloaded += 1;
        let origin = format!("{} {key}", self.bucket.label());
        let opened = match self.key.open(&self.id, b"log", &bytes) {
            Ok(b) => b,
            Err(_) => {
                let what = self.describe_unopened(&bytes, known_size);
                if feed {
                    self.receive(replica, &origin, &bytes, report)?;
                }
                return Ok(Read::Damaged(what));
            }
        };
        let envelopes = match decode_segment(&opened) {
            Ok(e) => e,
            Err(e) => {
                if feed {
                    self.receive(replica, &origin, &opened, report)?;
                }
                return Ok(Read::Damaged(format!("damaged ({e})")));
            }
        };
        let mut seqs = Vec::with_capacity(envelopes.len());
        let mut others = BTreeSet::new();
        for e in &envelopes {
            match Envelope::decode(e) {
                Ok(env) => {
                    let d = hex::encode(env.header().device.as_bytes());
                    if d == device {
                        seqs.push(env.header().seq);
                    } else {
                        others.insert(d);
                    }
                }
                Err(_) => {
                    others.insert(String::new());
                }
            }
        }
        let mut intact = true;
        if feed {
            use crate::acl::{Outcome, Refusal};
            for receipt in replica.receive_envelopes(&origin, &envelopes)? {
                let outcome = self.count(receipt, report);
                if matches!(
                    outcome,
                    Outcome::Quarantined(
                        Refusal::Unreadable(_) | Refusal::BadSignature | Refusal::BadPayload(_)
                    )
                ) {
                    intact = false;
                }
            }
        }
        if let Some(other) = others.iter().find(|d| !d.is_empty()) {
            return Ok(Read::Damaged(format!(
                "holding another device's changes (device {}; swapped or copied over)",
                &other[..other.len().min(12)]
            )));
        }
        if !others.is_empty() || !intact {
            return Ok(Read::Damaged(
                "damaged (envelopes that do not read or whose signatures fail)".into(),
            ));
        }
        let (Some(&lo), Some(&hi)) = (seqs.iter().min(), seqs.iter().max()) else {
            return Ok(Read::Damaged("damaged (no envelopes)".into()));
        };
        if lo != first {
            return Ok(Read::Damaged(format!(
                "holding other changes ({lo}-{hi}, not from {first}: an older or misplaced copy)"
            )));
        }
        Ok(Read::Intact {
            first: lo,
            last: hi,
            n: u32::try_from(seqs.len()).unwrap_or(u32::MAX),
        })
    }

    /// Why sealed bytes do not open, as far as can be told.
    fn describe_unopened(&self, bytes: &[u8], known_size: Option<u64>) -> String {
        let size = bytes.len() as u64;
        if let Some(k) = known_size.filter(|k| size < *k) {
            return format!("truncated ({size} of {k} bytes)");
        }
        if bytes.is_empty() {
            return "truncated (empty)".into();
        }
        if self.key.open(&self.id, b"snap", bytes).is_ok() {
            return "a snapshot, not a log segment (copied over)".into();
        }
        if self.key.open(&self.id, b"acl", bytes).is_ok() {
            return "a membership op, not a log segment (copied over)".into();
        }
        match self.key.open(&self.id, b"log", bytes) {
            Err(e) if e == "truncated" => format!("truncated ({size} bytes)"),
            Err(e) if e.starts_with("not sealed") => {
                format!("garbage ({size} bytes that are no sealed weft object)")
            }
            _ => "damaged or from another workspace (it does not open with this workspace's key)"
                .into(),
        }
    }

    /// Check what the bucket holds of every member device's log (others' and, with `mine`, this
    /// device's own), read what is new there and in `repair/`, and republish what is lost.
    pub(super) fn heal(&self, replica: &mut Replica, report: &mut Report) -> Result<(), SyncError> {
        let Some(engine) = replica.engine() else {
            return Ok(());
        };
        let me = engine.identity().device();
        let me_hex = hex::encode(me.as_bytes());
        // This device first (its own log), then the others.
        let mut devices: Vec<crate::identity::DeviceId> = vec![me];
        devices.extend(
            engine
                .members()
                .devices
                .keys()
                .filter(|d| **d != me)
                .copied(),
        );
        // One listing of every repair object, grouped by the device whose envelopes it holds.
        let mut repairs: BTreeMap<String, Vec<ObjectInfo>> = BTreeMap::new();
        let repair_prefix = keys::repair_prefix(&self.ws);
        for obj in self.rt.block_on(self.bucket.list(&repair_prefix, None))? {
            if let Some((device, _, _)) = keys::parse_repair_key(&self.ws, &obj.key) {
                repairs.entry(device).or_default().push(obj);
            }
        }
        // Requests to check an object: this device's own asks, and what others ask of anyone
        // holding a device's log (the log key each names is read back once per request).
        let me16 = &me_hex[..me_hex.len().min(16)];
        let wants = self
            .rt
            .block_on(self.bucket.list(&keys::want_prefix(&self.ws), None))?;
        let answered: BTreeSet<String> = replica
            .sync_value(WANTS_ANSWERED)?
            .map(|v| v.lines().map(str::to_string).collect())
            .unwrap_or_default();
        let mut answered_now = BTreeSet::new();
        let mut forced: BTreeSet<String> = BTreeSet::new();
        let mut my_wants = Vec::new();
        for w in &wants {
            let Some((device, seq, by)) = keys::parse_want_key(&self.ws, &w.key) else {
                continue;
            };
            if by == me16 {
                my_wants.push((w.key.clone(), keys::log_key(&self.ws, &device, seq)));
                continue;
            }
            answered_now.insert(w.key.clone());
            if !answered.contains(&w.key) {
                forced.insert(keys::log_key(&self.ws, &device, seq));
            }
        }
        let mut problems = load_problems(replica)?;
        let before = problems.clone();
        // A full check of every log (listing each whole) on a process's first round, then every
        // FULL_CHECK_EVERY, and whenever someone asks; other rounds list only what is new.
        let reread = problems
            .values()
            .any(|p| p.repair == Repair::Waiting && p.size.is_some() && p.wait_rounds == 0);
        for p in problems.values_mut() {
            if p.repair == Repair::Waiting {
                p.wait_rounds = p.wait_rounds.saturating_sub(1);
            }
        }
        let full = !forced.is_empty() || reread || self.full_check_due();
        if full {
            self.heal_genesis(replica, report)?;
        }
        // List every log first, so a long read can say how far along it is.
        let mut lists = Vec::with_capacity(devices.len());
        let mut tally = Tally::default();
        for device in devices {
            let hex_id = hex::encode(device.as_bytes());
            let prefix = keys::device_log_prefix(&self.ws, &hex_id);
            // Others' logs are listed whole only on a full check; between them, only what
            // follows the read position (this device's own log is always listed whole).
            let after = if device == me || full {
                None
            } else {
                replica.sync_value(&seen_key(&hex_id))?
            };
            let mut listed = self
                .rt
                .block_on(self.bucket.list(&prefix, after.as_deref()))?;
            listed.extend(repairs.remove(&hex_id).unwrap_or_default());
            if device != me {
                tally.total += listed.len();
                tally.total_bytes += listed.iter().map(|o| o.size).sum::<u64>();
            }
            lists.push((device, hex_id, listed));
        }
        let lists_devices: BTreeSet<String> = lists.iter().map(|(_, h, _)| h.clone()).collect();
        for (device, hex_id, listed) in lists {
            let mine = device == me;
            self.heal_device(
                replica,
                &device,
                &hex_id,
                mine,
                listed,
                &mut problems,
                &forced,
                mine || full,
                if mine { None } else { Some(&mut tally) },
                report,
            )?;
        }
        if replica.sync_value(MOVED)?.is_some() {
            self.fill_moved_logs(replica, &me, report)?;
            replica.remove_sync_value(MOVED)?;
        }
        if answered_now != answered {
            let text: Vec<&str> = answered_now.iter().map(String::as_str).collect();
            replica.set_sync_value(WANTS_ANSWERED, &text.join("\n"))?;
        }
        // Ask about what this device found damaged and cannot repair; withdraw what is over.
        for p in problems.values() {
            if p.mine || p.repair != Repair::Waiting || p.size.is_none() {
                continue;
            }
            let LogKey::Entry { device, seq } = keys::parse_log_key(&self.ws, &p.key) else {
                continue;
            };
            let key = keys::want_key(&self.ws, &device, seq, &me_hex);
            if !my_wants.iter().any(|(k, _)| *k == key) {
                let body = self.seal(b"want", p.key.as_bytes());
                self.rt
                    .block_on(self.bucket.put_new(&key, Bytes::from(body)))?;
            }
        }
        for (want, log_key) in &my_wants {
            let open = problems
                .get(log_key)
                .is_some_and(|p| p.repair == Repair::Waiting);
            if !open {
                self.rt.block_on(self.bucket.delete(want))?;
            }
        }
        if tally.total > 0 {
            self.tell(
                super::Phase::Logs,
                tally.total,
                tally.total,
                tally.total_bytes,
                tally.total_bytes,
            );
        }
        // Problems of devices no longer read (removed) are nobody's to fix.
        let keep: BTreeSet<String> = lists_devices;
        problems.retain(|_, p| keep.contains(&p.device));
        for (key, p) in &problems {
            if before
                .get(key)
                .is_none_or(|b| b.what != p.what || b.repair != p.repair)
            {
                report.problems.push(p.clone());
            }
        }
        if problems != before {
            save_problems(replica, &problems)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn heal_device(
        &self,
        replica: &mut Replica,
        device: &crate::identity::DeviceId,
        hex_id: &str,
        mine: bool,
        listed: Vec<ObjectInfo>,
        problems: &mut BTreeMap<String, Problem>,
        forced: &BTreeSet<String>,
        full: bool,
        mut tally: Option<&mut Tally>,
        report: &mut Report,
    ) -> Result<(), SyncError> {
        let known = load_segs(replica, hex_id)?;
        let first_time = known.is_none();
        let mut segs = known.unwrap_or_default();
        let start = segs.clone();
        let prefix = keys::device_log_prefix(&self.ws, hex_id);
        let mark = if mine {
            None
        } else {
            replica.sync_value(&seen_key(hex_id))?
        };
        // Objects read intact by an older weft are read once more by this one, not taken on trust.
        let legacy_retry: BTreeSet<String> = replica
            .sync_value("bucket.retry")?
            .map(|v| v.lines().map(str::to_string).collect())
            .unwrap_or_default();
        let mut holes: Vec<(String, Option<Seg>, String)> = Vec::new();
        let mut listed_keys = BTreeSet::new();
        let todo: Vec<(ObjectInfo, Option<u64>)> = listed
            .into_iter()
            .map(|o| {
                let first = if o.key.starts_with(&prefix) {
                    match keys::parse_log_key(&self.ws, &o.key) {
                        LogKey::Entry { device, seq } if device == hex_id => Some(seq),
                        _ => None,
                    }
                } else {
                    keys::parse_repair_key(&self.ws, &o.key).map(|(_, f, _)| f)
                };
                (o, first)
            })
            .collect();
        let log_firsts: Vec<u64> = todo
            .iter()
            .filter(|(o, _)| o.key.starts_with(&prefix))
            .filter_map(|(_, f)| *f)
            .collect();
        for (obj, first) in todo {
            if let Some(t) = tally.as_deref_mut() {
                self.tell(super::Phase::Logs, t.done, t.total, t.bytes, t.total_bytes);
                t.done += 1;
                t.bytes += obj.size;
            }
            listed_keys.insert(obj.key.clone());
            let is_log = obj.key.starts_with(&prefix);
            let Some(first) = first else {
                // A foreign key among the log: kept in quarantine once, never read as a change.
                if !mine && !problems.contains_key(&obj.key) && !segs.contains_key(&obj.key) {
                    if let Some(bytes) = self.rt.block_on(self.bucket.get(&obj.key))? {
                        report.downloaded += 1;
                        let origin = format!("{} {}", self.bucket.label(), obj.key);
                        self.receive(replica, &origin, &bytes, report)?;
                    }
                    segs.insert(
                        obj.key.clone(),
                        Seg {
                            first: 0,
                            last: 0,
                            n: 0,
                            size: obj.size,
                            etag: obj.e_tag.clone(),
                        },
                    );
                }
                if !mine {
                    replica.set_sync_value(&seen_key(hex_id), &obj.key)?;
                }
                continue;
            };
            if let Some(seg) = segs.get_mut(&obj.key) {
                // A store that lists no ETag cannot show an overwrite of the same size: a reader
                // that found it damaged asks, and the object is read back.
                if seg.same_object(&obj) && !forced.contains(&obj.key) {
                    if seg.etag.is_none() {
                        seg.etag = obj.e_tag.clone();
                    }
                    continue;
                }
            }
            if let Some(p) = problems.get(&obj.key) {
                if p.size == Some(obj.size) && p.etag == obj.e_tag {
                    // Damaged and unchanged: not read again once repaired; while nothing else
                    // holds its changes, read again now and then (rarer each time), in case the
                    // damage was on the way rather than in the bucket.
                    if p.repair != Repair::Waiting || p.wait_rounds > 0 {
                        continue;
                    }
                }
            }
            let below_mark = is_log && mark.as_deref().is_some_and(|m| obj.key.as_str() <= m);
            if first_time && below_mark && !legacy_retry.contains(&obj.key) {
                // Covered by the snapshot this device started from, or read before it kept
                // these notes.
                segs.insert(
                    obj.key.clone(),
                    Seg {
                        first,
                        last: first,
                        n: 0,
                        size: obj.size,
                        etag: obj.e_tag.clone(),
                    },
                );
                continue;
            }
            let was = segs.remove(&obj.key);
            let read = self.read_object(
                replica,
                &obj.key,
                hex_id,
                first,
                was.as_ref().map(|s| s.size),
                !mine,
                report,
            )?;
            match read {
                Read::Gone => {
                    if let Some(was) = was {
                        holes.push((obj.key.clone(), Some(was), "missing".into()));
                    }
                }
                Read::Intact { first, last, n } => {
                    segs.insert(
                        obj.key.clone(),
                        Seg {
                            first,
                            last,
                            n,
                            size: obj.size,
                            etag: obj.e_tag.clone(),
                        },
                    );
                    problems.remove(&obj.key);
                }
                Read::Damaged(what) if !is_log => {
                    // A repair object that does not hold what its key says: anyone with write
                    // access to the bucket can put one there. Kept in quarantine (above), noted
                    // so it is not read again while it stays as it is, and otherwise ignored —
                    // unless it held changes this device relied on.
                    if let Some(was) = was.filter(|w| w.n > 0) {
                        holes.push((obj.key.clone(), Some(was), what));
                    }
                    segs.insert(
                        obj.key.clone(),
                        Seg {
                            first,
                            last: first,
                            n: 0,
                            size: obj.size,
                            etag: obj.e_tag.clone(),
                        },
                    );
                }
                Read::Damaged(what) => {
                    let earlier = problems.get(&obj.key);
                    let since = earlier.map_or_else(unix_now, |p| p.since);
                    let reads = earlier.map_or(0, |p| p.reads).saturating_add(1);
                    // Never read intact here: it should hold what lies before the next segment.
                    let next = log_firsts.iter().find(|f| **f > first).map(|f| f - 1);
                    let (f, l) = match &was {
                        Some(w) if w.n > 0 => (Some(w.first), Some(w.last)),
                        _ if is_log && !mine => (Some(first), Some(next.unwrap_or(first))),
                        _ => (Some(first), None),
                    };
                    problems.insert(
                        obj.key.clone(),
                        Problem {
                            key: obj.key.clone(),
                            device: hex_id.to_string(),
                            mine,
                            what: what.clone(),
                            first: f,
                            last: l,
                            since,
                            size: Some(obj.size),
                            etag: obj.e_tag.clone(),
                            repair: Repair::Waiting,
                            reads,
                            wait_rounds: 1u32 << reads.min(MAX_REREAD_SHIFT),
                        },
                    );
                    holes.push((obj.key.clone(), was, what));
                }
            }
            if is_log && !mine && mark.as_deref().is_none_or(|m| obj.key.as_str() > m) {
                replica.set_sync_value(&seen_key(hex_id), &obj.key)?;
            }
        }
        // What it knew of that is not listed any more (only a whole listing can tell).
        let gone: Vec<String> = segs
            .keys()
            .filter(|k| full && !listed_keys.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(was) = segs.remove(&key) {
                if was.n > 0 {
                    holes.push((key, Some(was), "missing".into()));
                }
            }
        }
        for (key, was, what) in &holes {
            if !problems.contains_key(key) {
                problems.insert(
                    key.clone(),
                    Problem {
                        key: key.clone(),
                        device: hex_id.to_string(),
                        mine,
                        what: what.clone(),
                        first: was.as_ref().map(|w| w.first),
                        last: was.as_ref().filter(|w| w.n > 0).map(|w| w.last),
                        since: unix_now(),
                        size: None,
                        etag: None,
                        repair: Repair::Waiting,
                        reads: 0,
                        wait_rounds: 0,
                    },
                );
            }
        }
        // Republish what no intact object holds any more.
        let mut mine_whole = false;
        if mine {
            let checked = replica.sync_value(MINE_CHECKED)?.is_some();
            let unknown_damage = problems
                .values()
                .any(|p| p.device == hex_id && p.last.is_none() && p.repair == Repair::Waiting);
            if !holes.is_empty() || !checked || unknown_damage {
                mine_whole =
                    self.republish_mine(replica, device, hex_id, &listed_keys, &mut segs, report)?;
                if mine_whole {
                    replica.set_sync_value(MINE_CHECKED, "1")?;
                }
            }
        } else {
            for (key, was, _) in &holes {
                let Some(was) = was.as_ref().filter(|w| w.n > 0) else {
                    continue;
                };
                if covered(&segs, was.first, was.last) {
                    continue;
                }
                let envelopes = held_envelopes(replica, device, was.first..=was.last)?;
                if envelopes.len() < was.n as usize {
                    continue;
                }
                self.publish_repair(replica, hex_id, &envelopes, &mut segs, report)?;
                if let Some(p) = problems.get_mut(key) {
                    p.repair = Repair::Republished;
                }
            }
        }
        // A problem is over once intact objects hold what the damaged or lost one held. One
        // damaged in place is remembered (so it is not read again) with what was done; one that is
        // gone is said in this round's report and dropped.
        problems.retain(|key, p| {
            if p.device != hex_id {
                return true;
            }
            let over = match (p.first, p.last) {
                (Some(f), Some(l)) => covered(&segs, f, l),
                _ => mine && mine_whole,
            };
            if !over {
                return true;
            }
            let changed = p.repair == Repair::Waiting;
            if changed {
                p.repair = if mine {
                    Repair::Republished
                } else {
                    Repair::Repaired
                };
            }
            if listed_keys.contains(key) || !full {
                return true;
            }
            if changed {
                report.problems.push(p.clone());
            }
            false
        });
        if segs != start || first_time {
            save_segs(replica, hex_id, &segs)?;
        }
        Ok(())
    }

    /// After a move to another bucket (a copy that may have lost or damaged objects): for each
    /// other device, put back as repair objects the envelopes this device holds that the device's
    /// log there should hold (up to the last seq an intact object there holds) and no intact
    /// object does.
    fn fill_moved_logs(
        &self,
        replica: &mut Replica,
        me: &crate::identity::DeviceId,
        report: &mut Report,
    ) -> Result<(), SyncError> {
        let Some(engine) = replica.engine() else {
            return Ok(());
        };
        let mut held: BTreeMap<crate::identity::DeviceId, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
        for (_, bytes) in replica.inputs(SharedTable::Envelopes, 0)? {
            let Ok(env) = Envelope::decode(&bytes) else {
                continue;
            };
            let h = env.header();
            if h.device != *me && engine.holds(&env.id()) {
                held.entry(h.device).or_default().push((h.seq, bytes));
            }
        }
        for (device, mut envelopes) in held {
            let hex_id = hex::encode(device.as_bytes());
            let Some(mut segs) = load_segs(replica, &hex_id)? else {
                continue;
            };
            let Some(top) = segs.values().filter(|s| s.n > 0).map(|s| s.last).max() else {
                continue;
            };
            envelopes.sort();
            envelopes.dedup_by_key(|(s, _)| *s);
            envelopes.retain(|(seq, _)| *seq <= top && !covered(&segs, *seq, *seq));
            if envelopes.is_empty() {
                continue;
            }
            tracing::warn!(
                device = &hex_id[..12],
                envelopes = envelopes.len(),
                "the bucket the workspace moved to lacks part of a log; putting it back"
            );
            let mut run: Vec<(u64, Vec<u8>)> = Vec::new();
            for item in envelopes {
                if run.last().is_some_and(|(s, _)| *s + 1 != item.0) {
                    self.publish_repair(replica, &hex_id, &run, &mut segs, report)?;
                    run.clear();
                }
                run.push(item);
            }
            self.publish_repair(replica, &hex_id, &run, &mut segs, report)?;
            save_segs(replica, &hex_id, &segs)?;
        }
        Ok(())
    }

    /// Whether this round lists every log whole (and notes that it does).
    /// Put the workspace's genesis back when the bucket lost it or holds something else under
    /// its key: without it nobody can join. Every member holds it, and the workspace id is its
    /// hash, so any member may put it back; an intact one is left alone.
    fn heal_genesis(&self, replica: &mut Replica, report: &mut Report) -> Result<(), SyncError> {
        let Some(genesis) = replica.genesis()? else {
            return Ok(());
        };
        let key = keys::genesis_key(&self.ws);
        let what = match self.rt.block_on(self.bucket.get(&key))? {
            None => "missing".to_string(),
            Some(bytes) => match self.key.open(&self.id, b"genesis", &bytes) {
                Ok(opened) if opened == genesis => return Ok(()),
                Ok(_) => "another workspace's genesis".to_string(),
                Err(e) => format!("damaged ({e})"),
            },
        };
        let sealed = self.seal(b"genesis", &genesis);
        self.rt
            .block_on(self.bucket.put(&key, Bytes::from(sealed)))?;
        tracing::info!(%key, %what, "put the workspace's genesis back in the bucket");
        report.uploaded += 1;
        report.repaired += 1;
        report.problems.push(Problem {
            key,
            device: String::new(),
            mine: false,
            what: format!("{what}: new members could not join"),
            first: None,
            last: None,
            since: unix_now(),
            size: None,
            etag: None,
            repair: Repair::Republished,
            reads: 0,
            wait_rounds: 0,
        });
        Ok(())
    }

    fn full_check_due(&self) -> bool {
        let mut last = self
            .last_full_check
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= FULL_CHECK_EVERY);
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// Put up again every envelope of this device that it uploaded and no intact object in the
    /// bucket holds: under its own key when that key is free, else as a repair object.
    fn republish_mine(
        &self,
        replica: &mut Replica,
        device: &crate::identity::DeviceId,
        hex_id: &str,
        listed: &BTreeSet<String>,
        segs: &mut Segs,
        report: &mut Report,
    ) -> Result<bool, SyncError> {
        let up_to = Self::mark(replica, "bucket.up.envelopes")?;
        let mut missing: Vec<(u64, Vec<u8>)> = Vec::new();
        for (row, bytes) in replica.local_inputs(SharedTable::Envelopes, 0)? {
            if row > up_to {
                break;
            }
            let Ok(env) = Envelope::decode(&bytes) else {
                continue;
            };
            let seq = env.header().seq;
            if env.header().device == *device && !covered(segs, seq, seq) {
                missing.push((seq, bytes));
            }
        }
        missing.sort();
        missing.dedup_by_key(|(s, _)| *s);
        if missing.is_empty() {
            return Ok(true);
        }
        tracing::warn!(
            envelopes = missing.len(),
            "part of this device's log is lost or damaged in the bucket; republishing it"
        );
        // Runs of consecutive seqs, each planned into segments.
        let mut runs: Vec<Vec<(u64, Vec<u8>)>> = Vec::new();
        for item in missing {
            match runs.last_mut() {
                Some(run) if run.last().is_some_and(|(s, _)| *s + 1 == item.0) => run.push(item),
                _ => runs.push(vec![item]),
            }
        }
        let mut whole = true;
        for run in runs {
            for (first, items) in plan_segments(&run) {
                let key = keys::log_key(&self.ws, hex_id, first);
                if listed.contains(&key) || segs.contains_key(&key) {
                    let envs = with_seqs(&items);
                    whole &= self.publish_repair(replica, hex_id, &envs, segs, report)?;
                    continue;
                }
                let body = self.seal(b"log", &encode_segment(&items));
                let size = body.len() as u64;
                match self
                    .rt
                    .block_on(self.bucket.put_new(&key, Bytes::from(body)))?
                {
                    PutNew::Created | PutNew::AlreadyStored => {
                        report.repaired += 1;
                        let last = last_seq(&items).unwrap_or(first);
                        segs.insert(key, Seg::written(first, last, items.len(), size));
                    }
                    PutNew::Exists => {
                        let envs = with_seqs(&items);
                        whole &= self.publish_repair(replica, hex_id, &envs, segs, report)?;
                    }
                }
            }
        }
        Ok(whole)
    }

    /// Publish `device`'s `envelopes` (sorted by seq) as repair objects, and note them.
    fn publish_repair(
        &self,
        replica: &Replica,
        device: &str,
        envelopes: &[(u64, Vec<u8>)],
        segs: &mut Segs,
        report: &mut Report,
    ) -> Result<bool, SyncError> {
        let by = replica
            .engine()
            .map(|e| hex::encode(e.identity().device().as_bytes()))
            .unwrap_or_default();
        let mut i = 0;
        let mut whole = true;
        for (first, items) in plan_segments(envelopes) {
            let n = items.len();
            let last = envelopes[i + n - 1].0;
            i += n;
            let key = keys::repair_key(&self.ws, device, first, last, &by);
            let body = self.seal(b"log", &encode_segment(&items));
            let size = body.len() as u64;
            match self
                .rt
                .block_on(self.bucket.put_new(&key, Bytes::from(body)))?
            {
                PutNew::Created | PutNew::AlreadyStored => {
                    report.repaired += 1;
                    segs.insert(
                        key,
                        Seg {
                            first,
                            last,
                            n: n as u32,
                            size,
                            etag: None,
                        },
                    );
                }
                PutNew::Exists => {
                    // A damaged repair object of ours under the same name: the next round finds
                    // it damaged, reads nothing from it, and this stays a problem to see.
                    tracing::warn!(key, "a repair object exists with other content");
                    whole = false;
                }
            }
        }
        Ok(whole)
    }
}

/// The seq of the last of `items` (envelopes in seq order).
pub(super) fn last_seq(items: &[&[u8]]) -> Option<u64> {
    items
        .last()
        .and_then(|b| Envelope::decode(b).ok())
        .map(|e| e.header().seq)
}

/// Whether intact objects (read here, so `n > 0`) hold every seq of `first..=last`.
fn covered(segs: &Segs, first: u64, last: u64) -> bool {
    let mut ranges: Vec<(u64, u64)> = segs
        .values()
        .filter(|s| s.n > 0)
        .map(|s| (s.first, s.last))
        .collect();
    ranges.sort();
    let mut need = first;
    for (a, b) in ranges {
        if a > need {
            break;
        }
        if b >= need {
            if b >= last {
                return true;
            }
            need = b + 1;
        }
    }
    false
}

/// Envelopes with their sequence numbers (ones that do not decode are left out).
fn with_seqs(items: &[&[u8]]) -> Vec<(u64, Vec<u8>)> {
    items
        .iter()
        .filter_map(|b| {
            Envelope::decode(b)
                .ok()
                .map(|e| (e.header().seq, b.to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(first: u64, last: u64) -> Seg {
        Seg {
            first,
            last,
            n: (last - first + 1) as u32,
            size: 1,
            etag: None,
        }
    }

    #[test]
    fn coverage_joins_ranges_and_sees_holes() {
        let segs: Segs = [
            ("a".to_string(), seg(1, 4)),
            ("b".to_string(), seg(5, 9)),
            ("c".to_string(), seg(12, 20)),
        ]
        .into_iter()
        .collect();
        assert!(covered(&segs, 1, 9));
        assert!(covered(&segs, 3, 6));
        assert!(!covered(&segs, 9, 12));
        assert!(!covered(&segs, 10, 10));
        assert!(covered(&segs, 13, 20));
        assert!(!covered(&segs, 13, 21));
    }
}
