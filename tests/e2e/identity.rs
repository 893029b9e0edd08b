//! Identity providers: RS256 and ES256 tokens from an issuer whose JWKS
//! this test serves itself (keys in tests/fixtures/keys), with each way a
//! token can be wrong refused with 401, on the socket and over HTTP.

use boomerang_e2e::idp::{fixture, Issuer, AUDIENCE};
use boomerang_e2e::{
    assert_error, eventually, json_of, spawn_app_with_third_party, FakeThirdParty, Mode, TestApp,
};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

/// A stack taking `issuer`'s tokens, with a third party that never calls
/// back: the only events are the ones each test causes.
async fn stack_for(issuer: &Issuer) -> (TestApp, FakeThirdParty) {
    let url = issuer.url.clone();
    spawn_app_with_third_party(Mode::Silent, |c| {
        c.shared.jwt_issuer = Some(url);
        c.shared.jwt_audience = Some(AUDIENCE.into());
    })
    .await
}

async fn jobs_status(app: &TestApp, token: &str) -> u16 {
    app.http
        .get(app.url("/jobs"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn rs256_and_es256_tokens_from_the_issuer_open_a_socket_and_upload() {
    // GIVEN an issuer serving an RSA and an EC key
    let issuer = Issuer::start(&["rsa-a", "ec-a"]).await;
    let (app, _tp) = stack_for(&issuer).await;
    for kid in ["rsa-a", "ec-a"] {
        let token = issuer.token(kid, json!({}));
        // WHEN alice opens a socket and uploads with the issuer's token
        let mut tab = app.tab_with_token(&token).await.expect("the socket opens");
        let part = reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("a.txt");
        let res = app
            .http
            .post(app.url("/uploads"))
            .bearer_auth(&token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap();
        let job = json_of(res, 202).await;
        // THEN her tab hears of her job
        let event = tab.expect("job.submitted").await;
        assert_eq!(event["job"]["id"], job["job"]["id"], "{kid}");
    }
    // AND the JWKS was fetched once for both keys
    assert_eq!(*issuer.fetches.lock().unwrap(), 1);
    // AND HS256 tokens with the stack's own secret still work locally
    assert_eq!(jobs_status(&app, &app.token("alice")).await, 200);
}

#[tokio::test]
async fn every_wrong_token_is_refused_with_401_on_the_socket_and_over_http() {
    let issuer = Issuer::start(&["rsa-a", "ec-a"]).await;
    let (app, _tp) = stack_for(&issuer).await;
    let now = chrono::Utc::now().timestamp();

    // Signed by a key the issuer does not publish, under a published kid.
    let forged = {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rsa-a".into());
        let claims = json!({"sub": "alice", "iss": issuer.url, "aud": AUDIENCE, "exp": now + 60});
        encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(&fixture("rsa-b.pem")).unwrap(),
        )
        .unwrap()
    };
    // HS256 with the issuer's public key as the "secret" (alg confusion).
    let confused = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-a".into());
        let claims = json!({"sub": "alice", "iss": issuer.url, "aud": AUDIENCE, "exp": now + 60});
        encode(
            &header,
            &claims,
            &EncodingKey::from_secret(&fixture("rsa-a.pub.pem")),
        )
        .unwrap()
    };
    // `alg: none`, unsigned.
    let none = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","kid":"rsa-a"}"#),
            b64.encode(
                json!({"sub": "alice", "iss": issuer.url, "aud": AUDIENCE, "exp": now + 60})
                    .to_string()
            )
        )
    };
    // ES256 header on an RSA kid: the key's kind decides, not the header.
    let mixed = {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("rsa-a".into());
        let claims = json!({"sub": "alice", "iss": issuer.url, "aud": AUDIENCE, "exp": now + 60});
        encode(
            &header,
            &claims,
            &EncodingKey::from_ec_pem(&fixture("ec-a.pem")).unwrap(),
        )
        .unwrap()
    };
    let cases = [
        (
            "a key the issuer does not publish",
            issuer.token("rsa-b", json!({})),
        ),
        ("forged under a published kid", forged),
        (
            "another issuer",
            issuer.token("rsa-a", json!({"iss": "https://evil.example"})),
        ),
        ("no issuer", issuer.token("rsa-a", json!({"iss": null}))),
        (
            "another audience",
            issuer.token("ec-a", json!({"aud": "someone-else"})),
        ),
        ("expired", issuer.token("rsa-a", json!({"exp": now - 1}))),
        ("no exp", issuer.token("rsa-a", json!({"exp": null}))),
        ("no sub", issuer.token("ec-a", json!({"sub": null}))),
        ("alg none", none),
        ("HS256 with the public key", confused),
        ("ES256 header on an RSA key", mixed),
    ];
    for (what, token) in cases {
        assert_eq!(jobs_status(&app, &token).await, 401, "{what} over HTTP");
        match app.tab_with_token(&token).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status(), 401, "{what} on the socket")
            }
            Err(e) => panic!("{what}: {e}"),
            Ok(_) => panic!("{what}: the socket opened"),
        }
    }
    // AND made-up kids did not make the stack fetch the JWKS each time
    assert!(*issuer.fetches.lock().unwrap() <= 2);
}

