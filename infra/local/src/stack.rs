//! [`Stack`]: the whole of Boomerang on one machine, started in steps
//! (its keys, its listeners, the third party, its storage, what runs in
//! the background, the gateway) and stopped cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use boomerang_aws::tables::Tables;
use boomerang_aws::Deployment;
use boomerang_core::auth::{self, Keys, Secret};
use boomerang_core::ports::{Processor, SystemClock};
use boomerang_core::{webhook, App, Limits, Ports, Settings, Sweeper, UserId};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::{Backend, Config};
use crate::embedded::{self, files::DiskFileStore, Retention};
use crate::emulator::{
    self, provision, s3_events, Gateway, GatewayPusher, Registry, ServeLimits, WAITING_PER_SLOT,
};
use crate::simulator::Simulator;
use crate::{descriptors, metrics, private, secrets};

/// The gateway's stage: the first segment of the Management API's path.
const STAGE: &str = "local";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data folder {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A token or webhook key: malformed, or its file unreadable.
    #[error("{0}")]
    Key(String),
    /// A configured value the stack cannot use (it names the variable).
    #[error("{0}")]
    Setting(String),
    /// The aws backend's tables, bucket or event route could not be made.
    #[error("creating the aws resources: {0}")]
    Provision(String),
    /// The aws backend was asked for with no SDK configuration.
    #[error("the aws backend needs an SDK configuration")]
    NoSdk,
    /// The store refused a start-up write.
    #[error("storage: {0}")]
    Storage(#[from] boomerang_core::Error),
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
    pub jwt_secret: Secret,
    /// The webhook secret in its `whsec_` form, for a third party to sign with.
    pub webhook_secret: String,
    /// What the stack's hand-overs carry as `Authorization`.
    pub hand_over_authorization: Option<Secret>,
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

/// The step "keys": the token and webhook keys, from the configuration or
/// generated once per data folder.
struct StackKeys {
    jwt: Secret,
    jwt_previous: Option<Secret>,
    webhook: Secret,
    /// `webhook` in its `whsec_` form.
    webhook_text: String,
    webhook_previous: Option<Secret>,
}

fn expose(s: &Option<crate::config::SecretString>) -> Option<&str> {
    s.as_ref().map(|s| s.expose())
}

impl StackKeys {
    fn load(config: &Config) -> Result<Self, StartError> {
        let data_dir = &config.data_dir;
        let dir_err = |source| StartError::DataDir {
            path: data_dir.display().to_string(),
            source,
        };
        private::dir(data_dir).map_err(dir_err)?;
        private::dir(&data_dir.join("files")).map_err(dir_err)?;
        let jwt =
            secrets::jwt_secret(expose(&config.jwt_secret), data_dir).map_err(StartError::Key)?;
        let (webhook, webhook_text) =
            secrets::webhook_secret(expose(&config.webhook_secret), data_dir)
                .map_err(StartError::Key)?;
        let jwt_previous = expose(&config.jwt_secret_previous)
            .map(|s| auth::secret_from_config("BOOMERANG_JWT_SECRET_PREVIOUS", s))
            .transpose()
            .map_err(StartError::Key)?;
        let webhook_previous = expose(&config.webhook_secret_previous)
            .map(|s| {
                webhook::parse_secret(s)
                    .map_err(|e| format!("BOOMERANG_WEBHOOK_SECRET_PREVIOUS: {e}"))
            })
            .transpose()
            .map_err(StartError::Key)?;
        Ok(Self {
            jwt,
            jwt_previous,
            webhook,
            webhook_text,
            webhook_previous,
        })
    }
}

/// The step "listeners": every port the stack serves, bound before anything
/// needs their addresses.
struct Listeners {
    main: TcpListener,
    addr: SocketAddr,
    /// The aws backend pushes through the Management API; when the main
    /// listener is not on loopback (so does not serve it), this one does.
    internal: Option<TcpListener>,
    /// Where the Management API is reached.
    management_addr: SocketAddr,
    metrics: Option<TcpListener>,
    public_url: String,
    callback_url: String,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let listen = |source| StartError::Listen { addr, source };
    TcpListener::bind(addr).await.map_err(listen)
}

fn local_addr(l: &TcpListener) -> Result<SocketAddr, StartError> {
    let addr = "0.0.0.0:0".parse().expect("literal");
    l.local_addr()
        .map_err(|source| StartError::Listen { addr, source })
}

impl Listeners {
    async fn bind(config: &Config) -> Result<Self, StartError> {
        let main = bind(config.addr).await?;
        let addr = local_addr(&main)?;
        let internal = match (config.backend, addr.ip().is_loopback()) {
            (Backend::Aws, false) => Some(bind("127.0.0.1:0".parse().expect("literal")).await?),
            _ => None,
        };
        let management_addr = match &internal {
            Some(l) => local_addr(l)?,
            None => addr,
        };
        let metrics = match config.metrics_addr {
            Some(at) => Some(bind(at).await?),
            None => None,
        };
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let callback_url = format!("{}/webhooks/third-party", public_url.trim_end_matches('/'));
        Ok(Self {
            main,
            addr,
            internal,
            management_addr,
            metrics,
            public_url,
            callback_url,
        })
    }

    /// Development endpoints only when nothing but this machine can reach
    /// the listener.
    fn loopback(&self) -> bool {
        self.addr.ip().is_loopback()
    }
}

/// The step "third party": the configured one, or the simulated one on a
/// loopback port of its own, and the processor that hands files to it.
struct ThirdParty {
    processor: Arc<dyn Processor>,
    shown_url: String,
    simulator: Option<Simulator>,
    stop: CancellationToken,
    authorization: Option<Secret>,
}

impl ThirdParty {
    async fn start(
        config: &Config,
        keys: &StackKeys,
        doors: &Listeners,
    ) -> Result<Self, StartError> {
        let stop = CancellationToken::new();
        let configured = config.third_party_auth.as_ref();
        let authorization = match (&config.shared.third_party_url, configured) {
            (_, Some(auth)) => Some(Secret::new(auth.expose())),
            (Some(_), None) => None,
            (None, None) => Some(secrets::hand_over_key()),
        };
        let simulator = match &config.shared.third_party_url {
            Some(_) => None,
            None => Some(
                Simulator::start(
                    authorization
                        .clone()
                        .expect("the simulator's key is made above"),
                    keys.webhook.clone(),
                    Duration::from_millis(config.sim_delay_ms),
                    doors.callback_url.clone(),
                    stop.clone(),
                )
                .await
                .map_err(|source| StartError::Listen {
                    addr: "127.0.0.1:0".parse().expect("literal"),
                    source,
                })?,
            ),
        };
        let url = match (&config.shared.third_party_url, &simulator) {
            (Some(url), _) => url.clone(),
            (None, Some(sim)) => sim.url(),
            (None, None) => unreachable!("the simulator runs when no third party is configured"),
        };
        let mut processor =
            boomerang_http::HttpProcessor::new(&url).map_err(StartError::Setting)?;
        if let Some(auth) = &authorization {
            let auth = std::str::from_utf8(auth.expose()).unwrap_or_default();
            processor = processor
                .with_authorization(auth)
                .map_err(|e| StartError::Setting(format!("BOOMERANG_THIRD_PARTY_AUTH: {e}")))?;
        }
        Ok(Self {
            shown_url: processor.shown_url(),
            processor: Arc::new(processor),
            simulator,
            stop,
            authorization,
        })
    }
}

/// The step "storage": the embedded one, or the AWS adapters on `sdk`:
/// their ports, and what else the other steps need of them.
struct Storage {
    /// Embedded: the files, and their retention.
    disk: Option<DiskFileStore>,
    retention: Option<Retention>,
    /// The aws backend with resources of its own: the SDK, and the queue
    /// S3's events reach through EventBridge (see `s3_events`).
    s3_events: Option<(aws_config::SdkConfig, String)>,
    /// An AWS endpoint of its own (moto), which the demo page PUTs to.
    storage_origin: Option<String>,
}

impl Storage {
    async fn build(
        config: &Config,
        sdk: Option<aws_config::SdkConfig>,
        keys: &StackKeys,
        doors: &Listeners,
        processor: Arc<dyn Processor>,
        limits: &Limits,
        registry: &Registry,
    ) -> Result<(Ports, Self), StartError> {
        if config.backend == Backend::Embedded {
            let disk = DiskFileStore::new(
                config.data_dir.join("files"),
                embedded::files::UploadSigner::new(&keys.jwt, &doors.public_url),
            );
            let dir = &config.data_dir;
            let pusher = Arc::new(GatewayPusher::new(registry.clone()));
            let built = embedded::storage(dir, pusher, processor, disk.clone(), limits).await?;
            let storage = Self {
                disk: Some(disk),
                retention: Some(built.retention),
                s3_events: None,
                storage_origin: None,
            };
            return Ok((built.ports, storage));
        }
        let sdk = sdk.ok_or(StartError::NoSdk)?;
        let storage_origin = sdk
            .endpoint_url()
            .and_then(|u| emulator::web::demo_origin(u).ok());
        let deployment = Deployment {
            tables: Tables::with_prefix(&config.table_prefix),
            bucket: config.bucket.clone(),
            // This gateway serves the Management API itself.
            connections_endpoint: format!(
                "http://127.0.0.1:{}/{STAGE}",
                doors.management_addr.port()
            ),
            event_retention: limits.event_retention,
            job_retention: limits.job_retention,
        };
        let s3_events = match config.create_resources {
            true => Some((
                sdk.clone(),
                provision_all(config, &sdk, &deployment, doors).await?,
            )),
            false => None,
        };
        let ports = deployment.ports(&sdk, processor, Arc::new(SystemClock));
        let storage = Self {
            disk: None,
            retention: None,
            s3_events,
            storage_origin,
        };
        Ok((ports, storage))
    }
}

/// Creates the tables, the bucket and the route of S3's events as the
/// template does; the queue's URL.
async fn provision_all(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    deployment: &Deployment,
    doors: &Listeners,
) -> Result<String, StartError> {
    provision::create_resources(sdk, deployment)
        .await
        .map_err(StartError::Provision)?;
    let name = format!("{}-stored", config.table_prefix);
    let url = s3_events::create(sdk, &deployment.bucket, &name, &name)
        .await
        .map_err(StartError::Provision)?;
    // The demo page PUTs large files straight to the bucket.
    let page_origins = vec![
        format!("http://{}", doors.addr),
        doors.public_url.trim_end_matches('/').to_owned(),
    ];
    provision::allow_page_uploads(sdk, &deployment.bucket, &page_origins)
        .await
        .map_err(StartError::Provision)?;
    Ok(url)
}

/// The configuration both doors share, and the local one's own figures.
fn limits(config: &Config) -> Limits {
    Limits {
        submit_backoff: Duration::from_millis(config.third_party_backoff_ms),
        max_connection_age: Duration::from_secs(config.ws_max_connection_secs),
        ..config.shared.limits()
    }
    .checked()
}

/// The step "app": the use cases on the ports, with the keys and an
/// identity provider if one is configured.
fn app(
    config: &Config,
    mut ports: Ports,
    keys: &StackKeys,
    doors: &Listeners,
    limits: Limits,
) -> Result<App, StartError> {
    let shared = &config.shared;
    let issuer = boomerang_http::jwks::identity_provider(
        shared.jwt_issuer.as_deref().unwrap_or_default(),
        shared.jwt_audience.as_deref(),
        shared.jwks_url.as_deref(),
    )
    .map_err(StartError::Setting)?
    .map(|(issuer, keys)| {
        ports.issuer_keys = Some(keys);
        issuer
    });
    let settings = Settings {
        issuer,
        jwt_secret: Some(Keys::new(keys.jwt.clone(), keys.jwt_previous.clone())),
        webhook_secret: Some(Keys::new(
            keys.webhook.clone(),
            keys.webhook_previous.clone(),
        )),
        callback_url: doors.callback_url.clone(),
        limits,
    };
    Ok(App::new(ports, settings))
}

/// The step "background": what AWS runs on its own schedule or on an
/// event (the sweep, TTL, S3's event on a stored file).
struct Background {
    work: TaskTracker,
    s3_events: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

impl Background {
    async fn start(
        app: &App,
        storage: &mut Storage,
        interval: Duration,
        shutdown: &CancellationToken,
    ) -> Self {
        // On AWS, an EventBridge schedule runs the sweep Lambda.
        tokio::spawn(sweep_every(app.sweeper.clone(), interval, shutdown.clone()));
        if let Some(retention) = storage.retention.take() {
            tokio::spawn(retention.run(shutdown.clone()));
        }
        let work = TaskTracker::new();
        // S3's events stop coming before the hand-overs they started are
        // waited for (see `Stack::stop`).
        let s3_events = storage.s3_events.take().map(|(sdk, queue)| {
            let stop = CancellationToken::new();
            let uploads = app.uploads.clone();
            let reader = s3_events::deliver(sdk, queue, uploads, work.clone(), stop.clone());
            (stop, tokio::spawn(reader))
        });
        // Files stored just before a crash, whose hand-over never ran: S3
        // would have sent their event; here they are found again.
        if let Some(disk) = &storage.disk {
            embedded::hand_over_stored(&app.uploads, disk, &work).await;
        }
        Self { work, s3_events }
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

/// The step "gateway": what API Gateway would be, on each listener.
struct Served {
    server: tokio::task::JoinHandle<()>,
    metrics_addr: Option<SocketAddr>,
    internal_addr: Option<SocketAddr>,
    sockets: TaskTracker,
}

fn serve(
    config: &Config,
    doors: Listeners,
    gw: Gateway,
    shutdown: &CancellationToken,
) -> Result<Served, StartError> {
    let gw = Arc::new(gw);
    let (served, max_waiting) = client_slots(config.max_http_connections);
    let limits = ServeLimits {
        max_connections: served,
        max_waiting,
        header_read_timeout: Duration::from_millis(config.http_header_timeout_ms),
        body_timeout: Duration::from_millis(config.http_body_timeout_ms),
    };
    let spawn = |listener, router| {
        tokio::spawn(emulator::serve(listener, router, limits, shutdown.clone()))
    };
    let metrics_addr = doors.metrics.as_ref().map(local_addr).transpose()?;
    if let Some(listener) = doors.metrics {
        spawn(listener, emulator::metrics_only(gw.clone()));
    }
    let internal_addr = doors.internal.as_ref().map(local_addr).transpose()?;
    if let Some(listener) = doors.internal {
        spawn(listener, emulator::internal_management(gw.clone()));
    }
    let sockets = gw.sockets.clone();
    let server = spawn(doors.main, emulator::router(gw));
    Ok(Served {
        server,
        metrics_addr,
        internal_addr,
        sockets,
    })
}

/// Connections served and waiting at most, within the open-file limit:
/// half of what it leaves for clients each (upgraded sockets use the
/// served half's files too).
fn client_slots(configured: usize) -> (usize, usize) {
    let limit = descriptors::limit();
    let half = (descriptors::for_clients(limit) / 2).max(1);
    let served = configured.clamp(1, half);
    if served < configured {
        warn!(
            configured,
            served,
            open_file_limit = limit,
            "BOOMERANG_MAX_HTTP_CONNECTIONS does not fit the open-file limit; serving fewer"
        );
    }
    (served, (served * WAITING_PER_SLOT).min(half))
}

/// The gateway's settings: the socket limits API Gateway has, the demo
/// page's origins, and the stores it serves for S3 (embedded).
fn gateway(
    config: &Config,
    app: &App,
    doors: &Listeners,
    storage: &Storage,
    work: &TaskTracker,
    shutdown: &CancellationToken,
    registry: &Registry,
) -> Result<Gateway, StartError> {
    let mut demo_origins = config
        .demo_origins
        .iter()
        .filter(|o| !o.trim().is_empty())
        .map(|o| emulator::web::demo_origin(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StartError::Setting(format!("BOOMERANG_DEMO_ORIGINS: {e}")))?;
    demo_origins.extend(storage.storage_origin.clone());
    Ok(Gateway {
        csp: emulator::web::content_security_policy(&demo_origins),
        app: app.clone(),
        registry: registry.clone(),
        domain_name: doors.addr.to_string(),
        stage: STAGE.into(),
        idle_timeout: Duration::from_secs(config.ws_idle_timeout_secs),
        max_connection_age: Duration::from_secs(config.ws_max_connection_secs),
        write_timeout: Duration::from_millis(config.ws_write_timeout_ms),
        body_timeout: Duration::from_millis(config.http_body_timeout_ms),
        dev_endpoints: doors.loopback(),
        disconnect_drop_ratio: match config.drop_disconnect {
            true => 1.0,
            false => config.drop_disconnect_ratio,
        },
        shutdown: shutdown.clone(),
        sockets: TaskTracker::new(),
        files: storage.disk.clone(),
        puts_in_flight: Default::default(),
        work: work.clone(),
    })
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

    /// Starts the stack, step by step; `sdk` is what the aws backend talks to.
    pub async fn start_with_sdk(
        config: Config,
        sdk: Option<aws_config::SdkConfig>,
    ) -> Result<Self, StartError> {
        let keys = StackKeys::load(&config)?;
        let doors = Listeners::bind(&config).await?;
        let third_party = ThirdParty::start(&config, &keys, &doors).await?;
        let limits = limits(&config);
        let registry = Registry::default();
        let processor = third_party.processor.clone();
        let (ports, mut storage) =
            Storage::build(&config, sdk, &keys, &doors, processor, &limits, &registry).await?;
        let connections = ports.connections.clone();
        // Both backends: the figures are this process's, served at /metrics.
        metrics::recorder();
        let sweep_interval = limits.sweep_interval();
        let app = app(&config, ports, &keys, &doors, limits)?;
        let shutdown = CancellationToken::new();
        let background = Background::start(&app, &mut storage, sweep_interval, &shutdown).await;
        let gw = gateway(
            &config,
            &app,
            &doors,
            &storage,
            &background.work,
            &shutdown,
            &registry,
        )?;
        let (addr, callback_url) = (doors.addr, doors.callback_url.clone());
        let served = serve(&config, doors, gw, &shutdown)?;
        info!(%addr, third_party = %third_party.shown_url, backend = ?config.backend, "local stack started");
        Ok(Self {
            addr,
            simulator_addr: third_party.simulator.as_ref().map(|s| s.addr),
            third_party_url: third_party.shown_url,
            metrics_addr: served.metrics_addr,
            internal_addr: served.internal_addr,
            callback_url,
            app,
            connections,
            jwt_secret: keys.jwt,
            webhook_secret: keys.webhook_text,
            hand_over_authorization: third_party.authorization,
            config,
            shutdown,
            sim_shutdown: third_party.stop,
            simulator: third_party.simulator,
            server: served.server,
            sockets: served.sockets,
            work: background.work,
            s3_events: background.s3_events,
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
            .ok_or_else(|| boomerang_core::Error::Unauthenticated("no HS256 key is set".into()))
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
