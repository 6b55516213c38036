//! Large objects, streamed in both directions with bounded memory.
//!
//! Up: a multipart upload in [`PART_SIZE`] parts with at most [`PARTS_IN_FLIGHT`] uploading while
//! the next one fills, so an upload holds about `(PARTS_IN_FLIGHT + 1) * PART_SIZE` bytes whatever
//! the object's size. The caller's reader cannot be rewound, so a broken upload is not tried again
//! as a whole (the client still retries each part's quick hiccups); it is aborted and reported.
//!
//! Down: the object arrives piece by piece; when the connection breaks, the download resumes from
//! the byte it reached (a range request pinned to the object's ETag, so a replaced object is
//! noticed rather than spliced).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::error::{classify, describe, Failure};
use super::{is_absent, Bucket, BucketError};

/// Bytes per uploaded part (S3 wants at least 5 MiB for all parts but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading at once while the next one is filled.
pub const PARTS_IN_FLIGHT: usize = 2;
/// Bytes read from the caller at a time.
const READ_SIZE: usize = 256 * 1024;

impl Bucket {
    /// Uploads everything `reader` yields under `key` as one object, replacing what is there, and
    /// returns the number of bytes written. Memory stays bounded (see the module notes) however
    /// large the object. Use it for objects whose key names their content (a blob under its hash),
    /// since this write is not create-only.
    ///
    /// Failing to start the upload is retried like any operation; once bytes have been read from
    /// `reader`, a failure aborts the upload and returns [`BucketError::Interrupted`] (or the
    /// permanent error), and nothing is left under `key`.
    pub async fn put_stream<R>(&self, key: &str, mut reader: R) -> Result<u64, BucketError>
    where
        R: AsyncRead + Unpin + Send,
    {
        let path = self.path(key)?;
        let store = &self.store;
        let path_ref = &path;
        let upload = self
            .retrying(self.ctx("upload", key), || async move {
                store.put_multipart(path_ref).await
            })
            .await?;
        let mut upload = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; READ_SIZE];
        let mut done = 0u64;
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(source) => {
                    abort(upload).await;
                    return Err(BucketError::Read {
                        key: key.to_string(),
                        source,
                    });
                }
            };
            if let Err(e) = upload.wait_for_capacity(PARTS_IN_FLIGHT).await {
                abort(upload).await;
                return Err(self.broke_off(key, done, e));
            }
            upload.write(&buf[..n]);
            done += n as u64;
        }
        match upload.finish().await {
            Ok(_) => Ok(done),
            Err(e) => Err(self.broke_off(key, done, e)),
        }
    }

    /// Streams the object under `key`; `None` when there is none. The stream yields the object's
    /// bytes in pieces, resumes after dropped connections (up to the retry policy's tries in a row
    /// without progress), and ends with an error if the object changes or the transfer cannot go on.
    pub async fn get_stream(&self, key: &str) -> Result<Option<ObjectStream>, BucketError> {
        let path = self.path(key)?;
        let store = &self.store;
        let path_ref = &path;
        let first = self
            .retrying(self.ctx("read", key), || async move {
                match store.get(path_ref).await {
                    Ok(found) => Ok(Some(found)),
                    Err(e) if is_absent(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        let Some(first) = first else {
            return Ok(None);
        };
        let size = first.meta.size;
        let download = Download {
            bucket: self.clone(),
            key: key.to_string(),
            path,
            e_tag: first.meta.e_tag.clone(),
            size,
            offset: 0,
            pieces: Some(first.into_stream()),
            failures: 0,
            finished: false,
        };
        Ok(Some(ObjectStream {
            size,
            pieces: futures::stream::unfold(download, Download::next_piece).boxed(),
        }))
    }

    fn broke_off(&self, key: &str, done: u64, e: object_store::Error) -> BucketError {
        match classify(self.ctx("upload", key), e) {
            Failure::Transient(detail) => BucketError::Interrupted {
                label: self.label.clone(),
                key: key.to_string(),
                done,
                detail,
            },
            Failure::Permanent(e) => e,
        }
    }
}

async fn abort(upload: WriteMultipart) {
    if let Err(e) = upload.abort().await {
        tracing::warn!("could not abort a broken upload: {}", describe(&e));
    }
}

/// The pieces of one object, as [`Bucket::get_stream`] returns them.
pub struct ObjectStream {
    size: u64,
    pieces: BoxStream<'static, Result<Bytes, BucketError>>,
}

impl ObjectStream {
    /// The object's size as the store announced it when the download started.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Stream for ObjectStream {
    type Item = Result<Bytes, BucketError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.pieces.poll_next_unpin(cx)
    }
}

impl std::fmt::Debug for ObjectStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStream")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

struct Download {
    bucket: Bucket,
    key: String,
    path: Path,
    e_tag: Option<String>,
    size: u64,
    offset: u64,
    pieces: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    /// Failures in a row without a byte of progress.
    failures: u32,
    finished: bool,
}

impl Download {
    async fn next_piece(mut self) -> Option<(Result<Bytes, BucketError>, Self)> {
        if self.finished {
            return None;
        }
        loop {
            let failure = match self.pieces.as_mut() {
                // Everything arrived before the connection failed: nothing to ask for.
                None if self.offset >= self.size => {
                    self.finished = true;
                    return None;
                }
                None => match reopen(
                    &self.bucket,
                    &self.path,
                    &self.key,
                    self.offset,
                    self.e_tag.clone(),
                )
                .await
                {
                    Ok(pieces) => {
                        self.pieces = Some(pieces);
                        continue;
                    }
                    Err(failure) => failure,
                },
                Some(pieces) => {
                    let wait = self.bucket.retry.attempt_timeout;
                    match tokio::time::timeout(wait, pieces.next()).await {
                        Ok(Some(Ok(piece))) => {
                            self.offset += piece.len() as u64;
                            self.failures = 0;
                            if self.offset > self.size {
                                let changed = self.changed();
                                return self.fail(changed);
                            }
                            return Some((Ok(piece), self));
                        }
                        Ok(None) if self.offset >= self.size => {
                            self.finished = true;
                            return None;
                        }
                        Ok(None) => Failure::Transient(format!(
                            "the connection ended after {} of {} bytes",
                            self.offset, self.size
                        )),
                        Ok(Some(Err(e))) => classify(self.bucket.ctx("read", &self.key), e),
                        Err(_) => Failure::Transient(self.bucket.timed_out()),
                    }
                }
            };
            self.pieces = None;
            match failure {
                Failure::Permanent(e) => return self.fail(e),
                Failure::Transient(detail) => {
                    self.failures += 1;
                    if self.failures >= self.bucket.retry.max_attempts() {
                        let e = BucketError::Interrupted {
                            label: self.bucket.label.clone(),
                            key: self.key.clone(),
                            done: self.offset,
                            detail,
                        };
                        return self.fail(e);
                    }
                    tracing::debug!(bucket = %self.bucket.label, key = %self.key, offset = self.offset, "download broke off, resuming: {detail}");
                    tokio::time::sleep(self.bucket.retry.backoff(self.failures)).await;
                }
            }
        }
    }

    fn changed(&self) -> BucketError {
        BucketError::Changed {
            label: self.bucket.label.clone(),
            key: self.key.clone(),
        }
    }

    fn fail(mut self, e: BucketError) -> Option<(Result<Bytes, BucketError>, Self)> {
        self.finished = true;
        self.pieces = None;
        Some((Err(e), self))
    }
}

/// Asks for the rest of the object, from `offset`, as long as it is still the same object.
async fn reopen(
    bucket: &Bucket,
    path: &Path,
    key: &str,
    offset: u64,
    e_tag: Option<String>,
) -> Result<BoxStream<'static, object_store::Result<Bytes>>, Failure> {
    let options = GetOptions {
        range: Some(GetRange::Offset(offset)),
        if_match: e_tag,
        ..GetOptions::default()
    };
    let store: &dyn ObjectStore = bucket.store.as_ref();
    match tokio::time::timeout(bucket.retry.attempt_timeout, store.get_opts(path, options)).await {
        Ok(Ok(found)) => Ok(found.into_stream()),
        Ok(Err(
            object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
        )) => Err(Failure::Permanent(BucketError::Changed {
            label: bucket.label.clone(),
            key: key.to_string(),
        })),
        Ok(Err(e)) => Err(classify(bucket.ctx("read", key), e)),
        Err(_) => Err(Failure::Transient(bucket.timed_out())),
    }
}
