//! The CPE's deployment units (software modules) and what ChangeDUState's Install, Update and
//! Uninstall operations do to them (TR-069 A.4.1.14, TR-157). The file of an Install or
//! Update is fetched by the caller; this module only decides, from the fetch's outcome, the
//! new table and the `OpResultStruct` reported in DUStateChangeComplete. No I/O, no clock.

use cwmp::{DuOperation, FaultCode, OpResult, TransferFault, XsdDateTime};

/// One installed deployment unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentUnit {
    pub uuid: String,
    pub version: String,
    pub url: String,
    /// Its instance number under `SoftwareModules.DeploymentUnit.`.
    pub instance: u32,
}

/// The table; instance numbers grow and are not reused.
#[derive(Debug, Clone, Default)]
pub struct SoftwareModules {
    units: Vec<DeploymentUnit>,
    last_instance: u32,
}

/// What an operation needs fetched before it can be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub url: String,
    pub username: String,
    pub password: String,
}

/// When an operation ran, for its result.
#[derive(Debug, Clone)]
pub struct Times {
    pub start: XsdDateTime,
    pub complete: XsdDateTime,
}

impl SoftwareModules {
    pub fn units(&self) -> &[DeploymentUnit] {
        &self.units
    }

    /// A factory reset removes what the ACS installed.
    pub fn clear(&mut self) {
        self.units.clear();
    }

    fn find(&self, uuid: &str, version: Option<&str>) -> Option<usize> {
        self.units.iter().position(|u| {
            u.uuid.eq_ignore_ascii_case(uuid)
                && version.is_none_or(|v| v.is_empty() || v == u.version)
        })
    }

    /// The file an operation installs from: Install's URL, Update's URL or else the unit's
    /// own; `None` for Uninstall, or an Update of an unknown unit (which faults anyway).
    pub fn source(&self, op: &DuOperation) -> Option<Source> {
        match op {
            DuOperation::Install {
                url,
                username,
                password,
                ..
            } => Some(Source {
                url: url.clone(),
                username: username.clone().unwrap_or_default(),
                password: password.clone().unwrap_or_default(),
            }),
            DuOperation::Update {
                uuid,
                version,
                url,
                username,
                password,
            } => {
                let unit = &self.units[self.find(uuid.as_deref()?, version.as_deref())?];
                Some(Source {
                    url: url
                        .clone()
                        .filter(|u| !u.is_empty())
                        .unwrap_or(unit.url.clone()),
                    username: username.clone().unwrap_or_default(),
                    password: password.clone().unwrap_or_default(),
                })
            }
            DuOperation::Uninstall { .. } => None,
        }
    }

    /// Applies one operation whose file (if any, see [`SoftwareModules::source`]) was fetched
    /// with `fetched`'s outcome. `root` is the data model's root (`Device.`); `new_uuid` gives
    /// an Install without a UUID its own.
    pub fn apply(
        &mut self,
        op: &DuOperation,
        fetched: Result<(), (u32, String)>,
        root: &str,
        new_uuid: impl FnOnce() -> String,
        times: Times,
    ) -> OpResult {
        let mut result = OpResult {
            uuid: String::new(),
            deployment_unit_ref: String::new(),
            version: String::new(),
            current_state: "Failed".to_owned(),
            resolved: false,
            execution_unit_ref_list: String::new(),
            start_time: times.start,
            complete_time: times.complete,
            fault: TransferFault::default(),
        };
        let unit_ref = |instance: u32| format!("{root}SoftwareModules.DeploymentUnit.{instance}");
        let outcome: Result<(), (u32, String)> = match op {
            DuOperation::Install { url, uuid, .. } => {
                let uuid = uuid.clone().filter(|u| !u.is_empty());
                result.uuid = uuid.clone().unwrap_or_default();
                match uuid {
                    Some(u) if !is_uuid(&u) => Err((9022, format!("invalid UUID {u:?}"))),
                    Some(u) if self.find(&u, None).is_some() => {
                        Err((9026, format!("deployment unit {u} is already installed")))
                    }
                    uuid => fetched.map(|()| {
                        self.last_instance += 1;
                        let unit = DeploymentUnit {
                            uuid: uuid.unwrap_or_else(new_uuid),
                            version: crate::cpe::firmware_version(url),
                            url: url.clone(),
                            instance: self.last_instance,
                        };
                        result.uuid = unit.uuid.clone();
                        result.version = unit.version.clone();
                        result.deployment_unit_ref = unit_ref(unit.instance);
                        result.current_state = "Installed".to_owned();
                        self.units.push(unit);
                    }),
                }
            }
            DuOperation::Update { uuid, version, .. } => {
                result.uuid = uuid.clone().unwrap_or_default();
                let found = uuid
                    .as_deref()
                    .and_then(|u| self.find(u, version.as_deref()));
                match found {
                    None => Err((
                        9028,
                        format!("no deployment unit {:?} to update", result.uuid),
                    )),
                    Some(i) => {
                        let source = self.source(op).map(|s| s.url).unwrap_or_default();
                        let unit = &mut self.units[i];
                        result.deployment_unit_ref = unit_ref(unit.instance);
                        result.version = unit.version.clone();
                        // The unit stays installed whatever happens to the update.
                        result.current_state = "Installed".to_owned();
                        let new_version = crate::cpe::firmware_version(&source);
                        match fetched {
                            Err(e) => Err(e),
                            Ok(()) if new_version == unit.version => {
                                Err((9032, format!("version {new_version} is already installed")))
                            }
                            Ok(()) => {
                                unit.version = new_version;
                                unit.url = source;
                                result.version = unit.version.clone();
                                Ok(())
                            }
                        }
                    }
                }
            }
            DuOperation::Uninstall { uuid, version, .. } => {
                result.uuid = uuid.clone();
                match self.find(uuid, version.as_deref()) {
                    None => Err((9028, format!("no deployment unit {uuid:?} to uninstall"))),
                    Some(i) => {
                        let unit = self.units.remove(i);
                        result.deployment_unit_ref = unit_ref(unit.instance);
                        result.version = unit.version;
                        result.current_state = "Uninstalled".to_owned();
                        Ok(())
                    }
                }
            }
        };
        match outcome {
            Ok(()) => result.resolved = true,
            Err((code, message)) => {
                result.fault = TransferFault {
                    fault_code: FaultCode(code),
                    fault_string: message,
                };
            }
        }
        result
    }
}

