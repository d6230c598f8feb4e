//! Firmware images: multipart upload streamed to `<data_dir>/firmware/` with SHA-256 and size
//! computed on the way (nothing half-written on any failure), list, get, delete. The CPE
//! listener serves the files under `/files/firmware/<file_name>`.

use std::path::{Path as FsPath, PathBuf};

use axum::extract::{DefaultBodyLimit, Extension, Multipart, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use ring::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use acs_store::{FirmwareImage, NewFirmwareImage};

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::input::{JsonObject, PathIds};

/// Longest kept part of an uploaded file's own name.
const MAX_NAME_LEN: usize = 100;

/// The firmware routes; the upload alone takes bodies up to `upload_limit` bytes (the
/// metadata PUT/PATCH are JSON and keep the router's JSON limit). Every write is admin-only,
/// checked before the body is read.
pub fn routes(upload_limit: usize) -> Router<ApiState> {
    let admin = || axum::middleware::from_fn(crate::auth::admin_only);
    Router::new()
        .route(
            "/firmware_images/",
            get(list).post(
                upload
                    .layer(DefaultBodyLimit::max(upload_limit))
                    .layer(admin()),
            ),
        )
        .route(
            "/firmware_images/{id}/",
            get(detail)
                .put(replace_metadata.layer(admin()))
                .patch(patch_metadata.layer(admin()))
                .delete(delete.layer(admin())),
        )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FirmwareOut {
    pub id: i64,
    pub version: String,
    /// Bytes.
    pub size: i64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// Where CPEs download it: `<public CPE URL>/files/firmware/<file_name>`. Without a
    /// configured public CPE URL, derived from this request's host and the CPE port.
    pub url: String,
    pub file_name: String,
    /// The device type it is meant for, if any.
    #[serde(rename = "type")]
    pub device_type_id: Option<i64>,
    pub created: DateTime<Utc>,
}

/// The base URL CPEs use to reach the CPE listener.
fn cpe_base(state: &ApiState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_cwmp_url {
        return url.trim_end_matches('/').to_owned();
    }
    let origin = crate::pagination::request_origin(headers);
    let host = origin
        .split_once("://")
        .map(|(_, h)| h)
        .unwrap_or("localhost");
    // Strip the API port (keeping an IPv6 literal whole), put the CPE port instead.
    let bare = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    };
    format!("http://{bare}:{}", state.config.cpe_port)
}

fn show(image: FirmwareImage, base: &str) -> FirmwareOut {
    FirmwareOut {
        url: format!("{base}/files/firmware/{}", image.file_name),
        id: image.id,
        version: image.version,
        size: image.size,
        sha256: image.sha256,
        file_name: image.file_name,
        device_type_id: image.device_type_id,
        created: image.created,
    }
}

/// `[A-Za-z0-9._-]` only, bounded, never starting with a dot.
pub fn sanitize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = out.trim_start_matches('.').to_owned();
    out = trimmed;
    if out.len() > MAX_NAME_LEN {
        out = out[out.len() - MAX_NAME_LEN..].to_owned();
    }
    if out.is_empty() {
        out = "firmware.bin".to_owned();
    }
    out
}

/// Removes its file when dropped unless disarmed: no temp file survives a failed upload.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

struct Received {
    temp: TempFile,
    size: u64,
    sha256: String,
    original_name: String,
}

/// A name no other upload uses: `.upload-<16 hex>.part` (hidden: never a firmware name).
fn temp_name(dir: &FsPath) -> ApiResult<PathBuf> {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| ApiError::Internal("no randomness".into()))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(dir.join(format!(".upload-{hex}.part")))
}

/// The firmware directory, created 0700: firmware images are the operator's, not the host's
/// other users'.
async fn firmware_dir(data_dir: &FsPath) -> ApiResult<PathBuf> {
    let dir = data_dir.join("firmware");
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder
        .create(&dir)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// What the quota leaves: the bytes every registered image takes, and the quota.
async fn storage_used(state: &ApiState) -> ApiResult<u64> {
    let images = state.store.list_firmware_images().await?;
    Ok(images
        .iter()
        .map(|i| u64::try_from(i.size).unwrap_or(0))
        .sum())
}

fn over_quota(used: u64, quota: u64, size: u64) -> ApiError {
    ApiError::InsufficientStorage(format!(
        "firmware storage quota: images take {used} of the {quota} bytes allowed \
         (--max-firmware-storage) and this upload needs {size} or more; delete unused \
         images or raise the quota"
    ))
}

/// Streams the file part to a fresh temp file (0600) in `dir`, hashing it on the way; stops
/// with 413 past `max` bytes and with 507 past `room` (what the storage quota leaves).
async fn receive_file(
    field: &mut axum::extract::multipart::Field<'_>,
    dir: &FsPath,
    max: u64,
    quota: (u64, u64),
) -> ApiResult<Received> {
    let (used, limit) = quota;
    let room = limit.saturating_sub(used);
    let original_name = field.file_name().unwrap_or("firmware.bin").to_owned();
    let path = temp_name(dir)?;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", path.display())))?;
    let temp = TempFile(Some(path));
    let mut digest = Context::new(&SHA256);
    let mut size: u64 = 0;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::PayloadTooLarge(format!(
                    "the file is larger than the {max} bytes allowed"
                )));
            }
            Err(e) => return Err(ApiError::BadRequest(format!("broken upload: {e}"))),
        };
        size += chunk.len() as u64;
        if size > max {
            return Err(ApiError::PayloadTooLarge(format!(
                "the file is larger than the {max} bytes allowed"
            )));
        }
        if size > room {
            return Err(over_quota(used, limit, size));
        }
        digest.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::Internal(format!("writing the upload: {e}")))?;
    }
    file.sync_all()
        .await
        .map_err(|e| ApiError::Internal(format!("writing the upload: {e}")))?;
    let sha256 = digest
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Received {
        temp,
        size,
        sha256,
        original_name,
    })
}

