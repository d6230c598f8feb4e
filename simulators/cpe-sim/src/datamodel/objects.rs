//! AddObject, DeleteObject and factory reset: the operations that change the shape of a
//! device's tree.

use super::Fault;
use super::device::{Added, At, Device};
use super::template::{Node, NodeKind, generic_of, parent_of};
use super::write::check_parameter_key;

impl Device {
    /// AddObject on a table (`…WANIPConnection.`, ending in a dot): creates the next instance
    /// with every parameter at the template's default and the sub-objects it always has; the
    /// tables inside it start empty. Instance numbers grow per table and are never reused, not
    /// even after DeleteObject. The table's `…NumberOfEntries` follows and ParameterKey becomes
    /// `parameter_key`; the response Status is 0. 9005 if the table is not in the tree, 9003 if
    /// the name is not a multi-instance object or the model forbids AddObject there, 9004 when
    /// the table is full.
    pub fn add_object(&mut self, object: &str, parameter_key: &str) -> Result<u32, Fault> {
        check_parameter_key(parameter_key)?;
        let at = self.object_at(object)?;
        let NodeKind::Table(t) = self.node(at).kind else {
            return Err(Fault::InvalidArguments(format!(
                "{object} is not a multi-instance object"
            )));
        };
        let template = self.template.clone();
        let table = &template.tables[t as usize];
        if !table.writable {
            return Err(Fault::InvalidArguments(format!(
                "{object} does not allow AddObject"
            )));
        }
        if let Some(max) = table.max_entries
            && self.instance_count(object) >= max as usize
        {
            return Err(Fault::ResourcesExceeded(format!(
                "{object} holds at most {max} instances"
            )));
        }
        let number = self.take_instance_number(object);
        let instance = format!("{object}{number}.");
        self.create_instance(&table.generic, &instance, t);
        self.refresh_count(object);
        self.set_parameter_key(parameter_key);
        Ok(number)
    }

    /// DeleteObject on an instance (`…WANIPConnection.2.`): removes it and everything below.
    /// The table's `…NumberOfEntries` follows and ParameterKey becomes `parameter_key`; the
    /// response Status is 0. 9005 if the instance is not in the tree, 9003 if the name is not
    /// an instance or the model forbids DeleteObject there.
    pub fn delete_object(&mut self, object: &str, parameter_key: &str) -> Result<(), Fault> {
        check_parameter_key(parameter_key)?;
        let at = self.object_at(object)?;
        let NodeKind::Instance(t) = self.node(at).kind else {
            return Err(Fault::InvalidArguments(format!(
                "{object} is not an object instance"
            )));
        };
        if !self.template.tables[t as usize].writable {
            return Err(Fault::InvalidArguments(format!(
                "{object} does not allow DeleteObject"
            )));
        }
        let doomed = self.collect(|n| n.path.starts_with(object));
        for at in &doomed {
            if let At::Base(i) = *at {
                if self.deleted.is_empty() {
                    self.deleted = vec![0; self.template.base.len().div_ceil(64)];
                }
                self.deleted[i / 64] |= 1 << (i % 64);
                if let Ok(pos) = self.values.binary_search_by_key(&(i as u32), |(k, _)| *k) {
                    self.values.remove(pos);
                }
            }
        }
        self.added.retain(|a| !a.node.path.starts_with(object));
        self.attributes.retain(|path, _| !path.starts_with(object));
        self.changed.retain(|path| !path.starts_with(object));
        // Counters of tables inside the instance can never be asked for again.
        self.next_instance
            .retain(|(table, _)| !table.starts_with(object));
        if let Some(table) = parent_of(object) {
            let table = table.to_owned();
            self.refresh_count(&table);
        }
        self.set_parameter_key(parameter_key);
        Ok(())
    }

    /// FactoryReset: back to the tree and values of instantiation. Added instances are gone,
    /// deleted ones are back, attributes are at their defaults and ParameterKey is empty (the
    /// template's value).
    pub fn factory_reset(&mut self) {
        self.values = self.factory.to_vec();
        self.deleted.clear();
        self.added.clear();
        self.next_instance.clear();
        self.attributes.clear();
        self.changed.clear();
    }

    /// The object an AddObject/DeleteObject names: 9005 when it is not in the tree, 9003 when
    /// it is a parameter.
    fn object_at(&self, object: &str) -> Result<At, Fault> {
        match self.find(object) {
            Some(at) if self.node(at).is_object() => Ok(at),
            Some(_) => Err(Fault::InvalidArguments(format!(
                "{object} is a parameter, not an object"
            ))),
            None => Err(Fault::invalid_name(object)),
        }
    }

    fn instance_count(&self, table: &str) -> usize {
        self.collect(|n| {
            matches!(n.kind, NodeKind::Instance(_)) && parent_of(&n.path) == Some(table)
        })
        .len()
    }

    fn take_instance_number(&mut self, table: &str) -> u32 {
        match self.next_instance.iter_mut().find(|(t, _)| &**t == table) {
            Some((_, next)) => {
                let number = *next;
                *next += 1;
                number
            }
            None => {
                let number = self.template.base_next_instance(table);
                self.next_instance.push((table.into(), number + 1));
                number
            }
        }
    }

    /// Adds the nodes of a new instance `instance` of the table `generic` (`X.{i}.`): its
    /// parameters, its single-instance sub-objects and the (empty) tables inside it.
    fn create_instance(&mut self, generic: &str, instance: &str, t: u32) {
        let template = self.template.clone();
        let concrete = |g: &str| format!("{instance}{}", &g[generic.len()..]);
        let mut nodes = vec![(instance.to_owned(), NodeKind::Instance(t))];
        for object in &template.object_generics {
            let Some(rest) = object.strip_prefix(generic) else {
                continue;
            };
            if rest.is_empty() {
                continue;
            }
            match rest.strip_suffix("{i}.") {
                Some(table_rest) if !table_rest.contains("{i}") => {
                    if let Some(inner) = template.table_by_generic(object) {
                        nodes.push((format!("{instance}{table_rest}"), NodeKind::Table(inner)));
                    }
                }
                _ if !rest.contains("{i}") => nodes.push((concrete(object), NodeKind::Object)),
                _ => {}
            }
        }
        for (d, def) in template.defs.iter().enumerate() {
            let Some(rest) = def.generic.strip_prefix(generic) else {
                continue;
            };
            if !rest.contains("{i}") {
                nodes.push((
                    concrete(&def.generic),
                    NodeKind::Param {
                        def: d as u32,
                        default: None,
                    },
                ));
            }
        }
        for (path, kind) in nodes {
            // Every shape comes from the template, so every key exists.
            if let Some(key) = template.key_of(&path) {
                self.added.push(Added {
                    node: Node {
                        path: path.into(),
                        key,
                        kind,
                    },
                    value: None,
                });
            }
        }
        debug_assert!(generic_of(instance) == generic);
    }

    /// Sets the `…NumberOfEntries` parameter of the table `table` (`X.`) to its instance count.
    fn refresh_count(&mut self, table: &str) {
        let Some(NodeKind::Table(t)) = self.find(table).map(|at| self.node(at).kind.clone()) else {
            return;
        };
        let Some(count_name) = self.template.count_path(table, t) else {
            return;
        };
        let Some(at) = self.find(&count_name) else {
            return;
        };
        let count = self.instance_count(table).to_string();
        self.store(at, &count);
    }
}
