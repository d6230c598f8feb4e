//! The parameter tree of a virtual CPE and the TR-069 semantics of operating on it
//! (GetParameterNames/Values/Attributes, SetParameterValues/Attributes, AddObject,
//! DeleteObject, factory reset), with the CWMP fault codes a real CPE answers.
//!
//! This module knows nothing of SOAP or HTTP: the session layer maps its own message types onto
//! [`ParameterValue`], [`SetValue`], [`Fault`] and friends.
//!
//! # Footprint per device
//!
//! A [`Template`] holds everything that is the same for every device of a model: parameter
//! names, types, writability, defaults, the initial instance tree and its indexes. Devices share
//! it through an `Arc`. A [`Device`] owns only what makes it differ from the template:
//!
//! * the values that differ from the template's default, as a sorted `(index, value)` vector —
//!   right after instantiation only the personalised ones (serial, OUI, MACs, WAN address, URLs,
//!   passphrases: about fifteen), shared through `Arc<str>` with the copy kept for factory reset;
//! * objects added at run time (with their own paths and values) and a bitset of template
//!   objects deleted — both empty until the ACS calls AddObject/DeleteObject;
//! * attributes the ACS changed, instance counters that moved, and the names of parameters
//!   whose value change waits for the next Inform.
//!
//! So a fresh device costs about 1.6–2.1 KB whatever the size of the model; 10,000 devices of
//! either model fit in about 20 MB of RSS. `examples/footprint.rs` measures it (figures in its
//! header). A device's cost grows only with what the ACS changes.

mod changes;
mod device;
mod fault;
mod identity;
mod objects;
mod rpc;
mod template;
mod write;
mod xsd;

pub use device::Device;
pub use fault::Fault;
pub use identity::Identity;
pub use rpc::{
    DeviceId, ParameterAttributes, ParameterInfo, ParameterValue, PeriodicInform, SetAttributes,
    SetValue, ValueChanges,
};
pub use template::{Template, TemplateError};
pub use xsd::{TypeRules, XsdType};

/// The two data models the simulator ships templates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    /// TR-181 Issue 2 (`Device.`), `schemas/datamodel/tr181.json`.
    Tr181,
    /// TR-098 (`InternetGatewayDevice.`), `schemas/datamodel/tr098.json`.
    Tr098,
}

/// The longest ParameterKey the CWMP schema allows (`xs:maxLength 32`).
pub const MAX_PARAMETER_KEY_LEN: usize = 32;
