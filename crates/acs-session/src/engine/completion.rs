//! What completes a task whose RPC the CPE took but finishes later: one table, matched
//! against what the CPE reports (PROTOCOL §8, §10, §16). Pure: the engine reads the device's
//! open tasks, asks [`completed`] which of them a report completes, and settles those.
//!
//! The rows follow how deployed agents report, not only what TR-069 says: after a
//! RebootResponse some send `1 BOOT` + `M Reboot` with an empty CommandKey, some `1 BOOT`
//! alone, one `M Reboot` without `1 BOOT`; after a FactoryResetResponse one informs with
//! `1 BOOT` and no `0 BOOTSTRAP`; TransferComplete arrives with an empty CommandKey.

use acs_store::{Task, TaskState};

/// What the CPE reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report<'a> {
    /// An event of an Inform.
    Event {
        code: &'a str,
        command_key: &'a str,
    },
    /// The Inform's `ManagementServer.ParameterKey` (the key of the last SetParameterValues,
    /// AddObject or DeleteObject the CPE applied).
    ParameterKey(&'a str),
    TransferComplete {
        command_key: &'a str,
    },
    DuStateChangeComplete {
        command_key: &'a str,
    },
}

/// The report a rule waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// An Inform event with this code.
    Event(&'static str),
    ParameterKey,
    TransferComplete,
    DuStateChangeComplete,
}

/// How the report must name the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Not looked at: the report is proof enough for every such task awaiting it (the
    /// device booted after it accepted a Reboot).
    Any,
    /// The task's own CommandKey/ParameterKey.
    Own,
    /// The task's own key; or an empty one when exactly one task of the rule's kinds
    /// awaits it (with two, an empty key names neither).
    OwnOrEmptyIfOne,
}

/// One row of [`COMPLETION_RULES`].
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The task kinds the row completes.
    pub kinds: &'static [&'static str],
    pub evidence: Evidence,
    pub key: Key,
}

/// Task kinds whose RPC carries the task's key as ParameterKey.
const PARAMETER_KEY_KINDS: &[&str] = &[
    "set_parameter_values",
    "add_object",
    "delete_object",
    "update_frequency",
    "credentials",
    "location",
    "sync",
];

/// Task kinds that end with a TransferComplete.
pub(crate) const TRANSFER_KINDS: &[&str] = &["firmware", "download", "upload", "schedule_download"];

/// Every way a task the CPE took completes later. A task is done when a report matches a
/// row of its kind; a task that matches none within its wait ends `unconfirmed` (the store's
/// expiry sweep) and is never sent again on its own.
pub const COMPLETION_RULES: &[Rule] = &[
    // the device booted after it accepted the Reboot: `1 BOOT` with or without `M Reboot`,
    // whatever that event's CommandKey
    Rule {
        kinds: &["reboot"],
        evidence: Evidence::Event("1 BOOT"),
        key: Key::Any,
    },
    // `M Reboot` says the Reboot was carried out, also from an agent that sends no `1 BOOT`
    Rule {
        kinds: &["reboot"],
        evidence: Evidence::Event("M Reboot"),
        key: Key::OwnOrEmptyIfOne,
    },
    // FactoryReset carries no CommandKey: the reset device bootstraps, or only boots
    Rule {
        kinds: &["factory_reset"],
        evidence: Evidence::Event("0 BOOTSTRAP"),
        key: Key::Any,
    },
    Rule {
        kinds: &["factory_reset"],
        evidence: Evidence::Event("1 BOOT"),
        key: Key::Any,
    },
    Rule {
        kinds: &["schedule_inform"],
        evidence: Evidence::Event("M ScheduleInform"),
        key: Key::Own,
    },
    // the session broke after the RPC went out, and the CPE applied it (PROTOCOL §10)
    Rule {
        kinds: PARAMETER_KEY_KINDS,
        evidence: Evidence::ParameterKey,
        key: Key::Own,
    },
    // done or failed, as the TransferComplete says
    Rule {
        kinds: TRANSFER_KINDS,
        evidence: Evidence::TransferComplete,
        key: Key::OwnOrEmptyIfOne,
    },
    Rule {
        kinds: &["change_du_state"],
        evidence: Evidence::DuStateChangeComplete,
        key: Key::OwnOrEmptyIfOne,
    },
];

impl Evidence {
    /// Whether `report` is this evidence.
    fn is(self, report: &Report<'_>) -> bool {
        match (self, report) {
            (Evidence::Event(want), Report::Event { code, .. }) => want == *code,
            (Evidence::ParameterKey, Report::ParameterKey(_))
            | (Evidence::TransferComplete, Report::TransferComplete { .. })
            | (Evidence::DuStateChangeComplete, Report::DuStateChangeComplete { .. }) => true,
            _ => false,
        }
    }
}

impl Report<'_> {
    /// The CommandKey (ParameterKey) the report names, trimmed; empty if none.
    fn key(&self) -> &str {
        match self {
            Report::Event { command_key, .. }
            | Report::TransferComplete { command_key }
            | Report::DuStateChangeComplete { command_key } => command_key.trim(),
            Report::ParameterKey(key) => key.trim(),
        }
    }
}

/// Whether any row waits for an event with this code (most Informs carry none of them, and
/// need no look at the device's tasks).
pub(crate) fn completes_by_event(code: &str) -> bool {
    let report = Report::Event {
        code,
        command_key: "",
    };
    COMPLETION_RULES.iter().any(|r| r.evidence.is(&report))
}

