//! `S3FileStore`: uploads (keyed by generated ids, never the client's file
//! name), presigned PUTs for files sent straight to the bucket, and job
//! results too large for a DynamoDB item.

use async_trait::async_trait;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use boomerang_core::ports::{FileBody, FileStore, PresignedPut};
use boomerang_core::{Error, Result};
use bytes::Bytes;
use chrono::{DateTime, Utc};

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
            .map_err(Error::internal)?;
        Ok(())
    }

    /// Deletes the object (none there is no error).
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(Error::internal)?;
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
                other => Err(Error::internal(other)),
            },
        }
    }
}

#[async_trait]
impl FileStore for S3FileStore {
    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> Result<()> {
        self.put_bytes(key, content_type, bytes).await
    }

    async fn open(&self, key: &str) -> Result<FileBody> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| match e.into_service_error() {
                GetObjectError::NoSuchKey(_) => Error::NotFound(format!("no file {key}")),
                other => Error::internal(other),
            })?;
        // The body as it comes off the socket, a chunk at a time.
        let body = futures::stream::unfold(out.body, |mut body| async move {
            body.next()
                .await
                .map(|chunk| (chunk.map_err(std::io::Error::other), body))
        });
        Ok(Box::pin(body))
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_at: DateTime<Utc>,
    ) -> Result<PresignedPut> {
        let expires_in = (expires_at - Utc::now())
            .to_std()
            .map_err(|_| Error::internal("an upload URL must expire in the future"))?;
        let config = PresigningConfig::expires_in(expires_in).map_err(Error::internal)?;
        // Content-Length and Content-Type are signed: S3 refuses a PUT of
        // another size or type (403 SignatureDoesNotMatch). So is
        // If-None-Match: a second PUT, once the file is stored, gets 412
        // and the file never changes under its job's result.
        let size = i64::try_from(size).map_err(Error::internal)?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size)
            .if_none_match("*")
            .presigned(config)
            .await
            .map_err(Error::internal)?;
        let headers = presigned
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        Ok(PresignedPut {
            url: presigned.uri().to_owned(),
            headers,
        })
    }

    /// A presigned `GetObject`: S3 answers with the object's own
    /// `Content-Type` (stored with it). Signed with the function's role
    /// credentials, it dies with them too: a Lambda's session lasts
    /// hours, so a URL meant to outlive it needs a longer-lived signer.
    async fn presign_get(
        &self,
        key: &str,
        _content_type: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<String> {
        let expires_in = (expires_at - Utc::now())
            .to_std()
            .map_err(|_| Error::internal("a file URL must expire in the future"))?;
        let config = PresigningConfig::expires_in(expires_in).map_err(Error::internal)?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(Error::internal)?;
        Ok(presigned.uri().to_owned())
    }
}
