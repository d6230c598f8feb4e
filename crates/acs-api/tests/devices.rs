//! The seed's six endpoints replayed against a real server: status codes, field names and
//! types, the pagination envelope, the pending settings a PATCH queues, and bad input.

mod support;

use support::LIST;

use support::Env;

use serde_json::{Value, json};
use support::{Server, seed_post_body, start, start_with};

fn dev(serial: &str) -> String {
    format!("/api/v1/inventory_device_serial/{serial}/")
}

/// Every field of the seed's detail example with its JSON type ("s" string, "i" integer,
/// "b" boolean); nullable where a device may lack the value.
const DETAIL_FIELDS: &[(&str, &str, bool)] = &[
    ("id", "i", false),
    ("uuid", "s", false),
    ("name", "s", true),
    ("customer_id", "s", true),
    ("is_active", "b", false),
    ("status", "s", false),
    ("status_change", "s", true),
    ("type", "i", true),
    ("type_short_name", "s", true),
    ("software_version", "s", true),
    ("hardware_version", "s", true),
    ("manufacturer", "s", true),
    ("unique_identifier", "s", true),
    ("product_class", "s", true),
    ("serial_number", "s", false),
    ("serial_number_alt", "s", true),
    ("description", "s", true),
    ("organization_id", "i", true),
    ("firmware_image", "i", true),
    ("firmware_image_is_pending", "b", false),
    ("location_name", "s", true),
    ("location", "i", true),
    ("location_short_name", "s", true),
    ("latitude", "s", true),
    ("longitude", "s", true),
    ("username", "s", true),
    ("update_frequency", "i", true),
    ("address", "s", true),
    ("last_connection", "s", true),
    ("last_configuration", "s", true),
    ("last_change", "s", true),
    ("created", "s", false),
    ("debug", "b", false),
    ("pending_settings", "s", true),
];

fn check_device_shape(d: &Value) {
    for (field, ty, nullable) in DETAIL_FIELDS {
        let v = d
            .get(*field)
            .unwrap_or_else(|| panic!("missing field {field} in {d}"));
        let ok = match (*ty, v) {
            (_, Value::Null) => *nullable,
            ("s", Value::String(_)) => true,
            ("i", Value::Number(n)) => n.is_i64(),
            ("b", Value::Bool(_)) => true,
            _ => false,
        };
        assert!(ok, "field {field} has the wrong type: {v}");
    }
    assert!(d.get("password").is_none(), "password shown: {d}");
    assert!(matches!(d["status"].as_str(), Some("Up" | "Down")));
}

async fn seeded(env: &Env) -> Server {
    let s = start(env).await;
    s.seed_catalog(123, 5).await;
    s
}

async fn seed_post_example_creates_the_device(env: Env) {
    let s = seeded(&env).await;
    let r = s.call("POST", LIST, Some(&seed_post_body())).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let d = r.json();
    check_device_shape(&d);
    assert_eq!(d["serial_number"], "ZN987654321");
    assert_eq!(d["name"], "Branch Office Router");
    assert_eq!(d["customer_id"], "CUST-67890");
    assert_eq!(d["status"], "Down");
    assert_eq!(d["type"], 5);
    assert_eq!(d["type_short_name"], "enterprise_router");
    assert_eq!(d["organization_id"], 123);
    assert_eq!(d["latitude"], "47.6062");
    assert_eq!(d["longitude"], "-122.3321");
    assert_eq!(d["username"], "device_admin");
    assert_eq!(d["is_active"], true);
    assert_eq!(d["pending_settings"], Value::Null);
    assert!(!String::from_utf8_lossy(&r.body).contains("secure_password_123"));

    // The same serial again: 409 with a detail.
    let r = s.call("POST", LIST, Some(&seed_post_body())).await;
    assert_eq!(r.status, 409);
    assert!(r.json()["detail"].is_string());
    assert_eq!(s.device_count().await, 1);
}

