//! An identity provider for tests: RS256 and ES256 tokens signed with the
//! fixture keys (tests/fixtures/keys), and the JWKS that publishes them,
//! served on loopback and changeable (a rotation).

use std::sync::{Arc, Mutex};

use axum::routing::get;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::lambda::root;

pub const AUDIENCE: &str = "boomerang-web";

/// An identity provider: its JWKS, which a test can change (a rotation).
pub struct Issuer {
    pub url: String,
    pub jwks: Arc<Mutex<Value>>,
    pub fetches: Arc<Mutex<usize>>,
    /// While a test holds this, the JWKS is not answered (a slow issuer).
    pub hold: Arc<tokio::sync::Mutex<()>>,
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/keys").join(name)).unwrap()
}

fn all_keys() -> Value {
    serde_json::from_slice(&fixture("jwks.json")).unwrap()
}

impl Issuer {
    /// Serving `kids` of the fixture keys.
    pub async fn start(kids: &[&str]) -> Self {
        let jwks = Arc::new(Mutex::new(Value::Null));
        let fetches = Arc::new(Mutex::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hold = Arc::new(tokio::sync::Mutex::new(()));
        let (served, counted, held) = (jwks.clone(), fetches.clone(), hold.clone());
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            get(move || {
                let (served, counted, held) = (served.clone(), counted.clone(), held.clone());
                async move {
                    *counted.lock().unwrap() += 1;
                    drop(held.lock().await);
                    axum::Json(served.lock().unwrap().clone())
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let issuer = Self {
            url,
            jwks,
            fetches,
            hold,
        };
        issuer.serve(kids);
        issuer
    }

    pub fn serve(&self, kids: &[&str]) {
        let all = all_keys();
        let keys: Vec<Value> = kids.iter().map(|k| all[*k].clone()).collect();
        *self.jwks.lock().unwrap() = json!({ "keys": keys });
    }

    /// A token for `sub`, signed by fixture key `kid` (RS256 or ES256 by
    /// its kind), with these claims over the good defaults.
    pub fn token(&self, kid: &str, claims: Value) -> String {
        let (alg, key) = if kid.starts_with("ec") {
            (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(&fixture(&format!("{kid}.pem"))).unwrap(),
            )
        } else {
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(&fixture(&format!("{kid}.pem"))).unwrap(),
            )
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        let mut all = json!({
            "sub": "alice", "iss": self.url, "aud": AUDIENCE,
            "exp": chrono::Utc::now().timestamp() + 3600,
        });
        for (k, v) in claims.as_object().unwrap() {
            if v.is_null() {
                all.as_object_mut().unwrap().remove(k);
            } else {
                all[k] = v.clone();
            }
        }
        encode(&header, &all, &key).unwrap()
    }
}
