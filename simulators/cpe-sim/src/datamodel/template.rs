//! Data-model templates: the JSON files in `schemas/datamodel/` (format in the README there),
//! checked and compiled into the immutable part every device of a model shares.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use super::xsd::{TypeRules, XsdType};
use super::{Fault, Model};

mod build;

/// A template that cannot be used, with the path and the reason.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("template entry {path}: {reason}")]
    Invalid { path: String, reason: String },
}

fn invalid(path: &str, reason: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// The official models' `activeNotify` attribute: whether the CPE may refuse active
/// notification (`canDeny`) or keeps it on regardless (`forceEnabled`) or by default
/// (`forceDefaultEnabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Notify {
    #[default]
    Normal,
    CanDeny,
    ForceEnabled,
    ForceDefaultEnabled,
}

impl Notify {
    /// The Notification attribute a parameter starts with.
    pub(crate) fn default_notification(self) -> u8 {
        match self {
            Notify::ForceEnabled | Notify::ForceDefaultEnabled => 2,
            Notify::Normal | Notify::CanDeny => 0,
        }
    }
}

// ---- the compiled template ------------------------------------------------------------------

/// One parameter of the model, instance numbers written `{i}`
/// (`Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress`).
#[derive(Debug)]
pub(crate) struct ParamDef {
    pub generic: Box<str>,
    pub ty: XsdType,
    pub writable: bool,
    pub forced: bool,
    /// Reads as an empty string over CWMP (passwords, TR-106 `hidden`).
    pub hidden: bool,
    pub notify: Notify,
    min: Option<i64>,
    max: Option<i64>,
    allowed: Box<[Box<str>]>,
    max_length: Option<usize>,
    /// The value of a new instance's parameter (AddObject) and, unless an `instances` entry
    /// says otherwise, of the template's own instances.
    pub default: Box<str>,
}

/// A multi-instance object (`X.{i}.`).
#[derive(Debug)]
pub(crate) struct TableDef {
    /// `X.{i}.`
    pub generic: Box<str>,
    /// AddObject/DeleteObject allowed.
    pub writable: bool,
    pub max_entries: Option<u32>,
    /// The `XNumberOfEntries` parameter beside the table, kept equal to its instance count.
    pub count_def: Option<u32>,
}

/// What a node of the concrete tree is.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// A single-instance object (`Device.DeviceInfo.`, the root).
    Object,
    /// The table itself (`Device.IP.Interface.`): its Writable is "AddObject allowed".
    Table(u32),
    /// One instance (`Device.IP.Interface.1.`): its Writable is "DeleteObject allowed".
    Instance(u32),
    /// A parameter; `default` overrides the definition's default for this instance.
    Param { def: u32, default: Option<Box<str>> },
}

/// One object or parameter of a concrete tree, with its sort key (see [`Template::key_of`]).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub path: Box<str>,
    pub key: Box<[u32]>,
    pub kind: NodeKind,
}

impl Node {
    pub(crate) fn is_object(&self) -> bool {
        !matches!(self.kind, NodeKind::Param { .. })
    }
}

/// A data model ready to instantiate: names, types, writability, defaults and the initial
/// instances, shared by every device of the model through an `Arc`.
#[derive(Debug)]
pub struct Template {
    root: Box<str>,
    pub(crate) defs: Vec<ParamDef>,
    pub(crate) tables: Vec<TableDef>,
    table_index: HashMap<Box<str>, u32>,
    /// Sibling order: every generic name prefix, numbered in the order the template lists it.
    ranks: HashMap<Box<str>, u32>,
    /// The tree a device starts with (and returns to on factory reset), in tree order.
    pub(crate) base: Vec<Node>,
    base_index: HashMap<Box<str>, u32>,
    /// Per table of the base tree (`X.`): the instance number AddObject hands out first.
    base_next: HashMap<Box<str>, u32>,
    /// Base parameters whose default has `${…}` placeholders, filled in per device.
    pub(crate) personalised: Vec<u32>,
    /// Every declared object, generic (`X.`, `X.{i}.`), in template order.
    pub(crate) object_generics: Vec<Box<str>>,
}

impl Model {
    /// The model's template as shipped in `schemas/datamodel/`.
    pub fn template_json(self) -> &'static str {
        match self {
            Model::Tr181 => include_str!("../../../../schemas/datamodel/tr181.json"),
            Model::Tr098 => include_str!("../../../../schemas/datamodel/tr098.json"),
        }
    }

    /// Loads the shipped template (checked by the tests, so this fails only if they do).
    pub fn load(self) -> Result<Arc<Template>, TemplateError> {
        Template::from_json(self.template_json()).map(Arc::new)
    }
}

