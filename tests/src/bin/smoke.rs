//! `boomerang-smoke`: checks a running Boomerang end to end, as a user
//! would meet it: a socket opens with the token, a file is uploaded, its
//! result arrives on the socket, and reads back over HTTP.
//!
//! ```sh
//! boomerang-smoke --api https://... --ws wss://.../prod --token <JWT>
//! ```
//!
//! `make smoke STACK=<name>` finds the URLs in the stack's outputs and
//! mints the token from its secret (tools/stack.py). Exit status 0 when
//! every step passed; otherwise 1, with the step that failed.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

struct Args {
    api: String,
    ws: String,
    token: String,
    timeout: Duration,
}

fn args() -> Result<Args, String> {
    let mut api = None;
    let mut ws = None;
    let mut token = std::env::var("BOOMERANG_SMOKE_TOKEN").ok();
    let mut timeout = Duration::from_secs(120);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--api" => api = Some(value()?),
            "--ws" => ws = Some(value()?),
            "--token" => token = Some(value()?),
            "--timeout-secs" => {
                let secs = value()?
                    .parse()
                    .map_err(|_| "--timeout-secs takes seconds")?;
                timeout = Duration::from_secs(secs);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        api: api
            .ok_or("--api is required")?
            .trim_end_matches('/')
            .to_owned(),
        ws: ws
            .ok_or("--ws is required")?
            .trim_end_matches('/')
            .to_owned(),
        token: token.ok_or("--token (or BOOMERANG_SMOKE_TOKEN) is required")?,
        timeout,
    })
}

const USAGE: &str =
    "usage: boomerang-smoke --api <HttpApiUrl> --ws <WebSocketUrl> --token <JWT> [--timeout-secs 120]";

#[tokio::main]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    match smoke(&args).await {
        Ok(()) => println!("smoke test passed"),
        Err(step) => {
            println!("smoke test failed: {step}");
            std::process::exit(1);
        }
    }
}

async fn smoke(a: &Args) -> Result<(), String> {
    let started = Instant::now();
    let deadline = started + a.timeout;
    // 1. The socket opens with the token (never printed).
    let url = format!("{}?token={}", a.ws, a.token);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| {
        format!(
            "the WebSocket did not open: {}",
            without_token(&e.to_string(), &a.token)
        )
    })?;
    println!("ok: WebSocket open ({} ms)", started.elapsed().as_millis());
    // A ping is answered (on AWS by the ping route, no Lambda).
    ws.send(Message::text(r#"{"action":"ping"}"#))
        .await
        .map_err(|e| format!("sending a ping: {e}"))?;
    let pong = next_json(&mut ws, deadline).await?;
    if pong["type"] != "pong" {
        return Err(format!("a ping was answered {pong}"));
    }
    println!("ok: ping answered pong");

    // 2. A file is uploaded.
    let http = reqwest::Client::new();
    let body = format!(
        "boomerang smoke test {}\nsecond line\n",
        uuid::Uuid::new_v4()
    );
    let part = reqwest::multipart::Part::bytes(body.clone().into_bytes())
        .file_name("smoke.txt")
        .mime_str("text/plain")
        .map_err(|e| e.to_string())?;
    let res = http
        .post(format!("{}/uploads", a.api))
        .bearer_auth(&a.token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .map_err(|e| format!("POST /uploads: {e}"))?;
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    if status != 202 {
        return Err(format!("POST /uploads answered {status}: {answer}"));
    }
    let id = answer["job"]["id"].as_str().unwrap_or_default().to_owned();
    println!("ok: uploaded, job {id}");

    // 3. Its result arrives on the socket.
    let result = loop {
        let event = next_json(&mut ws, deadline).await?;
        if event["job"]["id"] != id.as_str() {
            continue;
        }
        match event["type"].as_str() {
            Some("job.completed") => break event["job"]["result"].clone(),
            Some("job.failed") => return Err(format!("the job failed: {}", event["job"]["error"])),
            _ => println!("ok: {} (seq {})", event["type"], event["seq"]),
        }
    };
    println!(
        "ok: result on the socket {} ms after the upload began",
        started.elapsed().as_millis()
    );
    // 4. And reads back whole.
    let res = http
        .get(format!("{}/jobs/{id}", a.api))
        .bearer_auth(&a.token)
        .send()
        .await
        .map_err(|e| format!("GET /jobs/{{id}}: {e}"))?;
    let job: Value = res
        .json()
        .await
        .map_err(|e| format!("GET /jobs/{{id}}: {e}"))?;
    if job["job"]["status"] != "completed" || (!result.is_null() && job["job"]["result"] != result)
    {
        return Err(format!("GET /jobs/{{id}} disagrees with the push: {job}"));
    }
    println!("ok: GET /jobs/{{id}} has the result");
    let _ = ws.close(None).await;
    Ok(())
}

/// The next JSON text message, before `deadline`.
async fn next_json<S>(ws: &mut S, deadline: Instant) -> Result<Value, String>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .map_err(|_| "nothing arrived on the socket in time".to_owned())?;
        match msg {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(&t).map_err(|_| format!("not JSON on the socket: {t}"))
            }
            Some(Ok(Message::Close(frame))) => return Err(format!("the socket closed: {frame:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("the socket failed: {e}")),
            None => return Err("the socket closed".into()),
        }
    }
}

/// An error's text with the token taken out (a URL in it would carry it).
fn without_token(text: &str, token: &str) -> String {
    text.replace(token, "<token>")
}
