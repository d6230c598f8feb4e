//! Deployed CPE agents (issue 14, PROTOCOL §16): each vendor behaviour bundle of cpe-sim
//! against `acs serve` with digest authentication, driven through the REST API as an
//! operator does — Inform, GetParameterValues, SetParameterValues, Reboot, FactoryReset and a
//! firmware Download must all complete, each exactly once.

use serde_json::{Value, json};

use super::common::{register, wait_settled, wait_task_done, wait_up};
use crate::support::servers::Sim;
use crate::support::{Api, Env, SimConfig, wait, wait::secs};

/// How the server is set up for an agent: extra `acs serve` flags, and the wire format of
/// the device type its device is registered with (`None`: no type).
struct Setup<'a> {
    acs_flags: &'a [&'a str],
    profile: Option<Value>,
}

const DEFAULTS: Setup<'static> = Setup {
    acs_flags: &[],
    profile: None,
};

/// A Go multi-device simulator: `1 BOOT` alone after a Reboot.
pub async fn go_sim(env: Env) {
    every_operation(env, "go-sim", "PGO", DEFAULTS).await;
}

/// A TypeScript agent: reads one challenge, MD5 only; empty CommandKeys on `M` events; no
/// `0 BOOTSTRAP` after a FactoryReset.
pub async fn ts_agent(env: Env) {
    every_operation(env, "ts-agent", "PTS", DEFAULTS).await;
}

/// A Node agent: crashes on a partial-path GetParameterValues, dies on any non-2xx answer.
pub async fn node_agent(env: Env) {
    every_operation(env, "node-agent", "PNODE", DEFAULTS).await;
}

/// A C agent: MD5 only, a 32-character nonce buffer, no XML declaration, Basic-only
/// connection requests. The operator allows Basic for connection requests
/// (`--cr-allow-basic`, issue 14 item 8) and registers the device with a device type whose
/// envelopes carry no XML declaration (the existing per-type wire format: a Huawei CPE needs
/// the declaration, so it stays the default).
pub async fn c_agent(env: Env) {
    let setup = Setup {
        acs_flags: &["--cr-allow-basic"],
        profile: Some(json!({ "xml_declaration": false })),
    };
    every_operation(env, "c-agent", "PC", setup).await;
}

/// How many times a task may crash the CPE before the server gives up on it (issue 14
/// item 3: "fails with a clear reason instead of being re-sent forever").
const MAX_CRASHES: usize = 3;

