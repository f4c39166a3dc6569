//! The disk: how much room is left on it, when it counts as full, and sizes as a person
//! reads them. A leaf module (it uses nothing of render's), so that `error.rs` can name a
//! full disk (`Error::on_disk`) while `files.rs`, which reports its failures as `Error`s,
//! does not depend back on it.

use std::path::Path;

/// Below this many bytes free, a disk counts as full: what is made there is not trusted.
pub const FULL: u64 = 1 << 20;

/// Bytes free to an unprivileged writer on the disk holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes only into `stat`, which outlives the call.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// "12 KiB", "3.4 GiB".
pub fn human_bytes(bytes: u64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} bytes"),
        _ if value < 10.0 => format!("{value:.1} {}", units[unit]),
        _ => format!("{value:.0} {}", units[unit]),
    }
}
