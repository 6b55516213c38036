//! The bucket transport against real stores: a folder (`file://`) and an S3 protocol server
//! (s3s over a temporary folder) reached through object_store's real S3 client. Every case in
//! `both!` runs against each.

mod bucket_common;

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use weft::sync::bucket::keys::{self, LogKey};
use weft::sync::bucket::{Bucket, BucketError, PutNew, RetryPolicy};

use bucket_common::faults::{FaultPlan, FaultyStore, Tamper};
use bucket_common::memory::{reset_peak, PEAK};
use bucket_common::s3::{S3Server, SECRET_KEY};

const WS: &str = "5e1f0a";
const DEV: &str = "02a1b2c3";
const OTHER_DEV: &str = "03ffee";

/// A bucket and what keeps it alive.
struct Rig {
    bucket: Bucket,
    _folder: Option<tempfile::TempDir>,
    _server: Option<S3Server>,
}

fn folder() -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = url::Url::from_directory_path(dir.path().join("bucket")).expect("file URL");
    let bucket = Bucket::open(url.as_str()).unwrap_or_else(|e| panic!("{e}"));
    Rig {
        bucket,
        _folder: Some(dir),
        _server: None,
    }
}

fn s3() -> Rig {
    let server = S3Server::start();
    let bucket = server.bucket("team/weft");
    Rig {
        bucket,
        _folder: None,
        _server: Some(server),
    }
}

/// Quick retries, so that a flaky store costs milliseconds.
fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 12,
        first_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        attempt_timeout: Duration::from_secs(10),
    }
}

/// The same bucket seen through a [`FaultyStore`].
fn faulty(rig: &Rig, seed: u64, plan: FaultPlan) -> (Bucket, Arc<FaultyStore>) {
    let store = FaultyStore::new(rig.bucket.store().clone(), seed, plan);
    let bucket = Bucket::from_store(store.clone(), rig.bucket.prefix(), "flaky").with_retry(fast());
    (bucket, store)
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod folder {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::folder()).await
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::s3()).await
                }
            )*
        }
    };
}

both!(
    put_new_never_overwrites,
    missing_objects_are_none,
    overwrite_and_delete,
    listing_after_a_key_returns_exactly_the_later_keys,
    foreign_objects_in_a_log_are_reported_not_fatal,
    a_100_mb_object_streams_with_bounded_memory,
    an_upload_whose_source_fails_leaves_nothing,
    a_flaky_store_still_gets_everything_done,
    hangs_are_cut_short_and_retried,
    permanent_errors_come_back_at_once,
    invalid_keys_are_refused_before_the_store_is_asked,
    tampered_reads_show_what_a_reader_would_get,
);

async fn put_new_never_overwrites(rig: Rig) {
    let b = &rig.bucket;
    let key = keys::log_key(WS, DEV, 1);
    let first = Bytes::from_static(b"envelope one");
    assert_eq!(
        b.put_new(&key, first.clone()).await.unwrap(),
        PutNew::Created
    );
    assert_eq!(
        b.put_new(&key, Bytes::from_static(b"another envelope"))
            .await
            .unwrap(),
        PutNew::Exists
    );
    assert_eq!(
        b.get(&key).await.unwrap(),
        Some(first.clone()),
        "content unchanged"
    );
    // Writing the same bytes again (a retry whose first reply was lost) is fine.
    assert_eq!(
        b.put_new(&key, first.clone()).await.unwrap(),
        PutNew::AlreadyStored
    );
    // A longer or empty object under the key is "other content" too.
    let longer = Bytes::from(vec![b'x'; 4096]);
    assert_eq!(b.put_new(&key, longer).await.unwrap(), PutNew::Exists);
    assert_eq!(b.put_new(&key, Bytes::new()).await.unwrap(), PutNew::Exists);
    let empty_key = keys::log_key(WS, DEV, 2);
    assert_eq!(
        b.put_new(&empty_key, Bytes::new()).await.unwrap(),
        PutNew::Created
    );
    assert_eq!(b.get(&empty_key).await.unwrap(), Some(Bytes::new()));
}

async fn missing_objects_are_none(rig: Rig) {
    let b = &rig.bucket;
    let key = keys::snap_key(WS, "00");
    assert_eq!(b.get(&key).await.unwrap(), None);
    assert!(b.get_stream(&key).await.unwrap().is_none());
    b.delete(&key).await.expect("deleting nothing is fine");
    let listed = b.list(&keys::log_prefix("0000"), None).await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}

