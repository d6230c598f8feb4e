//! The transfers a CPE has accepted and not yet carried out: Download and Upload (with their
//! DelaySeconds) and ScheduleDownload (with its time windows). GetQueuedTransfers and
//! GetAllQueuedTransfers list them, CancelTransfer removes one by CommandKey (TR-069 A.3.3.2,
//! A.4.1.8–A.4.1.10). No I/O and no clock: `now` is an argument.

use std::time::{Duration, Instant};

/// A real CPE keeps a bounded queue; TR-069 caps QueuedTransferStruct lists at 16.
pub const CAPACITY: usize = 16;

/// What is queued.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    Download(cwmp::Download),
    Upload(cwmp::Upload),
    ScheduleDownload(cwmp::ScheduleDownload),
}

impl Job {
    pub fn command_key(&self) -> &str {
        match self {
            Job::Download(d) => &d.command_key,
            Job::Upload(u) => &u.command_key,
            Job::ScheduleDownload(s) => &s.command_key,
        }
    }

    /// The method its completion event names (`M Download`, `M ScheduleDownload`, …).
    pub fn method(&self) -> &'static str {
        match self {
            Job::Download(_) => "Download",
            Job::Upload(_) => "Upload",
            Job::ScheduleDownload(_) => "ScheduleDownload",
        }
    }
}

/// One queued transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub job: Job,
    /// Not before this instant (DelaySeconds, or the first window's start).
    pub start: Instant,
    /// ScheduleDownload only: the end of its last window. A transfer that could not start
    /// by then completes with fault 9020.
    pub deadline: Option<Instant>,
}

impl Queued {
    /// Whether it is too late to start (a missed ScheduleDownload window).
    pub fn missed(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now > d)
    }
}

/// Why a transfer request is refused, as a CWMP fault (code, message).
pub type Refusal = (u32, String);

/// The queue of one CPE.
#[derive(Debug, Default, Clone)]
pub struct TransferQueue {
    entries: Vec<Queued>,
}

/// The WindowMode values of TR-069 A.4.1.8. The simulated user confirms at once, so
/// `4 Confirmation Needed` behaves like `1 At Any Time`.
const WINDOW_MODES: [&str; 4] = [
    "1 At Any Time",
    "2 Immediately",
    "3 When Idle",
    "4 Confirmation Needed",
];

impl TransferQueue {
    /// Queues a Download or Upload that may start `delay` from `now`.
    pub fn push_delayed(&mut self, job: Job, now: Instant, delay: Duration) -> Result<(), Refusal> {
        self.push(Queued {
            job,
            start: now + delay,
            deadline: None,
        })
    }

    /// Checks a ScheduleDownload's time windows (1 or 2, each ending after it starts, the
    /// second after the first, a known WindowMode) and queues it for its first window.
    pub fn push_scheduled(
        &mut self,
        s: cwmp::ScheduleDownload,
        now: Instant,
    ) -> Result<(), Refusal> {
        let windows = &s.time_window_list;
        if windows.is_empty() || windows.len() > 2 {
            return Err((
                9003,
                format!(
                    "TimeWindowList has {} windows, 1 or 2 allowed",
                    windows.len()
                ),
            ));
        }
        for w in windows {
            if w.window_end < w.window_start {
                return Err((
                    9003,
                    format!(
                        "window ends ({}) before it starts ({})",
                        w.window_end, w.window_start
                    ),
                ));
            }
            if !WINDOW_MODES.contains(&w.window_mode.as_str()) {
                return Err((9003, format!("unknown WindowMode {:?}", w.window_mode)));
            }
        }
        if let [first, second] = windows.as_slice()
            && second.window_start < first.window_end
        {
            return Err((9003, "the second time window overlaps the first".to_owned()));
        }
        let start = now + Duration::from_secs(u64::from(windows[0].window_start));
        let end = windows.iter().map(|w| w.window_end).max().unwrap_or(0);
        self.push(Queued {
            job: Job::ScheduleDownload(s),
            start,
            deadline: Some(now + Duration::from_secs(u64::from(end))),
        })
    }

    fn push(&mut self, q: Queued) -> Result<(), Refusal> {
        if self.entries.len() >= CAPACITY {
            return Err((9004, format!("{CAPACITY} transfers already queued")));
        }
        self.entries.push(q);
        Ok(())
    }

    /// CancelTransfer: removes the not yet started transfers with this CommandKey; fault
    /// 9021 when there is none (unknown, or already carried out).
    pub fn cancel(&mut self, command_key: &str) -> Result<(), Refusal> {
        let before = self.entries.len();
        self.entries.retain(|q| q.job.command_key() != command_key);
        if self.entries.len() == before {
            return Err((
                9021,
                format!("no cancellable transfer with CommandKey {command_key:?}"),
            ));
        }
        Ok(())
    }

    /// GetQueuedTransfers: every queued transfer, State 1 (not yet started). A transfer in
    /// progress is never seen here: the device's one task performs it between sessions.
    pub fn list(&self) -> Vec<cwmp::QueuedTransfer> {
        self.entries
            .iter()
            .map(|q| cwmp::QueuedTransfer {
                command_key: q.job.command_key().to_owned(),
                state: 1,
            })
            .collect()
    }

