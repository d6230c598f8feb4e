//! Cross-tenant references (issue 12 item 8): every reference a scoped token writes is
//! checked against its organizations. A location belongs to an organization, and a device's
//! location must be in the device's organization; device types and firmware images are
//! global: any token may reference them, only an admin token may change them.

mod support;

use support::LIST;

use acs_store::{NewDeviceType, NewLocation, TokenScope};
use chrono::Utc;
use serde_json::{Value, json};
use support::{Env, Server, start};

struct World {
    s: Server,
    a: i64,
    b: i64,
    /// Locations of A, of B, and of no organization.
    loc_a: i64,
    loc_b: i64,
    loc_none: i64,
    /// A token scoped to A.
    ta: String,
}

/// A device PUT body with every field the seed requires (PUT replaces them all), `fields` on
/// top: these tests are about the references, not about PUT's required fields.
fn device_put(organization: i64, fields: Value) -> Value {
    let mut body = json!({
        "name": "a1", "customer_id": null, "description": null, "is_active": true,
        "latitude": null, "location_name": null, "longitude": null,
        "organization_id": organization, "type": null, "update_frequency": null,
        "username": null,
    });
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn world(env: &Env) -> World {
    let s = start(env).await;
    let a = s.organization("A").await;
    let b = s.organization("B").await;
    let loc = |name: &'static str, org: Option<i64>| {
        let store = s.store.clone();
        async move {
            store
                .create_location(
                    &NewLocation {
                        name: name.into(),
                        short_name: Some(name.into()),
                        organization_id: org,
                        latitude: None,
                        longitude: None,
                    },
                    Utc::now(),
                )
                .await
                .unwrap()
                .id
        }
    };
    let loc_a = loc("in-a", Some(a)).await;
    let loc_b = loc("in-b", Some(b)).await;
    let loc_none = loc("nowhere", None).await;
    let (_, ta) = s
        .store
        .create_token("a", TokenScope::organization(a), Utc::now())
        .await
        .unwrap();
    let r = s
        .post_device(json!({"serial_number": "A1", "name": "a1", "organization_id": a}))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    World {
        s,
        a,
        b,
        loc_a,
        loc_b,
        loc_none,
        ta: ta.expose().to_owned(),
    }
}

impl World {
    async fn device(&self) -> Value {
        self.s.get(&format!("{LIST}A1/")).await.json()
    }

    /// `method` (PATCH or PUT) of device A1 with `token`, whose answer must have `status`;
    /// the answer.
    async fn write_a1(
        &self,
        token: &str,
        method: &str,
        body: Value,
        status: u16,
    ) -> support::Response {
        let r = self
            .s
            .call_as(token, method, &format!("{LIST}A1/"), Some(&body))
            .await;
        assert_eq!(r.status, status, "{method} {body}: {}", r.json());
        r
    }
}

