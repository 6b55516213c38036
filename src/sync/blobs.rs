//! The content of attachments: encrypted chunks in the bucket, fetched on demand, cached encrypted
//! on this device.
//!
//! **In the bucket.** A file is read as a stream and cut into chunks of [`CHUNK_SIZE`] bytes (the
//! last one shorter; an empty file is one empty chunk). Chunk `i` of `n` is stored create-only under
//! [`keys::blob_chunk_key`]`(workspace, blob, i)` as `nonce (24 bytes) ‖ XChaCha20-Poly1305(key,
//! nonce, chunk, aad)`, where `key` is a random 32-byte key of this attachment alone, `blob` a random
//! 16-byte id (so two uploads never collide, even of the same file) and `aad` binds the blob id, `i`
//! and `n`: a chunk cannot be moved to another place, another attachment, or a shorter file. The
//! SHA-256 of the whole content is computed while reading and checked again after a download. The
//! key and hash travel in the attachment's description inside the workspace, which is itself
//! encrypted end to end, so the bucket sees only sizes and random ids.
//!
//! **On this device.** Every chunk uploaded or downloaded is also kept under the data dir
//! (`cache/blobs/<workspace>/<blob>/<i>`), encrypted with XChaCha20-Poly1305 under a key derived
//! from the home secret ([`crate::store::secret::HomeSecret::attachment_cache_key`]), so the files
//! at rest are unreadable without it. Saving an attachment reads the cache first and the bucket for
//! what is not there (or does not decrypt).
//!
//! **Memory.** An upload holds one chunk being read and encrypted plus a copy for the cache; a
//! download holds the chunk as it arrived and its plaintext. Neither ever holds the whole file.
//!
//! **Saving.** The content goes to a temporary file beside the destination, which gets its final
//! name only once every chunk was authentic and the hash matched; on any error the temporary file
//! is removed, so a half-written file never appears under the name asked for.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use super::bucket::{keys, Bucket, BucketError, PutNew};
use crate::model::{chunk_count, AttachmentMeta, AttachmentView, MAX_CHUNK_SIZE};

/// Bytes of content per chunk for new uploads.
pub const CHUNK_SIZE: u64 = 4 * 1024 * 1024;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// What encryption adds to a chunk.
pub const CHUNK_OVERHEAD: u64 = (NONCE_LEN + TAG_LEN) as u64;
const BLOB_AAD: &[u8] = b"weft/blob/v1";
const CACHE_AAD: &[u8] = b"weft/blob-cache/v1";

/// Why an attachment could not be uploaded or saved, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("{path}: no such file")]
    NoFile { path: PathBuf },
    #[error(
        "{path} is a folder, not a file; attach the files in it one by one, or an archive of it"
    )]
    Folder { path: PathBuf },
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} changed while it was being uploaded; attach it again once nothing writes to it"
    )]
    Changed { path: PathBuf },
    #[error("{path} is too large to attach ({size} bytes)")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("uploading {path} to the bucket {label}: {source}")]
    Upload {
        path: PathBuf,
        label: String,
        #[source]
        source: Box<BucketError>,
    },
    #[error(
        "{path} already exists; save under another name with --out, or replace it with --force"
    )]
    Exists { path: PathBuf },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("attachment {name:?} cannot be fetched: {why}")]
    Invalid { name: String, why: String },
    #[error(
        "attachment {name:?}: chunk {index} of {total} is missing from the bucket {label}; \
         nothing was saved (was the upload interrupted? the person who attached it can attach it again)"
    )]
    Missing {
        name: String,
        index: u32,
        total: u32,
        label: String,
    },
    #[error(
        "attachment {name:?}: chunk {index} of {total} in the bucket is damaged or not this \
         attachment's (it does not decrypt); nothing was saved"
    )]
    Tampered {
        name: String,
        index: u32,
        total: u32,
    },
    #[error(
        "attachment {name:?}: the content does not match its SHA-256 (the description or the \
         content was altered); nothing was saved"
    )]
    HashMismatch { name: String },
    #[error("attachment {name:?}: {source}")]
    Bucket {
        name: String,
        #[source]
        source: Box<BucketError>,
    },
    #[error("{0}")]
    Runtime(String),
}

