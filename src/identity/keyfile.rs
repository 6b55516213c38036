//! Private key files shared by the device key and the local wallet.
//!
//! A key file is small, binary and versioned:
//!
//! ```text
//! offset  size  field
//! 0       7     magic "weftkey"
//! 7       1     format version (1)
//! 8       1     kind: 0 = device key, 1 = wallet key
//! 9       1     protection: 0 = plain, 1 = passphrase (Argon2id + XChaCha20-Poly1305)
//! plain:
//! 10      32    secp256k1 private key (big-endian scalar)
//! sealed:
//! 10      4     Argon2id memory cost in KiB (little-endian)
//! 14      4     Argon2id iterations (little-endian)
//! 18      4     Argon2id parallelism (little-endian)
//! 22      16    salt
//! 38      24    XChaCha20-Poly1305 nonce
//! 62      48    ciphertext of the private key + 16-byte tag; AAD = bytes 0..62
//! ```
//!
//! Files are written atomically (temporary file, fsync, rename, fsync of the directory) with mode
//! 0600 on unix, so a crash never leaves a half-written key behind.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use k256::elliptic_curve::zeroize::Zeroizing;
use rand::rngs::OsRng;
use rand::RngCore;

const MAGIC: &[u8; 7] = b"weftkey";
const FORMAT_VERSION: u8 = 1;
const PROTECTION_PLAIN: u8 = 0;
const PROTECTION_SEALED: u8 = 1;
const HEADER_LEN: usize = 10;
const SECRET_LEN: usize = 32;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const SEALED_AAD_LEN: usize = HEADER_LEN + 12 + SALT_LEN + NONCE_LEN;
const PLAIN_FILE_LEN: usize = HEADER_LEN + SECRET_LEN;
const SEALED_FILE_LEN: usize = SEALED_AAD_LEN + SECRET_LEN + TAG_LEN;
/// Never read more than this from a key file, whatever the file claims to be.
const MAX_READ: u64 = 4096;
/// Upper bounds on the Argon2id costs read from a file, so a hostile file cannot make weft
/// allocate gigabytes or spin for minutes.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 16;

/// What a key file holds; recorded in the file so one kind is never loaded as the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A device key (signs this device's changes).
    Device,
    /// A local wallet key (an Ethereum account).
    Wallet,
}

impl KeyKind {
    fn to_byte(self) -> u8 {
        match self {
            KeyKind::Device => 0,
            KeyKind::Wallet => 1,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(KeyKind::Device),
            1 => Some(KeyKind::Wallet),
            _ => None,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Device => "device key",
            KeyKind::Wallet => "wallet key",
        })
    }
}

/// A key read from a file, with anything the user should be told about the file
/// (for example that other users can read it).
#[derive(Debug)]
pub struct LoadedKey<K> {
    /// The key.
    pub key: K,
    /// Human-readable warnings about the file; empty when all is well.
    pub warnings: Vec<String>,
}

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// There is no file at the path.
    #[error("no key file at {}", path.display())]
    Missing {
        /// The path that was tried.
        path: PathBuf,
    },
    /// The operating system refused an operation.
    #[error("could not {action} key file {}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// What weft was doing ("read", "write", ...).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file is not a weft key file, or it is truncated or corrupted.
    #[error("{} is not a usable weft key file: {reason}; restore it from a backup or create a new key", path.display())]
    Damaged {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file was written by a newer weft.
    #[error("key file {} uses format version {version}, but this weft only reads version {FORMAT_VERSION}; upgrade weft", path.display())]
    UnsupportedVersion {
        /// The key file.
        path: PathBuf,
        /// The version found in the file.
        version: u8,
    },
    /// The file holds the other kind of key.
    #[error("{} holds a {found}, not a {expected}; check the path", path.display())]
    WrongKind {
        /// The key file.
        path: PathBuf,
        /// The kind that was asked for.
        expected: KeyKind,
        /// The kind found in the file.
        found: KeyKind,
    },
    /// The file is sealed and no passphrase was given.
    #[error("key file {} is protected by a passphrase; enter the passphrase to unlock it", path.display())]
    PassphraseRequired {
        /// The key file.
        path: PathBuf,
    },
    /// The passphrase does not open the file (or the sealed file was modified).
    #[error("wrong passphrase for key file {} (or the file was modified)", path.display())]
    WrongPassphrase {
        /// The key file.
        path: PathBuf,
    },
    /// An empty passphrase was given for sealing.
    #[error("the passphrase is empty; choose a passphrase or store the key without one")]
    EmptyPassphrase,
}

