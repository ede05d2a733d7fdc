//! The two mount operations the plugin makes: a read-only, `nosuid`, `nodev` bind mount of a
//! checkout at a pod's target, and its unmount. Linux only; needs `CAP_SYS_ADMIN`.

use std::io;
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};

/// Bind-mounts `source` at `target`, then makes that mount read-only, `nosuid` and `nodev`
/// (and `noexec` when asked). A bind mount takes its flags only from a remount, so a failed
/// remount undoes the bind. A plugin killed between the two calls leaves a writable mount that
/// no pod uses yet (the kubelet has no answer): the next start finds it by its record and
/// [`restrict`]s it before anything else.
///
/// # Errors
/// The system call's error.
pub fn bind_read_only(source: &Path, target: &Path, noexec: bool) -> io::Result<()> {
    rustix::mount::mount_bind(source, target)?;
    if let Err(e) = restrict(target, noexec) {
        let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
        return Err(e);
    }
    Ok(())
}

/// Makes the mount at `target` read-only, `nosuid`, `nodev` (and `noexec` when asked) again:
/// for a mount whose remount never happened (the plugin killed between its two calls).
///
/// # Errors
/// The system call's error.
pub fn restrict(target: &Path, noexec: bool) -> io::Result<()> {
    let mut flags = MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV;
    if noexec {
        flags |= MountFlags::NOEXEC;
    }
    rustix::mount::mount_remount(target, flags, "").map_err(io::Error::from)
}

/// Whether a mount's options are the ones the plugin sets.
#[must_use]
pub fn is_restricted(m: &crate::mountinfo::Mount, noexec: bool) -> bool {
    m.has("ro") && m.has("nosuid") && m.has("nodev") && (!noexec || m.has("noexec"))
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