/// Associated data of chunk `index` of `total` of blob `blob`.
fn chunk_aad(blob: &str, index: u32, total: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(BLOB_AAD.len() + 2 + blob.len() + 8);
    aad.extend_from_slice(BLOB_AAD);
    aad.extend_from_slice(&(blob.len() as u16).to_be_bytes());
    aad.extend_from_slice(blob.as_bytes());
    aad.extend_from_slice(&index.to_be_bytes());
    aad.extend_from_slice(&total.to_be_bytes());
    aad
}

/// Encrypts `buf[NONCE_LEN..]` in place and appends the tag; `buf` starts with room for the nonce.
fn seal_in_place(key: &[u8; 32], aad: &[u8], buf: &mut Vec<u8>) -> Result<(), BlobError> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    buf[..NONCE_LEN].copy_from_slice(&nonce);
    let cipher = XChaCha20Poly1305::new(key.into());
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, &mut buf[NONCE_LEN..])
        .map_err(|_| BlobError::Runtime("encrypting a chunk failed".into()))?;
    buf.extend_from_slice(&tag);
    Ok(())
}

/// Decrypts `nonce ‖ ciphertext ‖ tag` in place into the plaintext; `None` if it is not authentic.
fn open_in_place(key: &[u8; 32], aad: &[u8], mut buf: Vec<u8>) -> Option<Vec<u8>> {
    if buf.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let body_end = buf.len() - TAG_LEN;
    let tag = Tag::clone_from_slice(&buf[body_end..]);
    let nonce = XNonce::clone_from_slice(&buf[..NONCE_LEN]);
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt_in_place_detached(&nonce, aad, &mut buf[NONCE_LEN..body_end], &tag)
        .ok()?;
    buf.truncate(body_end);
    buf.drain(..NONCE_LEN);
    Some(buf)
}

fn is_hex(s: &str) -> bool {
    keys::is_hex_id(s)
}

/// This device's encrypted copies of attachment chunks.
#[derive(Clone)]
pub struct BlobCache {
    root: PathBuf,
    key: [u8; 32],
}

impl std::fmt::Debug for BlobCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobCache")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl BlobCache {
    /// A cache in `root`, its chunks encrypted under `key` (the home's
    /// [`attachment_cache_key`](crate::store::secret::HomeSecret::attachment_cache_key)).
    pub fn new(root: PathBuf, key: [u8; 32]) -> Self {
        BlobCache { root, key }
    }

    /// The cache of a home: `<data>/cache/blobs`.
    pub fn in_home(home: &crate::store::Home, secret: &crate::store::secret::HomeSecret) -> Self {
        Self::new(
            home.data.join("cache").join("blobs"),
            secret.attachment_cache_key(),
        )
    }

    /// The folder it keeps chunks in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn chunk_path(&self, workspace: &str, blob: &str, index: u32) -> Option<PathBuf> {
        (is_hex(workspace) && is_hex(blob)).then(|| {
            self.root
                .join(workspace)
                .join(blob)
                .join(format!("{index:0width$}", width = keys::CHUNK_DIGITS))
        })
    }

    fn aad(workspace: &str, blob: &str, index: u32, total: u32) -> Vec<u8> {
        let mut aad = CACHE_AAD.to_vec();
        aad.extend_from_slice(&(workspace.len() as u16).to_be_bytes());
        aad.extend_from_slice(workspace.as_bytes());
        aad.extend_from_slice(&chunk_aad(blob, index, total));
        aad
    }

    /// The plaintext of a cached chunk, if it is there and decrypts.
    fn load(&self, workspace: &str, blob: &str, index: u32, total: u32) -> Option<Vec<u8>> {
        let path = self.chunk_path(workspace, blob, index)?;
        let sealed = std::fs::read(&path).ok()?;
        let plain = open_in_place(&self.key, &Self::aad(workspace, blob, index, total), sealed);
        if plain.is_none() {
            tracing::warn!(path = %path.display(), "a cached attachment chunk does not decrypt; fetching it again");
        }
        plain
    }

    /// Keep `plain` (consumed: it is encrypted in place). A cache that cannot be written is not an
    /// error: the bucket still has the chunk.
    fn store(&self, workspace: &str, blob: &str, index: u32, total: u32, mut plain: Vec<u8>) {
        let Some(path) = self.chunk_path(workspace, blob, index) else {
            return;
        };
        // Encrypted where it is and written in three parts: no second copy of the chunk.
        let nonce: [u8; NONCE_LEN] = rand::random();
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let written = cipher
            .encrypt_in_place_detached(
                XNonce::from_slice(&nonce),
                &Self::aad(workspace, blob, index, total),
                &mut plain,
            )
            .map_err(|_| std::io::Error::other("encrypting a chunk failed"))
            .and_then(|tag| write_file_atomic(&path, &[&nonce, &plain, &tag]));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "could not cache an attachment chunk");
        }
    }

    /// Forget every chunk of one blob (an upload that did not finish).
    fn forget(&self, workspace: &str, blob: &str) {
        if let Some(dir) = self
            .chunk_path(workspace, blob, 0)
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Writes `parts` one after the other to `path` through a temporary file and a rename, creating
/// the folder.
fn write_file_atomic(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent folder"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{:016x}", rand::random::<u64>()));
    let result = File::create(&tmp)
        .and_then(|mut f| parts.iter().try_for_each(|p| f.write_all(p)))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A file being written under a temporary name; removed on drop unless it was put in place.