async fn overwrite_and_delete(rig: Rig) {
    let b = &rig.bucket;
    let key = keys::invite_key(WS, "ab");
    b.put(&key, Bytes::from_static(b"v1")).await.unwrap();
    b.put(&key, Bytes::from_static(b"v2")).await.unwrap();
    assert_eq!(b.get(&key).await.unwrap().as_deref(), Some(&b"v2"[..]));
    b.delete(&key).await.unwrap();
    assert_eq!(b.get(&key).await.unwrap(), None);
    // Streams of nothing are objects of nothing.
    assert_eq!(b.put_stream(&key, &b""[..]).await.unwrap(), 0);
    let empty = b.get_stream(&key).await.unwrap().expect("there");
    assert_eq!(empty.size(), 0);
    assert!(empty
        .try_collect::<Vec<Bytes>>()
        .await
        .unwrap()
        .concat()
        .is_empty());
    assert_eq!(b.get(&key).await.unwrap(), Some(Bytes::new()));
    // A size limit keeps oversized objects out of memory.
    let small = b.clone().with_max_object_size(1);
    b.put(&key, Bytes::from_static(b"three")).await.unwrap();
    match small.get(&key).await {
        Err(BucketError::TooLarge {
            size: 5, limit: 1, ..
        }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

async fn listing_after_a_key_returns_exactly_the_later_keys(rig: Rig) {
    let b = &rig.bucket;
    const N: u64 = 1_100; // more than one S3 page (1000 keys)
    let started = Instant::now();
    futures::stream::iter(0..N)
        .map(|seq| async move {
            let key = keys::log_key(WS, DEV, seq);
            b.put_new(&key, Bytes::from(seq.to_string())).await
        })
        .buffer_unordered(16)
        .try_for_each(|outcome| async move {
            assert_eq!(outcome, PutNew::Created);
            Ok(())
        })
        .await
        .unwrap();
    // Neighbours that must not show up in one device's listing.
    b.put_new(&keys::log_key(WS, OTHER_DEV, 5), Bytes::from_static(b"o"))
        .await
        .unwrap();
    b.put_new(&keys::log_key("5e1f0b", DEV, 5), Bytes::from_static(b"w"))
        .await
        .unwrap();
    b.put_new(&keys::genesis_key(WS), Bytes::from_static(b"g"))
        .await
        .unwrap();
    eprintln!("{}: {N} puts in {:?}", b.label(), started.elapsed());

    let started = Instant::now();
    let all = b
        .list(&keys::device_log_prefix(WS, DEV), None)
        .await
        .unwrap();
    eprintln!(
        "{}: listed {} in {:?}",
        b.label(),
        all.len(),
        started.elapsed()
    );
    let expected: Vec<String> = (0..N).map(|s| keys::log_key(WS, DEV, s)).collect();
    let got: Vec<String> = all.iter().map(|o| o.key.clone()).collect();
    assert_eq!(got, expected);
    assert_eq!(all[123].size, 3, "sizes come back");

    let after = keys::log_key(WS, DEV, 499);
    let later = b
        .list(&keys::device_log_prefix(WS, DEV), Some(&after))
        .await
        .unwrap();
    let got: Vec<String> = later.into_iter().map(|o| o.key).collect();
    assert_eq!(got, expected[500..].to_vec());

    let last = keys::log_key(WS, DEV, N - 1);
    assert!(b
        .list(&keys::device_log_prefix(WS, DEV), Some(&last))
        .await
        .unwrap()
        .is_empty());

    // The whole workspace log, both devices, in order; with a trailing slash too.
    let log = b
        .list(&format!("{}/", keys::log_prefix(WS)), None)
        .await
        .unwrap();
    assert_eq!(log.len() as u64, N + 1);
    assert_eq!(
        log.last().map(|o| o.key.as_str()),
        Some(keys::log_key(WS, OTHER_DEV, 5).as_str())
    );
    let everything = b.list("", None).await.unwrap();
    assert_eq!(everything.len() as u64, N + 3);
}

async fn foreign_objects_in_a_log_are_reported_not_fatal(rig: Rig) {
    let b = &rig.bucket;
    let log = keys::log_prefix(WS);
    let good = keys::log_key(WS, DEV, 7);
    let planted = [
        format!("{log}/{DEV}/not-a-seq"),
        format!("{log}/{DEV}/00000000000000000001/nested"),
        format!("{log}/ZZ/00000000000000000001"),
        format!("{log}/{DEV}/99999999999999999999"),
        format!("{log}/stray-file"),
        format!("{log}/{DEV}/0000000000000000000\u{661}"),
    ];
    b.put_new(&good, Bytes::from_static(b"ok")).await.unwrap();
    for key in &planted {
        b.put(key, Bytes::from_static(b"junk")).await.unwrap();
    }
    let listed = b.list(&log, None).await.unwrap();
    assert_eq!(listed.len(), planted.len() + 1, "{listed:?}");
    let mut entries = Vec::new();
    let mut foreign = Vec::new();
    for object in &listed {
        match keys::parse_log_key(WS, &object.key) {
            LogKey::Entry { device, seq } => entries.push((device, seq)),
            LogKey::Foreign { key, reason } => foreign.push((key, reason)),
        }
    }
    assert_eq!(entries, vec![(DEV.to_string(), 7)]);
    let mut foreign_keys: Vec<String> = foreign.iter().map(|(k, _)| k.clone()).collect();
    foreign_keys.sort();
    let mut expected = planted.to_vec();
    expected.sort();
    assert_eq!(foreign_keys, expected);
    assert!(foreign.iter().all(|(_, reason)| !reason.is_empty()));
}

/// Bytes from a seeded RNG, hashed as they are handed out: a large object that is never held.
struct SeededReader {
    rng: StdRng,
    left: u64,
    hash: Sha256,
}

impl SeededReader {
    fn new(seed: u64, len: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            left: len,
            hash: Sha256::new(),
        }
    }
}

impl AsyncRead for SeededReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left).min(64 * 1024) as usize;
        if n > 0 {
            let mut chunk = vec![0u8; n];
            self.rng.fill_bytes(&mut chunk);
            self.hash.update(&chunk);
            self.left -= n as u64;
            buf.put_slice(&chunk);
        }
        Poll::Ready(Ok(()))
    }
}