fn damaged(path: &Path, reason: impl Into<String>) -> KeyFileError {
    KeyFileError::Damaged {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_error(path: &Path, action: &'static str, source: io::Error) -> KeyFileError {
    KeyFileError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Writes `secret` to `path` atomically, sealed under `passphrase` if one is given.
pub(crate) fn write_key_file(
    path: &Path,
    kind: KeyKind,
    secret: &[u8; SECRET_LEN],
    passphrase: Option<&str>,
) -> Result<(), KeyFileError> {
    let bytes = match passphrase {
        None => {
            let mut out = Zeroizing::new(Vec::with_capacity(PLAIN_FILE_LEN));
            out.extend_from_slice(&header(kind, PROTECTION_PLAIN));
            out.extend_from_slice(secret);
            out
        }
        Some("") => return Err(KeyFileError::EmptyPassphrase),
        Some(passphrase) => Zeroizing::new(seal(kind, secret, passphrase)),
    };
    write_atomic(path, &bytes).map_err(|e| io_error(path, "write", e))
}

/// Reads a key of `kind` from `path`, opening it with `passphrase` if it is sealed.
/// Returns the secret and any warnings about the file.
pub(crate) fn read_key_file(
    path: &Path,
    kind: KeyKind,
    passphrase: Option<&str>,
) -> Result<(Zeroizing<[u8; SECRET_LEN]>, Vec<String>), KeyFileError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => KeyFileError::Missing {
            path: path.to_path_buf(),
        },
        _ => io_error(path, "open", e),
    })?;
    let metadata = file.metadata().map_err(|e| io_error(path, "inspect", e))?;
    if !metadata.is_file() {
        return Err(damaged(path, "it is not a regular file"));
    }
    let warnings = permission_warnings(path, &metadata);
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_READ)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, "read", e))?;
    let secret = decode(path, kind, &bytes, passphrase)?;
    Ok((secret, warnings))
}

fn header(kind: KeyKind, protection: u8) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..7].copy_from_slice(MAGIC);
    h[7] = FORMAT_VERSION;
    h[8] = kind.to_byte();
    h[9] = protection;
    h
}

fn seal(kind: KeyKind, secret: &[u8; SECRET_LEN], passphrase: &str) -> Vec<u8> {
    let (m_cost, t_cost, p_cost) = (
        Params::DEFAULT_M_COST,
        Params::DEFAULT_T_COST,
        Params::DEFAULT_P_COST,
    );
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);

    let mut out = Vec::with_capacity(SEALED_FILE_LEN);
    out.extend_from_slice(&header(kind, PROTECTION_SEALED));
    out.extend_from_slice(&m_cost.to_le_bytes());
    out.extend_from_slice(&t_cost.to_le_bytes());
    out.extend_from_slice(&p_cost.to_le_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);

    // The default parameters are valid, so derivation and encryption cannot fail.
    let key = derive_key(passphrase, &salt, m_cost, t_cost, p_cost)
        .expect("default Argon2id parameters are valid");
    let cipher = XChaCha20Poly1305::new(Key::from_slice(&key[..]));
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: &out,
            },
        )
        .expect("XChaCha20-Poly1305 encryption of 32 bytes cannot fail");
    out.extend_from_slice(&ciphertext);
    out
}

