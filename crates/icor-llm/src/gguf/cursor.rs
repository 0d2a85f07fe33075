//! A bounds-checked little-endian reader over a byte slice; every failure names the offset.

/// Why reading failed, at which byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadError {
    pub offset: u64,
    pub reason: String,
}

pub(crate) type ReadResult<T> = std::result::Result<T, ReadError>;

/// Cursor over the file's bytes.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn error(&self, reason: impl Into<String>) -> ReadError {
        ReadError {
            offset: self.pos as u64,
            reason: reason.into(),
        }
    }

    pub fn take(&mut self, n: usize, what: &str) -> ReadResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "truncated: {what} needs {n} bytes, {} left",
                self.remaining()
            )));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> ReadResult<[u8; N]> {
        let slice = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> ReadResult<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> ReadResult<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &str) -> ReadResult<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &str) -> ReadResult<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    pub fn f32(&mut self, what: &str) -> ReadResult<f32> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &str) -> ReadResult<f64> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    /// A GGUF string: u64 length, then UTF-8 bytes.
    pub fn string(&mut self, what: &str) -> ReadResult<String> {
        let start = self.pos;
        let len = self.u64(what)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.remaining())
            .ok_or_else(|| {
                self.error(format!(
                    "truncated: {what} claims {len} bytes, {} left",
                    self.remaining()
                ))
            })?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ReadError {
            offset: start as u64,
            reason: format!("{what} is not valid UTF-8"),
        })
    }
}
