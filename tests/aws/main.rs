//! The AWS side over real wire protocols: the adapters against moto, the
//! pusher against the local gateway's Management API and a throttling peer,
//! and the calls a connect and a webhook make, counted.

mod adapters;
mod calls;
mod conformance;
mod cost;
mod event_log;
mod pusher;

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use boomerang_e2e::moto::sdk_config_for;
use boomerang_e2e::{FakeThirdParty, Mode, Moto, TestApp};

/// The local stack on the aws backend, its AWS calls going through
/// `proxy` (a router in front of `moto`), its files to a silent third
/// party.
async fn stack_through(proxy: axum::Router, moto: Arc<Moto>) -> (TestApp, FakeThirdParty) {
    stack_through_to(proxy, moto, Mode::Silent).await
}

/// As [`stack_through`], its files to a third party that behaves as `mode`.
async fn stack_through_to(
    proxy: axum::Router,
    moto: Arc<Moto>,
    mode: Mode,
) -> (TestApp, FakeThirdParty) {
    stack_through_to_with(proxy, moto, mode, |_| {}).await
}

/// [`stack_through_to`], configured further by `configure`.
async fn stack_through_to_with(
    proxy: axum::Router,
    moto: Arc<Moto>,
    mode: Mode,
    configure: impl FnOnce(&mut boomerang_local::Config),
) -> (TestApp, FakeThirdParty) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, proxy).await });
    let tp = FakeThirdParty::start(mode).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = boomerang_local::Config::with_data_dir(dir.path());
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.backend = boomerang_local::Backend::Aws;
    config.create_resources = true;
    config.shared.third_party_url = Some(tp.url());
    configure(&mut config);
    let stack =
        boomerang_local::Stack::start_with_sdk(config, Some(sdk_config_for(&proxy_url).await))
            .await
            .expect("stack starts");
    let app = TestApp {
        stack,
        http: reqwest::Client::new(),
        dir,
        moto: Some(moto),
    };
    (app, tp)
}

/// Passes a request on to moto as it came, and its answer back.
async fn pass_on(
    http: &reqwest::Client,
    moto: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let mut req = http.request(
        method,
        format!("{moto}{}", uri.path_and_query().map_or("/", |x| x.as_str())),
    );
    for (k, v) in headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let r = req.body(body).send().await.unwrap();
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
    let mut out = HeaderMap::new();
    for (k, v) in r.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            out.insert(k.clone(), v.clone());
        }
    }
    (status, out, r.bytes().await.unwrap())
}
