//! Every CWMP RPC of TR-069 Amendment 6 as a Rust type (PROTOCOL §7), with the structures
//! they share. Field order in `write` is the schema's sequence order; `read` accepts any order.

mod acs;
mod cpe_params;
mod cpe_transfers;

pub use acs::*;
pub use cpe_params::*;
pub use cpe_transfers::*;

use crate::error::DecodeError;
use crate::fault::FaultCode;
use crate::value::{Typed, Value, XsdType};
use crate::xml::fields::{XmlStruct, xml_struct};
use crate::xml::tree::El;
use crate::xml::writer::Writer;

/// Declares messages without arguments (`FactoryReset`, `RebootResponse`…).
macro_rules! empty_messages {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl crate::xml::fields::XmlStruct for $name {
            fn read(_: crate::xml::tree::El<'_, '_>) -> Result<Self, crate::error::DecodeError> {
                Ok($name)
            }
            fn write(&self, _: &mut crate::xml::writer::Writer<'_>) {}
        }
    )*};
}
pub(crate) use empty_messages;

/// A parameter and its value (`ParameterValueStruct`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterValueStruct {
    pub name: String,
    pub value: Value,
}

impl ParameterValueStruct {
    /// A name/value pair.
    pub fn new(name: impl Into<String>, value: Value) -> Self {
        ParameterValueStruct {
            name: name.into(),
            value,
        }
    }
}

impl XmlStruct for ParameterValueStruct {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        let name = el.string("Name")?;
        // Cisco SPA122 omits <Value> (genieacs#317): an empty string, not a failed message.
        let value = match el.child("Value") {
            Some(v) => {
                // No xsi:type means string (PROTOCOL §6, GenieACS does the same).
                let xsd_type = v
                    .attr("type")
                    .map_or(XsdType::String, |t| XsdType::from_attr(&t));
                Value::parse(xsd_type, v.text())
            }
            None => Value::string(""),
        };
        Ok(ParameterValueStruct { name, value })
    }

    fn write(&self, w: &mut Writer<'_>) {
        w.str("Name", &self.name);
        w.raw("<Value xsi:type=\"xsd:");
        w.attr_text(self.value.xsd_type.name());
        w.raw("\">");
        match self.value.typed {
            // TP-Link rejects true/false (genieacs#228): booleans follow the encode options.
            Typed::Boolean(b) => w.raw(w.bool_text(b)),
            _ => w.text(&self.value.raw),
        }
        w.raw("</Value>");
    }
}

xml_struct! {
    /// The outcome of a transfer in TransferComplete / AutonomousTransferComplete
    /// (`FaultStruct`): code 0 means success.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct TransferFault {
        pub fault_code: FaultCode => fault_code("FaultCode"),
        pub fault_string: String => text_or_empty("FaultString"),
    }
}
