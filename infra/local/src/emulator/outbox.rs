//! One socket's outbox: messages waiting to be written, bounded, and
//! allocating nothing while empty, so an idle tab holds next to nothing.
//! A message that finds it full overflows it: the tab is not reading, so
//! what waits is dropped, nothing more is taken, and the socket hears of
//! it on its next `recv`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Slots an emptied outbox keeps rather than freeing and allocating again
/// for the next message.
const KEEP: usize = 8;

struct Shared {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
}

struct State {
    queue: VecDeque<Outbound>,
    /// The socket is gone, or overflowed: nothing more is taken.
    closed: bool,
    overflowed: bool,
}

/// Why a message was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Full,
    Closed,
}

/// What a pusher queues for a socket.
#[derive(Debug)]
pub enum Outbound {
    Text(String),
    /// `DELETE /@connections/{id}`: close the socket.
    Close,
}

/// The pushers' side; cheap to clone.
#[derive(Clone)]
pub struct Sender(Arc<Shared>);

/// The socket's side; dropping it closes the outbox.
pub struct Receiver(Arc<Shared>);

/// The outbox overflowed: its socket must close.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflowed;

pub fn outbox(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            closed: false,
            overflowed: false,
        }),
        ready: Notify::new(),
        capacity,
    });
    (Sender(shared.clone()), Receiver(shared))
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sender {
    /// Queues `message` without waiting. A full outbox overflows.
    pub fn try_send(&self, message: Outbound) -> Result<(), Refused> {
        let refused = {
            let mut s = lock(&self.0);
            if s.closed {
                return Err(Refused::Closed);
            }
            if s.queue.len() >= self.0.capacity {
                s.closed = true;
                s.overflowed = true;
                s.queue = VecDeque::new();
                Some(Refused::Full)
            } else {
                s.queue.push_back(message);
                None
            }
        };
        self.0.ready.notify_one();
        refused.map_or(Ok(()), Err)
    }
}

impl Receiver {
    /// The next message, once there is one; or word that the outbox
    /// overflowed. (It cannot close otherwise while this side lives.)
    pub async fn recv(&self) -> Result<Outbound, Overflowed> {
        loop {
            // Registered before looking, so a send in between is not missed.
            let notified = self.0.ready.notified();
            {
                let mut s = lock(&self.0);
                if let Some(m) = s.queue.pop_front() {
                    if s.queue.is_empty() && s.queue.capacity() > KEEP {
                        // Give back what a burst grew.
                        s.queue.shrink_to(0);
                    }
                    return Ok(m);
                }
                if s.overflowed {
                    return Err(Overflowed);
                }
            }
            notified.await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut s = lock(&self.0);
        s.closed = true;
        s.queue = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_come_out_in_order_and_not_after_close() {
        let (tx, rx) = outbox(2);
        tx.try_send(Outbound::Text("a".into())).unwrap();
        tx.try_send(Outbound::Text("b".into())).unwrap();
        assert!(matches!(rx.recv().await, Ok(Outbound::Text(t)) if t == "a"));
        assert!(matches!(rx.recv().await, Ok(Outbound::Text(t)) if t == "b"));
        let waiting = tokio::spawn(async move { rx.recv().await.is_ok() });
        tx.try_send(Outbound::Close).unwrap();
        assert!(waiting.await.unwrap());
        // The receiver is gone with the task: the outbox is closed.
        assert_eq!(tx.try_send(Outbound::Close), Err(Refused::Closed));
    }

    #[tokio::test]
    async fn a_full_outbox_overflows_and_its_socket_hears_of_it() {
        let (tx, rx) = outbox(2);
        tx.try_send(Outbound::Text("a".into())).unwrap();
        tx.try_send(Outbound::Text("b".into())).unwrap();
        assert_eq!(tx.try_send(Outbound::Close), Err(Refused::Full));
        assert_eq!(tx.try_send(Outbound::Close), Err(Refused::Closed));
        assert!(matches!(rx.recv().await, Err(Overflowed)));
    }
}