/// A GetParameterValues of a partial path crashes the Node agent. The task fails after a few
/// crashes instead of crash-looping the device until its attempts run out, the agent's
/// reconnect after each crash is accepted (a 503 kills it), and the device keeps working.
pub async fn partial_path_crash(env: Env) {
    let (acs, api, sim, serial) = start(&env, "node-agent", "PCRASH", DEFAULTS).await;
    let task = create_task(
        &api,
        &serial,
        json!({ "kind": "get_parameter_values", "payload": { "names": ["Device.DeviceInfo."] } }),
    )
    .await;
    let id = task["id"].as_i64().expect("task id");
    wait::until_true(
        &format!("{serial} to crash on the partial path"),
        secs(60),
        || async { !sim.events_of(&serial, "crashed").is_empty() },
    )
    .await;
    let failed = wait::until(
        &format!(
            "the GetParameterValues that crashes {serial} to fail after at most {MAX_CRASHES} crashes rather than be re-sent"
        ),
        secs(120),
        || async {
            let t = find_task(&api, &serial, id).await;
            assert_ne!(
                t["state"], "done",
                "a request that crashed the CPE cannot be done: {t}"
            );
            (t["state"] == "failed").then_some(t)
        },
    )
    .await;
    let crashes = sim.events_of(&serial, "crashed").len();
    assert!(
        crashes <= MAX_CRASHES,
        "{serial} crashed {crashes} times before the task failed: {failed}"
    );
    assert!(
        failed["fault_string"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "the failed task says why: {failed}"
    );
    assert!(
        sim.events_of(&serial, "died").is_empty(),
        "the ACS answered {serial}'s reconnect after its crash with a non-2xx status, which kills the agent: {:?}",
        sim.events_of(&serial, "died")
    );

    // The device is still managed, and the crashing request is not sent again.
    let ok = create_task(
        &api,
        &serial,
        json!({ "kind": "get_parameter_values", "payload": { "names": ["Device.DeviceInfo.UpTime"] } }),
    )
    .await;
    wait_task(&api, &serial, &ok, secs(60)).await;
    assert_eq!(
        sim.events_of(&serial, "crashed").len(),
        crashes,
        "{serial} crashed again after its task failed"
    );
    drop(sim);
    drop(acs);
}

/// Starts `acs serve` (digest authentication, the setup's flags), registers device
/// `<prefix>0` and starts it with the behaviour bundle; returns once its first sessions are
/// over.
async fn start(
    env: &Env,
    bundle: &str,
    prefix: &str,
    setup: Setup<'_>,
) -> (crate::support::Acs, Api, Sim, String) {
    let mut flags = vec!["--cwmp-auth", "digest"];
    flags.extend_from_slice(setup.acs_flags);
    let config = env.with_flags(&flags);
    let acs = config.start();
    let api = Api::new(&acs.api, &config.token(None));
    let serial = format!("{prefix}0");
    let mut extra = json!({});
    if let Some(profile) = setup.profile {
        let short = bundle.replace('-', "_");
        let t = api
            .expect(
                201,
                "POST",
                "/device_types/",
                Some(&json!({ "short_name": short, "name": bundle, "profile": profile })),
            )
            .await;
        extra = json!({ "type": t["id"] });
    }
    // Per-device credentials: the serial number as username and password, on record and in
    // the device (both directions: the CPE's digest, the server's connection request).
    register(&api, &serial, extra).await;
    let pattern = format!("{prefix}{{}}");
    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: &pattern,
        devices: 1,
        inform_interval: 300,
        extra: [
            "--behaviour",
            bundle,
            "--restart-delay",
            "1",
            "--username",
            "{serial}",
            "--password",
            "{serial}",
        ]
        .map(String::from)
        .to_vec(),
    }
    .start();
    wait_up(&api, std::slice::from_ref(&serial), secs(60)).await;
    wait_settled(&api, &serial, secs(60)).await;
    (acs, api, sim, serial)
}

