//! Sharing a workspace through a bucket: what goes up, what comes down, and the join code.
//!
//! The decisions are pure ([`plan_segments`], [`decode_segment`], [`JoinCode`]); [`BucketSync`]
//! does the I/O, one round at a time: publish the genesis, upload this device's membership ops and
//! envelopes it has not uploaded, then fetch membership ops it has not seen and each member
//! device's log after the last entry it read. Every byte that comes down goes through the
//! store's access-control engine; anything unreadable is kept in quarantine with the reason and
//! sync goes on.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

mod heal;

pub use heal::{open_problems, Problem, Repair, FULL_CHECK_EVERY};

use super::bucket::{keys, Bucket, BucketError, LogKey, PutNew};
use super::seal::CarrierKey;
use crate::acl::AclOp;
use crate::crypto::{Envelope, WorkspaceId};
use crate::identity::DeviceId;
use crate::store::{Replica, SharedTable, StoreError};

/// Magic of a log segment: several envelopes of one device in one object.
const SEGMENT_MAGIC: &[u8; 4] = b"WFTS";
const SEGMENT_VERSION: u8 = 1;
/// Most envelopes in one segment.
pub const MAX_SEGMENT_ENVELOPES: usize = 4096;
/// Most bytes of envelopes put in one segment when uploading (a single larger envelope still
/// gets a segment of its own).
pub const SEGMENT_TARGET_BYTES: usize = 1 << 20;
/// Largest envelope a segment may carry.
const MAX_ENVELOPE_BYTES: usize = 16 << 20;
/// Membership ops read from the bucket are judged in batches of at most this many.
const OPS_PER_BATCH: usize = 512;

/// Why a sync round stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Bucket(#[from] BucketError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Share(#[from] crate::store::ShareError),
    #[error("{0}")]
    Other(String),
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Objects written to the bucket.
    pub uploaded: usize,
    /// Objects read from the bucket.
    pub downloaded: usize,
    /// Envelopes and ops received (new to this device).
    pub received: usize,
    /// Of those, how many the engine applied or accepted.
    pub applied: usize,
    /// Of those, how many are refused (in quarantine).
    pub refused: usize,
    /// Of those, how many wait for something.
    pub pending: usize,
    /// Whether this device started from an admin's snapshot in this round.
    pub from_snapshot: bool,
    /// Whether this round wrote a snapshot.
    pub snapshot_written: bool,
    /// Objects this device put up again because the bucket lost or damaged what held them
    /// (its own log, or a stretch of another device's it had read).
    pub repaired: usize,
    /// Lost or damaged objects found, or repaired, in this round (each said once).
    pub problems: Vec<Problem>,
}

/// Which part of a round is under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Putting this device's log segments.
    Upload,
    /// Reading the other devices' logs.
    Logs,
}

/// How far a long part of a round is: objects and bytes done out of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub phase: Phase,
    pub done: usize,
    pub total: usize,
    pub bytes: u64,
    pub total_bytes: u64,
}

/// Told how a round goes, object by object.
pub type ProgressFn = Box<dyn Fn(Progress) + Send>;

/// Envelopes grouped into the segments to upload: (first seq, envelope bytes…).
pub fn plan_segments(envelopes: &[(u64, Vec<u8>)]) -> Vec<(u64, Vec<&[u8]>)> {
    let mut out: Vec<(u64, Vec<&[u8]>)> = Vec::new();
    let mut size = 0usize;
    for (seq, bytes) in envelopes {
        let start_new = match out.last() {
            None => true,
            Some((_, items)) => {
                items.len() >= MAX_SEGMENT_ENVELOPES || size + bytes.len() > SEGMENT_TARGET_BYTES
            }
        };
        if start_new {
            out.push((*seq, Vec::new()));
            size = 0;
        }
        if let Some((_, items)) = out.last_mut() {
            items.push(bytes);
            size += bytes.len();
        }
    }
    out
}

