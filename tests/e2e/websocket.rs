//! The WebSocket door: who may connect, and what a tab may say.

use boomerang_e2e::sign::{jwt, jwt_raw};
use boomerang_e2e::spawn_app;
use boomerang_e2e::*;
use tokio_tungstenite::tungstenite::Error as WsError;

fn refused_status(r: Result<boomerang_e2e::Tab, WsError>) -> u16 {
    match r {
        Err(WsError::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected the upgrade to be refused"),
    }
}

#[tokio::test]
async fn an_upgrade_without_a_valid_token_is_refused_with_401() {
    let app = spawn_app().await;
    let now = chrono::Utc::now().timestamp();
    let key = app.jwt_secret().to_vec();
    let none = format!(
        "{}.{}.",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"alg":"none"}"#
        ),
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!(r#"{{"sub":"alice","exp":{}}}"#, now + 60)
        ),
    );
    let bad = [
        String::new(),
        "garbage".to_owned(),
        jwt("alice", now - 1, &key),
        jwt("alice", now + 60, b"someone else's key"),
        jwt_raw(
            r#"{"alg":"HS512"}"#,
            &format!(r#"{{"sub":"alice","exp":{}}}"#, now + 60),
            &key,
        ),
        jwt_raw(r#"{"alg":"HS256"}"#, r#"{"sub":"alice"}"#, &key),
        jwt(&"a".repeat(129), now + 60, &key),
        none,
    ];
    for token in bad {
        assert_eq!(
            refused_status(app.tab_with_token(&token).await),
            401,
            "token {token:?}"
        );
    }
    // Without ?token= at all.
    let plain = tokio_tungstenite::connect_async(app.stack.ws_url()).await;
    match plain {
        Err(WsError::Http(res)) => assert_eq!(res.status(), 401),
        _ => panic!("expected 401"),
    }
    assert_eq!(app.stack.open_sockets(), 0);
}

#[tokio::test]
async fn ping_is_answered_pong_and_anything_else_an_error_on_an_open_socket() {
    let app = spawn_app().await;
    let mut tab = app.tab("alice").await;
    tab.send(r#"{"action":"ping"}"#).await;
    assert_eq!(tab.next().await, serde_json::json!({"type": "pong"}));
    for junk in ["hello", r#"{"action":"subscribe"}"#, "{}"] {
        tab.send(junk).await;
        let v = tab.next().await;
        assert_eq!(v["type"], "error", "{junk}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    // Still open.
    tab.assert_nothing_pending().await;
}

#[tokio::test]
async fn an_idle_socket_is_closed_going_away_as_api_gateway_does() {
    let app = boomerang_e2e::spawn_app_with(|c| c.ws_idle_timeout_secs = 1).await;
    let tab = app.tab("alice").await;
    assert_eq!(tab.closed_with().await, Some(1001));
}

#[tokio::test]
async fn a_tab_whose_disconnect_never_came_is_forgotten_on_the_first_push_that_gets_410() {
    // GIVEN a gateway that drops `$disconnect` (API Gateway only tries to
    // deliver it), and two tabs of alice's
    let app = boomerang_e2e::spawn_app_with(|c| c.drop_disconnect = true).await;
    let closing = app.tab("alice").await;
    let mut staying = app.tab("alice").await;
    let both = app.connection_ids("alice").await;
    assert_eq!(both.len(), 2);

    // WHEN one tab closes, its row stays behind
    closing.close().await;
    boomerang_e2e::eventually("the gateway lets go of the closed socket", || async {
        app.stack.open_sockets() == 1
    })
    .await;
    assert_eq!(app.connection_ids("alice").await, both);
    let mut live = Vec::new();
    for id in &both {
        if app.gateway_status(id).await == 200 {
            live.push(id.clone());
        }
    }
    assert_eq!(live.len(), 1);

    // AND a job of alice's completes
    boomerang_e2e::json_of(app.upload("alice", "a.txt", b"hello").await, 202).await;

    // THEN the open tab gets every event, and the 410 deleted exactly the
    // closed tab's row
    staying.until_end("job.completed").await;
    boomerang_e2e::eventually("the closed tab's row is deleted", || async {
        app.connection_ids("alice").await == live
    })
    .await;
}

#[tokio::test]
async fn a_socket_is_closed_when_its_token_expires() {
    // GIVEN alice's tab, connected with a token that expires in 2 seconds
    let app = spawn_app().await;
    let exp = chrono::Utc::now().timestamp() + 2;
    let token = sign::jwt("alice", exp, app.jwt_secret());
    let tab = app.tab_with_token(&token).await.expect("tab connects");
    // WHEN the token expires, THEN the gateway closes the socket (going away)
    assert_eq!(tab.closed_with().await, Some(1001));
    // AND the connection is forgotten: pushes no longer reach it
    eventually("the expired connection is forgotten", || async {
        app.connection_ids("alice").await.is_empty()
    })
    .await;
}
