//! Stat'ing files through an open handle of a folder above them (`fstatat`), for the
//! no-op's many stats under the same folders: `cache/objects/` (each reused object's
//! `record.json` and outputs) and a project's folder in `out/` (each published file). A
//! stat by absolute path makes the kernel look up every component from `/` — nine for
//! `<content>/cache/objects/ab/<key>/scene.mp4` — and that lookup was most of the
//! no-op's stat time; from an open folder it looks up only the rest (three, or one).
//!
//! What a stat says is the same either way: these are plain reads, and a folder that
//! cannot be opened (not made yet) is stat'ed by path as before (`stat_path`).

use std::cell::RefCell;
use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A folder held open (`O_PATH`: for lookups only, nothing is read through it).
#[derive(Debug)]
pub struct Folder(OwnedFd);

/// What the no-op compares of a file: what `std::fs::Metadata` gives, for one stat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mode: u32,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl Stat {
    pub fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mode: meta.mode(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// A regular file (not a folder, nor, for a stat that does not follow links, a link).
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// `path`'s stat by path, following a link at its end or not (`metadata`,
/// `symlink_metadata`).
pub fn stat_path(path: &Path, follow: bool) -> io::Result<Stat> {
    let meta = match follow {
        true => std::fs::metadata(path),
        false => std::fs::symlink_metadata(path),
    };
    meta.map(|m| Stat::of(&m))
}

impl Folder {
    /// The folder at `path`, opened; None when it cannot be (missing, not a folder).
    pub fn open(path: &Path) -> Option<Folder> {
        let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // SAFETY: a NUL-terminated path; the descriptor returned is ours to close.
        let fd = unsafe { libc::open(path.as_ptr(), flags) };
        // SAFETY: a descriptor just opened, owned by nothing else.
        (fd >= 0).then(|| Folder(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The stat of the file at `parts` joined by `/` under this folder (each part a
    /// relative path), following a link at its end or not.
    pub fn stat(&self, parts: &[&OsStr], follow: bool) -> io::Result<Stat> {
        thread_local! {
            /// The path being stat'ed, NUL-terminated: no allocation per stat.
            static PATH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        PATH.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            buffer.clear();
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    buffer.push(b'/');
                }
                buffer.extend_from_slice(part.as_bytes());
            }
            buffer.push(0);
            let path = CStr::from_bytes_with_nul(&buffer)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
            // SAFETY: a zeroed stat is valid; fstatat fills it for a NUL-terminated path
            // relative to our open folder.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let done = unsafe { libc::fstatat(self.0.as_raw_fd(), path.as_ptr(), &mut st, flags) };
            if done != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Stat {
                dev: st.st_dev,
                ino: st.st_ino,
                len: st.st_size as u64,
                mode: st.st_mode,
                mtime: (st.st_mtime, st.st_mtime_nsec),
                ctime: (st.st_ctime, st.st_ctime_nsec),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_through_a_folder_is_the_stat_by_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ab/cd")).unwrap();
        let file = dir.path().join("ab/cd/file.mp4");
        std::fs::write(&file, "twelve bytes").unwrap();
        let link = dir.path().join("ab/link.mp4");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let folder = Folder::open(dir.path()).unwrap();
        let parts = |p: &'static str| p.split('/').map(OsStr::new).collect::<Vec<_>>();
        let through = folder.stat(&parts("ab/cd/file.mp4"), true).unwrap();
        assert_eq!(through, stat_path(&file, true).unwrap());
        assert_eq!(through.len, 12);
        assert!(through.is_file());
        // A link: followed, the file's stat; not followed, the link's, which is no file.
        assert_eq!(folder.stat(&parts("ab/link.mp4"), true).unwrap(), through);
        let link_stat = folder.stat(&parts("ab/link.mp4"), false).unwrap();
        assert_eq!(link_stat, stat_path(&link, false).unwrap());
        assert!(!link_stat.is_file());
        assert!(!folder.stat(&parts("ab/cd"), true).unwrap().is_file());
        let missing = folder.stat(&parts("ab/cd/gone.mp4"), true).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(Folder::open(&dir.path().join("nowhere")).is_none());
        assert!(Folder::open(&file).is_none());
    }
}
