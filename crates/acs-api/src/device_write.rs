//! Turning a POST/PUT/PATCH body into a store write: strict field checking (unknown fields
//! and wrong types are a 400 naming the field, all errors at once), then the device fields
//! and the tasks the device must learn (DESIGN §4). Pure: nothing here touches the store.
//!
//! The rules of a write, so that what GET shows can be sent back as it is:
//! - read-only fields ([`READ_ONLY`]) are always ignored, whatever their value: they change
//!   under the client's feet (`status`, `last_connection`), so comparing them would make a
//!   GET -> edit -> PUT fail at random;
//! - `null` is accepted wherever GET can show `null`, and clears the field;
//! - a value equal to the device's current one changes nothing and queues nothing; only a
//!   changed setting becomes a task (re-sending one the device has is a task of its own,
//!   `POST /{serial}/tasks/`, or `sync: true`);
//! - PUT must carry every field of [`PUT_REQUIRED`]; the others it may leave out are kept.

use serde_json::{Map, Value};

use acs_session::task::TaskSpec;
use acs_store::{Device, DevicePassword, DevicePatch, NewDevice, NewTask};

use crate::error::{ApiResult, FieldErrors};
use crate::input::MAX_SERIAL_LEN;

/// Longest free-text field (name, description, ...).
const MAX_TEXT_LEN: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Create,
    Replace,
    Patch,
}

/// Fields a client may write.
pub const WRITABLE: &[&str] = &[
    "serial_number",
    "name",
    "customer_id",
    "is_active",
    "type",
    "serial_number_alt",
    "description",
    "organization_id",
    "firmware_image",
    "location",
    "location_name",
    "latitude",
    "longitude",
    "username",
    "password",
    "cwmp_username",
    "cwmp_password",
    "update_frequency",
    "debug",
];

/// What a PUT must carry: the fields of the seed's PUT example ("requiring all fields to be
/// specified"), but the write-only `password`, which GET never shows. Every one is replaced
/// (by `null` too, where nullable). The other writable fields (`password`,
/// `serial_number_alt`, `location`, `firmware_image`, `debug`), absent from that example,
/// are kept when a PUT leaves them out: a PUT re-activates, clears or resets nothing it
/// was not given.
pub const PUT_REQUIRED: &[&str] = &[
    "name",
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
];

/// Remote operations, PATCH only.
pub const OPERATIONS: &[&str] = &["reboot", "factory_reset", "sync"];

/// Fields the API shows but never writes. A client that sends back what it read (GET, edit,
/// PUT) gets them ignored, whatever their value, rather than a 400, as with the seed's API.
pub const READ_ONLY: &[&str] = &[
    "id",
    "uuid",
    "status",
    "status_change",
    "type_short_name",
    "software_version",
    "hardware_version",
    "manufacturer",
    "unique_identifier",
    "product_class",
    "firmware_image_is_pending",
    "location_short_name",
    "address",
    "last_connection",
    "last_configuration",
    "last_change",
    "created",
    "pending_settings",
    "pending",
];

/// A checked request body. `None`: absent; `Some(None)`: explicitly null.
#[derive(Debug, Default, Clone)]
pub struct DeviceInput {
    pub serial_number: Option<String>,
    pub name: Option<Option<String>>,
    pub customer_id: Option<Option<String>>,
    pub serial_number_alt: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub location_name: Option<Option<String>>,
    pub latitude: Option<Option<String>>,
    pub longitude: Option<Option<String>>,
    pub username: Option<Option<String>>,
    pub password: Option<Option<String>>,
    pub cwmp_username: Option<Option<String>>,
    pub cwmp_password: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub debug: Option<bool>,
    pub type_id: Option<Option<i64>>,
    pub organization_id: Option<Option<i64>>,
    pub firmware_image: Option<Option<i64>>,
    pub location: Option<Option<i64>>,
    pub update_frequency: Option<Option<u32>>,
    pub reboot: bool,
    pub factory_reset: bool,
    pub sync: bool,
}

