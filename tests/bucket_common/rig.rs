//! A bucket to test against — a folder, or the in-process S3 server — and the folder its objects
//! end up in, to scan byte by byte.

use std::path::{Path, PathBuf};

use weft::sync::bucket::Bucket;

use super::s3::S3Server;

pub struct Rig {
    pub bucket: Bucket,
    /// Where the objects are stored on disk.
    pub root: PathBuf,
    /// The file of the object at key `k` is `objects/k`.
    pub objects: PathBuf,
    _server: Option<S3Server>,
    _dir: Option<tempfile::TempDir>,
}

/// A bucket that is a plain folder.
pub fn folder() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let bucket = Bucket::open(&format!("file://{}", dir.path().display())).unwrap();
    Rig {
        bucket,
        root: dir.path().to_path_buf(),
        objects: dir.path().to_path_buf(),
        _server: None,
        _dir: Some(dir),
    }
}

/// A bucket on the S3 server, through object_store's S3 client.
pub fn s3() -> Rig {
    let server = S3Server::start();
    let bucket = server.bucket("team/weft");
    Rig {
        bucket,
        objects: server.root().join(super::s3::BUCKET).join("team/weft"),
        root: server.root().to_path_buf(),
        _server: Some(server),
        _dir: None,
    }
}

impl Rig {
    /// The file holding the object at `key`, to damage it behind the store's back (as a bad
    /// copy, a lifecycle rule or a failing disk would).
    pub fn file_of(&self, key: &str) -> PathBuf {
        self.objects.join(key)
    }

    /// Every object the storage holds, read raw.
    pub fn raw_objects(&self) -> Vec<Vec<u8>> {
        all_files(&self.root)
            .into_iter()
            .filter_map(|p| std::fs::read(p).ok())
            .collect()
    }
}

/// Every file at or under `path`.
pub fn all_files(path: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if p.is_file() {
            found.push(p);
        }
    }
    found
}
