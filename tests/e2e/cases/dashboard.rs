//! Use case 1, the health dashboard: filtered lists in the seed's envelope, and
//! `update_status=true` noticing a device that stopped answering.

use serde_json::json;

use super::common::{register, wait_up};
use crate::support::{Env, SimConfig, wait::secs};

pub async fn dashboard(env: Env) {
    let (acs, api) = env.start();
    let north = api.organization("north").await;
    let south = api.organization("south").await;
    let router = api
        .expect(
            201,
            "POST",
            "/device_types/",
            Some(&json!({ "short_name": "sim_router", "name": "Simulated router" })),
        )
        .await["id"]
        .as_i64()
        .expect("device type id");

    // DASH0 and DASH1: north, routers; DASH2: south, no type; DASH3 registered but never
    // installed (stays Down).
    register(
        &api,
        "DASH0",
        json!({ "organization_id": north, "type": router }),
    )
    .await;
    register(
        &api,
        "DASH1",
        json!({ "organization_id": north, "type": router }),
    )
    .await;
    register(&api, "DASH2", json!({ "organization_id": south })).await;
    register(&api, "DASH3", json!({ "organization_id": south })).await;

    let sim = SimConfig {
        acs_url: &acs.acs_url(),
        serial_pattern: "DASH{}",
        devices: 3,
        inform_interval: 300,
        extra: vec![],
    }
    .start();
    let online: Vec<String> = (0..3).map(|i| format!("DASH{i}")).collect();
    wait_up(&api, &online, secs(60)).await;

    // The envelope, exactly the seed's keys.
    let page = api.list("status=true").await;
    let mut keys: Vec<&str> = page
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["count", "next", "previous", "results"]);
    assert_eq!(page["count"], 3);

    let mut up_north = api
        .serials(&format!("status=true&organization={north}"))
        .await;
    up_north.sort();
    assert_eq!(up_north, ["DASH0", "DASH1"]);
    let mut routers = api.serials(&format!("type={router}")).await;
    routers.sort();
    assert_eq!(routers, ["DASH0", "DASH1"]);
    assert_eq!(api.serials("status=false").await, ["DASH3"]);
    assert_eq!(
        api.serials(&format!("status=0&organization={south}")).await,
        ["DASH3"]
    );
    let d = &api.list(&format!("type={router}&limit=1")).await["results"][0];
    assert_eq!(d["type"], router);
    assert_eq!(d["type_short_name"], "sim_router");
    assert_eq!(d["status"], "Up");
    assert!(d["last_connection"].is_string(), "last_connection set: {d}");

    // Pagination: absolute next/previous links, count over all pages.
    let first = api.list("limit=2&offset=0").await;
    assert_eq!(first["count"], 4);
    assert_eq!(first["results"].as_array().map(Vec::len), Some(2));
    assert!(first["previous"].is_null());
    let next = first["next"].as_str().expect("a next link");
    assert!(
        next.starts_with("http://") && next.contains("offset=2"),
        "{next}"
    );
    let second = api.list("limit=2&offset=2").await;
    assert!(second["next"].is_null());
    assert!(second["previous"].is_string());

    for s in &online {
        sim.wait_sessions(s, 1).await;
    }
    // The fleet goes away: the stored status still says Up (nothing touches the network)…
    sim.kill();
    assert_eq!(
        api.serials(&format!("status=true&organization={north}"))
            .await
            .len(),
        2
    );
    // …until update_status=true asks the devices, which no longer answer.
    let live = api
        .list(&format!("organization={north}&update_status=true"))
        .await;
    let results = live["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for d in results {
        assert_eq!(
            d["status"], "Down",
            "{} after its CPE stopped: {d}",
            d["serial_number"]
        );
        assert!(d["status_change"].is_string());
    }
    // The flip is stored, not just shown.
    assert_eq!(
        api.serials(&format!("status=false&organization={north}"))
            .await
            .len(),
        2
    );
    // South was not asked: DASH2 keeps its stored Up.
    assert_eq!(api.device("DASH2").await["status"], "Up");
    drop(acs);
}
