//! Where things live in the bucket, relative to the bucket's prefix.
//!
//! ```text
//! ws/<workspace>/genesis
//! ws/<workspace>/acl/<op>
//! ws/<workspace>/keys/<epoch, 20 digits>/<device>
//! ws/<workspace>/invites/<id>
//! ws/<workspace>/log/<device>/<seq, 20 digits>     append-only, one writer per device
//! ws/<workspace>/snap/<id>
//! ws/<workspace>/repair/<device>/<first seq>-<last seq>-<by>   a lost stretch of a log, again
//! ws/<workspace>/blobs/<sha256>                    an attachment stored whole
//! ws/<workspace>/chunks/<blob>/<index, 10 digits> an attachment stored in chunks
//! ```
//!
//! Numbers are zero-padded so that the bucket's lexicographic listing order is numeric order,
//! which is what lets a reader ask for "everything after the last seq I have". Attachments are
//! chunked under a random blob id rather than their hash, so that the bucket cannot tell two
//! uploads of the same file apart and two uploads never collide (see `sync::blobs`). Chunks live
//! under their own `chunks/` folder rather than beside `blobs/<sha256>`: a folder-backed bucket
//! cannot hold a file and a folder of the same name.
//!
//! The builders take ids that weft made (lower-case hex) and do not check them. Keys read back
//! from a listing are another matter: anyone with write access to the bucket can put anything
//! there, so [`parse_log_key`] accepts only the exact shape above and calls the rest foreign.

/// Digits in a zero-padded sequence number or epoch: enough for any `u64`.
pub const SEQ_DIGITS: usize = 20;
/// Digits in a zero-padded chunk index: enough for any `u32`.
pub const CHUNK_DIGITS: usize = 10;
/// Longest hex id accepted when parsing a listed key (a 64-byte id).
pub const MAX_ID_HEX: usize = 128;

/// `ws/<workspace>`: everything of one workspace.
pub fn workspace_prefix(workspace: &str) -> String {
    format!("ws/{workspace}")
}

/// `ws/<workspace>/log`: the change logs of every device.
pub fn log_prefix(workspace: &str) -> String {
    format!("ws/{workspace}/log")
}

/// `ws/<workspace>/log/<device>`: one device's change log.
pub fn device_log_prefix(workspace: &str, device: &str) -> String {
    format!("ws/{workspace}/log/{device}")
}

/// `ws/<workspace>/log/<device>/<seq>`: one change envelope.
pub fn log_key(workspace: &str, device: &str, seq: u64) -> String {
    format!("ws/{workspace}/log/{device}/{seq:0SEQ_DIGITS$}")
}

/// `ws/<workspace>/repair`: stretches of logs republished after their object was lost or damaged.
pub fn repair_prefix(workspace: &str) -> String {
    format!("ws/{workspace}/repair")
}

/// `ws/<workspace>/repair/<device>/<first>-<last>-<by>`: `device`'s envelopes `first..=last`,
/// republished by the device `by` (a short prefix of its id keeps two repairers apart).
pub fn repair_key(workspace: &str, device: &str, first: u64, last: u64, by: &str) -> String {
    let by = &by[..by.len().min(16)];
    format!("ws/{workspace}/repair/{device}/{first:0SEQ_DIGITS$}-{last:0SEQ_DIGITS$}-{by}")
}

