//! Turning a POST/PUT/PATCH body into a store write: strict field checking (unknown fields
//! and wrong types are a 400 naming the field, all errors at once), then the device fields
//! and the tasks the device must learn (DESIGN §4). Pure: nothing here touches the store.

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
const WRITABLE: &[&str] = &[
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
    "update_frequency",
    "debug",
];

/// Remote operations, PATCH only.
const OPERATIONS: &[&str] = &["reboot", "factory_reset", "sync"];

/// Fields the API shows but never writes. A client that sends back what it read (GET, edit,
/// PUT) gets them ignored rather than a 400, as with the seed's API.
const READ_ONLY: &[&str] = &[
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
    pub is_active: Option<bool>,
    pub debug: Option<bool>,
    pub type_id: Option<Option<i64>>,
    pub organization_id: Option<Option<i64>>,
    pub firmware_image: Option<Option<i64>>,
    pub location: Option<Option<i64>>,
    pub update_frequency: Option<u32>,
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
        name: r.text("name", MAX_TEXT_LEN, false),
        customer_id: r.text("customer_id", MAX_TEXT_LEN, true),
        serial_number_alt: r.text("serial_number_alt", MAX_TEXT_LEN, true),
        description: r.text("description", MAX_TEXT_LEN * 4, true),
        location_name: r.text("location_name", MAX_TEXT_LEN, true),
        latitude: r.coordinate("latitude", 90.0),
        longitude: r.coordinate("longitude", 180.0),
        username: r.text("username", 256, true),
        password: r.text("password", 256, true),
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
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v @ 1..=4_294_967_295) => input.update_frequency = u32::try_from(v).ok(),
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
    if let Some(serial) = &input.serial_number
        && (serial.is_empty() || serial.trim() != serial || serial.contains('/'))
    {
        r.errors.add(
            "serial_number",
            "must be non-empty, without a slash or surrounding spaces",
        );
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
            if !map.contains_key("name") {
                r.errors.add("name", "this field is required");
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
    if mode == Mode::Replace {
        // Full replacement of the descriptive fields: what is absent is cleared. Fields the
        // device itself holds (credentials, inform interval, firmware) stay as they are when
        // absent, since "nothing" is not something a CPE can be told.
        let clear = |f: &mut Option<Option<String>>| {
            if f.is_none() {
                *f = Some(None);
            }
        };
        clear(&mut input.customer_id);
        clear(&mut input.serial_number_alt);
        clear(&mut input.description);
        clear(&mut input.location_name);
        clear(&mut input.latitude);
        clear(&mut input.longitude);
        // The organization is kept when absent: moving a device out of its organization by
        // omission would hide it from that organization's tokens.
        for f in [&mut input.type_id, &mut input.location] {
            if f.is_none() {
                *f = Some(None);
            }
        }
        input.is_active.get_or_insert(true);
        input.debug.get_or_insert(false);
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
        update_frequency: input.update_frequency.map(i64::from),
        debug: input.debug,
        ..NewDevice::default()
    }
}

/// The field update and the tasks for a checked PUT/PATCH body against the stored device.
/// A PATCH queues what it names; a PUT (which names everything) queues only what changed.
/// `current_password` is the stored one in clear, to tell whether a PUT changes it.
pub fn update(
    device: &Device,
    input: &DeviceInput,
    mode: Mode,
    current_password: Option<&str>,
) -> ApiResult<(DevicePatch, Vec<NewTask>)> {
    let explicit = mode == Mode::Patch;
    let mut errors = FieldErrors::default();
    if let Some(serial) = &input.serial_number
        && serial != &device.serial_number
    {
        errors.add(
            "serial_number",
            "the serial number of a device cannot be changed",
        );
    }
    let mut patch = DevicePatch {
        name: input.name.clone(),
        customer_id: input.customer_id.clone(),
        is_active: input.is_active,
        type_id: input.type_id,
        serial_number_alt: input.serial_number_alt.clone(),
        description: input.description.clone(),
        organization_id: input.organization_id,
        location_id: input.location,
        location_name: input.location_name.clone(),
        latitude: input.latitude.clone(),
        longitude: input.longitude.clone(),
        username: input.username.clone(),
        password: input.password.clone().map(|p| p.map(DevicePassword::new)),
        debug: input.debug,
        ..DevicePatch::default()
    };
    let mut specs: Vec<TaskSpec> = Vec::new();

    if let Some(interval) = input.update_frequency {
        patch.update_frequency = Some(Some(i64::from(interval)));
        if explicit || device.update_frequency != Some(i64::from(interval)) {
            specs.push(TaskSpec::UpdateFrequency { interval });
        }
    }

    let username_changed = matches!(&input.username, Some(u) if *u != device.username);
    let password_changed = match &input.password {
        None => false,
        Some(p) => explicit || p.as_deref() != current_password,
    };
    if (input.username.is_some() && explicit) || username_changed || password_changed {
        specs.push(TaskSpec::Credentials {});
    }

    let name = input
        .location_name
        .clone()
        .unwrap_or(device.location_name.clone());
    let latitude = input.latitude.clone().unwrap_or(device.latitude.clone());
    let longitude = input.longitude.clone().unwrap_or(device.longitude.clone());
    let location_named =
        input.location_name.is_some() || input.latitude.is_some() || input.longitude.is_some();
    let location_changed = name != device.location_name
        || latitude != device.latitude
        || longitude != device.longitude;
    let location_set = name.is_some() || latitude.is_some() || longitude.is_some();
    if location_named && location_set && (explicit || location_changed) {
        specs.push(TaskSpec::Location {
            name,
            latitude,
            longitude,
        });
    }

    match input.firmware_image {
        None => {}
        // A new choice (or none) withdraws the firmware tasks still pending for an older one;
        // the store keeps `firmware_image_is_pending` true while a firmware task is open.
        Some(None) => patch.firmware_image_id = Some(None),
        Some(Some(id)) if explicit || device.firmware_image_id != Some(id) => {
            patch.firmware_image_id = Some(Some(id));
            specs.push(TaskSpec::Firmware { firmware_image: id });
        }
        Some(Some(_)) => {}
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
