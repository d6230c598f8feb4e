//! What every data-model test needs: a device of each model, and short ways to state what a
//! call must answer.
#![allow(dead_code)] // each test file uses its own share of these

use std::sync::Arc;

use cpe_sim::datamodel::{Device, Fault, Identity, Model, SetValue, Template, TypeRules, XsdType};

pub const TR098: &str = "InternetGatewayDevice.";
pub const TR181: &str = "Device.";

pub fn identity(n: u32) -> Identity {
    Identity {
        serial: format!("SIM{n:06}"),
        oui: "00D09E".to_owned(),
        product_class: "SG-2601".to_owned(),
        mac: [0x00, 0xD0, 0x9E, 0x10, 0x00, n as u8],
        wan_ip: [10, 64, 0, 2].into(),
        acs_url: "http://acs.test:7547/".to_owned(),
        cr_host: "127.0.0.1".to_owned(),
        cr_port: 30005,
        cr_path: "/cr/SIM".to_owned(),
    }
}

pub fn template(model: Model) -> Arc<Template> {
    model
        .load()
        .unwrap_or_else(|e| panic!("{model:?} template: {e}"))
}

pub fn device(model: Model) -> Device {
    Device::new(template(model), &identity(1))
}

/// A device of the TR-098 or TR-181 model, picked by root.
pub fn device_for(root: &str) -> Device {
    device(if root == TR098 {
        Model::Tr098
    } else {
        Model::Tr181
    })
}

/// The value of a parameter as GetParameterValues reports it.
pub fn gpv(d: &Device, name: &str) -> String {
    let values = d
        .get_parameter_values(&[name])
        .unwrap_or_else(|f| panic!("{name}: {f}"));
    assert_eq!(values.len(), 1, "{name} is one parameter");
    values[0].value.clone()
}

/// Every parameter with its value: the whole visible state of a device.
pub fn snapshot(d: &Device) -> Vec<(String, String)> {
    let values = d
        .get_parameter_values(&[""])
        .expect("the root is always there");
    values.into_iter().map(|v| (v.name, v.value)).collect()
}

/// `(name, value, xsi:type)` shorthand for SetParameterValues; type `""` means none sent.
pub fn spv(d: &mut Device, items: &[(&str, &str, &str)], key: &str) -> Result<(), Fault> {
    let values: Vec<SetValue<'_>> = items
        .iter()
        .map(|(name, value, ty)| SetValue {
            name,
            value,
            ty: if ty.is_empty() {
                None
            } else {
                XsdType::from_xsi_type(ty)
            },
        })
        .collect();
    d.set_parameter_values(&values, key)
}

/// The fault code of an `Err`, or a panic naming what succeeded.
pub fn code<T: std::fmt::Debug>(result: Result<T, Fault>) -> u32 {
    match result {
        Ok(v) => panic!("expected a fault, got {v:?}"),
        Err(f) => f.code(),
    }
}
