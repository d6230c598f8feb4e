//! Turning a POST/PUT/PATCH body into a store write: strict field checking (unknown fields
//! and wrong types are a 400 naming the field, all errors at once), then the device fields
//! and the tasks the device must learn (DESIGN §4). Pure: nothing here touches the store.
//!
//! The rules of a write, so that what GET shows can be sent back as it is:
//! - read-only fields ([`read_only`]) are always ignored, whatever their value: they change
//!   under the client's feet (`status`, `last_connection`), so comparing them would make a
//!   GET -> edit -> PUT fail at random;
//! - `null` is accepted wherever GET can show `null`, and clears the field;
//! - a value equal to the device's current one changes nothing and queues nothing; only a
//!   changed setting becomes a task (re-sending one the device has is a task of its own,
//!   `POST /{serial}/tasks/`, or `sync: true`);
//! - PUT must carry every field of [`PUT_REQUIRED`]; the others it may leave out are kept.

use std::sync::LazyLock;

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

/// Fields a client may write: those [`parse`] reads (the remote operations but), so the
/// reading code is the one list.
pub fn writable() -> &'static [&'static str] {
    static WRITABLE: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        let empty = Map::new();
        let mut r = Reader::new(&empty);
        read_fields(&mut r, Mode::Replace);
        r.read
    });
    &WRITABLE
}

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

/// Fields the API shows but never writes: every field of a serialized [`Device`] that is
/// not [`writable`], and `pending`. A client that sends back what it read (GET, edit, PUT)
/// gets them ignored, whatever their value, rather than a 400, as with the seed's API.
pub fn read_only() -> &'static [String] {
    static READ_ONLY: LazyLock<Vec<String>> = LazyLock::new(|| {
        let Ok(Value::Object(shown)) = serde_json::to_value(Device::default()) else {
            unreachable!("a device serializes to a JSON object")
        };
        shown
            .into_iter()
            .map(|(field, _)| field)
            .filter(|field| !writable().contains(&field.as_str()))
            .chain(["pending".to_owned()])
            .collect()
    });
    &READ_ONLY
}

/// A checked request body.
#[derive(Debug, Default, Clone)]
pub struct DeviceInput {
    pub serial_number: Option<String>,
    /// The fields given, as a patch would write them (`None`: absent; `Some(None)`:
    /// explicitly null).
    pub fields: DevicePatch,
    pub reboot: bool,
    pub factory_reset: bool,
    pub sync: bool,
}

struct Reader<'a> {
    map: &'a Map<String, Value>,
    errors: FieldErrors,
    /// Every field looked for, found or not.
    read: Vec<&'static str>,
}

impl<'a> Reader<'a> {
    fn new(map: &'a Map<String, Value>) -> Reader<'a> {
        Reader {
            map,
            errors: FieldErrors::default(),
            read: Vec::new(),
        }
    }

    fn get(&mut self, field: &'static str) -> Option<&'a Value> {
        self.read.push(field);
        self.map.get(field)
    }

    fn text(&mut self, field: &'static str, max: usize, nullable: bool) -> Option<Option<String>> {
        match self.get(field)? {
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

    fn int(&mut self, field: &'static str) -> Option<Option<i64>> {
        match self.get(field)? {
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

    fn bool(&mut self, field: &'static str) -> Option<bool> {
        match self.get(field)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.errors.add(field, "must be a boolean");
                None
            }
        }
    }

    /// Decimal degrees, as a string (the seed's form) or a number; kept as the text given.
    fn coordinate(&mut self, field: &'static str, bound: f64) -> Option<Option<String>> {
        let text = match self.get(field)? {
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

impl Reader<'_> {
    /// Seconds, at least 1, as an `u32`; `null` is an interval acs does not manage (the
    /// status sweep assumes the default one).
    fn interval(&mut self, field: &'static str) -> Option<Option<i64>> {
        match self.get(field)? {
            Value::Null => Some(None),
            Value::Number(n) if matches!(n.as_u64(), Some(1..=4_294_967_295)) => Some(n.as_i64()),
            _ => {
                self.errors
                    .add(field, "must be a whole number of seconds, at least 1");
                None
            }
        }
    }

    /// A write-only password: a non-blank string, or `null`.
    fn password(&mut self, field: &'static str) -> Option<Option<DevicePassword>> {
        let password = self.text(field, 256, true)?;
        if matches!(&password, Some(p) if p.is_empty()) {
            self.errors.add(field, "this field may not be blank");
            return None;
        }
        Some(password.map(DevicePassword::new))
    }
}

/// Reads every field a client may write from `r` (the one list of them: [`writable`] is
/// what this looks for), checking each on its own.
fn read_fields(r: &mut Reader<'_>, mode: Mode) -> DeviceInput {
    let mut input = DeviceInput {
        serial_number: r.text("serial_number", MAX_SERIAL_LEN, false).flatten(),
        fields: DevicePatch {
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
            password: r.password("password"),
            cwmp_username: r.text("cwmp_username", 256, true),
            cwmp_password: r.password("cwmp_password"),
            is_active: r.bool("is_active"),
            debug: r.bool("debug"),
            type_id: r.int("type"),
            organization_id: r.int("organization_id"),
            firmware_image_id: r.int("firmware_image"),
            location_id: r.int("location"),
            update_frequency: r.interval("update_frequency"),
            // what the device reports or the session records, never a client
            address: None,
            last_configuration: None,
        },
        ..DeviceInput::default()
    };
    if mode == Mode::Patch {
        input.reboot = r.bool("reboot").unwrap_or(false);
        input.factory_reset = r.bool("factory_reset").unwrap_or(false);
        input.sync = r.bool("sync").unwrap_or(false);
    }
    input
}

/// Checks `map` for `mode`: every problem is reported at once, per field.
pub fn parse(map: &Map<String, Value>, mode: Mode) -> ApiResult<DeviceInput> {
    let mut r = Reader::new(map);
    let input = read_fields(&mut r, mode);
    for key in map.keys() {
        let known = r.read.contains(&key.as_str()) || read_only().contains(key);
        if !known {
            r.errors.add(key.clone(), "unknown field");
        }
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
    if matches!(input.fields.name, Some(Some(ref n)) if n.trim().is_empty()) {
        r.errors.add("name", "this field may not be blank");
    }
    // a username is a digest `username="..."` and a log field: printable, at least one char
    if matches!(&input.fields.cwmp_username, Some(Some(u))
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
    input
        .fields
        .into_new_device(input.serial_number.unwrap_or_default())
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
    let mut patch = input.fields.clone();
    // A new firmware choice (or none) withdraws the firmware tasks still pending for an
    // older one; the store keeps `firmware_image_is_pending` true while one is open.
    patch.keep_changes(device);
    patch.password = match &input.fields.password {
        Some(None) if device.has_password => Some(None),
        Some(Some(p)) if current_password != Some(p.expose()) => Some(Some(p.clone())),
        _ => None,
    };
    // write-only: a password given is written (the same one again changes nothing the
    // CPE sees); `null` removes one that is set
    patch.cwmp_password = match &input.fields.cwmp_password {
        Some(None) if device.has_cwmp_password => Some(None),
        Some(Some(p)) => Some(Some(p.clone())),
        _ => None,
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
