//! How tasks end: an accepted task whose completion never comes, a task whose session keeps
//! dying, cancellation in flight, transfer faults, and identical intents merged when queued.

use std::time::Duration;

use acs_store::{
    Cancellation, Merge, NewDevice, NewTask, RetryPolicy, Store, TaskOutcome, TaskState,
};
use serde_json::json;

use super::fixtures::{claim, enqueue, stored, t};
use super::harness::Env;

cases!(
    an_accepted_task_whose_wait_runs_out_is_unconfirmed_not_queued_again,
    a_task_after_which_sessions_keep_ending_fails_with_the_reason,
    a_report_settles_a_task_whose_session_ended_before_the_answer,
    cancellation_keeps_what_the_cpe_may_have_received,
    identical_intents_merge_in_the_queuing_transaction,
    each_merge_policy_keeps_one_wish,
    migration_0006_keeps_tasks_and_marks_those_awaiting_an_event,
);

const CLAIM: Duration = Duration::from_secs(60);

async fn device(store: &Store, serial: &str) -> i64 {
    store
        .create_device(
            &NewDevice {
                serial_number: serial.into(),
                ..NewDevice::default()
            },
            t(0),
        )
        .await
        .unwrap()
        .id
}

/// A task of `kind`, merged as the engine's task contract merges that kind.
fn intent(kind: &str, payload: serde_json::Value) -> NewTask {
    let merge = match kind {
        "reboot" | "factory_reset" => Merge::IntoOpen,
        "sync" | "credentials" => Merge::IntoPending,
        "update_frequency" | "firmware" => Merge::ReplacePending,
        _ => Merge::Never,
    };
    NewTask {
        kind: kind.into(),
        setting_group: kind.into(),
        payload,
        merge,
    }
}

async fn pending_settings(store: &Store, serial: &str) -> Option<String> {
    stored(store, serial).await.pending_settings
}