/// The big transfers run one at a time, so that each one's memory peak is its own.
static BIG: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn a_100_mb_object_streams_with_bounded_memory(rig: Rig) {
    const LEN: u64 = 100 * 1024 * 1024;
    let _one_at_a_time = BIG.lock().await;
    let b = &rig.bucket;
    let key = keys::blob_key(WS, "feed");
    let before = reset_peak();

    let started = Instant::now();
    let mut source = SeededReader::new(42, LEN);
    let written = b.put_stream(&key, &mut source).await.unwrap();
    assert_eq!(written, LEN);
    let sent = source.hash.finalize();
    let up = started.elapsed();

    let started = Instant::now();
    let mut download = b
        .get_stream(&key)
        .await
        .unwrap()
        .expect("the object is there");
    assert_eq!(download.size(), LEN);
    let mut hash = Sha256::new();
    let mut received = 0u64;
    while let Some(piece) = download.next().await {
        let piece = piece.unwrap();
        received += piece.len() as u64;
        hash.update(&piece);
    }
    let down = started.elapsed();
    assert_eq!(received, LEN);
    assert_eq!(hash.finalize(), sent, "the object came back as it was sent");
    let listed = b.list(&keys::workspace_prefix(WS), None).await.unwrap();
    assert_eq!(listed.iter().map(|o| o.size).collect::<Vec<_>>(), vec![LEN]);

    let grew = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    eprintln!("{}: 100 MiB up in {up:?}, down in {down:?}", b.label());
    eprintln!(
        "{}: at most {} MiB more held at once",
        b.label(),
        grew >> 20
    );
    // Holding the object whole would take 100 MiB by itself; parts in flight take ~24 MiB (and
    // the in-process server, which counts too, holds a part or two of its own).
    assert!(grew < 80 * 1024 * 1024, "{} MiB held at once", grew >> 20);
}

async fn an_upload_whose_source_fails_leaves_nothing(rig: Rig) {
    let b = &rig.bucket;
    let key = keys::blob_key(WS, "dead");
    // More than one part goes up before the source fails.
    let source = SeededReader::new(5, 20 * 1024 * 1024).chain(FailingReader);
    match b.put_stream(&key, source).await {
        Err(e @ BucketError::Read { .. }) => {
            assert!(e.to_string().contains("disk went away"), "{e}")
        }
        other => panic!("expected a read error, got {other:?}"),
    }
    assert_eq!(b.get(&key).await.unwrap(), None);
    assert!(b.list("", None).await.unwrap().is_empty());
}