struct PartFile {
    path: PathBuf,
    placed: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What saving an attachment did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Saved {
    /// Where the file is now.
    pub path: PathBuf,
    pub size: u64,
    /// Chunks read from this device's cache rather than the bucket.
    pub from_cache: u32,
    /// Chunks fetched from the bucket.
    pub from_bucket: u32,
}

/// Attachment content of one workspace: its bucket, and this device's cache.
#[derive(Clone, Debug)]
pub struct Blobs {
    bucket: Bucket,
    workspace: String,
    cache: Option<BlobCache>,
    chunk_size: u64,
}

impl Blobs {
    /// The attachments of `workspace` (its id, lower-case hex) in `bucket`, without a cache.
    pub fn new(bucket: Bucket, workspace: &str) -> Self {
        Blobs {
            bucket,
            workspace: workspace.to_string(),
            cache: None,
            chunk_size: CHUNK_SIZE,
        }
    }

    /// [`Blobs::new`] on the bucket at `url` (nothing is sent over the network yet).
    pub fn open(url: &str, workspace: &str) -> Result<Self, BucketError> {
        Ok(Self::new(Bucket::open(url)?, workspace))
    }

    /// Keep chunks in `cache` too, and read them from there first.
    pub fn with_cache(mut self, cache: BlobCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Cut new uploads into chunks of `bytes` (1 to [`MAX_CHUNK_SIZE`]).
    pub fn with_chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = bytes.clamp(1, MAX_CHUNK_SIZE);
        self
    }

    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// Encrypts and uploads the file at `path`, reading it as a stream, and returns its
    /// description for [`crate::model::Workspace::attach`] (named after the file). Fails without
    /// leaving chunks behind (as far as the bucket lets them be removed) when the path is missing,
    /// a folder or not a regular file, when the file changes size while it is read, or when the
    /// bucket refuses or cannot be reached.
    pub async fn upload(&self, path: &Path) -> Result<AttachmentMeta, BlobError> {
        let read_err = |source: std::io::Error| BlobError::Read {
            path: path.to_path_buf(),
            source,
        };
        let md = match std::fs::metadata(path) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NoFile {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(read_err(e)),
        };
        if md.is_dir() {
            return Err(BlobError::Folder {
                path: path.to_path_buf(),
            });
        }
        if !md.is_file() {
            return Err(BlobError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = File::open(path).map_err(read_err)?;
        let size = md.len();
        let chunks = chunk_count(size, self.chunk_size)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| BlobError::TooLarge {
                path: path.to_path_buf(),
                size,
            })?;
        let blob = hex::encode(rand::random::<[u8; 16]>());
        let key: [u8; 32] = rand::random();
        match self
            .upload_chunks(path, file, size, &blob, &key, chunks)
            .await
        {
            Ok(sha256) => Ok(AttachmentMeta {
                name,
                size,
                mime: None,
                sha256,
                blob,
                key: hex::encode(key),
                chunk_size: self.chunk_size,
                chunks,
            }),
            Err((done, e)) => {
                // Nothing refers to these chunks yet: take them away again (best effort).
                for i in 0..done {
                    let k = keys::blob_chunk_key(&self.workspace, &blob, i);
                    if let Err(d) = self.bucket.delete(&k).await {
                        tracing::warn!(key = %k, error = %d, "could not remove a chunk of an unfinished upload");
                    }
                }
                if let Some(c) = &self.cache {
                    c.forget(&self.workspace, &blob);
                }
                Err(e)
            }
        }
    }

    /// The chunk loop of [`Blobs::upload`]: the SHA-256 of the content, or how many chunks went up
    /// before the error.
    async fn upload_chunks(
        &self,
        path: &Path,
        mut file: File,
        size: u64,
        blob: &str,
        key: &[u8; 32],
        chunks: u32,
    ) -> Result<String, (u32, BlobError)> {
        let changed = || BlobError::Changed {
            path: path.to_path_buf(),
        };
        let mut hash = Sha256::new();
        for i in 0..chunks {
            let start = u64::from(i) * self.chunk_size;
            let len = self.chunk_size.min(size - start) as usize;
            let mut buf = Vec::with_capacity(NONCE_LEN + len + TAG_LEN);
            buf.resize(NONCE_LEN + len, 0);
            if let Err(e) = file.read_exact(&mut buf[NONCE_LEN..]) {
                let err = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    changed()
                } else {
                    BlobError::Read {
                        path: path.to_path_buf(),
                        source: e,
                    }
                };
                return Err((i, err));
            }
            hash.update(&buf[NONCE_LEN..]);
            if let Some(c) = &self.cache {
                c.store(&self.workspace, blob, i, chunks, buf[NONCE_LEN..].to_vec());
            }
            seal_in_place(key, &chunk_aad(blob, i, chunks), &mut buf).map_err(|e| (i, e))?;
            let object = keys::blob_chunk_key(&self.workspace, blob, i);
            match self.bucket.put_new(&object, Bytes::from(buf)).await {
                Ok(PutNew::Created | PutNew::AlreadyStored) => {}
                Ok(PutNew::Exists) => {
                    return Err((
                        i,
                        BlobError::Runtime(format!(
                            "{object} already holds another object in the bucket {}; attach the file again",
                            self.bucket.label()
                        )),
                    ))
                }
                // The write may have happened with its reply lost: clean up this chunk too.
                Err(source) => {
                    return Err((
                        i + 1,
                        BlobError::Upload {
                            path: path.to_path_buf(),
                            label: self.bucket.label().to_string(),
                            source: Box::new(source),
                        },
                    ))
                }
            }
        }
        // The file grew after its size was read: what went up is not the whole file.
        let mut probe = [0u8; 1];
        match file.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => return Err((chunks, changed())),
            Err(e) => {
                return Err((
                    chunks,
                    BlobError::Read {
                        path: path.to_path_buf(),
                        source: e,
                    },
                ))
            }
        }
        Ok(hex::encode(hash.finalize()))
    }