/// Upload a firmware image (admin)
///
/// `multipart/form-data` with a `file` part, a `version` and an optional `type` (device type
/// id). The file is stored as `<sha256>-<sanitized name>`. 507 when the firmware storage
/// quota would be exceeded.
#[utoipa::path(post, path = "/api/v1/firmware_images/", tag = "catalog",
    request_body(content_type = "multipart/form-data", content = Object, description = "`file`, `version`, optional `type`"),
    responses((status = 201, body = FirmwareOut), (status = 400), (status = 403), (status = 409), (status = 413), (status = 507)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<(StatusCode, Json<FirmwareOut>)> {
    caller.require_admin()?;
    let mut multipart = multipart.map_err(|_| {
        ApiError::BadRequest("expected a multipart/form-data body with a `file` part".into())
    })?;
    let dir = firmware_dir(&state.config.data_dir).await?;
    let quota = state.config.max_firmware_storage_bytes;
    let mut errors = FieldErrors::default();
    let mut received: Option<Received> = None;
    let mut version: Option<String> = None;
    let mut device_type_id: Option<i64> = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::PayloadTooLarge("upload too large".into()));
            }
            Err(e) => return Err(ApiError::BadRequest(format!("broken multipart body: {e}"))),
        };
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" if received.is_none() => {
                // Checked early so an upload past the quota stops at once; checked again
                // below, under the lock, against what concurrent uploads registered since.
                let used = storage_used(&state).await?;
                received = Some(
                    receive_file(
                        &mut field,
                        &dir,
                        state.config.max_upload_bytes,
                        (used, quota),
                    )
                    .await?,
                );
            }
            "version" | "type" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| ApiError::field(name.clone(), e.to_string()))?;
                if name == "version" {
                    version = Some(text);
                } else if !text.is_empty() {
                    match text.trim().parse::<i64>() {
                        Ok(id) => device_type_id = Some(id),
                        Err(_) => errors.add("type", "must be a device type id"),
                    }
                }
            }
            other => errors.add(other.to_owned(), "unknown or repeated part"),
        }
    }
    match &version {
        None => errors.add("version", "this field is required"),
        Some(v) => check_version(v, &mut errors),
    }
    if received.is_none() {
        errors.add("file", "this field is required");
    }
    errors.into_result()?;
    let (Some(mut received), Some(version)) = (received, version) else {
        return Err(ApiError::BadRequest("incomplete upload".into()));
    };
    let file_name = format!(
        "{}-{}",
        received.sha256,
        sanitize_file_name(&received.original_name)
    );
    let final_path = dir.join(&file_name);
    // Register, then publish. The row is inserted first (its file name is unique, so of
    // identical uploads exactly one gets here and the others 409 with their own temp file
    // removed), then the temp file is renamed onto the name: no request ever deletes or
    // replaces a file that a row it did not insert refers to. The lock orders this against
    // the quota check of other uploads and against deletes (which remove the row, then the
    // file, under it).
    let _files = state.firmware_files.lock().await;
    let used = storage_used(&state).await?;
    if used.saturating_add(received.size) > quota {
        return Err(over_quota(used, quota, received.size));
    }
    let image = state
        .store
        .create_firmware_image(
            &NewFirmwareImage {
                version,
                file_name,
                size: i64::try_from(received.size).unwrap_or(i64::MAX),
                sha256: received.sha256.clone(),
                device_type_id,
            },
            Utc::now(),
        )
        .await?;
    let temp_path = received.temp.0.take().unwrap_or_default();
    if let Err(e) = tokio::fs::rename(&temp_path, &final_path).await {
        let _ = tokio::fs::remove_file(&temp_path).await;
        // Nothing can be using the row yet but a client guessing its id; if one did, the
        // delete is refused and the image stays listed without a file (shown as an error).
        let _ = state.store.delete_firmware_image(image.id).await;
        return Err(ApiError::Internal(format!(
            "cannot store {}: {e}",
            final_path.display()
        )));
    }
    Ok((
        StatusCode::CREATED,
        Json(show(image, &cpe_base(&state, &headers))),
    ))
}