/// A segment's bytes.
pub fn encode_segment(envelopes: &[&[u8]]) -> Vec<u8> {
    let total: usize = envelopes.iter().map(|e| e.len() + 4).sum();
    let mut out = Vec::with_capacity(9 + total);
    out.extend_from_slice(SEGMENT_MAGIC);
    out.push(SEGMENT_VERSION);
    out.extend_from_slice(&(envelopes.len() as u32).to_be_bytes());
    for e in envelopes {
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// The envelopes in a segment. Fails, without panicking, on anything that is not exactly one.
pub fn decode_segment(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let rest = bytes
        .strip_prefix(SEGMENT_MAGIC.as_slice())
        .ok_or("not a weft log segment (wrong magic)")?;
    let (&version, rest) = rest.split_first().ok_or("truncated segment")?;
    if version != SEGMENT_VERSION {
        return Err(format!(
            "log segment version {version} (this weft reads {SEGMENT_VERSION}); upgrade weft"
        ));
    }
    let (count, mut rest) = split_u32(rest).ok_or("truncated segment")?;
    let count = count as usize;
    if count == 0 || count > MAX_SEGMENT_ENVELOPES {
        return Err(format!("a segment of {count} envelopes"));
    }
    // Each envelope takes at least its 4-byte length: reserve no more than the bytes can hold.
    let mut out = Vec::with_capacity(count.min(rest.len() / 4));
    for _ in 0..count {
        let (len, tail) = split_u32(rest).ok_or("truncated segment")?;
        let len = len as usize;
        if len > MAX_ENVELOPE_BYTES || len > tail.len() {
            return Err("truncated or oversized envelope in segment".into());
        }
        out.push(&tail[..len]);
        rest = &tail[len..];
    }
    if !rest.is_empty() {
        return Err(format!(
            "{} stray bytes after the last envelope",
            rest.len()
        ));
    }
    Ok(out)
}

fn split_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (head, tail) = b.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*head), tail))
}

/// Magic of a snapshot object: what the snapshot covers, then its envelope.
const SNAPSHOT_MAGIC: &[u8; 4] = b"WFSN";
/// The first snapshot object: covers, envelope. Its covers are signed by nobody, so a device
/// starting from one reads every log in full (anyone with the carrier key could have rewritten
/// them to make newcomers skip real changes).
const SNAPSHOT_V1: u8 = 1;
/// This snapshot object: covers, the snapshot author's signature over them, envelope.
const SNAPSHOT_VERSION: u8 = 2;
const DEVICE_LEN: usize = 33;
const SIGNATURE_LEN: usize = 64;
const COVERS_DOMAIN: &[u8] = b"weft/snapshot-covers/v1\0";
/// An admin's `weft sync` writes a snapshot once this many envelopes arrived since the last one.
pub const SNAPSHOT_EVERY: i64 = 10_000;

/// A snapshot object as read: what it says it covers, who vouches for that, and the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotObject<'a> {
    /// For each device, the seq up to which the snapshot holds everything it signed.
    pub covers: BTreeMap<DeviceId, u64>,
    /// The snapshot author's signature over `covers` (none in a first-version object).
    pub signature: Option<crate::crypto::DeviceSignature>,
    /// The snapshot envelope.
    pub envelope: &'a [u8],
}

impl SnapshotObject<'_> {
    /// Whether `covers` are signed by the device that signed `envelope` (the snapshot's author),
    /// for this snapshot of workspace `ws`: only then may a newcomer skip what they name.
    pub fn covers_vouched(&self, ws: &WorkspaceId, envelope: &Envelope) -> bool {
        let Some(sig) = &self.signature else {
            return false;
        };
        crate::crypto::signature::verify_digest(
            &envelope.header().device.verifying_key(),
            &covers_digest(ws, envelope, &self.covers),
            sig,
        )
        .is_ok()
    }
}

fn covers_bytes(covers: &BTreeMap<DeviceId, u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + covers.len() * (DEVICE_LEN + 8));
    out.extend_from_slice(&(covers.len() as u32).to_be_bytes());
    for (device, seq) in covers {
        out.extend_from_slice(device.as_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
    }
    out
}

fn covers_digest(
    ws: &WorkspaceId,
    envelope: &Envelope,
    covers: &BTreeMap<DeviceId, u64>,
) -> [u8; 32] {
    crate::crypto::signature::domain_digest(
        COVERS_DOMAIN,
        &[
            ws.as_bytes(),
            envelope.id().as_bytes(),
            &covers_bytes(covers),
        ],
    )
}

/// A snapshot object's bytes: for each device, the seq up to which the snapshot holds everything
/// it signed, signed by `author` (the device that signed the snapshot envelope); then the
/// envelope. Fails if `envelope` is not one.
pub fn encode_snapshot(
    covers: &BTreeMap<DeviceId, u64>,
    envelope: &[u8],
    author: &crate::identity::DeviceKey,
    ws: &WorkspaceId,
) -> Result<Vec<u8>, String> {
    let env = Envelope::decode(envelope).map_err(|e| format!("not a snapshot envelope: {e}"))?;
    let sig = crate::crypto::signature::sign_digest(author, &covers_digest(ws, &env, covers));
    let covers = covers_bytes(covers);
    let mut out = Vec::with_capacity(5 + covers.len() + SIGNATURE_LEN + envelope.len());
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.push(SNAPSHOT_VERSION);
    out.extend_from_slice(&covers);
    out.extend_from_slice(&sig.0);
    out.extend_from_slice(envelope);
    Ok(out)
}

