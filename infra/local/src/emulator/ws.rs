//! The WebSocket side: upgrade → `$connect`, text → `$default`,
//! close → `$disconnect`, with the fields API Gateway fills in.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use boomerang_core::{auth, ConnectionId};
use boomerang_handlers::ws as handlers;
use chrono::{DateTime, Utc};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use rand::RngCore;
use serde_json::{json, Value};
use tokio::time::{timeout, Instant};
use tracing::{debug, warn};

use super::http::{headers_json, query_json};
use super::outbox;
use super::outbox::Outbound;
use super::pusher::{SocketInfo, OUTBOX};
use super::{Gateway, WS_MAX_FRAME_BYTES, WS_MAX_MESSAGE_BYTES};

/// A socket's read buffer to start with; tabs send pings of a few bytes.
const WS_READ_BUFFER_BYTES: usize = 1024;

/// Close code API Gateway uses when it ends a connection (idle, too old).
const GOING_AWAY: u16 = 1001;
/// RFC 6455: a message larger than the endpoint takes.
const MESSAGE_TOO_BIG: u16 = 1009;
/// How long the close handshake may take once we end a connection: a
/// client that does not read never blocks a shutdown for longer.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn upgrade(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => return json_status(426, "expected a WebSocket upgrade"),
    };
    let id = new_connection_id();
    let connected_at = Utc::now();
    // Registered before `$connect` runs, so a push that races the handshake
    // waits in the outbox instead of finding the connection gone.
    let (tx, rx) = outbox::outbox(OUTBOX);
    let info = SocketInfo {
        connected_at,
        last_active_at: connected_at,
        source_ip: peer.ip().to_string(),
        user_agent: header(&headers, "user-agent"),
    };
    gw.registry.insert(id.clone(), tx, info);

    let mut ctx = context(&gw, &id, "$connect", "CONNECT", connected_at);
    ctx["identity"] =
        json!({"sourceIp": peer.ip().to_string(), "userAgent": header(&headers, "user-agent")});
    let event = json!({
        "headers": headers_json(&headers),
        "multiValueHeaders": {},
        "queryStringParameters": query_json(query.as_deref()),
        "requestContext": ctx,
        "isBase64Encoded": false,
    });
    let answer = handlers::connect(&gw.app.auth, &gw.app.connections, parse(event)).await;
    if !(200..300).contains(&answer.status_code) {
        gw.registry.remove(&id);
        return refuse(answer);
    }
    // $connect verified the token: the socket lives no longer than it.
    let token_expiry = query
        .as_deref()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|t| auth::unverified_expiry(&t));

    let gw_failed = gw.clone();
    let id_failed = id.clone();
    ws.max_message_size(WS_MAX_MESSAGE_BYTES)
        .max_frame_size(WS_MAX_FRAME_BYTES)
        // Small buffers per socket, grown as a message needs: an idle tab
        // holds almost nothing (tungstenite's defaults are 128 KiB each).
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_failed_upgrade(move |e| {
            warn!(connection = %id_failed, error = %e, "upgrade failed after $connect");
            let gw = gw_failed.clone();
            tokio::spawn(async move {
                disconnect(&gw, &id_failed, connected_at, 1006, "upgrade failed").await
            });
        })
        .on_upgrade(move |socket| {
            let tracker = gw.sockets.clone();
            tracker.track_future(run(gw, socket, id, connected_at, rx, token_expiry))
        })
}

type Sink = SplitSink<WebSocket, Message>;

/// Sends one message, or gives up after the write deadline: a tab that
/// stopped reading never holds its socket task (and so the idle, age and
/// shutdown checks) hostage.
async fn send_within(
    sink: &mut Sink,
    message: Message,
    deadline: Duration,
) -> Result<(), &'static str> {
    match timeout(deadline, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("send failed"),
        Err(_) => Err("write stalled"),
    }
}

