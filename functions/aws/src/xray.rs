//! X-Ray subsegments for what a function calls: DynamoDB, S3, API
//! Gateway's Management API, Secrets Manager (an SDK interceptor on each
//! client) and the third party (`HttpProcessor`). Sent as UDP datagrams to
//! the X-Ray daemon Lambda runs beside the function
//! (`AWS_XRAY_DAEMON_ADDRESS`), under the invocation's trace
//! (`_X_AMZN_TRACE_ID`, set by the runtime per invocation), only when the
//! trace is sampled. Nowhere else (the local stack) does anything happen.

use std::net::{SocketAddr, UdpSocket};
use std::sync::OnceLock;
use std::time::SystemTime;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::{json, Value};

/// The daemon, once looked up: `None` where there is none.
static DAEMON: OnceLock<Option<(UdpSocket, SocketAddr)>> = OnceLock::new();

fn daemon() -> Option<&'static (UdpSocket, SocketAddr)> {
    DAEMON
        .get_or_init(|| {
            // "host:port", or "udp:host:port tcp:host:port".
            let raw = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok()?;
            let udp = raw
                .split_whitespace()
                .find_map(|p| p.strip_prefix("udp:"))
                .unwrap_or(raw.split_whitespace().next()?);
            let addr: SocketAddr = udp.parse().ok()?;
            let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
            socket.set_nonblocking(true).ok()?;
            Some((socket, addr))
        })
        .as_ref()
}

/// The invocation's trace: its root and the function segment to hang
/// subsegments from, when sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub root: String,
    pub parent: String,
}

/// `Root=1-...;Parent=...;Sampled=1`, as Lambda hands it over.
pub fn parse_trace_header(header: &str) -> Option<Trace> {
    let field = |name: &str| {
        header
            .split(';')
            .find_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('='))
    };
    if field("Sampled") != Some("1") {
        return None;
    }
    Some(Trace {
        root: field("Root")?.to_owned(),
        parent: field("Parent")?.to_owned(),
    })
}

fn current_trace() -> Option<Trace> {
    parse_trace_header(&std::env::var("_X_AMZN_TRACE_ID").ok()?)
}

fn seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Sends one subsegment, `name` in `namespace` ("aws" or "remote"), from
/// `start` to now, with `fields` merged in (`aws`, `http`, ...). A 4xx is
/// an error, a 5xx or no answer a fault, as X-Ray reads them.
pub fn record(name: &str, namespace: &str, start: SystemTime, status: Option<u16>, fields: Value) {
    // The trace first: an unsampled call never looks the daemon up (and
    // never fixes it as absent before the environment names one).
    let Some(trace) = current_trace() else {
        return;
    };
    let Some((socket, addr)) = daemon() else {
        return;
    };
    let mut doc = json!({
        "name": name,
        "id": format!("{:016x}", rand::random::<u64>()),
        "trace_id": trace.root,
        "parent_id": trace.parent,
        "type": "subsegment",
        "namespace": namespace,
        "start_time": seconds(start),
        "end_time": seconds(SystemTime::now()),
    });
    if let (Some(map), Value::Object(extra)) = (doc.as_object_mut(), fields) {
        map.extend(extra);
    }
    match status {
        Some(s) => {
            doc["http"]["response"]["status"] = json!(s);
            if (400..500).contains(&s) {
                doc["error"] = json!(true);
                if s == 429 {
                    doc["throttle"] = json!(true);
                }
            } else if s >= 500 {
                doc["fault"] = json!(true);
            }
        }
        None => doc["fault"] = json!(true),
    }
    let datagram = format!("{{\"format\": \"json\", \"version\": 1}}\n{doc}");
    // Fire and forget: tracing never slows or fails a call.
    let _ = socket.send_to(datagram.as_bytes(), addr);
}

/// When an SDK operation began.
#[derive(Debug, Clone)]
struct Started(SystemTime);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

/// An SDK interceptor: one subsegment per operation (retries included),
/// named after the service, with the operation and the final status.
#[derive(Debug, Default)]
pub struct XRayInterceptor;

impl Intercept for XRayInterceptor {
    fn name(&self) -> &'static str {
        "XRayInterceptor"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(Started(SystemTime::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Started(start)) = cfg.load::<Started>().cloned() else {
            return Ok(());
        };
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_default();
        let status = context.response().map(|r| r.status().as_u16());
        record(
            &service,
            "aws",
            start,
            status,
            json!({"aws": {"operation": operation}}),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sampled_trace_is_followed() {
        let t = parse_trace_header(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        );
        assert_eq!(
            t,
            Some(Trace {
                root: "1-5759e988-bd862e3fe1be46a994272793".into(),
                parent: "53995c3f42cd8ad8".into()
            })
        );
        assert_eq!(parse_trace_header("Root=1-a;Parent=b;Sampled=0"), None);
        assert_eq!(parse_trace_header("Root=1-a;Sampled=1"), None);
        assert_eq!(parse_trace_header(""), None);
    }
}