/// Reads a key from a listing of `ws/<workspace>/repair` back into (device, first, last); `None`
/// for any other shape (what such an object holds is judged envelope by envelope anyway).
pub fn parse_repair_key(workspace: &str, key: &str) -> Option<(String, u64, u64)> {
    let rest = key
        .strip_prefix("ws/")?
        .strip_prefix(workspace)?
        .strip_prefix("/repair/")?;
    let (device, name) = rest.split_once('/')?;
    let mut parts = name.split('-');
    let (Some(first), Some(last), Some(by), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let seq = |s: &str| {
        (s.len() == SEQ_DIGITS && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (first, last) = (seq(first)?, seq(last)?);
    (is_hex_id(device) && is_hex_id(by) && first <= last).then(|| (device.to_string(), first, last))
}

/// `ws/<workspace>/want`: requests to check an object that a reader found damaged.
pub fn want_prefix(workspace: &str) -> String {
    format!("ws/{workspace}/want")
}

/// `ws/<workspace>/want/<device>/<seq>-<by>`: the device `by` found `device`'s log segment
/// starting at `seq` damaged, and asks whoever holds it (its author first) to check it.
pub fn want_key(workspace: &str, device: &str, seq: u64, by: &str) -> String {
    let by = &by[..by.len().min(16)];
    format!("ws/{workspace}/want/{device}/{seq:0SEQ_DIGITS$}-{by}")
}

/// Reads a key from a listing of `ws/<workspace>/want` back into (device, seq, by).
pub fn parse_want_key(workspace: &str, key: &str) -> Option<(String, u64, String)> {
    let rest = key
        .strip_prefix("ws/")?
        .strip_prefix(workspace)?
        .strip_prefix("/want/")?;
    let (device, name) = rest.split_once('/')?;
    let (seq, by) = name.split_once('-')?;
    let ok = seq.len() == SEQ_DIGITS && seq.bytes().all(|b| b.is_ascii_digit());
    let seq = seq.parse::<u64>().ok().filter(|_| ok)?;
    (is_hex_id(device) && is_hex_id(by)).then(|| (device.to_string(), seq, by.to_string()))
}

/// `ws/<workspace>/genesis`: the workspace's first membership op.
pub fn genesis_key(workspace: &str) -> String {
    format!("ws/{workspace}/genesis")
}

/// `ws/<workspace>/acl/<op>`: one signed membership op, named by its hash.
pub fn acl_key(workspace: &str, op: &str) -> String {
    format!("ws/{workspace}/acl/{op}")
}

/// `ws/<workspace>/keys/<epoch>/<device>`: an epoch key wrapped for one device.
pub fn keys_key(workspace: &str, epoch: u64, device: &str) -> String {
    format!("ws/{workspace}/keys/{epoch:0SEQ_DIGITS$}/{device}")
}

/// `ws/<workspace>/invites/<id>`: an invite's lockbox.
pub fn invite_key(workspace: &str, id: &str) -> String {
    format!("ws/{workspace}/invites/{id}")
}

/// `ws/<workspace>/snap/<id>`: a compacted snapshot and the version vector it covers.
pub fn snap_key(workspace: &str, id: &str) -> String {
    format!("ws/{workspace}/snap/{id}")
}

/// `ws/<workspace>/blobs/<sha256>`: an encrypted attachment stored as one object.
pub fn blob_key(workspace: &str, sha256: &str) -> String {
    format!("ws/{workspace}/blobs/{sha256}")
}

/// `ws/<workspace>/chunks/<blob>`: the chunks of one attachment (list it to find them all).
pub fn blob_chunks_prefix(workspace: &str, blob: &str) -> String {
    format!("ws/{workspace}/chunks/{blob}")
}

/// `ws/<workspace>/chunks/<blob>/<index>`: one encrypted chunk of an attachment.
pub fn blob_chunk_key(workspace: &str, blob: &str, index: u32) -> String {
    format!("ws/{workspace}/chunks/{blob}/{index:0CHUNK_DIGITS$}")
}

/// What a key found under a workspace's `log/` turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogKey {
    /// A well-formed change log entry.
    Entry { device: String, seq: u64 },
    /// Anything else: kept aside (quarantined) by the caller with the reason, never read as a change.
    Foreign { key: String, reason: &'static str },
}

/// Reads a key from a listing of `ws/<workspace>/log` back into (device, seq). Never fails: a key of
/// any other shape — another workspace, a bad device id, a seq that is not exactly 20 digits, extra
/// path segments — comes back as [`LogKey::Foreign`] with the reason.
pub fn parse_log_key(workspace: &str, key: &str) -> LogKey {
    let foreign = |reason| LogKey::Foreign {
        key: key.to_string(),
        reason,
    };
    let Some(rest) = key
        .strip_prefix("ws/")
        .and_then(|r| r.strip_prefix(workspace))
        .and_then(|r| r.strip_prefix("/log/"))
    else {
        return foreign("not in this workspace's change log");
    };
    let mut parts = rest.split('/');
    let (Some(device), Some(seq), None) = (parts.next(), parts.next(), parts.next()) else {
        return foreign("not of the form log/<device>/<seq>");
    };
    if !is_hex_id(device) {
        return foreign("the device id is not lower-case hex");
    }
    if seq.len() != SEQ_DIGITS || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return foreign("the sequence number is not 20 decimal digits");
    }
    match seq.parse::<u64>() {
        Ok(seq) => LogKey::Entry {
            device: device.to_string(),
            seq,
        },
        Err(_) => foreign("the sequence number is too large"),
    }
}

/// Lower-case hex of whole bytes, at most [`MAX_ID_HEX`] digits.
pub fn is_hex_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_HEX
        && s.len() % 2 == 0
        && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "00ff";
    const DEV: &str = "02abcdef";

    #[test]
    fn keys_have_the_documented_shape() {
        assert_eq!(
            log_key(WS, DEV, 7),
            "ws/00ff/log/02abcdef/00000000000000000007"
        );
        assert_eq!(
            log_key(WS, DEV, u64::MAX),
            "ws/00ff/log/02abcdef/18446744073709551615"
        );
        assert_eq!(genesis_key(WS), "ws/00ff/genesis");
        assert_eq!(acl_key(WS, "aa"), "ws/00ff/acl/aa");
        assert_eq!(
            keys_key(WS, 3, DEV),
            "ws/00ff/keys/00000000000000000003/02abcdef"
        );
        assert_eq!(invite_key(WS, "bb"), "ws/00ff/invites/bb");
        assert_eq!(snap_key(WS, "cc"), "ws/00ff/snap/cc");
        assert_eq!(blob_key(WS, "dd"), "ws/00ff/blobs/dd");
        assert_eq!(blob_chunk_key(WS, "dd", 12), "ws/00ff/chunks/dd/0000000012");
        assert!(blob_chunk_key(WS, "dd", 12).starts_with(&blob_chunks_prefix(WS, "dd")));
        assert!(log_key(WS, DEV, 1).starts_with(&device_log_prefix(WS, DEV)));
        assert!(device_log_prefix(WS, DEV).starts_with(&log_prefix(WS)));
        assert!(log_prefix(WS).starts_with(&workspace_prefix(WS)));
    }

    #[test]
    fn listing_order_is_numeric_order() {
        let mut keys: Vec<String> = [10u64, 9, 100, 1, u64::MAX, 0]
            .iter()
            .map(|s| log_key(WS, DEV, *s))
            .collect();
        keys.sort();
        let seqs: Vec<u64> = keys
            .iter()
            .map(|k| match parse_log_key(WS, k) {
                LogKey::Entry { seq, .. } => seq,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(seqs, vec![0, 1, 9, 10, 100, u64::MAX]);
        let mut chunks: Vec<String> = [10u32, 2, u32::MAX]
            .iter()
            .map(|i| blob_chunk_key(WS, "dd", *i))
            .collect();
        chunks.sort();
        assert!(chunks[0].ends_with("0000000002") && chunks[2].ends_with("4294967295"));
    }

    #[test]
    fn repair_keys_round_trip_and_odd_ones_are_none() {
        let k = repair_key(WS, DEV, 3, 9, "0a0b0c0d0e0f10111213");
        assert_eq!(
            k,
            "ws/00ff/repair/02abcdef/00000000000000000003-00000000000000000009-0a0b0c0d0e0f1011"
        );
        assert_eq!(parse_repair_key(WS, &k), Some((DEV.to_string(), 3, 9)));
        for bad in [
            "ws/00ff/repair/02abcdef/00000000000000000009-00000000000000000003-0a0b",
            "ws/00ff/repair/02abcdef/3-9-0a0b",
            "ws/00ff/repair/02ABCDEF/00000000000000000003-00000000000000000009-0a0b",
            "ws/00ff/repair/02abcdef/00000000000000000003-00000000000000000009",
            "ws/0f0f/repair/02abcdef/00000000000000000003-00000000000000000009-0a0b",
            "ws/00ff/repair/02abcdef/x/00000000000000000003-00000000000000000009-0a0b",
        ] {
            assert_eq!(parse_repair_key(WS, bad), None, "{bad}");
        }
    }

    #[test]
    fn log_keys_round_trip() {
        for seq in [0, 1, 42, u64::MAX] {
            assert_eq!(
                parse_log_key(WS, &log_key(WS, DEV, seq)),
                LogKey::Entry {
                    device: DEV.into(),
                    seq
                }
            );
        }
    }

    #[test]
    fn malformed_log_keys_are_foreign_not_errors() {
        let cases = [
            ("", "not in this workspace's change log"),
            ("ws/00ff", "not in this workspace's change log"),
            (
                "ws/00fe/log/02ab/00000000000000000001",
                "not in this workspace's change log",
            ),
            (
                "ws/00ff0/log/02ab/00000000000000000001",
                "not in this workspace's change log",
            ),
            ("ws/00ff/acl/02ab", "not in this workspace's change log"),
            ("ws/00ff/log/02ab", "not of the form log/<device>/<seq>"),
            (
                "ws/00ff/log/02ab/00000000000000000001/x",
                "not of the form log/<device>/<seq>",
            ),
            (
                "ws/00ff/log/02AB/00000000000000000001",
                "the device id is not lower-case hex",
            ),
            (
                "ws/00ff/log/2ab/00000000000000000001",
                "the device id is not lower-case hex",
            ),
            (
                "ws/00ff/log//00000000000000000001",
                "the device id is not lower-case hex",
            ),
            (
                "ws/00ff/log/zz/00000000000000000001",
                "the device id is not lower-case hex",
            ),
            (
                "ws/00ff/log/02ab/1",
                "the sequence number is not 20 decimal digits",
            ),
            (
                "ws/00ff/log/02ab/+0000000000000000001",
                "the sequence number is not 20 decimal digits",
            ),
            (
                "ws/00ff/log/02ab/0000000000000000000١",
                "the sequence number is not 20 decimal digits",
            ),
            (
                "ws/00ff/log/02ab/99999999999999999999",
                "the sequence number is too large",
            ),
        ];
        for (key, why) in cases {
            assert_eq!(
                parse_log_key(WS, key),
                LogKey::Foreign {
                    key: key.into(),
                    reason: why
                },
                "{key}"
            );
        }
        let long = "ab".repeat(MAX_ID_HEX / 2 + 1);
        assert!(matches!(
            parse_log_key(WS, &log_key(WS, &long, 1)),
            LogKey::Foreign { .. }
        ));
    }
}
