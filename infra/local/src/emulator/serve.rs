//! The HTTP listener, with what API Gateway gives for free: a deadline on
//! reading a request's headers, counted from accept; a cap on connections
//! being served, which a client that sends nothing never holds; answers
//! that reach a client still sending the body they refused; and a
//! graceful stop. (axum's own `serve` has none of these.)

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, warn};

/// How the listener bounds its clients.
#[derive(Clone, Copy, Debug)]
pub struct ServeLimits {
    /// HTTP connections served at once; the next waits until one closes.
    /// A connection counts from its first byte: one that sends nothing
    /// holds no slot. (Upgraded WebSockets leave this count: they are
    /// bounded per user instead.)
    pub max_connections: usize,
    /// A client has this long from accept to send its first byte, this
    /// long from its slot to send its first request's headers, and this
    /// long for each next one (silent sockets, slowloris).
    pub header_read_timeout: Duration,
    /// How long a refused body may stall while it is read and dropped.
    pub body_stall: Duration,
}

/// Connections accepted but not yet served (silent, or waiting for a
/// slot), per slot: beyond this many, the oldest is closed, so they can
/// neither use up the process's file descriptors nor crowd out a client
/// that sends at once.
const WAITING_PER_SLOT: usize = 8;

/// The connections waiting for their first byte, oldest first.
#[derive(Default)]
struct Waiting {
    next: u64,
    by_age: BTreeMap<u64, CancellationToken>,
}

impl Waiting {
    /// Registers a new connection; when more than `max` wait, the oldest
    /// is told to close. Returns the new one's id and its token.
    fn add(&mut self, max: usize, token: CancellationToken) -> (u64, CancellationToken) {
        let id = self.next;
        self.next += 1;
        self.by_age.insert(id, token.clone());
        while self.by_age.len() > max {
            if let Some((_, oldest)) = self.by_age.pop_first() {
                oldest.cancel();
            }
        }
        (id, token)
    }

    fn remove(&mut self, id: u64) {
        self.by_age.remove(&id);
    }
}

/// What is still read of a body its handler dropped unread (a refusal
/// before the body, or past a limit), so a client streaming it reads the
/// answer instead of a reset: API Gateway's HTTP API takes bodies up to
/// 10 MB. Beyond that the connection is closed.
const DRAIN_MAX_BYTES: usize = 10 * 1024 * 1024;

/// Serves `router` until `shutdown`, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    let max_waiting = limits.max_connections.max(1) * WAITING_PER_SLOT;
    let connections = TaskTracker::new();

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off a little.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let (id, evicted) = waiting
            .lock()
            .expect("waiting")
            .add(max_waiting, shutdown.child_token());
        let (permits, waiting) = (permits.clone(), waiting.clone());
        let router = router.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            // Silent until the header deadline, or the oldest waiting one
            // when too many wait: closed, having held no slot.
            // (`peek`, not `readable`, which may wake with nothing to read.)
            let mut byte = [0u8; 1];
            let first_byte = tokio::select! {
                r = tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut byte)) => {
                    matches!(r, Ok(Ok(n)) if n > 0)
                }
                _ = evicted.cancelled() => false,
            };
            // Then a slot, within the header timeout again; still among
            // those waiting (and so never more of them than the cap).
            let permit = match first_byte {
                true => tokio::select! {
                    p = tokio::time::timeout(limits.header_read_timeout, permits.acquire_owned()) => {
                        p.ok().and_then(Result::ok)
                    }
                    _ = evicted.cancelled() => None,
                },
                false => None,
            };
            waiting.lock().expect("waiting").remove(id);
            let Some(_permit) = permit else {
                debug!(%peer, "no byte, or no free slot, before the header deadline; closed");
                return;
            };
            serve_connection(stream, peer, router, limits, shutdown).await;
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Serves one connection, in its slot: its first request's headers are
/// due within the header timeout.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ServeLimits,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_read_timeout));
    let first_request = Arc::new(AtomicBool::new(false));
    let seen = first_request.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        seen.store(true, Ordering::Release);
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
        let router = router.clone();
        let stall = limits.body_stall;
        async move {
            let req = req.map(|body| axum::body::Body::new(Drained::new(body, stall)));
            let response = router.oneshot(req).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .into_owned();
    tokio::pin!(conn);
    // hyper's own deadline starts once the protocol is known; this one
    // holds from the slot, for a client slow to say which.
    let deadline = tokio::time::sleep(limits.header_read_timeout);
    tokio::pin!(deadline);
    let mut stopping = false;
    let mut head_arrived = false;
    let ended = loop {
        tokio::select! {
            ended = &mut conn => break ended,
            // A stop: the request in flight finishes, no next one is read.
            _ = shutdown.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = &mut deadline, if !head_arrived => {
                head_arrived = first_request.load(Ordering::Acquire);
                if !head_arrived {
                    debug!(%peer, "no request head before the header deadline; closed");
                    return;
                }
            }
        }
    };
    if let Err(e) = ended {
        debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// A request body that, dropped before its end, is read to its end in the
/// background (at most [`DRAIN_MAX_BYTES`], each chunk within `stall`), so
/// the connection closes only after the client has sent it.
struct Drained {
    inner: Option<Incoming>,
    stall: Duration,
}

impl Drained {
    fn new(inner: Incoming, stall: Duration) -> Self {
        Self {
            inner: Some(inner),
            stall,
        }
    }
}

impl http_body::Body for Drained {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        let Some(mut body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        let stall = self.stall;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let mut read = 0usize;
            while read <= DRAIN_MAX_BYTES {
                match tokio::time::timeout(stall, body.frame()).await {
                    Ok(Some(Ok(frame))) => {
                        read += frame.data_ref().map_or(0, |d| d.len());
                    }
                    _ => return,
                }
            }
        });
    }
}