    /// Fetches, decrypts and checks attachment `att`, and writes it to `dest` — only once all of
    /// it is authentic, through a temporary file and a rename. Refuses to replace an existing file
    /// unless `overwrite`. Reads chunks from the cache when it has them, else from the bucket
    /// (and caches them). On any error nothing is left at `dest` or beside it.
    pub async fn save(
        &self,
        att: &AttachmentView,
        dest: &Path,
        overwrite: bool,
    ) -> Result<Saved, BlobError> {
        let name = att.name.clone();
        att.check().map_err(|e| BlobError::Invalid {
            name: name.clone(),
            why: e.to_string(),
        })?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(&att.key, &mut key).map_err(|_| BlobError::Invalid {
            name: name.clone(),
            why: "its key is not hex".into(),
        })?;
        let write_err = |path: &Path, source: std::io::Error| BlobError::Write {
            path: path.to_path_buf(),
            source,
        };
        if !overwrite && std::fs::symlink_metadata(dest).is_ok() {
            return Err(BlobError::Exists {
                path: dest.to_path_buf(),
            });
        }
        if dest.is_dir() {
            return Err(write_err(dest, std::io::Error::other("it is a folder")));
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let part_path = dir.join(format!(".weft-{:016x}.part", rand::random::<u64>()));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part_path)
            .map_err(|e| write_err(dest, e))?;
        let mut part = PartFile {
            path: part_path,
            placed: false,
        };
        let total = att.chunks;
        let limited = self
            .bucket
            .clone()
            .with_max_object_size(att.chunk_size + CHUNK_OVERHEAD);
        let mut hash = Sha256::new();
        let (mut from_cache, mut from_bucket) = (0u32, 0u32);
        for i in 0..total {
            let start = u64::from(i) * att.chunk_size;
            let expected = att.chunk_size.min(att.size - start) as usize;
            let cached = self
                .cache
                .as_ref()
                .and_then(|c| c.load(&self.workspace, &att.blob, i, total))
                .filter(|p| p.len() == expected);
            let (plain, fresh) = match cached {
                Some(p) => {
                    from_cache += 1;
                    (p, false)
                }
                None => {
                    let object = keys::blob_chunk_key(&self.workspace, &att.blob, i);
                    let sealed = match limited.get(&object).await {
                        Ok(Some(b)) => b,
                        Ok(None) => {
                            return Err(BlobError::Missing {
                                name,
                                index: i,
                                total,
                                label: self.bucket.label().to_string(),
                            })
                        }
                        Err(BucketError::TooLarge { .. }) => {
                            return Err(BlobError::Tampered {
                                name,
                                index: i,
                                total,
                            })
                        }
                        Err(source) => {
                            return Err(BlobError::Bucket {
                                name,
                                source: Box::new(source),
                            })
                        }
                    };
                    let plain =
                        open_in_place(&key, &chunk_aad(&att.blob, i, total), Vec::from(sealed))
                            .filter(|p| p.len() == expected)
                            .ok_or_else(|| BlobError::Tampered {
                                name: name.clone(),
                                index: i,
                                total,
                            })?;
                    from_bucket += 1;
                    (plain, true)
                }
            };
            hash.update(&plain);
            out.write_all(&plain)
                .map_err(|e| write_err(&part.path, e))?;
            if fresh {
                if let Some(c) = &self.cache {
                    c.store(&self.workspace, &att.blob, i, total, plain);
                }
            }
        }
        if hex::encode(hash.finalize()) != att.sha256 {
            return Err(BlobError::HashMismatch { name });
        }
        out.sync_all().map_err(|e| write_err(&part.path, e))?;
        drop(out);
        place(&part.path, dest, overwrite)?;
        part.placed = true;
        Ok(Saved {
            path: dest.to_path_buf(),
            size: att.size,
            from_cache,
            from_bucket,
        })
    }

