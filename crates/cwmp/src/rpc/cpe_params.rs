//! CPE methods about parameters and objects (PROTOCOL §7.1): GetRPCMethods,
//! Get/SetParameterValues, GetParameterNames, Get/SetParameterAttributes, Add/DeleteObject.

use super::{ParameterValueStruct, write_parameter_list};
use crate::error::DecodeError;
use crate::xml::fields::XmlStruct;
use crate::xml::tree::El;
use crate::xml::writer::Writer;

super::empty_messages! {
    /// GetRPCMethods, in either direction (a CPE may call it too: Zhone 6718).
    GetRpcMethods;
    /// Empty response to SetParameterAttributes.
    SetParameterAttributesResponse;
}

/// The methods the responder supports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetRpcMethodsResponse {
    pub method_list: Vec<String>,
}

impl XmlStruct for GetRpcMethodsResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(GetRpcMethodsResponse {
            method_list: el.strings("MethodList"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.string_array("MethodList", &self.method_list);
    }
}

/// Sets values; all or nothing. `parameter_key` becomes `ManagementServer.ParameterKey` on
/// success (PROTOCOL §10).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SetParameterValues {
    pub parameter_list: Vec<ParameterValueStruct>,
    pub parameter_key: String,
}

impl XmlStruct for SetParameterValues {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(SetParameterValues {
            parameter_list: el.list("ParameterList")?,
            parameter_key: el.string_or_empty("ParameterKey"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        write_parameter_list(w, &self.parameter_list);
        w.str("ParameterKey", &self.parameter_key);
    }
}

/// `status` 0: applied; 1: applied, takes effect later (e.g. after a reboot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetParameterValuesResponse {
    pub status: i32,
}

impl XmlStruct for SetParameterValuesResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(SetParameterValuesResponse {
            status: el.number("Status", "int")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.num("Status", self.status);
    }
}

/// Reads values of full names or partial paths (ending in `.`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetParameterValues {
    pub parameter_names: Vec<String>,
}

impl XmlStruct for GetParameterValues {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(GetParameterValues {
            parameter_names: el.strings("ParameterNames"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.string_array("ParameterNames", &self.parameter_names);
    }
}

/// The values read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GetParameterValuesResponse {
    pub parameter_list: Vec<ParameterValueStruct>,
}

impl XmlStruct for GetParameterValuesResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(GetParameterValuesResponse {
            parameter_list: el.list("ParameterList")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        write_parameter_list(w, &self.parameter_list);
    }
}

/// Lists names under a path; `next_level` limits it to direct children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetParameterNames {
    pub parameter_path: String,
    pub next_level: bool,
}

impl XmlStruct for GetParameterNames {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(GetParameterNames {
            parameter_path: el.string_or_empty("ParameterPath"),
            next_level: el.boolean("NextLevel")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("ParameterPath", &self.parameter_path);
        w.bool("NextLevel", self.next_level);
    }
}

/// A name and whether it is writable (for objects: whether Add/DeleteObject is allowed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParameterInfoStruct {
    pub name: String,
    pub writable: bool,
}

impl XmlStruct for ParameterInfoStruct {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(ParameterInfoStruct {
            name: el.string("Name")?,
            writable: el.boolean("Writable")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.open("ParameterInfoStruct");
        w.str("Name", &self.name);
        w.bool("Writable", self.writable);
        w.close("ParameterInfoStruct");
    }
}

/// The names found (3,343 entries from a SpeedTouch 780 are normal).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetParameterNamesResponse {
    pub parameter_list: Vec<ParameterInfoStruct>,
}

impl XmlStruct for GetParameterNamesResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(GetParameterNamesResponse {
            parameter_list: el.list("ParameterList")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.array(
            "ParameterList",
            "cwmp:ParameterInfoStruct",
            &self.parameter_list,
            |w, p| p.write(w),
        );
    }
}

/// One attribute change in SetParameterAttributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetParameterAttributesStruct {
    pub name: String,
    pub notification_change: bool,
    /// 0 off, 1 passive, 2 active; 3–6 lightweight variants (1.4).
    pub notification: i32,
    pub access_list_change: bool,
    pub access_list: Vec<String>,
}

