//! One virtual CPE's parameter tree: what it stores beside the shared template, how a name is
//! found in it, and the read operations (GetParameterNames, GetParameterValues,
//! GetParameterAttributes) plus the helpers the session layer reads from.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::template::{Node, NodeKind, ParamDef, Template, parent_of};
use super::{
    DeviceId, Fault, Identity, ParameterAttributes, ParameterInfo, ParameterValue, PeriodicInform,
};

/// A node of a device's tree: one of the template's base nodes, or one added by AddObject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    Base(usize),
    Added(usize),
}

/// An object or parameter created by AddObject; `value` `None` is the definition's default.
#[derive(Debug, Clone)]
pub(crate) struct Added {
    pub node: Node,
    pub value: Option<Box<str>>,
}

/// Attributes the ACS set (only kept while they differ from the parameter's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes {
    pub notification: u8,
    pub access_list: Vec<String>,
}

/// A virtual CPE's data model: the shared [`Template`] plus what this device changed.
/// See the module documentation for the footprint.
#[derive(Debug, Clone)]
pub struct Device {
    pub(crate) template: Arc<Template>,
    /// Values of base parameters that differ from the template, sorted by base index.
    pub(crate) values: Vec<(u32, Arc<str>)>,
    /// `values` as instantiated: what a factory reset returns to. It shares the strings with
    /// `values` until the ACS changes them.
    pub(crate) factory: Arc<[(u32, Arc<str>)]>,
    /// Base nodes removed by DeleteObject, one bit each; empty while none is.
    pub(crate) deleted: Vec<u64>,
    pub(crate) added: Vec<Added>,
    /// Tables whose next instance number moved past the template's (`X.` → next).
    pub(crate) next_instance: Vec<(Box<str>, u32)>,
    pub(crate) attributes: BTreeMap<Box<str>, Attributes>,
    /// Parameters with notification on that the device itself changed since the last
    /// delivered Inform (see `changes.rs`).
    pub(crate) changed: Vec<Box<str>>,
}

impl Device {
    /// A device fresh from the factory: the template with the identity's values filled in.
    pub fn new(template: Arc<Template>, identity: &Identity) -> Device {
        let factory: Arc<[(u32, Arc<str>)]> = template
            .personalised
            .iter()
            .map(|&i| {
                let text = base_default(&template, i as usize);
                (i, Arc::from(identity.substitute(text)))
            })
            .collect();
        Device {
            values: factory.to_vec(),
            factory,
            template,
            deleted: Vec::new(),
            added: Vec::new(),
            next_instance: Vec::new(),
            attributes: BTreeMap::new(),
            changed: Vec::new(),
        }
    }

    /// The shared template this device was made from.
    pub fn template(&self) -> &Arc<Template> {
        &self.template
    }

    /// The root object, `Device.` or `InternetGatewayDevice.`.
    pub fn root(&self) -> &str {
        self.template.root()
    }

    // ---- finding nodes ----------------------------------------------------------------------

    pub(crate) fn node(&self, at: At) -> &Node {
        match at {
            At::Base(i) => &self.template.base[i],
            At::Added(i) => &self.added[i].node,
        }
    }

