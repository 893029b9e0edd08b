//! The wall clock and tokio's timer behind the core's `Clock` port.

use std::time::Duration;

use async_trait::async_trait;
use boomerang_core::ports::Clock;
use chrono::{DateTime, Utc};

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
}
