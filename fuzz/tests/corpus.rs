//! Replays each target's seeds (`fuzz/seeds/<target>/`, in git: inputs
//! named for what they try, and every crash ever found, kept once fixed as
//! `regression-*`) on the stable toolchain, and the working corpus that
//! `make fuzz` grows outside git (`target/fuzz-corpus/<target>/`) when this
//! machine has one.

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = inputs(&root.join("seeds").join(target));
    assert!(
        !seeds.is_empty(),
        "{target}: no seeds in fuzz/seeds/{target}"
    );
    let corpus = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../target"))
        .join("fuzz-corpus")
        .join(target);
    for path in seeds.iter().chain(&inputs(&corpus)) {
        let data = std::fs::read(path).unwrap();
        let caught = std::panic::catch_unwind(|| run(&data));
        assert!(caught.is_ok(), "{target}: {} fails", path.display());
    }
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
