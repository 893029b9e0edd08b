//! A job moved without its event (a writer that died between the job's
//! write and its event's): found, and the event appended once. A webhook's
//! redelivery looks for it; a tracked move carries an untold mark that a
//! later sweep reads.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use boomerang_core::{Event, EventDraft, Job, Result};
use chrono::Utc;

use super::waiting::UNTOLD;
use super::DynamoJobStore;
use crate::dynamo::events::Entry;
use crate::dynamo::{n, s, sdk};

/// Lambda runs an invocation at most 15 minutes: a move older than this
/// has no writer still running, and one whose event is missing lost it.
const WRITER_MAX: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl DynamoJobStore {
    /// [`boomerang_core::ports::JobStore::recover_event`].
    pub(super) async fn recover(&self, job: &Job, event: EventDraft) -> Result<Option<Event>> {
        let age = (Utc::now() - job.updated_at).to_std().unwrap_or_default();
        // Its writer may still be running; or its event, had it been
        // written, may have expired (and the tabs reloaded the jobs).
        if age < WRITER_MAX || age > self.event_retention / 2 {
            return Ok(None);
        }
        let writer_max = chrono::Duration::from_std(WRITER_MAX).unwrap_or_default();
        if self
            .log
            .holds(&job.owner, &job.id, event.kind, job.updated_at, writer_max)
            .await?
        {
            return Ok(None);
        }
        // Exactly one recovery: the first to mark this very move.
        let claimed = self
            .client
            .update_item()
            .table_name(&self.jobs)
            .key("jobId", s(job.id.as_str()))
            .update_expression("SET recoveredAt = :now")
            .condition_expression(
                "attribute_not_exists(recoveredAt) AND updatedAt = :moved AND #status = :status",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(Utc::now().timestamp_millis()))
            .expression_attribute_values(":moved", n(job.updated_at.timestamp_millis()))
            .expression_attribute_values(":status", s(job.status.as_str()))
            .send()
            .await;
        if let Err(e) = claimed {
            return match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(None),
                other => Err(sdk(other)),
            };
        }
        let seq = self
            .log
            .append(&job.owner, &Entry::of(&event, &job.id))
            .await?;
        Ok(Some(event.numbered(seq)))
    }

    /// Tracked moves still marked untold whose writer can no longer
    /// be running ([`boomerang_core::ports::JobStore::untold`]).
    pub(super) async fn untold_moves(&self, limit: usize) -> Result<Vec<Job>> {
        // Only moves whose writer can no longer be running.
        let before = Utc::now() - chrono::Duration::from_std(WRITER_MAX).unwrap_or_default();
        let found = self
            .in_shards(UNTOLD, before, limit, |job| job.status.is_terminal())
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|j| {
                j.map_err(|e| tracing::warn!(error = %e, "an untold move cannot be read"))
                    .ok()
            })
            .collect())
    }

    /// Clears the untold mark ([`boomerang_core::ports::JobStore::told`]).
    pub(super) async fn clear_untold(&self, job: &Job) -> Result<()> {
        let cleared = self
            .client
            .update_item()
            .table_name(&self.jobs)
            .key("jobId", s(job.id.as_str()))
            .update_expression("REMOVE waitShard, waitingSince")
            // Never an item made of a key alone, for a job that is gone.
            .condition_expression("begins_with(waitShard, :untold)")
            .expression_attribute_values(":untold", s(UNTOLD.to_string()))
            .send()
            .await;
        match cleared.map_err(|e| e.into_service_error()) {
            Ok(_) | Err(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(()),
            Err(other) => Err(sdk(other)),
        }
    }
}