/// `location` on POST, PUT and PATCH: another organization's location, or one in no
/// organization (which a scoped token cannot even read), is 403 and writes nothing.
async fn location_of_another_organization_is_refused(env: Env) {
    let w = world(&env).await;
    let ta = w.ta.as_str();
    // What the token may not read, it may not reference.
    for loc in [w.loc_b, w.loc_none] {
        let path = format!("/api/v1/locations/{loc}/");
        assert_eq!(w.s.call_as(ta, "GET", &path, None).await.status, 403);
    }
    let device_path = format!("{LIST}A1/");
    for loc in [w.loc_b, w.loc_none] {
        for (method, body) in [
            ("PATCH", json!({"location": loc})),
            ("PUT", device_put(w.a, json!({"location": loc}))),
        ] {
            let r = w.s.call_as(ta, method, &device_path, Some(&body)).await;
            assert_eq!(r.status, 403, "{method} location {loc}: {}", r.json());
            assert!(
                r.json()["detail"].as_str().unwrap().contains("location"),
                "{}",
                r.json()
            );
        }
        let r =
            w.s.post_device_as(
                ta,
                json!({"serial_number": "A9", "name": "a9", "location": loc}),
            )
            .await;
        assert_eq!(r.status, 403, "POST location {loc}: {}", r.json());
        assert_eq!(w.s.get(&format!("{LIST}A9/")).await.status, 404);
    }
    assert_eq!(w.device().await["location"], Value::Null);
    // An unknown location is a 400 naming the field, as before.
    let r = w
        .write_a1(ta, "PATCH", json!({"location": 999_999}), 400)
        .await;
    assert!(r.json()["location"].is_array(), "{}", r.json());
    // Its own organization's location: fine, by PATCH, PUT and POST.
    w.write_a1(ta, "PATCH", json!({"location": w.loc_a}), 200)
        .await;
    assert_eq!(w.device().await["location"], w.loc_a);
    w.write_a1(
        ta,
        "PUT",
        device_put(w.a, json!({"location": w.loc_a})),
        200,
    )
    .await;
    let r =
        w.s.post_device_as(
            ta,
            json!({"serial_number": "A2", "name": "a2", "location": w.loc_a}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    // The admin token is not scoped: it may still do as it likes.
    w.write_a1(&w.s.admin, "PATCH", json!({"location": w.loc_b}), 200)
        .await;
}

/// A token reaching two organizations may use either's locations, but a device's location is
/// in the device's own organization: moving one without the other is a 400.
async fn location_must_be_in_the_devices_organization(env: Env) {
    let w = world(&env).await;
    let (_, ab) =
        w.s.store
            .create_token("ab", TokenScope::Organizations(vec![w.a, w.b]), Utc::now())
            .await
            .unwrap();
    let ab = ab.expose();
    let r = w
        .write_a1(ab, "PATCH", json!({"location": w.loc_b}), 400)
        .await;
    assert!(r.json()["location"].is_array(), "{}", r.json());
    // Both at once: fine.
    w.write_a1(
        ab,
        "PATCH",
        json!({"organization_id": w.b, "location": w.loc_b}),
        200,
    )
    .await;
    // Moving it back to A while it stays at B's location: refused, nothing written.
    w.write_a1(ab, "PATCH", json!({"organization_id": w.a}), 400)
        .await;
    let d = w.device().await;
    assert_eq!(
        (d["organization_id"].clone(), d["location"].clone()),
        (json!(w.b), json!(w.loc_b))
    );
    let r = w
        .s
        .post_device_as(ab, json!({"serial_number": "B2", "name": "b2", "organization_id": w.a, "location": w.loc_b}))
        .await;
    assert_eq!(r.status, 400, "{}", r.json());
}

/// `organization_id` on POST, PUT and PATCH of devices, and on locations.
async fn organization_of_another_tenant_is_refused(env: Env) {
    let w = world(&env).await;
    let ta = w.ta.as_str();
    let device_path = format!("{LIST}A1/");
    for (method, path, body) in [
        (
            "PATCH",
            device_path.as_str(),
            json!({"organization_id": w.b}),
        ),
        ("PUT", device_path.as_str(), device_put(w.b, json!({}))),
        (
            "POST",
            LIST,
            json!({"serial_number": "X", "name": "x", "organization_id": w.b}),
        ),
        (
            "POST",
            "/api/v1/locations/",
            json!({"name": "x", "organization_id": w.b}),
        ),
    ] {
        let r = w.s.call_as(ta, method, path, Some(&body)).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.json());
    }
    let own = format!("/api/v1/locations/{}/", w.loc_a);
    for (method, body) in [
        ("PATCH", json!({"organization_id": w.b})),
        ("PUT", json!({"name": "in-a", "organization_id": w.b})),
    ] {
        let r = w.s.call_as(ta, method, &own, Some(&body)).await;
        assert_eq!(r.status, 403, "{method} {own}: {}", r.json());
    }
    let other = format!("/api/v1/locations/{}/", w.loc_b);
    let r =
        w.s.call_as(ta, "PATCH", &other, Some(&json!({"organization_id": w.a})))
            .await;
    assert_eq!(r.status, 403, "{}", r.json());
    assert_eq!(w.device().await["organization_id"], w.a);
    let loc = w.s.get(&own).await.json();
    assert_eq!(loc["organization_id"], w.a);
}

/// Device types and firmware images belong to no organization: a scoped token references
/// them on its devices (POST, PUT, PATCH) but cannot create, change or delete them.
async fn global_catalog_is_referenced_not_modified(env: Env) {
    let w = world(&env).await;
    let ta = w.ta.as_str();
    let t =
        w.s.store
            .create_device_type(
                &NewDeviceType {
                    short_name: "t".into(),
                    name: "T".into(),
                    data_model_root: "Device.".into(),
                    profile: Default::default(),
                },
                Utc::now(),
            )
            .await
            .unwrap()
            .id;
    let fw = w.s.some_image().await;
    let device_path = format!("{LIST}A1/");
    for (method, body) in [
        ("PATCH", json!({"type": t, "firmware_image": fw})),
        (
            "PUT",
            device_put(w.a, json!({"type": t, "firmware_image": fw})),
        ),
    ] {
        let r = w.s.call_as(ta, method, &device_path, Some(&body)).await;
        assert_eq!(r.status, 200, "{method}: {}", r.json());
    }
    let r =
        w.s.post_device_as(
            ta,
            json!({"serial_number": "A3", "name": "a3", "type": t, "firmware_image": fw}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    let d = w.device().await;
    assert_eq!(
        (d["type"].clone(), d["firmware_image"].clone()),
        (json!(t), json!(fw))
    );
    // Unknown ones are a 400 naming the field.
    for field in ["type", "firmware_image"] {
        let r =
            w.s.call_as(ta, "PATCH", &device_path, Some(&json!({ field: 999_999 })))
                .await;
        assert_eq!(r.status, 400, "{field}: {}", r.json());
        assert!(r.json()[field].is_array(), "{}", r.json());
    }
    let type_path = format!("/api/v1/device_types/{t}/");
    let fw_path = format!("/api/v1/firmware_images/{fw}/");
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/device_types/",
            Some(json!({"short_name": "u", "name": "U"})),
        ),
        (
            "PUT",
            type_path.as_str(),
            Some(json!({"short_name": "t", "name": "mine"})),
        ),
        ("DELETE", type_path.as_str(), None),
        ("PUT", fw_path.as_str(), Some(json!({"version": "mine"}))),
        ("PATCH", fw_path.as_str(), Some(json!({"version": "mine"}))),
        ("DELETE", fw_path.as_str(), None),
    ] {
        let r = w.s.call_as(ta, method, path, body.as_ref()).await;
        assert_eq!(r.status, 403, "{method} {path}");
    }
    assert_eq!(w.s.get(&type_path).await.json()["name"], "T");
    assert_eq!(w.s.get(&fw_path).await.json()["version"], "1");
}

api_tests![
    location_of_another_organization_is_refused,
    location_must_be_in_the_devices_organization,
    organization_of_another_tenant_is_refused,
    global_catalog_is_referenced_not_modified,
];
