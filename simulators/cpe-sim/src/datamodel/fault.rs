//! The CWMP faults a data-model operation answers with (TR-069 A.5, PROTOCOL §5).

use super::XsdType;

/// A CPE fault: what the SOAP layer turns into `cwmp:Fault` (code from [`Fault::code`],
/// FaultString from `Display`). Each message names the parameter or path it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// 9003: the call's arguments are wrong as a whole (a path that is not an object, a
    /// ParameterKey over 32 characters, NextLevel on a parameter, …).
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// 9003 per parameter: the same name twice in one SetParameterValues.
    #[error("parameter {name} appears more than once")]
    Duplicate { name: String },
    /// 9004: a table is at its maximum number of instances.
    #[error("resources exceeded: {0}")]
    ResourcesExceeded(String),
    /// 9005: no such parameter or object on this device.
    #[error("invalid parameter name {name}")]
    InvalidName { name: String },
    /// 9006: the value is not a value of the parameter's type (or the ACS declared another type).
    #[error("invalid parameter type for {name}: expected {}, {detail}", .expected.name())]
    InvalidType {
        name: String,
        expected: XsdType,
        detail: String,
    },
    /// 9007: the value has the right type but the data model does not allow it (range,
    /// enumeration, length).
    #[error("invalid parameter value for {name}: {reason}")]
    InvalidValue { name: String, reason: String },
    /// 9008: the parameter is read-only.
    #[error("attempt to set non-writable parameter {name}")]
    NotWritable { name: String },
    /// 9009: the CPE refuses this notification setting for the parameter.
    #[error("notification request rejected for {name}: {reason}")]
    NotificationRejected { name: String, reason: String },
    /// 9003 carrying one entry per faulty parameter (`SetParameterValuesFault`): nothing was set.
    #[error("invalid arguments: {} parameter(s) rejected, nothing was set", faults.len())]
    SetParameterValues { faults: Vec<Fault> },
}

impl Fault {
    /// The CWMP fault code (9003–9009).
    pub fn code(&self) -> u32 {
        match self {
            Fault::InvalidArguments(_) | Fault::Duplicate { .. } => 9003,
            Fault::SetParameterValues { .. } => 9003,
            Fault::ResourcesExceeded(_) => 9004,
            Fault::InvalidName { .. } => 9005,
            Fault::InvalidType { .. } => 9006,
            Fault::InvalidValue { .. } => 9007,
            Fault::NotWritable { .. } => 9008,
            Fault::NotificationRejected { .. } => 9009,
        }
    }

    /// The parameter a per-parameter fault is about (`SetParameterValuesFault/ParameterName`).
    pub fn parameter(&self) -> Option<&str> {
        match self {
            Fault::Duplicate { name }
            | Fault::InvalidName { name }
            | Fault::InvalidType { name, .. }
            | Fault::InvalidValue { name, .. }
            | Fault::NotWritable { name }
            | Fault::NotificationRejected { name, .. } => Some(name),
            Fault::InvalidArguments(_)
            | Fault::ResourcesExceeded(_)
            | Fault::SetParameterValues { .. } => None,
        }
    }

    /// The per-parameter faults of a failed SetParameterValues (empty for every other fault).
    pub fn parameter_faults(&self) -> &[Fault] {
        match self {
            Fault::SetParameterValues { faults } => faults,
            _ => &[],
        }
    }

    pub(crate) fn invalid_name(name: &str) -> Fault {
        Fault::InvalidName {
            name: name.to_owned(),
        }
    }
}