/// Reads a snapshot object. Fails, without panicking, on anything that is not exactly one.
pub fn decode_snapshot(bytes: &[u8]) -> Result<SnapshotObject<'_>, String> {
    let rest = bytes
        .strip_prefix(SNAPSHOT_MAGIC.as_slice())
        .ok_or("not a weft snapshot (wrong magic)")?;
    let (&version, rest) = rest.split_first().ok_or("truncated snapshot")?;
    if version != SNAPSHOT_VERSION && version != SNAPSHOT_V1 {
        return Err(format!(
            "snapshot version {version} (this weft reads up to {SNAPSHOT_VERSION}); upgrade weft"
        ));
    }
    let (count, mut rest) = split_u32(rest).ok_or("truncated snapshot")?;
    let count = count as usize;
    if count.saturating_mul(DEVICE_LEN + 8) > rest.len() {
        return Err(format!("a snapshot claiming {count} devices"));
    }
    let mut covers = BTreeMap::new();
    for _ in 0..count {
        let (device, tail) = rest.split_at(DEVICE_LEN);
        let (seq, tail) = tail.split_first_chunk::<8>().ok_or("truncated snapshot")?;
        let device = DeviceId::from_sec1_bytes(device)
            .map_err(|e| format!("a snapshot names no device: {e}"))?;
        covers.insert(device, u64::from_be_bytes(*seq));
        rest = tail;
    }
    let signature = if version == SNAPSHOT_VERSION {
        let (sig, tail) = rest
            .split_first_chunk::<SIGNATURE_LEN>()
            .ok_or("truncated snapshot")?;
        rest = tail;
        Some(crate::crypto::DeviceSignature(*sig))
    } else {
        None
    };
    if rest.is_empty() {
        return Err("a snapshot without its envelope".into());
    }
    Ok(SnapshotObject {
        covers,
        signature,
        envelope: rest,
    })
}

/// What a teammate needs to join: where the workspace lives and which one it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinCode {
    /// The workspace's name where it was created (the joiner's local name by default).
    #[serde(rename = "n")]
    pub name: String,
    /// The workspace id (hex): the hash of its genesis, checked on join.
    #[serde(rename = "w")]
    pub workspace: String,
    /// The bucket URL (no credentials: they come from the joiner's environment).
    #[serde(rename = "b")]
    pub bucket: String,
    /// The relay URL, if the workspace has one.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    /// The carrier key (hex): opens what the bucket and the relay hold.
    #[serde(rename = "k")]
    pub carrier: String,
    /// A one-time secret opening the invite's key lockbox, when there is one.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

const CODE_PREFIX: &str = "weft1-";

impl JoinCode {
    /// The code as one copyable word.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{CODE_PREFIX}{}", bs58::encode(json).into_string())
    }

    /// Reads a code, saying what is wrong with a mistyped or truncated one.
    pub fn decode(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let body = text.strip_prefix(CODE_PREFIX).ok_or_else(|| {
            format!("a join code starts with {CODE_PREFIX}; this one does not (copy it whole)")
        })?;
        if body.len() > 8192 {
            return Err("the join code is too long to be one".into());
        }
        let json = bs58::decode(body)
            .into_vec()
            .map_err(|e| format!("the join code is damaged ({e}); copy it again, whole"))?;
        let code: JoinCode = serde_json::from_slice(&json).map_err(|_| {
            "the join code is damaged or truncated; copy it again, whole".to_string()
        })?;
        if code.workspace.parse::<WorkspaceId>().is_err() {
            return Err("the join code names no valid workspace id".into());
        }
        if CarrierKey::from_hex(&code.carrier).is_none() {
            return Err("the join code carries no valid key; copy it again, whole".into());
        }
        Ok(code)
    }
}

/// Key of the sync_state value naming the bucket the marks below are about.
const SYNCED_BUCKET: &str = "bucket.synced";

/// Key of the sync_state value holding how far this device has read one member device's log.
fn seen_key(device_hex: &str) -> String {
    format!("bucket.read.{device_hex}")
}

/// The bucket side of one shared workspace.
pub struct BucketSync {
    bucket: Bucket,
    ws: String,
    id: WorkspaceId,
    key: CarrierKey,
    rt: tokio::runtime::Runtime,
    /// Told how far long transfers are.
    progress: Option<ProgressFn>,
    /// An admin's round writes a snapshot by itself once this many envelopes arrived since the
    /// last one (see [`SNAPSHOT_EVERY`]); never if `None`.
    auto_snapshot: Option<i64>,
    /// When this process last listed every log whole (see [`heal::FULL_CHECK_EVERY`]).
    last_full_check: std::sync::Mutex<Option<std::time::Instant>>,
}

/// The carrier key a shared workspace keeps.
pub fn carrier_key(replica: &Replica) -> Result<CarrierKey, SyncError> {
    replica
        .sync_value("carrier.key")?
        .and_then(|k| CarrierKey::from_hex(&k))
        .ok_or_else(|| SyncError::Other("this workspace has no carrier key; it cannot sync".into()))
}