    /// [`Blobs::upload`] on a runtime of its own, for callers that are not async.
    pub fn upload_blocking(&self, path: &Path) -> Result<AttachmentMeta, BlobError> {
        runtime()?.block_on(self.upload(path))
    }

    /// [`Blobs::save`] on a runtime of its own, for callers that are not async (the CLI, a
    /// background thread of the terminal UI).
    pub fn save_blocking(
        &self,
        att: &AttachmentView,
        dest: &Path,
        overwrite: bool,
    ) -> Result<Saved, BlobError> {
        runtime()?.block_on(self.save(att, dest, overwrite))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, BlobError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BlobError::Runtime(format!("cannot start the transfer: {e}")))
}

/// Gives the finished temporary file its final name. Without `overwrite`, a file that appeared
/// at `dest` in the meantime is kept (a hard link fails if the name is taken).
fn place(part: &Path, dest: &Path, overwrite: bool) -> Result<(), BlobError> {
    let write_err = |source: std::io::Error| BlobError::Write {
        path: dest.to_path_buf(),
        source,
    };
    if overwrite {
        return std::fs::rename(part, dest).map_err(write_err);
    }
    match std::fs::hard_link(part, dest) {
        Ok(()) => {
            let _ = std::fs::remove_file(part);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(BlobError::Exists {
            path: dest.to_path_buf(),
        }),
        // A file system without hard links: check, then rename.
        Err(_) if std::fs::symlink_metadata(dest).is_ok() => Err(BlobError::Exists {
            path: dest.to_path_buf(),
        }),
        Err(_) => std::fs::rename(part, dest).map_err(write_err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_opens_only_with_its_key_and_place() {
        let key = [7u8; 32];
        let mut buf = vec![0u8; NONCE_LEN];
        buf.extend_from_slice(b"hello chunk");
        seal_in_place(&key, &chunk_aad("aa", 0, 2), &mut buf).unwrap();
        assert!(!buf.windows(5).any(|w| w == b"hello"));
        assert_eq!(
            open_in_place(&key, &chunk_aad("aa", 0, 2), buf.clone()).as_deref(),
            Some(&b"hello chunk"[..])
        );
        for aad in [
            chunk_aad("aa", 1, 2),
            chunk_aad("ab", 0, 2),
            chunk_aad("aa", 0, 1),
        ] {
            assert_eq!(open_in_place(&key, &aad, buf.clone()), None);
        }
        assert_eq!(open_in_place(&[8u8; 32], &chunk_aad("aa", 0, 2), buf), None);
        assert_eq!(open_in_place(&key, b"", vec![1, 2, 3]), None);
    }
}
