//! The cases. Each takes a fresh database; assertions are on what callers see.

use std::time::Duration;

use acs_store::{CR_LOG_KEEP, CrCredentials, CrProvision};
use acs_store::{Cancellation, DevicePassword};
use acs_store::{Device, FIRMWARE_TASK_KIND, LIST_SORT_THRESHOLD};
use acs_store::{
    DeviceFilter, DevicePatch, DeviceStatus, DeviceTypeProfile, Inform, InformEvent, InformOutcome,
    InformWriter, Merge, NewDevice, NewDeviceType, NewFirmwareImage, NewLocation, NewTask,
    NewTrace, ParameterValue, ProfileDefault, RetryPolicy, SecretKey, SessionOp, SessionOpOutcome,
    SessionStart, SessionStartOutcome, SessionTurn, StatusPolicy, Store, StoreError, TaskOutcome,
    TaskState, TokenHash, TokenScope, TraceDirection, WriterConfig, WriterTask,
};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::fixtures::{claim, enqueue, stored, t};
use super::harness::Env;
use super::informs::hgw_inform;

cases!(
    migrations_are_idempotent,
    migrations_refuse_a_newer_schema,
    inform_registers_unknown_device_with_parameters_and_events,
    inform_updates_known_device_and_flips_status_once,
    inform_without_auto_register_writes_nothing,
    inform_for_inactive_device_writes_nothing,
    inform_under_another_identity_is_refused_and_writes_nothing,
    inform_outcome_carries_the_debug_flag,
    inform_with_duplicate_paths_keeps_the_last,
    writer_batches_concurrent_informs,
    batch_with_a_repeated_serial_inserts_once_and_keeps_the_last,
    duplicate_serial_is_a_conflict,
    unknown_foreign_key_writes_nothing,
    list_filters_count_order_and_pages,
    organization_scope_limits_the_list,
    list_pages_since_are_the_same_under_either_plan,
    pending_settings_joins_open_groups,
    update_device_applies_patch_and_tasks_atomically,
    claim_takes_due_tasks_in_creation_order,
    concurrent_claimers_never_share_a_task,
    session_lease_is_exclusive_and_expires,
    session_start_takes_the_lease_then_stores_the_inform,
    session_start_refused_device_gives_the_lease_back,
    session_turn_claims_under_the_lease_or_ends_the_session,
    session_ops_apply_in_order_in_one_batch,
    session_ops_for_many_devices_in_one_batch,
    writer_batches_session_starts_one_winner_per_device,
    bootstrap_start_replaces_stored_parameters,
    crash_between_claim_and_settle_is_claimable_after_expiry,
    faults_retry_with_backoff_then_fail,
    await_event_task_settles_by_command_key,
    reported_results_and_cancellations_are_kept,
    firmware_pending_follows_the_open_firmware_tasks,
    a_device_registered_with_an_image_has_its_download_queued_with_it,
    a_new_firmware_choice_withdraws_the_pending_download,
    last_done_task_is_the_newest_done_of_its_kind,
    delete_device_removes_parameters_tasks_and_history,
    password_is_encrypted_at_rest_and_redacted,
    key_file_is_generated_0600_and_reloaded,
    token_is_stored_as_hash_and_looked_up,
    token_reaches_several_organizations,
    catalog_updates_organizations_and_locations,
    firmware_metadata_updates,
    token_last_used_is_stamped_at_most_once_a_minute,
    device_count_and_page_agree_with_the_list,
    status_sweep_marks_overdue_devices_down,
    traces_are_bounded_oldest_dropped,
    traces_are_paged_and_pruned_by_age,
    parameters_by_prefix_bulk_upsert_and_delete,
    parameter_updated_moves_only_when_the_value_changes,
    catalog_round_trips_and_refuses_deleting_used_rows,
    cr_credentials_become_usable_only_when_accepted,
    cr_provisioning_generates_once_and_queues_one_task,
    peer_address_comes_from_the_inform,
    connection_request_log_keeps_the_newest,
);

fn param(path: &str, value: &str) -> ParameterValue {
    ParameterValue {
        path: path.into(),
        value: value.into(),
        xsd_type: "xsd:string".into(),
        writable: None,
    }
}

fn inform(serial: &str, now: DateTime<Utc>) -> Inform {
    let mut parameters: Vec<ParameterValue> = (0..18)
        .map(|i| param(&format!("Device.X_Test.Value.{i}"), &format!("v{i}")))
        .collect();
    parameters.push(param("Device.DeviceInfo.SoftwareVersion", "1.2.3"));
    parameters.push(param("Device.ManagementServer.ParameterKey", "pk1"));
    let events = vec![
        InformEvent {
            code: "1 BOOT".into(),
            command_key: String::new(),
        },
        InformEvent {
            code: "M Reboot".into(),
            command_key: "acs-1".into(),
        },
    ];
    hgw_inform(serial.into(), now, "pk1", events, parameters)
}

/// What the upsert answers for a device without a type, debug mode or connection-request
/// username (every device these cases register by Inform).
fn accepted(device_id: i64, created: bool, came_up: bool) -> InformOutcome {
    InformOutcome::Accepted {
        device_id,
        created,
        came_up,
        type_id: None,
        debug: false,
        has_cr_username: false,
    }
}

/// A TR-181 device type (data model root `Device.`).
fn tr181_type(short_name: &str, name: &str, profile: DeviceTypeProfile) -> NewDeviceType {
    NewDeviceType {
        short_name: short_name.into(),
        name: name.into(),
        data_model_root: "Device.".into(),
        profile,
    }
}

fn new_device(serial: &str) -> NewDevice {
    NewDevice {
        serial_number: serial.into(),
        ..NewDevice::default()
    }
}

fn task(group: &str) -> NewTask {
    NewTask {
        kind: "set_parameter_values".into(),
        setting_group: group.into(),
        payload: json!({"x": 1}),
        merge: Merge::Never,
    }
}

async fn device_id(store: &Store, serial: &str) -> i64 {
    stored(store, serial).await.id
}

/// A writer whose batches hold up to 64 steps, gathered for up to 5 ms: concurrent
/// submissions share batches.
fn batching_writer(store: &Store) -> (InformWriter, WriterTask) {
    let config = WriterConfig {
        max_batch: 64,
        max_delay: Duration::from_millis(5),
        queue: 1024,
        ..WriterConfig::for_dialect(store.dialect())
    };
    InformWriter::spawn(store.clone(), config)
}

/// `err` refuses a reference, `field`, to a row that does not exist: `value`.
fn assert_foreign_key(err: &StoreError, field: &str, value: i64) {
    assert!(
        matches!(err, StoreError::ForeignKey { field: f, value: v } if *f == field && *v == value),
        "{err:?}"
    );
}

async fn raw_count(env: &Env, sql: &'static str) -> i64 {
    with_raw_pool!(env, |pool| sqlx::query_scalar(sql)
        .fetch_one(&pool)
        .await
        .unwrap())
}

async fn migrations_are_idempotent(env: Env) {
    let store = env.store().await;
    store.migrate().await.unwrap();
    store.close().await;
    let again = env.store().await;
    again.migrate().await.unwrap();
    // each migration applied once, up to the newest (numbers may have gaps: each area of
    // work takes its own number)
    assert_eq!(
        raw_count(&env, "SELECT MAX(version) FROM _sqlx_migrations").await,
        again.schema_version()
    );
    assert_eq!(
        raw_count(&env, "SELECT COUNT(*) FROM _sqlx_migrations").await,
        raw_count(&env, "SELECT COUNT(DISTINCT version) FROM _sqlx_migrations").await,
    );
    again.close().await;
}

async fn migrations_refuse_a_newer_schema(env: Env) {
    let store = env.store().await;
    store.close().await;
    let insert = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                  VALUES (9999, 'from the future', TRUE, $1, 0)";
    with_raw_pool!(env, |pool| {
        let inserted = sqlx::query(insert).bind(vec![0u8]).execute(&pool).await;
        assert_eq!(inserted.unwrap().rows_affected(), 1);
    });
    let store = Store::connect(&env.url, env.key()).await.unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 9999, supported } if supported == store.schema_version()),
        "{err:?}"
    );
    assert!(err.to_string().contains("9999"), "{err}");
    store.close().await;
}

async fn inform_registers_unknown_device_with_parameters_and_events(env: Env) {
    let store = env.store().await;
    let out = store.upsert_inform(&inform("SN1", t(10))).await.unwrap();
    let InformOutcome::Accepted {
        device_id,
        created: true,
        came_up: true,
        type_id: None,
        debug: false,
        has_cr_username: false,
    } = out
    else {
        panic!("unexpected {out:?}")
    };
    let d = stored(&store, "SN1").await;
    assert_eq!(d.id, device_id);
    assert_eq!(d.status, DeviceStatus::Up);
    assert_eq!(d.status_change, Some(t(10)));
    assert_eq!(d.last_connection, Some(t(10)));
    assert!(d.is_active);
    assert_eq!(d.oui.as_deref(), Some("00D09E"));
    assert_eq!(d.product_class.as_deref(), Some("HGW"));
    assert_eq!(d.manufacturer.as_deref(), Some("Acme"));
    assert_eq!(d.software_version.as_deref(), Some("1.2.3"));
    assert_eq!(d.hardware_version.as_deref(), Some("v2"));
    assert_eq!(d.address.as_deref(), Some("10.0.0.1"));
    assert_eq!(
        d.connection_request_url.as_deref(),
        Some("http://10.0.0.1:7547/cr")
    );
    assert_eq!(d.parameter_key.as_deref(), Some("pk1"));
    assert_eq!(d.unique_identifier.as_deref(), Some("00D09E-HGW-SN1"));
    assert_eq!(d.uuid.len(), 36);
    assert_eq!(d.pending_settings, None);
    let params = store.list_parameters(device_id, "").await.unwrap();
    assert_eq!(params.len(), 20);
    assert!(params.iter().all(|p| p.updated == t(10)));
    let events = store.list_events(device_id, 10).await.unwrap();
    let mut codes: Vec<(String, String)> = events
        .into_iter()
        .map(|e| (e.code, e.command_key))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![
            ("1 BOOT".into(), "".into()),
            ("M Reboot".into(), "acs-1".into())
        ]
    );
    store.close().await;
}

async fn inform_updates_known_device_and_flips_status_once(env: Env) {
    let store = env.store().await;
    let created = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    assert_eq!(created.status, DeviceStatus::Down);
    let out = store.upsert_inform(&inform("SN1", t(100))).await.unwrap();
    assert_eq!(out, accepted(created.id, false, true));
    let mut later = inform("SN1", t(400));
    later.software_version = Some("2.0".into());
    later.address = None;
    let out = store.upsert_inform(&later).await.unwrap();
    assert_eq!(out, accepted(created.id, false, false));
    let d = stored(&store, "SN1").await;
    assert_eq!(
        d.status_change,
        Some(t(100)),
        "status_change moves only on a flip"
    );
    assert_eq!(d.last_connection, Some(t(400)));
    assert_eq!(d.software_version.as_deref(), Some("2.0"));
    assert_eq!(
        d.address.as_deref(),
        Some("10.0.0.1"),
        "an absent value keeps the stored one"
    );
    assert_eq!(d.created, t(0));
    store.close().await;
}

async fn inform_without_auto_register_writes_nothing(env: Env) {
    let store = env.store().await;
    let mut i = inform("SN1", t(0));
    i.auto_register = false;
    assert_eq!(
        store.upsert_inform(&i).await.unwrap(),
        InformOutcome::Unknown
    );
    assert!(store.device_by_serial("SN1").await.unwrap().is_none());
    assert_eq!(raw_count(&env, "SELECT COUNT(*) FROM parameters").await, 0);
    assert_eq!(raw_count(&env, "SELECT COUNT(*) FROM events").await, 0);
    store.close().await;
}

async fn inform_for_inactive_device_writes_nothing(env: Env) {
    let store = env.store().await;
    let mut nd = new_device("SN1");
    nd.is_active = Some(false);
    let d = store.create_device(&nd, t(0)).await.unwrap();
    let out = store.upsert_inform(&inform("SN1", t(10))).await.unwrap();
    assert_eq!(out, InformOutcome::Inactive { device_id: d.id });
    let after = stored(&store, "SN1").await;
    assert_eq!(after.last_connection, None);
    assert_eq!(after.status, DeviceStatus::Down);
    assert!(store.list_parameters(d.id, "").await.unwrap().is_empty());
    store.close().await;
}

async fn inform_with_duplicate_paths_keeps_the_last(env: Env) {
    let store = env.store().await;
    let mut i = inform("SN1", t(0));
    // ZTE lists ConnectionRequestURL twice in one Inform
    i.parameters = vec![
        param("Device.ManagementServer.ConnectionRequestURL", "http://a"),
        param("Device.ManagementServer.ConnectionRequestURL", "http://b"),
    ];
    store.upsert_inform(&i).await.unwrap();
    let id = device_id(&store, "SN1").await;
    let params = store
        .list_parameters(id, "Device.ManagementServer.")
        .await
        .unwrap();
    assert_eq!(params.len(), 1);
    assert_eq!(params[0].value, "http://b");
    store.close().await;
}

