//! The ports' conformance suite (`boomerang_e2e::conformance`) on the
//! in-memory adapters and on SQLite with the data folder's files. The
//! DynamoDB and S3 adapters run it on moto, in `tests/aws`.

use std::sync::Arc;

use boomerang_core::auth::Secret;
use boomerang_core::memory::Memory;
use boomerang_e2e::conformance::Stores;
use boomerang_local::embedded::files::{DiskFileStore, UploadSigner};
use boomerang_local::embedded::sqlite::{
    Db, SqliteConnectionStore, SqliteEventLog, SqliteIdempotencyKeys, SqliteJobStore,
    SqliteUploadQuota,
};

async fn memory() -> Stores {
    let m = Arc::new(Memory::new());
    Stores {
        connections: m.clone(),
        jobs: m.clone(),
        events: m.clone(),
        idempotency: m.clone(),
        quota: m.clone(),
        files: m,
        keep: Box::new(()),
    }
}

async fn sqlite() -> Stores {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("boomerang.sqlite3")).unwrap();
    let signer = UploadSigner::new(&Secret::new([7u8; 32]), "http://127.0.0.1:9");
    let files = DiskFileStore::new(dir.path().join("files"), signer);
    Stores {
        connections: Arc::new(SqliteConnectionStore::new(db.clone())),
        jobs: Arc::new(SqliteJobStore::new(db.clone()).with_files(files.clone())),
        events: Arc::new(SqliteEventLog::new(db.clone())),
        idempotency: Arc::new(SqliteIdempotencyKeys::new(db.clone())),
        quota: Arc::new(SqliteUploadQuota::new(db)),
        files: Arc::new(files),
        keep: Box::new(dir),
    }
}

mod on_memory {
    boomerang_e2e::conformance_suite!(super::memory());
}

mod on_sqlite {
    boomerang_e2e::conformance_suite!(super::sqlite());
}
