//! Connection limits poem itself does not have: a cap on open connections (more are told
//! 503 and closed, rather than piling up until file descriptors run out) and a deadline for
//! receiving each request head, so a client trickling a request byte by byte (slowloris)
//! cannot hold a connection (bodies get the same deadline from the application, see
//! `receive_body`). A WebSocket, once upgraded, is exempt: its own limits apply.
//!
//! Only HTTP/1.1 is served. HTTP/2 over cleartext would multiplex many requests on one
//! connection, out of reach of a per-request deadline counted in bytes; TLS and HTTP/2 are
//! the reverse proxy's job in front of Switchboard, which talks HTTP/1.1 to it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, Sleep};

/// What the guard allows.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most; one more is answered 503 and closed.
    pub max_connections: usize,
    /// How long a client may take to send one whole request (head and body), counted from
    /// its first byte, or from connecting for the first request.
    pub request_deadline: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { max_connections: 20_000, request_deadline: Duration::from_secs(60) }
    }
}

/// What a connection over the cap is told before it is closed.
const OVER_CAPACITY: &str =
    "this instance has as many connections as it admits (http.max_connections); retry shortly\n";

fn over_capacity_response() -> String {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{OVER_CAPACITY}",
        OVER_CAPACITY.len()
    )
}

/// An acceptor that applies [`ConnectionLimits`] to every connection of the inner one.
pub struct GuardedAcceptor<A> {
    inner: A,
    slots: Arc<Semaphore>,
    limits: ConnectionLimits,
}

impl<A: Acceptor> GuardedAcceptor<A> {
    /// Guards `inner` with `limits`.
    pub fn new(inner: A, limits: ConnectionLimits) -> Self {
        Self { inner, slots: Arc::new(Semaphore::new(limits.max_connections)), limits }
    }
}

impl<A: Acceptor> Acceptor for GuardedAcceptor<A>
where
    A::Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Io = GuardedIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (mut io, local, remote, scheme) = self.inner.accept().await?;
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => return Ok((GuardedIo::new(io, slot, self.limits.request_deadline), local, remote, scheme)),
                Err(_) => {
                    tracing::warn!(
                        max = self.limits.max_connections,
                        %remote,
                        "connection refused: the instance is at its connection limit (http.max_connections)"
                    );
                    tokio::spawn(async move {
                        let _ = io.write_all(over_capacity_response().as_bytes()).await;
                        let _ = io.shutdown().await;
                    });
                }
            }
        }
    }
}

/// A connection holding its slot, with the request deadline.
pub struct GuardedIo<Io> {
    inner: Io,
    _slot: OwnedSemaphorePermit,
    deadline: Duration,
    /// Armed while a request is being received; `None` between requests and after an upgrade.
    timer: Option<Pin<Box<Sleep>>>,
    upgraded: bool,
    /// Whether anything was written yet: the first write says which protocol is spoken.
    answered: bool,
    /// The connection spoke HTTP/2: every read and write fails from then on.
    refused: bool,
    /// A `100 Continue` was sent: the bytes that follow are the body, which the application
    /// reads against its own deadline, not the start of the next request.
    continued: bool,
}

impl<Io> GuardedIo<Io> {
    fn new(inner: Io, slot: OwnedSemaphorePermit, deadline: Duration) -> Self {
        Self {
            inner,
            _slot: slot,
            deadline,
            timer: Some(Box::pin(sleep(deadline))),
            upgraded: false,
            answered: false,
            refused: false,
            continued: false,
        }
    }

    /// What to do before writing `bytes`: an error refuses an HTTP/2 connection (the server's
    /// first bytes are then a SETTINGS frame, not an HTTP/1 status line).
    fn writing(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.answered && !bytes.is_empty() {
            self.answered = true;
            if !bytes.starts_with(b"HTTP/1.") {
                tracing::info!("connection closed: HTTP/2 is not served; put a reverse proxy in front for it");
                self.refused = true;
            }
        }
        self.check_refused()
    }

    fn check_refused(&self) -> io::Result<()> {
        if self.refused {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "only HTTP/1.1 is served"));
        }
        Ok(())
    }

    /// Something was written: the request head was received (a `100 Continue` included; the
    /// body is then read against the same deadline by the application). A `101` means the
    /// connection is now a WebSocket, which keeps its own time.
    fn wrote(&mut self, bytes: &[u8]) {
        self.timer = None;
        if bytes.starts_with(b"HTTP/1.1 101") {
            self.upgraded = true;
        } else if bytes.starts_with(b"HTTP/1.1 ") {
            self.continued = bytes.starts_with(b"HTTP/1.1 100 ");
        }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for GuardedIo<Io> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.check_refused()?;
        if let Some(timer) = &mut this.timer {
            if timer.as_mut().poll(cx).is_ready() {
                tracing::info!(deadline = ?this.deadline, "connection closed: a request took longer than http.request_deadline to arrive");
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request not received in time")));
            }
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before && this.timer.is_none() && !this.upgraded && !this.continued {
            // The first byte of the next request starts its clock.
            let mut timer = Box::pin(sleep(this.deadline));
            let _ = timer.as_mut().poll(cx);
            this.timer = Some(timer);
        }
        read
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for GuardedIo<Io> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.writing(buf)?;
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.wrote(buf);
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        this.writing(first)?;
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.wrote(first);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
