//! `S3FileStore`: uploads (keyed by generated ids, never the client's file
//! name) and job results too large for a DynamoDB item.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use boomerang_core::ports::FileStore;
use boomerang_core::{Error, Result};
use bytes::Bytes;

#[derive(Clone, Debug)]
pub struct S3FileStore {
    client: Client,
    bucket: String,
}

impl S3FileStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub async fn put_bytes(&self, key: &str, content_type: &str, bytes: Bytes) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| Error::internal(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    /// The object's bytes, `None` if there is no such key.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let body = out.body.collect().await.map_err(Error::internal)?;
                Ok(Some(body.into_bytes()))
            }
            Err(e) => match e.into_service_error() {
                aws_sdk_s3::operation::get_object::GetObjectError::NoSuchKey(_) => Ok(None),
                other => Err(Error::internal(aws_sdk_s3::error::DisplayErrorContext(
                    other,
                ))),
            },
        }
    }
}

#[async_trait]
impl FileStore for S3FileStore {
    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> Result<()> {
        self.put_bytes(key, content_type, bytes).await
    }
}
