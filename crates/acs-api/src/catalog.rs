//! The catalog around the devices: organizations, locations and device types (firmware
//! images are in `firmware.rs`). Reads follow the token's organization scope; writes of
//! organizations and device types need an admin token.

use axum::extract::{Extension, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use acs_store::{DeviceType, DeviceTypeProfile, Location, NewDeviceType, NewLocation};

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::input::{JsonObject, PathIds};

/// Admin-only writes carry `auth::admin_only`: a scoped token's body is never read there.
pub fn routes() -> Router<ApiState> {
    let admin = || axum::middleware::from_fn(crate::auth::admin_only);
    Router::new()
        .route(
            "/organizations/",
            get(list_organizations).post(create_organization.layer(admin())),
        )
        .route(
            "/organizations/{id}/",
            get(get_organization)
                .put(replace_organization)
                .patch(patch_organization)
                .delete(delete_organization.layer(admin())),
        )
        .route("/locations/", get(list_locations).post(create_location))
        .route(
            "/locations/{id}/",
            get(get_location)
                .put(replace_location)
                .patch(patch_location)
                .delete(delete_location),
        )
        .route(
            "/device_types/",
            get(list_device_types).post(create_device_type.layer(admin())),
        )
        .route(
            "/device_types/{id}/",
            get(get_device_type)
                .put(update_device_type.layer(admin()))
                .delete(delete_device_type.layer(admin())),
        )
}

/// Deserialises a checked JSON object, naming the field in unknown/missing-field errors.
pub fn from_body<T: DeserializeOwned>(map: Map<String, Value>) -> ApiResult<T> {
    serde_json::from_value(Value::Object(map)).map_err(|e| {
        let msg = e.to_string();
        let field = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| msg.split_once(p).and_then(|(_, rest)| rest.split_once('`')))
            .map(|(field, _)| field.to_owned());
        match field {
            Some(field) => {
                let mut errors = FieldErrors::default();
                let text = if msg.starts_with("unknown") {
                    "unknown field"
                } else {
                    "this field is required"
                };
                errors.add(field, text);
                ApiError::Fields(errors)
            }
            None => ApiError::BadRequest(format!("invalid body: {msg}")),
        }
    })
}

fn check_name(field: &str, name: &str, errors: &mut FieldErrors) {
    if name.trim().is_empty() {
        errors.add(field, "this field may not be blank");
    } else if name.chars().count() > 255 {
        errors.add(field, "ensure this field has no more than 255 characters");
    } else if name.chars().any(char::is_control) {
        errors.add(field, "control characters are not allowed");
    }
}

/// What the API shows of an organization: the store's row.
pub use acs_store::Organization as OrganizationOut;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationIn {
    pub name: String,
}

/// List organizations (a scoped token sees its own)
#[utoipa::path(get, path = "/api/v1/organizations/", tag = "catalog",
    responses((status = 200, body = Vec<OrganizationOut>)), security(("bearer" = [])))]
