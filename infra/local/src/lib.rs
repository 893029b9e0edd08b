//! `boomerang-local`: the whole Boomerang system on one machine.
//!
//! An API Gateway emulator around the same handlers the Lambdas run, with
//! SQLite and the data folder for storage, and a simulated third party on
//! its own loopback port. [`Stack::start`] is what `main.rs` and the
//! end-to-end tests both call.

pub mod config;
pub mod files;
pub mod gateway;
pub mod metrics;
pub mod private;
pub mod provision;
pub mod s3_events;
pub mod secrets;
pub mod simulator;
pub mod sqlite;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use boomerang_aws::tables::Tables;
use boomerang_aws::Deployment;
use boomerang_core::auth::{self, Keys};
use boomerang_core::ports::Processor;
use boomerang_core::ports::SystemClock;
use boomerang_core::{webhook, App, Limits, Ports, Settings, Sweeper, Uploads, UserId};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub use config::{Backend, Config};
use gateway::{Gateway, GatewayPusher, Registry};
use simulator::{Simulator, SimulatorPort};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data folder {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running local stack.
pub struct Stack {
    /// Where the HTTP API and `/ws` listen.
    pub addr: SocketAddr,
    /// The simulated third party's address, when it runs.
    pub simulator_addr: Option<SocketAddr>,
    /// The third party's URL as it may be shown: no userinfo, no query.
    pub third_party_url: String,
    /// Where `BOOMERANG_METRICS_ADDR` serves `/metrics`, when it is set.
    pub metrics_addr: Option<SocketAddr>,
    /// The loopback listener serving the Management API alone, when the
    /// main one is not on loopback (aws backend).
    pub internal_addr: Option<SocketAddr>,
    pub callback_url: String,
    pub app: App,
    /// Who is connected, as the fan-out sees it (for tests).
    pub connections: Arc<dyn boomerang_core::ports::ConnectionStore>,
    /// The current HS256 token key, for a client that signs its own.
    pub jwt_secret: boomerang_core::auth::Secret,
    /// The webhook secret in its `whsec_` form, for a third party to sign with.
    pub webhook_secret: String,
    pub config: Config,
    shutdown: CancellationToken,
    sim_shutdown: CancellationToken,
    simulator: Option<Simulator>,
    server: tokio::task::JoinHandle<()>,
    sockets: TaskTracker,
    /// Stored uploads being handed to the third party.
    work: TaskTracker,
    /// The reader of S3's events (aws backend with resources of its own):
    /// its stop, and its task.
    s3_events: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
    registry: Registry,
}

impl Stack {
    /// Starts the stack; with the aws backend, the SDK configuration comes
    /// from the environment (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials).
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let sdk = match config.backend {
            Backend::Embedded => None,
            Backend::Aws => {
                Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
            }
        };
        Self::start_with_sdk(config, sdk).await
    }

    /// Starts the stack; `sdk` is what the aws backend talks to.
    pub async fn start_with_sdk(
        config: Config,
        sdk: Option<aws_config::SdkConfig>,
    ) -> Result<Self, StartError> {
        let data_dir = config.data_dir.clone();
        let dir_err = |source| StartError::DataDir {
            path: data_dir.display().to_string(),
            source,
        };
        private::dir(&data_dir).map_err(dir_err)?;
        private::dir(&data_dir.join("files")).map_err(dir_err)?;

        let jwt_secret =
            secrets::jwt_secret(config.jwt_secret.as_ref().map(|s| s.expose()), &data_dir)
                .map_err(StartError::Config)?;
        let (webhook_key, webhook_secret) = secrets::webhook_secret(
            config.webhook_secret.as_ref().map(|s| s.expose()),
            &data_dir,
        )
        .map_err(StartError::Config)?;
        let jwt_previous = config
            .jwt_secret_previous
            .as_ref()
            .map(|s| auth::secret_from_config("BOOMERANG_JWT_SECRET_PREVIOUS", s.expose()))
            .transpose()
            .map_err(StartError::Config)?;
        let webhook_previous = config
            .webhook_secret_previous
            .as_ref()
            .map(|s| {
                webhook::parse_secret(s.expose())
                    .map_err(|e| format!("BOOMERANG_WEBHOOK_SECRET_PREVIOUS: {e}"))
            })
            .transpose()
            .map_err(StartError::Config)?;

        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.addr,
            source,
        })?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let callback_url = format!("{}/webhooks/third-party", public_url.trim_end_matches('/'));

        let sim_shutdown = CancellationToken::new();
        let sim_error = |source| StartError::Listen {
            addr: "127.0.0.1:0".parse().expect("literal"),
            source,
        };
        // The simulator's port now, its serving once the storage exists.
        let sim_port = match &config.shared.third_party_url {
            Some(_) => None,
            None => Some(SimulatorPort::bind().await.map_err(sim_error)?),
        };
        let third_party_url = match (&config.shared.third_party_url, &sim_port) {
            (Some(url), _) => url.clone(),
            (None, Some(port)) => port.url().map_err(sim_error)?,
            (None, None) => unreachable!("the simulator runs when no third party is configured"),
        };
        let mut processor =
            boomerang_http::HttpProcessor::new(&third_party_url).map_err(StartError::Config)?;
        if let Some(auth) = &config.third_party_auth {
            processor = processor
                .with_authorization(auth.expose())
                .map_err(|e| StartError::Config(format!("BOOMERANG_THIRD_PARTY_AUTH: {e}")))?;
        }
        let third_party_url = processor.shown_url();

        let registry = Registry::default();
        let stage = "local";
        let processor: Arc<dyn Processor> = Arc::new(processor);
        // Development endpoints only when nothing but this machine can
        // reach the listener.
        let loopback = addr.ip().is_loopback();
        let shutdown = CancellationToken::new();
        // The aws backend pushes through the Management API; when the public
        // listener does not serve it, a loopback one of our own does.
        let internal = match (config.backend, loopback) {
            (Backend::Aws, false) => Some(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|source| StartError::Listen {
                        addr: "127.0.0.1:0".parse().expect("literal"),
                        source,
                    })?,
            ),
            _ => None,
        };
        let management_addr = match &internal {
            Some(l) => l
                .local_addr()
                .map_err(|source| StartError::Listen { addr, source })?,
            None => addr,
        };
        // Embedded, the stack stores files itself, and serves the signed
        // PUT URLs it hands out (on AWS, S3 does both).
        let disk = match config.backend {
            Backend::Embedded => Some(files::DiskFileStore::new(
                data_dir.join("files"),
                files::UploadSigner::new(&jwt_secret, &public_url),
            )),
            Backend::Aws => None,
        };
        let limits = Limits {
            submit_backoff: Duration::from_millis(config.third_party_backoff_ms),
            max_connection_age: Duration::from_secs(config.ws_max_connection_secs),
            ..config.shared.limits()
        }
        .checked();
        // With the aws backend and resources of its own: the queue S3's
        // events reach through EventBridge (see `s3_events`).
        let mut s3_events_queue = None;
        // Where the demo page is served from, and, with an AWS endpoint of
        // its own (moto), that endpoint: the page PUTs large files there.
        let page_origins = vec![
            format!("http://{addr}"),
            public_url.trim_end_matches('/').to_owned(),
        ];
        let storage_origin = sdk
            .as_ref()
            .and_then(|s| s.endpoint_url())
            .and_then(|u| gateway::web::demo_origin(u).ok());
        let mut ports = match (&disk, sdk) {
            (Some(disk), _) => {
                embedded_ports(&data_dir, registry.clone(), processor, disk.clone()).await?
            }
            (None, sdk) => {
                let sdk = sdk.ok_or_else(|| {
                    StartError::Config("the aws backend needs an SDK configuration".into())
                })?;
                let deployment = Deployment {
                    tables: Tables::with_prefix(&config.table_prefix),
                    bucket: config.bucket.clone(),
                    // This gateway serves the Management API itself.
                    connections_endpoint: format!(
                        "http://127.0.0.1:{}/{stage}",
                        management_addr.port()
                    ),
                    event_retention: limits.event_retention,
                    job_retention: limits.job_retention,
                };
                if config.create_resources {
                    provision::create_resources(&sdk, &deployment)
                        .await
                        .map_err(StartError::Config)?;
                    let name = format!("{}-stored", config.table_prefix);
                    let url = s3_events::create(&sdk, &deployment.bucket, &name, &name)
                        .await
                        .map_err(StartError::Config)?;
                    // The demo page PUTs large files straight to the bucket.
                    provision::allow_page_uploads(&sdk, &deployment.bucket, &page_origins)
                        .await
                        .map_err(StartError::Config)?;
                    s3_events_queue = Some((sdk.clone(), url));
                }
                deployment.ports(&sdk, processor, Arc::new(SystemClock))
            }
        };
        // Both backends: the figures are this process's, served at /metrics.
        metrics::recorder();
        let issuer = boomerang_http::jwks::identity_provider(
            config.shared.jwt_issuer.as_deref().unwrap_or_default(),
            config.shared.jwt_audience.as_deref(),
            config.shared.jwks_url.as_deref(),
        )
        .map_err(StartError::Config)?
        .map(|(issuer, keys)| {
            ports.issuer_keys = Some(keys);
            issuer
        });
        let settings = Settings {
            issuer,
            jwt_secret: Some(Keys::new(jwt_secret.clone(), jwt_previous)),
            webhook_secret: Some(Keys::new(webhook_key.clone(), webhook_previous)),
            callback_url: callback_url.clone(),
            limits,
        };
        let simulator = match sim_port {
            Some(port) => Some(
                Simulator::start(
                    port,
                    ports.jobs.clone(),
                    webhook_key.clone(),
                    Duration::from_millis(config.sim_delay_ms),
                    callback_url.clone(),
                    sim_shutdown.clone(),
                )
                .await
                .map_err(sim_error)?,
            ),
            None => None,
        };
        let sweep_interval = settings.limits.sweep_interval();
        let connections = ports.connections.clone();
        let app = App::new(ports, settings);

        // Deadlines and retention: the sweep, on a timer (on AWS, an
        // EventBridge schedule runs the sweep Lambda).
        tokio::spawn(sweep_every(
            app.sweeper.clone(),
            sweep_interval,
            shutdown.clone(),
        ));

        let sockets = TaskTracker::new();
        let work = TaskTracker::new();
        // S3's events stop coming before the hand-overs they started are
        // waited for (see `stop`).
        let s3_events = s3_events_queue.map(|(sdk, queue)| {
            let stop = CancellationToken::new();
            let uploads = app.uploads.clone();
            let reader = s3_events::deliver(sdk, queue, uploads, work.clone(), stop.clone());
            (stop, tokio::spawn(reader))
        });
        // Files stored just before a crash, whose hand-over never ran: S3
        // would have sent their event; here they are found again.
        if let Some(disk) = &disk {
            hand_over_stored(&app.uploads, disk, &work).await;
        }
        let mut demo_origins = config
            .demo_origins
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| gateway::web::demo_origin(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StartError::Config(format!("BOOMERANG_DEMO_ORIGINS: {e}")))?;
        demo_origins.extend(storage_origin);
        let gw = Arc::new(Gateway {
            csp: gateway::web::content_security_policy(&demo_origins),
            app: app.clone(),
            registry: registry.clone(),
            domain_name: addr.to_string(),
            stage: stage.into(),
            idle_timeout: Duration::from_secs(config.ws_idle_timeout_secs),
            max_connection_age: Duration::from_secs(config.ws_max_connection_secs),
            write_timeout: Duration::from_millis(config.ws_write_timeout_ms),
            body_timeout: Duration::from_millis(config.http_body_timeout_ms),
            dev_endpoints: loopback,
            disconnect_drop_ratio: if config.drop_disconnect {
                1.0
            } else {
                config.drop_disconnect_ratio
            },
            shutdown: shutdown.clone(),
            sockets: sockets.clone(),
            files: disk,
            work: work.clone(),
        });
        let serve_limits = gateway::ServeLimits {
            max_connections: config.max_http_connections,
            header_read_timeout: Duration::from_millis(config.http_header_timeout_ms),
            body_stall: Duration::from_millis(config.http_body_timeout_ms),
        };
        let metrics_addr = match config.metrics_addr {
            Some(at) => {
                let listener = tokio::net::TcpListener::bind(at)
                    .await
                    .map_err(|source| StartError::Listen { addr: at, source })?;
                let bound = listener
                    .local_addr()
                    .map_err(|source| StartError::Listen { addr: at, source })?;
                let router = gateway::metrics_only(gw.clone());
                tokio::spawn(gateway::serve(
                    listener,
                    router,
                    serve_limits,
                    shutdown.clone(),
                ));
                Some(bound)
            }
            None => None,
        };
        let internal_addr = internal.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(internal) = internal {
            let router = gateway::internal_management(gw.clone());
            tokio::spawn(gateway::serve(
                internal,
                router,
                serve_limits,
                shutdown.clone(),
            ));
        }
        let server = tokio::spawn(gateway::serve(
            listener,
            gateway::router(gw),
            serve_limits,
            shutdown.clone(),
        ));
        info!(%addr, third_party = %third_party_url, backend = ?config.backend, "local stack started");
        Ok(Self {
            addr,
            simulator_addr: simulator.as_ref().map(|s| s.addr),
            third_party_url,
            metrics_addr,
            internal_addr,
            callback_url,
            app,
            connections,
            jwt_secret,
            webhook_secret,
            config,
            shutdown,
            sim_shutdown,
            simulator,
            server,
            sockets,
            work,
            s3_events,
            registry,
        })
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A token for `user`, valid for `hours`.
    pub fn token(&self, user: &str, hours: i64) -> Result<String, boomerang_core::Error> {
        let user = UserId::parse(user)?;
        let exp = self.app.auth.now() + chrono::Duration::hours(hours);
        (self.app.auth.issue_token(&user, exp))
            .ok_or_else(|| boomerang_core::Error::Unauthorized("no HS256 key is set".into()))
    }

    /// Sockets open right now.
    pub fn open_sockets(&self) -> usize {
        self.registry.len()
    }

    /// A clean stop: the simulator delivers what it owes while the API is
    /// still up, then sockets are closed (each gets its `$disconnect`) and
    /// in-flight requests finish. Nothing acknowledged is lost: every write
    /// was committed before its answer was sent.
    pub async fn stop(self) {
        // Stored uploads still being handed over finish first, while the
        // simulator still takes files.
        if let Some((stop, reader)) = self.s3_events {
            stop.cancel();
            let _ = reader.await;
        }
        self.work.close();
        self.work.wait().await;
        self.sim_shutdown.cancel();
        if let Some(sim) = self.simulator {
            sim.stopped().await;
        }
        self.shutdown.cancel();
        let _ = self.server.await;
        self.sockets.close();
        self.sockets.wait().await;
        info!("local stack stopped");
    }
}