/// List firmware images
#[utoipa::path(get, path = "/api/v1/firmware_images/", tag = "catalog",
    responses((status = 200, body = Vec<FirmwareOut>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<FirmwareOut>>> {
    let base = cpe_base(&state, &headers);
    let all = state.store.list_firmware_images().await?;
    Ok(Json(all.into_iter().map(|i| show(i, &base)).collect()))
}

/// Get a firmware image
#[utoipa::path(get, path = "/api/v1/firmware_images/{id}/", tag = "catalog",
    params(("id" = i64, Path)), responses((status = 200, body = FirmwareOut), (status = 404)),
    security(("bearer" = [])))]
pub async fn detail(
    State(state): State<ApiState>,
    headers: HeaderMap,
    path: PathIds,
) -> ApiResult<Json<FirmwareOut>> {
    let id = path.id("id", "firmware image")?;
    let image = state
        .store
        .firmware_image(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no firmware image {id}")))?;
    Ok(Json(show(image, &cpe_base(&state, &headers))))
}

/// What can change about an uploaded image: its version label and device type. The file,
/// its name, size and hash are what was uploaded.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirmwareMetadataIn {
    pub version: String,
    /// The device type it is meant for; `null` for any.
    #[serde(rename = "type", default)]
    pub device_type_id: Option<i64>,
}

/// Replace a firmware image's metadata (admin; `type` left out becomes null)
#[utoipa::path(put, path = "/api/v1/firmware_images/{id}/", tag = "catalog",
    params(("id" = i64, Path)), request_body = FirmwareMetadataIn,
    responses((status = 200, body = FirmwareOut), (status = 400), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn replace_metadata(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    path: PathIds,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<FirmwareOut>> {
    write_metadata(state, caller, headers, path, body, false).await
}

/// Change some of a firmware image's metadata (admin)
#[utoipa::path(patch, path = "/api/v1/firmware_images/{id}/", tag = "catalog",
    params(("id" = i64, Path)), request_body = FirmwareMetadataIn,
    responses((status = 200, body = FirmwareOut), (status = 400), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn patch_metadata(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    path: PathIds,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<FirmwareOut>> {
    write_metadata(state, caller, headers, path, body, true).await
}

async fn write_metadata(
    state: ApiState,
    caller: Caller,
    headers: HeaderMap,
    path: PathIds,
    body: serde_json::Map<String, serde_json::Value>,
    partial: bool,
) -> ApiResult<Json<FirmwareOut>> {
    caller.require_admin()?;
    let id = path.id("id", "firmware image")?;
    let current = state
        .store
        .firmware_image(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no firmware image {id}")))?;
    let mut merged = serde_json::Map::new();
    if partial {
        merged.insert("version".into(), current.version.into());
        merged.insert("type".into(), current.device_type_id.into());
    }
    merged.extend(body);
    let input: FirmwareMetadataIn = crate::catalog::from_body(merged)?;
    let mut errors = FieldErrors::default();
    check_version(&input.version, &mut errors);
    errors.into_result()?;
    let image = state
        .store
        .update_firmware_image(id, &input.version, input.device_type_id)
        .await
        .map_err(|e| match e {
            // The API calls the field `type`.
            acs_store::StoreError::ForeignKey { value, .. } => {
                ApiError::field("type", format!("{value} does not exist"))
            }
            other => other.into(),
        })?;
    Ok(Json(show(image, &cpe_base(&state, &headers))))
}

fn check_version(version: &str, errors: &mut FieldErrors) {
    if version.trim().is_empty() || version.len() > 255 || version.chars().any(char::is_control) {
        errors.add("version", "must be 1 to 255 printable characters");
    }
}

/// Delete a firmware image and its file (admin; 409 while a device points at it)
#[utoipa::path(delete, path = "/api/v1/firmware_images/{id}/", tag = "catalog",
    params(("id" = i64, Path)), responses((status = 204), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: PathIds,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let id = path.id("id", "firmware image")?;
    let image = state
        .store
        .firmware_image(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no firmware image {id}")))?;
    // Row, then file, under the lock an upload publishes under: an upload of the same file
    // name can register only once the row is gone, and publishes only after the file is.
    let _files = state.firmware_files.lock().await;
    state.store.delete_firmware_image(id).await?;
    let _ = tokio::fs::remove_file(image.path(&state.config.data_dir)).await;
    Ok(StatusCode::NO_CONTENT)
}
