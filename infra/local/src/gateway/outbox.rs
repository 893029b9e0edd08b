//! One socket's outbox: messages waiting to be written, bounded, and
//! allocating nothing while empty, so an idle tab holds next to nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::pusher::Outbound;

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
    /// The socket is gone: nothing more is taken.
    closed: bool,
}

/// Why a message was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Full,
    Closed,
}

/// The pushers' side; cheap to clone.
#[derive(Clone)]
pub struct Sender(Arc<Shared>);

/// The socket's side; dropping it closes the outbox.
pub struct Receiver(Arc<Shared>);

pub fn outbox(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            closed: false,
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
    /// Queues `message` without waiting.
    pub fn try_send(&self, message: Outbound) -> Result<(), Refused> {
        {
            let mut s = lock(&self.0);
            if s.closed {
                return Err(Refused::Closed);
            }
            if s.queue.len() >= self.0.capacity {
                return Err(Refused::Full);
            }
            s.queue.push_back(message);
        }
        self.0.ready.notify_one();
        Ok(())
    }
}

impl Receiver {
    /// The next message, once there is one.
    pub async fn recv(&self) -> Option<Outbound> {
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
                    return Some(m);
                }
                if s.closed {
                    return None;
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
    async fn messages_come_out_in_order_up_to_the_capacity_and_not_after_close() {
        let (tx, rx) = outbox(2);
        tx.try_send(Outbound::Text("a".into())).unwrap();
        tx.try_send(Outbound::Text("b".into())).unwrap();
        assert_eq!(tx.try_send(Outbound::Close), Err(Refused::Full));
        assert!(matches!(rx.recv().await, Some(Outbound::Text(t)) if t == "a"));
        assert!(matches!(rx.recv().await, Some(Outbound::Text(t)) if t == "b"));
        let waiting = tokio::spawn(async move { rx.recv().await.is_some() });
        tx.try_send(Outbound::Close).unwrap();
        assert!(waiting.await.unwrap());
        // The receiver is gone with the task: the outbox is closed.
        assert_eq!(tx.try_send(Outbound::Close), Err(Refused::Closed));
    }
}