struct Reader<'a> {
    map: &'a Map<String, Value>,
    errors: FieldErrors,
}

impl Reader<'_> {
    fn text(&mut self, field: &str, max: usize, nullable: bool) -> Option<Option<String>> {
        match self.map.get(field)? {
            Value::Null if nullable => Some(None),
            Value::Null => {
                self.errors.add(field, "this field may not be null");
                None
            }
            Value::String(s) => {
                if s.chars().count() > max {
                    self.errors.add(
                        field,
                        format!("ensure this field has no more than {max} characters"),
                    );
                    None
                } else if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    self.errors.add(field, "control characters are not allowed");
                    None
                } else {
                    Some(Some(s.clone()))
                }
            }
            _ => {
                self.errors.add(field, "must be a string");
                None
            }
        }
    }

    fn int(&mut self, field: &str) -> Option<Option<i64>> {
        match self.map.get(field)? {
            Value::Null => Some(None),
            Value::Number(n) => match n.as_i64() {
                Some(v) => Some(Some(v)),
                None => {
                    self.errors.add(field, "must be an integer");
                    None
                }
            },
            _ => {
                self.errors.add(field, "must be an integer");
                None
            }
        }
    }

    fn bool(&mut self, field: &str) -> Option<bool> {
        match self.map.get(field)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.errors.add(field, "must be a boolean");
                None
            }
        }
    }

    /// Decimal degrees, as a string (the seed's form) or a number; kept as the text given.
    fn coordinate(&mut self, field: &str, bound: f64) -> Option<Option<String>> {
        let text = match self.map.get(field)? {
            Value::Null => return Some(None),
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            _ => {
                self.errors
                    .add(field, "must be a decimal number as a string");
                return None;
            }
        };
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() && v.abs() <= bound && text.len() <= 32 => Some(Some(text)),
            _ => {
                self.errors.add(
                    field,
                    format!("must be decimal degrees between -{bound} and {bound}"),
                );
                None
            }
        }
    }
}

