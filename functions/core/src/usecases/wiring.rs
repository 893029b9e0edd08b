//! The one composition root: how each use case is built from its ports.
//! Every door builds use cases through [`Wiring`]: [`crate::App::new`]
//! (the local stack and the tests, over [`Ports`] it has built whole) and
//! each Lambda (over a source that builds, once, only the adapters the
//! use cases it serves take, and says which variable is missing).

use std::sync::Arc;

use crate::auth::Keys;
use crate::ports::{
    Clock, ConnectionStore, EventLog, FileStore, IdempotencyKeys, JobStore, Processor, Pusher,
    UploadQuota,
};
use crate::Limits;

use super::{Connections, Idempotency, Ports, Queries, Sweeper, Uploads, Webhooks};

/// Where a door's adapters come from. Each is built at most once per
/// process (a source memoises what it builds), and only when a use case
/// that takes it is built.
pub trait Adapters: Send + Sync {
    /// Why an adapter could not be built (a missing variable).
    type Error;
    fn connection_store(&self) -> Result<Arc<dyn ConnectionStore>, Self::Error>;
    fn job_store(&self) -> Result<Arc<dyn JobStore>, Self::Error>;
    fn event_log(&self) -> Result<Arc<dyn EventLog>, Self::Error>;
    fn file_store(&self) -> Result<Arc<dyn FileStore>, Self::Error>;
    fn idempotency_keys(&self) -> Result<Arc<dyn IdempotencyKeys>, Self::Error>;
    fn upload_quota(&self) -> Result<Arc<dyn UploadQuota>, Self::Error>;
    fn pusher(&self) -> Result<Arc<dyn Pusher>, Self::Error>;
    fn clock(&self) -> Arc<dyn Clock>;
    /// The limits, [`Limits::checked`].
    fn limits(&self) -> &Limits;
}

/// Every adapter built already, and the limits: nothing is missing.
pub(super) struct Built {
    pub ports: Ports,
    pub limits: Limits,
}

impl Adapters for Built {
    type Error = std::convert::Infallible;
    fn connection_store(&self) -> Result<Arc<dyn ConnectionStore>, Self::Error> {
        Ok(self.ports.connections.clone())
    }
    fn job_store(&self) -> Result<Arc<dyn JobStore>, Self::Error> {
        Ok(self.ports.jobs.clone())
    }
    fn event_log(&self) -> Result<Arc<dyn EventLog>, Self::Error> {
        Ok(self.ports.events.clone())
    }
    fn file_store(&self) -> Result<Arc<dyn FileStore>, Self::Error> {
        Ok(self.ports.files.clone())
    }
    fn idempotency_keys(&self) -> Result<Arc<dyn IdempotencyKeys>, Self::Error> {
        Ok(self.ports.idempotency.clone())
    }
    fn upload_quota(&self) -> Result<Arc<dyn UploadQuota>, Self::Error> {
        Ok(self.ports.quota.clone())
    }
    fn pusher(&self) -> Result<Arc<dyn Pusher>, Self::Error> {
        Ok(self.ports.pusher.clone())
    }
    fn clock(&self) -> Arc<dyn Clock> {
        self.ports.clock.clone()
    }
    fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// Builds use cases from a source of adapters: the one way each is wired.
pub struct Wiring<'a, A: Adapters>(pub &'a A);

impl<A: Adapters> Wiring<'_, A> {
    /// Who is connected (`$connect`, `$disconnect`), and the fan-out.
    pub fn connections(&self) -> Result<Connections, A::Error> {
        let a = self.0;
        let (store, pusher) = (a.connection_store()?, a.pusher()?);
        Ok(Connections::new(store, pusher, a.clock(), a.limits()))
    }

    /// What a tab reads.
    pub fn queries(&self) -> Result<Queries, A::Error> {
        let a = self.0;
        let (jobs, events) = (a.job_store()?, a.event_log()?);
        Ok(Queries::new(jobs, events, a.clock(), a.limits()))
    }

    /// Uploads, handed over by `processor`, whose results come back to
    /// `callback_url`.
    pub fn uploads(
        &self,
        processor: Arc<dyn Processor>,
        callback_url: String,
    ) -> Result<Uploads, A::Error> {
        let a = self.0;
        let (jobs, files, connections) = (a.job_store()?, a.file_store()?, self.connections()?);
        let (quota, clock, limits) = (a.upload_quota()?, a.clock(), a.limits());
        Ok(Uploads {
            jobs,
            files,
            quota,
            processor,
            connections,
            clock,
            callback_url,
            limits: limits.clone(),
        })
    }

    /// Requests under an `Idempotency-Key`.
    pub fn idempotency(&self) -> Result<Idempotency, A::Error> {
        let a = self.0;
        let (keys, jobs) = (a.idempotency_keys()?, a.job_store()?);
        Ok(Idempotency::new(keys, jobs, a.clock()))
    }

    /// The third party's results, verified with `keys`.
    pub fn webhooks(&self, keys: Option<Keys>) -> Result<Webhooks, A::Error> {
        let a = self.0;
        let (jobs, connections) = (a.job_store()?, self.connections()?);
        Ok(Webhooks::new(
            jobs,
            connections,
            a.clock(),
            keys,
            a.limits(),
        ))
    }

    /// The sweep.
    pub fn sweeper(&self) -> Result<Sweeper, A::Error> {
        let a = self.0;
        let (jobs, connections) = (a.job_store()?, self.connections()?);
        Ok(Sweeper::new(jobs, connections, a.clock(), a.limits()))
    }
}
