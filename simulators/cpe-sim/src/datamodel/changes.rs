//! Value-change notification bookkeeping (TR-069 A.3.2.4): which parameters the device changed
//! itself since the ACS last heard from it. Changes the ACS makes (SetParameterValues,
//! AddObject, DeleteObject) never notify it back, so only [`Device::set`] records here.

use super::ValueChanges;
use super::device::{At, Device};

/// Notification values that put a changed parameter into the Inform: 1 passive, 2 active,
/// 4 passive + passive lightweight, 6 passive + active lightweight. 3 and 5 are lightweight
/// only (UDP, not the Inform) and are not modelled.
const IN_INFORM: [u8; 4] = [1, 2, 4, 6];

impl Device {
    /// Records a device-made change of `at` if its notification attribute asks for it.
    pub(crate) fn note_change(&mut self, at: At) {
        if !IN_INFORM.contains(&self.attributes_of(at).notification) {
            return;
        }
        let path = &self.node(at).path;
        if !self.changed.iter().any(|p| p == path) {
            let path = path.clone();
            self.changed.push(path);
        }
    }

    /// The changes waiting for the next Inform. They stay until
    /// [`Device::clear_value_changes`], so an Inform that was not answered carries them again.
    pub fn value_changes(&self) -> ValueChanges {
        let mut changes = ValueChanges::default();
        let mut found: Vec<At> = self.changed.iter().filter_map(|p| self.find(p)).collect();
        found.sort_by(|a, b| self.node(*a).key.cmp(&self.node(*b).key));
        for at in found {
            // Attributes may have changed since: what counts is the setting now.
            let notification = self.attributes_of(at).notification;
            if !IN_INFORM.contains(&notification) {
                continue;
            }
            changes.active |= notification == 2;
            if let Ok(mut values) = self.get_parameter_values(&[&*self.node(at).path]) {
                changes.parameters.append(&mut values);
            }
        }
        changes
    }

    /// Forgets the recorded changes: call it once the ACS answered the Inform that carried them.
    pub fn clear_value_changes(&mut self) {
        self.changed.clear();
    }
}