#[tokio::test]
async fn until_the_issuers_keys_are_fetched_tokens_get_503_and_it_is_asked_again_soon() {
    // GIVEN an issuer whose JWKS is broken when the stack first asks
    let issuer = Issuer::start(&["rsa-a"]).await;
    *issuer.jwks.lock().unwrap() = json!("not a key set");
    let (app, _tp) = stack_for(&issuer).await;
    let token = issuer.token("rsa-a", json!({}));
    // WHEN a token comes THEN it is 503 with Retry-After, not 401: the
    // client tries again instead of giving up on a good token
    let r = app.http.get(app.url("/jobs")).bearer_auth(&token);
    let r = r.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_error(r, 503).await;
    // AND once the issuer answers again, the same token is accepted
    // within seconds, not the minute an unknown kid waits
    issuer.serve(&["rsa-a"]);
    eventually("the token is accepted", || async {
        jobs_status(&app, &token).await == 200
    })
    .await;
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_at_most_once_a_minute() {
    // GIVEN a stack that has fetched the issuer's first key
    let issuer = Issuer::start(&["rsa-a"]).await;
    let (app, _tp) = stack_for(&issuer).await;
    assert_eq!(
        jobs_status(&app, &issuer.token("rsa-a", json!({}))).await,
        200
    );
    // WHEN the issuer rotates in a new key, and tokens under it and under
    // made-up kids arrive within the minute
    issuer.serve(&["rsa-a", "rsa-b"]);
    for kid in ["rsa-b", "made-up-1", "made-up-2"] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        let claims = json!({"sub": "alice", "iss": issuer.url, "aud": AUDIENCE,
                            "exp": chrono::Utc::now().timestamp() + 60});
        let key = EncodingKey::from_rsa_pem(&fixture("rsa-b.pem")).unwrap();
        let token = encode(&header, &claims, &key).unwrap();
        // THEN they wait for the next minute: refused, and no refetch
        assert_eq!(jobs_status(&app, &token).await, 401, "{kid}");
    }
    assert_eq!(*issuer.fetches.lock().unwrap(), 1);
    // AND the old key keeps working meanwhile
    assert_eq!(
        jobs_status(&app, &issuer.token("rsa-a", json!({}))).await,
        200
    );
}

#[tokio::test]
async fn a_rotated_in_key_is_found_by_refetching_once_the_interval_has_passed() {
    use boomerang_core::ports::IssuerKeys;
    // GIVEN the cache (its minute shortened to nothing) after a first fetch
    let issuer = Issuer::start(&["rsa-a"]).await;
    let jwks = format!("{}/.well-known/jwks.json", issuer.url);
    let cache =
        boomerang_http::JwksCache::with_refetch_interval(&jwks, std::time::Duration::ZERO).unwrap();
    assert!(cache.key("rsa-a").await.unwrap().is_some());
    assert!(cache.key("rsa-b").await.unwrap().is_none());
    // WHEN the issuer publishes a new key
    issuer.serve(&["rsa-a", "rsa-b"]);
    // THEN its kid is found by one refetch, and kept
    assert!(cache.key("rsa-b").await.unwrap().is_some());
    assert!(cache.key("rsa-a").await.unwrap().is_some());
    assert_eq!(*issuer.fetches.lock().unwrap(), 3);
}