/// One socket's life, until the tab, the limits or a shutdown close it.
async fn run(
    gw: Arc<Gateway>,
    socket: WebSocket,
    id: ConnectionId,
    connected_at: DateTime<Utc>,
    rx: outbox::Receiver,
    token_expiry: Option<DateTime<Utc>>,
) {
    let (mut sink, mut stream) = socket.split();
    let started = Instant::now();
    let mut last_heard = Instant::now();
    let age_deadline = started + gw.max_connection_age;
    // A token past its exp ends the socket; never later than the 2 hours.
    let token_deadline = token_expiry.map_or(age_deadline, |exp| {
        let left = (exp - Utc::now()).to_std().unwrap_or_default();
        (started + left).min(age_deadline)
    });
    let write = gw.write_timeout;
    let (code, reason): (u16, &str) = loop {
        let idle_deadline = last_heard + gw.idle_timeout;
        tokio::select! {
            out = rx.recv() => match out {
                Ok(Outbound::Text(text)) => {
                    if let Err(why) = send_within(&mut sink, Message::Text(text.into()), write).await {
                        break (GOING_AWAY, why);
                    }
                }
                Ok(Outbound::Close) => break (GOING_AWAY, "closed by DeleteConnection"),
                Err(outbox::Overflowed) => break (GOING_AWAY, "not keeping up"),
            },
            incoming = stream.next() => {
                last_heard = Instant::now();
                gw.registry.touch(&id);
                let (body, base64) = match incoming {
                    Some(Ok(Message::Text(t))) => (t.to_string(), false),
                    Some(Ok(Message::Binary(b))) => (base64::engine::general_purpose::STANDARD.encode(&b), true),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(frame))) => break (frame.map_or(1005, |f| f.code), "client closed"),
                    // A message over 128 KB: API Gateway drops those connections too;
                    // the tab is told why (1009, message too big).
                    // (axum hides tungstenite's error type; its text says which.
                    // tests/e2e/bad_input.rs notices if that ever changes.)
                    Some(Err(e)) if e.to_string().contains("too long") => break (MESSAGE_TOO_BIG, "message over 128 KB"),
                    Some(Err(e)) => { debug!(connection = %id, error = %e, "socket error"); break (1006, "socket error") }
                    None => break (1006, "socket closed"),
                };
                // The `ping` route: a mock integration on AWS, answered here
                // as API Gateway answers it, with no handler behind it.
                if !base64 && route_key(&body) == "ping" {
                    if let Err(why) = send_within(&mut sink, Message::Text(PING_ROUTE_RESPONSE.into()), write).await {
                        break (GOING_AWAY, why);
                    }
                    continue;
                }
                let mut ctx = context(&gw, &id, "$default", "MESSAGE", connected_at);
                ctx["messageId"] = json!(uuid::Uuid::new_v4().simple().to_string());
                let event = json!({"requestContext": ctx, "body": body, "isBase64Encoded": base64});
                let answer = handlers::default(parse(event));
                // A two-way route: the handler's body goes back to this tab.
                if let Some(aws_lambda_events::encodings::Body::Text(reply)) = answer.body {
                    if let Err(why) = send_within(&mut sink, Message::Text(reply.into()), write).await {
                        break (GOING_AWAY, why);
                    }
                }
            }
            _ = tokio::time::sleep_until(idle_deadline) => break (GOING_AWAY, "idle timeout"),
            _ = tokio::time::sleep_until(age_deadline) => break (GOING_AWAY, "maximum connection duration"),
            _ = tokio::time::sleep_until(token_deadline) => break (GOING_AWAY, "token expired"),
            _ = gw.shutdown.cancelled() => break (GOING_AWAY, "server shutting down"),
        }
    };
    // The registry forgets it first: pushes from now on answer gone.
    gw.registry.remove(&id);
    if code == GOING_AWAY || code == MESSAGE_TOO_BIG {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = timeout(CLOSE_TIMEOUT, sink.send(frame)).await;
    }
    let _ = timeout(CLOSE_TIMEOUT, sink.close()).await;
    Box::pin(disconnect(&gw, &id, connected_at, code, reason)).await;
}

