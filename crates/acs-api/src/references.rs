//! What a device write may point at (DESIGN §8, issue 12): the references a scoped token
//! writes are checked against its organizations before anything is stored.
//!
//! The rule, per reference field of a device:
//! - `organization_id`: one of the token's organizations (checked in `devices.rs`).
//! - `location`: a location belongs to its organization (one in no organization belongs to
//!   the admins). A scoped token may name only a location of one of its organizations, and
//!   a device's location must be in the device's own organization (else a token of the
//!   device's organization would read another organization's location through it).
//! - `type` and `firmware_image`: device types and firmware images belong to no organization
//!   (the catalog is shared, like a vendor's model list): any token may reference one that
//!   exists; only an admin token creates, changes or deletes them (`catalog.rs`,
//!   `firmware.rs`).
//!
//! Admin tokens are not scoped and are not checked here.

use acs_store::Device;

use crate::ApiState;
use crate::auth::Caller;
use crate::device_write::DeviceInput;
use crate::error::{ApiError, ApiResult};

/// Checks the references of a checked device body for a scoped `caller`: `current` is the
/// stored device (None for a POST), its `organization_id` already resolved for a POST.
pub async fn check_device_references(
    state: &ApiState,
    caller: &Caller,
    current: Option<&Device>,
    input: &DeviceInput,
) -> ApiResult<()> {
    if caller.is_admin() {
        return Ok(());
    }
    let input = &input.fields;
    let organization = match input.organization_id {
        Some(org) => org,
        None => current.and_then(|d| d.organization_id),
    };
    let location = match input.location_id {
        Some(location) => location,
        None => current.and_then(|d| d.location_id),
    };
    let location_written = input.location_id.is_some();
    let organization_written = input.organization_id.is_some()
        && input.organization_id != current.map(|d| d.organization_id);
    let Some(location) = location else {
        return Ok(());
    };
    if !location_written && !organization_written {
        return Ok(());
    }
    let Some(row) = state.store.location(location).await? else {
        // The store names a location that does not exist (400) in the same transaction.
        return Ok(());
    };
    if caller.check_org(row.organization_id).is_err() {
        return Err(ApiError::Forbidden(format!(
            "location {location} belongs to an organization this token does not reach"
        )));
    }
    if row.organization_id != organization {
        let org = |o: Option<i64>| o.map_or_else(|| "none".to_owned(), |o| o.to_string());
        return Err(ApiError::field(
            "location",
            format!(
                "location {location} is in organization {}, the device in organization {}",
                org(row.organization_id),
                org(organization)
            ),
        ));
    }
    Ok(())
}
