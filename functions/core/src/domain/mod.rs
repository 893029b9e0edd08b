//! The domain: users, their connections, their jobs and the events that
//! tell them what happened.

mod connection;
mod event;
mod ids;
mod job;
mod moved;
mod progress;
mod text;

pub use connection::Connection;
pub use event::{Event, EventDraft, EventType, ProgressNotice, Pushed};
pub use ids::{ConnectionId, JobId, UserId};
pub(crate) use job::present;
pub use job::{timestamp, Job, JobStatus, JobView};
pub use moved::{Applied, IllegalMove, Moved};
pub use progress::{report_digest, Progress, MAX_PROGRESS_MESSAGE_CHARS, MAX_PROGRESS_REPORTS};
pub use text::is_format;
