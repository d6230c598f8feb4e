//! Data-model templates: the JSON files in `schemas/datamodel/` (format in the README there),
//! checked and compiled into the immutable part every device of a model shares.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;

use super::identity;
use super::xsd::XsdType;
use super::{Fault, Model};

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

// ---- the JSON shape -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    #[allow(dead_code)] // documentation for the reader of the JSON file
    description: String,
    root: String,
    objects: Vec<ObjectSpec>,
    #[serde(default)]
    instances: Vec<InstanceSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectSpec {
    path: String,
    #[serde(default)]
    writable: bool,
    #[serde(default)]
    max_entries: Option<u32>,
    /// The `…NumberOfEntries` parameter of the parent object that counts this table, when
    /// its name is not the table's name + `NumberOfEntries`.
    #[serde(default)]
    count: Option<String>,
    #[serde(default)]
    params: Vec<ParamSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamSpec {
    name: String,
    #[serde(rename = "type")]
    ty: XsdType,
    #[serde(default)]
    writable: bool,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    forced: bool,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    notify: Notify,
    #[serde(default)]
    min: Option<i64>,
    #[serde(default)]
    max: Option<i64>,
    #[serde(default, rename = "enum")]
    allowed: Vec<String>,
    #[serde(default)]
    max_length: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceSpec {
    path: String,
    #[serde(default)]
    values: BTreeMap<String, String>,
}

/// The official models' `activeNotify` attribute: whether the CPE may refuse active
/// notification (`canDeny`) or keeps it on regardless (`forceEnabled`) or by default
/// (`forceDefaultEnabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Notify {
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
        let spec: FileSpec = serde_json::from_str(text)?;
        Builder::default().build(spec)
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
            expected: self.ty,
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

// ---- building -------------------------------------------------------------------------------

#[derive(Default)]
struct Builder {
    defs: Vec<ParamDef>,
    tables: Vec<TableDef>,
    def_index: HashMap<Box<str>, u32>,
    table_index: HashMap<Box<str>, u32>,
    ranks: HashMap<Box<str>, u32>,
    /// Declared object paths (generic), to check that every object has its parent.
    objects: HashSet<String>,
}

impl Builder {
    fn rank(&mut self, generic: &str) {
        if !self.ranks.contains_key(generic) {
            let next = self.ranks.len() as u32;
            self.ranks.insert(generic.into(), next);
        }
    }

    fn build(mut self, spec: FileSpec) -> Result<Template, TemplateError> {
        let root = spec.root.as_str();
        if !root.ends_with('.') || root[..root.len() - 1].contains('.') {
            return Err(invalid(root, "the root must be one name followed by a dot"));
        }
        // Object specs: definitions and ranks.
        let mut object_params: Vec<(String, Vec<u32>)> = Vec::new();
        for (n, object) in spec.objects.iter().enumerate() {
            let path = object.path.as_str();
            self.add_object(root, n, object)?;
            let mut defs = Vec::new();
            for p in &object.params {
                defs.push(self.add_param(path, p)?);
            }
            object_params.push((path.to_owned(), defs));
        }
        for object in &spec.objects {
            let Some(&t) = self.table_index.get(object.path.as_str()) else {
                continue;
            };
            // `Device.IP.Interface.{i}.` is counted by `Device.IP.InterfaceNumberOfEntries`
            // unless the template names another parameter of `Device.IP.`.
            let table = &object.path[..object.path.len() - "{i}.".len()];
            let count = match &object.count {
                Some(name) => format!("{}{name}", parent_of(table).unwrap_or_default()),
                None => format!(
                    "{}NumberOfEntries",
                    table.strip_suffix('.').unwrap_or(table)
                ),
            };
            self.tables[t as usize].count_def = self.def_index.get(count.as_str()).copied();
            if object.count.is_some() && self.tables[t as usize].count_def.is_none() {
                return Err(invalid(
                    &object.path,
                    format!("its count parameter {count} is not declared"),
                ));
            }
        }

        // Declared instances, each after its parent.
        let mut instances: HashSet<String> = HashSet::new();
        let mut overrides: HashMap<String, String> = HashMap::new();
        for inst in &spec.instances {
            let path = inst.path.as_str();
            let generic = generic_of(path);
            if !generic.ends_with("{i}.") || !self.table_index.contains_key(generic.as_str()) {
                return Err(invalid(
                    path,
                    "not an instance of a table the template declares",
                ));
            }
            // Every instance the path goes through must already be declared.
            let mut prefix = String::new();
            for seg in path.split_inclusive('.') {
                prefix.push_str(seg);
                let enclosing = prefix.len() < path.len();
                if enclosing
                    && is_instance_number(&seg[..seg.len() - 1])
                    && !instances.contains(&prefix)
                {
                    return Err(invalid(
                        path,
                        format!("its parent instance {prefix} comes later or not at all"),
                    ));
                }
            }
            if !instances.insert(path.to_owned()) {
                return Err(invalid(path, "instance declared twice"));
            }
            for (rel, value) in &inst.values {
                overrides.insert(format!("{path}{rel}"), value.clone());
            }
        }

        // The concrete tree: every object spec expanded over the declared instances.
        let mut nodes: Vec<Node> = Vec::new();
        for (generic, defs) in &object_params {
            let object_kind = match self.table_index.get(generic.as_str()) {
                Some(&t) => {
                    let table_generic = &generic[..generic.len() - "{i}.".len()];
                    for table in expand(table_generic, &instances) {
                        nodes.push(self.node(table, NodeKind::Table(t))?);
                    }
                    NodeKind::Instance(t)
                }
                None => NodeKind::Object,
            };
            for object in expand(generic, &instances) {
                for &d in defs {
                    let name = &self.defs[d as usize].generic[generic.len()..];
                    let path = format!("{object}{name}");
                    let default = overrides.remove(&path).map(String::into_boxed_str);
                    nodes.push(self.node(path, NodeKind::Param { def: d, default })?);
                }
                nodes.push(self.node(object, object_kind.clone())?);
            }
        }
        if let Some(path) = overrides.keys().next() {
            return Err(invalid(
                path,
                "an instance value for a parameter the template does not declare",
            ));
        }
        nodes.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(pair) = nodes.windows(2).find(|w| w[0].path == w[1].path) {
            return Err(invalid(&pair[0].path, "declared twice"));
        }

        let mut template = Template {
            root: root.into(),
            defs: self.defs,
            tables: self.tables,
            table_index: self.table_index,
            ranks: self.ranks,
            base: nodes,
            base_index: HashMap::new(),
            base_next: HashMap::new(),
            personalised: Vec::new(),
            object_generics: object_params
                .iter()
                .map(|(p, _)| p.as_str().into())
                .collect(),
        };
        template.finish()?;
        Ok(template)
    }

    fn node(&self, path: String, kind: NodeKind) -> Result<Node, TemplateError> {
        let mut key = Vec::new();
        let mut generic = String::new();
        for seg in path.split_inclusive('.') {
            let name = seg.strip_suffix('.').unwrap_or(seg);
            if is_instance_number(name) {
                key.push(name.parse().unwrap_or(0));
                generic.push_str("{i}");
                generic.push_str(&seg[name.len()..]);
            } else {
                generic.push_str(seg);
                key.push(
                    *self
                        .ranks
                        .get(generic.as_str())
                        .ok_or_else(|| invalid(&path, "no rank"))?,
                );
            }
        }
        Ok(Node {
            path: path.into(),
            key: key.into(),
            kind,
        })
    }

    fn add_object(
        &mut self,
        root: &str,
        n: usize,
        object: &ObjectSpec,
    ) -> Result<(), TemplateError> {
        let path = object.path.as_str();
        if !path.ends_with('.') || !path.starts_with(root) || path.contains("..") {
            return Err(invalid(
                path,
                format!("an object path starts with {root} and ends with a dot"),
            ));
        }
        if (n == 0) != (path == root) {
            return Err(invalid(path, "the root object comes first, once"));
        }
        let is_table = path.ends_with(".{i}.");
        if path != root {
            // The parent of `X.{i}.` is `X.`'s parent; `{i}` never stands alone.
            let owner = if is_table {
                &path[..path.len() - "{i}.".len()]
            } else {
                path
            };
            let parent = parent_of(owner).unwrap_or(root);
            if !self.objects.contains(parent) {
                return Err(invalid(
                    path,
                    format!("its parent object {parent} is not declared before it"),
                ));
            }
        }
        if !self.objects.insert(path.to_owned()) {
            return Err(invalid(path, "object declared twice"));
        }
        let mut prefix = String::new();
        for seg in path.split_inclusive('.') {
            prefix.push_str(seg);
            if seg != "{i}." {
                self.rank(&prefix);
            }
        }
        if is_table {
            let t = self.tables.len() as u32;
            self.tables.push(TableDef {
                generic: path.into(),
                writable: object.writable,
                max_entries: object.max_entries,
                count_def: None,
            });
            self.table_index.insert(path.into(), t);
        } else if object.writable || object.max_entries.is_some() || object.count.is_some() {
            return Err(invalid(
                path,
                "writable, max_entries and count belong to multi-instance objects (X.{i}.)",
            ));
        }
        Ok(())
    }

    fn add_param(&mut self, object: &str, p: &ParamSpec) -> Result<u32, TemplateError> {
        let generic = format!("{object}{}", p.name);
        if p.name.is_empty() || p.name.contains('.') || p.name.contains('{') {
            return Err(invalid(&generic, "a parameter name is one segment"));
        }
        if self.def_index.contains_key(generic.as_str()) {
            return Err(invalid(&generic, "parameter declared twice"));
        }
        let default: Cow<'_, str> = match &p.value {
            Some(v) => Cow::Borrowed(v),
            None => Cow::Borrowed(match p.ty {
                XsdType::Boolean => "false",
                XsdType::DateTime => "0001-01-01T00:00:00Z",
                t if t.is_integer() => "0",
                _ => "",
            }),
        };
        let mut def = ParamDef {
            generic: generic.as_str().into(),
            ty: p.ty,
            writable: p.writable,
            forced: p.forced,
            hidden: p.hidden,
            notify: p.notify,
            min: p.min,
            max: p.max,
            allowed: p.allowed.iter().map(|a| a.as_str().into()).collect(),
            max_length: p.max_length,
            default: "".into(),
        };
        let personalised = identity::check(&default).map_err(|e| invalid(&generic, e))?;
        def.default = if personalised {
            if object.contains("{i}") {
                // AddObject creates instances long after instantiation, without the identity.
                return Err(invalid(
                    &generic,
                    "placeholders in a table's default; put them in an instances entry",
                ));
            }
            default.into()
        } else {
            def.check(&generic, &default)
                .map_err(|e| invalid(&generic, format!("default value: {e}")))?
                .into()
        };
        let d = self.defs.len() as u32;
        self.defs.push(def);
        self.def_index.insert(generic.as_str().into(), d);
        self.rank(&generic);
        Ok(d)
    }
}

/// Every concrete path the generic `path` stands for, given the declared instances.
fn expand(path: &str, instances: &HashSet<String>) -> Vec<String> {
    let mut prefixes = vec![String::new()];
    for seg in path.split_inclusive('.') {
        if seg == "{i}." {
            let mut next = Vec::new();
            for prefix in &prefixes {
                let mut numbers: Vec<u32> = instances
                    .iter()
                    .filter_map(|i| i.strip_prefix(prefix.as_str()))
                    .filter_map(|rest| rest.strip_suffix('.'))
                    .filter_map(|n| {
                        if is_instance_number(n) {
                            n.parse().ok()
                        } else {
                            None
                        }
                    })
                    .collect();
                numbers.sort_unstable();
                next.extend(numbers.into_iter().map(|n| format!("{prefix}{n}.")));
            }
            prefixes = next;
        } else {
            for prefix in &mut prefixes {
                prefix.push_str(seg);
            }
        }
    }
    prefixes
}

impl Template {
    /// Indexes the base tree, fills in the instance counts and checks the literal instance
    /// values against their definitions.
    fn finish(&mut self) -> Result<(), TemplateError> {
        for (i, node) in self.base.iter().enumerate() {
            self.base_index.insert(node.path.clone(), i as u32);
        }
        let key = format!("{}ManagementServer.ParameterKey", self.root);
        if !self.base_index.contains_key(key.as_str()) {
            return Err(invalid(&key, "every CWMP data model has it"));
        }
        // Counts and next instance numbers per concrete table.
        let mut counts: HashMap<Box<str>, (u32, u32, u32)> = HashMap::new();
        for node in &self.base {
            match node.kind {
                NodeKind::Table(t) => {
                    counts.entry(node.path.clone()).or_insert((0, 0, t));
                }
                NodeKind::Instance(_) => {
                    let table = parent_of(&node.path).unwrap_or_default();
                    let number = node.key.last().copied().unwrap_or(0);
                    let entry = counts.entry(table.into()).or_insert((0, 0, 0));
                    entry.0 += 1;
                    entry.1 = entry.1.max(number);
                }
                _ => {}
            }
        }
        for (table, &(count, max, t)) in &counts {
            self.base_next.insert(table.clone(), max + 1);
            let Some(count_path) = self.count_path(table, t) else {
                continue;
            };
            if let Some(&i) = self.base_index.get(count_path.as_str())
                && let NodeKind::Param { default, .. } = &mut self.base[i as usize].kind
            {
                *default = Some(count.to_string().into());
            }
        }
        for (i, node) in self.base.iter_mut().enumerate() {
            let NodeKind::Param { def, default } = &mut node.kind else {
                continue;
            };
            let def = &self.defs[*def as usize];
            let text = default.as_deref().unwrap_or(&def.default);
            if identity::check(text).map_err(|e| invalid(&node.path, e))? {
                self.personalised.push(i as u32);
            } else if let Some(value) = default {
                let canonical = def
                    .check(&node.path, value)
                    .map_err(|e| invalid(&node.path, format!("instance value: {e}")))?;
                *value = canonical.into();
            }
        }
        Ok(())
    }
}
