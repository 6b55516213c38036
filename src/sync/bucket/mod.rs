//! The bucket: where a workspace's signed, encrypted changes persist between devices.
//!
//! [`Bucket`] is a thin layer over an [`ObjectStore`] (S3 and S3-compatible stores, Google Cloud
//! Storage, Azure Blob Storage, a local folder, memory) under a key prefix. It adds what sync needs
//! and object_store leaves to the caller:
//!
//! - **Create-only writes** ([`Bucket::put_new`]): change logs are append-only and each log has one
//!   writer (its device), so an existing key is never overwritten; finding the key already holding
//!   the same bytes (an earlier try whose reply was lost) counts as done.
//! - **Retries** of transient failures with jittered exponential backoff ([`RetryPolicy`]);
//!   permanent failures come back at once as a [`BucketError`] that says what to do.
//! - **Bounded memory**: [`Bucket::get`] refuses objects over a size limit; large objects go through
//!   [`Bucket::put_stream`] / [`Bucket::get_stream`] in 8 MiB parts.
//! - **Sorted listings** relative to the prefix that survive broken connections ([`Bucket::list`]).
//! - The **key layout** ([`keys`]) and a parser that never trusts what a listing returns.
//!
//! Large attachments: the caller encrypts chunk by chunk and stores each encrypted chunk as its own
//! object with [`Bucket::put_new`] under [`keys::blob_chunk_key`] — each chunk is authenticated on
//! its own, create-only, and an interrupted upload resumes at the first missing chunk.
//! [`Bucket::put_stream`] (multipart, overwriting) is for single large objects whose key names
//! their content, so that writing twice writes the same bytes.

mod error;
pub mod keys;
mod open;
mod retry;
mod transfer;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

pub use error::BucketError;
pub use keys::LogKey;
pub use retry::RetryPolicy;
pub use transfer::{ObjectStream, PARTS_IN_FLIGHT, PART_SIZE};

use error::{classify, describe, Context, Failure};

/// The largest object [`Bucket::get`] reads into memory unless told otherwise: change envelopes,
/// membership ops and snapshots are far smaller; anything bigger is streamed.
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 64 * 1024 * 1024;

/// What [`Bucket::put_new`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutNew {
    /// The object did not exist and now holds the bytes.
    Created,
    /// The object already held exactly these bytes (an earlier try of ours whose reply was lost,
    /// or the same content written before): nothing to do.
    AlreadyStored,
    /// The object exists with other content, which was left as it was.
    Exists,
}

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Relative to the bucket's prefix, like the keys given to [`Bucket::get`].
    pub key: String,
    pub size: u64,
    /// The store's tag for this version of the object, when it gives one: a changed tag with the
    /// same size still means other content.
    pub e_tag: Option<String>,
}

/// An object compared with the bytes we meant to write.
enum Existing {
    Absent,
    Same,
    Different,
}

/// A bucket (or folder, or container) under a key prefix. Cheap to clone; clones share the store.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    label: String,
    hint: &'static str,
    retry: RetryPolicy,
    max_object_size: u64,
    /// Cleared once the store says it cannot write create-only (see [`Bucket::put_new`]).
    create_only: Arc<AtomicBool>,
}