async fn writer_batches_concurrent_informs(env: Env) {
    let store = env.store().await;
    let (writer, task) = batching_writer(&store);
    let mut handles = Vec::new();
    for n in 0..200 {
        let w = writer.clone();
        handles.push(tokio::spawn(async move {
            w.submit(inform(&format!("W{n:04}"), t(n))).await
        }));
    }
    // the same serial twice in one batch: second is an update, not a conflict
    let w = writer.clone();
    handles.push(tokio::spawn(async move {
        w.submit(inform("W0000", t(500))).await
    }));
    let mut created = 0;
    for h in handles {
        match h.await.unwrap().unwrap() {
            InformOutcome::Accepted { created: true, .. } => created += 1,
            InformOutcome::Accepted { created: false, .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 200);
    drop(writer);
    task.join().await;
    let page = store
        .list_devices(&DeviceFilter::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(page.count, 200);
    assert_eq!(
        raw_count(&env, "SELECT COUNT(*) FROM parameters").await,
        200 * 20
    );
    store.close().await;
}

/// A serial number on record under one OUI/ProductClass is not another vendor's: an Inform
/// naming another identity is refused and writes nothing (device row, events, parameters,
/// lease). OUI and ProductClass compare case-insensitively; an Inform without a ProductClass
/// does not contradict one on record; a device registered without either adopts the first
/// Inform's. In one batch, through a session start, and alone.
async fn inform_under_another_identity_is_refused_and_writes_nothing(env: Env) {
    let store = env.store().await;
    let first = store.upsert_inform(&inform("SN1", t(10))).await.unwrap();
    let InformOutcome::Accepted { device_id, .. } = first else {
        panic!("{first:?}")
    };
    let before = stored(&store, "SN1").await;
    let conflict = InformOutcome::IdentityConflict {
        device_id,
        oui: Some("00D09E".into()),
        product_class: Some("HGW".into()),
    };
    let mut other_vendor = inform("SN1", t(20));
    other_vendor.oui = "A1B2C3".into();
    other_vendor.software_version = Some("9.9".into());
    let mut other_class = inform("SN1", t(20));
    other_class.product_class = Some("OTHER".into());
    for refused in [&other_vendor, &other_class] {
        assert_eq!(store.upsert_inform(refused).await.unwrap(), conflict);
    }
    assert_eq!(stored(&store, "SN1").await, before);
    assert_eq!(store.list_events(device_id, 10).await.unwrap().len(), 2);
    // through a session start: refused, and the lease given back
    let mut start_other = start("SN1", "a", t(30));
    start_other.inform = other_vendor.clone();
    assert_eq!(
        store.start_session(&start_other).await.unwrap(),
        SessionStartOutcome::Started(conflict.clone())
    );
    assert!(!store.session_lease_active("SN1", t(31)).await.unwrap());

    // the same identity written differently is the same device
    let mut lower = inform("SN1", t(40));
    lower.oui = "00d09e".into();
    lower.product_class = Some("hgw".into());
    let mut no_class = inform("SN1", t(50));
    no_class.product_class = None;
    for same in [&lower, &no_class] {
        let out = store.upsert_inform(same).await.unwrap();
        assert!(matches!(out, InformOutcome::Accepted { .. }), "{out:?}");
    }

    // registered through the API without an identity: the first Inform's is adopted
    store.create_device(&new_device("PRE"), t(0)).await.unwrap();
    let mut adopted = inform("PRE", t(60));
    adopted.oui = "A1B2C3".into();
    adopted.product_class = Some("SG".into());
    let out = store.upsert_inform(&adopted).await.unwrap();
    assert!(matches!(out, InformOutcome::Accepted { .. }), "{out:?}");
    let pre = stored(&store, "PRE").await;
    assert_eq!(
        (pre.oui.as_deref(), pre.product_class.as_deref()),
        (Some("A1B2C3"), Some("SG"))
    );
    let out = store.upsert_inform(&inform("PRE", t(70))).await.unwrap();
    assert!(
        matches!(out, InformOutcome::IdentityConflict { .. }),
        "{out:?}"
    );

    // one batch: a new serial inserted by its first Inform, then another vendor's
    let mut twin = inform("NEW", t(80));
    twin.oui = "A1B2C3".into();
    let out = store
        .upsert_informs(&[inform("NEW", t(80)), twin])
        .await
        .unwrap();
    assert!(
        matches!(out[0], InformOutcome::Accepted { created: true, .. }),
        "{out:?}"
    );
    assert!(
        matches!(
            &out[1],
            InformOutcome::IdentityConflict { oui: Some(o), .. } if o == "00D09E"
        ),
        "{out:?}"
    );
    let new = stored(&store, "NEW").await;
    assert_eq!(new.oui.as_deref(), Some("00D09E"));
    store.close().await;
}

/// The Inform upsert reads the device row anyway: it hands the session the device's `debug`
/// flag, so a session knows whether to record itself without another read.
async fn inform_outcome_carries_the_debug_flag(env: Env) {
    let store = env.store().await;
    let mut nd = new_device("DBG");
    nd.debug = Some(true);
    store.create_device(&nd, t(0)).await.unwrap();
    for serial in ["DBG", "PLAIN"] {
        let out = store.upsert_inform(&inform(serial, t(10))).await.unwrap();
        let InformOutcome::Accepted { debug, .. } = out else {
            panic!("{out:?}")
        };
        assert_eq!(debug, serial == "DBG", "{serial}");
    }
    let out = store
        .start_session(&start("DBG", "a", t(20)))
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            SessionStartOutcome::Started(InformOutcome::Accepted { debug: true, .. })
        ),
        "{out:?}"
    );
    store.close().await;
}

async fn batch_with_a_repeated_serial_inserts_once_and_keeps_the_last(env: Env) {
    let store = env.store().await;
    store.create_device(&new_device("OLD"), t(0)).await.unwrap();
    let mut second = inform("NEW", t(20));
    second.software_version = Some("2.0".into());
    second.parameters[0].value = "last".into();
    let mut off = inform("NOPE", t(5));
    off.auto_register = false;
    let batch = [
        inform("NEW", t(10)),
        inform("OLD", t(10)),
        off,
        second,
        inform("OLD", t(30)),
    ];
    let out = store.upsert_informs(&batch).await.unwrap();
    let new_id = device_id(&store, "NEW").await;
    let old_id = device_id(&store, "OLD").await;
    assert_eq!(
        out,
        vec![
            accepted(new_id, true, true),
            accepted(old_id, false, true),
            InformOutcome::Unknown,
            accepted(new_id, false, false),
            accepted(old_id, false, false),
        ]
    );
    let new = stored(&store, "NEW").await;
    assert_eq!(
        (new.software_version.as_deref(), new.last_connection),
        (Some("2.0"), Some(t(20)))
    );
    assert_eq!(new.status_change, Some(t(10)));
    let old = stored(&store, "OLD").await;
    assert_eq!(
        (old.last_connection, old.status_change),
        (Some(t(30)), Some(t(10))),
        "came up at its first Inform of the batch"
    );
    let p = store
        .list_parameters(new_id, "Device.X_Test.Value.0")
        .await
        .unwrap();
    assert_eq!(p[0].value, "last");
    assert_eq!(
        store.list_events(new_id, 10).await.unwrap().len(),
        4,
        "events of both Informs"
    );
    assert!(store.device_by_serial("NOPE").await.unwrap().is_none());
    store.close().await;
}

async fn duplicate_serial_is_a_conflict(env: Env) {
    let store = env.store().await;
    store
        .create_device(&new_device("ZN123456789"), t(0))
        .await
        .unwrap();
    let err = store
        .create_device(&new_device("ZN123456789"), t(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("ZN123456789"), "{err}");
    store.close().await;
}

async fn unknown_foreign_key_writes_nothing(env: Env) {
    let store = env.store().await;
    let mut nd = new_device("SN1");
    nd.organization_id = Some(999);
    let err = store.create_device(&nd, t(0)).await.unwrap_err();
    assert_foreign_key(&err, "organization_id", 999);
    assert!(err.to_string().contains("organization_id"), "{err}");
    let mut nd = new_device("SN1");
    nd.type_id = Some(7);
    let err = store.create_device(&nd, t(0)).await.unwrap_err();
    assert_foreign_key(&err, "type", 7);
    assert_eq!(raw_count(&env, "SELECT COUNT(*) FROM devices").await, 0);

    let d = store.create_device(&new_device("SN2"), t(0)).await.unwrap();
    let patch = DevicePatch {
        name: Some(Some("renamed".into())),
        location_id: Some(Some(55)),
        ..DevicePatch::default()
    };
    let err = store
        .update_device("SN2", &patch, &[task("location_update")], t(1))
        .await
        .unwrap_err();
    assert_foreign_key(&err, "location", 55);
    let after = stored(&store, "SN2").await;
    assert_eq!(after.name, None);
    assert!(store.list_tasks(d.id, false).await.unwrap().is_empty());
    let err = store
        .enqueue_tasks(12345, &[task("reboot")], t(1))
        .await
        .unwrap_err();
    assert_foreign_key(&err, "device", 12345);
    assert_eq!(raw_count(&env, "SELECT COUNT(*) FROM tasks").await, 0);
    store.close().await;
}

async fn list_filters_count_order_and_pages(env: Env) {
    let store = env.store().await;
    let org1 = store.create_organization("one", t(0)).await.unwrap().id;
    let org2 = store.create_organization("two", t(0)).await.unwrap().id;
    let ty = store
        .create_device_type(
            &tr181_type(
                "enterprise_router",
                "Enterprise router",
                DeviceTypeProfile::default(),
            ),
            t(0),
        )
        .await
        .unwrap()
        .id;
    // 30 devices: every third in org2, even ones typed, every fifth inactive, first 10 Up
    for n in 0..30 {
        let mut nd = new_device(&format!("L{n:03}"));
        nd.organization_id = Some(if n % 3 == 0 { org2 } else { org1 });
        nd.type_id = (n % 2 == 0).then_some(ty);
        nd.is_active = Some(n % 5 != 0);
        store.create_device(&nd, t(0)).await.unwrap();
    }
    for n in 0..10 {
        if n % 5 != 0 {
            store
                .upsert_inform(&inform(&format!("L{n:03}"), t(100 + n)))
                .await
                .unwrap();
        }
    }
    let all = DeviceFilter::default();
    let page = store.list_devices(&all, 100, 0).await.unwrap();
    assert_eq!(page.count, 30);
    let ids: Vec<i64> = page.items.iter().map(|d| d.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ordered by id");

    let count = |f: DeviceFilter| {
        let store = store.clone();
        async move {
            let p = store.list_devices(&f, 1000, 0).await.unwrap();
            assert_eq!(p.count as usize, p.items.len());
            p
        }
    };
    let p = count(DeviceFilter {
        organization_id: Some(org2),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(p.count, 10);
    assert!(p.items.iter().all(|d| d.organization_id == Some(org2)));
    let p = count(DeviceFilter {
        type_id: Some(ty),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(p.count, 15);
    assert!(
        p.items
            .iter()
            .all(|d| d.type_short_name.as_deref() == Some("enterprise_router"))
    );
    let p = count(DeviceFilter {
        is_active: Some(false),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(p.count, 6);
    let p = count(DeviceFilter {
        status: Some(DeviceStatus::Up),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(p.count, 8);
    let p = count(DeviceFilter {
        status: Some(DeviceStatus::Down),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(p.count, 22);
    let p = count(DeviceFilter {
        status_change_from: Some(t(105)),
        ..DeviceFilter::default()
    })
    .await;
    assert_eq!(p.count, 4, "L006..L009 came up at t(106)..t(109)");
    let p = count(DeviceFilter {
        organization_id: Some(org1),
        status: Some(DeviceStatus::Up),
        type_id: Some(ty),
        is_active: Some(true),
        ..DeviceFilter::default()
    })
    .await;
    // up (1..9 minus 5) and org1 (not multiple of 3) and even: 2, 4, 8
    assert_eq!(
        p.items
            .iter()
            .map(|d| d.serial_number.as_str())
            .collect::<Vec<_>>(),
        ["L002", "L004", "L008"]
    );

    // pages: no overlap, no gap, stable
    let mut seen = Vec::new();
    for offset in (0..30).step_by(7) {
        let p = store.list_devices(&all, 7, offset).await.unwrap();
        assert_eq!(p.count, 30);
        seen.extend(p.items.into_iter().map(|d| d.id));
    }
    assert_eq!(seen, ids);
    let past = store.list_devices(&all, 10, 100).await.unwrap();
    assert_eq!((past.count, past.items.len()), (30, 0));
    store.close().await;
}

async fn organization_scope_limits_the_list(env: Env) {
    let store = env.store().await;
    let a = store.create_organization("a", t(0)).await.unwrap().id;
    let b = store.create_organization("b", t(0)).await.unwrap().id;
    let c = store.create_organization("c", t(0)).await.unwrap().id;
    for (serial, org) in [("A1", a), ("B1", b), ("C1", c), ("A2", a)] {
        let mut nd = new_device(serial);
        nd.organization_id = Some(org);
        store.create_device(&nd, t(0)).await.unwrap();
    }
    store
        .create_device(&new_device("NONE"), t(0))
        .await
        .unwrap();
    let scoped = DeviceFilter {
        organization_scope: Some(vec![a, c]),
        ..DeviceFilter::default()
    };
    let p = store.list_devices(&scoped, 10, 0).await.unwrap();
    assert_eq!(
        p.items
            .iter()
            .map(|d| d.serial_number.as_str())
            .collect::<Vec<_>>(),
        ["A1", "C1", "A2"]
    );
    assert_eq!(p.count, 3);
    let nothing = DeviceFilter {
        organization_scope: Some(vec![]),
        ..DeviceFilter::default()
    };
    assert_eq!(store.list_devices(&nothing, 10, 0).await.unwrap().count, 0);
    let outside = DeviceFilter {
        organization_scope: Some(vec![a]),
        organization_id: Some(b),
        ..DeviceFilter::default()
    };
    assert_eq!(store.list_devices(&outside, 10, 0).await.unwrap().count, 0);
    store.close().await;
}

/// Sets each device's status and status change directly, so the list filters meet changes
/// out of id order, equal ones and devices that never changed.
async fn set_status_changes(env: &Env, rows: &[(i64, &str, Option<DateTime<Utc>>)]) {
    const SQL: &str = "UPDATE devices SET status = $1, status_change = $2 WHERE id = $3";
    with_raw_pool!(env, |pool| for (id, status, at) in rows {
        sqlx::query(SQL)
            .bind(status)
            .bind(at)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
    })
}

/// A `type` + `last_status_change_from` page is found either by walking the type in id
/// order or by sorting the range's matches (SQLite; PostgreSQL plans on its own). Every plan,
/// on either side of the threshold, gives the pages a plain filter over all devices gives.
async fn list_pages_since_are_the_same_under_either_plan(env: Env) {
    let store = env.store().await;
    let org1 = store.create_organization("one", t(0)).await.unwrap().id;
    let org2 = store.create_organization("two", t(0)).await.unwrap().id;
    let mut types = Vec::new();
    for name in ["walk_a", "walk_b"] {
        let ty = store
            .create_device_type(&tr181_type(name, name, DeviceTypeProfile::default()), t(0))
            .await
            .unwrap();
        types.push(ty.id);
    }
    // 90 devices: a third untyped, every fourth inactive, alternate organizations; their
    // status changes jump around in id order, repeat, and every seventh never changed.
    let mut rows = Vec::new();
    for n in 0..90i64 {
        let mut nd = new_device(&format!("W{n:03}"));
        nd.type_id = match n % 3 {
            0 => None,
            1 => Some(types[0]),
            _ => Some(types[1]),
        };
        nd.is_active = Some(n % 4 != 0);
        nd.organization_id = Some(if n % 2 == 0 { org1 } else { org2 });
        let id = store.create_device(&nd, t(0)).await.unwrap().id;
        let status = if n % 5 < 3 { "Up" } else { "Down" };
        let at = (n % 7 != 0).then(|| t(1000 + (n * 37) % 60));
        rows.push((id, status, at));
    }
    set_status_changes(&env, &rows).await;
    let everything: Vec<Device> = store
        .list_device_page(&DeviceFilter::default(), 1000, 0)
        .await
        .unwrap();
    assert_eq!(everything.len(), 90);

    let matches = |f: &DeviceFilter, d: &Device| {
        f.type_id.is_none_or(|v| d.type_id == Some(v))
            && f.is_active.is_none_or(|v| d.is_active == v)
            && f.status.is_none_or(|v| d.status == v)
            && f.organization_id
                .is_none_or(|v| d.organization_id == Some(v))
            && f.status_change_from
                .is_none_or(|v| d.status_change.is_some_and(|at| at >= v))
            && f.organization_scope
                .as_ref()
                .is_none_or(|s| d.organization_id.is_some_and(|o| s.contains(&o)))
    };
    let since = |secs: i64| DeviceFilter {
        type_id: Some(types[0]),
        status_change_from: Some(t(secs)),
        ..DeviceFilter::default()
    };
    let filters = [
        since(1000),
        // a bound equal to a stored change (W010's: inclusive), one past them all, one before
        since(1010),
        since(1060),
        since(0),
        DeviceFilter {
            is_active: Some(true),
            ..since(1020)
        },
        DeviceFilter {
            is_active: Some(false),
            ..since(1010)
        },
        DeviceFilter {
            status: Some(DeviceStatus::Up),
            is_active: Some(true),
            ..since(1005)
        },
        DeviceFilter {
            type_id: Some(types[1]),
            organization_id: Some(org2),
            ..since(1015)
        },
        DeviceFilter {
            organization_scope: Some(vec![org1]),
            ..since(1000)
        },
        DeviceFilter {
            organization_scope: Some(vec![]),
            ..since(1000)
        },
    ];
    let mut plans_met = 0;
    for filter in &filters {
        let want: Vec<i64> = everything
            .iter()
            .filter(|d| matches(filter, d))
            .map(|d| d.id)
            .collect();
        let n = want.len() as i64;
        assert_eq!(store.count_devices(filter).await.unwrap(), n, "{filter:?}");
        plans_met += usize::from(n > 0);
        // always walk, always sort, the default, and both sides of this filter's count
        for threshold in [0, i64::MAX, LIST_SORT_THRESHOLD, n, n + 1] {
            let store = store.clone().with_list_sort_threshold(threshold);
            let all = store.list_device_page(filter, 1000, 0).await.unwrap();
            let ids: Vec<i64> = all.iter().map(|d| d.id).collect();
            assert_eq!(ids, want, "{filter:?} at threshold {threshold}");
            let mut paged = Vec::new();
            for offset in (0..n + 8).step_by(4) {
                let page = store.list_device_page(filter, 4, offset).await.unwrap();
                assert!(page.len() <= 4);
                paged.extend(page.into_iter().map(|d| d.id));
            }
            assert_eq!(
                paged, want,
                "{filter:?} in pages of 4 at threshold {threshold}"
            );
            assert!(
                store
                    .list_device_page(filter, 0, 0)
                    .await
                    .unwrap()
                    .is_empty(),
                "limit 0"
            );
        }
    }
    assert!(plans_met >= 8, "most filters match something");
    store.close().await;
}

async fn pending_settings_joins_open_groups(env: Env) {
    let store = env.store().await;
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    let other = store.create_device(&new_device("SN2"), t(0)).await.unwrap();
    enqueue(
        &store,
        d.id,
        &[
            task("firmware_upgrade"),
            task("location_update"),
            task("firmware_upgrade"),
        ],
        t(1),
    )
    .await;
    let done = enqueue(&store, d.id, &[task("reboot")], t(2)).await;
    enqueue(&store, other.id, &[task("sync")], t(2)).await;
    // settle the reboot: claim everything up to it, release the rest
    let mut claimed = Vec::new();
    while let Some(c) = claim(&store, d.id, "n1", t(3), Duration::from_secs(60)).await {
        claimed.push(c);
    }
    for c in &claimed {
        let outcome = if c.id == done[0].id {
            TaskOutcome::Done
        } else {
            TaskOutcome::Release
        };
        store.settle_task(c.id, "n1", &outcome, t(4)).await.unwrap();
    }
    let got = stored(&store, "SN1").await;
    assert_eq!(
        got.pending_settings.as_deref(),
        Some("firmware_upgrade,location_update")
    );
    let page = store
        .list_devices(&DeviceFilter::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(
        page.items[0].pending_settings.as_deref(),
        Some("firmware_upgrade,location_update")
    );
    assert_eq!(page.items[1].pending_settings.as_deref(), Some("sync"));
    let fresh = store.create_device(&new_device("SN3"), t(0)).await.unwrap();
    assert_eq!(fresh.pending_settings, None);
    store.close().await;
}

async fn update_device_applies_patch_and_tasks_atomically(env: Env) {
    let store = env.store().await;
    let mut nd = new_device("SN1");
    nd.name = Some("old".into());
    nd.description = Some("desc".into());
    store.create_device(&nd, t(0)).await.unwrap();
    let patch = DevicePatch {
        name: Some(Some("Office Router".into())),
        description: Some(None),
        latitude: Some(Some("37.7749".into())),
        longitude: Some(Some("-122.4194".into())),
        location_name: Some(Some("HQ".into())),
        update_frequency: Some(Some(300)),
        debug: Some(true),
        ..DevicePatch::default()
    };
    let d = store
        .update_device("SN1", &patch, &[task("location_update")], t(5))
        .await
        .unwrap();
    assert_eq!(d.name.as_deref(), Some("Office Router"));
    assert_eq!(d.description, None);
    assert_eq!(d.latitude.as_deref(), Some("37.7749"));
    assert_eq!(d.longitude.as_deref(), Some("-122.4194"));
    assert_eq!(d.location_name.as_deref(), Some("HQ"));
    assert_eq!(d.update_frequency, Some(300));
    assert!(d.debug);
    assert_eq!(d.last_change, Some(t(5)));
    assert_eq!(d.pending_settings.as_deref(), Some("location_update"));
    let tasks = store.list_tasks(d.id, true).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert!(tasks[0].command_key.len() <= 32);
    let err = store
        .update_device("NOPE", &patch, &[], t(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { .. }) && err.to_string().contains("NOPE"),
        "{err}"
    );
    store.close().await;
}

async fn claim_takes_due_tasks_in_creation_order(env: Env) {
    let store = env.store().await;
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    let queued = enqueue(&store, d.id, &[task("a"), task("b"), task("c")], t(10)).await;
    assert_eq!(queued.len(), 3);
    assert_ne!(queued[0].command_key, queued[1].command_key);
    assert!(
        claim(&store, d.id, "n1", t(9), Duration::from_secs(60))
            .await
            .is_none(),
        "not due yet"
    );
    let mut order = Vec::new();
    while let Some(c) = claim(&store, d.id, "n1", t(10), Duration::from_secs(60)).await {
        assert_eq!(c.state, TaskState::InFlight);
        assert_eq!(c.attempts, 1);
        assert_eq!(c.claimed_by.as_deref(), Some("n1"));
        assert_eq!(c.claim_expires_at, Some(t(70)));
        order.push(c.setting_group.clone());
        assert_eq!(
            store
                .settle_task(c.id, "n1", &TaskOutcome::Done, t(11))
                .await
                .unwrap(),
            TaskState::Done
        );
    }
    assert_eq!(order, ["a", "b", "c"]);
    let dev = stored(&store, "SN1").await;
    assert_eq!(dev.last_configuration, Some(t(11)));
    assert_eq!(dev.pending_settings, None);
    store.close().await;
}

async fn concurrent_claimers_never_share_a_task(env: Env) {
    let store = env.store().await;
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    let tasks: Vec<NewTask> = (0..40).map(|i| task(&format!("g{i}"))).collect();
    enqueue(&store, d.id, &tasks, t(0)).await;
    let mut handles = Vec::new();
    for node in 0..4 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let holder = format!("node{node}");
            let mut mine = Vec::new();
            while let Some(c) = claim(&store, d.id, &holder, t(1), Duration::from_secs(60)).await {
                mine.push(c.id);
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(total, 40, "a task was claimed twice");
    assert_eq!(all.len(), 40);
    store.close().await;
}

async fn session_lease_is_exclusive_and_expires(env: Env) {
    let store = env.store().await;
    let ttl = Duration::from_secs(30);
    enum Step {
        /// (serial, holder, at): whether the lease is taken, and why
        Take(&'static str, &'static str, i64, bool, &'static str),
        /// (serial, holder): gives the lease up if that holder has it
        Release(&'static str, &'static str),
    }
    use Step::{Release, Take};
    for step in [
        Take("SN1", "a", 0, true, "free"),
        Take("SN1", "b", 10, false, "a holds it"),
        Take("SN1", "a", 20, true, "renewal"),
        Take("SN1", "b", 49, false, "renewed to t(50)"),
        Take("SN2", "b", 10, true, "per device"),
        Take("SN1", "b", 50, true, "expired"),
        Release("SN1", "a"),
        Take("SN1", "c", 60, false, "a cannot release b's lease"),
        Release("SN1", "b"),
        Take("SN1", "c", 61, true, "given up by b"),
    ] {
        match step {
            Take(serial, holder, at, want, why) => {
                let taken = store
                    .acquire_session_lease(serial, holder, t(at), ttl)
                    .await;
                assert_eq!(
                    taken.unwrap(),
                    want,
                    "{serial} by {holder} at t({at}): {why}"
                );
            }
            Release(serial, holder) => store.release_session_lease(serial, holder).await.unwrap(),
        }
    }
    // racing nodes: exactly one wins
    let mut handles = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store
                .acquire_session_lease("RACE", &format!("n{n}"), t(0), ttl)
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for h in handles {
        winners += usize::from(h.await.unwrap());
    }
    assert_eq!(winners, 1);
    store.close().await;
}

fn start(serial: &str, holder: &str, now: DateTime<Utc>) -> SessionStart {
    SessionStart {
        inform: inform(serial, now),
        holder: holder.into(),
        lease_ttl: Duration::from_secs(60),
        replace_parameters: false,
    }
}

fn turn(device_id: i64, serial: &str, holder: &str, now: DateTime<Utc>) -> SessionTurn {
    SessionTurn {
        device_id,
        serial_number: serial.into(),
        holder: holder.into(),
        now,
        claim_ttl: Duration::from_secs(60),
        lease_ttl: Duration::from_secs(60),
    }
}

async fn session_start_takes_the_lease_then_stores_the_inform(env: Env) {
    let store = env.store().await;
    let out = store.start_session(&start("SN1", "a", t(0))).await.unwrap();
    let id = device_id(&store, "SN1").await;
    assert_eq!(out, SessionStartOutcome::Started(accepted(id, true, true)));
    assert!(store.session_lease_active("SN1", t(59)).await.unwrap());
    assert!(!store.session_lease_active("SN1", t(60)).await.unwrap());
    // a second session of the device while the first holds the lease: nothing written
    let mut other = start("SN1", "b", t(30));
    other.inform.software_version = Some("9.9".into());
    assert_eq!(
        store.start_session(&other).await.unwrap(),
        SessionStartOutcome::Busy
    );
    let d = stored(&store, "SN1").await;
    assert_eq!(
        (d.software_version.as_deref(), d.last_connection),
        (Some("1.2.3"), Some(t(0)))
    );
    assert_eq!(store.list_events(id, 10).await.unwrap().len(), 2);
    // once the first lease expired, the other holder starts
    assert!(matches!(
        store
            .start_session(&start("SN1", "b", t(60)))
            .await
            .unwrap(),
        SessionStartOutcome::Started(InformOutcome::Accepted { created: false, .. })
    ));
    assert!(
        !store
            .acquire_session_lease("SN1", "a", t(61), Duration::from_secs(60))
            .await
            .unwrap(),
        "b holds it now"
    );
    store.close().await;
}

async fn session_start_refused_device_gives_the_lease_back(env: Env) {
    let store = env.store().await;
    let mut nd = new_device("OFF");
    nd.is_active = Some(false);
    let d = store.create_device(&nd, t(0)).await.unwrap();
    assert_eq!(
        store.start_session(&start("OFF", "a", t(1))).await.unwrap(),
        SessionStartOutcome::Started(InformOutcome::Inactive { device_id: d.id })
    );
    assert!(!store.session_lease_active("OFF", t(2)).await.unwrap());
    let mut unknown = start("NEW", "a", t(1));
    unknown.inform.auto_register = false;
    assert_eq!(
        store.start_session(&unknown).await.unwrap(),
        SessionStartOutcome::Started(InformOutcome::Unknown)
    );
    assert!(!store.session_lease_active("NEW", t(2)).await.unwrap());
    assert!(store.device_by_serial("NEW").await.unwrap().is_none());
    assert_eq!(raw_count(&env, "SELECT COUNT(*) FROM parameters").await, 0);
    store.close().await;
}

async fn session_turn_claims_under_the_lease_or_ends_the_session(env: Env) {
    let store = env.store().await;
    store.start_session(&start("SN1", "a", t(0))).await.unwrap();
    let id = device_id(&store, "SN1").await;
    let queued = enqueue(&store, id, &[task("reboot"), task("sync")], t(1)).await;
    // a task is due: claimed, and the lease renewed to t(50) + 60 s
    let first = store
        .session_turn(&turn(id, "SN1", "a", t(50)))
        .await
        .unwrap()
        .expect("a due task");
    assert_eq!(
        (first.id, first.claimed_by.as_deref()),
        (queued[0].id, Some("a"))
    );
    assert!(
        store.session_lease_active("SN1", t(100)).await.unwrap(),
        "renewed by the claim"
    );
    store
        .settle_task(first.id, "a", &TaskOutcome::Done, t(51))
        .await
        .unwrap();
    // a session that does not hold the lease never claims, and leaves the lease alone
    assert!(
        store
            .session_turn(&turn(id, "SN1", "intruder", t(52)))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.task(queued[1].id).await.unwrap().unwrap().state,
        TaskState::Pending
    );
    assert!(store.session_lease_active("SN1", t(53)).await.unwrap());
    let second = store
        .session_turn(&turn(id, "SN1", "a", t(53)))
        .await
        .unwrap()
        .expect("the second task");
    assert_eq!(second.id, queued[1].id);
    store
        .settle_task(second.id, "a", &TaskOutcome::Done, t(54))
        .await
        .unwrap();
    // nothing due: the session ends and the lease is free at once
    assert!(
        store
            .session_turn(&turn(id, "SN1", "a", t(55)))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.session_lease_active("SN1", t(55)).await.unwrap());
    assert!(
        store
            .acquire_session_lease("SN1", "b", t(56), Duration::from_secs(60))
            .await
            .unwrap()
    );
    // a task queued after the end waits for the next session, untouched
    let later = enqueue(&store, id, &[task("late")], t(57)).await;
    assert!(
        store
            .session_turn(&turn(id, "SN1", "a", t(58)))
            .await
            .unwrap()
            .is_none(),
        "a's session is over"
    );
    assert_eq!(
        store.task(later[0].id).await.unwrap().unwrap().state,
        TaskState::Pending
    );
    assert!(
        store.session_lease_active("SN1", t(58)).await.unwrap(),
        "b's lease stays"
    );
    store.close().await;
}

async fn session_ops_apply_in_order_in_one_batch(env: Env) {
    let store = env.store().await;
    store.start_session(&start("SN1", "a", t(0))).await.unwrap();
    let id = device_id(&store, "SN1").await;
    let release = SessionOp::Release {
        serial_number: "SN1".into(),
        holder: "a".into(),
    };
    let start_b = SessionOp::Start(start("SN1", "b", t(1)));
    let start_c = SessionOp::Start(start("SN1", "c", t(1)));
    let fresh = SessionOp::Start(start("SN2", "d", t(1)));
    let bare = SessionOp::Inform(inform("SN3", t(1)));
    let turn_a = SessionOp::Turn(turn(id, "SN1", "a", t(1)));
    // a's lease is released before b asks; c comes after b and finds it taken; a's later
    // turn no longer holds the lease
    let out = store
        .session_ops(&[&release, &start_b, &start_c, &fresh, &bare, &turn_a])
        .await
        .unwrap();
    assert_eq!(out[0], SessionOpOutcome::Released);
    assert_eq!(
        out[1],
        SessionOpOutcome::Start(SessionStartOutcome::Started(accepted(id, false, false)))
    );
    assert_eq!(out[2], SessionOpOutcome::Start(SessionStartOutcome::Busy));
    assert!(matches!(
        out[3],
        SessionOpOutcome::Start(SessionStartOutcome::Started(InformOutcome::Accepted {
            created: true,
            ..
        }))
    ));
    assert!(matches!(
        out[4],
        SessionOpOutcome::Inform(InformOutcome::Accepted { created: true, .. })
    ));
    assert_eq!(out[5], SessionOpOutcome::Turn(None));
    assert!(
        !store
            .acquire_session_lease("SN1", "c", t(2), Duration::from_secs(60))
            .await
            .unwrap(),
        "b holds SN1"
    );
    assert!(store.session_lease_active("SN2", t(2)).await.unwrap());
    assert!(
        !store.session_lease_active("SN3", t(2)).await.unwrap(),
        "a bare Inform takes no lease"
    );
    store.close().await;
}

async fn session_ops_for_many_devices_in_one_batch(env: Env) {
    let store = env.store().await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let serial = format!("D{n}");
        store
            .start_session(&start(&serial, &format!("h{n}"), t(0)))
            .await
            .unwrap();
        ids.push(device_id(&store, &serial).await);
    }
    let queued = enqueue(&store, ids[1], &[task("reboot")], t(1)).await;
    let later = enqueue(&store, ids[4], &[task("sync")], t(1000)).await;
    assert!(
        store
            .acquire_session_lease("X", "other", t(30), Duration::from_secs(60))
            .await
            .unwrap()
    );
    // the starts come when the D-leases of t(0) ran out (X's runs to t(90))
    let ops = [
        SessionOp::Turn(turn(ids[0], "D0", "h0", t(10))),
        SessionOp::Turn(turn(ids[1], "D1", "h1", t(10))),
        SessionOp::Release {
            serial_number: "D2".into(),
            holder: "h2".into(),
        },
        SessionOp::Release {
            serial_number: "D3".into(),
            holder: "not-h3".into(),
        },
        SessionOp::Start(start("X", "me", t(60))),
        SessionOp::Start(start("Y", "me", t(60))),
        SessionOp::Turn(turn(ids[4], "D4", "intruder", t(10))),
        SessionOp::Start(start("D5", "late", t(60))),
    ];
    let refs: Vec<&SessionOp> = ops.iter().collect();
    let out = store.session_ops(&refs).await.unwrap();
    assert_eq!(out[0], SessionOpOutcome::Turn(None), "nothing due: ended");
    let SessionOpOutcome::Turn(Some(claimed)) = &out[1] else {
        panic!("{:?}", out[1])
    };
    assert_eq!(claimed.id, queued[0].id);
    assert_eq!(out[2], SessionOpOutcome::Released);
    assert_eq!(out[3], SessionOpOutcome::Released);
    assert_eq!(out[4], SessionOpOutcome::Start(SessionStartOutcome::Busy));
    assert!(matches!(
        out[5],
        SessionOpOutcome::Start(SessionStartOutcome::Started(InformOutcome::Accepted {
            created: true,
            ..
        }))
    ));
    assert_eq!(out[6], SessionOpOutcome::Turn(None));
    assert!(matches!(
        out[7],
        SessionOpOutcome::Start(SessionStartOutcome::Started(InformOutcome::Accepted {
            created: false,
            ..
        }))
    ));
    let held = |serial: &'static str, now| {
        let store = store.clone();
        async move { store.session_lease_active(serial, now).await.unwrap() }
    };
    assert!(!held("D0", t(11)).await, "ended turn gave its lease back");
    assert!(
        held("D1", t(65)).await,
        "claiming turn renewed its lease to t(70)"
    );
    assert!(!held("D2", t(11)).await);
    assert!(
        held("D3", t(11)).await,
        "a release by another holder changes nothing"
    );
    assert!(
        held("D4", t(11)).await,
        "an intruder's turn leaves the holder's lease"
    );
    assert_eq!(
        store.task(later[0].id).await.unwrap().unwrap().state,
        TaskState::Pending,
        "not due, not claimed"
    );
    assert!(
        !store
            .acquire_session_lease("D5", "h5", t(61), Duration::from_secs(60))
            .await
            .unwrap(),
        "the expired lease went to the later session"
    );
    assert!(
        !store
            .acquire_session_lease("X", "me", t(61), Duration::from_secs(60))
            .await
            .unwrap(),
        "X stays with its holder"
    );
    store.close().await;
}

async fn writer_batches_session_starts_one_winner_per_device(env: Env) {
    let store = env.store().await;
    let (writer, task) = batching_writer(&store);
    // 50 devices, each started by three sessions at once
    let mut handles = Vec::new();
    for n in 0..150 {
        let w = writer.clone();
        handles.push(tokio::spawn(async move {
            let serial = format!("S{:03}", n % 50);
            let out = w
                .start_session(start(&serial, &format!("h{n}"), t(0)))
                .await
                .unwrap();
            (serial, format!("h{n}"), out)
        }));
    }
    let mut winners: Vec<(String, String)> = Vec::new();
    for h in handles {
        let (serial, holder, out) = h.await.unwrap();
        match out {
            SessionStartOutcome::Started(InformOutcome::Accepted { .. }) => {
                winners.push((serial, holder))
            }
            SessionStartOutcome::Busy => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    winners.sort();
    let mut serials: Vec<&str> = winners.iter().map(|(s, _)| s.as_str()).collect();
    serials.dedup();
    assert_eq!(
        (winners.len(), serials.len()),
        (50, 50),
        "one winner per device"
    );
    // each winner's turn ends its session and frees the lease
    for (serial, holder) in &winners {
        let id = device_id(&store, serial).await;
        assert_eq!(
            writer
                .session_turn(turn(id, serial, holder, t(1)))
                .await
                .unwrap(),
            None
        );
    }
    writer
        .release_lease("S000".into(), "nobody".into())
        .await
        .unwrap();
    drop(writer);
    task.join().await;
    assert_eq!(
        raw_count(&env, "SELECT COUNT(*) FROM session_leases").await,
        0
    );
    assert_eq!(raw_count(&env, "SELECT COUNT(*) FROM devices").await, 50);
    store.close().await;
}

async fn bootstrap_start_replaces_stored_parameters(env: Env) {
    let store = env.store().await;
    store.start_session(&start("SN1", "a", t(0))).await.unwrap();
    let id = device_id(&store, "SN1").await;
    store
        .upsert_parameters(id, &[param("Device.Old.Value", "x")], t(1))
        .await
        .unwrap();
    store.release_session_lease("SN1", "a").await.unwrap();
    // a periodic Inform merges
    store.start_session(&start("SN1", "b", t(2))).await.unwrap();
    assert_eq!(
        store
            .list_parameters(id, "Device.Old.")
            .await
            .unwrap()
            .len(),
        1
    );
    store.release_session_lease("SN1", "b").await.unwrap();
    // a BOOTSTRAP replaces: what the CPE forgot is gone, what it reported is stored
    let mut boot = start("SN1", "c", t(3));
    boot.replace_parameters = true;
    boot.inform.parameters.truncate(5);
    store.start_session(&boot).await.unwrap();
    let params = store.list_parameters(id, "").await.unwrap();
    assert_eq!(params.len(), 5);
    assert!(params.iter().all(|p| p.updated == t(3)));
    // and a BOOTSTRAP of a brand-new device just stores its parameters
    let mut first = start("SN2", "d", t(4));
    first.replace_parameters = true;
    store.start_session(&first).await.unwrap();
    let id2 = device_id(&store, "SN2").await;
    assert_eq!(store.list_parameters(id2, "").await.unwrap().len(), 20);
    store.close().await;
}

async fn crash_between_claim_and_settle_is_claimable_after_expiry(env: Env) {
    let store = env.store().await;
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    enqueue(&store, d.id, &[task("reboot")], t(0)).await;
    let ttl = Duration::from_secs(120);
    let first = claim(&store, d.id, "crashed", t(1), ttl).await.unwrap();
    // the node dies here, never settling
    assert!(claim(&store, d.id, "n2", t(100), ttl).await.is_none());
    assert_eq!(
        stored(&store, "SN1").await.pending_settings.as_deref(),
        Some("reboot")
    );
    let again = claim(&store, d.id, "n2", t(121), ttl).await.unwrap();
    assert_eq!((again.id, again.attempts), (first.id, 2));
    let err = store
        .settle_task(first.id, "crashed", &TaskOutcome::Done, t(122))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { .. }),
        "stale holder must not settle: {err:?}"
    );
    // the sweep route: an expired claim goes back to pending
    assert_eq!(
        store.release_expired_tasks(t(200)).await.unwrap(),
        0,
        "not expired yet"
    );
    assert_eq!(store.release_expired_tasks(t(241)).await.unwrap(), 1);
    let back = store.task(first.id).await.unwrap().unwrap();
    assert_eq!(back.state, TaskState::Pending);
    assert_eq!(back.claimed_by, None);
    store.close().await;
}

async fn faults_retry_with_backoff_then_fail(env: Env) {
    let store = env.store().await.with_retry_policy(RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_secs(60),
        max_backoff: Duration::from_secs(3600),
        ..RetryPolicy::default()
    });
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    enqueue(&store, d.id, &[task("credentials")], t(0)).await;
    let ttl = Duration::from_secs(30);
    let fault = TaskOutcome::Fault {
        code: 9002,
        string: "Internal error".into(),
        retryable: true,
    };
    let c = claim(&store, d.id, "n", t(0), ttl).await.unwrap();
    assert_eq!(
        store.settle_task(c.id, "n", &fault, t(1)).await.unwrap(),
        TaskState::Pending
    );
    let after = store.task(c.id).await.unwrap().unwrap();
    assert_eq!(after.next_attempt_at, t(61));
    assert_eq!(
        (after.fault_code, after.fault_string.as_deref()),
        (Some(9002), Some("Internal error"))
    );
    assert!(
        claim(&store, d.id, "n", t(60), ttl).await.is_none(),
        "backing off"
    );
    let c = claim(&store, d.id, "n", t(61), ttl).await.unwrap();
    assert_eq!(
        store.settle_task(c.id, "n", &fault, t(62)).await.unwrap(),
        TaskState::Pending
    );
    assert_eq!(
        store.task(c.id).await.unwrap().unwrap().next_attempt_at,
        t(182),
        "doubled"
    );
    let c = claim(&store, d.id, "n", t(182), ttl).await.unwrap();
    assert_eq!(c.attempts, 3);
    assert_eq!(
        store.settle_task(c.id, "n", &fault, t(183)).await.unwrap(),
        TaskState::Failed
    );
    assert!(claim(&store, d.id, "n", t(10_000), ttl).await.is_none());
    assert_eq!(stored(&store, "SN1").await.pending_settings, None);

    // a fault that retrying cannot fix fails at once
    enqueue(&store, d.id, &[task("x")], t(0)).await;
    let c = claim(&store, d.id, "n", t(200), ttl).await.unwrap();
    let permanent = TaskOutcome::Fault {
        code: 9005,
        string: "Invalid parameter name".into(),
        retryable: false,
    };
    assert_eq!(
        store
            .settle_task(c.id, "n", &permanent, t(201))
            .await
            .unwrap(),
        TaskState::Failed
    );
    let failed = store.list_tasks(d.id, false).await.unwrap();
    assert!(failed.iter().all(|t| t.state == TaskState::Failed));
    store.close().await;
}

async fn await_event_task_settles_by_command_key(env: Env) {
    let store = env.store().await;
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    let q = enqueue(
        &store,
        d.id,
        &[NewTask {
            kind: "reboot".into(),
            setting_group: "reboot".into(),
            payload: json!({}),
            merge: Merge::Never,
        }],
        t(0),
    )
    .await;
    let c = claim(&store, d.id, "n", t(1), Duration::from_secs(30))
        .await
        .unwrap();
    store
        .settle_task(c.id, "n", &TaskOutcome::AwaitEvent { until: t(3600) }, t(2))
        .await
        .unwrap();
    assert!(
        claim(&store, d.id, "m", t(100), Duration::from_secs(30))
            .await
            .is_none()
    );
    // the device re-informs with M Reboot + the CommandKey
    let settled = store
        .settle_task_by_command_key(d.id, &q[0].command_key, &TaskOutcome::Done, t(120))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settled.state, TaskState::Done);
    assert!(
        store
            .settle_task_by_command_key(d.id, &q[0].command_key, &TaskOutcome::Done, t(121))
            .await
            .unwrap()
            .is_none(),
        "idempotent"
    );
    assert!(
        store
            .settle_task_by_command_key(d.id, "acs-unknown", &TaskOutcome::Done, t(121))
            .await
            .unwrap()
            .is_none()
    );
    store.close().await;
}

async fn reported_results_and_cancellations_are_kept(env: Env) {
    let store = env.store().await;
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    let task = |kind: &str| NewTask {
        kind: kind.into(),
        setting_group: kind.into(),
        payload: json!({}),
        merge: Merge::Never,
    };
    let q = enqueue(
        &store,
        d.id,
        &[
            task("get_queued_transfers"),
            task("change_du_state"),
            task("schedule_download"),
        ],
        t(0),
    )
    .await;
    let claim = |at: i64| {
        let store = store.clone();
        async move {
            claim(&store, d.id, "n", t(at), Duration::from_secs(30))
                .await
                .unwrap()
        }
    };
    // a read RPC's answer: done, with the list kept
    let list = json!({"transfers": [{"command_key": "k1", "state": 1}]});
    let c = claim(1).await;
    assert_eq!(c.id, q[0].id);
    assert_eq!(c.result, None, "nothing reported yet");
    let state = store
        .settle_task(
            c.id,
            "n",
            &TaskOutcome::Reported {
                result: list.clone(),
                fault: None,
            },
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(state, TaskState::Done);
    let done = store.task(c.id).await.unwrap().unwrap();
    assert_eq!(done.result.map(|r| r.0), Some(list));
    assert_eq!((done.fault_code, done.fault_string), (None, None));
    // a DU change completed by an event with a failed operation: failed for good, with both
    let c = claim(3).await;
    store
        .settle_task(c.id, "n", &TaskOutcome::AwaitEvent { until: t(3600) }, t(4))
        .await
        .unwrap();
    let results =
        json!({"results": [{"uuid": "u", "current_state": "Failed", "fault_code": 9026}]});
    let settled = store
        .settle_task_by_command_key(
            d.id,
            &q[1].command_key,
            &TaskOutcome::Reported {
                result: results.clone(),
                fault: Some((9026, "Duplicate Deployment Unit".into())),
            },
            t(5),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settled.state, TaskState::Failed);
    assert_eq!(settled.attempts, 1, "not retried");
    assert_eq!(settled.fault_code, Some(9026));
    assert_eq!(settled.result.map(|r| r.0), Some(results));
    // a transfer that faulted once, then was cancelled: no stale fault code
    let c = claim(6).await;
    store
        .settle_task(
            c.id,
            "n",
            &TaskOutcome::Fault {
                code: 9002,
                string: "busy".into(),
                retryable: true,
            },
            t(7),
        )
        .await
        .unwrap();
    let c = claim(7 + 3600).await;
    assert_eq!(c.id, q[2].id);
    store
        .settle_task(
            c.id,
            "n",
            &TaskOutcome::AwaitEvent { until: t(9000) },
            t(3608),
        )
        .await
        .unwrap();
    let cancelled = store
        .settle_task_by_command_key(
            d.id,
            &q[2].command_key,
            &TaskOutcome::Cancelled {
                reason: "cancelled by task 9".into(),
            },
            t(3609),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert_eq!(cancelled.fault_code, None);
    assert_eq!(
        cancelled.fault_string.as_deref(),
        Some("cancelled by task 9")
    );
    assert_eq!(cancelled.result, None);
    store.close().await;
}

/// A firmware image to point devices at (`n` keeps file names apart).
async fn firmware_image(store: &Store, n: u32) -> i64 {
    store
        .create_firmware_image(
            &NewFirmwareImage {
                version: format!("{n}.0"),
                file_name: format!("fw-{n}.bin"),
                size: 1024,
                sha256: "ab".repeat(32),
                device_type_id: None,
            },
            t(0),
        )
        .await
        .unwrap()
        .id
}

fn firmware_task(image: i64) -> NewTask {
    NewTask {
        kind: FIRMWARE_TASK_KIND.into(),
        setting_group: "firmware_upgrade".into(),
        payload: json!({ "firmware_image": image }),
        merge: Merge::Never,
    }
}

/// What the API's PATCH of `firmware_image` writes: the image and its download, together.
async fn choose_firmware(store: &Store, serial: &str, image: i64, now: DateTime<Utc>) -> Device {
    let patch = DevicePatch {
        firmware_image_id: Some(Some(image)),
        ..DevicePatch::default()
    };
    store
        .update_device(serial, &patch, &[firmware_task(image)], now)
        .await
        .unwrap()
}

async fn pending(store: &Store, serial: &str) -> (bool, Option<DateTime<Utc>>) {
    let d = stored(store, serial).await;
    (d.firmware_image_is_pending, d.last_change)
}

/// `firmware_image_is_pending` is true exactly while a firmware task is open: every way such
/// a task ends (applied, failed for good by a fault, cancelled before or while it ran, its
/// wait expired with no attempt left) clears it in the same write, and only once no other
/// firmware task of the device is open. Other tasks never touch it.
async fn a_device_registered_with_an_image_has_its_download_queued_with_it(env: Env) {
    let store = env.store().await;
    let image = firmware_image(&store, 1).await;
    let new = NewDevice {
        firmware_image_id: Some(image),
        ..new_device("SN1")
    };
    let d = store
        .create_device_with_tasks(&new, &[firmware_task(image)], t(5))
        .await
        .unwrap();
    assert_eq!(
        (d.firmware_image_id, d.firmware_image_is_pending),
        (Some(image), true)
    );
    let open = store.list_tasks(d.id, true).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, FIRMWARE_TASK_KIND);
    // refused (serial taken, unknown type): neither a device nor a task is written
    let again = store
        .create_device_with_tasks(&new, &[firmware_task(image)], t(6))
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    let bad = NewDevice {
        type_id: Some(999),
        firmware_image_id: Some(image),
        ..new_device("SN2")
    };
    let refused = store
        .create_device_with_tasks(&bad, &[firmware_task(image)], t(7))
        .await;
    assert!(
        matches!(refused, Err(StoreError::ForeignKey { .. })),
        "{refused:?}"
    );
    assert!(store.device_by_serial("SN2").await.unwrap().is_none());
    assert_eq!(store.list_tasks(d.id, false).await.unwrap().len(), 1);
}

async fn firmware_pending_follows_the_open_firmware_tasks(env: Env) {
    let store = env.store().await.with_retry_policy(RetryPolicy {
        max_attempts: 2,
        base_backoff: Duration::from_secs(60),
        max_backoff: Duration::from_secs(60),
        ..RetryPolicy::default()
    });
    let image = firmware_image(&store, 1).await;
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    let ttl = Duration::from_secs(30);
    let claim = |at: i64| {
        let store = store.clone();
        async move {
            claim(&store, d.id, "n", t(at), ttl)
                .await
                .expect("a due task")
        }
    };

    // cancelled while pending (the tasks API's DELETE)
    let queued = choose_firmware(&store, "SN1", image, t(1)).await;
    assert!(queued.firmware_image_is_pending);
    let fw = store.list_tasks(d.id, true).await.unwrap()[0].id;
    assert_eq!(
        store.cancel_task(d.id, fw, t(2)).await.unwrap(),
        Cancellation::Withdrawn
    );
    assert_eq!(pending(&store, "SN1").await, (false, Some(t(2))));

    // a final fault from the CPE; a retryable one before it keeps it pending
    choose_firmware(&store, "SN1", image, t(10)).await;
    let c = claim(10).await;
    let retry = TaskOutcome::Fault {
        code: 9002,
        string: "Internal error".into(),
        retryable: true,
    };
    assert_eq!(
        store.settle_task(c.id, "n", &retry, t(11)).await.unwrap(),
        TaskState::Pending
    );
    assert_eq!(pending(&store, "SN1").await, (true, Some(t(10))));
    let c = claim(100).await;
    assert_eq!(
        store.settle_task(c.id, "n", &retry, t(101)).await.unwrap(),
        TaskState::Failed,
        "attempts used up"
    );
    assert_eq!(pending(&store, "SN1").await, (false, Some(t(101))));

    // a TransferComplete with a fault after the wait (settled by CommandKey)
    choose_firmware(&store, "SN1", image, t(200)).await;
    let c = claim(200).await;
    let wait = TaskOutcome::AwaitEvent { until: t(4000) };
    store.settle_task(c.id, "n", &wait, t(201)).await.unwrap();
    assert!(pending(&store, "SN1").await.0, "still downloading");
    let failed = TaskOutcome::Fault {
        code: 9010,
        string: "Download failure".into(),
        retryable: false,
    };
    store
        .settle_task_by_command_key(d.id, &c.command_key, &failed, t(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending(&store, "SN1").await, (false, Some(t(300))));

    // cancelled while in flight (an accepted CancelTransfer)
    choose_firmware(&store, "SN1", image, t(400)).await;
    let c = claim(400).await;
    store.settle_task(c.id, "n", &wait, t(401)).await.unwrap();
    let cancelled = TaskOutcome::Cancelled {
        reason: "cancelled by CancelTransfer (task 9)".into(),
    };
    store
        .settle_task_by_command_key(d.id, &c.command_key, &cancelled, t(402))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending(&store, "SN1").await, (false, Some(t(402))));

    // accepted, and its wait ran out: the sweep ends it unconfirmed
    choose_firmware(&store, "SN1", image, t(500)).await;
    claim(500).await;
    let c = claim(531).await;
    assert_eq!(c.attempts, 2);
    store
        .settle_task(
            c.id,
            "n",
            &TaskOutcome::AwaitEvent { until: t(600) },
            t(532),
        )
        .await
        .unwrap();
    assert_eq!(store.release_expired_tasks(t(599)).await.unwrap(), 0);
    assert!(pending(&store, "SN1").await.0);
    assert_eq!(store.release_expired_tasks(t(600)).await.unwrap(), 1);
    assert_eq!(
        store.task(c.id).await.unwrap().unwrap().state,
        TaskState::Unconfirmed
    );
    assert_eq!(pending(&store, "SN1").await, (false, Some(t(600))));

    // a claim that ran out with no attempt left (never answered): the sweep fails it
    choose_firmware(&store, "SN1", image, t(650)).await;
    claim(650).await;
    let c = claim(681).await;
    assert_eq!(c.attempts, 2);
    assert_eq!(store.release_expired_tasks(t(711)).await.unwrap(), 1);
    assert_eq!(
        store.task(c.id).await.unwrap().unwrap().state,
        TaskState::Failed
    );
    assert_eq!(pending(&store, "SN1").await, (false, Some(t(711))));

    // applied
    choose_firmware(&store, "SN1", image, t(700)).await;
    let c = claim(700).await;
    store
        .settle_task(c.id, "n", &TaskOutcome::Done, t(701))
        .await
        .unwrap();
    assert_eq!(pending(&store, "SN1").await, (false, Some(t(701))));

    // a firmware download queued through the tasks API is pending too
    enqueue(&store, d.id, &[firmware_task(image)], t(800)).await;
    assert_eq!(pending(&store, "SN1").await, (true, Some(t(800))));
    // other tasks, whatever becomes of them, leave the flag (and last_change) alone
    let other = enqueue(&store, d.id, &[task("reboot")], t(801))
        .await
        .remove(0);
    assert_eq!(
        store.cancel_task(d.id, other.id, t(802)).await.unwrap(),
        Cancellation::Withdrawn
    );
    assert_eq!(pending(&store, "SN1").await, (true, Some(t(800))));
    store.close().await;
}

/// A PATCH naming another image (or none) withdraws the download still pending for the older
/// choice; a download already in flight stays, and keeps the device pending until it and every
/// newer one have ended.
async fn a_new_firmware_choice_withdraws_the_pending_download(env: Env) {
    let store = env.store().await;
    let (a, b, c) = (
        firmware_image(&store, 1).await,
        firmware_image(&store, 2).await,
        firmware_image(&store, 3).await,
    );
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    let open = |store: Store| async move {
        store
            .list_tasks(d.id, true)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.payload.0["firmware_image"].as_i64().unwrap(), t.state))
            .collect::<Vec<_>>()
    };

    // A pending, then B chosen: A is withdrawn, never sent
    choose_firmware(&store, "SN1", a, t(1)).await;
    let dev = choose_firmware(&store, "SN1", b, t(2)).await;
    assert_eq!(dev.firmware_image_id, Some(b));
    assert!(dev.firmware_image_is_pending);
    assert_eq!(dev.pending_settings.as_deref(), Some("firmware_upgrade"));
    assert_eq!(open(store.clone()).await, vec![(b, TaskState::Pending)]);
    assert_eq!(
        store.list_tasks(d.id, false).await.unwrap().len(),
        1,
        "A is gone"
    );

    // B in flight (the CPE has it), then C chosen: B stays, C queued
    let sent = claim(&store, d.id, "n", t(3), Duration::from_secs(30))
        .await
        .unwrap();
    store
        .settle_task(
            sent.id,
            "n",
            &TaskOutcome::AwaitEvent { until: t(3600) },
            t(4),
        )
        .await
        .unwrap();
    choose_firmware(&store, "SN1", c, t(5)).await;
    assert_eq!(
        open(store.clone()).await,
        vec![(b, TaskState::InFlight), (c, TaskState::Pending)]
    );
    // B's TransferComplete: C is still to come, so the device stays pending
    store
        .settle_task_by_command_key(d.id, &sent.command_key, &TaskOutcome::Done, t(6))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending(&store, "SN1").await, (true, Some(t(5))));

    // no image at all: C is withdrawn and nothing is pending
    let patch = DevicePatch {
        firmware_image_id: Some(None),
        ..DevicePatch::default()
    };
    let dev = store.update_device("SN1", &patch, &[], t(7)).await.unwrap();
    assert_eq!(dev.firmware_image_id, None);
    assert!(!dev.firmware_image_is_pending);
    assert_eq!(dev.pending_settings, None);
    assert!(open(store.clone()).await.is_empty());

    // a patch that leaves the image alone leaves its download alone
    choose_firmware(&store, "SN1", a, t(8)).await;
    let patch = DevicePatch {
        name: Some(Some("renamed".into())),
        ..DevicePatch::default()
    };
    let dev = store.update_device("SN1", &patch, &[], t(9)).await.unwrap();
    assert!(dev.firmware_image_is_pending);
    assert_eq!(open(store.clone()).await, vec![(a, TaskState::Pending)]);
    store.close().await;
}

/// What the engine reads the CPE's reported method list from: the newest task of the kind
/// that ended done (a failed or open one does not count), with its result.
async fn last_done_task_is_the_newest_done_of_its_kind(env: Env) {
    let store = env.store().await;
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    let other = store.create_device(&new_device("SN2"), t(0)).await.unwrap();
    let kind = "get_rpc_methods";
    let ask = NewTask {
        kind: kind.into(),
        setting_group: kind.into(),
        payload: json!({}),
        merge: Merge::Never,
    };
    let ttl = Duration::from_secs(30);
    let reported = |methods: &[&str]| TaskOutcome::Reported {
        result: json!({ "methods": methods }),
        fault: None,
    };
    // queues one, claims the next due one and settles it
    let run = |outcome: TaskOutcome, at: i64| {
        let (store, ask) = (store.clone(), ask.clone());
        async move {
            enqueue(&store, d.id, &[ask], t(at)).await;
            let c = claim(&store, d.id, "n", t(at), ttl).await.unwrap();
            store.settle_task(c.id, "n", &outcome, t(at)).await.unwrap();
            c.id
        }
    };
    assert_eq!(store.last_done_task(d.id, kind).await.unwrap(), None);
    let first = run(reported(&["GetRPCMethods", "Reboot"]), 1).await;
    let fault = TaskOutcome::Fault {
        code: 9000,
        string: "Method not supported".into(),
        retryable: false,
    };
    run(fault, 2).await;
    let found = store.last_done_task(d.id, kind).await.unwrap().unwrap();
    assert_eq!(found.id, first, "a failed one does not count");
    assert_eq!(
        found.result.unwrap().0,
        json!({"methods": ["GetRPCMethods", "Reboot"]})
    );
    let newest = run(reported(&["GetRPCMethods"]), 3).await;
    let found = store.last_done_task(d.id, kind).await.unwrap().unwrap();
    assert_eq!(found.id, newest);
    assert_eq!(
        found.result.unwrap().0,
        json!({"methods": ["GetRPCMethods"]})
    );
    // queued but not yet answered: the last answer still stands
    enqueue(&store, d.id, std::slice::from_ref(&ask), t(4)).await;
    assert_eq!(
        store.last_done_task(d.id, kind).await.unwrap().unwrap().id,
        newest
    );
    assert_eq!(store.last_done_task(d.id, "reboot").await.unwrap(), None);
    assert_eq!(store.last_done_task(other.id, kind).await.unwrap(), None);
    store.close().await;
}

async fn delete_device_removes_parameters_tasks_and_history(env: Env) {
    let store = env.store().await;
    store.upsert_inform(&inform("SN1", t(0))).await.unwrap();
    store.upsert_inform(&inform("KEEP", t(0))).await.unwrap();
    let id = device_id(&store, "SN1").await;
    enqueue(&store, id, &[task("sync")], t(0)).await;
    store
        .record_trace(&trace(id, "<Inform/>", 0), 10)
        .await
        .unwrap();
    store.delete_device("SN1").await.unwrap();
    assert!(store.device_by_serial("SN1").await.unwrap().is_none());
    assert!(store.list_parameters(id, "").await.unwrap().is_empty());
    assert!(store.list_tasks(id, false).await.unwrap().is_empty());
    assert!(store.list_events(id, 10).await.unwrap().is_empty());
    assert!(store.list_traces(id, 10).await.unwrap().is_empty());
    assert_eq!(
        raw_count(&env, "SELECT COUNT(*) FROM parameters").await,
        20,
        "other device untouched"
    );
    let err = store.delete_device("SN1").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    store.close().await;
}

async fn password_is_encrypted_at_rest_and_redacted(env: Env) {
    let store = env.store().await;
    let secret = "secure_password_123";
    let mut nd = new_device("SN1");
    nd.username = Some("device_admin".into());
    nd.password = Some(DevicePassword::new(secret));
    assert!(
        !format!("{nd:?}").contains(secret),
        "NewDevice Debug leaks the password"
    );
    let d = store.create_device(&nd, t(0)).await.unwrap();
    assert!(d.has_password);
    assert!(!format!("{d:?}").contains(secret));
    let raw: Vec<u8> = with_raw_pool!(env, |pool| sqlx::query_scalar(
        "SELECT password_enc FROM devices"
    )
    .fetch_one(&pool)
    .await
    .unwrap());
    assert!(
        !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "plaintext at rest"
    );
    let opened = store.device_password(d.id).await.unwrap().unwrap();
    assert_eq!(opened.expose(), secret);
    assert_eq!(format!("{opened:?}"), "DevicePassword(<redacted>)");
    assert!(!format!("{:?}", env.key()).contains(&env.key_hex));
    assert!(!format!("{store:?}").contains(&env.key_hex));
    // a new password replaces it; a wrong key does not open it
    let patch = DevicePatch {
        password: Some(Some(DevicePassword::new("n3w"))),
        ..DevicePatch::default()
    };
    store.update_device("SN1", &patch, &[], t(1)).await.unwrap();
    assert_eq!(
        store.device_password(d.id).await.unwrap().unwrap().expose(),
        "n3w"
    );
    store.close().await;
    let wrong = Store::connect(&env.url, SecretKey::generate())
        .await
        .unwrap();
    let err = wrong.device_password(d.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Decrypt { .. }), "{err:?}");
    wrong.close().await;
}

async fn key_file_is_generated_0600_and_reloaded(env: Env) {
    let dir = env.dir.join("data");
    let key = SecretKey::load_or_create(&dir).unwrap();
    let path = dir.join(acs_store::KEY_FILE_NAME);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    }
    // the reloaded key opens what the first sealed
    let store = Store::connect(&env.url, key).await.unwrap();
    store.migrate().await.unwrap();
    let mut nd = new_device("SN1");
    nd.password = Some(DevicePassword::new("pw"));
    let d = store.create_device(&nd, t(0)).await.unwrap();
    store.close().await;
    let again = Store::connect(&env.url, SecretKey::load_or_create(&dir).unwrap())
        .await
        .unwrap();
    assert_eq!(
        again.device_password(d.id).await.unwrap().unwrap().expose(),
        "pw"
    );
    again.close().await;
    // ACS_SECRET_KEY wins over the file; garbage is refused
    assert!(SecretKey::from_config(Some(&env.key_hex), &dir).is_ok());
    let err = SecretKey::from_config(Some("not-hex"), &dir).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Invalid {
                what: "secret key",
                ..
            }
        ),
        "{err:?}"
    );
}

async fn token_is_stored_as_hash_and_looked_up(env: Env) {
    let store = env.store().await;
    let org = store.create_organization("o", t(0)).await.unwrap().id;
    let (admin, admin_secret) = store
        .create_token("ops", TokenScope::Admin, t(0))
        .await
        .unwrap();
    let (scoped, secret) = store
        .create_token("dash", TokenScope::organization(org), t(0))
        .await
        .unwrap();
    assert_eq!(scoped.scope, TokenScope::organization(org));
    assert!(secret.expose().len() >= 64 + 4, "256 bits, hex");
    assert!(!format!("{secret:?}").contains(secret.expose()));
    assert_ne!(admin_secret.expose(), secret.expose());
    let stored = raw_count(
        &env,
        "SELECT COUNT(*) FROM api_tokens WHERE length(token_sha256) = 64",
    )
    .await;
    assert_eq!(stored, 2);
    let found = store
        .lookup_token(&TokenHash::of(secret.expose()), t(50))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, scoped.id);
    assert_eq!(found.last_used, Some(t(50)));
    assert!(
        store
            .lookup_token(&TokenHash::of("acs_guess"), t(50))
            .await
            .unwrap()
            .is_none()
    );
    let listed = store.list_tokens().await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        [admin.id, scoped.id]
    );
    store.revoke_token(scoped.id).await.unwrap();
    assert!(
        store
            .lookup_token(&secret.hash(), t(60))
            .await
            .unwrap()
            .is_none()
    );
    let err = store
        .create_token("x", TokenScope::organization(4242), t(0))
        .await
        .unwrap_err();
    assert_foreign_key(&err, "organization_id", 4242);
    store.close().await;
}

async fn firmware_metadata_updates(env: Env) {
    let store = env.store().await;
    let ty = store
        .create_device_type(
            &NewDeviceType {
                short_name: "igd".into(),
                name: "IGD".into(),
                data_model_root: "InternetGatewayDevice.".into(),
                profile: Default::default(),
            },
            t(0),
        )
        .await
        .unwrap();
    let image = store
        .create_firmware_image(
            &NewFirmwareImage {
                version: "1.0".into(),
                file_name: "fw.bin".into(),
                size: 3,
                sha256: "ab".repeat(32),
                device_type_id: None,
            },
            t(0),
        )
        .await
        .unwrap();
    let updated = store
        .update_firmware_image(image.id, "1.1", Some(ty.id))
        .await
        .unwrap();
    assert_eq!(
        updated,
        FirmwareImageExpect {
            version: "1.1",
            device_type_id: Some(ty.id)
        }
        .apply(image.clone())
    );
    assert_eq!(
        store.firmware_image(image.id).await.unwrap().unwrap(),
        updated
    );
    let err = store
        .update_firmware_image(image.id, "2", Some(4242))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ForeignKey { value: 4242, .. }),
        "{err:?}"
    );
    assert_eq!(
        store.firmware_image(image.id).await.unwrap().unwrap(),
        updated
    );
    let err = store
        .update_firmware_image(4242, "2", None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    store.close().await;
}

/// The fields an update may change; the rest must come back as stored.
struct FirmwareImageExpect {
    version: &'static str,
    device_type_id: Option<i64>,
}

impl FirmwareImageExpect {
    fn apply(self, mut image: acs_store::FirmwareImage) -> acs_store::FirmwareImage {
        image.version = self.version.into();
        image.device_type_id = self.device_type_id;
        image
    }
}

async fn catalog_updates_organizations_and_locations(env: Env) {
    let store = env.store().await;
    let a = store.create_organization("a", t(0)).await.unwrap();
    let b = store.create_organization("b", t(0)).await.unwrap();
    let renamed = store.update_organization(a.id, "a2").await.unwrap();
    assert_eq!(
        (renamed.id, renamed.name.as_str(), renamed.created),
        (a.id, "a2", a.created)
    );
    assert_eq!(store.organization(a.id).await.unwrap().unwrap().name, "a2");
    let err = store.update_organization(a.id, "b").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let err = store.update_organization(4242, "z").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    let loc = store
        .create_location(
            &NewLocation {
                name: "HQ".into(),
                short_name: Some("hq".into()),
                organization_id: Some(a.id),
                latitude: Some("1.5".into()),
                longitude: None,
            },
            t(1),
        )
        .await
        .unwrap();
    let moved = NewLocation {
        name: "HQ 2".into(),
        short_name: None,
        organization_id: Some(b.id),
        latitude: None,
        longitude: Some("-3.25".into()),
    };
    let updated = store.update_location(loc.id, &moved).await.unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.short_name.as_deref(),
            updated.organization_id,
            updated.latitude.as_deref(),
            updated.longitude.as_deref(),
            updated.created
        ),
        ("HQ 2", None, Some(b.id), None, Some("-3.25"), loc.created)
    );
    assert_eq!(store.location(loc.id).await.unwrap().unwrap(), updated);
    // An unknown organization: refused, nothing written.
    let err = store
        .update_location(
            loc.id,
            &NewLocation {
                organization_id: Some(4242),
                ..moved.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ForeignKey { value: 4242, .. }),
        "{err:?}"
    );
    assert_eq!(store.location(loc.id).await.unwrap().unwrap(), updated);
    let err = store.update_location(4242, &moved).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    store.close().await;
}

async fn token_reaches_several_organizations(env: Env) {
    let store = env.store().await;
    let a = store.create_organization("a", t(0)).await.unwrap().id;
    let b = store.create_organization("b", t(0)).await.unwrap().id;
    let (token, secret) = store
        .create_token("two", TokenScope::Organizations(vec![b, a, b]), t(0))
        .await
        .unwrap();
    assert_eq!(token.scope, TokenScope::Organizations(vec![a, b]));
    let found = store
        .lookup_token(&secret.hash(), t(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.scope, TokenScope::Organizations(vec![a, b]));
    assert_eq!(
        store.list_tokens().await.unwrap()[0].scope,
        TokenScope::Organizations(vec![a, b])
    );
    // An unknown organization anywhere in the list: nothing written.
    let err = store
        .create_token("bad", TokenScope::Organizations(vec![a, 4242]), t(0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ForeignKey { value: 4242, .. }),
        "{err:?}"
    );
    let err = store
        .create_token("none", TokenScope::Organizations(vec![]), t(0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert_eq!(store.list_tokens().await.unwrap().len(), 1);
    assert_eq!(
        raw_count(&env, "SELECT COUNT(*) FROM api_token_organizations").await,
        2
    );
    store.revoke_token(token.id).await.unwrap();
    assert_eq!(
        raw_count(&env, "SELECT COUNT(*) FROM api_token_organizations").await,
        0
    );
    store.close().await;
}

async fn token_last_used_is_stamped_at_most_once_a_minute(env: Env) {
    let store = env.store().await;
    let (_, secret) = store
        .create_token("ops", TokenScope::Admin, t(0))
        .await
        .unwrap();
    let seen = |at: i64| {
        let store = store.clone();
        let hash = secret.hash();
        async move {
            store
                .lookup_token(&hash, t(at))
                .await
                .unwrap()
                .unwrap()
                .last_used
        }
    };
    assert_eq!(seen(10).await, Some(t(10)), "never used: stamped");
    assert_eq!(seen(40).await, Some(t(10)), "30 s later: left alone");
    assert_eq!(seen(69).await, Some(t(10)), "59 s later: left alone");
    assert_eq!(seen(71).await, Some(t(71)), "61 s later: stamped");
    assert_eq!(store.list_tokens().await.unwrap()[0].last_used, Some(t(71)));
    store.close().await;
}

async fn device_count_and_page_agree_with_the_list(env: Env) {
    let store = env.store().await;
    let org = store.create_organization("o", t(0)).await.unwrap().id;
    for i in 0..7 {
        let new = NewDevice {
            serial_number: format!("CP{i}"),
            organization_id: (i % 2 == 0).then_some(org),
            is_active: Some(i != 4),
            ..NewDevice::default()
        };
        store.create_device(&new, t(i)).await.unwrap();
    }
    for filter in [
        DeviceFilter::default(),
        DeviceFilter {
            organization_id: Some(org),
            is_active: Some(true),
            ..DeviceFilter::default()
        },
        DeviceFilter {
            status: Some(DeviceStatus::Down),
            is_active: Some(false),
            ..DeviceFilter::default()
        },
    ] {
        let page = store.list_devices(&filter, 3, 1).await.unwrap();
        assert_eq!(store.count_devices(&filter).await.unwrap(), page.count);
        assert_eq!(
            store.list_device_page(&filter, 3, 1).await.unwrap(),
            page.items
        );
    }
    let active_in_org = DeviceFilter {
        organization_id: Some(org),
        is_active: Some(true),
        ..DeviceFilter::default()
    };
    assert_eq!(store.count_devices(&active_in_org).await.unwrap(), 3);
    store.close().await;
}

async fn status_sweep_marks_overdue_devices_down(env: Env) {
    let store = env.store().await;
    // default interval 300 s -> grace 660 s; SN_F has 60 s -> grace 180 s
    store.upsert_inform(&inform("SN_OLD", t(0))).await.unwrap();
    store
        .upsert_inform(&inform("SN_NEW", t(500)))
        .await
        .unwrap();
    store.upsert_inform(&inform("SN_F", t(500))).await.unwrap();
    let patch = DevicePatch {
        update_frequency: Some(Some(60)),
        ..DevicePatch::default()
    };
    store
        .update_device("SN_F", &patch, &[], t(500))
        .await
        .unwrap();
    store
        .create_device(&new_device("NEVER"), t(0))
        .await
        .unwrap();
    let policy = StatusPolicy::default();
    assert_eq!(
        store.sweep_status(t(660), policy).await.unwrap(),
        0,
        "exactly at the grace"
    );
    assert_eq!(store.sweep_status(t(681), policy).await.unwrap(), 2);
    let status = |s: &'static str| {
        let store = store.clone();
        async move { stored(&store, s).await }
    };
    let old = status("SN_OLD").await;
    assert_eq!(
        (old.status, old.status_change),
        (DeviceStatus::Down, Some(t(681)))
    );
    assert_eq!(status("SN_F").await.status, DeviceStatus::Down);
    assert_eq!(status("SN_NEW").await.status, DeviceStatus::Up);
    assert_eq!(
        status("NEVER").await.status_change,
        None,
        "already Down: untouched"
    );
    assert_eq!(
        store.sweep_status(t(700), policy).await.unwrap(),
        0,
        "idempotent"
    );
    store.close().await;
}

fn trace<'a>(device_id: i64, body: &'a str, n: i64) -> NewTrace<'a> {
    NewTrace {
        device_id,
        direction: if n % 2 == 0 {
            TraceDirection::In
        } else {
            TraceDirection::Out
        },
        session_started: t(0),
        http_status: (n % 2 == 1).then_some(200),
        body,
        size: body.len() as i64,
        truncated: false,
        recorded: t(n),
    }
}

async fn traces_are_bounded_oldest_dropped(env: Env) {
    let store = env.store().await;
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    for n in 0..10 {
        let body = format!("msg{n}");
        store.record_trace(&trace(d.id, &body, n), 3).await.unwrap();
    }
    let kept = store.list_traces(d.id, 100).await.unwrap();
    assert_eq!(
        kept.iter().map(|t| t.body.as_str()).collect::<Vec<_>>(),
        ["msg7", "msg8", "msg9"]
    );
    assert_eq!(kept[0].direction, TraceDirection::Out);
    assert_eq!(kept[0].http_status, Some(200));
    assert_eq!(kept[1].http_status, None);
    assert_eq!(kept[0].session_started, Some(t(0)));
    assert_eq!(kept[0].size, Some(4));
    let newest = store.list_traces(d.id, 2).await.unwrap();
    assert_eq!(
        newest.iter().map(|t| t.body.as_str()).collect::<Vec<_>>(),
        ["msg8", "msg9"],
        "the newest, oldest first"
    );
    let err = store
        .record_trace(&trace(999, "x", 0), 3)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ForeignKey { .. }), "{err:?}");
    store.close().await;
}