#[tokio::test]
async fn cognito_access_tokens_name_their_app_client_in_client_id() {
    let issuer = Issuer::start(&["rsa-a"]).await;
    let (app, _tp) = stack_for(&issuer).await;
    let access = issuer.token(
        "rsa-a",
        json!({"aud": null, "client_id": AUDIENCE, "token_use": "access"}),
    );
    assert_eq!(jobs_status(&app, &access).await, 200);
    let other = issuer.token("rsa-a", json!({"aud": null, "client_id": "another-client"}));
    assert_eq!(jobs_status(&app, &other).await, 401);
}

// The second review: identity, exactly.

#[tokio::test]
async fn client_id_stands_for_the_audience_only_in_an_access_token_without_aud() {
    let issuer = Issuer::start(&["rsa-a"]).await;
    let (app, _tp) = stack_for(&issuer).await;
    for (what, claims) in [
        (
            "a token for another API whose client_id matches",
            json!({"aud": "another-api", "client_id": AUDIENCE, "token_use": "access"}),
        ),
        (
            "an ID token with the client_id claim",
            json!({"aud": null, "client_id": AUDIENCE, "token_use": "id"}),
        ),
        ("no token_use", json!({"aud": null, "client_id": AUDIENCE})),
    ] {
        let token = issuer.token("rsa-a", claims);
        assert_eq!(jobs_status(&app, &token).await, 401, "{what}");
    }
    // A list naming us passes.
    let listed = issuer.token("rsa-a", json!({"aud": ["another-api", AUDIENCE]}));
    assert_eq!(jobs_status(&app, &listed).await, 200);
}

#[tokio::test]
async fn nbf_is_honoured_with_a_minute_of_leeway() {
    let issuer = Issuer::start(&["ec-a"]).await;
    let (app, _tp) = stack_for(&issuer).await;
    let now = chrono::Utc::now().timestamp();
    let soon = issuer.token("ec-a", json!({"nbf": now + 20}));
    assert_eq!(jobs_status(&app, &soon).await, 200, "within the leeway");
    let later = issuer.token("ec-a", json!({"nbf": now + 3600}));
    assert_eq!(
        jobs_status(&app, &later).await,
        401,
        "not valid for an hour"
    );
    assert!(
        app.tab_with_token(&later).await.is_err(),
        "nor on the socket"
    );
    let garbage = issuer.token("ec-a", json!({"nbf": "tomorrow"}));
    assert_eq!(jobs_status(&app, &garbage).await, 401, "nbf not a time");
    // HS256 tokens too.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "alice", "exp": now + 7200, "nbf": now + 3600}),
        &EncodingKey::from_secret(app.jwt_secret()),
    )
    .unwrap();
    assert_eq!(jobs_status(&app, &hs).await, 401, "HS256 not valid yet");
}

#[tokio::test]
async fn an_issuer_without_an_audience_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = boomerang_local::Config::with_data_dir(dir.path());
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.shared.jwt_issuer = Some("https://issuer.example".into());
    let Err(e) = boomerang_local::Stack::start(config).await else {
        panic!("a stack with an issuer and no audience started");
    };
    assert!(e.to_string().contains("BOOMERANG_JWT_AUDIENCE"), "{e}");
}

#[tokio::test]
async fn a_slow_jwks_fetch_for_an_unknown_kid_holds_up_no_token_under_a_known_key() {
    use boomerang_core::ports::IssuerKeys;
    // GIVEN a cache (its minute shortened to nothing) that knows rsa-a
    let issuer = Issuer::start(&["rsa-a"]).await;
    let jwks = format!("{}/.well-known/jwks.json", issuer.url);
    let cache = std::sync::Arc::new(
        boomerang_http::JwksCache::with_refetch_interval(&jwks, std::time::Duration::ZERO).unwrap(),
    );
    assert!(cache.key("rsa-a").await.unwrap().is_some());
    // WHEN a made-up kid makes it fetch, and the issuer does not answer
    let held = issuer.hold.lock().await;
    let slow = tokio::spawn({
        let cache = cache.clone();
        async move { cache.key("made-up").await }
    });
    boomerang_e2e::eventually("the refetch reaches the issuer", || async {
        *issuer.fetches.lock().unwrap() == 2
    })
    .await;
    // THEN a token under the known key is verified meanwhile
    assert!(cache.key("rsa-a").await.unwrap().is_some());
    assert!(!slow.is_finished(), "the fetch is still held");
    drop(held);
    assert!(slow.await.unwrap().unwrap().is_none());
}
