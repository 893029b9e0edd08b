//! Replays the kept corpus (`fuzz/corpus/<target>/`) through each target
//! on the stable toolchain: what libFuzzer once found interesting, and
//! every crash it ever found (kept there once fixed), stays tried in
//! `make test`.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let caught = std::panic::catch_unwind(|| run(&data));
        assert!(caught.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "{target}: the corpus is empty");
}

#[test]
fn token_corpus() {
    replay("token", boomerang_fuzz::token);
}

#[test]
fn webhook_signature_corpus() {
    replay("webhook_signature", boomerang_fuzz::webhook_signature);
}

#[test]
fn webhook_body_corpus() {
    replay("webhook_body", boomerang_fuzz::webhook_body);
}

#[test]
fn multipart_corpus() {
    replay("multipart", boomerang_fuzz::multipart);
}

#[test]
fn apigw_event_corpus() {
    replay("apigw_event", boomerang_fuzz::apigw_event);
}