async fn traces_are_paged_and_pruned_by_age(env: Env) {
    let store = env.store().await;
    let a = store.create_device(&new_device("A"), t(0)).await.unwrap();
    let b = store.create_device(&new_device("B"), t(0)).await.unwrap();
    for n in 0..5 {
        store.record_trace(&trace(a.id, "a", n), 100).await.unwrap();
        store.record_trace(&trace(b.id, "b", n), 100).await.unwrap();
    }
    let page = store.trace_page(a.id, 2, 1).await.unwrap();
    assert_eq!(page.count, 5);
    assert_eq!(
        page.items.iter().map(|t| t.recorded).collect::<Vec<_>>(),
        [t(1), t(2)]
    );
    assert!(page.items.iter().all(|t| t.body == "a"));
    // older than t(3): gone, on every device
    assert_eq!(store.prune_traces(t(3)).await.unwrap(), 6);
    for id in [a.id, b.id] {
        let kept = store.list_traces(id, 100).await.unwrap();
        assert_eq!(
            kept.iter().map(|t| t.recorded).collect::<Vec<_>>(),
            [t(3), t(4)]
        );
    }
    assert_eq!(store.trace_page(a.id, 10, 0).await.unwrap().count, 2);
    store.close().await;
}

async fn parameters_by_prefix_bulk_upsert_and_delete(env: Env) {
    let store = env.store().await;
    let d = store.create_device(&new_device("SN1"), t(0)).await.unwrap();
    let many: Vec<ParameterValue> = (0..1200)
        .map(|i| ParameterValue {
            path: format!("Device.WiFi.SSID.{i}.SSID"),
            value: format!("net{i}"),
            xsd_type: "xsd:string".into(),
            writable: Some(i % 2 == 0),
        })
        .collect();
    store.upsert_parameters(d.id, &many, t(1)).await.unwrap();
    store
        .upsert_parameters(d.id, &[param("Device.DeviceInfo.UpTime", "5")], t(1))
        .await
        .unwrap();
    assert_eq!(
        store
            .list_parameters(d.id, "Device.WiFi.")
            .await
            .unwrap()
            .len(),
        1200
    );
    assert_eq!(store.list_parameters(d.id, "").await.unwrap().len(), 1201);
    // an update without writability keeps the known flag
    store
        .upsert_parameters(d.id, &[param("Device.WiFi.SSID.0.SSID", "renamed")], t(2))
        .await
        .unwrap();
    let p = store
        .list_parameters(d.id, "Device.WiFi.SSID.0.")
        .await
        .unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        (p[0].value.as_str(), p[0].writable, p[0].updated),
        ("renamed", Some(true), t(2))
    );
    // 1, 10-19, 100-199, 1000-1199: a prefix is a string prefix, as GetParameterNames has it
    // LIKE wildcards in a prefix are literal
    assert!(
        store
            .list_parameters(d.id, "Device.WiFi.SSID.%")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .delete_parameters(d.id, "Device.WiFi.SSID.1")
            .await
            .unwrap(),
        311
    );
    let err = store
        .upsert_parameters(777, &many[..1], t(1))
        .await
        .unwrap_err();
    assert_foreign_key(&err, "device", 777);
    store.close().await;
}