/// Checks `map` for `mode`: every problem is reported at once, per field.
pub fn parse(map: &Map<String, Value>, mode: Mode) -> ApiResult<DeviceInput> {
    let mut r = Reader {
        map,
        errors: FieldErrors::default(),
    };
    for key in map.keys() {
        let k = key.as_str();
        let known = WRITABLE.contains(&k)
            || READ_ONLY.contains(&k)
            || (mode == Mode::Patch && OPERATIONS.contains(&k));
        if !known {
            r.errors.add(key.clone(), "unknown field");
        }
    }
    let mut input = DeviceInput {
        serial_number: r.text("serial_number", MAX_SERIAL_LEN, false).flatten(),
        // registered by its own Inform, a device has no name: GET shows null, so PUT and
        // PATCH take it; a POST must name the device
        name: r.text("name", MAX_TEXT_LEN, mode != Mode::Create),
        customer_id: r.text("customer_id", MAX_TEXT_LEN, true),
        serial_number_alt: r.text("serial_number_alt", MAX_TEXT_LEN, true),
        description: r.text("description", MAX_TEXT_LEN * 4, true),
        location_name: r.text("location_name", MAX_TEXT_LEN, true),
        latitude: r.coordinate("latitude", 90.0),
        longitude: r.coordinate("longitude", 180.0),
        username: r.text("username", 256, true),
        password: r.text("password", 256, true),
        cwmp_username: r.text("cwmp_username", 256, true),
        cwmp_password: r.text("cwmp_password", 256, true),
        is_active: r.bool("is_active"),
        debug: r.bool("debug"),
        type_id: r.int("type"),
        organization_id: r.int("organization_id"),
        firmware_image: r.int("firmware_image"),
        location: r.int("location"),
        update_frequency: None,
        reboot: false,
        factory_reset: false,
        sync: false,
    };
    match map.get("update_frequency") {
        None => {}
        // not managed by acs: the status sweep assumes the default interval
        Some(Value::Null) => input.update_frequency = Some(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v @ 1..=4_294_967_295) => input.update_frequency = Some(u32::try_from(v).ok()),
            _ => r.errors.add(
                "update_frequency",
                "must be a whole number of seconds, at least 1",
            ),
        },
        Some(_) => r.errors.add(
            "update_frequency",
            "must be a whole number of seconds, at least 1",
        ),
    }
    if mode == Mode::Patch {
        input.reboot = r.bool("reboot").unwrap_or(false);
        input.factory_reset = r.bool("factory_reset").unwrap_or(false);
        input.sync = r.bool("sync").unwrap_or(false);
    }
    // the one rule of every path in (an Inform's too); the reader above already refused
    // an overlong one
    if let Some(serial) = &input.serial_number
        && let Err(why) = acs_store::check_serial_number(serial)
    {
        r.errors.add("serial_number", why);
    }
    match mode {
        Mode::Create => {
            if !map.contains_key("serial_number") {
                r.errors.add("serial_number", "this field is required");
            }
            if !map.contains_key("name") {
                r.errors.add("name", "this field is required");
            }
        }
        Mode::Replace => {
            for field in PUT_REQUIRED {
                if !map.contains_key(*field) {
                    r.errors
                        .add(*field, "this field is required (PUT replaces every field)");
                }
            }
        }
        Mode::Patch => {}
    }
    if matches!(input.name, Some(Some(ref n)) if n.trim().is_empty()) {
        r.errors.add("name", "this field may not be blank");
    }
    if matches!(input.password, Some(Some(ref p)) if p.is_empty()) {
        r.errors.add("password", "this field may not be blank");
    }
    if matches!(input.cwmp_password, Some(Some(ref p)) if p.is_empty()) {
        r.errors.add("cwmp_password", "this field may not be blank");
    }
    // a username is a digest `username="..."` and a log field: printable, at least one char
    if matches!(&input.cwmp_username, Some(Some(u))
        if u.is_empty() || u.chars().any(|c| c.is_control() || c == '"'))
    {
        r.errors.add(
            "cwmp_username",
            "must be non-empty, without control characters or double quotes",
        );
    }
    r.errors.into_result()?;
    Ok(input)
}

/// The device to create from a checked POST body.
pub fn new_device(input: DeviceInput) -> NewDevice {
    NewDevice {
        serial_number: input.serial_number.unwrap_or_default(),
        name: input.name.flatten(),
        customer_id: input.customer_id.flatten(),
        is_active: input.is_active,
        type_id: input.type_id.flatten(),
        serial_number_alt: input.serial_number_alt.flatten(),
        description: input.description.flatten(),
        organization_id: input.organization_id.flatten(),
        firmware_image_id: input.firmware_image.flatten(),
        location_id: input.location.flatten(),
        location_name: input.location_name.flatten(),
        latitude: input.latitude.flatten(),
        longitude: input.longitude.flatten(),
        username: input.username.flatten(),
        password: input.password.flatten().map(DevicePassword::new),
        cwmp_username: input.cwmp_username.flatten(),
        cwmp_password: input.cwmp_password.flatten().map(DevicePassword::new),
        update_frequency: input.update_frequency.flatten().map(i64::from),
        debug: input.debug,
        ..NewDevice::default()
    }
}

/// `input` when it differs from `current`: what a write changes.
fn changed<T: PartialEq + Clone>(input: &Option<T>, current: &T) -> Option<T> {
    input.as_ref().filter(|v| *v != current).cloned()
}