fn derive_key(
    passphrase: &str,
    salt: &[u8],
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
) -> Option<Zeroizing<[u8; 32]>> {
    let params = Params::new(m_cost, t_cost, p_cost, Some(32)).ok()?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut *key)
        .ok()?;
    Some(key)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn decode(
    path: &Path,
    kind: KeyKind,
    bytes: &[u8],
    passphrase: Option<&str>,
) -> Result<Zeroizing<[u8; SECRET_LEN]>, KeyFileError> {
    if bytes.is_empty() {
        return Err(damaged(path, "it is empty"));
    }
    if bytes.len() < HEADER_LEN || &bytes[..7] != MAGIC {
        return Err(damaged(
            path,
            "it does not start with the weft key file marker (is this the right file?)",
        ));
    }
    if bytes[7] != FORMAT_VERSION {
        return Err(KeyFileError::UnsupportedVersion {
            path: path.to_path_buf(),
            version: bytes[7],
        });
    }
    let found = KeyKind::from_byte(bytes[8])
        .ok_or_else(|| damaged(path, format!("unknown key kind {}", bytes[8])))?;
    if found != kind {
        return Err(KeyFileError::WrongKind {
            path: path.to_path_buf(),
            expected: kind,
            found,
        });
    }
    let expected_len = match bytes[9] {
        PROTECTION_PLAIN => PLAIN_FILE_LEN,
        PROTECTION_SEALED => SEALED_FILE_LEN,
        other => return Err(damaged(path, format!("unknown protection mode {other}"))),
    };
    if bytes.len() != expected_len {
        let what = if bytes.len() < expected_len {
            "truncated"
        } else {
            "too long"
        };
        return Err(damaged(
            path,
            format!(
                "it is {what}: {} bytes where {expected_len} were expected",
                bytes.len()
            ),
        ));
    }
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    if bytes[9] == PROTECTION_PLAIN {
        secret.copy_from_slice(&bytes[HEADER_LEN..]);
        return Ok(secret);
    }

    let passphrase = passphrase.ok_or_else(|| KeyFileError::PassphraseRequired {
        path: path.to_path_buf(),
    })?;
    let (m_cost, t_cost, p_cost) = (
        read_u32(bytes, HEADER_LEN),
        read_u32(bytes, HEADER_LEN + 4),
        read_u32(bytes, HEADER_LEN + 8),
    );
    if m_cost > MAX_M_COST_KIB || t_cost > MAX_T_COST || p_cost > MAX_P_COST {
        return Err(damaged(path, "its passphrase parameters are out of range"));
    }
    let salt = &bytes[HEADER_LEN + 12..HEADER_LEN + 12 + SALT_LEN];
    let nonce = &bytes[HEADER_LEN + 12 + SALT_LEN..SEALED_AAD_LEN];
    let key = derive_key(passphrase, salt, m_cost, t_cost, p_cost)
        .ok_or_else(|| damaged(path, "its passphrase parameters are invalid"))?;
    let cipher = XChaCha20Poly1305::new(Key::from_slice(&key[..]));
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: &bytes[SEALED_AAD_LEN..],
                    aad: &bytes[..SEALED_AAD_LEN],
                },
            )
            .map_err(|_| KeyFileError::WrongPassphrase {
                path: path.to_path_buf(),
            })?,
    );
    if plain.len() != SECRET_LEN {
        return Err(damaged(path, "the sealed key has the wrong length"));
    }
    secret.copy_from_slice(&plain);
    Ok(secret)
}

#[cfg(unix)]
fn permission_warnings(path: &Path, metadata: &fs::Metadata) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        vec![format!(
            "key file {} can be accessed by other users (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        )]
    } else {
        Vec::new()
    }
}

#[cfg(not(unix))]
fn permission_warnings(_path: &Path, _metadata: &fs::Metadata) -> Vec<String> {
    Vec::new()
}

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one: a
/// temporary file (mode 0600) in the same folder, fsync, rename, fsync of the folder. Every private
/// file weft writes goes through here.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;

    let mut suffix = [0u8; 8];
    OsRng.fill_bytes(&mut suffix);
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        hex::encode(suffix)
    ));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
