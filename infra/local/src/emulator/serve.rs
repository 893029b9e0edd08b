//! The HTTP listener, with what API Gateway gives for free: a deadline on
//! reading a request's headers, counted from accept; a cap on connections
//! being served, which a client that sends nothing never holds; bodies
//! that must keep a minimum pace; answers that reach a client still
//! sending the body they refused; and a graceful stop. (axum's own
//! `serve` has none of these.) HTTP/1.1 only: API Gateway speaks HTTP/2
//! only over TLS, and h2c's many streams per connection would let one
//! connection hold many bodies.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::time::{Instant, Sleep};
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
    /// Connections accepted but not yet served (silent, or waiting for a
    /// slot): beyond this many, the oldest is closed, so that they can
    /// neither use up the process's open files nor crowd out a client
    /// that sends at once. One peer may hold a quarter of them.
    pub max_waiting: usize,
    /// A client has this long from accept to send its first byte, this
    /// long from its slot to send its first request's headers, and this
    /// long for each next one (silent sockets, slowloris).
    pub header_read_timeout: Duration,
    /// How long a body may take beyond what its pace allows
    /// ([`MIN_BODY_BYTES_PER_SEC`]); and how long, in all, a refused
    /// body is read and dropped.
    pub body_timeout: Duration,
}

/// The slowest a request body may come once `body_timeout` is spent: a
/// body of `n` bytes has `body_timeout + n / MIN_BODY_BYTES_PER_SEC`. A
/// byte every 20 s is far below it; a 5 GiB PUT at this pace takes 4 days.
pub const MIN_BODY_BYTES_PER_SEC: u64 = 16 * 1024;

/// Connections waiting for a slot, and a signal when one starts to: a
/// refused body being drained gives its slot up to them.
#[derive(Default)]
struct SlotWait {
    waiting: AtomicUsize,
    started: Notify,
}

/// Connections waiting per slot, at most (within `max_waiting`).
pub const WAITING_PER_SLOT: usize = 8;

/// The connections waiting for their first byte or a slot, oldest first,
/// and each peer's.
#[derive(Default)]
struct Waiting {
    next: u64,
    by_age: BTreeMap<u64, (IpAddr, CancellationToken)>,
    by_peer: HashMap<IpAddr, BTreeSet<u64>>,
}

impl Waiting {
    /// Registers a new connection from `peer`; when more than `max` wait,
    /// or more than `per_peer` of that peer's, the oldest (of all, or of
    /// the peer's) is told to close. Returns the new one's id.
    fn add(&mut self, peer: IpAddr, max: usize, per_peer: usize, token: CancellationToken) -> u64 {
        let id = self.next;
        self.next += 1;
        self.by_age.insert(id, (peer, token));
        self.by_peer.entry(peer).or_default().insert(id);
        let theirs = self.by_peer.get(&peer).map_or(0, BTreeSet::len);
        if theirs > per_peer {
            let oldest = self.by_peer.get(&peer).and_then(|ids| ids.first().copied());
            oldest.into_iter().for_each(|old| self.evict(old));
        }
        while self.by_age.len() > max {
            let oldest = self.by_age.first_key_value().map(|(id, _)| *id);
            oldest.into_iter().for_each(|old| self.evict(old));
        }
        id
    }

    fn evict(&mut self, id: u64) {
        if let Some((_, token)) = self.by_age.get(&id) {
            token.cancel();
        }
        self.remove(id);
    }

