//! The OpenAPI 3.1 document, generated from the handlers' annotations, served without a
//! token at `/api/v1/openapi.json` with Swagger UI (vendored, no download) at `/api/v1/docs/`.
//! `schemas/openapi.json` is this document checked in; a test fails when they drift.

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::{catalog, device_data, devices, firmware, model};

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
    modifiers(&BearerAuth),
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