async fn post_validation_names_the_fields_and_writes_nothing(env: Env) {
    let s = seeded(&env).await;
    let r = s.post_device(json!({"customer_id": "x"})).await;
    assert_eq!(r.status, 400);
    let e = r.json();
    assert!(
        e["serial_number"][0].is_string() && e["name"][0].is_string(),
        "{e}"
    );

    let mut body = seed_post_body();
    body["type"] = json!(999);
    let r = s.call("POST", LIST, Some(&body)).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["type"][0].is_string());

    let mut body = seed_post_body();
    body["organization_id"] = json!(9999);
    let r = s.call("POST", LIST, Some(&body)).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["organization_id"][0].is_string());

    for (field, bad) in [
        ("is_active", json!("yes")),
        ("type", json!("5")),
        ("latitude", json!("north")),
        ("longitude", json!("200")),
        ("name", json!(42)),
        ("update_frequency", json!(-5)),
        ("colour", json!("red")),
    ] {
        let mut body = seed_post_body();
        body[field] = bad;
        let r = s.call("POST", LIST, Some(&body)).await;
        assert_eq!(r.status, 400, "{field}");
        assert!(r.json()[field][0].is_string(), "{field}: {}", r.json());
    }
    for raw in [&b"{not json"[..], b"[1,2]", b"", b"\"text\""] {
        let r = s
            .raw("POST", LIST, Some(&s.admin), Some("application/json"), raw)
            .await;
        assert_eq!(r.status, 400);
        assert!(r.json()["detail"].is_string());
    }
    for serial in ["", " padded", "a/b", "nul\u{0}byte"] {
        let mut body = seed_post_body();
        body["serial_number"] = json!(serial);
        let r = s.call("POST", LIST, Some(&body)).await;
        assert_eq!(r.status, 400, "{serial:?}");
    }
    assert_eq!(s.device_count().await, 0);
}

async fn seed_get_detail_shows_every_field(env: Env) {
    let s = seeded(&env).await;
    s.call("POST", LIST, Some(&seed_post_body())).await;
    s.inform("ZN987654321", "http://192.0.2.1:7547/cr").await;
    let r = s.get(&dev("ZN987654321")).await;
    assert_eq!(r.status, 200);
    let d = r.json();
    check_device_shape(&d);
    assert_eq!(d["status"], "Up");
    assert_eq!(d["manufacturer"], "Acme");
    assert!(d.get("pending").is_none());

    let r = s.get(&dev("ZN987654321")).await;
    assert_eq!(r.json(), d, "a second read shows the same device");
    let r = s.get(&dev("NOPE")).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["detail"].is_string());
}