/// SQLite and the data folder, pushing straight into the gateway's sockets.
async fn embedded_ports(
    data_dir: &std::path::Path,
    registry: Registry,
    processor: Arc<dyn Processor>,
    files: files::DiskFileStore,
) -> Result<Ports, StartError> {
    let db = sqlite::Db::open(&data_dir.join("boomerang.sqlite3"))?;
    let connections = sqlite::SqliteConnectionStore::new(db.clone());
    // No socket survives a restart; their rows would only ever 410.
    connections
        .clear()
        .await
        .map_err(|e| StartError::Config(e.to_string()))?;
    Ok(Ports {
        connections: Arc::new(connections),
        jobs: Arc::new(sqlite::SqliteJobStore::new(db.clone()).with_files(files.clone())),
        events: Arc::new(sqlite::SqliteEventLog::new(db.clone())),
        idempotency: Arc::new(sqlite::SqliteIdempotencyKeys::new(db.clone())),
        files: Arc::new(files),
        pusher: Arc::new(GatewayPusher::new(registry)),
        processor,
        clock: Arc::new(SystemClock),
        issuer_keys: None,
    })
}

/// Hands over every upload still `uploading` whose bytes are stored: the
/// stack stopped between storing them and handing them over.
async fn hand_over_stored(uploads: &Uploads, disk: &files::DiskFileStore, work: &TaskTracker) {
    let jobs = match uploads.uploads_waiting(10_000).await {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for stored uploads to hand over");
            return;
        }
    };
    for job in jobs {
        let Some(size) = disk.stored_size(&job.file_key).await else {
            continue;
        };
        info!(job_id = %job.id, size, "a stored upload was not handed over before the stop; handing it over");
        let event =
            boomerang_handlers::submit::object_created("local", &job.file_key, size, "127.0.0.1");
        let uploads = uploads.clone();
        work.spawn(async move {
            if let Err(e) = boomerang_handlers::submit::handle(&uploads, event).await {
                tracing::warn!(error = %e, "handing a stored upload over failed; the sweep will fail its job");
            }
        });
    }
}

/// Runs the sweep every `interval` until `stop`, the first one interval
/// after start. A failed sweep is logged and tried again at the next tick:
/// what it missed is still due.
async fn sweep_every(sweeper: Sweeper, interval: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = sweeper.sweep().await {
                    tracing::warn!(error = %e, "sweep failed; trying again at the next tick");
                }
            }
        }
    }
}