/// A source that fails, as a file on a vanished disk would.
struct FailingReader;

impl AsyncRead for FailingReader {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Err(std::io::Error::other("disk went away")))
    }
}

async fn a_flaky_store_still_gets_everything_done(rig: Rig) {
    let (flaky, faults) = faulty(&rig, 7, FaultPlan::flaky(0.3));
    let keys: Vec<String> = (0..40).map(|s| keys::log_key(WS, DEV, s)).collect();
    for (i, key) in keys.iter().enumerate() {
        let outcome = flaky
            .put_new(key, Bytes::from(format!("change {i}")))
            .await
            .unwrap();
        // A write whose reply was lost is found already stored on the next try, never "Exists".
        assert!(
            matches!(outcome, PutNew::Created | PutNew::AlreadyStored),
            "{outcome:?}"
        );
    }
    for (i, key) in keys.iter().enumerate() {
        let got = flaky.get(key).await.unwrap();
        assert_eq!(got, Some(Bytes::from(format!("change {i}"))));
        // And the real store agrees.
        assert_eq!(rig.bucket.get(key).await.unwrap(), got);
    }
    let listed = flaky
        .list(&keys::device_log_prefix(WS, DEV), None)
        .await
        .unwrap();
    assert_eq!(listed.into_iter().map(|o| o.key).collect::<Vec<_>>(), keys);
    let later = flaky
        .list(&keys::device_log_prefix(WS, DEV), Some(&keys[19]))
        .await
        .unwrap();
    assert_eq!(
        later.into_iter().map(|o| o.key).collect::<Vec<_>>(),
        keys[20..].to_vec()
    );

    // A download that keeps breaking off resumes where it stopped.
    let big = keys::blob_key(WS, "ab");
    let mut source = SeededReader::new(9, 3 * 1024 * 1024 + 17);
    rig.bucket.put_stream(&big, &mut source).await.unwrap();
    let sent = source.hash.finalize();
    for _ in 0..3 {
        let stream = flaky.get_stream(&big).await.unwrap().expect("there");
        let pieces: Vec<Bytes> = stream.try_collect().await.unwrap();
        let mut hash = Sha256::new();
        pieces.iter().for_each(|p| hash.update(p));
        assert_eq!(hash.finalize(), sent);
    }
    for key in &keys {
        flaky.delete(key).await.unwrap();
    }
    assert!(rig
        .bucket
        .list(&keys::device_log_prefix(WS, DEV), None)
        .await
        .unwrap()
        .is_empty());

    let stats = faults.stats();
    eprintln!("{}: {stats:?}", rig.bucket.label());
    assert!(stats.failed_before > 0 && stats.failed_after > 0 && stats.broken_streams > 0);
}

async fn hangs_are_cut_short_and_retried(rig: Rig) {
    let plan = FaultPlan {
        hang: 0.3,
        hang_for: Duration::from_secs(60),
        ..FaultPlan::none()
    };
    let (flaky, faults) = faulty(&rig, 11, plan);
    let flaky = flaky.with_retry(RetryPolicy {
        attempt_timeout: Duration::from_millis(200),
        ..fast()
    });
    for seq in 0..10 {
        let key = keys::log_key(WS, DEV, seq);
        flaky.put_new(&key, Bytes::from_static(b"x")).await.unwrap();
        assert_eq!(flaky.get(&key).await.unwrap().as_deref(), Some(&b"x"[..]));
    }
    assert!(faults.stats().hangs > 0, "{:?}", faults.stats());
}

