//! The OpenAPI 3.1 document, generated from the handlers' annotations, served without a
//! token at `/api/v1/openapi.json` with Swagger UI (vendored, no download) at `/api/v1/docs/`.
//! `schemas/openapi.json` is this document checked in; a test fails when they drift.

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::{catalog, device_data, device_write, devices, firmware, model, traces};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token from `acs token create`; a token scoped to an \
                         organization sees only that organization's devices",
                    ))
                    .build(),
            ),
        );
    }
}

/// The request bodies of a device's PUT and PATCH, derived from the device as GET shows it
/// (the store's `Device`) and the write rules of `device_write`, so the document cannot say other
/// than what the handlers do: `DeviceReplace` (PUT: `PUT_REQUIRED` required, `null` where
/// GET shows `null`, `password` write-only) and `DeviceUpdate` (PATCH: any of them, plus the
/// remote operations).
struct DeviceWriteBodies;

impl Modify for DeviceWriteBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
        use utoipa::openapi::{Ref, RefOr};

        let components = openapi.components.get_or_insert_with(Default::default);
        let Some(RefOr::T(Schema::Object(shown))) = components.schemas.get("Device") else {
            return;
        };
        let mut replace = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A PUT body: every `required` field (those of the seed's PUT example but the \
                 write-only `password`), each replaced, `null` clearing a nullable one. \
                 `password`, `cwmp_username`, `cwmp_password`, `serial_number_alt`, `location`, `firmware_image` and `debug` \
                 may be left out and are then kept. What GET shows is accepted as it is: \
                 read-only fields (`id`, `uuid`, `status`, `created`, `pending_settings`, \
                 `type_short_name`, ...) are ignored whatever their value, and `serial_number` \
                 must be the device's own. A setting equal to the current one queues nothing.",
            ))
            .build();
        for (name, schema) in &shown.properties {
            if device_write::writable().contains(&name.as_str()) {
                replace.properties.insert(name.clone(), schema.clone());
            }
        }
        replace.properties.insert(
            "password".into(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .write_only(true)
                .description(Some(
                    "The connection-request password (ACS -> CPE); never shown. Left out: kept.",
                ))
                .into(),
        );
        replace.properties.insert(
            "cwmp_password".into(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .write_only(true)
                .description(Some(
                    "The password the CPE authenticates to the ACS with (CPE -> ACS, \
                     ManagementServer.Password); never shown. Left out: kept; `null`: removed \
                     (the device can then only authenticate with the shared credentials or a \
                     client certificate). Set without a `cwmp_username` while the device has \
                     none, the username becomes the TR-069 `OUI-SerialNumber` (the serial \
                     number alone while the device's OUI is unknown).",
                ))
                .into(),
        );
        replace.required = device_write::PUT_REQUIRED
            .iter()
            .map(|f| (*f).to_owned())
            .collect();
        let mut update = replace.clone();
        update.required.clear();
        update.description = Some(
            "A PATCH body: any writable field (`null` clears a nullable one; a value equal to \
             the current one changes nothing and queues nothing), and the remote operations. \
             Read-only fields are ignored, so what GET shows is accepted as it is."
                .into(),
        );
        for op in device_write::OPERATIONS {
            update.properties.insert(
                (*op).to_owned(),
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some("`true` queues the operation; `false` does nothing."))
                    .into(),
            );
        }
        components
            .schemas
            .insert("DeviceReplace".into(), Schema::Object(replace).into());
        components
            .schemas
            .insert("DeviceUpdate".into(), Schema::Object(update).into());

        let path = "/api/v1/inventory_device_serial/{serial_number}/";
        let Some(item) = openapi.paths.paths.get_mut(path) else {
            return;
        };
        for (operation, schema) in [
            (item.put.as_mut(), "DeviceReplace"),
            (item.patch.as_mut(), "DeviceUpdate"),
        ] {
            let content = operation
                .and_then(|o| o.request_body.as_mut())
                .and_then(|b| match b {
                    RefOr::T(body) => body.content.get_mut("application/json"),
                    RefOr::Ref(_) => None,
                });
            if let Some(RefOr::T(content)) = content {
                content.schema = Some(RefOr::Ref(Ref::from_schema_name(schema)));
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "acs operator API",
        description = "Devices by serial number (the Inventory Device Serial contract), the \
            catalog, per-device parameters, tasks and history. Errors: `{\"detail\": \"...\"}`; \
            validation errors: `{\"field\": [\"message\", ...]}` with status 400.",
    ),
    paths(
        devices::list,
        devices::create,
        devices::detail,
        devices::replace,
        devices::patch,
        devices::delete,
        device_data::parameters,
        device_data::list_tasks,
        device_data::create_task,
        device_data::task,
        device_data::cancel_task,
        device_data::history,
        traces::list,
        catalog::list_organizations,
        catalog::create_organization,
        catalog::get_organization,
        catalog::replace_organization,
        catalog::patch_organization,
        catalog::delete_organization,
        catalog::list_locations,
        catalog::create_location,
        catalog::get_location,
        catalog::replace_location,
        catalog::patch_location,
        catalog::delete_location,
        catalog::list_device_types,
        catalog::create_device_type,
        catalog::get_device_type,
        catalog::update_device_type,
        catalog::delete_device_type,
        firmware::upload,
        firmware::list,
        firmware::detail,
        firmware::replace_metadata,
        firmware::patch_metadata,
        firmware::delete,
    ),
    components(schemas(model::DeviceOut, model::DevicePage, model::TaskOut)),
    modifiers(&BearerAuth, &DeviceWriteBodies),
)]
struct ApiDoc;