impl XmlStruct for SetParameterAttributesStruct {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(SetParameterAttributesStruct {
            name: el.string("Name")?,
            notification_change: el.boolean("NotificationChange")?,
            notification: el.number("Notification", "int")?,
            access_list_change: el.boolean("AccessListChange")?,
            access_list: el.strings("AccessList"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.open("SetParameterAttributesStruct");
        w.str("Name", &self.name);
        w.bool("NotificationChange", self.notification_change);
        w.num("Notification", self.notification);
        w.bool("AccessListChange", self.access_list_change);
        w.string_array("AccessList", &self.access_list);
        w.close("SetParameterAttributesStruct");
    }
}

/// Changes notification and access attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetParameterAttributes {
    pub parameter_list: Vec<SetParameterAttributesStruct>,
}

impl XmlStruct for SetParameterAttributes {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(SetParameterAttributes {
            parameter_list: el.list("ParameterList")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        let list = &self.parameter_list;
        w.array(
            "ParameterList",
            "cwmp:SetParameterAttributesStruct",
            list,
            |w, p| p.write(w),
        );
    }
}

/// Reads notification and access attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetParameterAttributes {
    pub parameter_names: Vec<String>,
}

impl XmlStruct for GetParameterAttributes {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(GetParameterAttributes {
            parameter_names: el.strings("ParameterNames"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.string_array("ParameterNames", &self.parameter_names);
    }
}

/// One parameter's attributes. Access list entries are kept as sent (Thomson writes
/// `subscriber` in lower case).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParameterAttributeStruct {
    pub name: String,
    pub notification: i32,
    pub access_list: Vec<String>,
}

impl XmlStruct for ParameterAttributeStruct {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(ParameterAttributeStruct {
            name: el.string("Name")?,
            notification: el.number("Notification", "int")?,
            access_list: el.strings("AccessList"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.open("ParameterAttributeStruct");
        w.str("Name", &self.name);
        w.num("Notification", self.notification);
        w.string_array("AccessList", &self.access_list);
        w.close("ParameterAttributeStruct");
    }
}

/// The attributes read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetParameterAttributesResponse {
    pub parameter_list: Vec<ParameterAttributeStruct>,
}

impl XmlStruct for GetParameterAttributesResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(GetParameterAttributesResponse {
            parameter_list: el.list("ParameterList")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        let list = &self.parameter_list;
        w.array(
            "ParameterList",
            "cwmp:ParameterAttributeStruct",
            list,
            |w, p| p.write(w),
        );
    }
}

/// Creates an instance of a multi-instance object (`object_name` ends in `.`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddObject {
    pub object_name: String,
    pub parameter_key: String,
}

impl XmlStruct for AddObject {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(AddObject {
            object_name: el.string("ObjectName")?,
            parameter_key: el.string_or_empty("ParameterKey"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("ObjectName", &self.object_name);
        w.str("ParameterKey", &self.parameter_key);
    }
}

/// The new instance number, and whether it applied now (0) or later (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddObjectResponse {
    pub instance_number: u32,
    pub status: i32,
}

impl XmlStruct for AddObjectResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(AddObjectResponse {
            instance_number: el.number("InstanceNumber", "unsignedInt")?,
            status: el.number("Status", "int")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.num("InstanceNumber", self.instance_number);
        w.num("Status", self.status);
    }
}

/// Deletes an object instance (`object_name` ends in `.`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteObject {
    pub object_name: String,
    pub parameter_key: String,
}

impl XmlStruct for DeleteObject {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(DeleteObject {
            object_name: el.string("ObjectName")?,
            parameter_key: el.string_or_empty("ParameterKey"),
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.str("ObjectName", &self.object_name);
        w.str("ParameterKey", &self.parameter_key);
    }
}

/// Whether the deletion applied now (0) or later (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeleteObjectResponse {
    pub status: i32,
}

impl XmlStruct for DeleteObjectResponse {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError> {
        Ok(DeleteObjectResponse {
            status: el.number("Status", "int")?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.num("Status", self.status);
    }
}
