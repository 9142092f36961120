//! Reading a bundle as a stream: the file is never loaded whole. A first pass checks the
//! structure (every length against the bytes that remain, no trailing bytes) without
//! allocating for entries; the import pass then reads one entry at a time, at most the
//! cache's entry size limit. The wire format is postcard's: a varint count, then per entry a
//! 32-byte key, a varint-prefixed UTF-8 hash and varint-prefixed bytes.
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::bundle::{BUNDLE_MAGIC, BUNDLE_VERSION};
use crate::key::CacheKey;

/// Longer than any entry name (64 hex digits): the bundle is not one kiln writes.
const MAX_HASH_LEN: u64 = 1024;
const PREFIX_LEN: u64 = 12;

/// One entry's place in the bundle.
pub(crate) struct ItemHead {
    pub key: CacheKey,
    pub hash: String,
    pub len: u64,
}

pub(crate) struct BundleReader {
    reader: BufReader<File>,
    /// Bytes not read yet.
    left: u64,
    /// The file's length when opened.
    total: u64,
}

impl BundleReader {
    /// Opens the bundle and checks its prefix; `Err` says why it is not a bundle.
    pub(crate) fn open(path: &Path) -> Result<(BundleReader, u64), BadBundle> {
        let file = File::open(path).map_err(BadBundle::Io)?;
        let meta = file.metadata().map_err(BadBundle::Io)?;
        if !meta.is_file() {
            return Err(BadBundle::Format("not a regular file".to_string()));
        }
        let mut reader = BundleReader {
            reader: BufReader::new(file),
            left: meta.len(),
            total: meta.len(),
        };
        if reader.left < PREFIX_LEN {
            return Err(BadBundle::Format("too short".to_string()));
        }
        let mut prefix = [0u8; PREFIX_LEN as usize];
        reader.exact(&mut prefix)?;
        if prefix[..8] != BUNDLE_MAGIC {
            return Err(BadBundle::Format("bad magic bytes".to_string()));
        }
        let version = u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
        if version != BUNDLE_VERSION {
            return Err(BadBundle::Format(format!(
                "bundle version {version}, this build reads {BUNDLE_VERSION}"
            )));
        }
        let count = reader.varint()?;
        Ok((reader, count))
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), BadBundle> {
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        if len > self.left {
            return Err(BadBundle::Format("truncated".to_string()));
        }
        self.reader.read_exact(buf).map_err(BadBundle::Io)?;
        self.left -= len;
        Ok(())
    }

    /// A postcard varint (LEB128, at most 10 bytes for a u64).
    fn varint(&mut self) -> Result<u64, BadBundle> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let mut byte = [0u8; 1];
            self.exact(&mut byte)?;
            let bits = u64::from(byte[0] & 0x7f);
            value |= bits
                .checked_shl(7 * i)
                .filter(|v| v >> (7 * i) == bits)
                .ok_or_else(|| BadBundle::Format("a length overflows".to_string()))?;
            if byte[0] & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(BadBundle::Format("a length overflows".to_string()))
    }

    /// The next entry's key, hash and length; its bytes follow (read or skip them).
    pub(crate) fn head(&mut self) -> Result<ItemHead, BadBundle> {
        let mut key = [0u8; 32];
        self.exact(&mut key)?;
        let hash_len = self.varint()?;
        if hash_len > MAX_HASH_LEN {
            return Err(BadBundle::Format(format!(
                "an entry name of {hash_len} bytes"
            )));
        }
        let mut hash = vec![0u8; usize::try_from(hash_len).unwrap_or(0)];
        self.exact(&mut hash)?;
        let hash = String::from_utf8(hash)
            .map_err(|_| BadBundle::Format("an entry name is not UTF-8".to_string()))?;
        let len = self.varint()?;
        if len > self.left {
            return Err(BadBundle::Format(format!(
                "an entry of {len} bytes with {} bytes left",
                self.left
            )));
        }
        Ok(ItemHead {
            key: CacheKey(key),
            hash,
            len,
        })
    }

    /// The entry bytes announced by the last [`BundleReader::head`] (checked against the
    /// bytes left there, and by the caller against its size limit).
    pub(crate) fn bytes(&mut self, len: u64) -> Result<Vec<u8>, BadBundle> {
        let mut bytes = vec![0u8; usize::try_from(len).map_err(|_| BadBundle::TooLarge)?];
        self.exact(&mut bytes)?;
        Ok(bytes)
    }

    pub(crate) fn skip(&mut self, len: u64) -> Result<(), BadBundle> {
        if len > self.left {
            return Err(BadBundle::Format("truncated".to_string()));
        }
        let offset = i64::try_from(len).map_err(|_| BadBundle::TooLarge)?;
        self.reader.seek_relative(offset).map_err(BadBundle::Io)?;
        self.left -= len;
        Ok(())
    }

    /// After the last entry: no byte may follow.
    pub(crate) fn finish(&self) -> Result<(), BadBundle> {
        match self.left {
            0 => Ok(()),
            n => Err(BadBundle::Format(format!(
                "{n} trailing bytes after the last entry"
            ))),
        }
    }

    /// Back to the first entry, for the import pass.
    pub(crate) fn rewind(&mut self) -> Result<u64, BadBundle> {
        self.reader
            .seek(SeekFrom::Start(0))
            .map_err(BadBundle::Io)?;
        self.left = self.total;
        let mut prefix = [0u8; PREFIX_LEN as usize];
        self.exact(&mut prefix)?;
        self.varint()
    }
}

/// Why a file is not a readable bundle.
#[derive(Debug)]
pub(crate) enum BadBundle {
    Io(std::io::Error),
    Format(String),
    TooLarge,
}

/// Checks the whole structure without reading any entry's bytes into memory.
pub(crate) fn check_structure(reader: &mut BundleReader, count: u64) -> Result<(), BadBundle> {
    for _ in 0..count {
        let head = reader.head()?;
        reader.skip(head.len)?;
    }
    reader.finish()
}
