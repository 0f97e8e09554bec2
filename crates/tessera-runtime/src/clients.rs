//! Client connections: the two ways in (TCP, and the Unix-domain socket
//! PostgreSQL clients use on the same machine), and how a node spreads
//! connections over its shards.
//!
//! Every shard accepts on the TCP port (`SO_REUSEPORT`, one listener per
//! shard) and on the node's one Unix socket (a descriptor shared by all
//! shards; whichever wakes first takes a connection). The kernel's choice is
//! blind to load: a hash of the TCP addresses, or the first thread awake.
//! So the accepting shard hands the connection to the shard serving the
//! fewest (itself on a tie), which keeps a pool of 8 clients on 2 shards at
//! 4 and 4 instead of the 6 and 2 a hash often gives. A connection stays on
//! its shard for life.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tessera_types::{sqlstate, Error, Result};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::mpsc;

/// An accepted client connection.
pub enum ClientStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl ClientStream {
    /// The client's IP address; `None` over the Unix socket (`[local]`).
    pub fn peer_address(&self) -> Option<IpAddr> {
        match self {
            ClientStream::Tcp(s) => Some(
                s.peer_addr()
                    .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |a| a.ip()),
            ),
            ClientStream::Unix(_) => None,
        }
    }

    /// The OS user id of the client's process, over the Unix socket (its
    /// peer credentials).
    pub fn peer_uid(&self) -> Option<u32> {
        match self {
            ClientStream::Tcp(_) => None,
            ClientStream::Unix(s) => s.peer_cred().ok().map(|c| c.uid()),
        }
    }

    /// Leaves this shard's reactor, to be served by another shard.
    fn into_std(self) -> io::Result<StdClientStream> {
        Ok(match self {
            ClientStream::Tcp(s) => StdClientStream::Tcp(s.into_std()?),
            ClientStream::Unix(s) => StdClientStream::Unix(s.into_std()?),
        })
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ClientStream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Tcp(s) => s.is_write_vectored(),
            ClientStream::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A connection on its way from the shard that accepted it to the one
/// that serves it (non-blocking, in no reactor), with its place in that
/// shard's count.
pub(crate) type Handed = (StdClientStream, Served);

/// A connection out of any reactor.
pub(crate) enum StdClientStream {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl StdClientStream {
    /// Joins the calling shard's reactor.
    pub(crate) fn into_tokio(self) -> io::Result<ClientStream> {
        Ok(match self {
            StdClientStream::Tcp(s) => ClientStream::Tcp(TcpStream::from_std(s)?),
            StdClientStream::Unix(s) => ClientStream::Unix(UnixStream::from_std(s)?),
        })
    }
}

/// How many connections each shard serves, and the way to hand one to it.
pub(crate) struct Spread {
    serving: Vec<AtomicUsize>,
    handoff: Vec<mpsc::UnboundedSender<Handed>>,
}

/// One connection counted on its shard until dropped.
pub(crate) struct Served {
    spread: Arc<Spread>,
    shard: usize,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.spread.serving[self.shard].fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where a connection accepted on a shard goes.
pub(crate) enum Placed {
    /// Served where it was accepted.
    Here(ClientStream, Served),
    /// Handed to another shard.
    Away,
}

impl Spread {
    /// The spread over `shards` shards, and each shard's end of its
    /// hand-off channel.
    pub(crate) fn new(shards: usize) -> (Arc<Spread>, Vec<mpsc::UnboundedReceiver<Handed>>) {
        let (handoff, receivers) = (0..shards).map(|_| mpsc::unbounded_channel()).unzip();
        let spread = Spread {
            serving: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
            handoff,
        };
        (Arc::new(spread), receivers)
    }

    /// Counts one more connection on `shard`, until the result is dropped.
    fn count(self: &Arc<Self>, shard: usize) -> Served {
        self.serving[shard].fetch_add(1, Ordering::AcqRel);
        Served {
            spread: self.clone(),
            shard,
        }
    }

    /// A connection `shard` accepted: served there, or handed to the shard
    /// serving the fewest, counted there before it moves (so that shards
    /// accepting at the same moment see it). A connection whose hand-off
    /// fails (the target stopped: shutdown) is closed.
    pub(crate) fn place(self: &Arc<Self>, shard: usize, stream: ClientStream) -> Placed {
        let mine = self.serving[shard].load(Ordering::Acquire);
        let fewest = (0..self.serving.len())
            .map(|s| (self.serving[s].load(Ordering::Acquire), s))
            .min()
            .filter(|(n, _)| *n < mine)
            .map(|(_, s)| s);
        let Some(target) = fewest else {
            return Placed::Here(stream, self.count(shard));
        };
        let served = self.count(target);
        match stream.into_std() {
            Ok(moved) => {
                let _ = self.handoff[target].send((moved, served));
            }
            Err(e) => tracing::debug!("handing a connection over: {e}"),
        }
        Placed::Away
    }
}

/// The node's Unix-domain socket, `DIR/.s.PGSQL.PORT` as PostgreSQL names
/// it; the file is removed when this is dropped.
pub struct UnixSocketFile {
    path: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl UnixSocketFile {
    /// Listens at `dir`'s socket for `port`. A socket file left by a server
    /// that is gone (nothing answers it) is replaced; one a live server
    /// answers is an error, as is a directory that does not exist.
    pub fn bind(dir: &Path, port: u16) -> Result<UnixSocketFile> {
        let path = dir.join(format!(".s.PGSQL.{port}"));
        let fail = |e: io::Error| {
            Error::new(
                sqlstate::INSUFFICIENT_RESOURCES,
                format!("cannot listen on the Unix socket {}: {e}", path.display()),
            )
        };
        if path.as_os_str().len() > 107 {
            // sockaddr_un holds 108 bytes with the terminating NUL.
            return Err(fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path is longer than 107 bytes",
            )));
        }
        let listener = match std::os::unix::net::UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                    return Err(Error::new(
                        sqlstate::INSUFFICIENT_RESOURCES,
                        format!(
                            "cannot listen on the Unix socket {}: another server is listening there (is another tessera or PostgreSQL running on port {port}?)",
                            path.display()
                        ),
                    ));
                }
                // Left by a server that stopped without removing it.
                std::fs::remove_file(&path).map_err(fail)?;
                std::os::unix::net::UnixListener::bind(&path).map_err(fail)?
            }
            Err(e) => return Err(fail(e)),
        };
        // Who may connect is the rules' decision (`local` lines), as with
        // PostgreSQL's default unix_socket_permissions 0777.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).map_err(fail)?;
        listener.set_nonblocking(true).map_err(fail)?;
        Ok(UnixSocketFile { path, listener })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Another descriptor of the listening socket, for one shard.
    pub(crate) fn listener(&self) -> Result<std::os::unix::net::UnixListener> {
        self.listener
            .try_clone()
            .map_err(|e| Error::io("sharing the Unix socket with a shard", e))
    }
}