impl BucketSync {
    /// Sync `workspace` through `bucket`, sealing what goes there with `key`.
    pub fn new(bucket: Bucket, workspace: WorkspaceId, key: CarrierKey) -> Result<Self, SyncError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SyncError::Other(format!("cannot start the sync runtime: {e}")))?;
        Ok(Self {
            bucket,
            ws: hex::encode(workspace.as_bytes()),
            id: workspace,
            key,
            rt,
            auto_snapshot: Some(SNAPSHOT_EVERY),
            progress: None,
            last_full_check: std::sync::Mutex::new(None),
        })
    }

    /// Tell `f` how far each upload and log read is, object by object.
    pub fn with_progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    fn tell(&self, phase: Phase, done: usize, total: usize, bytes: u64, total_bytes: u64) {
        if let Some(f) = &self.progress {
            f(Progress {
                phase,
                done,
                total,
                bytes,
                total_bytes,
            });
        }
    }

    /// How many new envelopes make an admin's round write a snapshot by itself; `None`: never
    /// ([`publish_snapshot`](Self::publish_snapshot) still does).
    pub fn snapshot_every(mut self, envelopes: Option<i64>) -> Self {
        self.auto_snapshot = envelopes;
        self
    }

    /// Sync `replica`'s workspace through `bucket`.
    pub fn for_replica(bucket: Bucket, replica: &Replica) -> Result<Self, SyncError> {
        let id = replica
            .engine()
            .map(|e| e.workspace_id())
            .ok_or_else(|| SyncError::Other("not a shared workspace".into()))?;
        Self::new(bucket, id, carrier_key(replica)?)
    }

    /// Open the bucket at `url` for `workspace`.
    pub fn open(url: &str, workspace: WorkspaceId, key: CarrierKey) -> Result<Self, SyncError> {
        Self::new(Bucket::open(url)?, workspace, key)
    }

    fn seal(&self, kind: &[u8], bytes: &[u8]) -> Vec<u8> {
        self.key.seal(&self.id, kind, bytes)
    }

    /// Check that the bucket answers (reachable, credentials accepted) by listing this
    /// workspace's prefix; writes nothing.
    pub fn probe(&self) -> Result<(), SyncError> {
        let prefix = format!("{}/", keys::workspace_prefix(&self.ws));
        self.rt.block_on(self.bucket.list(&prefix, None))?;
        Ok(())
    }

    /// The bucket.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// Fetch the genesis of the workspace (what a joiner starts from), checking that it is the
    /// one the join code names.
    pub fn fetch_genesis(&self) -> Result<Vec<u8>, SyncError> {
        let key = keys::genesis_key(&self.ws);
        let bytes = self.rt.block_on(self.bucket.get(&key))?.ok_or_else(|| {
            SyncError::Other(format!(
                "the bucket {} holds no workspace {}: check the bucket URL and that the inviter has synced",
                self.bucket.label(),
                &self.ws[..12]
            ))
        })?;
        let bytes = self.key.open(&self.id, b"genesis", &bytes).map_err(|e| {
            SyncError::Other(format!(
                "the workspace's genesis cannot be read with the join code's key ({e})"
            ))
        })?;
        let op = AclOp::decode(&bytes)
            .map_err(|e| SyncError::Other(format!("the workspace's genesis is unreadable: {e}")))?;
        if hex::encode(op.id().as_bytes()) != self.ws {
            return Err(SyncError::Other(
                "the bucket's genesis is not the workspace the join code names (a foreign or tampered object)".into(),
            ));
        }
        Ok(bytes.to_vec())
    }

    /// The marks of what was uploaded to and read from a bucket hold for that bucket only: when
    /// the workspace moves to another, start over there (upload this device's whole log, read
    /// every log).
    fn follow_bucket(&self, replica: &Replica) -> Result<(), SyncError> {
        let here = self.bucket.label();
        let last = replica.sync_value(SYNCED_BUCKET)?;
        if last.as_deref() == Some(here) {
            return Ok(());
        }
        if last.is_some() {
            tracing::info!(
                bucket = here,
                "the workspace moved to another bucket; starting over there"
            );
            replica.clear_sync_values(
                "bucket.",
                &[
                    SYNCED_BUCKET,
                    "bucket.url",
                    "bucket.url.code",
                    "bucket.approved",
                ],
            )?;
            replica.clear_sync_values("snapshot.", &[])?;
            // What this device read there it holds: the new bucket is checked against it once.
            replica.set_sync_value(heal::MOVED, "1")?;
        }
        replica.set_sync_value(SYNCED_BUCKET, here)?;
        Ok(())
    }

    /// One round: upload what this device wrote, then fetch what others wrote.
    pub fn round(&self, replica: &mut Replica) -> Result<Report, SyncError> {
        replica.refresh()?;
        self.follow_bucket(replica)?;
        let mut report = Report::default();
        self.upload(replica, &mut report)?;
        self.download(replica, &mut report)?;
        // What arrived may have made this device answer (a key share, a rotation): send it now.
        self.upload(replica, &mut report)?;
        if self.snapshot_due(replica)? {
            self.publish_snapshot(replica, &mut report)?;
        }
        Ok(report)
    }

    /// Seal the whole document into a snapshot (admins and the owner only), upload it to this
    /// device's log like any change, and publish it under `snap/` with what it covers, so a new
    /// device starts from it. Returns the snapshot object's key.
    pub fn publish_snapshot(
        &self,
        replica: &mut Replica,
        report: &mut Report,
    ) -> Result<String, SyncError> {
        let (envelope, covers) = replica.seal_snapshot()?;
        self.upload(replica, report)?;
        let env = Envelope::decode(&envelope).map_err(|e| SyncError::Other(e.to_string()))?;
        let id = hex::encode(env.id().as_bytes());
        let name = format!("{:020}-{}", env.header().time.max(0), &id[..16]);
        let key = keys::snap_key(&self.ws, &name);
        let engine = replica
            .engine()
            .ok_or(SyncError::Other("this workspace is not shared".into()))?;
        let object = encode_snapshot(&covers, &envelope, engine.identity().key_ref(), &self.id)
            .map_err(SyncError::Other)?;
        let sealed = self.seal(b"snap", &object);
        self.put_new(&key, sealed, report)?;
        let last = replica.last_input(SharedTable::Envelopes)?;
        replica.set_sync_value("bucket.snap.row", &last.to_string())?;
        report.snapshot_written = true;
        Ok(key)
    }

    /// An admin writes a snapshot once many envelopes arrived since the last one.
    fn snapshot_due(&self, replica: &Replica) -> Result<bool, SyncError> {
        if replica.my_role() < Some(crate::acl::Role::Admin) {
            return Ok(false);
        }
        let Some(every) = self.auto_snapshot else {
            return Ok(false);
        };
        let since = Self::mark(replica, "bucket.snap.row")?;
        Ok(replica.count_inputs(SharedTable::Envelopes, since)? >= every)
    }

    /// A device that has read nothing from the logs yet starts from the latest snapshot, if
    /// there is one it can apply, and then reads each log only after what the snapshot covers.
    /// Whatever goes wrong, it reads the logs in full instead.
    fn start_from_snapshot(
        &self,
        replica: &mut Replica,
        report: &mut Report,
    ) -> Result<(), SyncError> {
        replica.set_sync_value("bucket.snap.checked", "1")?;
        let prefix = format!("{}/snap/", keys::workspace_prefix(&self.ws));
        let listed = self.rt.block_on(self.bucket.list(&prefix, None))?;
        // Newest first: names start with the time.
        for obj in listed.iter().rev() {
            let Some(bytes) = self.rt.block_on(self.bucket.get(&obj.key))? else {
                continue;
            };
            report.downloaded += 1;
            let label = self.bucket.label().to_string();
            let Ok(opened) = self.key.open(&self.id, b"snap", &bytes) else {
                self.receive(replica, &label, &bytes, report)?;
                continue;
            };
            let Ok(object) = decode_snapshot(&opened) else {
                self.receive(replica, &label, &opened, report)?;
                continue;
            };
            let envelope = object.envelope;
            self.receive(replica, &label, envelope, report)?;
            let Ok(env) = Envelope::decode(envelope) else {
                continue;
            };
            if !replica.engine().is_some_and(|e| e.is_applied(&env.id())) {
                continue;
            }
            // What it says it covers counts only if its author signed that: otherwise (an
            // object of the first version, or covers rewritten by someone with the carrier key)
            // the snapshot is applied like any change, and every log is read in full.
            if !object.covers_vouched(&self.id, &env) {
                tracing::info!(key = %obj.key, "a snapshot whose covers its author did not sign: reading every log in full");
                continue;
            }
            let covers = object.covers;
            let me = replica.engine().map(|e| e.identity().device());
            for (device, seq) in &covers {
                if Some(*device) == me {
                    continue;
                }
                let device_hex = hex::encode(device.as_bytes());
                let read = replica.sync_value(&seen_key(&device_hex))?;
                if let Some(key) = self.covered_through(&device_hex, *seq)? {
                    // Never move a read position back.
                    if read.is_none_or(|r| r < key) {
                        replica.set_sync_value(&seen_key(&device_hex), &key)?;
                    }
                }
            }
            let floor: BTreeMap<String, u64> = covers
                .iter()
                .map(|(d, s)| (hex::encode(d.as_bytes()), *s))
                .collect();
            let floor = serde_json::to_string(&floor).unwrap_or_default();
            replica.set_sync_value("snapshot.covers", &floor)?;
            replica.set_sync_value("bucket.snap.used", &hex::encode(env.id().as_bytes()))?;
            report.from_snapshot = true;
            return Ok(());
        }
        Ok(())
    }

    /// The last of `device`'s log segments whose envelopes all have seq ≤ `seq` (each segment
    /// ends where the next begins), if any.
    fn covered_through(&self, device: &str, seq: u64) -> Result<Option<String>, SyncError> {
        let prefix = keys::device_log_prefix(&self.ws, device);
        let listed = self.rt.block_on(self.bucket.list(&prefix, None))?;
        let firsts: Vec<(u64, String)> = listed
            .into_iter()
            .filter_map(|o| match keys::parse_log_key(&self.ws, &o.key) {
                LogKey::Entry { device: d, seq } if d == device => Some((seq, o.key)),
                _ => None,
            })
            .collect();
        Ok(firsts
            .windows(2)
            .take_while(|w| w[1].0 <= seq.saturating_add(1))
            .last()
            .map(|w| w[0].1.clone()))
    }

    /// If the snapshot this device started from is no longer applied (a concurrent removal
    /// voided its author), read every log again from the start: the changes it stood for are
    /// all there.
    fn check_snapshot_used(&self, replica: &mut Replica) -> Result<(), SyncError> {
        let Some(used) = replica.sync_value("bucket.snap.used")? else {
            return Ok(());
        };
        let still = used
            .parse::<crate::crypto::EnvelopeId>()
            .ok()
            .zip(replica.engine())
            .is_some_and(|(id, e)| e.is_applied(&id));
        if still {
            return Ok(());
        }
        tracing::warn!("the snapshot this device started from was withdrawn; reading every log");
        replica.clear_sync_values("bucket.read.", &["bucket.read.acl"])?;
        if let Some(me) = replica.engine().map(|e| e.identity().device()) {
            let mine = heal::segs_key(&hex::encode(me.as_bytes()));
            replica.clear_sync_values("bucket.seg.", &[&mine, "bucket.seg.checked"])?;
        }
        replica.remove_sync_value("bucket.snap.used")?;
        replica.remove_sync_value("snapshot.covers")?;
        Ok(())
    }

    fn mark(replica: &Replica, key: &str) -> Result<i64, SyncError> {
        Ok(replica
            .sync_value(key)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    fn upload(&self, replica: &mut Replica, report: &mut Report) -> Result<(), SyncError> {
        if replica.sync_value("bucket.genesis")?.is_none() {
            if let Some(genesis) = replica.genesis()? {
                let sealed = self.seal(b"genesis", &genesis);
                self.put_new(&keys::genesis_key(&self.ws), sealed, report)?;
                replica.set_sync_value("bucket.genesis", "1")?;
            }
        }
        // Every accepted membership op goes up, not only this device's: they are named by their
        // hash, so a copy is harmless, and the log is whole in a bucket the workspace moved to.
        let op_mark = Self::mark(replica, "bucket.up.ops")?;
        for (row, bytes) in replica.inputs(SharedTable::AclOps, op_mark)? {
            let op = AclOp::decode(&bytes)
                .ok()
                .filter(|op| replica.engine().is_some_and(|e| e.log().contains(&op.id())));
            let Some(op) = op else {
                replica.set_sync_value("bucket.up.ops", &row.to_string())?;
                continue;
            };
            if op.body().parents.is_empty() {
                // The genesis has its own key.
                replica.set_sync_value("bucket.up.ops", &row.to_string())?;
                continue;
            }
            let key = keys::acl_key(&self.ws, &hex::encode(op.id().as_bytes()));
            let sealed = self.seal(b"acl", &bytes);
            self.put_new(&key, sealed, report)?;
            replica.set_sync_value("bucket.up.ops", &row.to_string())?;
        }
        let env_mark = Self::mark(replica, "bucket.up.envelopes")?;
        let rows = replica.local_inputs(SharedTable::Envelopes, env_mark)?;
        let me = replica
            .engine()
            .map(|e| e.identity().device())
            .ok_or_else(|| SyncError::Other("not a shared workspace".into()))?;
        let device_hex = hex::encode(me.as_bytes());
        let mut mine: Vec<(i64, u64, Vec<u8>)> = Vec::new();
        for (row, bytes) in rows {
            match Envelope::decode(&bytes) {
                Ok(env) if env.header().device == me => mine.push((row, env.header().seq, bytes)),
                _ => {}
            }
        }
        mine.sort_by_key(|(_, seq, _)| *seq);
        let by_seq: Vec<(u64, Vec<u8>)> = mine.iter().map(|(_, s, b)| (*s, b.clone())).collect();
        let last_row = mine.iter().map(|(r, _, _)| *r).max();
        let planned = plan_segments(&by_seq);
        let total = planned.len();
        let total_bytes: u64 = by_seq.iter().map(|(_, b)| b.len() as u64).sum();
        let mut bytes_done = 0;
        // What went up is noted, so that later rounds can tell when the bucket lost it.
        let mut segs = heal::load_segs(replica, &device_hex)?.unwrap_or_default();
        let segs_before = segs.len();
        for (done, (first, items)) in planned.into_iter().enumerate() {
            self.tell(Phase::Upload, done, total, bytes_done, total_bytes);
            bytes_done += items.iter().map(|b| b.len() as u64).sum::<u64>();
            let key = keys::log_key(&self.ws, &device_hex, first);
            let body = self.seal(b"log", &encode_segment(&items));
            let size = body.len() as u64;
            match self
                .rt
                .block_on(self.bucket.put_new(&key, Bytes::from(body)))?
            {
                PutNew::Created | PutNew::AlreadyStored => {
                    report.uploaded += 1;
                    let last = heal::last_seq(&items).unwrap_or(first);
                    segs.insert(key, heal::Seg::written(first, last, items.len(), size));
                }
                PutNew::Exists => {
                    // Another process of this device uploaded a segment starting here, or the
                    // bucket holds a damaged copy: the next check of this device's log reads it
                    // back and puts up whatever no intact object holds.
                    replica.remove_sync_value(heal::MINE_CHECKED)?;
                }
            }
        }
        if segs.len() != segs_before {
            heal::save_segs(replica, &device_hex, &segs)?;
        }
        if total > 0 {
            self.tell(Phase::Upload, total, total, bytes_done, total_bytes);
        }
        if let Some(row) = last_row {
            replica.set_sync_value("bucket.up.envelopes", &row.to_string())?;
        }
        Ok(())
    }

    fn put_new(&self, key: &str, bytes: Vec<u8>, report: &mut Report) -> Result<(), SyncError> {
        if self
            .rt
            .block_on(self.bucket.put_new(key, Bytes::from(bytes)))?
            == PutNew::Created
        {
            report.uploaded += 1;
        }
        Ok(())
    }

    fn download(&self, replica: &mut Replica, report: &mut Report) -> Result<(), SyncError> {
        self.download_membership(replica, report)?;
        self.download_logs(replica, report)
    }

    /// Read only the membership log (what a joiner needs before it can open an invite, so the
    /// changes that follow can be read as they arrive rather than waiting for a key).
    pub fn fetch_membership(&self, replica: &mut Replica) -> Result<Report, SyncError> {
        replica.refresh()?;
        self.follow_bucket(replica)?;
        let mut report = Report::default();
        self.download_membership(replica, &mut report)?;
        Ok(report)
    }

    fn download_membership(
        &self,
        replica: &mut Replica,
        report: &mut Report,
    ) -> Result<(), SyncError> {
        // Membership first: it says which devices there are to read.
        let acl_prefix = format!("{}/acl/", keys::workspace_prefix(&self.ws));
        let seen: BTreeSet<String> = replica
            .sync_value("bucket.read.acl")?
            .map(|v| v.lines().map(str::to_string).collect())
            .unwrap_or_default();
        let listed_all = self.rt.block_on(self.bucket.list(&acl_prefix, None))?;
        let mut seen_now = seen.clone();
        let mut arrived: Vec<Bytes> = Vec::new();
        for obj in listed_all.iter().cloned() {
            if seen.contains(&obj.key) {
                continue;
            }
            let Some(bytes) = self.rt.block_on(self.bucket.get(&obj.key))? else {
                continue;
            };
            report.downloaded += 1;
            // Only what opens with the carrier key is read at all: anything else (written
            // by someone without the key, or damaged) is refused before it is parsed, and
            // looked at again next round.
            let bytes = match self.key.open(&self.id, b"acl", &bytes) {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    tracing::info!(key = %obj.key, why = %e, "a membership object that does not open with the carrier key was refused");
                    report.refused += 1;
                    continue;
                }
            };
            let op = AclOp::decode(&bytes).ok();
            let known = op
                .as_ref()
                .zip(replica.engine())
                .is_some_and(|(op, e)| e.log().contains(&op.id()));
            if !known {
                report.received += 1;
                arrived.push(bytes.clone());
            }
            // An op is named by its hash: bytes that do not match their key were damaged on
            // the way or in the bucket; they are kept in quarantine and read again next round.
            let intact = op.is_some_and(|op| obj.key.ends_with(&hex::encode(op.id().as_bytes())));
            if intact {
                seen_now.insert(obj.key);
            } else {
                report.refused += 1;
            }
            if arrived.len() >= OPS_PER_BATCH {
                let batch: Vec<&[u8]> = arrived.iter().map(|b| b.as_ref()).collect();
                replica.receive_acl_ops(self.bucket.label(), &batch)?;
                arrived.clear();
            }
        }
        // Taken together, so the key duties they cause are carried out once.
        let batch: Vec<&[u8]> = arrived.iter().map(|b| b.as_ref()).collect();
        replica.receive_acl_ops(self.bucket.label(), &batch)?;
        // Every member holds every accepted op: put back those the bucket lost (only ops that
        // went up before; what this round made goes up with the next upload).
        let listed_keys: BTreeSet<&str> = listed_all.iter().map(|o| o.key.as_str()).collect();
        let up_to = Self::mark(replica, "bucket.up.ops")?;
        let mut lost = Vec::new();
        for (row, bytes) in replica.inputs(SharedTable::AclOps, 0)? {
            if row > up_to {
                break;
            }
            let Ok(op) = AclOp::decode(&bytes) else {
                continue;
            };
            let accepted = replica.engine().is_some_and(|e| e.log().contains(&op.id()));
            if !accepted || op.body().parents.is_empty() {
                continue;
            }
            let key = keys::acl_key(&self.ws, &hex::encode(op.id().as_bytes()));
            if !listed_keys.contains(key.as_str()) {
                lost.push((key, bytes));
            }
        }
        for (key, bytes) in lost {
            tracing::warn!(
                key,
                "a membership op is missing from the bucket; putting it back"
            );
            seen_now.remove(&key);
            let sealed = self.seal(b"acl", &bytes);
            if self
                .rt
                .block_on(self.bucket.put_new(&key, Bytes::from(sealed)))?
                == PutNew::Created
            {
                report.repaired += 1;
            }
        }
        if seen_now != seen {
            let text: Vec<&str> = seen_now.iter().map(String::as_str).collect();
            replica.set_sync_value("bucket.read.acl", &text.join("\n"))?;
        }
        Ok(())
    }

    fn download_logs(&self, replica: &mut Replica, report: &mut Report) -> Result<(), SyncError> {
        // Then each member device's log after what was read.
        if replica.sync_value("bucket.snap.checked")?.is_none() {
            // Only a device that holds nothing from others yet starts from a snapshot, and only
            // once it holds the current key (a joiner opens its invite first).
            let (fresh, keyed) = replica.engine().map_or((false, false), |e| {
                let me = e.identity().device();
                (
                    e.applied_through().keys().all(|d| *d == me),
                    e.has_current_key(),
                )
            });
            if !fresh {
                replica.set_sync_value("bucket.snap.checked", "1")?;
            } else if keyed {
                self.start_from_snapshot(replica, report)?;
            }
        }
        self.check_snapshot_used(replica)?;
        self.heal(replica, report)?;
        // Objects an older weft meant to read again are now noted per object.
        if replica.sync_value("bucket.retry")?.is_some() {
            replica.remove_sync_value("bucket.retry")?;
        }
        Ok(())
    }

    fn receive(
        &self,
        replica: &mut Replica,
        origin: &str,
        bytes: &[u8],
        report: &mut Report,
    ) -> Result<crate::acl::Outcome, SyncError> {
        let receipt = replica.receive_envelope(origin, bytes)?;
        Ok(self.count(receipt, report))
    }

    /// Count what the engine made of one envelope.
    fn count(&self, receipt: crate::acl::Receipt, report: &mut Report) -> crate::acl::Outcome {
        use crate::acl::Outcome;
        match &receipt.outcome {
            Outcome::Duplicate => return receipt.outcome,
            Outcome::Applied => report.applied += 1,
            Outcome::Quarantined(_) => report.refused += 1,
            Outcome::Pending(_) => report.pending += 1,
        }
        report.received += 1;
        report.applied += receipt.effects.released.len();
        receipt.outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_object_round_trips_and_damage_is_an_error() {
        let d = crate::identity::DeviceKey::generate().id();
        let covers: BTreeMap<DeviceId, u64> = [(d, 42)].into_iter().collect();
        // A first-version object (no signature) is still read, with nobody vouching.
        let v1 = [
            SNAPSHOT_MAGIC.as_slice(),
            &[SNAPSHOT_V1],
            &covers_bytes(&covers),
            b"envelope",
        ]
        .concat();
        let read = decode_snapshot(&v1).unwrap();
        assert_eq!(
            (read.covers, read.signature, read.envelope),
            (covers.clone(), None, &b"envelope"[..])
        );
        // The second version carries 64 bytes of signature before the envelope.
        let v2 = [
            SNAPSHOT_MAGIC.as_slice(),
            &[SNAPSHOT_VERSION],
            &covers_bytes(&covers),
            &[7u8; SIGNATURE_LEN],
            b"envelope",
        ]
        .concat();
        let read = decode_snapshot(&v2).unwrap();
        assert_eq!(read.signature.map(|s| s.0), Some([7u8; SIGNATURE_LEN]));
        assert_eq!(read.envelope, b"envelope");
        for bytes in [&v1, &v2] {
            for cut in 0..bytes.len() - b"envelope".len() {
                assert!(decode_snapshot(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        let mut other = v2.clone();
        other[4] = 9;
        assert!(decode_snapshot(&other)
            .unwrap_err()
            .contains("upgrade weft"));
    }
}
