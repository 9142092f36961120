//! Directories of the cache held by descriptor. Every name under the cache directory is
//! opened relative to a directory descriptor that was itself opened without following links
//! and checked (ours, not writable by group or others), so a planted symbolic link, a shard
//! or key directory swapped for a link, or another user's directory can never make kiln read,
//! write or delete outside the cache. Only the top directory is opened by path: it is the
//! user's configured location, where a link is the user's choice.
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timestamps};

/// Group- or other-writable permission bits.
const FOREIGN_WRITE: u32 = 0o022;
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
/// Files are opened non-blocking so that a FIFO or device planted at a name returns at once
/// (and is then refused by its type) instead of blocking the open.
const FILE_FLAGS: OFlags = OFlags::NOFOLLOW
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

/// Why a name under the cache was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A symbolic link, a FIFO, a device, a socket, or a file where a directory belongs:
    /// nothing kiln ever creates there, safe to remove (removing never follows it).
    NotOurKind(&'static str),
    /// Larger than any file kiln writes at this name: removed rather than read.
    TooLarge { size: u64, cap: u64 },
    /// Owned by another user or writable by group/others: left alone, never used.
    Foreign(String),
}

impl Refusal {
    pub(crate) fn removable(&self) -> bool {
        !matches!(self, Refusal::Foreign(_))
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotOurKind(kind) => write!(f, "{kind}"),
            Refusal::TooLarge { size, cap } => {
                write!(f, "{size} bytes, larger than the {cap} bytes allowed here")
            }
            Refusal::Foreign(reason) => write!(f, "{reason}"),
        }
    }
}

/// A failed operation on a name: an I/O error, or a refusal of what was found there.
#[derive(Debug)]
pub(crate) enum AtError {
    Io(io::Error),
    Refused(Refusal),
}

impl AtError {
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, AtError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

impl From<io::Error> for AtError {
    fn from(e: io::Error) -> Self {
        AtError::Io(e)
    }
}

impl From<rustix::io::Errno> for AtError {
    fn from(e: rustix::io::Errno) -> Self {
        AtError::Io(e.into())
    }
}

/// Why a stat'ed object must not be trusted, if it must not: not ours or writable by others.
pub(crate) fn ownership_problem(stat: &Stat, uid: u32) -> Option<String> {
    if stat.st_uid != uid {
        return Some(format!("owned by uid {}, not by uid {uid}", stat.st_uid));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & FOREIGN_WRITE != 0 {
        return Some(format!("writable by group or others (mode {mode:o})"));
    }
    None
}

fn kind_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        FileType::Directory => "a directory",
        _ => "not a regular file",
    }
}

/// A directory of the cache, opened without following links and checked.
#[derive(Debug)]
pub(crate) struct TrustedDir {
    fd: OwnedFd,
    path: PathBuf,
    uid: u32,
}