    fn remove(&mut self, id: u64) {
        let Some((peer, _)) = self.by_age.remove(&id) else {
            return;
        };
        if let Some(ids) = self.by_peer.get_mut(&peer) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_peer.remove(&peer);
            }
        }
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
    let slot_wait = Arc::new(SlotWait::default());
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    let max_waiting = limits.max_waiting.max(1);
    let per_peer = (max_waiting / 4).max(1);
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
        let evicted = shutdown.child_token();
        let id =
            waiting
                .lock()
                .expect("waiting")
                .add(peer.ip(), max_waiting, per_peer, evicted.clone());
        let (permits, waiting, slot_wait) = (permits.clone(), waiting.clone(), slot_wait.clone());
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
                true => {
                    slot_wait.waiting.fetch_add(1, Ordering::AcqRel);
                    slot_wait.started.notify_waiters();
                    let p = tokio::select! {
                        p = tokio::time::timeout(limits.header_read_timeout, permits.acquire_owned()) => {
                            p.ok().and_then(Result::ok)
                        }
                        _ = evicted.cancelled() => None,
                    };
                    slot_wait.waiting.fetch_sub(1, Ordering::AcqRel);
                    p
                }
                false => None,
            };
            waiting.lock().expect("waiting").remove(id);
            let Some(_permit) = permit else {
                debug!(%peer, "no byte, or no free slot, before the header deadline; closed");
                return;
            };
            serve_connection(stream, peer, router, limits, shutdown, slot_wait).await;
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
    slot_wait: Arc<SlotWait>,
) {
    let _ = stream.set_nodelay(true);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let first_request = Arc::new(AtomicBool::new(false));
    let seen = first_request.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        seen.store(true, Ordering::Release);
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
        let router = router.clone();
        let (timeout, slot_wait) = (limits.body_timeout, slot_wait.clone());
        async move {
            let req = req.map(|body| axum::body::Body::new(Paced::new(body, timeout, slot_wait)));
            let response = router.oneshot(req).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
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

/// A request body that must keep a minimum pace (`timeout` plus a second
/// per [`MIN_BODY_BYTES_PER_SEC`] read so far, from its first poll: a
/// trickle ends in an error, and its request in a refusal); and that,
/// dropped before its end, is read to its end in the background (at most
/// [`DRAIN_MAX_BYTES`], within `timeout` in all, and only while no
/// connection waits for a slot), so a client streaming a body that was
/// refused reads the answer instead of a reset.
struct Paced {
    inner: Option<Incoming>,
    timeout: Duration,
    slot_wait: Arc<SlotWait>,
    read: u64,
    /// From the first poll: a handler that never reads the body is not
    /// paced, its drain is.
    due: Option<(Instant, Pin<Box<Sleep>>)>,
}

/// A body that fell below its pace.
#[derive(Debug, thiserror::Error)]
#[error("the request body came too slowly")]
struct TooSlow;

impl Paced {
    fn new(inner: Incoming, timeout: Duration, slot_wait: Arc<SlotWait>) -> Self {
        Self {
            inner: Some(inner),
            timeout,
            slot_wait,
            read: 0,
            due: None,
        }
    }

    /// When the body must have come by, `read` bytes in.
    fn deadline(started: Instant, timeout: Duration, read: u64) -> Instant {
        started + timeout + Duration::from_secs(read / MIN_BODY_BYTES_PER_SEC)
    }
}

impl http_body::Body for Paced {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let Some(body) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let timeout = this.timeout;
        let (started, sleep) = this.due.get_or_insert_with(|| {
            let now = Instant::now();
            (now, Box::pin(tokio::time::sleep_until(now + timeout)))
        });
        match Pin::new(body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.read += frame.data_ref().map_or(0, |d| d.len() as u64);
                sleep
                    .as_mut()
                    .reset(Self::deadline(*started, timeout, this.read));
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    // Taken for gone: dropped here, never drained.
                    this.inner = None;
                    Poll::Ready(Some(Err(TooSlow.into())))
                }
                Poll::Pending => Poll::Pending,
            },
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

impl Drop for Paced {
    fn drop(&mut self) {
        let Some(mut body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() || self.slot_wait.waiting.load(Ordering::Acquire) > 0 {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (timeout, slot_wait) = (self.timeout, self.slot_wait.clone());
        runtime.spawn(async move {
            let drain = async {
                let mut read = 0usize;
                while read <= DRAIN_MAX_BYTES {
                    match body.frame().await {
                        Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                        _ => return,
                    }
                }
            };
            // Whichever comes first: the end, the deadline, a connection
            // that needs this one's slot.
            tokio::select! {
                _ = tokio::time::timeout(timeout, drain) => {}
                _ = slot_wait.started.notified() => {}
            }
        });
    }
}
