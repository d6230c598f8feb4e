//! Reading a template file: the JSON shape, its checks, and the compiled tree built from it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use super::super::identity;
use super::super::xsd::{self, TypeRules, XsdType};
use super::{
    Node, NodeKind, Notify, ParamDef, TableDef, Template, TemplateError, generic_of, invalid,
    is_instance_number, parent_of,
};

pub(super) fn from_json(text: &str) -> Result<Template, TemplateError> {
    let spec: FileSpec = serde_json::from_str(text)?;
    Builder::default().build(spec)
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
    #[serde(rename = "type", deserialize_with = "xsd::deserialize")]
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
            None => Cow::Borrowed(match &p.ty {
                XsdType::Boolean => "false",
                XsdType::DateTime => "0001-01-01T00:00:00Z",
                t if t.is_integer() => "0",
                _ => "",
            }),
        };
        let mut def = ParamDef {
            generic: generic.as_str().into(),
            ty: p.ty.clone(),
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