async fn list_envelope_filters_and_links(env: Env) {
    let s = seeded(&env).await;
    for i in 0..5 {
        let mut body = seed_post_body();
        body["serial_number"] = json!(format!("SN{i}"));
        body["organization_id"] = json!(if i < 3 { 123 } else { 122 });
        assert_eq!(s.status("POST", LIST, Some(&body)).await, 201);
    }
    // The seed's example query (update_status off here: see the wake tests).
    let r = s
        .get(&format!("{LIST}?organization=123&status=false&limit=2"))
        .await;
    assert_eq!(r.status, 200);
    let page = r.json();
    assert_eq!(page["count"], 3);
    assert_eq!(page["previous"], Value::Null);
    assert_eq!(
        page["next"],
        format!(
            "{}{LIST}?limit=2&offset=2&organization=123&status=false",
            s.base()
        )
    );
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for d in results {
        check_device_shape(d);
    }
    assert_eq!(results[0]["serial_number"], "SN0");
    assert_eq!(results[1]["serial_number"], "SN1");

    let next = page["next"].as_str().unwrap().replace(&s.base(), "");
    let page2 = s.get(&next).await.json();
    assert_eq!(page2["results"].as_array().unwrap().len(), 1);
    assert_eq!(page2["next"], Value::Null);
    assert_eq!(
        page2["previous"],
        format!("{}{LIST}?limit=2&organization=123&status=false", s.base())
    );

    // Filters.
    let count = |q: &'static str| {
        let s = &s;
        async move {
            let r = s.get(&format!("{LIST}?{q}")).await;
            assert_eq!(r.status, 200, "{q}: {}", String::from_utf8_lossy(&r.body));
            r.json()["count"].as_i64().unwrap()
        }
    };
    assert_eq!(count("status=0").await, 5);
    assert_eq!(count("status=False").await, 5);
    assert_eq!(count("status=1").await, 0);
    assert_eq!(count("status=True").await, 0);
    assert_eq!(count("type=5").await, 5);
    assert_eq!(count("type=4").await, 0);
    assert_eq!(count("is_active=true").await, 5);
    assert_eq!(count("organization=122").await, 2);
    assert_eq!(count("last_status_change_from=2024-01-01").await, 0);
    // Unencoded `+` decodes to a space: both spellings work.
    assert_eq!(
        count("last_status_change_from=2024-01-01%2000:01:00+00:00").await,
        0
    );
    assert_eq!(
        count("last_status_change_from=2024-01-01%2000:01:00%2B00:00").await,
        0
    );
    assert_eq!(
        count("last_status_change_from=2024-01-01T00:01:00Z").await,
        0
    );
    assert_eq!(count("colour=blue&limit=").await, 5);

    // A huge limit is capped, not an error.
    let r = s.get(&format!("{LIST}?limit=100000000")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 5);

    for bad in [
        "limit=-1",
        "limit=abc",
        "offset=-5",
        "offset=1.5",
        "status=maybe",
        "type=five",
        "organization=x",
        "is_active=perhaps",
        "last_status_change_from=yesterday",
        "pending=sometimes",
    ] {
        let r = s.get(&format!("{LIST}?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        let field = bad.split('=').next().unwrap();
        assert!(r.json()[field][0].is_string(), "{bad}: {}", r.json());
    }
}

async fn seed_patch_examples_queue_pending_settings(env: Env) {
    let s = seeded(&env).await;
    s.call("POST", LIST, Some(&seed_post_body())).await;
    let path = dev("ZN987654321");

    let r = s
        .call(
            "PATCH",
            &path,
            Some(&json!({"location_name": "Headquarters - Building B", "latitude": "37.7750", "longitude": "-122.4195"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let d = r.json();
    check_device_shape(&d);
    assert_eq!(d["location_name"], "Headquarters - Building B");
    assert_eq!(d["latitude"], "37.7750");
    assert_eq!(d["pending_settings"], "location_update");

    let d = s
        .call("PATCH", &path, Some(&json!({"reboot": true})))
        .await
        .json();
    assert_eq!(d["pending_settings"], "location_update,reboot");

    let d = s
        .call("PATCH", &path, Some(&json!({"sync": true, "debug": true})))
        .await
        .json();
    assert_eq!(d["debug"], true);
    assert_eq!(d["pending_settings"], "location_update,reboot,sync");

    // `false` queues nothing; plain fields queue nothing.
    let d = s
        .call(
            "PATCH",
            &path,
            Some(&json!({"reboot": false, "factory_reset": false, "name": "Renamed", "is_active": false})),
        )
        .await
        .json();
    assert_eq!(d["pending_settings"], "location_update,reboot,sync");
    assert_eq!(d["name"], "Renamed");
    assert_eq!(d["is_active"], false);

    let d = s
        .call(
            "PATCH",
            &path,
            Some(&json!({"update_frequency": 600, "password": "n3w"})),
        )
        .await
        .json();
    assert_eq!(d["update_frequency"], 600);
    assert_eq!(
        d["pending_settings"],
        "location_update,reboot,sync,update_frequency,credentials"
    );

    // The detailed list, with the password never in a payload.
    let r = s.get(&format!("{path}?pending=true")).await;
    let d = r.json();
    let pending = d["pending"].as_array().unwrap();
    let kinds: Vec<&str> = pending
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "location",
            "reboot",
            "sync",
            "update_frequency",
            "credentials"
        ]
    );
    for t in pending {
        for key in [
            "id",
            "kind",
            "setting_group",
            "state",
            "attempts",
            "payload",
            "fault_code",
            "fault_string",
            "created",
            "updated",
        ] {
            assert!(t.get(key).is_some(), "{key} missing in {t}");
        }
        assert_eq!(t["state"], "pending");
    }
    assert_eq!(pending[0]["payload"]["latitude"], "37.7750");
    assert!(!String::from_utf8_lossy(&r.body).contains("n3w"));
    assert!(!String::from_utf8_lossy(&r.body).contains("secure_password_123"));

    // The list shows the same with ?pending=true.
    let page = s.get(&format!("{LIST}?pending=true")).await.json();
    assert_eq!(page["results"][0]["pending"].as_array().unwrap().len(), 5);
}

async fn patch_rejects_bad_input_and_writes_nothing(env: Env) {
    let s = seeded(&env).await;
    s.call("POST", LIST, Some(&seed_post_body())).await;
    let path = dev("ZN987654321");
    let before = s.get(&path).await.json();
    for (body, field) in [
        (json!({"reboot": "yes"}), "reboot"),
        (json!({"colour": "red"}), "colour"),
        (json!({"firmware_image": 77}), "firmware_image"),
        (json!({"update_frequency": 0}), "update_frequency"),
        (json!({"update_frequency": "300"}), "update_frequency"),
        (json!({"organization_id": 9999}), "organization_id"),
        (json!({"serial_number": "OTHER"}), "serial_number"),
        (json!({"is_active": null}), "is_active"),
        (json!({"reboot": true, "latitude": 123.0}), "latitude"),
    ] {
        let r = s.call("PATCH", &path, Some(&body)).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.json()[field][0].is_string(), "{body}: {}", r.json());
    }
    let r = s
        .raw(
            "PATCH",
            &path,
            Some(&s.admin),
            Some("application/json"),
            b"{\"reboot\": tru",
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].is_string());
    let after = s.get(&path).await.json();
    assert_eq!(before, after, "nothing written");
    assert_eq!(
        s.status("PATCH", &dev("NOPE"), Some(&json!({"reboot": true})))
            .await,
        404
    );
}

async fn seed_put_example_replaces_the_fields(env: Env) {
    let s = seeded(&env).await;
    s.call("POST", LIST, Some(&seed_post_body())).await;
    let path = dev("ZN987654321");
    let body = seed_put_body();
    let r = s.call("PUT", &path, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let d = r.json();
    check_device_shape(&d);
    assert_eq!(d["name"], "Updated Office Router - Main Floor");
    assert_eq!(d["username"], "admin_user");
    assert_eq!(d["update_frequency"], 600);
    assert_eq!(
        d["pending_settings"],
        "update_frequency,credentials,location_update"
    );
    // The same PUT again changes nothing the device must learn: nothing more is queued.
    let d = s.call("PUT", &path, Some(&body)).await.json();
    let tasks = s.get(&format!("{path}tasks/")).await.json();
    assert_eq!(tasks.as_array().unwrap().len(), 3, "{d}");

    let r = s
        .call("PUT", &path, Some(&json!({"customer_id": "x"})))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["name"][0].is_string());
    let r = s
        .call("PUT", &path, Some(&json!({"name": "x", "reboot": true})))
        .await;
    assert_eq!(r.status, 400, "remote operations are PATCH-only");
    assert_eq!(s.status("PUT", &dev("NOPE"), Some(&body)).await, 404);
}

/// The seed's PUT example body (`password` included, as the seed shows it).
fn seed_put_body() -> Value {
    json!({
        "name": "Updated Office Router - Main Floor",
        "customer_id": "CUST-12345",
        "is_active": true,
        "type": 5,
        "description": "Updated description - Primary internet gateway",
        "organization_id": 123,
        "location_name": "Headquarters - Building A - Floor 2",
        "latitude": "37.7749",
        "longitude": "-122.4194",
        "username": "admin_user",
        "password": "new_secure_password",
        "update_frequency": 600
    })
}

/// What GET shows can go back unchanged to PUT and to PATCH: 200, no field changes (not even
/// `last_change`), nothing queued, nothing withdrawn. For a registered device with a pending
/// reboot and a device that registered itself by its Inform (no name, no interval: nulls).
async fn get_then_put_or_patch_the_same_body_changes_nothing(env: Env) {
    let s = seeded(&env).await;
    s.call("POST", LIST, Some(&seed_post_body())).await;
    s.inform("ZN987654321", "http://192.0.2.1:7547/cr").await;
    s.call(
        "PATCH",
        &dev("ZN987654321"),
        Some(&json!({"reboot": true, "debug": true, "serial_number_alt": "ALT-1"})),
    )
    .await;
    s.store
        .upsert_inform(&acs_store::Inform {
            serial_number: "SELF-1".into(),
            oui: "00D09E".into(),
            product_class: Some("IGD".into()),
            manufacturer: Some("Acme".into()),
            software_version: Some("1.0".into()),
            hardware_version: None,
            connection_request_url: None,
            address: Some("192.0.2.7".into()),
            peer_address: None,
            parameter_key: None,
            events: vec![],
            parameters: vec![],
            auto_register: true,
            now: chrono::Utc::now(),
        })
        .await
        .unwrap();
    for serial in ["ZN987654321", "SELF-1"] {
        let path = dev(serial);
        let tasks_path = format!("{path}tasks/");
        let tasks = || s.get(&tasks_path);
        let before = s.get(&path).await.json();
        let tasks_before = tasks().await.json();
        for method in ["PUT", "PATCH"] {
            let r = s.call(method, &path, Some(&before)).await;
            assert_eq!(r.status, 200, "{serial} {method}: {}", r.json());
            assert_eq!(
                r.json(),
                before,
                "{serial} {method} answers the device unchanged"
            );
            assert_eq!(s.get(&path).await.json(), before, "{serial} {method}");
            assert_eq!(
                tasks().await.json(),
                tasks_before,
                "{serial} {method} queued"
            );
        }
        // the list's rows are accepted the same way
        let page = s.get(LIST).await.json();
        let row = page["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["serial_number"] == serial)
            .unwrap()
            .clone();
        let r = s.call("PUT", &path, Some(&row)).await;
        assert_eq!(r.status, 200, "{serial} list row: {}", r.json());
        assert_eq!(tasks().await.json(), tasks_before);
    }
}

/// PUT requires the fields of the seed's PUT example (all but the write-only `password`),
/// names every missing one, and never re-activates, clears or resets what it was not given.
async fn put_requires_the_seeds_fields_and_keeps_the_rest(env: Env) {
    let s = seeded(&env).await;
    s.call("POST", LIST, Some(&seed_post_body())).await;
    let path = dev("ZN987654321");
    let r = s.call("PUT", &path, Some(&json!({"name": "x"}))).await;
    assert_eq!(r.status, 400);
    let e = r.json();
    for field in [
        "customer_id",
        "is_active",
        "type",
        "description",
        "organization_id",
        "location_name",
        "latitude",
        "longitude",
        "username",
        "update_frequency",
    ] {
        assert!(e[field][0].is_string(), "{field} not named: {e}");
    }
    assert!(
        e.get("password").is_none() && e.get("name").is_none(),
        "{e}"
    );

    // a disabled device in debug with an alternate serial and a location
    let loc = s
        .store
        .create_location(
            &acs_store::NewLocation {
                organization_id: Some(123),
                short_name: Some("HQ".into()),
                name: "Headquarters".into(),
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .id;
    let r = s
        .call(
            "PATCH",
            &path,
            Some(&json!({"is_active": false, "debug": true, "serial_number_alt": "ALT-9", "location": loc})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    // without is_active: refused, the device stays disabled
    let mut body = seed_put_body();
    body.as_object_mut().unwrap().remove("is_active");
    let r = s.call("PUT", &path, Some(&body)).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["is_active"][0].is_string(), "{}", r.json());
    assert_eq!(s.get(&path).await.json()["is_active"], false);
    // the seed's body without the password: the rest replaced, the password and the fields
    // outside the seed's PUT kept
    let mut body = seed_put_body();
    body.as_object_mut().unwrap().remove("password");
    body["is_active"] = json!(false);
    let r = s.call("PUT", &path, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.json());
    let d = r.json();
    assert_eq!(d["is_active"], false);
    assert_eq!(d["debug"], true);
    assert_eq!(d["serial_number_alt"], "ALT-9");
    assert_eq!(d["location"], loc);
    assert_eq!(d["customer_id"], "CUST-12345");
    let id = d["id"].as_i64().unwrap();
    let password = s.store.device_password(id).await.unwrap().unwrap();
    assert_eq!(password.expose(), "secure_password_123");
    // nulls where GET can show them: cleared, and an interval set to null queues nothing
    let mut body = seed_put_body();
    for field in [
        "name",
        "customer_id",
        "type",
        "description",
        "organization_id",
        "location_name",
        "latitude",
        "longitude",
        "username",
        "update_frequency",
    ] {
        body[field] = Value::Null;
    }
    body.as_object_mut().unwrap().remove("password");
    let open_path = format!("{path}tasks/?open=true");
    let open = || s.get(&open_path);
    let open_kinds = || async {
        let mut kinds: Vec<String> = open()
            .await
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["kind"].as_str().unwrap().to_owned())
            .collect();
        kinds.sort();
        kinds
    };
    let before = open_kinds().await;
    let r = s.call("PUT", &path, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.json());
    let d = r.json();
    for field in [
        "name",
        "customer_id",
        "type",
        "update_frequency",
        "username",
    ] {
        assert_eq!(d[field], Value::Null, "{field}");
    }
    // The cleared username is news: one credentials task is open (a pending one from before
    // takes the change, identical intents merge), nothing else was queued.
    let kinds = open_kinds().await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "credentials").count(),
        1,
        "{kinds:?}"
    );
    let mut expected = before;
    if !expected.iter().any(|k| k == "credentials") {
        expected.push("credentials".to_owned());
        expected.sort();
    }
    assert_eq!(kinds, expected, "only the cleared username is news");
}

/// PATCH: a setting equal to the device's current one queues nothing (re-sending one is a
/// task of its own); a changed one does; `null` is accepted where GET can show it.
async fn patch_queues_only_what_changes(env: Env) {
    let s = seeded(&env).await;
    s.call("POST", LIST, Some(&seed_post_body())).await;
    let path = dev("ZN987654321");
    let d = s
        .call("PATCH", &path, Some(&json!({"update_frequency": 600})))
        .await
        .json();
    assert_eq!(d["pending_settings"], "update_frequency");
    for body in [
        json!({"update_frequency": 600}),
        json!({"username": "device_admin"}),
        json!({"password": "secure_password_123"}),
        json!({"location_name": "Branch Office - Seattle", "latitude": "47.6062"}),
        json!({"name": "Branch Office Router", "is_active": true}),
    ] {
        let r = s.call("PATCH", &path, Some(&body)).await;
        assert_eq!(r.status, 200, "{body}: {}", r.json());
        assert_eq!(r.json()["pending_settings"], "update_frequency", "{body}");
    }
    let d = s
        .call(
            "PATCH",
            &path,
            Some(&json!({"update_frequency": null, "name": null})),
        )
        .await
        .json();
    assert_eq!(d["update_frequency"], Value::Null);
    assert_eq!(d["name"], Value::Null);
    let d = s
        .call("PATCH", &path, Some(&json!({"password": "other"})))
        .await
        .json();
    assert_eq!(d["pending_settings"], "update_frequency,credentials");
}

async fn delete_removes_the_device_and_refuses_during_a_session(env: Env) {
    let s = seeded(&env).await;
    s.call("POST", LIST, Some(&seed_post_body())).await;
    let path = dev("ZN987654321");
    s.call("PATCH", &path, Some(&json!({"reboot": true}))).await;

    s.store
        .acquire_session_lease(
            "ZN987654321",
            "node-a",
            chrono::Utc::now(),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let r = s.call("DELETE", &path, None).await;
    assert_eq!(r.status, 409);
    assert!(r.json()["detail"].is_string());
    s.store
        .release_session_lease("ZN987654321", "node-a")
        .await
        .unwrap();

    let r = s.call("DELETE", &path, None).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(s.get(&path).await.status, 404);
    assert_eq!(s.status("DELETE", &path, None).await, 404);
    // Its tasks went with it: the same serial starts clean.
    let d = s.call("POST", LIST, Some(&seed_post_body())).await.json();
    assert_eq!(d["pending_settings"], Value::Null);
}

async fn odd_serials_are_clean_4xx_or_found_literally(env: Env) {
    let s = seeded(&env).await;
    for path in [
        "/api/v1/inventory_device_serial/a%2Fb/",
        "/api/v1/inventory_device_serial/'%3B%20DROP%20TABLE%20devices%3B%20--/",
        "/api/v1/inventory_device_serial/%22quoted%22/",
        "/api/v1/inventory_device_serial/%FF%FE/",
        "/api/v1/inventory_device_serial/%E5%BA%8F%E5%88%97/",
    ] {
        for method in ["GET", "PATCH", "PUT", "DELETE"] {
            let body = json!({"name": "x", "reboot": true});
            let r = s.call(method, path, Some(&body)).await;
            assert!(
                (400..500).contains(&r.status),
                "{method} {path}: {}",
                r.status
            );
        }
    }
    // Unknown routes and methods answer in the API's shape too.
    for (method, path, status) in [
        ("GET", "/api/v1/inventory_device_serial/X", 404),
        ("GET", "/api/v1/nothing/", 404),
        ("POST", "/api/v1/inventory_device_serial/X/", 405),
    ] {
        let r = s.call(method, path, None).await;
        assert_eq!(r.status, status, "{method} {path}");
        assert!(r.json()["detail"].is_string());
    }
    let long = format!("/api/v1/inventory_device_serial/{}/", "A".repeat(5000));
    assert_eq!(s.get(&long).await.status, 404);

    // Unicode and quotes are fine in a serial; found again percent-encoded.
    let mut body = seed_post_body();
    body["serial_number"] = json!("序列'\"号");
    assert_eq!(s.status("POST", LIST, Some(&body)).await, 201);
    let r = s
        .get("/api/v1/inventory_device_serial/%E5%BA%8F%E5%88%97'%22%E5%8F%B7/")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["serial_number"], "序列'\"号");
    assert_eq!(s.device_count().await, 1);
}

async fn list_count_is_reused_briefly_and_forgotten_on_api_writes(env: Env) {
    let s = start(&env).await;
    let add = |serial: String| {
        let store = s.store.clone();
        async move {
            let new = acs_store::NewDevice {
                serial_number: serial,
                ..acs_store::NewDevice::default()
            };
            store.create_device(&new, chrono::Utc::now()).await.unwrap();
        }
    };
    for i in 0..150 {
        add(format!("C{i:03}")).await;
    }
    let count = |path: &'static str| {
        let s = &s;
        async move { s.get(path).await.json()["count"].as_i64().unwrap() }
    };
    let full_page = "/api/v1/inventory_device_serial/?limit=100";
    assert_eq!(count(full_page).await, 150);
    // A write behind the API's back (a CPE auto-registering): the cached count holds for
    // the TTL...
    add("C150".into()).await;
    assert_eq!(count(full_page).await, 150);
    // ...but a short page counts itself exactly (100 before it + 51 on it)...
    assert_eq!(
        count("/api/v1/inventory_device_serial/?limit=100&offset=100").await,
        151
    );
    // ...and a write through the API forgets every cached count.
    s.register(json!({"serial_number": "C151", "name": "n"}))
        .await;
    assert_eq!(count(full_page).await, 152);
    let r = s.call("DELETE", &format!("{LIST}C000/"), None).await;
    assert_eq!(r.status, 204);
    assert_eq!(count(full_page).await, 151);

    // With the cache off every page counts.
    let exact = start_with(&env, |c| c.list_count_ttl = std::time::Duration::ZERO).await;
    let get = |path: String| {
        let exact = &exact;
        async move { exact.get(&path).await.json()["count"].as_i64().unwrap() }
    };
    assert_eq!(get(full_page.into()).await, 151);
    add("C152".into()).await;
    assert_eq!(get(full_page.into()).await, 152);
}

api_tests![
    seed_post_example_creates_the_device,
    post_validation_names_the_fields_and_writes_nothing,
    seed_get_detail_shows_every_field,
    list_envelope_filters_and_links,
    seed_patch_examples_queue_pending_settings,
    patch_rejects_bad_input_and_writes_nothing,
    seed_put_example_replaces_the_fields,
    delete_removes_the_device_and_refuses_during_a_session,
    odd_serials_are_clean_4xx_or_found_literally,
    list_count_is_reused_briefly_and_forgotten_on_api_writes,
    get_then_put_or_patch_the_same_body_changes_nothing,
    put_requires_the_seeds_fields_and_keeps_the_rest,
    patch_queues_only_what_changes,
];
