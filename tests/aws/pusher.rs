//! `ApiGatewayPusher` (the AWS SDK's Management API client) against the
//! local gateway's `@connections` API, and against a peer that throttles.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use boomerang_aws::{ApiGatewayPusher, PUSH_ATTEMPTS};
use boomerang_core::ports::{PushError, Pusher};
use boomerang_core::ConnectionId;
use boomerang_e2e::moto::sdk_config_for;
use boomerang_e2e::{spawn_app, TestApp};

/// The ids of `user`'s stored connections.
async fn connection_ids(app: &TestApp, user: &str) -> Vec<ConnectionId> {
    app.connection_ids(user)
        .await
        .into_iter()
        .map(|id| ConnectionId::parse(id).unwrap())
        .collect()
}

async fn pusher_for(app: &TestApp) -> ApiGatewayPusher {
    let endpoint = format!("{}/local", app.stack.http_url());
    ApiGatewayPusher::new(&sdk_config_for(&endpoint).await, &endpoint)
}

#[tokio::test]
async fn a_post_reaches_exactly_its_tab_and_an_unknown_connection_is_gone() {
    // GIVEN two tabs of alice's
    let app = spawn_app().await;
    let mut first = app.tab("alice").await;
    let mut second = app.tab("alice").await;
    let ids = connection_ids(&app, "alice").await;
    assert_eq!(ids.len(), 2);
    let pusher = pusher_for(&app).await;

    // WHEN the SDK posts a different message to each
    for (n, id) in ids.iter().enumerate() {
        let message = serde_json::json!({ "type": "hello", "to": n }).to_string();
        pusher.push(id, &message).await.unwrap();
    }

    // THEN each tab gets one message, and they are the two different ones
    let a = first.expect("hello").await["to"].as_u64().unwrap();
    let b = second.expect("hello").await["to"].as_u64().unwrap();
    let mut got = [a, b];
    got.sort();
    assert_eq!(got, [0, 1]);
    first.assert_nothing_pending().await;
    second.assert_nothing_pending().await;

    // AND a connection the gateway never had is 410 GoneException
    let unknown = ConnectionId::parse("bm9zdWNodGFiMTIz").unwrap();
    assert!(matches!(
        pusher.push(&unknown, "{}").await,
        Err(PushError::Gone)
    ));
}

#[tokio::test]
async fn close_ends_a_connection_with_delete_connection_and_a_gone_one_is_fine() {
    // GIVEN a tab of alice's
    let app = spawn_app().await;
    let tab = app.tab("alice").await;
    let id = connection_ids(&app, "alice").await.remove(0);
    let pusher = pusher_for(&app).await;
    // WHEN the SDK closes it (what the fan-out does past a token's expiry)
    pusher.close(&id).await.unwrap();
    // THEN the tab is closed, going away, as API Gateway closes it
    assert_eq!(tab.closed_with().await, Some(1001));
    // AND closing it again, or one never seen, is no error
    pusher.close(&id).await.unwrap();
    let unknown = ConnectionId::parse("bm9zdWNodGFiMTIz").unwrap();
    pusher.close(&unknown).await.unwrap();
}

#[tokio::test]
async fn get_describes_a_connection_and_delete_closes_it_like_api_gateway() {
    let app = spawn_app().await;
    let tab = app.tab("alice").await;
    let id = connection_ids(&app, "alice").await.remove(0);
    let url = |prefix: &str| format!("{}{prefix}/@connections/{id}", app.stack.http_url());

    let info = app.http.get(url("/local")).send().await.unwrap();
    assert_eq!(info.status(), 200);
    let info: serde_json::Value = info.json().await.unwrap();
    assert!(info["ConnectedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(info["Identity"]["SourceIp"], "127.0.0.1");

    // Another stage is not this API's.
    let wrong = app.http.get(url("/prod")).send().await.unwrap();
    assert_eq!(wrong.status(), 403);

    // A message over 128 KB is refused, and the tab stays.
    let big = app
        .http
        .post(url(""))
        .body("x".repeat(128 * 1024 + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    assert_eq!(
        big.headers()["x-amzn-errortype"],
        "PayloadTooLargeException"
    );

    let deleted = app.http.delete(url("")).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(tab.closed_with().await, Some(1001));

    let gone = app
        .http
        .post(url("/local"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    assert_eq!(gone.headers()["x-amzn-errortype"], "GoneException");
}

/// A Management API that throttles the first `throttled` posts, counting
/// every post it gets.
async fn throttling_peer(throttled: u32) -> (String, Arc<AtomicU32>) {
    let posts = Arc::new(AtomicU32::new(0));
    let counter = posts.clone();
    let router = axum::Router::new().route(
        "/{stage}/@connections/{id}",
        axum::routing::post(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n <= throttled {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("x-amzn-ErrorType", "LimitExceededException")],
                        r#"{"message":"Rate exceeded"}"#,
                    )
                        .into_response()
                } else {
                    StatusCode::OK.into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/prod", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, posts)
}

#[tokio::test]
async fn a_throttled_post_is_retried_until_it_goes_through() {
    let (endpoint, posts) = throttling_peer(2).await;
    let pusher = ApiGatewayPusher::new(&sdk_config_for(&endpoint).await, &endpoint);
    let conn = ConnectionId::parse("c29tZXRhYjEyMzQ1").unwrap();
    pusher.push(&conn, "{}").await.unwrap();
    assert_eq!(posts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_post_throttled_every_time_fails_after_the_last_attempt_without_being_gone() {
    let (endpoint, posts) = throttling_peer(u32::MAX).await;
    let pusher = ApiGatewayPusher::new(&sdk_config_for(&endpoint).await, &endpoint);
    let conn = ConnectionId::parse("c29tZXRhYjEyMzQ1").unwrap();
    let err = pusher.push(&conn, "{}").await.unwrap_err();
    assert!(matches!(err, PushError::Throttled), "{err:?}");
    assert_eq!(posts.load(Ordering::SeqCst), PUSH_ATTEMPTS);
}