/// What template.yaml's `ping` route answers (its mock integration's
/// response template), word for word.
pub const PING_ROUTE_RESPONSE: &str = r#"{"type": "pong"}"#;

/// The route API Gateway picks for a message: `$request.body.action`
/// when the body is a JSON object whose `action` names a route of ours,
/// else `$default`.
pub fn route_key(body: &str) -> &'static str {
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("action").and_then(Value::as_str) == Some("ping") => "ping",
        _ => "$default",
    }
}

async fn disconnect(
    gw: &Gateway,
    id: &ConnectionId,
    connected_at: DateTime<Utc>,
    code: u16,
    reason: &str,
) {
    gw.registry.remove(id);
    if gw.disconnect_drop_ratio > 0.0 && rand::random::<f64>() < gw.disconnect_drop_ratio {
        debug!(connection = %id, "$disconnect dropped (BOOMERANG_DROP_DISCONNECT)");
        return;
    }
    let mut ctx = context(gw, id, "$disconnect", "DISCONNECT", connected_at);
    ctx["disconnectStatusCode"] = json!(code);
    ctx["disconnectReason"] = json!(reason);
    let event = json!({"requestContext": ctx, "isBase64Encoded": false});
    handlers::disconnect(&gw.app.connections, parse(event)).await;
}

/// `requestContext`, as API Gateway fills it for every WebSocket route.
fn context(
    gw: &Gateway,
    id: &ConnectionId,
    route: &str,
    kind: &str,
    connected_at: DateTime<Utc>,
) -> Value {
    let now = Utc::now();
    json!({
        "routeKey": route,
        "eventType": kind,
        "messageDirection": "IN",
        "connectionId": id.as_str(),
        "connectedAt": connected_at.timestamp_millis(),
        "requestTimeEpoch": now.timestamp_millis(),
        "requestTime": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "requestId": uuid::Uuid::new_v4().to_string(),
        "extendedRequestId": uuid::Uuid::new_v4().to_string(),
        "domainName": gw.domain_name,
        "stage": gw.stage,
        "apiId": "local",
        "identity": {"sourceIp": "127.0.0.1"},
    })
}

fn parse(event: Value) -> ApiGatewayWebsocketProxyRequest {
    // Built above from a fixed shape; a failure is a bug in this file.
    serde_json::from_value(event).expect("the gateway builds well-formed WebSocket events")
}

/// A 12-byte random id in base64, the shape API Gateway's ids have.
fn new_connection_id() -> ConnectionId {
    let mut b = [0u8; 12];
    rand::rng().fill_bytes(&mut b);
    let s = base64::engine::general_purpose::URL_SAFE.encode(b);
    ConnectionId::parse(s).expect("base64 ids are valid connection ids")
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A refused `$connect`: the handler's status and body instead of 101.
fn refuse(answer: ApiGatewayProxyResponse) -> Response {
    let status = StatusCode::from_u16(answer.status_code as u16)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match answer.body {
        Some(aws_lambda_events::encodings::Body::Text(s)) => s,
        _ => String::new(),
    };
    (status, [("content-type", "application/json")], body).into_response()
}

fn json_status(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(json!({"error": message}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_takes_the_ping_route_and_anything_else_the_default_one() {
        assert_eq!(route_key(r#"{"action":"ping"}"#), "ping");
        assert_eq!(route_key(r#"{"action":"ping","extra":1}"#), "ping");
        for other in [r#"{"action":"pong"}"#, r#"{"action":1}"#, "ping", "", "[]"] {
            assert_eq!(route_key(other), "$default", "{other}");
        }
    }

    #[test]
    fn the_local_ping_answer_is_the_templates_mock_response() {
        let template: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(crate::emulator::provision::TEMPLATE).expect("template.yaml");
        let answer = &template["Resources"]["WsPingIntegrationResponse"]["Properties"]
            ["ResponseTemplates"]["$default"];
        assert_eq!(answer.as_str(), Some(PING_ROUTE_RESPONSE));
    }
}
