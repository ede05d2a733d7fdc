//! The two mount operations the plugin makes: a read-only, `nosuid`, `nodev` bind mount of a
//! checkout at a pod's target, and its unmount. Linux only; needs `CAP_SYS_ADMIN`.

use std::io;
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};

/// Bind-mounts `source` at `target`, then makes that mount read-only, `nosuid` and `nodev`
/// (and `noexec` when asked). A bind mount takes its flags only from a remount, so a failed
/// remount undoes the bind: a writable mount is never left behind.
///
/// # Errors
/// The system call's error.
pub fn bind_read_only(source: &Path, target: &Path, noexec: bool) -> io::Result<()> {
    rustix::mount::mount_bind(source, target)?;
    let mut flags = MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV;
    if noexec {
        flags |= MountFlags::NOEXEC;
    }
    if let Err(e) = rustix::mount::mount_remount(target, flags, "") {
        let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
        return Err(e.into());
    }
    Ok(())
}

/// Unmounts `target`: normally, or detached when something still holds it busy (a container
/// being torn down), so that an unpublish never fails on a lingering reader.
///
/// # Errors
/// The system call's error; `EINVAL` (nothing mounted there) is the caller's to judge.
pub fn unmount(target: &Path) -> io::Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::empty()) {
        Err(rustix::io::Errno::BUSY) => {
            rustix::mount::unmount(target, UnmountFlags::DETACH).map_err(io::Error::from)
        }
        other => other.map_err(io::Error::from),
    }
}
