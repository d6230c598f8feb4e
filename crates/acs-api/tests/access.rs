//! Bearer auth and organization scoping: 401 without a known token, 403 for another
//! organization's devices (filter or serial), never another organization's devices in lists.

mod support;

use support::LIST;

use support::Env;

use acs_store::TokenScope;
use chrono::Utc;
use serde_json::json;
use support::start;

async fn missing_or_unknown_tokens_are_401(env: Env) {
    let s = start(&env).await;
    for (token_header, expect) in [(None, 401), (Some("not-a-token"), 401)] {
        let r = s.raw("GET", LIST, token_header, None, b"").await;
        assert_eq!(r.status, expect);
        assert!(r.json()["detail"].is_string());
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    for path in [
        "/api/v1/inventory_device_serial/X/",
        "/api/v1/organizations/",
        "/api/v1/firmware_images/",
    ] {
        assert_eq!(
            s.raw("GET", path, None, None, b"").await.status,
            401,
            "{path}"
        );
    }
    // A revoked token stops working.
    let (t, secret) = s
        .store
        .create_token("tmp", TokenScope::Admin, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        s.call_as(secret.expose(), "GET", LIST, None).await.status,
        200
    );
    s.store.revoke_token(t.id).await.unwrap();
    assert_eq!(
        s.call_as(secret.expose(), "GET", LIST, None).await.status,
        401
    );
}

async fn scoped_tokens_see_only_their_organization(env: Env) {
    let s = start(&env).await;
    let a = s.store.create_organization("A", Utc::now()).await.unwrap();
    let b = s.store.create_organization("B", Utc::now()).await.unwrap();
    for (serial, org) in [("A1", a.id), ("A2", a.id), ("B1", b.id)] {
        s.register(json!({"serial_number": serial, "name": serial, "organization_id": org}))
            .await;
    }
    s.post_device(json!({"serial_number": "NOORG", "name": "n"}))
        .await;
    let (_, ta) = s
        .store
        .create_token("a", TokenScope::organization(a.id), Utc::now())
        .await
        .unwrap();
    let ta = ta.expose();

    let page = s.call_as(ta, "GET", LIST, None).await.json();
    assert_eq!(page["count"], 2);
    let serials: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["serial_number"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["A1", "A2"]);
    let r = s
        .call_as(ta, "GET", &format!("{LIST}?organization={}", a.id), None)
        .await;
    assert_eq!(r.json()["count"], 2);
    let r = s
        .call_as(ta, "GET", &format!("{LIST}?organization={}", b.id), None)
        .await;
    assert_eq!(r.status, 403);
    assert!(r.json()["detail"].is_string());

    for serial in ["B1", "NOORG"] {
        let path = format!("{LIST}{serial}/");
        s.assert_statuses(
            ta,
            &[
                ("GET", path.clone(), None, 403),
                ("PATCH", path.clone(), Some(json!({"reboot": true})), 403),
                ("DELETE", path.clone(), None, 403),
                ("GET", format!("{path}parameters/"), None, 403),
                ("GET", format!("{path}traces/"), None, 403),
            ],
        )
        .await;
    }
    s.assert_statuses(ta, &[("GET", format!("{LIST}A1/"), None, 200)])
        .await;
    // Moving its device to another organization, or creating one there: 403.
    let r = s
        .call_as(
            ta,
            "PATCH",
            &format!("{LIST}A1/"),
            Some(&json!({"organization_id": b.id})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .post_device_as(
            ta,
            json!({"serial_number": "X", "name": "x", "organization_id": b.id}),
        )
        .await;
    assert_eq!(r.status, 403);
    // Without an organization, a scoped token's device lands in its own.
    let r = s
        .post_device_as(ta, json!({"serial_number": "A3", "name": "a3"}))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["organization_id"], a.id);

    // The catalog: its own organization only; writes need an admin token.
    let orgs = s
        .call_as(ta, "GET", "/api/v1/organizations/", None)
        .await
        .json();
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    let r = s
        .call_as(
            ta,
            "POST",
            "/api/v1/organizations/",
            Some(&json!({"name": "C"})),
        )
        .await;
    assert_eq!(r.status, 403);

    // The admin token sees everything.
    assert_eq!(s.get(LIST).await.json()["count"], 5);
}

async fn a_token_for_several_organizations_sees_each_of_them(env: Env) {
    let s = start(&env).await;
    let mut orgs = Vec::new();
    for name in ["A", "B", "C"] {
        let id = s.organization(name).await;
        orgs.push(id);
        let serial = format!("{name}1");
        s.register(json!({"serial_number": serial, "name": serial, "organization_id": id}))
            .await;
    }
    let (_, secret) = s
        .store
        .create_token(
            "ab",
            TokenScope::Organizations(vec![orgs[0], orgs[1]]),
            Utc::now(),
        )
        .await
        .unwrap();
    let ab = secret.expose();
    let page = s.call_as(ab, "GET", LIST, None).await.json();
    assert_eq!(page["count"], 2, "{page}");
    let filter = |org: i64| format!("{LIST}?organization={org}");
    s.assert_statuses(
        ab,
        &[
            ("GET", filter(orgs[0]), None, 200),
            ("GET", filter(orgs[1]), None, 200),
            ("GET", filter(orgs[2]), None, 403),
            ("GET", format!("{LIST}B1/"), None, 200),
            ("GET", format!("{LIST}C1/"), None, 403),
        ],
    )
    .await;
    // Which of its organizations a new device lands in must be said.
    let r = s
        .post_device_as(ab, json!({"serial_number": "N", "name": "n"}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["organization_id"].is_array(), "{}", r.json());
    let r = s
        .post_device_as(
            ab,
            json!({"serial_number": "N", "name": "n", "organization_id": orgs[1]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let listed = s
        .call_as(ab, "GET", "/api/v1/organizations/", None)
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

api_tests![
    missing_or_unknown_tokens_are_401,
    scoped_tokens_see_only_their_organization,
    a_token_for_several_organizations_sees_each_of_them,
];