async fn every_operation(env: Env, bundle: &str, prefix: &str, setup: Setup<'_>) {
    let (acs, api, sim, serial) = start(&env, bundle, prefix, setup).await;
    let s = serial.as_str();

    // GetParameterValues: a value no Inform carries reaches the store.
    let gpv = create_task(
        &api,
        s,
        json!({ "kind": "get_parameter_values", "payload": { "names": ["Device.DeviceInfo.UpTime"] } }),
    )
    .await;
    wait_task(&api, s, &gpv, secs(60)).await;
    assert!(
        api.parameter(s, "Device.DeviceInfo.UpTime").await.is_some(),
        "{s}: UpTime stored after the GetParameterValues"
    );

    // SetParameterValues, read back from the device.
    let code = format!("e2e-{bundle}");
    let spv = create_task(
        &api,
        s,
        json!({ "kind": "set_parameter_values", "payload": { "parameters": [
            { "name": "Device.DeviceInfo.ProvisioningCode", "value": code, "type": "string" }
        ] } }),
    )
    .await;
    wait_task(&api, s, &spv, secs(60)).await;
    let read = create_task(
        &api,
        s,
        json!({ "kind": "get_parameter_values", "payload": { "names": ["Device.DeviceInfo.ProvisioningCode"] } }),
    )
    .await;
    wait_task(&api, s, &read, secs(60)).await;
    assert_eq!(
        api.parameter(s, "Device.DeviceInfo.ProvisioningCode")
            .await
            .as_deref(),
        Some(code.as_str()),
        "{s}: the value set is the value read back"
    );

    // Reboot: done however the agent reports it, and sent once.
    api.patch_device(s, json!({ "reboot": true })).await;
    wait::until_true(&format!("{s} to reboot"), secs(60), || async {
        !sim.events_of(s, "rebooted").is_empty()
    })
    .await;
    wait_task_done(&api, s, "reboot", secs(60)).await;
    wait_settled(&api, s, secs(60)).await;
    assert_eq!(
        sim.events_of(s, "rebooted").len(),
        1,
        "{s}: the Reboot was sent more than once"
    );

    // FactoryReset: done however the agent reports it, and sent once.
    api.patch_device(s, json!({ "factory_reset": true })).await;
    wait::until_true(&format!("{s} to reset to factory"), secs(60), || async {
        !sim.events_of(s, "factory_reset").is_empty()
    })
    .await;
    wait_task_done(&api, s, "factory_reset", secs(60)).await;
    wait_settled(&api, s, secs(60)).await;
    assert_eq!(
        sim.events_of(s, "factory_reset").len(),
        1,
        "{s}: the FactoryReset was sent more than once"
    );

    // A firmware Download, fetched and reported with TransferComplete.
    let image: Vec<u8> = (0u32..30_011).map(|i| (i * 7 + 3) as u8).collect();
    let r = api
        .post_multipart(
            "/firmware_images/",
            &[("version", "9.0.0")],
            ("file", &format!("{prefix}-fw-9.0.0.bin"), &image),
        )
        .await;
    assert_eq!(r.status, 201, "upload: {}", r.text);
    let id = r.json["id"].as_i64().expect("image id");
    api.patch_device(s, json!({ "firmware_image": id })).await;
    let downloaded = wait::until(&format!("{s} to download the image"), secs(60), || async {
        sim.events_of(s, "downloaded").into_iter().next()
    })
    .await;
    assert_eq!(downloaded["fault_code"], 0, "{s}: {downloaded}");
    let version = downloaded["software_version"]
        .as_str()
        .expect("a version")
        .to_owned();
    wait::until_true(
        &format!("{s}: software_version {version} and the image no longer pending"),
        secs(60),
        || async {
            let d = api.device(s).await;
            d["software_version"] == version.as_str() && d["firmware_image_is_pending"] == false
        },
    )
    .await;
    wait_settled(&api, s, secs(60)).await;
    assert_eq!(
        sim.events_of(s, "downloaded").len(),
        1,
        "{s}: downloaded twice"
    );
    assert!(
        sim.events_of(s, "crashed").is_empty() && sim.events_of(s, "died").is_empty(),
        "{s}: the agent went down: {:?} {:?}",
        sim.events_of(s, "crashed"),
        sim.events_of(s, "died")
    );
    drop(sim);
    drop(acs);
}

async fn create_task(api: &Api, serial: &str, body: Value) -> Value {
    api.expect(
        201,
        "POST",
        &format!("/inventory_device_serial/{serial}/tasks/"),
        Some(&body),
    )
    .await
}

async fn find_task(api: &Api, serial: &str, id: i64) -> Value {
    api.tasks(serial)
        .await
        .into_iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{serial}: task {id} is not listed"))
}

/// Waits for `task` (as created) to be done; fails at once if it failed.
async fn wait_task(api: &Api, serial: &str, task: &Value, timeout: std::time::Duration) {
    let id = task["id"].as_i64().expect("task id");
    let kind = task["kind"].as_str().unwrap_or("?").to_owned();
    wait::until_true(
        &format!("{serial}: the {kind} task {id} to be done"),
        timeout,
        || async {
            let t = find_task(api, serial, id).await;
            assert_ne!(
                t["state"], "failed",
                "{serial}: the {kind} task failed: {t}"
            );
            t["state"] == "done"
        },
    )
    .await;
}
