//! The third party's progress on a job: not an event of the log, only the
//! job's latest word, ordered by the webhook that brought it.

use super::is_format;

/// The longest progress message kept, in characters (contract v4); a
/// longer one is cut, not refused.
pub const MAX_PROGRESS_MESSAGE_CHARS: usize = 200;

/// The most reports one job takes: each keeps a 16-byte digest of its
/// id on the job (a DynamoDB item holds at most 400 KB, and every write of
/// it pays for its size). One a second for the default 15-minute deadline
/// fits; past it, reports are acknowledged and change nothing.
pub const MAX_PROGRESS_REPORTS: usize = 1000;

/// A report's id as the job keeps it: the first 8 bytes of its SHA-256,
/// in hex (an id may be long; these are not).
pub fn report_digest(webhook_id: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(webhook_id.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One `processing` webhook's progress, as kept on the job.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// From 0 to 1, when the third party said.
    pub fraction: Option<f64>,
    /// Without control and format characters, at most
    /// [`MAX_PROGRESS_MESSAGE_CHARS`].
    pub message: Option<String>,
    /// The webhook's `webhook-timestamp` (Unix seconds): progress is
    /// ordered by when the third party sent it, not by when it came.
    pub sent_at: i64,
    /// The digests ([`report_digest`]) of the `webhook-id`s of every
    /// report the job has taken, this one's included, in no order: a
    /// delivery of any of them again, whatever its timestamp (a retry is
    /// signed afresh), changes nothing. A report not yet kept has its own.
    pub reports: Vec<String>,
}

impl Progress {
    /// Checked: a fraction from 0 to 1, a message cleaned and cut, and at
    /// least one of them. The reason when not.
    pub fn new(
        fraction: Option<f64>,
        message: Option<&str>,
        sent_at: i64,
        webhook_id: &str,
    ) -> Result<Self, &'static str> {
        if fraction.is_some_and(|f| !(0.0..=1.0).contains(&f)) {
            return Err("progress must be a number from 0 to 1");
        }
        if fraction.is_none() && message.is_none() {
            return Err("a processing webhook needs progress, a message, or both");
        }
        let message = message.map(|m| {
            m.chars()
                .filter(|c| !c.is_control() && !is_format(*c))
                .take(MAX_PROGRESS_MESSAGE_CHARS)
                .collect()
        });
        Ok(Self {
            fraction,
            message,
            sent_at,
            reports: vec![report_digest(webhook_id)],
        })
    }

    /// Whether this report replaces `kept`: it was sent no earlier, by a
    /// delivery the job has not taken before, within
    /// [`MAX_PROGRESS_REPORTS`]. An older one, or any report again, changes
    /// nothing. Every store writes this rule as its condition.
    pub fn supersedes(&self, kept: Option<&Progress>) -> bool {
        kept.is_none_or(|k| {
            self.sent_at >= k.sent_at
                && k.reports.len() < MAX_PROGRESS_REPORTS
                && !k.reports.iter().any(|d| self.reports.contains(d))
        })
    }

    /// This report's own digest (of a report not yet kept: its only one).
    pub fn report(&self) -> &str {
        self.reports.first().map_or("", String::as_str)
    }

    /// This report, kept after `kept`: the job's reports so far follow it.
    pub fn after(mut self, kept: Option<&Progress>) -> Self {
        if let Some(k) = kept {
            self.reports.extend(k.reports.iter().cloned());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fraction_outside_0_to_1_or_neither_field_is_refused() {
        for f in [-0.01, 1.01, f64::INFINITY] {
            assert!(Progress::new(Some(f), None, 1, "m").is_err(), "{f}");
        }
        assert!(Progress::new(None, None, 1, "m").is_err());
        assert!(Progress::new(Some(0.0), None, 1, "m").is_ok());
        assert!(Progress::new(Some(1.0), None, 1, "m").is_ok());
        assert!(Progress::new(None, Some(""), 1, "m").is_ok());
    }

    #[test]
    fn a_message_loses_control_and_format_characters_and_is_cut_not_refused() {
        let long = format!("a\u{202E}b\nc{}", "é".repeat(300));
        let p = Progress::new(None, Some(&long), 1, "m").unwrap();
        let kept = p.message.unwrap();
        assert!(kept.starts_with("abcé"));
        assert_eq!(kept.chars().count(), MAX_PROGRESS_MESSAGE_CHARS);
    }

    #[test]
    fn later_progress_replaces_and_older_or_repeated_does_not() {
        let at = |ts, id| Progress::new(Some(0.1), None, ts, id).unwrap();
        let first = at(99, "m1");
        let kept = at(100, "m2").after(Some(&first));
        assert!(at(101, "m3").supersedes(Some(&kept)));
        assert!(
            at(100, "m3").supersedes(Some(&kept)),
            "another delivery, same second"
        );
        assert!(!at(100, "m2").supersedes(Some(&kept)), "the same delivery");
        assert!(!at(99, "m0").supersedes(Some(&kept)), "sent earlier");
        assert!(
            !at(101, "m1").supersedes(Some(&kept)),
            "an earlier report, signed afresh"
        );
        assert!(at(1, "m1").supersedes(None));
        let digests: Vec<String> = ["m2", "m1"].map(report_digest).into();
        assert_eq!(kept.reports, digests);
    }

    #[test]
    fn a_job_takes_at_most_max_progress_reports() {
        let mut kept = Progress::new(Some(0.0), None, 1, "m0").unwrap();
        for i in 1..MAX_PROGRESS_REPORTS {
            let next = Progress::new(Some(0.0), None, 1, &format!("m{i}")).unwrap();
            assert!(next.supersedes(Some(&kept)), "{i}");
            kept = next.after(Some(&kept));
        }
        assert_eq!(kept.reports.len(), MAX_PROGRESS_REPORTS);
        let one_more = Progress::new(Some(1.0), None, 2, "m-last").unwrap();
        assert!(!one_more.supersedes(Some(&kept)));
    }
}