/// `8-4-4-4-12` hex digits (RFC 4122 text form), as TR-069 requires of a DU's UUID.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A random version-4 UUID from two random words.
pub fn random_uuid(a: u64, b: u64) -> String {
    let hi = (a & !0xF000) | 0x4000; // version 4 in bits 12-15 of time_hi
    let lo = (b & !(0xC000 << 48)) | (0x8000 << 48); // variant 10
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times() -> Times {
        Times {
            start: XsdDateTime::unknown(),
            complete: XsdDateTime::unknown(),
        }
    }

    fn install(url: &str, uuid: Option<&str>) -> DuOperation {
        DuOperation::Install {
            url: url.to_owned(),
            uuid: uuid.map(str::to_owned),
            username: None,
            password: None,
            execution_env_ref: None,
        }
    }

    const U1: &str = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";

    #[test]
    fn install_update_uninstall() {
        let mut sm = SoftwareModules::default();
        let r = sm.apply(
            &install("http://h/app-1.0.ipk", Some(U1)),
            Ok(()),
            "Device.",
            || unreachable!(),
            times(),
        );
        assert_eq!(
            (
                r.current_state.as_str(),
                r.version.as_str(),
                r.resolved,
                r.fault.fault_code.0
            ),
            ("Installed", "app-1.0", true, 0)
        );
        assert_eq!(
            r.deployment_unit_ref,
            "Device.SoftwareModules.DeploymentUnit.1"
        );
        // The same UUID again: duplicate.
        let r = sm.apply(
            &install("http://h/app-1.0.ipk", Some(U1)),
            Ok(()),
            "Device.",
            String::new,
            times(),
        );
        assert_eq!(r.fault.fault_code.0, 9026);

        let update = |url: Option<&str>| DuOperation::Update {
            uuid: Some(U1.to_owned()),
            version: None,
            url: url.map(str::to_owned),
            username: None,
            password: None,
        };
        assert_eq!(
            sm.source(&update(None)).unwrap().url,
            "http://h/app-1.0.ipk"
        );
        let r = sm.apply(&update(None), Ok(()), "Device.", String::new, times());
        assert_eq!(
            (r.fault.fault_code.0, r.current_state.as_str()),
            (9032, "Installed")
        );
        let r = sm.apply(
            &update(Some("http://h/app-2.0.ipk")),
            Ok(()),
            "Device.",
            String::new,
            times(),
        );
        assert_eq!((r.fault.fault_code.0, r.version.as_str()), (0, "app-2.0"));
        let r = sm.apply(
            &update(Some("http://h/app-3.0.ipk")),
            Err((9016, "404".into())),
            "Device.",
            String::new,
            times(),
        );
        assert_eq!(
            (r.fault.fault_code.0, r.version.as_str()),
            (9016, "app-2.0")
        );

        let uninstall = |v: &str| DuOperation::Uninstall {
            uuid: U1.to_owned(),
            version: Some(v.to_owned()),
            execution_env_ref: None,
        };
        assert_eq!(
            sm.apply(
                &uninstall("app-1.0"),
                Ok(()),
                "Device.",
                String::new,
                times()
            )
            .fault
            .fault_code
            .0,
            9028
        );
        let r = sm.apply(
            &uninstall("app-2.0"),
            Ok(()),
            "Device.",
            String::new,
            times(),
        );
        assert_eq!(
            (r.current_state.as_str(), r.resolved),
            ("Uninstalled", true)
        );
        assert!(sm.units().is_empty());
        // Instance numbers are not reused.
        let r = sm.apply(
            &install("http://h/b.ipk", None),
            Ok(()),
            "Device.",
            || U1.to_owned(),
            times(),
        );
        assert_eq!(
            r.deployment_unit_ref,
            "Device.SoftwareModules.DeploymentUnit.2"
        );
        assert_eq!(r.uuid, U1);
    }

    #[test]
    fn failed_installs_and_bad_uuids() {
        let mut sm = SoftwareModules::default();
        let r = sm.apply(
            &install("http://h/a.ipk", Some("not-a-uuid")),
            Ok(()),
            "Device.",
            String::new,
            times(),
        );
        assert_eq!(
            (r.fault.fault_code.0, r.current_state.as_str()),
            (9022, "Failed")
        );
        let r = sm.apply(
            &install("http://h/a.ipk", None),
            Err((9015, "refused".into())),
            "Device.",
            || U1.to_owned(),
            times(),
        );
        assert_eq!((r.fault.fault_code.0, r.resolved), (9015, false));
        assert!(sm.units().is_empty());
    }

    #[test]
    fn random_uuids_are_well_formed_v4() {
        for (a, b) in [(0, 0), (u64::MAX, u64::MAX), (0x0123_4567_89ab_cdef, 42)] {
            let u = random_uuid(a, b);
            assert!(is_uuid(&u), "{u}");
            assert_eq!(&u[14..15], "4", "{u}");
            assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        }
    }
}
