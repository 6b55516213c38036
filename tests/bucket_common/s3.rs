//! A real S3 protocol server in this process: s3s over a temporary folder (s3s-fs), served with
//! hyper on 127.0.0.1 from its own thread and runtime, so any test runtime can talk to it through
//! object_store's real S3 client. It checks SigV4 signatures against one static key pair, counts
//! requests, and can be told to answer the next few with an error of your choice (503 SlowDown,
//! or what real S3 says where s3s-fs differs, e.g. 404 NoSuchBucket for a GET in a missing bucket).
//!
//! ```ignore
//! let server = S3Server::start();
//! let bucket = server.bucket("some/prefix"); // weft::sync::bucket::Bucket over http://127.0.0.1:…
//! ```
//! The server stops (and its folder is removed) when the handle drops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use weft::sync::bucket::{Bucket, BucketError};

pub const ACCESS_KEY: &str = "weft-test-access-key";
pub const SECRET_KEY: &str = "weft-test-secret-key";
pub const BUCKET: &str = "weft-test";
pub const REGION: &str = "us-east-1";

/// A running server; dropping it stops the server.
pub struct S3Server {
    endpoint: String,
    root: tempfile::TempDir,
    requests: Arc<AtomicUsize>,
    canned: Arc<Mutex<Canned>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server on a free port with the bucket [`BUCKET`] already created.
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().expect("server folder");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket folder");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs");
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let requests = Arc::new(AtomicUsize::new(0));
        let canned = Arc::new(Mutex::new(Canned::default()));
        let gate = Gate {
            inner: service,
            requests: requests.clone(),
            canned: canned.clone(),
        };

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let endpoint = format!("http://{}", listener.local_addr().expect("local addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("s3-test-server".into())
            .spawn(move || serve(listener, gate, stopped))
            .expect("server thread");
        S3Server {
            endpoint,
            root,
            requests,
            canned,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn bucket_name(&self) -> &str {
        BUCKET
    }

    /// The folder the server keeps its buckets in (one sub-folder per bucket).
    pub fn root(&self) -> &std::path::Path {
        self.root.path()
    }

    /// A URL naming `prefix` in the test bucket, endpoint and region included (no credentials).
    pub fn url(&self, prefix: &str) -> String {
        self.url_for(BUCKET, prefix)
    }

    /// Like [`Self::url`] for another bucket name (which may not exist).
    pub fn url_for(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?endpoint={}&region={REGION}",
            self.endpoint
        )
    }

    /// A [`Bucket`] on `prefix` through object_store's S3 client, with the server's credentials.
    pub fn bucket(&self, prefix: &str) -> Bucket {
        self.open(&self.url(prefix), SECRET_KEY)
            .unwrap_or_else(|e| panic!("opening the test bucket: {e}"))
    }

    /// Opens `url` with the server's access key and the given secret.
    pub fn open(&self, url: &str, secret: &str) -> Result<Bucket, BucketError> {
        Bucket::open_with(
            url,
            &[("access_key_id", ACCESS_KEY), ("secret_access_key", secret)],
        )
    }

    /// Requests the server has received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Answers the next `n` requests with `503 SlowDown` instead of serving them.
    pub fn fail_next(&self, n: usize) {
        self.answer_next(n, 503, "SlowDown");
    }

    /// Answers the next `n` requests with this HTTP status and S3 error code instead of serving
    /// them.
    pub fn answer_next(&self, n: usize, status: u16, code: &str) {
        let mut canned = self.canned.lock().unwrap_or_else(|p| p.into_inner());
        *canned = Canned {
            left: n,
            status,
            code: code.to_string(),
        };
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    listener: std::net::TcpListener,
    gate: Gate,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("s3-test-worker")
        .enable_all()
        .build()
        .expect("server runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let (socket, _) = tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => continue,
                },
            };
            // Without this every small response waits for the peer's delayed ACK (~40 ms).
            let _ = socket.set_nodelay(true);
            let connection = http
                .serve_connection(TokioIo::new(socket), gate.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
}

/// Error answers waiting to be given instead of serving requests.
#[derive(Default)]
struct Canned {
    left: usize,
    status: u16,
    code: String,
}

/// The S3 service, counting requests and failing some on demand.
#[derive(Clone)]
struct Gate {
    inner: S3Service,
    requests: Arc<AtomicUsize>,
    canned: Arc<Mutex<Canned>>,
}

impl Service<hyper::Request<Incoming>> for Gate {
    type Response = s3s::HttpResponse;
    type Error = s3s::HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let answer = {
            let mut canned = self.canned.lock().unwrap_or_else(|p| p.into_inner());
            if canned.left > 0 {
                canned.left -= 1;
                Some((canned.status, canned.code.clone()))
            } else {
                None
            }
        };
        if let Some((status, code)) = answer {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                 <Error><Code>{code}</Code><Message>canned by the test</Message></Error>"
            );
            let response = hyper::Response::builder()
                .status(status)
                .header("content-type", "application/xml")
                .body(s3s::Body::from(body))
                .expect("a canned response");
            return Box::pin(async move { Ok(response) });
        }
        Service::call(&self.inner, req)
    }
}