/// Whether a path segment is an instance number (1, 2, …; no sign, no leading zero).
pub(crate) fn is_instance_number(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 10
        && !segment.starts_with('0')
        && segment.bytes().all(|b| b.is_ascii_digit())
        && segment.parse::<u32>().is_ok()
}

/// The path with each instance number replaced by `{i}`.
pub(crate) fn generic_of(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    for seg in path.split_inclusive('.') {
        let name = seg.strip_suffix('.').unwrap_or(seg);
        if is_instance_number(name) {
            out.push_str("{i}");
            out.push_str(&seg[name.len()..]);
        } else {
            out.push_str(seg);
        }
    }
    out
}

/// The object a node sits in: `A.B.` for `A.B.C` and for `A.B.C.`; `None` for the root.
pub(crate) fn parent_of(path: &str) -> Option<&str> {
    let trimmed = path.strip_suffix('.').unwrap_or(path);
    trimmed.rfind('.').map(|i| &path[..=i])
}

impl Template {
    /// Reads and checks a template (format in `schemas/datamodel/README.md`).
    pub fn from_json(text: &str) -> Result<Template, TemplateError> {
        build::from_json(text)
    }

    /// The root object, `Device.` or `InternetGatewayDevice.`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Number of parameters (not objects) a freshly instantiated device has.
    pub fn parameter_count(&self) -> usize {
        self.base.iter().filter(|n| !n.is_object()).count()
    }

    pub(crate) fn table_by_generic(&self, generic: &str) -> Option<u32> {
        self.table_index.get(generic).copied()
    }

    pub(crate) fn base_position(&self, path: &str) -> Option<usize> {
        self.base_index.get(path).map(|&i| i as usize)
    }

    /// The concrete `…NumberOfEntries` parameter counting the table `table` (`X.`, of table
    /// definition `t`), if the model has one.
    pub(crate) fn count_path(&self, table: &str, t: u32) -> Option<String> {
        let def = self.tables[t as usize].count_def?;
        let generic = &self.defs[def as usize].generic;
        let leaf = &generic[generic.rfind('.').map_or(0, |i| i + 1)..];
        Some(format!("{}{leaf}", parent_of(table)?))
    }

    pub(crate) fn base_next_instance(&self, table_path: &str) -> u32 {
        self.base_next.get(table_path).copied().unwrap_or(1)
    }

    /// The sort key of a concrete path: per segment, the instance number or the rank the
    /// template gave that name. Comparing keys gives tree order: parents before children,
    /// siblings as the template lists them, instances by number. `None` if the path's shape
    /// is not in the model.
    pub(crate) fn key_of(&self, path: &str) -> Option<Box<[u32]>> {
        let mut generic = String::with_capacity(path.len() + 8);
        let mut key = Vec::with_capacity(8);
        for seg in path.split_inclusive('.') {
            let name = seg.strip_suffix('.').unwrap_or(seg);
            if is_instance_number(name) {
                key.push(name.parse().ok()?);
                generic.push_str("{i}");
                generic.push_str(&seg[name.len()..]);
            } else {
                generic.push_str(seg);
                key.push(*self.ranks.get(generic.as_str())?);
            }
        }
        Some(key.into())
    }
}

impl ParamDef {
    /// Checks `value` for the parameter `name` and returns the form to store: 9006 if it is
    /// not a value of the type, 9007 if the model's range, enumeration or length forbids it.
    pub(crate) fn check<'v>(&self, name: &str, value: &'v str) -> Result<Cow<'v, str>, Fault> {
        let canonical = self.ty.canonical(value).map_err(|_| Fault::InvalidType {
            name: name.to_owned(),
            expected: self.ty.clone(),
            detail: format!("got {value:?}"),
        })?;
        let out_of_range = |reason: String| Fault::InvalidValue {
            name: name.to_owned(),
            reason,
        };
        if self.ty.is_integer() {
            let n = super::xsd::parse_integer(&canonical).unwrap_or_default();
            if let Some(min) = self.min
                && n < i128::from(min)
            {
                return Err(out_of_range(format!("{value} is below the minimum {min}")));
            }
            if let Some(max) = self.max
                && n > i128::from(max)
            {
                return Err(out_of_range(format!("{value} is above the maximum {max}")));
            }
        }
        if !self.allowed.is_empty() && !self.allowed.iter().any(|a| **a == *canonical) {
            let list = self
                .allowed
                .iter()
                .map(|a| &**a)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(out_of_range(format!("{value:?} is not one of: {list}")));
        }
        if let Some(max) = self.max_length
            && canonical.chars().count() > max
        {
            return Err(out_of_range(format!("longer than {max} characters")));
        }
        Ok(canonical)
    }
}