pub async fn list_organizations(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<OrganizationOut>>> {
    let all = state.store.list_organizations().await?;
    Ok(Json(
        all.into_iter()
            .filter(|o| caller.check_org(Some(o.id)).is_ok())
            .collect(),
    ))
}

/// Create an organization (admin)
#[utoipa::path(post, path = "/api/v1/organizations/", tag = "catalog", request_body = OrganizationIn,
    responses((status = 201, body = OrganizationOut), (status = 400), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub async fn create_organization(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<OrganizationOut>)> {
    caller.require_admin()?;
    let input: OrganizationIn = from_body(body)?;
    let mut errors = FieldErrors::default();
    check_name("name", &input.name, &mut errors);
    errors.into_result()?;
    let org = state
        .store
        .create_organization(&input.name, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(org)))
}

/// Get an organization
#[utoipa::path(get, path = "/api/v1/organizations/{id}/", tag = "catalog",
    params(("id" = i64, Path)), responses((status = 200, body = OrganizationOut), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_organization(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
) -> ApiResult<Json<OrganizationOut>> {
    let id = path.id("id", "organization")?;
    caller.check_org(Some(id))?;
    let org = state
        .store
        .organization(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no organization {id}")))?;
    Ok(Json(org))
}

/// Replace an organization's fields (a scoped token: its own)
#[utoipa::path(put, path = "/api/v1/organizations/{id}/", tag = "catalog",
    params(("id" = i64, Path)), request_body = OrganizationIn,
    responses((status = 200, body = OrganizationOut), (status = 400), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn replace_organization(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<OrganizationOut>> {
    write_organization(state, caller, path, body, false).await
}

/// Change some of an organization's fields (a scoped token: its own)
#[utoipa::path(patch, path = "/api/v1/organizations/{id}/", tag = "catalog",
    params(("id" = i64, Path)), request_body = OrganizationIn,
    responses((status = 200, body = OrganizationOut), (status = 400), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn patch_organization(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<OrganizationOut>> {
    write_organization(state, caller, path, body, true).await
}

/// PUT and PATCH: a PATCH body is laid over the stored fields, then both are checked whole.
async fn write_organization(
    state: ApiState,
    caller: Caller,
    path: PathIds,
    body: Map<String, Value>,
    partial: bool,
) -> ApiResult<Json<OrganizationOut>> {
    let id = path.id("id", "organization")?;
    caller.check_org(Some(id))?;
    let current = state
        .store
        .organization(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no organization {id}")))?;
    let mut merged = Map::new();
    if partial {
        merged.insert("name".into(), Value::String(current.name));
    }
    merged.extend(body);
    let input: OrganizationIn = from_body(merged)?;
    let mut errors = FieldErrors::default();
    check_name("name", &input.name, &mut errors);
    errors.into_result()?;
    let org = state.store.update_organization(id, &input.name).await?;
    Ok(Json(org))
}

/// Delete an organization (admin; 409 while referenced)
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/", tag = "catalog",
    params(("id" = i64, Path)), responses((status = 204), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn delete_organization(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let id = path.id("id", "organization")?;
    state.store.delete_organization(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the API shows of a location: the store's row.
pub use acs_store::Location as LocationOut;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationIn {
    pub name: String,
    #[serde(default)]
    pub short_name: Option<String>,
    #[serde(default)]
    pub organization_id: Option<i64>,
    #[serde(default)]
    pub latitude: Option<String>,
    #[serde(default)]
    pub longitude: Option<String>,
}

/// Every bad field of a location body at once.
fn check_location(input: &LocationIn) -> ApiResult<()> {
    let mut errors = FieldErrors::default();
    check_name("name", &input.name, &mut errors);
    if let Some(s) = &input.short_name {
        check_name("short_name", s, &mut errors);
    }
    for (field, value, bound) in [
        ("latitude", &input.latitude, 90.0),
        ("longitude", &input.longitude, 180.0),
    ] {
        if let Some(v) = value
            && !matches!(v.trim().parse::<f64>(), Ok(x) if x.is_finite() && x.abs() <= bound)
        {
            errors.add(
                field,
                format!("must be decimal degrees between -{bound} and {bound}"),
            );
        }
    }
    errors.into_result()
}

impl From<LocationIn> for NewLocation {
    fn from(input: LocationIn) -> Self {
        NewLocation {
            name: input.name,
            short_name: input.short_name,
            organization_id: input.organization_id,
            latitude: input.latitude,
            longitude: input.longitude,
        }
    }
}

/// List locations (a scoped token sees its organization's)
#[utoipa::path(get, path = "/api/v1/locations/", tag = "catalog",
    responses((status = 200, body = Vec<LocationOut>)), security(("bearer" = [])))]
pub async fn list_locations(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<LocationOut>>> {
    let all = state.store.list_locations(None).await?;
    Ok(Json(
        all.into_iter()
            .filter(|l| caller.check_org(l.organization_id).is_ok())
            .collect(),
    ))
}

/// Create a location (a scoped token: in its organization)
#[utoipa::path(post, path = "/api/v1/locations/", tag = "catalog", request_body = LocationIn,
    responses((status = 201, body = LocationOut), (status = 400), (status = 403)),
    security(("bearer" = [])))]
pub async fn create_location(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<LocationOut>)> {
    let mut input: LocationIn = from_body(body)?;
    if !caller.is_admin() {
        match input.organization_id {
            None => input.organization_id = caller.default_organization("organization_id")?,
            Some(org) => caller.check_org(Some(org))?,
        }
    }
    check_location(&input)?;
    let location = state
        .store
        .create_location(&input.into(), Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(location)))
}

async fn load_location(state: &ApiState, caller: &Caller, path: &PathIds) -> ApiResult<Location> {
    let id = path.id("id", "location")?;
    let location = state
        .store
        .location(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no location {id}")))?;
    caller.check_org(location.organization_id)?;
    Ok(location)
}

/// Get a location
#[utoipa::path(get, path = "/api/v1/locations/{id}/", tag = "catalog",
    params(("id" = i64, Path)), responses((status = 200, body = LocationOut), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_location(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
) -> ApiResult<Json<LocationOut>> {
    Ok(Json(load_location(&state, &caller, &path).await?))
}

/// Replace a location's fields (a scoped token: within its organizations)
///
/// `organization_id` left out keeps the current one; `null` clears it (admin only).
#[utoipa::path(put, path = "/api/v1/locations/{id}/", tag = "catalog",
    params(("id" = i64, Path)), request_body = LocationIn,
    responses((status = 200, body = LocationOut), (status = 400), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn replace_location(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<LocationOut>> {
    write_location(state, caller, path, body, false).await
}

/// Change some of a location's fields (a scoped token: within its organizations)
#[utoipa::path(patch, path = "/api/v1/locations/{id}/", tag = "catalog",
    params(("id" = i64, Path)), request_body = LocationIn,
    responses((status = 200, body = LocationOut), (status = 400), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn patch_location(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<LocationOut>> {
    write_location(state, caller, path, body, true).await
}

/// PUT and PATCH: the body is laid over the stored fields (all of them for a PATCH, only
/// `organization_id` for a PUT), then checked whole like a new location.
async fn write_location(
    state: ApiState,
    caller: Caller,
    path: PathIds,
    body: Map<String, Value>,
    partial: bool,
) -> ApiResult<Json<LocationOut>> {
    let current = load_location(&state, &caller, &path).await?;
    let mut merged = Map::new();
    let text = |v: Option<String>| v.map_or(Value::Null, Value::String);
    if partial {
        merged.insert("name".into(), Value::String(current.name));
        merged.insert("short_name".into(), text(current.short_name));
        merged.insert("latitude".into(), text(current.latitude));
        merged.insert("longitude".into(), text(current.longitude));
    }
    merged.insert(
        "organization_id".into(),
        current.organization_id.map_or(Value::Null, Value::from),
    );
    merged.extend(body);
    let input: LocationIn = from_body(merged)?;
    if input.organization_id != current.organization_id {
        caller.check_org(input.organization_id)?;
    }
    check_location(&input)?;
    let location = state
        .store
        .update_location(current.id, &input.into())
        .await?;
    Ok(Json(location))
}

/// Delete a location (409 while devices use it)
#[utoipa::path(delete, path = "/api/v1/locations/{id}/", tag = "catalog",
    params(("id" = i64, Path)), responses((status = 204), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn delete_location(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
) -> ApiResult<StatusCode> {
    let location = load_location(&state, &caller, &path).await?;
    state.store.delete_location(location.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceTypeOut {
    pub id: i64,
    pub short_name: String,
    pub name: String,
    /// `Device.` (TR-181) or `InternetGatewayDevice.` (TR-098).
    pub data_model_root: String,
    /// Parameter paths for the location/credential/interval intents and default values;
    /// empty: the standard TR-181/TR-098 paths apply.
    #[schema(value_type = Object)]
    pub profile: Value,
    pub created: DateTime<Utc>,
}

impl From<DeviceType> for DeviceTypeOut {
    fn from(t: DeviceType) -> Self {
        DeviceTypeOut {
            id: t.id,
            short_name: t.short_name,
            name: t.name,
            data_model_root: t.data_model_root,
            profile: serde_json::to_value(&t.profile.0).unwrap_or(Value::Null),
            created: t.created,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceTypeIn {
    pub short_name: String,
    pub name: String,
    /// Default `Device.`.
    #[serde(default)]
    pub data_model_root: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub profile: Option<Value>,
}

/// The profile's wire-format switches, which the session engine applies to every envelope
/// sent to the type's CPEs; checked here so a typo is a 400 naming the key, not a CPE that
/// silently keeps the default format.
fn check_wire_format(profile: &serde_json::Map<String, Value>, errors: &mut FieldErrors) {
    match profile.get("xml_declaration") {
        None | Some(Value::Null | Value::Bool(_)) => {}
        Some(_) => errors.add("profile.xml_declaration", "must be true or false"),
    }
    match profile.get("boolean_style") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "zero_one" || s == "true_false" => {}
        Some(_) => errors.add(
            "profile.boolean_style",
            "must be \"zero_one\" (0/1) or \"true_false\"",
        ),
    }
}

fn new_device_type(input: DeviceTypeIn) -> ApiResult<NewDeviceType> {
    let mut errors = FieldErrors::default();
    check_name("short_name", &input.short_name, &mut errors);
    check_name("name", &input.name, &mut errors);
    let root = input
        .data_model_root
        .unwrap_or_else(|| "Device.".to_owned());
    if root != "Device." && root != "InternetGatewayDevice." {
        errors.add(
            "data_model_root",
            "must be \"Device.\" (TR-181) or \"InternetGatewayDevice.\" (TR-098)",
        );
    }
    if let Some(Value::Object(p)) = &input.profile {
        check_wire_format(p, &mut errors);
    }
    let profile = match input.profile {
        None | Some(Value::Null) => DeviceTypeProfile::default(),
        Some(v) => match serde_json::from_value::<DeviceTypeProfile>(v) {
            Ok(p) => p,
            Err(e) => {
                errors.add("profile", e.to_string());
                DeviceTypeProfile::default()
            }
        },
    };
    errors.into_result()?;
    Ok(NewDeviceType {
        short_name: input.short_name,
        name: input.name,
        data_model_root: root,
        profile,
    })
}

/// List device types
#[utoipa::path(get, path = "/api/v1/device_types/", tag = "catalog",
    responses((status = 200, body = Vec<DeviceTypeOut>)), security(("bearer" = [])))]
pub async fn list_device_types(
    State(state): State<ApiState>,
) -> ApiResult<Json<Vec<DeviceTypeOut>>> {
    let all = state.store.list_device_types().await?;
    Ok(Json(all.into_iter().map(DeviceTypeOut::from).collect()))
}

/// Create a device type (admin)
#[utoipa::path(post, path = "/api/v1/device_types/", tag = "catalog", request_body = DeviceTypeIn,
    responses((status = 201, body = DeviceTypeOut), (status = 400), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub async fn create_device_type(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<DeviceTypeOut>)> {
    caller.require_admin()?;
    let new = new_device_type(from_body(body)?)?;
    let t = state.store.create_device_type(&new, Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// Get a device type
#[utoipa::path(get, path = "/api/v1/device_types/{id}/", tag = "catalog",
    params(("id" = i64, Path)), responses((status = 200, body = DeviceTypeOut), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_device_type(
    State(state): State<ApiState>,
    path: PathIds,
) -> ApiResult<Json<DeviceTypeOut>> {
    let id = path.id("id", "device type")?;
    let t = state
        .store
        .device_type(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no device type {id}")))?;
    Ok(Json(t.into()))
}

/// Replace a device type (admin)
#[utoipa::path(put, path = "/api/v1/device_types/{id}/", tag = "catalog", request_body = DeviceTypeIn,
    params(("id" = i64, Path)), responses((status = 200, body = DeviceTypeOut), (status = 400), (status = 404)),
    security(("bearer" = [])))]
pub async fn update_device_type(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<DeviceTypeOut>> {
    caller.require_admin()?;
    let id = path.id("id", "device type")?;
    let new = new_device_type(from_body(body)?)?;
    let t = state.store.update_device_type(id, &new).await?;
    Ok(Json(t.into()))
}

/// Delete a device type (admin; 409 while devices or images use it)
#[utoipa::path(delete, path = "/api/v1/device_types/{id}/", tag = "catalog",
    params(("id" = i64, Path)), responses((status = 204), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn delete_device_type(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let id = path.id("id", "device type")?;
    state.store.delete_device_type(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