    /// GetAllQueuedTransfers: the same with direction, type, size and target name.
    pub fn list_all(&self) -> Vec<cwmp::AllQueuedTransfer> {
        self.entries
            .iter()
            .map(|q| {
                let (is_download, file_type, file_size, target_file_name) = match &q.job {
                    Job::Download(d) => {
                        (true, &d.file_type, d.file_size, d.target_file_name.clone())
                    }
                    Job::ScheduleDownload(s) => {
                        (true, &s.file_type, s.file_size, s.target_file_name.clone())
                    }
                    Job::Upload(u) => (false, &u.file_type, 0, String::new()),
                };
                cwmp::AllQueuedTransfer {
                    command_key: q.job.command_key().to_owned(),
                    state: 1,
                    is_download,
                    file_type: file_type.clone(),
                    file_size,
                    target_file_name,
                }
            })
            .collect()
    }

    /// Takes the transfers whose start has come, oldest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<Queued> {
        let (due, later) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|q| q.start <= now);
        self.entries = later;
        due
    }

    /// When the next transfer may start.
    pub fn next_start(&self) -> Option<Instant> {
        self.entries.iter().map(|q| q.start).min()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A factory reset forgets everything queued.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduled(key: &str, windows: &[(u32, u32, &str)]) -> cwmp::ScheduleDownload {
        cwmp::ScheduleDownload {
            command_key: key.to_owned(),
            file_type: "1 Firmware Upgrade Image".to_owned(),
            url: "http://fw/x.bin".to_owned(),
            time_window_list: windows
                .iter()
                .map(|&(start, end, mode)| cwmp::TimeWindow {
                    window_start: start,
                    window_end: end,
                    window_mode: mode.to_owned(),
                    user_message: String::new(),
                    max_retries: 0,
                })
                .collect(),
            ..cwmp::ScheduleDownload::default()
        }
    }

    #[test]
    fn windows_are_checked_and_the_first_one_sets_the_start() {
        let now = Instant::now();
        let mut q = TransferQueue::default();
        for bad in [
            vec![],
            vec![(10, 5, "1 At Any Time")],
            vec![(0, 10, "9 Whenever")],
            vec![(0, 10, "1 At Any Time"), (5, 20, "1 At Any Time")],
            vec![
                (0, 1, "1 At Any Time"),
                (2, 3, "1 At Any Time"),
                (4, 5, "1 At Any Time"),
            ],
        ] {
            assert_eq!(
                q.push_scheduled(scheduled("k", &bad), now).unwrap_err().0,
                9003,
                "{bad:?}"
            );
        }
        assert!(q.is_empty());
        q.push_scheduled(
            scheduled(
                "k",
                &[(30, 60, "2 Immediately"), (90, 120, "1 At Any Time")],
            ),
            now,
        )
        .unwrap();
        assert_eq!(q.next_start(), Some(now + Duration::from_secs(30)));
        assert!(q.take_due(now + Duration::from_secs(29)).is_empty());
        let due = q.take_due(now + Duration::from_secs(30));
        assert_eq!(due.len(), 1);
        assert!(!due[0].missed(now + Duration::from_secs(120)));
        assert!(due[0].missed(now + Duration::from_secs(121)));
    }

    #[test]
    fn cancel_by_command_key_and_list() {
        let now = Instant::now();
        let mut q = TransferQueue::default();
        let dl = cwmp::Download {
            command_key: "a".into(),
            file_type: "1 Firmware Upgrade Image".into(),
            file_size: 7,
            ..cwmp::Download::default()
        };
        q.push_delayed(Job::Download(dl), now, Duration::from_secs(60))
            .unwrap();
        q.push_scheduled(scheduled("b", &[(0, 10, "1 At Any Time")]), now)
            .unwrap();
        let keys: Vec<_> = q
            .list()
            .into_iter()
            .map(|t| (t.command_key, t.state))
            .collect();
        assert_eq!(keys, [("a".to_owned(), 1), ("b".to_owned(), 1)]);
        let all = q.list_all();
        assert!(all[0].is_download && all[0].file_size == 7);
        assert_eq!(q.cancel("zz").unwrap_err().0, 9021);
        q.cancel("a").unwrap();
        assert_eq!(
            q.cancel("a").unwrap_err().0,
            9021,
            "a second cancel finds nothing"
        );
        assert_eq!(q.list().len(), 1);
        // Started (taken) transfers can no longer be cancelled.
        assert_eq!(q.take_due(now).len(), 1);
        assert_eq!(q.cancel("b").unwrap_err().0, 9021);
    }

    #[test]
    fn the_queue_is_bounded() {
        let now = Instant::now();
        let mut q = TransferQueue::default();
        for i in 0..CAPACITY {
            let up = cwmp::Upload {
                command_key: i.to_string(),
                ..cwmp::Upload::default()
            };
            q.push_delayed(Job::Upload(up), now, Duration::ZERO)
                .unwrap();
        }
        let one_more = Job::Upload(cwmp::Upload::default());
        assert_eq!(
            q.push_delayed(one_more, now, Duration::ZERO).unwrap_err().0,
            9004
        );
    }
}
