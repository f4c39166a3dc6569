//! One build at a time per content folder: an advisory `flock` on `cache/lock`. The kernel
//! drops it when the process dies, so a killed build never leaves a stale lock behind.
//! Whatever moves objects takes it: a build, `gc`, `verify` (quarantine) and `clean`; `plan`,
//! `status`, `gc -n` and `build --dry-run` only read, and work on a read-only folder.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::error::{Error, Result};

pub struct BuildLock {
    _file: File,
}

impl BuildLock {
    /// Takes the lock, waiting (and saying so on stderr) while another build holds it; Ctrl-C
    /// stops the wait.
    pub fn acquire(cache_dir: &Path) -> Result<BuildLock> {
        std::fs::create_dir_all(cache_dir).map_err(|e| Error::io("cannot create", cache_dir, e))?;
        let path = cache_dir.join("lock");
        let mut file = open_rw(&path)?;
        if !flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            eprintln!(
                "render: waiting for another build of this folder to finish (pid {})",
                holder.trim()
            );
            // Polled rather than blocking: a blocked flock is restarted after Ctrl-C's
            // signal, and the build would wait on, deaf to it.
            while !flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
                let error = std::io::Error::last_os_error();
                if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
                    return Err(Error::io("cannot lock", &path, error));
                }
                crate::process::check_interrupted()?;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        Ok(BuildLock { _file: file })
    }
}

/// An `flock` held on a file of its own while a process lives: the farm's driver holds one
/// in its build's folder (`farm_logs`), so `gc` and `clean` know the folder is in use.
pub struct Held {
    _file: File,
}

impl Held {
    /// Takes it without waiting; an error when it cannot (another process holds it).
    pub fn take(path: &Path) -> Result<Held> {
        let file = open_rw(path)?;
        if !flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            let error = std::io::Error::last_os_error();
            return Err(Error::io("cannot lock", path, error));
        }
        Ok(Held { _file: file })
    }
}

/// Whether a live process holds an `flock` on `path` (a file not there: no).
pub fn is_held(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if flock(&file, libc::LOCK_SH | libc::LOCK_NB) {
        flock(&file, libc::LOCK_UN);
        return false;
    }
    true
}

fn open_rw(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io("cannot open", path, e))
}

fn flock(file: &File, operation: libc::c_int) -> bool {
    loop {
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return true;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}