impl TrustedDir {
    /// The top directory, by path (following a link there is the user's choice), checked.
    pub(crate) fn open_top(path: &Path, uid: u32) -> Result<TrustedDir, AtError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty())?;
        TrustedDir::checked(fd, path.to_path_buf(), uid)
    }

    fn checked(fd: OwnedFd, path: PathBuf, uid: u32) -> Result<TrustedDir, AtError> {
        let stat = rustix::fs::fstat(&fd)?;
        if let Some(reason) = ownership_problem(&stat, uid) {
            return Err(AtError::Refused(Refusal::Foreign(reason)));
        }
        Ok(TrustedDir { fd, path, uid })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Where `name` is, for messages.
    pub(crate) fn display(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }

    /// Whether the directory is still linked into the file system (not removed under us) and
    /// still ours alone: what a descriptor kept for reuse must be.
    pub(crate) fn is_linked(&self) -> bool {
        rustix::fs::fstat(&self.fd)
            .is_ok_and(|s| s.st_nlink > 0 && ownership_problem(&s, self.uid).is_none())
    }

    pub(crate) fn stat_self(&self) -> io::Result<Stat> {
        Ok(rustix::fs::fstat(&self.fd)?)
    }

    /// The subdirectory `name`; with `create`, made (mode 0700) when missing, and a symbolic
    /// link planted at the name is removed first.
    pub(crate) fn child(&self, name: &str, create: bool) -> Result<TrustedDir, AtError> {
        let mut replaced = false;
        loop {
            if create {
                match rustix::fs::mkdirat(&self.fd, name, Mode::RWXU) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => return TrustedDir::checked(fd, self.path.join(name), self.uid),
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    let kind = self.kind_of(name);
                    // A link planted where a directory belongs is removed (the link only);
                    // anything else there is left for the user, and the error names it.
                    if create && !replaced && kind == "a symbolic link" {
                        tracing::warn!("kiln cache: {} is {kind}, replaced", self.display(name));
                        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?;
                        replaced = true;
                        continue;
                    }
                    return Err(AtError::Refused(Refusal::NotOurKind(kind)));
                }
                // Removed by a concurrent eviction between our mkdir and open: once more.
                Err(rustix::io::Errno::NOENT) if create && !replaced => replaced = true,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn kind_of(&self, name: &str) -> &'static str {
        match self.stat(name) {
            Ok(stat) => kind_name(FileType::from_raw_mode(stat.st_mode)),
            Err(_) => "not a directory",
        }
    }

    /// `stat` of `name` itself (a link is not followed).
    pub(crate) fn stat(&self, name: &str) -> io::Result<Stat> {
        Ok(rustix::fs::statat(
            &self.fd,
            name,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Opens `name` with `flags` (which include [`FILE_FLAGS`]: no link followed, no blocking
    /// on a FIFO) and refuses, from `fstat` on the descriptor, anything but a regular file of
    /// ours. O_NONBLOCK stays set: it changes nothing for a regular file, nor for `flock`.
    fn open_regular(
        &self,
        name: &str,
        flags: OFlags,
        mode: Mode,
    ) -> Result<(OwnedFd, Stat), AtError> {
        let fd = match rustix::fs::openat(&self.fd, name, flags, mode) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) => {
                return Err(AtError::Refused(Refusal::NotOurKind("a symbolic link")));
            }
            // A socket (or a device without a driver) cannot be opened at all.
            Err(rustix::io::Errno::NXIO) => {
                return Err(AtError::Refused(Refusal::NotOurKind(self.kind_of(name))));
            }
            Err(e) => return Err(e.into()),
        };
        let stat = rustix::fs::fstat(&fd)?;
        let file_type = FileType::from_raw_mode(stat.st_mode);
        if file_type != FileType::RegularFile {
            return Err(AtError::Refused(Refusal::NotOurKind(kind_name(file_type))));
        }
        if let Some(reason) = ownership_problem(&stat, self.uid) {
            return Err(AtError::Refused(Refusal::Foreign(reason)));
        }
        Ok((fd, stat))
    }

    /// Opens the regular file `name` of ours for reading, refusing anything else without
    /// blocking, and one larger than `cap` bytes before anything is read.
    pub(crate) fn open_file(&self, name: &str, cap: u64) -> Result<(File, u64), AtError> {
        let (fd, stat) = self.open_regular(name, FILE_FLAGS, Mode::empty())?;
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        if size > cap {
            return Err(AtError::Refused(Refusal::TooLarge { size, cap }));
        }
        Ok((File::from(fd), size))
    }

    /// The whole regular file `name`, at most `cap` bytes (see [`TrustedDir::open_file`]).
    pub(crate) fn read_file(&self, name: &str, cap: u64) -> Result<Vec<u8>, AtError> {
        let (file, size) = self.open_file(name, cap)?;
        // Never more than the size checked, plus one byte to see a file that grew since.
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(size.saturating_add(1)).read_to_end(&mut bytes)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > cap {
            return Err(AtError::Refused(Refusal::TooLarge {
                size: size.saturating_add(1),
                cap,
            }));
        }
        Ok(bytes)
    }

    /// Opens (creating, mode 0600) a small read-write file of ours: a lock, size or counter
    /// file. Never follows a link, never blocks on a FIFO, and refuses a non-regular file or
    /// one that is not ours.
    pub(crate) fn open_rw(&self, name: &str) -> Result<File, AtError> {
        let flags = FILE_FLAGS | OFlags::RDWR | OFlags::CREATE;
        let (fd, _) = self.open_regular(name, flags, Mode::RUSR | Mode::WUSR)?;
        Ok(File::from(fd))
    }

    /// Writes `bytes` to a new temporary file (created exclusively, mode 0600, never through
    /// a link) and returns its name. Not fsynced: see "Durability" in doc/FORMAT.md.
    pub(crate) fn write_temp(&self, prefix: &str, bytes: &[u8]) -> Result<String, AtError> {
        let name = crate::disk::temp_file_name(prefix);
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | FILE_FLAGS;
        let fd = rustix::fs::openat(&self.fd, &name, flags, Mode::RUSR | Mode::WUSR)?;
        let mut file = File::from(fd);
        if let Err(e) = file.write_all(bytes) {
            let _ = self.unlink(&name);
            return Err(e.into());
        }
        Ok(name)
    }

    /// Hard-links `from` to `to` in this directory; fails if `to` exists. Never follows links.
    pub(crate) fn link(&self, from: &str, to: &str) -> io::Result<()> {
        Ok(rustix::fs::linkat(
            &self.fd,
            from,
            &self.fd,
            to,
            AtFlags::empty(),
        )?)
    }

    /// Renames `from` to `to` in this directory, replacing `to` (a link at `to` is replaced,
    /// not followed).
    pub(crate) fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
    }

    /// Removes the name `name` (a link itself, never its target); not a directory.
    pub(crate) fn unlink(&self, name: &str) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }

    /// Removes the empty directory `name`.
    pub(crate) fn rmdir(&self, name: &str) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)?)
    }

    /// Sets the modification time of `name` (not following a link) to now.
    pub(crate) fn touch(&self, name: &str) -> io::Result<()> {
        let now = rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_NOW,
        };
        let times = Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: now,
        };
        Ok(rustix::fs::utimensat(
            &self.fd,
            name,
            &times,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// The UTF-8 names in this directory (kiln writes no others), without `.` and `..`.
    pub(crate) fn names(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if let Some(name) = name.to_str()
                && name != "."
                && name != ".."
            {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    /// Whether the directory holds a name other than those in `except`. Stops at the first
    /// such name: one `getdents` however large the directory is.
    pub(crate) fn has_names_other_than(&self, except: &[&str]) -> io::Result<bool> {
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." && !except.iter().any(|e| e.as_bytes() == name) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(crate) fn fd(&self) -> impl AsFd + '_ {
        self.fd.as_fd()
    }
}
