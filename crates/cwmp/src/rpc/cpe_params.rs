//! CPE methods about parameters and objects (PROTOCOL §7.1): GetRPCMethods,
//! Get/SetParameterValues, GetParameterNames, Get/SetParameterAttributes, Add/DeleteObject.

use super::ParameterValueStruct;
use crate::xml::fields::xml_struct;

super::empty_messages! {
    /// GetRPCMethods, in either direction (a CPE may call it too: Zhone 6718).
    GetRpcMethods;
    /// Empty response to SetParameterAttributes.
    SetParameterAttributesResponse;
}

xml_struct! {
    /// The methods the responder supports.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct GetRpcMethodsResponse {
        pub method_list: Vec<String> => strings("MethodList"),
    }
}

xml_struct! {
    /// Sets values; all or nothing. `parameter_key` becomes `ManagementServer.ParameterKey`
    /// on success (PROTOCOL §10).
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct SetParameterValues {
        pub parameter_list: Vec<ParameterValueStruct> =>
            array("ParameterList", "ParameterValueStruct"),
        pub parameter_key: String => text_or_empty("ParameterKey"),
    }
}

xml_struct! {
    /// `status` 0: applied; 1: applied, takes effect later (e.g. after a reboot).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct SetParameterValuesResponse {
        pub status: i32 => number("Status"),
    }
}

xml_struct! {
    /// Reads values of full names or partial paths (ending in `.`).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct GetParameterValues {
        pub parameter_names: Vec<String> => strings("ParameterNames"),
    }
}

xml_struct! {
    /// The values read.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct GetParameterValuesResponse {
        pub parameter_list: Vec<ParameterValueStruct> =>
            array("ParameterList", "ParameterValueStruct"),
    }
}

xml_struct! {
    /// Lists names under a path; `next_level` limits it to direct children.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct GetParameterNames {
        pub parameter_path: String => text_or_empty("ParameterPath"),
        pub next_level: bool => boolean("NextLevel"),
    }
}

xml_struct! {
    /// A name and whether it is writable (for objects: whether Add/DeleteObject is allowed).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ParameterInfoStruct {
        pub name: String => text("Name"),
        pub writable: bool => boolean("Writable"),
    }
}

xml_struct! {
    /// The names found (3,343 entries from a SpeedTouch 780 are normal).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct GetParameterNamesResponse {
        pub parameter_list: Vec<ParameterInfoStruct> =>
            array("ParameterList", "ParameterInfoStruct"),
    }
}

xml_struct! {
    /// One attribute change in SetParameterAttributes.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct SetParameterAttributesStruct {
        pub name: String => text("Name"),
        pub notification_change: bool => boolean("NotificationChange"),
        /// 0 off, 1 passive, 2 active; 3–6 lightweight variants (1.4).
        pub notification: i32 => number("Notification"),
        pub access_list_change: bool => boolean("AccessListChange"),
        pub access_list: Vec<String> => strings("AccessList"),
    }
}

xml_struct! {
    /// Changes notification and access attributes.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct SetParameterAttributes {
        pub parameter_list: Vec<SetParameterAttributesStruct> =>
            array("ParameterList", "SetParameterAttributesStruct"),
    }
}

xml_struct! {
    /// Reads notification and access attributes.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct GetParameterAttributes {
        pub parameter_names: Vec<String> => strings("ParameterNames"),
    }
}

xml_struct! {
    /// One parameter's attributes. Access list entries are kept as sent (Thomson writes
    /// `subscriber` in lower case).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ParameterAttributeStruct {
        pub name: String => text("Name"),
        pub notification: i32 => number("Notification"),
        pub access_list: Vec<String> => strings("AccessList"),
    }
}

xml_struct! {
    /// The attributes read.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct GetParameterAttributesResponse {
        pub parameter_list: Vec<ParameterAttributeStruct> =>
            array("ParameterList", "ParameterAttributeStruct"),
    }
}

xml_struct! {
    /// Creates an instance of a multi-instance object (`object_name` ends in `.`).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct AddObject {
        pub object_name: String => text("ObjectName"),
        pub parameter_key: String => text_or_empty("ParameterKey"),
    }
}

xml_struct! {
    /// The new instance number, and whether it applied now (0) or later (1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct AddObjectResponse {
        pub instance_number: u32 => number("InstanceNumber"),
        pub status: i32 => number("Status"),
    }
}

xml_struct! {
    /// Deletes an object instance (`object_name` ends in `.`).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct DeleteObject {
        pub object_name: String => text("ObjectName"),
        pub parameter_key: String => text_or_empty("ParameterKey"),
    }
}

xml_struct! {
    /// Whether the deletion applied now (0) or later (1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct DeleteObjectResponse {
        pub status: i32 => number("Status"),
    }
}
