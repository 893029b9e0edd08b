//! At start and at rest: secrets refused or kept out of sight, and a data
//! folder no one else may read.

use boomerang_e2e::*;

#[tokio::test]
async fn empty_and_short_secrets_are_refused_at_start_naming_the_variable() {
    for (jwt, webhook, name) in [
        (Some(""), None, "BOOMERANG_JWT_SECRET"),
        (Some("too-short"), None, "BOOMERANG_JWT_SECRET"),
        (None, Some("whsec_"), "BOOMERANG_WEBHOOK_SECRET"),
        (None, Some("whsec_AQ=="), "BOOMERANG_WEBHOOK_SECRET"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = boomerang_local::Config::with_data_dir(dir.path());
        config.addr = "127.0.0.1:0".parse().unwrap();
        config.jwt_secret = jwt.map(|s| s.parse().unwrap());
        config.webhook_secret = webhook.map(|s| s.parse().unwrap());
        let err = match boomerang_local::Stack::start(config).await {
            Ok(_) => panic!("{name} {jwt:?} {webhook:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(name), "{err}");
    }
}

#[tokio::test]
async fn the_configuration_never_prints_its_secrets() {
    let mut config = boomerang_local::Config::with_data_dir("/tmp/x");
    config.jwt_secret = Some("a-very-secret-key-of-at-least-32-bytes".parse().unwrap());
    config.webhook_secret = Some(
        "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
            .parse()
            .unwrap(),
    );
    let printed = format!("{config:?}");
    assert!(!printed.contains("a-very-secret"), "{printed}");
    assert!(!printed.contains("c2VjcmV0"), "{printed}");
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_everything_in_it_are_private_to_this_user() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // GIVEN a data folder someone made readable to all
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = spawn_in_dir(dir).await;
    // WHEN the stack has run and stored a file
    let job = json_of(app.upload("alice", "secret.txt", b"payroll").await, 202).await;
    let id = job["job"]["id"].as_str().unwrap();
    // THEN the folders are 0700 and every file 0600
    let root = app.dir.path();
    assert_eq!(mode(root), 0o700);
    for f in ["jwt-secret", "webhook-secret"] {
        assert_eq!(mode(&root.join(f)), 0o600, "{f}");
    }
    if backend() == boomerang_local::Backend::Embedded {
        assert_eq!(mode(&root.join("files")), 0o700);
        for f in [
            "boomerang.sqlite3",
            "boomerang.sqlite3-wal",
            "boomerang.sqlite3-shm",
        ] {
            assert_eq!(mode(&root.join(f)), 0o600, "{f}");
        }
        let stored = root.join("files").join("uploads").join(id);
        assert_eq!(mode(&stored), 0o600);
        assert_eq!(mode(stored.parent().unwrap()), 0o700);
    }
}