    pub(crate) fn is_deleted(&self, i: usize) -> bool {
        self.deleted
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub(crate) fn find(&self, path: &str) -> Option<At> {
        if let Some(i) = self.template.base_position(path) {
            return (!self.is_deleted(i)).then_some(At::Base(i));
        }
        self.added
            .iter()
            .position(|a| &*a.node.path == path)
            .map(At::Added)
    }

    /// Every node of the tree that `keep` accepts, in tree order.
    pub(crate) fn collect(&self, mut keep: impl FnMut(&Node) -> bool) -> Vec<At> {
        let base = (0..self.template.base.len())
            .filter(|&i| !self.is_deleted(i))
            .filter(|&i| keep(&self.template.base[i]))
            .map(At::Base);
        let mut out: Vec<At> = base.collect();
        let before = out.len();
        out.extend(
            (0..self.added.len())
                .filter(|&i| keep(&self.added[i].node))
                .map(At::Added),
        );
        if out.len() != before {
            out.sort_by(|a, b| self.node(*a).key.cmp(&self.node(*b).key));
        }
        out
    }

    /// The parameter definition of a node, `None` for objects.
    pub(crate) fn def(&self, at: At) -> Option<&ParamDef> {
        match self.node(at).kind {
            NodeKind::Param { def, .. } => Some(&self.template.defs[def as usize]),
            _ => None,
        }
    }

    pub(crate) fn value(&self, at: At) -> &str {
        match at {
            At::Base(i) => match self.values.binary_search_by_key(&(i as u32), |(k, _)| *k) {
                Ok(pos) => &self.values[pos].1,
                Err(_) => base_default(&self.template, i),
            },
            At::Added(i) => match &self.added[i].value {
                Some(v) => v,
                None => self.def(at).map_or("", |d| &d.default),
            },
        }
    }

    /// Stores an already checked value.
    pub(crate) fn store(&mut self, at: At, value: &str) {
        match at {
            At::Base(i) => {
                let same_as_template = base_default(&self.template, i) == value;
                match self.values.binary_search_by_key(&(i as u32), |(k, _)| *k) {
                    Ok(pos) if same_as_template => {
                        self.values.remove(pos);
                    }
                    Ok(pos) => self.values[pos].1 = value.into(),
                    Err(_) if same_as_template => {}
                    Err(pos) => self.values.insert(pos, (i as u32, value.into())),
                }
            }
            At::Added(i) => self.added[i].value = Some(value.into()),
        }
    }

    /// The nodes a name selects for a read: `""` is the whole tree, a partial path (ending in
    /// a dot) the object and everything below it, a full name that one parameter.
    /// Anything not in the tree is 9005.
    pub(crate) fn select(&self, name: &str) -> Result<Vec<At>, Fault> {
        if name.is_empty() {
            return Ok(self.collect(|_| true));
        }
        let at = self.find(name).ok_or_else(|| Fault::invalid_name(name))?;
        if name.ends_with('.') {
            Ok(self.collect(|n| n.path.starts_with(name)))
        } else {
            Ok(vec![at])
        }
    }

    /// A parameter as GetParameterValues and the Inform report it: hidden ones (passwords)
    /// read as an empty string, as TR-098/TR-181 require.
    fn parameter_value(&self, at: At) -> Option<ParameterValue> {
        let def = self.def(at)?;
        let value = if def.hidden {
            String::new()
        } else {
            self.value(at).to_owned()
        };
        Some(ParameterValue {
            name: self.node(at).path.to_string(),
            value,
            ty: def.ty.clone(),
        })
    }

    // ---- read RPCs --------------------------------------------------------------------------

    /// GetParameterNames. `path` is `""` (the root), a partial path ending in a dot, or a full
    /// parameter name; `next_level` true lists only the object's direct children, false the
    /// object itself and everything below it. Objects end with a dot and are writable when
    /// AddObject (tables) or DeleteObject (instances) is allowed. 9005 for a path not in the
    /// tree; 9003 for NextLevel true on a parameter (TR-069 A.3.2.2 makes it false there).
    pub fn get_parameter_names(
        &self,
        path: &str,
        next_level: bool,
    ) -> Result<Vec<ParameterInfo>, Fault> {
        let selected = if path.is_empty() && next_level {
            self.collect(|n| parent_of(&n.path).is_none())
        } else if path.is_empty() {
            self.collect(|_| true)
        } else {
            self.find(path).ok_or_else(|| Fault::invalid_name(path))?;
            if !path.ends_with('.') {
                if next_level {
                    return Err(Fault::InvalidArguments(format!(
                        "NextLevel true on the parameter {path}"
                    )));
                }
                self.select(path)?
            } else if next_level {
                self.collect(|n| parent_of(&n.path) == Some(path))
            } else {
                self.collect(|n| n.path.starts_with(path))
            }
        };
        Ok(selected
            .into_iter()
            .map(|at| {
                let node = self.node(at);
                let writable = match node.kind {
                    NodeKind::Object => false,
                    NodeKind::Table(t) | NodeKind::Instance(t) => {
                        self.template.tables[t as usize].writable
                    }
                    NodeKind::Param { def, .. } => self.template.defs[def as usize].writable,
                };
                ParameterInfo {
                    name: node.path.to_string(),
                    writable,
                }
            })
            .collect())
    }

    /// GetParameterValues: each name a full parameter name or a partial path (every parameter
    /// below it, `""` = all). One name not in the tree fails the whole call with 9005.
    pub fn get_parameter_values<S: AsRef<str>>(
        &self,
        names: &[S],
    ) -> Result<Vec<ParameterValue>, Fault> {
        Ok(self
            .select_each(names)?
            .into_iter()
            .filter_map(|at| self.parameter_value(at))
            .collect())
    }

    /// GetParameterAttributes, names as for [`Device::get_parameter_values`].
    pub fn get_parameter_attributes<S: AsRef<str>>(
        &self,
        names: &[S],
    ) -> Result<Vec<ParameterAttributes>, Fault> {
        Ok(self
            .select_each(names)?
            .into_iter()
            .filter(|&at| self.def(at).is_some())
            .map(|at| {
                let attributes = self.attributes_of(at);
                ParameterAttributes {
                    name: self.node(at).path.to_string(),
                    notification: attributes.notification,
                    access_list: attributes.access_list,
                }
            })
            .collect())
    }

    /// What each of `names` selects (see [`Device::select`]), in order; the first name not in
    /// the tree is the call's fault.
    fn select_each<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<At>, Fault> {
        let mut out = Vec::new();
        for name in names {
            out.extend(self.select(name.as_ref())?);
        }
        Ok(out)
    }

    pub(crate) fn default_attributes(&self, at: At) -> Attributes {
        let notification = self.def(at).map_or(0, |d| d.notify.default_notification());
        Attributes {
            notification,
            access_list: Vec::new(),
        }
    }

    pub(crate) fn attributes_of(&self, at: At) -> Attributes {
        match self.attributes.get(&self.node(at).path) {
            Some(a) => a.clone(),
            None => self.default_attributes(at),
        }
    }

    // ---- helpers for the session layer ------------------------------------------------------

    /// A parameter's current value, hidden ones included (`None` for objects and names not in
    /// the tree).
    pub fn get(&self, name: &str) -> Option<&str> {
        let at = self.find(name)?;
        self.def(at)?;
        Some(self.value(at))
    }

    /// Sets a parameter as the device itself does (SoftwareVersion after a firmware download,
    /// UpTime, a new WAN address …): writability and ParameterKey are not involved, the value
    /// is checked against the parameter's type and model constraints (9005/9006/9007). A
    /// change of a parameter with notification on is recorded for the next Inform
    /// ([`Device::value_changes`]).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Fault> {
        let at = self.find(name).ok_or_else(|| Fault::invalid_name(name))?;
        let def = self.def(at).ok_or_else(|| Fault::invalid_name(name))?;
        let canonical = def.check(name, value)?.into_owned();
        if self.value(at) != canonical {
            self.note_change(at);
        }
        self.store(at, &canonical);
        Ok(())
    }