/// The OpenAPI document as pretty JSON with a final newline (what `schemas/openapi.json`
/// holds).
pub fn openapi_json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

pub fn routes() -> Router {
    SwaggerUi::new("/api/v1/docs/")
        .url("/api/v1/openapi.json", ApiDoc::openapi())
        .into()
}

#[cfg(test)]
mod tests {
    //! The device's field lists agree: what GET shows (a serialized `Device`), the OpenAPI
    //! document's schemas, the fields a write reads and the ones it ignores.

    use std::collections::BTreeSet;

    use serde_json::Value;

    use crate::device_write::{self, PUT_REQUIRED};

    fn properties(doc: &Value, schema: &str) -> BTreeSet<String> {
        doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {schema} has no properties"))
            .keys()
            .cloned()
            .collect()
    }

    fn set<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        names.into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn device_field_lists_agree() {
        let doc: Value = serde_json::from_str(&super::openapi_json()).unwrap();
        let Value::Object(shown) = serde_json::to_value(acs_store::Device::default()).unwrap()
        else {
            panic!("a device serializes to an object")
        };
        let shown: BTreeSet<String> = shown.keys().cloned().collect();
        assert_eq!(
            properties(&doc, "Device"),
            shown,
            "the schema is what GET shows"
        );

        let writable = set(device_write::writable().iter().copied());
        let write_only = set(["password", "cwmp_password"]);
        assert_eq!(properties(&doc, "DeviceReplace"), writable, "the PUT body");
        let mut patch = writable.clone();
        patch.extend(set(device_write::OPERATIONS.iter().copied()));
        assert_eq!(properties(&doc, "DeviceUpdate"), patch, "the PATCH body");
        assert!(
            writable.difference(&write_only).all(|f| shown.contains(f)),
            "GET shows every writable field but the passwords: {:?}",
            writable.difference(&shown).collect::<Vec<_>>()
        );
        assert!(set(PUT_REQUIRED.iter().copied()).is_subset(&writable));

        let read_only = set(device_write::read_only().iter().map(String::as_str));
        assert!(read_only.is_disjoint(&writable));
        let known: BTreeSet<String> = read_only.union(&writable).cloned().collect();
        assert!(
            shown.is_subset(&known),
            "what GET shows is accepted back by a PUT"
        );
        assert_eq!(
            known,
            shown
                .union(&write_only)
                .cloned()
                .chain(["pending".to_owned()])
                .collect(),
            "a write knows only what GET shows, the passwords and `pending`"
        );
    }
}