async fn permanent_errors_come_back_at_once(rig: Rig) {
    let plan = FaultPlan {
        deny: true,
        ..FaultPlan::none()
    };
    let (denied, faults) = faulty(&rig, 1, plan);
    let key = keys::log_key(WS, DEV, 1);
    let e = denied
        .put_new(&key, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(e, BucketError::AccessDenied { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("access denied by the bucket flaky"),
        "{e}"
    );
    assert!(!e.is_transient());
    assert_eq!(faults.stats().calls, 1, "tried once, not retried");
    assert!(matches!(
        denied.get(&key).await,
        Err(BucketError::AccessDenied { .. })
    ));
    assert!(matches!(
        denied.list("", None).await,
        Err(BucketError::AccessDenied { .. })
    ));
    assert_eq!(faults.stats().calls, 3);
}

async fn invalid_keys_are_refused_before_the_store_is_asked(rig: Rig) {
    let (b, faults) = faulty(&rig, 1, FaultPlan::none());
    for key in ["", "/", "a//b", "ws/../x", "ws/./x", "a/\u{1b}[2J"] {
        match b.put(key, Bytes::from_static(b"x")).await {
            Err(BucketError::InvalidKey { .. }) => {}
            other => panic!("{key:?}: {other:?}"),
        }
        assert!(
            matches!(b.get(key).await, Err(BucketError::InvalidKey { .. })),
            "{key:?}"
        );
    }
    assert_eq!(faults.stats().calls, 0);
}

async fn tampered_reads_show_what_a_reader_would_get(rig: Rig) {
    let (b, faults) = faulty(&rig, 3, FaultPlan::none());
    let one = keys::log_key(WS, DEV, 1);
    let two = keys::log_key(WS, DEV, 2);
    b.put_new(&one, Bytes::from_static(b"first envelope"))
        .await
        .unwrap();
    b.put_new(&two, Bytes::from_static(b"second"))
        .await
        .unwrap();

    faults.tamper(&one, Tamper::Truncate(5));
    assert_eq!(b.get(&one).await.unwrap().as_deref(), Some(&b"first"[..]));
    faults.tamper(&one, Tamper::FlipBit(0));
    assert_eq!(
        b.get(&one).await.unwrap().as_deref(),
        Some(&b"girst envelope"[..])
    );
    faults.tamper(&one, Tamper::SwapWith(two.clone()));
    assert_eq!(b.get(&one).await.unwrap().as_deref(), Some(&b"second"[..]));
    faults.tamper(&one, Tamper::FlipRandomBit);
    let flipped = b.get(&one).await.unwrap().expect("there");
    let differing: u32 = flipped
        .iter()
        .zip(b"first envelope")
        .map(|(a, b)| (a ^ b).count_ones())
        .sum();
    assert_eq!(differing, 1);
    faults.untamper(&one);
    assert_eq!(
        b.get(&one).await.unwrap().as_deref(),
        Some(&b"first envelope"[..])
    );
    // The store itself was never changed.
    assert_eq!(
        rig.bucket.get(&one).await.unwrap().as_deref(),
        Some(&b"first envelope"[..])
    );
    assert_eq!(faults.stats().tampered, 4);
}

// ---- S3 only: what a real S3 endpoint says, and how weft reads it.

#[tokio::test]
async fn s3_wrong_secret_is_access_denied_after_one_request() {
    let server = S3Server::start();
    let b = server.open(&server.url("p"), "not-the-secret").unwrap();
    let before = server.requests();
    let started = Instant::now();
    let e = b.put_new("k", Bytes::from_static(b"x")).await.unwrap_err();
    eprintln!("wrong secret refused in {:?}: {e}", started.elapsed());
    assert!(matches!(e, BucketError::AccessDenied { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("AWS_SECRET_ACCESS_KEY"), "{text}");
    assert!(text.contains("s3://weft-test/p"), "{text}");
    assert!(!text.contains("not-the-secret"), "{text}");
    assert_eq!(server.requests() - before, 1, "no retries for a refusal");
    assert!(matches!(
        b.get("k").await,
        Err(BucketError::AccessDenied { .. })
    ));
    assert!(matches!(
        b.list("", None).await,
        Err(BucketError::AccessDenied { .. })
    ));
    assert_eq!(server.requests() - before, 3);
}

#[tokio::test]
async fn s3_missing_bucket_is_named_not_mistaken_for_a_missing_object() {
    let server = S3Server::start();
    let b = server
        .open(&server.url_for("no-such-bucket", "p"), SECRET_KEY)
        .unwrap();
    let before = server.requests();
    match b.list("", None).await {
        Err(e @ BucketError::NoSuchBucket { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("s3://no-such-bucket/p does not exist"),
                "{text}"
            )
        }
        other => panic!("expected NoSuchBucket, got {other:?}"),
    }
    assert_eq!(server.requests() - before, 1, "no retries");
    // s3s-fs answers a GET or PUT in a missing bucket as if the bucket existed; real S3 says
    // 404 NoSuchBucket, which must not read as "no such object".
    server.answer_next(2, 404, "NoSuchBucket");
    assert!(matches!(
        b.get("k").await,
        Err(BucketError::NoSuchBucket { .. })
    ));
    let put = b.put_new("k", Bytes::from_static(b"x")).await;
    assert!(
        matches!(put, Err(BucketError::NoSuchBucket { .. })),
        "{put:?}"
    );
    // A missing object is still just missing.
    server.answer_next(1, 404, "NoSuchKey");
    assert_eq!(server.bucket("p").get("k").await.unwrap(), None);
}

#[tokio::test]
async fn s3_without_create_only_writes_reads_before_writing() {
    let server = S3Server::start();
    let url = format!("{}&conditional_put=disabled", server.url("p"));
    let b = server.open(&url, SECRET_KEY).unwrap();
    let key = keys::log_key(WS, DEV, 1);
    assert_eq!(
        b.put_new(&key, Bytes::from_static(b"one")).await.unwrap(),
        PutNew::Created
    );
    assert_eq!(
        b.put_new(&key, Bytes::from_static(b"two")).await.unwrap(),
        PutNew::Exists
    );
    assert_eq!(
        b.put_new(&key, Bytes::from_static(b"one")).await.unwrap(),
        PutNew::AlreadyStored
    );
    assert_eq!(b.get(&key).await.unwrap().as_deref(), Some(&b"one"[..]));
    // After the first refusal it goes straight to read-then-write: one GET, one PUT.
    let before = server.requests();
    let next = keys::log_key(WS, DEV, 2);
    assert_eq!(
        b.put_new(&next, Bytes::from_static(b"x")).await.unwrap(),
        PutNew::Created
    );
    assert_eq!(server.requests() - before, 2);
}

#[tokio::test]
async fn s3_slow_down_answers_are_retried() {
    let server = S3Server::start();
    let b = server.bucket("p").with_retry(fast());
    server.fail_next(5);
    let before = server.requests();
    assert_eq!(
        b.put_new("k", Bytes::from_static(b"x")).await.unwrap(),
        PutNew::Created
    );
    assert_eq!(
        server.requests() - before,
        6,
        "five refusals, then the write"
    );
    server.fail_next(5);
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"x"[..]));
    server.fail_next(5);
    assert_eq!(b.list("", None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn s3_unreachable_endpoint_gives_up_after_the_policy_attempts() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("s3://b/p?endpoint=http://127.0.0.1:{port}");
    let b = Bucket::open_with(&url, &[("access_key_id", "a"), ("secret_access_key", "s")])
        .unwrap()
        .with_retry(RetryPolicy {
            attempts: 3,
            ..fast()
        });
    let e = b.get("k").await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(
        matches!(e, BucketError::Unreachable { attempts: 3, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("unreachable after 3 attempts"),
        "{e}"
    );
}

#[tokio::test]
async fn debug_and_errors_never_show_credentials() {
    let server = S3Server::start();
    let b = server.bucket("p");
    let shown = format!("{b:?} {b}");
    assert_eq!(shown, "Bucket(\"s3://weft-test/p\") s3://weft-test/p");
    assert!(!shown.contains(SECRET_KEY));
}

#[test]
fn bad_urls_say_what_is_accepted() {
    let cases = [
        ("ftp://example.com/x", "weft cannot use ftp:// URLs"),
        ("s3://", "s3://bucket/prefix"),
        (
            "s3://bucket/p?endpoint=x&bogus=1",
            "do not take the setting \"bogus\"",
        ),
        (
            "s3://key:secret@bucket/p",
            "credentials never go in a bucket URL",
        ),
        (
            "s3://bucket?secret_access_key=secret",
            "credentials never go in a bucket URL",
        ),
        ("file://server/share", "absolute path"),
        ("/just/a/path", "is not a URL"),
        ("s3://bucket/a b", "bucket prefix"),
    ];
    for (url, says) in cases {
        let e = Bucket::open(url).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, BucketError::InvalidUrl { .. }), "{url}: {e:?}");
        assert!(text.contains(says), "{url}: {text}");
        assert!(
            text.contains("file:///absolute/folder, s3://bucket/prefix"),
            "{text}"
        );
        assert!(
            !text.contains("secret@") && !text.contains("=secret"),
            "{text}"
        );
    }
}

#[test]
fn a_url_alone_names_an_s3_compatible_bucket() {
    let b = Bucket::open("s3://team/weft?endpoint=http://127.0.0.1:9000&region=garage").unwrap();
    assert_eq!((b.label(), b.prefix()), ("s3://team/weft", "weft"));
    let b = Bucket::open("memory://").unwrap();
    assert_eq!(b.label(), "memory://");
}
