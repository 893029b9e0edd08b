//! Identity providers: RS256 and ES256 tokens from an issuer whose JWKS
//! this test serves itself (keys in tests/fixtures/keys), with each way a
//! token can be wrong refused with 401, on the socket and over HTTP.

use boomerang_e2e::idp::{fixture, Issuer, AUDIENCE};
use boomerang_e2e::{json_of, spawn_app_with_third_party, FakeThirdParty, Mode, TestApp};
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
