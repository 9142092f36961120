//! Recursive removal that never leaves the tree it starts in and holds two descriptors
//! whatever the depth: `std::fs::remove_dir_all` keeps one per level (a 30,000-deep nest
//! fails with "Too many open files") and, given a path, would follow a link planted above.
//!
//! The walk descends by `openat(.., O_NOFOLLOW | O_DIRECTORY)` and climbs back by `..`,
//! checking that `..` is the very directory (device and inode) it came from; the names still
//! to visit are kept per level in memory, so each directory is listed once.
use std::io;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::fsat::TrustedDir;

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// One directory on the way down: who it is, its name in its parent, subdirectories left.
struct Level {
    id: (u64, u64),
    name: Vec<u8>,
    pending: Vec<Vec<u8>>,
}

fn identity(fd: &std::os::fd::OwnedFd) -> io::Result<(u64, u64)> {
    let stat = rustix::fs::fstat(fd)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// Unlinks every non-directory in `dir` and returns its subdirectories.
fn empty_files(dir: &std::os::fd::OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut subdirs = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            FileType::Unknown => {
                match rustix::fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) => FileType::from_raw_mode(stat.st_mode) == FileType::Directory,
                    Err(rustix::io::Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            _ => false,
        };
        if is_dir {
            subdirs.push(name.to_vec());
            continue;
        }
        match rustix::fs::unlinkat(dir, entry.file_name(), AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(subdirs)
}

/// Removes the directory `name` of `parent` and everything in it. A missing `name` is not an
/// error; a link or file at `name` is removed itself, never followed.
pub(crate) fn remove_tree(parent: &TrustedDir, name: &str) -> io::Result<()> {
    let mut current = match rustix::fs::openat(parent.fd(), name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
            return parent.unlink(name);
        }
        Err(e) => return Err(e.into()),
    };
    let mut levels = vec![Level {
        id: identity(&current)?,
        name: name.as_bytes().to_vec(),
        pending: empty_files(&current)?,
    }];
    while let Some(level) = levels.last_mut() {
        if let Some(sub) = level.pending.pop() {
            match rustix::fs::openat(&current, sub.as_slice(), DIR_FLAGS, Mode::empty()) {
                Ok(child) => {
                    current = child;
                    levels.push(Level {
                        id: identity(&current)?,
                        name: sub,
                        pending: empty_files(&current)?,
                    });
                }
                Err(rustix::io::Errno::NOENT) => {}
                // Replaced by a link or file since the listing: remove the name itself.
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    rustix::fs::unlinkat(&current, sub.as_slice(), AtFlags::empty())?;
                }
                Err(e) => return Err(e.into()),
            }
            continue;
        }
        let Some(done) = levels.pop() else { break };
        let Some(above) = levels.last() else {
            drop(current);
            return match parent.rmdir(name) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            };
        };
        let up = rustix::fs::openat(&current, "..", DIR_FLAGS, Mode::empty())?;
        if identity(&up)? != above.id {
            return Err(io::Error::other(
                "a directory being removed was moved away; stopped",
            ));
        }
        current = up;
        match rustix::fs::unlinkat(&current, done.name.as_slice(), AtFlags::REMOVEDIR) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