async fn catalog_round_trips_and_refuses_deleting_used_rows(env: Env) {
    let store = env.store().await;
    let org = store.create_organization("Acme", t(0)).await.unwrap();
    let err = store.create_organization("Acme", t(0)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let loc = store
        .create_location(
            &NewLocation {
                name: "Headquarters - Building A".into(),
                short_name: Some("HQ_BLDG_A".into()),
                organization_id: Some(org.id),
                latitude: Some("37.7749".into()),
                longitude: Some("-122.4194".into()),
            },
            t(0),
        )
        .await
        .unwrap();
    assert_eq!(store.location(loc.id).await.unwrap().unwrap(), loc);
    assert_eq!(
        store.list_locations(Some(org.id)).await.unwrap(),
        vec![loc.clone()]
    );
    let profile = DeviceTypeProfile {
        latitude_path: Some("Device.X_Acme.Lat".into()),
        inform_interval_path: Some("Device.ManagementServer.PeriodicInformInterval".into()),
        defaults: vec![ProfileDefault {
            path: "Device.ManagementServer.PeriodicInformEnable".into(),
            value: "true".into(),
            xsd_type: "xsd:boolean".into(),
        }],
        ..DeviceTypeProfile::default()
    };
    let ty = store
        .create_device_type(
            &tr181_type("enterprise_router", "Enterprise router", profile.clone()),
            t(0),
        )
        .await
        .unwrap();
    assert_eq!(
        store.device_type(ty.id).await.unwrap().unwrap().profile.0,
        profile
    );
    let renamed = store
        .update_device_type(ty.id, &tr181_type("er", "ER", DeviceTypeProfile::default()))
        .await
        .unwrap();
    assert_eq!(renamed.short_name, "er");
    let fw = store
        .create_firmware_image(
            &NewFirmwareImage {
                version: "1.2.4".into(),
                file_name: "er-1.2.4.bin".into(),
                size: 1024,
                sha256: "ab".repeat(32),
                device_type_id: Some(ty.id),
            },
            t(0),
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_firmware_images().await.unwrap(),
        vec![fw.clone()]
    );
    let mut nd = new_device("SN1");
    nd.organization_id = Some(org.id);
    nd.location_id = Some(loc.id);
    nd.type_id = Some(ty.id);
    nd.firmware_image_id = Some(fw.id);
    let d = store.create_device(&nd, t(0)).await.unwrap();
    assert_eq!(d.location_short_name.as_deref(), Some("HQ_BLDG_A"));
    assert_eq!(d.type_short_name.as_deref(), Some("er"));
    // registered with its image: nothing is being downloaded
    assert!(!d.firmware_image_is_pending);
    for err in [
        store.delete_organization(org.id).await.unwrap_err(),
        store.delete_device_type(ty.id).await.unwrap_err(),
        store.delete_firmware_image(fw.id).await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    }
    store.delete_location(loc.id).await.unwrap();
    let d = stored(&store, "SN1").await;
    assert_eq!(d.location_id, None);
    store.delete_device("SN1").await.unwrap();
    store.delete_firmware_image(fw.id).await.unwrap();
    store.delete_device_type(ty.id).await.unwrap();
    store.delete_organization(org.id).await.unwrap();
    assert!(store.list_organizations().await.unwrap().is_empty());
    let err = store.delete_organization(org.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    store.close().await;
}

/// A parameter's `updated` is when its value (or type, or writability) was last set or
/// changed, not when it was last reported: re-informing the same value keeps it.
async fn parameter_updated_moves_only_when_the_value_changes(env: Env) {
    let store = env.store().await;
    store.upsert_inform(&inform("SN1", t(10))).await.unwrap();
    let id = stored(&store, "SN1").await.id;
    // the same values again, through the single and the batched path
    store.upsert_inform(&inform("SN1", t(20))).await.unwrap();
    let (writer, task) =
        InformWriter::spawn(store.clone(), WriterConfig::for_dialect(store.dialect()));
    writer.submit(inform("SN1", t(25))).await.unwrap();
    drop(writer);
    task.join().await;
    let params = store.list_parameters(id, "").await.unwrap();
    assert_eq!(params.len(), 20);
    assert!(params.iter().all(|p| p.updated == t(10)), "{params:?}");
    assert_eq!(stored(&store, "SN1").await.last_connection, Some(t(25)));
    // a changed value moves its own row only
    let mut changed = inform("SN1", t(30));
    changed.parameters[3].value = "other".into();
    store.upsert_inform(&changed).await.unwrap();
    let params = store.list_parameters(id, "").await.unwrap();
    let moved: Vec<&str> = params
        .iter()
        .filter(|p| p.updated == t(30))
        .map(|p| p.path.as_str())
        .collect();
    assert_eq!(moved, vec!["Device.X_Test.Value.3"]);
    assert!(
        params
            .iter()
            .all(|p| p.updated == t(10) || p.updated == t(30))
    );
    // a changed type or writability counts; an unknown writability keeps the known one
    let mut typed = param("Device.X_Test.Value.4", "v4");
    typed.xsd_type = "xsd:int".into();
    let mut writable = param("Device.X_Test.Value.5", "v5");
    writable.writable = Some(true);
    store
        .upsert_parameters(id, &[typed, writable], t(40))
        .await
        .unwrap();
    store
        .upsert_parameters(id, &[param("Device.X_Test.Value.5", "v5")], t(50))
        .await
        .unwrap();
    let p = store
        .list_parameters(id, "Device.X_Test.Value.")
        .await
        .unwrap();
    let get = |path: &str| p.iter().find(|x| x.path == path).unwrap();
    assert_eq!(
        (
            get("Device.X_Test.Value.4").xsd_type.as_str(),
            get("Device.X_Test.Value.4").updated
        ),
        ("xsd:int", t(40))
    );
    assert_eq!(
        (
            get("Device.X_Test.Value.5").writable,
            get("Device.X_Test.Value.5").updated
        ),
        (Some(true), t(40))
    );
    assert_eq!(get("Device.X_Test.Value.6").updated, t(10));
    store.close().await;
}

async fn cr_credentials_become_usable_only_when_accepted(env: Env) {
    let store = env.store().await;
    // registered with a pair: the operator says the CPE has it, usable at once
    let device = store
        .create_device(
            &NewDevice {
                username: Some("reg-user".into()),
                password: Some(DevicePassword::new("reg-secret")),
                ..new_device("CR1")
            },
            t(0),
        )
        .await
        .unwrap();
    let accept = |key: &'static str, at: i64| {
        let store = store.clone();
        async move {
            store
                .accept_cr_credentials(device.id, key, t(at))
                .await
                .unwrap()
        }
    };
    // the pair a connection request would use
    let on_wake = || {
        let store = store.clone();
        async move { store.wake_target(device.id).await.unwrap().credentials }
    };
    let usable = |user: &str, pw: Option<&str>| CrCredentials {
        username: user.into(),
        password: pw.map(DevicePassword::new),
    };
    assert_eq!(
        on_wake().await,
        Some(usable("reg-user", Some("reg-secret")))
    );
    // a new pair on record is not what the CPE checks yet
    store
        .update_device(
            "CR1",
            &DevicePatch {
                username: Some(Some("new-user".into())),
                password: Some(Some(DevicePassword::new("new-secret"))),
                ..DevicePatch::default()
            },
            &[],
            t(1),
        )
        .await
        .unwrap();
    store
        .offer_cr_credentials(
            device.id,
            "key-1",
            "new-user",
            Some(&DevicePassword::new("new-secret")),
        )
        .await
        .unwrap();
    assert_eq!(
        on_wake().await,
        Some(usable("reg-user", Some("reg-secret")))
    );
    assert!(!accept("key-0", 2).await);
    assert!(accept("key-1", 2).await);
    assert_eq!(
        on_wake().await,
        Some(usable("new-user", Some("new-secret")))
    );
    // accepted once: the offer is gone
    assert!(!accept("key-1", 3).await);
    // a username alone, and no password, is kept as such
    store
        .offer_cr_credentials(device.id, "key-2", "only-user", None)
        .await
        .unwrap();
    assert!(accept("key-2", 4).await);
    assert_eq!(on_wake().await, Some(usable("only-user", None)));
    // sealed at rest
    store
        .offer_cr_credentials(
            device.id,
            "key-3",
            "u",
            Some(&DevicePassword::new("plain-text-needle")),
        )
        .await
        .unwrap();
    assert!(accept("key-3", 5).await);
    let plain = raw_count(
        &env,
        "SELECT COUNT(*) FROM cr_credentials WHERE password_enc IS NOT NULL",
    )
    .await;
    assert_eq!(plain, 1);
    // a device registered without a pair has none usable
    let bare = store.create_device(&new_device("CR2"), t(0)).await.unwrap();
    assert_eq!(store.wake_target(bare.id).await.unwrap().credentials, None);
    assert!(matches!(
        store.wake_target(9999).await,
        Err(StoreError::NotFound { .. })
    ));
    store.close().await;
}

async fn cr_provisioning_generates_once_and_queues_one_task(env: Env) {
    let store = env.store().await;
    let out = store.upsert_inform(&inform("PROV", t(0))).await.unwrap();
    let InformOutcome::Accepted {
        device_id,
        has_cr_username: false,
        ..
    } = out
    else {
        panic!("{out:?}")
    };
    let credentials_task = NewTask {
        kind: "credentials".into(),
        setting_group: "credentials".into(),
        payload: json!({}),
        merge: Merge::IntoPending,
    };
    let pw = DevicePassword::new("generated-secret");
    let done = store
        .provision_cr_credentials(device_id, Some(("cr-gen", &pw)), &credentials_task, t(1))
        .await
        .unwrap();
    assert_eq!(done, CrProvision::Generated);
    let device = store.device_by_id(device_id).await.unwrap().unwrap();
    assert_eq!(device.username.as_deref(), Some("cr-gen"));
    assert!(device.has_password);
    assert_eq!(device.pending_settings.as_deref(), Some("credentials"));
    assert_eq!(
        store.device_password(device_id).await.unwrap(),
        Some(pw.clone())
    );
    // not usable for connection requests until the CPE accepted it
    assert_eq!(
        store.wake_target(device_id).await.unwrap().credentials,
        None
    );
    // the next Inform knows a username is on record
    let out = store.upsert_inform(&inform("PROV", t(2))).await.unwrap();
    assert!(matches!(
        out,
        InformOutcome::Accepted {
            has_cr_username: true,
            ..
        }
    ));
    // a bootstrap while the task is open: nothing more, and no second pair
    let other = DevicePassword::new("other");
    let again = store
        .provision_cr_credentials(
            device_id,
            Some(("cr-other", &other)),
            &credentials_task,
            t(3),
        )
        .await
        .unwrap();
    assert_eq!(again, CrProvision::AlreadyQueued);
    assert_eq!(
        store
            .device_by_id(device_id)
            .await
            .unwrap()
            .unwrap()
            .username
            .as_deref(),
        Some("cr-gen")
    );
    let open = store.list_tasks(device_id, true).await.unwrap();
    assert_eq!(open.len(), 1);
    // once sent, a later bootstrap queues the pair on record again
    let claimed = claim(&store, device_id, "h", t(4), Duration::from_secs(60))
        .await
        .unwrap();
    store
        .settle_task(claimed.id, "h", &TaskOutcome::Done, t(5))
        .await
        .unwrap();
    let queued = store
        .provision_cr_credentials(device_id, None, &credentials_task, t(6))
        .await
        .unwrap();
    assert_eq!(queued, CrProvision::Queued);
    assert_eq!(store.list_tasks(device_id, true).await.unwrap().len(), 1);
    // nothing on record and nothing generated: nothing to send
    let bare = store
        .create_device(&new_device("BARE"), t(0))
        .await
        .unwrap();
    let nothing = store
        .provision_cr_credentials(bare.id, None, &credentials_task, t(1))
        .await
        .unwrap();
    assert_eq!(nothing, CrProvision::NothingToSend);
    assert!(store.list_tasks(bare.id, true).await.unwrap().is_empty());
    store.close().await;
}

async fn peer_address_comes_from_the_inform(env: Env) {
    let store = env.store().await;
    let mut first = inform("PEER", t(0));
    first.peer_address = Some("127.0.0.1".into());
    store.upsert_inform(&first).await.unwrap();
    let id = device_id(&store, "PEER").await;
    assert_eq!(
        store.wake_target(id).await.unwrap().peer_address.as_deref(),
        Some("127.0.0.1")
    );
    // through the batched writer too, and an Inform without one keeps it
    let (writer, task) =
        InformWriter::spawn(store.clone(), WriterConfig::for_dialect(store.dialect()));
    let mut second = inform("PEER", t(1));
    second.peer_address = Some("192.0.2.9".into());
    writer.submit(second).await.unwrap();
    let mut third = inform("PEER", t(2));
    third.peer_address = None;
    writer.submit(third).await.unwrap();
    drop(writer);
    task.join().await;
    assert_eq!(
        store.wake_target(id).await.unwrap().peer_address.as_deref(),
        Some("192.0.2.9")
    );
    store.close().await;
}

async fn connection_request_log_keeps_the_newest(env: Env) {
    let store = env.store().await;
    let device = store.create_device(&new_device("LOG"), t(0)).await.unwrap();
    for i in 0..(CR_LOG_KEEP + 5) {
        store
            .log_connection_request(device.id, "tasks", "unreachable", &format!("try {i}"), t(i))
            .await
            .unwrap();
    }
    let long = "x".repeat(2000);
    store
        .log_connection_request(device.id, "status_check", "auth_failed", &long, t(100))
        .await
        .unwrap();
    let log = store.list_connection_requests(device.id).await.unwrap();
    assert_eq!(log.len() as i64, CR_LOG_KEEP);
    assert_eq!(log[0].outcome, "auth_failed");
    assert_eq!(log[0].purpose, "status_check");
    assert_eq!(log[0].sent, t(100));
    assert!(log[0].detail.len() <= 512, "{}", log[0].detail.len());
    assert_eq!(log[1].detail, format!("try {}", CR_LOG_KEEP + 4));
    assert_eq!(log.last().unwrap().detail, "try 6");
    assert!(matches!(
        store
            .log_connection_request(9999, "tasks", "accepted", "", t(0))
            .await,
        Err(StoreError::ForeignKey { .. })
    ));
    store.delete_device("LOG").await.unwrap();
    assert_eq!(
        raw_count(&env, "SELECT COUNT(*) FROM connection_request_log").await,
        0
    );
    store.close().await;
}