impl Drop for UnixSocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_socket_file_is_replaced_and_a_live_one_refused() {
        let dir = std::env::temp_dir().join(format!("tessera-sock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = UnixSocketFile::bind(&dir, 7001).unwrap();
        let error = UnixSocketFile::bind(&dir, 7001).err().unwrap();
        assert!(
            error.message.contains("another server"),
            "{}",
            error.message
        );
        assert!(first.path().exists());
        drop(first);
        // A file nothing listens on: what a killed server leaves.
        let stale = dir.join(".s.PGSQL.7002");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        assert!(stale.exists());
        let taken = UnixSocketFile::bind(&dir, 7002).unwrap();
        drop(taken);
        assert!(!stale.exists(), "removed when dropped");
        let missing = UnixSocketFile::bind(&dir.join("missing"), 7003)
            .err()
            .unwrap();
        assert!(
            missing.message.contains("cannot listen"),
            "{}",
            missing.message
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn connections_go_to_the_shard_serving_fewest() {
        let (spread, mut receivers) = Spread::new(2);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pair = || {
                let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
                a.set_nonblocking(true).unwrap();
                ClientStream::Unix(UnixStream::from_std(a).unwrap())
            };
            let mut held = Vec::new();
            // All accepted on shard 0: they alternate.
            for i in 0..4 {
                match spread.place(0, pair()) {
                    Placed::Here(_, served) => {
                        assert_eq!(i % 2, 0, "connection {i}");
                        held.push(served);
                    }
                    Placed::Away => {
                        assert_eq!(i % 2, 1, "connection {i}");
                        let (moved, served) = receivers[1].try_recv().unwrap();
                        assert!(moved.into_tokio().is_ok());
                        held.push(served);
                    }
                }
            }
            assert_eq!(spread.serving[0].load(Ordering::Acquire), 2);
            assert_eq!(spread.serving[1].load(Ordering::Acquire), 2);
            // Shard 1's two end: shard 1 takes the next two, even those
            // shard 0 accepts.
            held.retain(|s| s.shard == 0);
            assert_eq!(spread.serving[1].load(Ordering::Acquire), 0);
            for _ in 0..2 {
                assert!(matches!(spread.place(0, pair()), Placed::Away));
                let (_, served) = receivers[1].try_recv().unwrap();
                held.push(served);
            }
            let placed = spread.place(1, pair());
            assert!(matches!(placed, Placed::Here(..)));
            assert_eq!(spread.serving[1].load(Ordering::Acquire), 3);
            drop(placed);
            assert_eq!(spread.serving[1].load(Ordering::Acquire), 2);
        });
    }
}