    /// `{root}ManagementServer.<leaf>`, or `""` if the template lacks it.
    pub fn management_server(&self, leaf: &str) -> &str {
        let name = format!("{}ManagementServer.{leaf}", self.root());
        self.get(&name).unwrap_or_default()
    }

    /// ManagementServer.ParameterKey: the key of the last successful SetParameterValues,
    /// AddObject or DeleteObject (empty after a factory reset).
    pub fn parameter_key(&self) -> &str {
        self.management_server("ParameterKey")
    }

    /// ManagementServer.URL: where the device sends its Informs.
    pub fn acs_url(&self) -> &str {
        self.management_server("URL")
    }

    /// The periodic Inform settings (PeriodicInformEnable/Interval/Time).
    pub fn periodic_inform(&self) -> PeriodicInform {
        PeriodicInform {
            enable: self.management_server("PeriodicInformEnable") == "true",
            interval: self
                .management_server("PeriodicInformInterval")
                .parse()
                .unwrap_or(1)
                .max(1),
            time: self.management_server("PeriodicInformTime").to_owned(),
        }
    }

    /// The Inform's DeviceId, from DeviceInfo.
    pub fn device_id(&self) -> DeviceId {
        let info = |leaf: &str| {
            let name = format!("{}DeviceInfo.{leaf}", self.root());
            self.get(&name).unwrap_or_default().to_owned()
        };
        DeviceId {
            manufacturer: info("Manufacturer"),
            oui: info("ManufacturerOUI"),
            product_class: info("ProductClass"),
            serial_number: info("SerialNumber"),
        }
    }

    /// The Inform's ParameterList for an Inform carrying `events` (e.g. `["2 PERIODIC"]`):
    /// every forced-inform parameter (the model's `forcedInform`, e.g. ConnectionRequestURL,
    /// ParameterKey and, in TR-098, the WAN ExternalIPAddress), in tree order, then the
    /// parameters named by enabled `ManagementServer.InformParameter.{i}` entries whose
    /// EventList is empty or names one of `events` (TR-181 2.8; how a TR-181 device reports its
    /// WAN IPv4 address). Names listed there that the device lacks are skipped.
    pub fn inform_parameters(&self, events: &[&str]) -> Vec<ParameterValue> {
        let forced = self.collect(|n| match n.kind {
            NodeKind::Param { def, .. } => self.template.defs[def as usize].forced,
            _ => false,
        });
        let mut out: Vec<ParameterValue> = forced
            .into_iter()
            .filter_map(|at| self.parameter_value(at))
            .collect();
        let table = format!("{}ManagementServer.InformParameter.", self.root());
        let entries = self.collect(|n| {
            matches!(n.kind, NodeKind::Instance(_)) && parent_of(&n.path) == Some(table.as_str())
        });
        for entry in entries {
            let path = &self.node(entry).path;
            let field = |leaf: &str| self.get(&format!("{path}{leaf}")).unwrap_or_default();
            let event_list = field("EventList");
            let wanted = event_list.trim().is_empty()
                || event_list.split(',').any(|e| events.contains(&e.trim()));
            if field("Enable") != "true" || !wanted {
                continue;
            }
            let Ok(values) = self.get_parameter_values(&[field("ParameterName")]) else {
                continue;
            };
            for value in values {
                if !out.iter().any(|v| v.name == value.name) {
                    out.push(value);
                }
            }
        }
        out
    }
}

/// The value a base parameter has in the template (before placeholders are filled in).
pub(crate) fn base_default(template: &Template, i: usize) -> &str {
    match &template.base[i].kind {
        NodeKind::Param {
            default: Some(v), ..
        } => v,
        NodeKind::Param { def, default: None } => &template.defs[*def as usize].default,
        _ => "",
    }
}
