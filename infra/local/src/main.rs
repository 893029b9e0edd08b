//! `boomerang-local`: start the local stack, print where it is, run until
//! SIGINT or SIGTERM, then stop cleanly.

use boomerang_local::{Backend, Config, Stack};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// How long the printed sample token lives.
const SAMPLE_TOKEN_HOURS: i64 = 12;
/// A stop never takes longer than this, whatever clients do: every write
/// that was acknowledged is already on disk, so nothing is lost by going.
const STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    // Before anything is opened: silent sockets must not run it out.
    boomerang_local::descriptors::raise_soft_limit();
    let stack = match Stack::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("boomerang-local: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let token = match stack.token(&stack.config.dev_user, SAMPLE_TOKEN_HOURS) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("boomerang-local: BOOMERANG_DEV_USER: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let sim = match stack.simulator_addr {
        Some(_) => format!(
            "{} (simulated, {} ms)",
            stack.third_party_url, stack.config.sim_delay_ms
        ),
        None => stack.third_party_url.clone(),
    };
    println!("Boomerang local stack");
    println!("  demo page    {}/", stack.http_url());
    println!("  HTTP API     {}", stack.http_url());
    println!("  WebSocket    {}?token=<token>", stack.ws_url());
    println!("  webhook      {}", stack.callback_url);
    println!("  third party  {sim}");
    let c = &stack.config;
    match c.backend {
        Backend::Embedded => println!("  storage      embedded (SQLite and files)"),
        Backend::Aws => println!(
            "  storage      aws: tables {}-*, bucket {}, pushes via {}/local/@connections",
            c.table_prefix,
            c.bucket,
            stack.http_url()
        ),
    }
    println!("  data folder  {}", c.data_dir.display());
    if stack.addr.ip().is_loopback() {
        println!("  dev only     POST /dev/token and /@connections/*, for localhost only");
        println!(
            "  dev token for {:?} ({SAMPLE_TOKEN_HOURS} h):",
            stack.config.dev_user
        );
        println!("    {token}");
    } else {
        println!(
            "  WARNING      listening on {}, not loopback: /dev/token and the Management API \
             (/@connections) are not served; bring your own tokens",
            stack.addr
        );
    }
    println!("ready: {}", stack.http_url());

    wait_for_signal().await;
    eprintln!("boomerang-local: stopping");
    if tokio::time::timeout(STOP_DEADLINE, stack.stop())
        .await
        .is_err()
    {
        eprintln!(
            "boomerang-local: clients still busy after {} s; exiting anyway",
            STOP_DEADLINE.as_secs()
        );
    }
    std::process::ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