/// A task whose RPC the CPE took, or may have taken, and whose end is still to be reported:
/// in flight (its answer came and it waits, or the session that sent it is gone), or back
/// to pending because that session ended before the answer. A pending task the CPE
/// refused with a fault, or one never sent, awaits nothing.
fn awaits(task: &Task) -> bool {
    task.state == TaskState::InFlight || (task.state == TaskState::Pending && task.unanswered > 0)
}

/// The tasks among `open` (the device's open tasks) that `report` completes, each once.
pub(crate) fn completed<'t>(report: &Report<'_>, open: &'t [Task]) -> Vec<&'t Task> {
    let key = report.key();
    let mut done: Vec<&Task> = Vec::new();
    for rule in COMPLETION_RULES.iter().filter(|r| r.evidence.is(report)) {
        let of_kind = |t: &&Task| rule.kinds.contains(&t.kind.as_str());
        let own = |t: &&Task| !key.is_empty() && t.command_key == key && t.attempts > 0;
        let matched: Vec<&Task> = match rule.key {
            Key::Any => open.iter().filter(of_kind).filter(|t| awaits(t)).collect(),
            Key::Own => open.iter().filter(of_kind).filter(own).collect(),
            Key::OwnOrEmptyIfOne if !key.is_empty() => {
                open.iter().filter(of_kind).filter(own).collect()
            }
            Key::OwnOrEmptyIfOne => {
                let waiting: Vec<&Task> =
                    open.iter().filter(of_kind).filter(|t| awaits(t)).collect();
                if waiting.len() == 1 {
                    waiting
                } else {
                    Vec::new()
                }
            }
        };
        for t in matched {
            if !done.iter().any(|d| d.id == t.id) {
                done.push(t);
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn task(id: i64, kind: &str, state: TaskState, attempts: i64, unanswered: i64) -> Task {
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        Task {
            id,
            device_id: 1,
            command_key: format!("k{id}"),
            kind: kind.to_owned(),
            payload: sqlx::types::Json(serde_json::json!({})),
            setting_group: kind.to_owned(),
            state,
            attempts,
            next_attempt_at: t0,
            claimed_by: None,
            claim_expires_at: None,
            fault_code: None,
            fault_string: None,
            result: None,
            created: t0,
            updated: t0,
            unanswered,
            accepted_at: None,
        }
    }

    fn ids(tasks: Vec<&Task>) -> Vec<i64> {
        tasks.iter().map(|t| t.id).collect()
    }

    fn event<'a>(code: &'a str, command_key: &'a str) -> Report<'a> {
        Report::Event { code, command_key }
    }

    #[test]
    fn a_boot_completes_only_reboots_and_resets_that_went_out() {
        let open = [
            task(1, "reboot", TaskState::InFlight, 1, 0),
            // never sent: the boot was not ours
            task(2, "reboot", TaskState::Pending, 0, 0),
            // refused with a fault, waiting to be sent again
            task(3, "reboot", TaskState::Pending, 1, 0),
            // its session died before the answer: the boot tells
            task(4, "factory_reset", TaskState::Pending, 1, 1),
            task(5, "download", TaskState::InFlight, 1, 0),
        ];
        assert_eq!(ids(completed(&event("1 BOOT", ""), &open)), [1, 4]);
        assert_eq!(ids(completed(&event("0 BOOTSTRAP", ""), &open)), [4]);
        assert!(completed(&event("2 PERIODIC", ""), &open).is_empty());
    }

    #[test]
    fn an_empty_command_key_names_the_one_task_awaiting_it() {
        let one = [
            task(1, "download", TaskState::InFlight, 1, 0),
            task(2, "reboot", TaskState::InFlight, 1, 0),
        ];
        let tc = Report::TransferComplete { command_key: "" };
        assert_eq!(ids(completed(&tc, &one)), [1]);
        assert_eq!(ids(completed(&event("M Reboot", " "), &one)), [2]);
        let two = [
            task(1, "download", TaskState::InFlight, 1, 0),
            task(2, "firmware", TaskState::InFlight, 1, 0),
        ];
        assert!(completed(&tc, &two).is_empty(), "ambiguous");
        let keyed = Report::TransferComplete { command_key: "k2" };
        assert_eq!(ids(completed(&keyed, &two)), [2]);
        let other = Report::TransferComplete { command_key: "k9" };
        assert!(completed(&other, &two).is_empty());
    }

    #[test]
    fn an_own_key_completes_only_its_kind() {
        let open = [
            task(1, "set_parameter_values", TaskState::Pending, 1, 1),
            task(2, "reboot", TaskState::InFlight, 1, 0),
            task(3, "update_frequency", TaskState::Pending, 0, 0),
        ];
        assert_eq!(ids(completed(&Report::ParameterKey("k1"), &open)), [1]);
        assert!(completed(&Report::ParameterKey("k2"), &open).is_empty());
        assert!(
            completed(&Report::ParameterKey("k3"), &open).is_empty(),
            "never sent"
        );
        assert!(completed(&Report::ParameterKey(""), &open).is_empty());
        assert_eq!(ids(completed(&event("M Reboot", "k2"), &open)), [2]);
    }

    #[test]
    fn every_rule_names_task_kinds_of_the_contract() {
        for rule in COMPLETION_RULES {
            assert!(!rule.kinds.is_empty());
            for kind in rule.kinds {
                // a known kind may lack payload fields, never its variant
                let err = crate::task::TaskSpec::from_parts(kind, &serde_json::json!({}));
                assert!(
                    !err.is_err_and(|e| e.message.contains("unknown variant")),
                    "{kind}"
                );
            }
            if let Evidence::Event(code) = rule.evidence {
                assert!(completes_by_event(code), "{code}");
            }
        }
        assert!(!completes_by_event("2 PERIODIC"));
    }
}
