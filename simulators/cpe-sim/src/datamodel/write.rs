//! SetParameterValues and SetParameterAttributes: every entry is checked before anything
//! changes, so a call either applies completely or not at all.

use std::collections::HashSet;

use super::device::{At, Attributes, Device};
use super::template::Notify;
use super::{Fault, MAX_PARAMETER_KEY_LEN, SetAttributes, SetValue};

/// Notification values that ask for active notification: 2 active, 5 active lightweight,
/// 6 passive + active lightweight (cwmp-1-4.xsd).
const ACTIVE: [u8; 3] = [2, 5, 6];

pub(crate) fn check_parameter_key(key: &str) -> Result<(), Fault> {
    if key.chars().count() > MAX_PARAMETER_KEY_LEN {
        return Err(Fault::InvalidArguments(format!(
            "ParameterKey {key:?} is longer than {MAX_PARAMETER_KEY_LEN} characters"
        )));
    }
    Ok(())
}

impl Device {
    /// Sets ManagementServer.ParameterKey, as every successful SetParameterValues, AddObject
    /// and DeleteObject does (TR-069 A.3.2.1).
    pub(crate) fn set_parameter_key(&mut self, key: &str) {
        let name = format!("{}ManagementServer.ParameterKey", self.root());
        if let Some(at) = self.find(&name) {
            self.store(at, key);
        }
    }

    /// SetParameterValues, all or nothing. Each entry is checked first: a name not in the tree
    /// or an object is 9005, a read-only parameter 9008, a value that is not of the
    /// parameter's type (or an `xsi:type` other than the model's) 9006, one outside the
    /// model's range, enumeration or length 9007, a name given twice 9003. Any of these and
    /// nothing changes: the answer is a 9003 fault listing every faulty entry. Otherwise every
    /// value is stored, ParameterKey becomes `parameter_key`, and the response Status is 0
    /// (every change takes effect at once). A key over 32 characters is a plain 9003.
    pub fn set_parameter_values(
        &mut self,
        values: &[SetValue<'_>],
        parameter_key: &str,
    ) -> Result<(), Fault> {
        check_parameter_key(parameter_key)?;
        let mut faults = Vec::new();
        let mut accepted: Vec<(At, String)> = Vec::with_capacity(values.len());
        let mut seen = HashSet::new();
        let mut reported_twice = HashSet::new();
        for item in values {
            if !seen.insert(item.name) {
                if reported_twice.insert(item.name) {
                    faults.push(Fault::Duplicate {
                        name: item.name.to_owned(),
                    });
                }
                continue;
            }
            match self.check_set(item) {
                Ok(entry) => accepted.push(entry),
                Err(fault) => faults.push(fault),
            }
        }
        if !faults.is_empty() {
            return Err(Fault::SetParameterValues { faults });
        }
        for (at, value) in accepted {
            self.store(at, &value);
        }
        self.set_parameter_key(parameter_key);
        Ok(())
    }

    fn check_set(&self, item: &SetValue<'_>) -> Result<(At, String), Fault> {
        let name = item.name;
        let at = self.find(name).ok_or_else(|| Fault::invalid_name(name))?;
        let def = self.def(at).ok_or_else(|| Fault::invalid_name(name))?;
        if !def.writable {
            return Err(Fault::NotWritable {
                name: name.to_owned(),
            });
        }
        if let Some(sent) = &item.ty
            && *sent != def.ty
        {
            return Err(Fault::InvalidType {
                name: name.to_owned(),
                expected: def.ty.clone(),
                detail: format!("the ACS sent xsd:{}", sent.name()),
            });
        }
        let value = def.check(name, item.value)?.into_owned();
        Ok((at, value))
    }

    /// SetParameterAttributes, all or nothing. A name may be a partial path: the change then
    /// applies to every parameter below it. Notification is 0–6 (else 9003); asking for
    /// active notification (2, 5, 6) on a parameter the model marks `canDeny`, or anything but
    /// active on a `forceEnabled` one, is refused with 9009 when the name is that parameter,
    /// and skips it when the name is a partial path (so "everything below X active" works on
    /// the rest). AccessList entries must be `Subscriber` (any case, stored canonically; the
    /// only value TR-069 defines), else 9003. Names not in the tree are 9005.
    pub fn set_parameter_attributes(&mut self, items: &[SetAttributes<'_>]) -> Result<(), Fault> {
        let mut changes: Vec<(At, Attributes)> = Vec::new();
        for item in items {
            if let Some(n) = item.notification
                && n > 6
            {
                return Err(Fault::InvalidArguments(format!(
                    "notification {n} for {} is not 0-6",
                    item.name
                )));
            }
            let access_list = match &item.access_list {
                Some(list) => Some(canonical_access_list(item.name, list)?),
                None => None,
            };
            let partial = item.name.is_empty() || item.name.ends_with('.');
            for at in self.select(item.name)? {
                let Some(def) = self.def(at) else { continue };
                let mut attributes = self.attributes_of(at);
                if let Some(n) = item.notification {
                    let refused = match def.notify {
                        Notify::CanDeny => ACTIVE
                            .contains(&n)
                            .then_some("active notification is denied"),
                        Notify::ForceEnabled => {
                            (n != 2).then_some("active notification is always on")
                        }
                        Notify::Normal | Notify::ForceDefaultEnabled => None,
                    };
                    match refused {
                        Some(_) if partial => continue,
                        Some(reason) => {
                            return Err(Fault::NotificationRejected {
                                name: item.name.to_owned(),
                                reason: reason.to_owned(),
                            });
                        }
                        None => attributes.notification = n,
                    }
                }
                if let Some(list) = &access_list {
                    attributes.access_list.clone_from(list);
                }
                changes.push((at, attributes));
            }
        }
        for (at, attributes) in changes {
            let path = self.node(at).path.clone();
            if attributes == self.default_attributes(at) {
                self.attributes.remove(&path);
            } else {
                self.attributes.insert(path, attributes);
            }
        }
        Ok(())
    }
}

fn canonical_access_list(name: &str, list: &[String]) -> Result<Vec<String>, Fault> {
    list.iter()
        .map(|entry| {
            // Thomson sends `subscriber` in lower case (PROTOCOL §7.1).
            if entry.eq_ignore_ascii_case("Subscriber") {
                Ok("Subscriber".to_owned())
            } else {
                Err(Fault::InvalidArguments(format!(
                    "access list entry {entry:?} for {name} is not Subscriber"
                )))
            }
        })
        .collect()
}
