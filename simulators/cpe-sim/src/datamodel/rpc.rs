//! The arguments and results of the data-model RPCs, as plain values the SOAP layer maps to and
//! from its own message types.

use super::XsdType;

/// A parameter and its value (`ParameterValueStruct`): what GetParameterValues and the Inform
/// carry. `value` is the stored text; `ty` goes into `xsi:type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterValue {
    pub name: String,
    pub value: String,
    pub ty: XsdType,
}

/// One GetParameterNames entry (`ParameterInfoStruct`). Objects end with a dot; for them
/// `writable` says whether AddObject (on a table) or DeleteObject (on an instance) is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterInfo {
    pub name: String,
    pub writable: bool,
}

/// One GetParameterAttributes entry (`ParameterAttributeStruct`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterAttributes {
    pub name: String,
    /// 0 off, 1 passive, 2 active, 3–6 the CWMP 1.4 lightweight variants.
    pub notification: u8,
    pub access_list: Vec<String>,
}

/// One SetParameterValues entry. `ty` is the `xsi:type` the ACS sent, if any: a type other than
/// the parameter's is refused with 9006, as the model says the ACS must send the model's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetValue<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub ty: Option<XsdType>,
}

/// One SetParameterAttributes entry. `None` is a `…Change` flag of false: that attribute is
/// left as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAttributes<'a> {
    /// A parameter name or a partial path (every parameter below it).
    pub name: &'a str,
    pub notification: Option<u8>,
    pub access_list: Option<Vec<String>>,
}

/// The Inform's `DeviceId`, read from `DeviceInfo.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId {
    pub manufacturer: String,
    pub oui: String,
    pub product_class: String,
    pub serial_number: String,
}

/// The periodic Inform settings of `ManagementServer.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodicInform {
    pub enable: bool,
    /// Seconds, at least 1 (the model's range).
    pub interval: u32,
    /// PeriodicInformTime as stored (`0001-01-01T00:00:00Z` = no phase chosen).
    pub time: String,
}

/// Parameters the device changed itself whose notification attribute asks the ACS to hear of
/// it: they go into the next Inform's ParameterList with the event `4 VALUE CHANGE`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValueChanges {
    /// At least one of them has active notification: the device should open a session now
    /// rather than wait for its next periodic Inform.
    pub active: bool,
    /// Their current values, in tree order.
    pub parameters: Vec<ParameterValue>,
}