/// The field update and the tasks for a checked PUT/PATCH body against the stored device:
/// only what differs from the device is written, only a changed setting is queued.
/// `current_password` is the stored one in clear (when the body sets one), to tell whether
/// it changes.
pub fn update(
    device: &Device,
    input: &DeviceInput,
    current_password: Option<&str>,
) -> ApiResult<(DevicePatch, Vec<NewTask>)> {
    let mut errors = FieldErrors::default();
    if let Some(serial) = &input.serial_number
        && serial != &device.serial_number
    {
        errors.add(
            "serial_number",
            "the serial number of a device cannot be changed",
        );
    }
    let password = match &input.password {
        Some(None) if device.has_password => Some(None),
        Some(Some(p)) if current_password != Some(p.as_str()) => Some(Some(p.clone())),
        _ => None,
    };
    let patch = DevicePatch {
        name: changed(&input.name, &device.name),
        customer_id: changed(&input.customer_id, &device.customer_id),
        is_active: changed(&input.is_active, &device.is_active),
        type_id: changed(&input.type_id, &device.type_id),
        serial_number_alt: changed(&input.serial_number_alt, &device.serial_number_alt),
        description: changed(&input.description, &device.description),
        organization_id: changed(&input.organization_id, &device.organization_id),
        location_id: changed(&input.location, &device.location_id),
        location_name: changed(&input.location_name, &device.location_name),
        latitude: changed(&input.latitude, &device.latitude),
        longitude: changed(&input.longitude, &device.longitude),
        username: changed(&input.username, &device.username),
        password: password.map(|p| p.map(DevicePassword::new)),
        cwmp_username: changed(&input.cwmp_username, &device.cwmp_username),
        // write-only: a password given is written (the same one again changes nothing the
        // CPE sees); `null` removes one that is set
        cwmp_password: match &input.cwmp_password {
            Some(None) if device.has_cwmp_password => Some(None),
            Some(Some(p)) => Some(Some(DevicePassword::new(p.clone()))),
            _ => None,
        },
        debug: changed(&input.debug, &device.debug),
        update_frequency: changed(
            &input.update_frequency.map(|f| f.map(i64::from)),
            &device.update_frequency,
        ),
        // A new choice (or none) withdraws the firmware tasks still pending for an older
        // one; the store keeps `firmware_image_is_pending` true while one is open.
        firmware_image_id: changed(&input.firmware_image, &device.firmware_image_id),
        ..DevicePatch::default()
    };
    let mut specs: Vec<TaskSpec> = Vec::new();

    // An interval cleared (null) is one acs no longer manages: nothing to tell the device.
    if let Some(Some(interval)) = patch.update_frequency {
        let interval = u32::try_from(interval).unwrap_or(u32::MAX);
        specs.push(TaskSpec::UpdateFrequency { interval });
    }

    if patch.username.is_some() || patch.password.is_some() {
        specs.push(TaskSpec::Credentials {});
    }

    if patch.location_name.is_some() || patch.latitude.is_some() || patch.longitude.is_some() {
        let name = patch
            .location_name
            .clone()
            .unwrap_or(device.location_name.clone());
        let latitude = patch.latitude.clone().unwrap_or(device.latitude.clone());
        let longitude = patch.longitude.clone().unwrap_or(device.longitude.clone());
        // all three cleared: nothing to set on the device
        if name.is_some() || latitude.is_some() || longitude.is_some() {
            specs.push(TaskSpec::Location {
                name,
                latitude,
                longitude,
            });
        }
    }

    if let Some(Some(id)) = patch.firmware_image_id {
        specs.push(TaskSpec::Firmware { firmware_image: id });
    }

    if input.reboot {
        specs.push(TaskSpec::Reboot {});
    }
    if input.factory_reset {
        specs.push(TaskSpec::FactoryReset {});
    }
    if input.sync {
        specs.push(TaskSpec::Sync {});
    }

    for spec in &specs {
        if let Err(e) = spec.validate() {
            errors.add(e.field, e.message);
        }
    }
    errors.into_result()?;
    let tasks = specs.iter().map(|spec| spec.new_task(None)).collect();
    Ok((patch, tasks))
}
