//! The compact binary layout shared by envelopes and membership ops: fixed-width big-endian
//! integers, fixed-size byte strings, and length-prefixed fields with an explicit cap on every
//! length. Reading never panics and never allocates more than the bytes actually present.

/// Why bytes could not be read as a weft wire structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes end before the structure does.
    #[error("it is cut short: {field} needs {needed} more bytes, only {left} are left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left.
        left: usize,
    },
    /// A length or count is over its cap.
    #[error("its {field} is {found}, more than the {max} weft accepts")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// The length or count found.
        found: usize,
        /// The cap.
        max: usize,
    },
    /// Bytes are left over after the structure.
    #[error("it has {0} unexpected bytes at the end")]
    TrailingBytes(usize),
    /// The magic bytes are wrong: this is not that kind of object at all.
    #[error("it does not start with the {expected} marker")]
    BadMagic {
        /// What was expected.
        expected: &'static str,
    },
    /// A format version this weft does not know.
    #[error("it uses format version {0}, which this weft does not know (upgrade weft)")]
    UnknownVersion(u8),
    /// A format version newer than this weft knows: a later weft wrote it.
    #[error("it was written by a newer weft: upgrade weft to read it (format version {0})")]
    NewerVersion(u8),
    /// A field holds a value that is not allowed.
    #[error("its {field} is invalid: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        why: String,
    },
}

/// Appends wire fields to a buffer.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
        }
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// A field with a u8 length prefix; the caller guarantees the length fits.
    pub(crate) fn short_field(&mut self, v: &[u8]) {
        debug_assert!(v.len() <= u8::MAX as usize);
        self.u8(v.len() as u8);
        self.bytes(v);
    }
    /// A field with a u16 length prefix; the caller guarantees the length fits.
    pub(crate) fn medium_field(&mut self, v: &[u8]) {
        debug_assert!(v.len() <= u16::MAX as usize);
        self.u16(v.len() as u16);
        self.bytes(v);
    }
    /// A field with a u32 length prefix; the caller guarantees the length fits.
    pub(crate) fn long_field(&mut self, v: &[u8]) {
        debug_assert!(v.len() <= u32::MAX as usize);
        self.u32(v.len() as u32);
        self.bytes(v);
    }
    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads wire fields from a byte slice.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Truncated {
                field,
                needed: n,
                left: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(field)?[0])
    }
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }
    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// A count with a u8 prefix, at most `max`.
    pub(crate) fn count8(&mut self, field: &'static str, max: usize) -> Result<usize, WireError> {
        let n = self.u8(field)? as usize;
        capped(field, n, max)
    }

    /// A count with a u32 prefix, at most `max`.
    pub(crate) fn count32(&mut self, field: &'static str, max: usize) -> Result<usize, WireError> {
        let n = self.u32(field)? as usize;
        capped(field, n, max)
    }

    pub(crate) fn short_field(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<&'a [u8], WireError> {
        let n = self.count8(field, max)?;
        self.take(n, field)
    }
    pub(crate) fn medium_field(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<&'a [u8], WireError> {
        let n = capped(field, self.u16(field)? as usize, max)?;
        self.take(n, field)
    }
    pub(crate) fn long_field(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<&'a [u8], WireError> {
        let n = self.count32(field, max)?;
        self.take(n, field)
    }

    /// Fails if anything is left.
    pub(crate) fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes(self.rest.len()))
        }
    }
}

fn capped(field: &'static str, found: usize, max: usize) -> Result<usize, WireError> {
    if found > max {
        Err(WireError::TooLarge { field, found, max })
    } else {
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_and_caps_are_errors() {
        let mut w = Writer::default();
        w.u32(7);
        w.long_field(b"abc");
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u32("n").unwrap(), 7);
        assert!(matches!(
            Reader::new(&bytes[4..]).long_field("f", 2),
            Err(WireError::TooLarge { .. })
        ));
        assert_eq!(r.long_field("f", 10).unwrap(), b"abc");
        r.finish().unwrap();
        assert!(matches!(
            Reader::new(&bytes[..5]).u64("x"),
            Err(WireError::Truncated { .. })
        ));
    }
}
