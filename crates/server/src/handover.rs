//! Listening sockets handed from a running process to its successor, so that an upgrade refuses
//! no connection (as pingora and nginx's binary upgrade do): the sockets stay open across the
//! change, and connections waiting in their queues are accepted by the new process.
//!
//! The running process listens on a Unix socket ([`offer`]). A new process connects
//! ([`take`]), receives the listening sockets (`SCM_RIGHTS`) with a line naming them, starts
//! serving on them, and answers `ready`; only then does the old process stop accepting and
//! drain. If the new process fails before it is ready, the old one goes on as if nothing
//! happened.
//!
//! The exchange, on a `SOCK_STREAM` Unix socket:
//! 1. old → new: `tinycdn-handover-v1 N NAME...\n` with N descriptors;
//! 2. new → old: `ready\n`.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use thiserror::Error;

const MAGIC: &str = "tinycdn-handover-v1";
/// Sockets handed over at most (the public and the admin listener today).
const MAX_SOCKETS: usize = 8;

/// Why a hand-over failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HandoverError {
    /// The Unix socket could not be used.
    #[error("hand-over socket {path}")]
    Io {
        /// The socket's path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The other side did not speak the protocol.
    #[error("hand-over: {0}")]
    Protocol(String),
}

/// A listening socket by the name both processes know it by (`public`, `admin`).
#[derive(Debug)]
pub struct Named {
    /// Its name.
    pub name: String,
    /// The socket.
    pub fd: OwnedFd,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> HandoverError + '_ {
    move |source| HandoverError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Binds the hand-over socket at `path` (a stale file from a process that is gone is
/// replaced), readable by its owner only.
///
/// # Errors
/// [`HandoverError::Io`].
pub fn listen(path: &Path) -> Result<UnixListener, HandoverError> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(io(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    Ok(l)
}

/// Old side: sends `sockets` to the successor on `stream` and waits (up to `wait`) for it to
/// say it serves on them. `Ok(true)`: the successor took over, this process should drain.
///
/// # Errors
/// [`HandoverError`]: the successor went away or spoke nonsense; keep serving.
pub fn offer(
    stream: &mut UnixStream,
    sockets: &[(&str, std::os::fd::BorrowedFd<'_>)],
    wait: Duration,
) -> Result<bool, HandoverError> {
    let path = Path::new("(peer)");
    let names: Vec<&str> = sockets.iter().map(|(n, _)| *n).collect();
    let line = format!("{MAGIC} {} {}\n", sockets.len(), names.join(" "));
    let fds: Vec<_> = sockets.iter().map(|(_, fd)| *fd).collect();
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_SOCKETS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if fds.len() > MAX_SOCKETS || !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(HandoverError::Protocol("too many sockets".into()));
    }
    sendmsg(
        stream.as_fd(),
        &[IoSlice::new(line.as_bytes())],
        &mut control,
        SendFlags::empty(),
    )
    .map_err(|e| io(path)(e.into()))?;
    stream.set_read_timeout(Some(wait)).map_err(io(path))?;
    let mut answer = [0u8; 6];
    match stream.read_exact(&mut answer) {
        Ok(()) if &answer == b"ready\n" => Ok(true),
        Ok(()) => Err(HandoverError::Protocol(
            "the successor answered something other than ready".into(),
        )),
        Err(e) => Err(io(path)(e)),
    }
}

/// New side: connects to the running process at `path` and receives its listening sockets.
/// Serve on them, then call [`ready`] with the returned stream.
///
/// # Errors
/// [`HandoverError`]: nobody listens there, or it did not hand sockets over.
pub fn take(path: &Path) -> Result<(Vec<Named>, UnixStream), HandoverError> {
    let stream = UnixStream::connect(path).map_err(io(path))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io(path))?;
    let mut buf = [0u8; 512];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_SOCKETS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        stream.as_fd(),
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| io(path)(e.into()))?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = msg {
            fds.extend(received);
        }
    }
    let text = std::str::from_utf8(&buf[..got.bytes.min(buf.len())])
        .map_err(|_| HandoverError::Protocol("not text".into()))?;
    let mut words = text.trim_end().split(' ');
    if words.next() != Some(MAGIC) {
        return Err(HandoverError::Protocol(format!(
            "{} does not hand over sockets ({MAGIC})",
            path.display()
        )));
    }
    let n: usize = words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| HandoverError::Protocol("no socket count".into()))?;
    let names: Vec<&str> = words.collect();
    if n != fds.len() || n != names.len() {
        return Err(HandoverError::Protocol(format!(
            "announced {n} sockets, received {} named {}",
            fds.len(),
            names.len()
        )));
    }
    let named = names
        .into_iter()
        .zip(fds)
        .map(|(name, fd)| Named {
            name: name.to_owned(),
            fd,
        })
        .collect();
    Ok((named, stream))
}

/// New side: tells the old process it serves now (it then stops accepting and drains).
///
/// # Errors
/// The old process went away (it may have been stopped meanwhile: nothing to undo).
pub fn ready(mut stream: UnixStream) -> std::io::Result<()> {
    stream.write_all(b"ready\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_cross_with_their_names_and_the_queue_survives() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("h.sock");
        let server = listen(&path).expect("listen");
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = tcp.local_addr().expect("addr");
        // A connection waits in the queue across the hand-over.
        let mut early = std::net::TcpStream::connect(addr).expect("connect");
        let old = std::thread::spawn(move || {
            let (mut s, _) = server.accept().expect("accept");
            let took = offer(&mut s, &[("public", tcp.as_fd())], Duration::from_secs(5));
            drop(tcp);
            took
        });
        let (got, stream) = take(&path).expect("take");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "public");
        let l = std::net::TcpListener::from(got.into_iter().next().expect("one").fd);
        ready(stream).expect("ready");
        assert!(old.join().expect("join").expect("offer"));
        assert_eq!(l.local_addr().expect("addr"), addr);
        let (mut conn, _) = l.accept().expect("the queued connection");
        early.write_all(b"x").expect("write");
        let mut b = [0u8; 1];
        conn.read_exact(&mut b).expect("read");
        assert_eq!(&b, b"x");
    }

    #[test]
    fn a_peer_that_is_not_tinycdn_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("h.sock");
        let server = UnixListener::bind(&path).expect("bind");
        let t = std::thread::spawn(move || {
            let (mut s, _) = server.accept().expect("accept");
            s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").expect("write");
        });
        assert!(matches!(take(&path), Err(HandoverError::Protocol(_))));
        t.join().expect("join");
        assert!(take(&dir.path().join("absent.sock")).is_err());
    }

    #[test]
    fn a_successor_that_never_says_ready_leaves_the_old_process_serving() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("h.sock");
        let server = listen(&path).expect("listen");
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let old = std::thread::spawn(move || {
            let (mut s, _) = server.accept().expect("accept");
            offer(
                &mut s,
                &[("public", tcp.as_fd())],
                Duration::from_millis(300),
            )
        });
        let (_got, stream) = take(&path).expect("take");
        drop(stream);
        assert!(old.join().expect("join").is_err());
    }
}