/// Issue 14: the expiry sweep turned an accepted Reboot back to pending, and the next
/// session sent it again.
async fn an_accepted_task_whose_wait_runs_out_is_unconfirmed_not_queued_again(env: Env) {
    let store = env.store().await;
    let d = device(&store, "SN1").await;
    let q = enqueue(&store, d, &[intent("reboot", json!({}))], t(0)).await;
    let c = claim(&store, d, "n/s1", t(1), CLAIM).await.unwrap();
    // the RebootResponse came: it waits for its boot until t(3600)
    store
        .settle_task(
            c.id,
            "n/s1",
            &TaskOutcome::AwaitEvent { until: t(3600) },
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(store.release_expired_tasks(t(3599)).await.unwrap(), 0);
    assert_eq!(
        pending_settings(&store, "SN1").await.as_deref(),
        Some("reboot")
    );
    assert_eq!(store.release_expired_tasks(t(3600)).await.unwrap(), 1);
    let task = store.task(q[0].id).await.unwrap().unwrap();
    assert_eq!(task.state, TaskState::Unconfirmed);
    assert_eq!(task.attempts, 1);
    assert!(
        task.fault_string
            .as_deref()
            .unwrap_or("")
            .contains("never reported"),
        "{task:?}"
    );
    assert_eq!(pending_settings(&store, "SN1").await, None);
    for at in [3601, 7200, 100_000] {
        assert!(
            claim(&store, d, "n/s2", t(at), CLAIM).await.is_none(),
            "claimed again at {at}"
        );
    }
    // a claim that ran out before any response (the node died) is claimable again, as before
    let q = enqueue(&store, d, &[intent("get_rpc_methods", json!({}))], t(4000)).await;
    let c = claim(&store, d, "dead", t(4000), CLAIM).await.unwrap();
    assert_eq!(c.id, q[0].id);
    let again = claim(&store, d, "n/s3", t(4061), CLAIM).await.unwrap();
    assert_eq!((again.id, again.attempts), (c.id, 2));
    store.close().await;
}

/// Issue 13: identical intents queued while one is open become one task, decided in the
/// transaction that queues them, so two API nodes queuing at once merge too.
async fn identical_intents_merge_in_the_queuing_transaction(env: Env) {
    let store = env.store().await;
    let other = env.store().await;
    let d = device(&store, "SN1").await;
    let mut racing = Vec::new();
    for i in 0..10 {
        let s = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        racing.push(tokio::spawn(async move {
            enqueue(&s, d, &[intent("reboot", json!({}))], t(i)).await
        }));
    }
    let mut ids = Vec::new();
    for r in racing {
        ids.extend(r.await.unwrap().into_iter().map(|t| t.id));
    }
    ids.dedup();
    let open = store.list_tasks(d, true).await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(
        ids.iter().all(|id| *id == open[0].id),
        "each call answered the open one"
    );
    other.close().await;
    store.close().await;
}

/// PROTOCOL §16.5: a CPE that crashes on an RPC reconnects; sending the RPC again
/// crash-loops it. A release (the task was never sent) does not count.
async fn a_task_after_which_sessions_keep_ending_fails_with_the_reason(env: Env) {
    let store = env.store().await;
    let d = device(&store, "SN1").await;
    let q = enqueue(
        &store,
        d,
        &[intent("get_parameter_values", json!({}))],
        t(0),
    )
    .await;
    let c = claim(&store, d, "n/s0", t(1), CLAIM).await.unwrap();
    assert_eq!(
        store
            .settle_task(c.id, "n/s0", &TaskOutcome::Release, t(2))
            .await
            .unwrap(),
        TaskState::Pending
    );
    for n in 1..=3 {
        let at = 10 * n;
        let holder = format!("n/s{n}");
        let c = claim(&store, d, &holder, t(at), CLAIM).await.unwrap();
        let state = store
            .settle_task(c.id, &holder, &TaskOutcome::Unanswered, t(at + 1))
            .await
            .unwrap();
        let task = store.task(q[0].id).await.unwrap().unwrap();
        assert_eq!(task.unanswered, n);
        if n < 3 {
            assert_eq!(state, TaskState::Pending, "session {n}");
            assert_eq!(task.next_attempt_at, t(at + 1), "due at once");
        } else {
            assert_eq!(state, TaskState::Failed);
            assert_eq!(
                (task.fault_code, task.fault_string.as_deref()),
                (
                    None,
                    Some("the session ended 3 times right after this RPC was sent")
                )
            );
        }
    }
    assert!(claim(&store, d, "n/s9", t(100), CLAIM).await.is_none());
    assert_eq!(pending_settings(&store, "SN1").await, None);

    // the limit is the policy's
    let store = store.with_retry_policy(RetryPolicy {
        max_unanswered: 1,
        ..RetryPolicy::default()
    });
    enqueue(&store, d, &[intent("get_rpc_methods", json!({}))], t(200)).await;
    let c = claim(&store, d, "n/s", t(201), CLAIM).await.unwrap();
    assert_eq!(
        store
            .settle_task(c.id, "n/s", &TaskOutcome::Unanswered, t(202))
            .await
            .unwrap(),
        TaskState::Failed
    );
    store.close().await;
}

/// The session died after the RPC went out; the CPE carried it out and says so later (its
/// ParameterKey, `M Reboot`, a TransferComplete): the task, back to pending, is settled.
async fn a_report_settles_a_task_whose_session_ended_before_the_answer(env: Env) {
    let store = env.store().await;
    let d = device(&store, "SN1").await;
    let q = enqueue(
        &store,
        d,
        &[
            intent("set_parameter_values", json!({})),
            intent("reboot", json!({})),
        ],
        t(0),
    )
    .await;
    let c = claim(&store, d, "n/s1", t(1), CLAIM).await.unwrap();
    store
        .settle_task(c.id, "n/s1", &TaskOutcome::Unanswered, t(2))
        .await
        .unwrap();
    // a task never sent is not named by any report
    assert!(
        store
            .settle_task_by_command_key(d, &q[1].command_key, &TaskOutcome::Done, t(3))
            .await
            .unwrap()
            .is_none()
    );
    let settled = store
        .settle_task_by_command_key(d, &q[0].command_key, &TaskOutcome::Done, t(4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((settled.state, settled.unanswered), (TaskState::Done, 1));
    store.close().await;
}

/// Issue 14: an in-flight task could not be cancelled. Now it can, and the record says
/// what the CPE may already have received; a task never sent just goes.
async fn cancellation_keeps_what_the_cpe_may_have_received(env: Env) {
    let store = env.store().await;
    let d = device(&store, "SN1").await;
    let other = device(&store, "SN2").await;
    let q = enqueue(
        &store,
        d,
        &[
            intent("get_rpc_methods", json!({})),
            intent("reboot", json!({})),
            intent("set_parameter_values", json!({})),
            intent("firmware", json!({"firmware_image": 1})),
            intent("sync", json!({})),
        ],
        t(0),
    )
    .await;
    // get_rpc_methods: done; reboot: accepted, awaiting its boot; SPV: sent, no answer yet;
    // firmware: sent once, refused with a retryable fault, pending again; sync: never sent
    let claim_at = |at: i64| {
        let store = store.clone();
        async move { claim(&store, d, "n/s1", t(at), CLAIM).await.unwrap() }
    };
    let c = claim_at(1).await;
    store
        .settle_task(c.id, "n/s1", &TaskOutcome::Done, t(1))
        .await
        .unwrap();
    let c = claim_at(2).await;
    store
        .settle_task(
            c.id,
            "n/s1",
            &TaskOutcome::AwaitEvent { until: t(3600) },
            t(2),
        )
        .await
        .unwrap();
    let spv = claim_at(3).await;
    assert_eq!(spv.id, q[2].id);
    store.release_expired_tasks(t(3)).await.unwrap();
    let mut outcomes = Vec::new();
    for id in [q[0].id, q[1].id, q[2].id, q[4].id] {
        outcomes.push(store.cancel_task(d, id, t(10)).await.unwrap());
    }
    assert_eq!(outcomes[0], Cancellation::Ended(TaskState::Done));
    let Cancellation::Cancelled(reboot) = &outcomes[1] else {
        panic!("{:?}", outcomes[1])
    };
    assert_eq!(reboot.state, TaskState::Cancelled);
    assert!(
        reboot.fault_string.as_deref().unwrap().contains("accepted"),
        "{reboot:?}"
    );
    let Cancellation::Cancelled(sent) = &outcomes[2] else {
        panic!("{:?}", outcomes[2])
    };
    assert!(
        sent.fault_string
            .as_deref()
            .unwrap()
            .contains("may have received"),
        "{sent:?}"
    );
    assert_eq!(outcomes[3], Cancellation::Withdrawn);
    assert!(store.task(q[4].id).await.unwrap().is_none());
    // the session that sent the SPV cannot settle it any more; no report completes them
    assert!(
        store
            .settle_task(spv.id, "n/s1", &TaskOutcome::Done, t(11))
            .await
            .is_err()
    );
    for key in [&q[1].command_key, &q[2].command_key] {
        assert!(
            store
                .settle_task_by_command_key(d, key, &TaskOutcome::Done, t(12))
                .await
                .unwrap()
                .is_none()
        );
    }
    // the firmware task: sent, faulted, pending again; cancelled, the device is no longer
    // waiting for an image
    let fw = claim_at(20).await;
    assert_eq!(fw.id, q[3].id);
    let fault = TaskOutcome::Fault {
        code: 9002,
        string: "busy".into(),
        retryable: true,
    };
    store
        .settle_task(fw.id, "n/s1", &fault, t(21))
        .await
        .unwrap();
    assert!(stored(&store, "SN1").await.firmware_image_is_pending);
    let Cancellation::Cancelled(fw) = store.cancel_task(d, fw.id, t(22)).await.unwrap() else {
        panic!("the firmware task went out once")
    };
    assert_eq!((fw.state, fw.fault_code), (TaskState::Cancelled, None));
    assert!(
        fw.fault_string.as_deref().unwrap().contains("1 time"),
        "{fw:?}"
    );
    assert!(!stored(&store, "SN1").await.firmware_image_is_pending);
    // nothing is sent again, ever; nothing shows as pending
    assert!(claim(&store, d, "n/s2", t(100_000), CLAIM).await.is_none());
    assert_eq!(store.release_expired_tasks(t(100_000)).await.unwrap(), 0);
    assert_eq!(pending_settings(&store, "SN1").await, None);
    // cancelled twice: it has ended; another device's task: not found
    assert_eq!(
        store.cancel_task(d, q[1].id, t(30)).await.unwrap(),
        Cancellation::Ended(TaskState::Cancelled)
    );
    assert!(store.cancel_task(other, q[1].id, t(30)).await.is_err());
    assert_eq!(store.device_task(other, q[1].id).await.unwrap(), None);
    assert_eq!(
        store
            .device_task(d, q[1].id)
            .await
            .unwrap()
            .map(|t| t.state),
        Some(TaskState::Cancelled)
    );
    store.close().await;
}

/// How each merge policy keeps one wish per intent.
async fn each_merge_policy_keeps_one_wish(env: Env) {
    let store = env.store().await;
    let d = device(&store, "SN1").await;
    let queue = |tasks: Vec<NewTask>, at: i64| {
        let store = store.clone();
        async move { store.queue_tasks(d, &tasks, t(at)).await.unwrap() }
    };
    // one call with the same intent twice queues it once
    let q = queue(
        vec![intent("reboot", json!({})), intent("reboot", json!({}))],
        0,
    )
    .await;
    assert!(q[0].created && !q[1].created);
    assert_eq!(q[0].task.id, q[1].task.id);
    // in flight still covers it; once it has ended, a new one is queued
    let c = claim(&store, d, "n", t(1), CLAIM).await.unwrap();
    let again = queue(vec![intent("reboot", json!({}))], 2).await;
    assert_eq!((again[0].task.id, again[0].created), (c.id, false));
    store
        .settle_task(c.id, "n", &TaskOutcome::Done, t(3))
        .await
        .unwrap();
    let fresh = queue(vec![intent("reboot", json!({}))], 4).await;
    assert!(fresh[0].created);

    // a newer value replaces a pending one never sent; one that went out stays, and the
    // newer is queued after it
    let first = queue(
        vec![intent("update_frequency", json!({"interval": 60}))],
        10,
    )
    .await;
    let newer = queue(
        vec![intent("update_frequency", json!({"interval": 90}))],
        11,
    )
    .await;
    assert_eq!(
        (newer[0].task.id, newer[0].created),
        (first[0].task.id, false)
    );
    assert_eq!(newer[0].task.payload.0, json!({"interval": 90}));
    assert_eq!(newer[0].task.created, t(10), "keeps its place in the queue");

    // sync merges into a pending one only
    let s1 = queue(vec![intent("sync", json!({}))], 20).await;
    let s2 = queue(vec![intent("sync", json!({}))], 21).await;
    assert_eq!(s1[0].task.id, s2[0].task.id);

    // raw RPCs are never merged
    let a = queue(vec![intent("get_rpc_methods", json!({}))], 30).await;
    let b = queue(vec![intent("get_rpc_methods", json!({}))], 31).await;
    assert_ne!(a[0].task.id, b[0].task.id);

    let open: Vec<String> = store
        .list_tasks(d, true)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(
        open,
        [
            "reboot",
            "update_frequency",
            "sync",
            "get_rpc_methods",
            "get_rpc_methods"
        ]
    );
    // a device PATCH queues through the same rule, in its own transaction
    let patch = acs_store::DevicePatch::default();
    store
        .update_device("SN1", &patch, &[intent("reboot", json!({}))], t(40))
        .await
        .unwrap();
    assert_eq!(store.list_tasks(d, true).await.unwrap().len(), 5);
    store.close().await;
}

/// Migration 0006 rebuilds SQLite's task table (a new CHECK): every task keeps its row, and
/// a task already waiting for its completion event is marked accepted, so it is not sent
/// again after the upgrade.
async fn migration_0006_keeps_tasks_and_marks_those_awaiting_an_event(env: Env) {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let dialect = if env.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(dialect);
    let mut before: Vec<(i64, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| {
            let version: i64 = name.get(..4)?.parse().ok()?;
            (version < 6).then_some((version, name))
        })
        .collect();
    before.sort();
    let migrator = Migrator::with_migrations(
        before
            .iter()
            .map(|(version, name)| {
                let description = name[5..].trim_end_matches(".sql").to_owned();
                let sql = std::fs::read_to_string(dir.join(name)).unwrap();
                Migration::new(
                    *version,
                    description.into(),
                    MigrationType::Simple,
                    sqlx::AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
            .collect(),
    );
    // the schema before 0006, with one task of each kind of wait
    let rows = [
        ("pending", "reboot", None),
        ("in_flight", "reboot", Some(3600)),
        ("in_flight", "get_rpc_methods", Some(60)),
        ("done", "sync", None),
        ("failed", "download", None),
    ];
    let insert = "INSERT INTO tasks (device_id, command_key, kind, payload, setting_group, \
                  state, attempts, next_attempt_at, claimed_by, claim_expires_at, created, \
                  updated) VALUES (1, $1, $2, '{}', $2, $3, 1, $4, 'n', $5, $4, $4)";
    let device =
        "INSERT INTO devices (id, uuid, serial_number, created) VALUES (1, 'u', 'SN1', $1)";
    macro_rules! seed {
        ($pool:expr) => {{
            migrator.run(&$pool).await.unwrap();
            sqlx::query(device)
                .bind(t(0))
                .execute(&$pool)
                .await
                .unwrap();
            for (i, (state, kind, claim)) in rows.iter().enumerate() {
                sqlx::query(insert)
                    .bind(format!("key-{i}"))
                    .bind(*kind)
                    .bind(*state)
                    .bind(t(0))
                    .bind(claim.map(|secs: i64| t(secs)))
                    .execute(&$pool)
                    .await
                    .unwrap();
            }
            $pool.close().await;
        }};
    }
    if env.is_postgres() {
        let pool = sqlx::PgPool::connect(&env.url).await.unwrap();
        seed!(pool);
    } else {
        let options: sqlx::sqlite::SqliteConnectOptions = env.url.parse().unwrap();
        let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
            .await
            .unwrap();
        seed!(pool);
    }
    let store = env.store().await;
    let tasks = store.list_tasks(1, false).await.unwrap();
    let seen: Vec<(&str, &str, bool)> = tasks
        .iter()
        .map(|t| (t.state.as_str(), t.kind.as_str(), t.accepted_at.is_some()))
        .collect();
    assert_eq!(
        seen,
        [
            ("pending", "reboot", false),
            ("in_flight", "reboot", true),
            ("in_flight", "get_rpc_methods", false),
            ("done", "sync", false),
            ("failed", "download", false),
        ]
    );
    assert!(tasks.iter().all(|t| t.unanswered == 0));
    // the waiting reboot ends unconfirmed; the plain claim is claimable again
    store.release_expired_tasks(t(4000)).await.unwrap();
    let states: Vec<TaskState> = store
        .list_tasks(1, false)
        .await
        .unwrap()
        .iter()
        .map(|t| t.state)
        .collect();
    assert_eq!(states[1], TaskState::Unconfirmed);
    assert_eq!(states[2], TaskState::Pending);
    // the new states pass the rebuilt CHECK, the indexes are back
    store
        .settle_task_by_command_key(
            1,
            "key-2",
            &TaskOutcome::Cancelled { reason: "x".into() },
            t(4001),
        )
        .await
        .ok();
    store.close().await;
}