impl fmt::Debug for Bucket {
    /// Only the label (scheme, bucket, prefix): the store's own Debug may show its configuration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Bucket").field(&self.label).finish()
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl Bucket {
    /// Opens a bucket by URL:
    ///
    /// - `file:///absolute/folder` — a local (or mounted) folder, created if missing;
    /// - `s3://bucket/prefix` — AWS S3 or any S3-compatible store (MinIO, Garage, R2, …); the
    ///   environment supplies credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    ///   `AWS_SESSION_TOKEN`), region (`AWS_REGION` / `AWS_DEFAULT_REGION`), endpoint
    ///   (`AWS_ENDPOINT_URL` / `AWS_ENDPOINT`, plain http only with `AWS_ALLOW_HTTP=true`) and
    ///   addressing (path style unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`). Settings in the
    ///   query override the environment — `s3://b/p?endpoint=http://127.0.0.1:9000&region=garage`
    ///   names a bucket on its own (an http endpoint given there is allowed as written);
    /// - `gs://bucket/prefix` — Google Cloud Storage, credentials from `GOOGLE_*`;
    /// - `az://container/prefix` — Azure Blob Storage, account and credentials from `AZURE_*`;
    /// - `memory://` — in this process only, for tests.
    ///
    /// Fails with [`BucketError::InvalidUrl`] for anything else, for credentials in the URL, and for
    /// unknown settings; with [`BucketError::Setup`] when the store cannot be set up. Nothing is
    /// sent over the network here: the first operation finds out whether the bucket answers.
    pub fn open(url: &str) -> Result<Bucket, BucketError> {
        Self::open_with(url, &[])
    }

    /// [`Bucket::open`] with extra settings applied over the environment and the URL, named as in
    /// the URL query (`access_key_id`, `secret_access_key`, `region`, `endpoint`, …). Unlike the URL
    /// these may carry credentials, for a program that keeps them elsewhere; they are never shown.
    pub fn open_with(url: &str, settings: &[(&str, &str)]) -> Result<Bucket, BucketError> {
        let opened = open::open(url, settings)?;
        let mut bucket = Self::from_store(opened.store, &opened.prefix, &opened.label);
        bucket.hint = opened.hint;
        Ok(bucket)
    }

    /// A bucket over a store made elsewhere (tests, fault injection, a wrapper), under `prefix`,
    /// called `label` in messages.
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str, label: &str) -> Bucket {
        Bucket {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            label: label.to_string(),
            hint: open::OTHER_HINT,
            retry: RetryPolicy::default(),
            max_object_size: DEFAULT_MAX_OBJECT_SIZE,
            create_only: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The same bucket with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Bucket {
        self.retry = retry;
        self
    }

    /// The same bucket with another limit for [`Bucket::get`].
    pub fn with_max_object_size(mut self, bytes: u64) -> Bucket {
        self.max_object_size = bytes;
        self
    }

    /// Scheme, bucket and prefix, for messages (`s3://team/weft`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The key prefix inside the store, without leading or trailing `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The underlying store (to wrap it, e.g. with fault injection, and build another bucket).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Writes `bytes` under `key` only if no object is there yet.
    ///
    /// Returns [`PutNew::Created`], [`PutNew::AlreadyStored`] when the object already holds these
    /// exact bytes, or [`PutNew::Exists`] when it holds something else (left untouched). Uses the
    /// store's create-only write (S3 `If-None-Match: *`, GCS generation 0, Azure `If-None-Match`,
    /// a hard link in a folder). A store that cannot do that (object_store reports it as not
    /// implemented, e.g. S3 with `conditional_put=disabled`) gets a read, then a plain write: not
    /// atomic, but safe in weft because every key has exactly one writer — a device writes only its
    /// own log — so nobody else can write between the two.
    pub async fn put_new(&self, key: &str, bytes: Bytes) -> Result<PutNew, BucketError> {
        let path = self.path(key)?;
        if self.create_only.load(Ordering::Relaxed) {
            let ctx = self.ctx("create", key);
            let store = &self.store;
            let (path, bytes_ref) = (&path, &bytes);
            let outcome = self
                .retrying(ctx, || async move {
                    let opts = PutOptions {
                        mode: PutMode::Create,
                        ..PutOptions::default()
                    };
                    match store
                        .put_opts(path, PutPayload::from_bytes(bytes_ref.clone()), opts)
                        .await
                    {
                        Ok(_) => Ok(Some(PutNew::Created)),
                        // Stores differ in how they say it (409, 412, 304).
                        Err(
                            object_store::Error::AlreadyExists { .. }
                            | object_store::Error::Precondition { .. }
                            | object_store::Error::NotModified { .. },
                        ) => Ok(Some(PutNew::Exists)),
                        Err(object_store::Error::NotImplemented) => Ok(None),
                        Err(e) => Err(e),
                    }
                })
                .await;
            match outcome {
                Ok(Some(PutNew::Exists)) => {
                    return match self.existing(key, &bytes).await? {
                        // Gone again already (deleted in between): say what we found.
                        Existing::Absent | Existing::Different => Ok(PutNew::Exists),
                        Existing::Same => Ok(PutNew::AlreadyStored),
                    };
                }
                Ok(Some(done)) => return Ok(done),
                Ok(None) => {
                    tracing::info!(bucket = %self.label, "no create-only writes; reading before each write");
                    self.create_only.store(false, Ordering::Relaxed);
                }
                Err(BucketError::Unsupported { .. }) => {
                    tracing::info!(bucket = %self.label, "create-only writes refused; reading before each write");
                    self.create_only.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        // Read, then write: see above for why this is safe here.
        match self.existing(key, &bytes).await? {
            Existing::Absent => {
                self.put(key, bytes).await?;
                Ok(PutNew::Created)
            }
            Existing::Same => Ok(PutNew::AlreadyStored),
            Existing::Different => Ok(PutNew::Exists),
        }
    }

    /// What is under `key` compared with `bytes`, reading no more than one byte beyond them.
    async fn existing(&self, key: &str, bytes: &Bytes) -> Result<Existing, BucketError> {
        let limit = (bytes.len() as u64).saturating_add(1);
        match self.get_limited(key, limit).await {
            Ok(None) => Ok(Existing::Absent),
            Ok(Some(found)) if found == *bytes => Ok(Existing::Same),
            Ok(Some(_)) | Err(BucketError::TooLarge { .. }) => Ok(Existing::Different),
            Err(e) => Err(e),
        }
    }

    /// Writes `bytes` under `key`, replacing what is there (for the few objects that change).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BucketError> {
        let path = self.path(key)?;
        let store = &self.store;
        let (path, bytes) = (&path, &bytes);
        self.retrying(self.ctx("write", key), || async move {
            store
                .put(path, PutPayload::from_bytes(bytes.clone()))
                .await
                .map(|_| ())
        })
        .await
    }

    /// Reads the whole object under `key`; `None` when there is none. Objects larger than the
    /// bucket's limit ([`DEFAULT_MAX_OBJECT_SIZE`] unless set) fail with [`BucketError::TooLarge`]
    /// before they are read.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, BucketError> {
        self.get_limited(key, self.max_object_size).await
    }

    async fn get_limited(&self, key: &str, limit: u64) -> Result<Option<Bytes>, BucketError> {
        let path = self.path(key)?;
        let store = &self.store;
        let path = &path;
        let label = &self.label;
        let read = self
            .retrying(self.ctx("read", key), || async move {
                let found = match store.get(path).await {
                    Ok(found) => found,
                    Err(e) if is_absent(&e) => return Ok(Ok(None)),
                    Err(e) => return Err(e),
                };
                let size = found.meta.size;
                if size > limit {
                    return Ok(Err(size));
                }
                let mut body = BytesMut::with_capacity(usize::try_from(size).unwrap_or(0));
                let mut stream = found.into_stream();
                while let Some(piece) = stream.next().await {
                    body.extend_from_slice(&piece?);
                    // A store may send more than it announced; never hold more than the limit.
                    if body.len() as u64 > limit {
                        return Ok(Err(body.len() as u64));
                    }
                }
                Ok(Ok(Some(body.freeze())))
            })
            .await?;
        read.map_err(|size| BucketError::TooLarge {
            label: label.clone(),
            key: key.to_string(),
            size,
            limit,
        })
    }

    /// Removes the object under `key`; removing one that is not there is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), BucketError> {
        let path = self.path(key)?;
        let store = &self.store;
        let path = &path;
        self.retrying(self.ctx("delete", key), || async move {
            match store.delete(path).await {
                Err(e) if is_absent(&e) => Ok(()),
                other => other,
            }
        })
        .await
    }

    /// Every object under `prefix` (a path of whole segments relative to the bucket's prefix, like
    /// `ws/<id>/log/<device>`; `""` for all) whose key sorts after `after` when given, sorted by key.
    /// Keys are relative to the bucket's prefix. Any number of pages is fine (S3 returns 1000 keys
    /// a page). A listing that breaks off is started again from `after` — not from the last key
    /// seen, because a folder lists in no particular order — and the keys merged.
    ///
    /// An object whose name object_store cannot represent (an empty segment, `.` or `..`) makes the
    /// listing fail with [`BucketError::Refused`] naming it; everything else comes back, for the
    /// caller to parse (see [`keys::parse_log_key`]) and quarantine what is foreign.
    pub async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, BucketError> {
        let list_path = self.path_allow_empty(prefix)?;
        let offset = match after {
            Some(after) => Some(self.path(after)?),
            None => None,
        };
        let mut found: BTreeMap<String, (u64, Option<String>)> = BTreeMap::new();
        let mut failures = 0u32;
        loop {
            let mut stream = match &offset {
                Some(offset) => self.store.list_with_offset(list_path.as_ref(), offset),
                None => self.store.list(list_path.as_ref()),
            };
            let mut progress = false;
            let broke_off = loop {
                let next = tokio::time::timeout(self.retry.attempt_timeout, stream.next()).await;
                match next {
                    Ok(None) => break None,
                    Ok(Some(Ok(meta))) => {
                        let key = self.relative(&meta.location);
                        if after.is_some_and(|after| key.as_str() <= after) {
                            continue;
                        }
                        progress |= found.insert(key, (meta.size, meta.e_tag)).is_none();
                    }
                    // A folder that does not exist yet lists as empty.
                    Ok(Some(Err(e))) if is_absent(&e) => break None,
                    Ok(Some(Err(e))) => break Some(classify(self.ctx("list", prefix), e)),
                    Err(_) => break Some(Failure::Transient(self.timed_out())),
                }
            };
            match broke_off {
                None => break,
                Some(Failure::Permanent(e)) => return Err(e),
                Some(Failure::Transient(detail)) => {
                    // Tries count in a row without a new key.
                    failures = if progress { 1 } else { failures + 1 };
                    if failures >= self.retry.max_attempts() {
                        return Err(self.unreachable(failures, detail));
                    }
                    tracing::debug!(bucket = %self.label, failures, "listing broke off, listing again: {detail}");
                    tokio::time::sleep(self.retry.backoff(failures)).await;
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|(key, (size, e_tag))| ObjectInfo { key, size, e_tag })
            .collect())
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the policy's tries are used up.
    async fn retrying<T, F, Fut>(&self, ctx: Context<'_>, mut attempt: F) -> Result<T, BucketError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = object_store::Result<T>>,
    {
        let mut tries = 0u32;
        loop {
            tries += 1;
            let failure = match tokio::time::timeout(self.retry.attempt_timeout, attempt()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => classify(ctx, e),
                Err(_) => Failure::Transient(self.timed_out()),
            };
            match failure {
                Failure::Permanent(e) => return Err(e),
                Failure::Transient(detail) if tries >= self.retry.max_attempts() => {
                    return Err(self.unreachable(tries, detail))
                }
                Failure::Transient(detail) => {
                    tracing::debug!(bucket = %self.label, action = ctx.action, key = ctx.key, tries, "transient failure, trying again: {detail}");
                    tokio::time::sleep(self.retry.backoff(tries)).await;
                }
            }
        }
    }

    fn ctx<'a>(&'a self, action: &'static str, key: &'a str) -> Context<'a> {
        Context {
            label: &self.label,
            hint: self.hint,
            action,
            key,
        }
    }

    fn timed_out(&self) -> String {
        format!(
            "no answer within {:.1} s",
            self.retry.attempt_timeout.as_secs_f32()
        )
    }

    fn unreachable(&self, attempts: u32, detail: String) -> BucketError {
        BucketError::Unreachable {
            label: self.label.clone(),
            attempts,
            detail,
        }
    }

    /// The store path of `key` (relative to the prefix); refuses keys that cannot name an object.
    fn path(&self, key: &str) -> Result<Path, BucketError> {
        if key.trim_matches('/').is_empty() {
            return Err(BucketError::InvalidKey {
                key: key.to_string(),
                reason: "it is empty".into(),
            });
        }
        self.path_allow_empty(key)?
            .ok_or_else(|| BucketError::InvalidKey {
                key: key.to_string(),
                reason: "it is empty".into(),
            })
    }

    /// Like [`Self::path`], but `""` means the prefix itself (`None`: the whole store).
    fn path_allow_empty(&self, key: &str) -> Result<Option<Path>, BucketError> {
        let key_part = key.trim_matches('/');
        let full = match (self.prefix.is_empty(), key_part.is_empty()) {
            (true, true) => return Ok(None),
            (true, false) => key_part.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{key_part}", self.prefix),
        };
        Path::parse(&full)
            .map(Some)
            .map_err(|e| BucketError::InvalidKey {
                key: key.to_string(),
                reason: describe(&e),
            })
    }

    /// A listed location relative to the prefix.
    fn relative(&self, location: &Path) -> String {
        let full = location.as_ref();
        if self.prefix.is_empty() {
            return full.to_string();
        }
        full.strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(full)
            .to_string()
    }
}

/// "Not found" for an object, as opposed to a bucket that is missing altogether.
fn is_absent(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. }) && !error::names_missing_bucket(&describe(e))
}
