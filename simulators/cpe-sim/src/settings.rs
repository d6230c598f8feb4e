//! What every virtual CPE of a run shares: where the ACS is, which CWMP version and which
//! vendor quirks it shows, which faults to inject.

use std::time::Duration;

use cwmp::CwmpVersion;

use crate::behaviour::BehaviourPlan;
use crate::datamodel::Device;
use crate::transport::{Target, Wire};

/// Vendor quirks a simulated CPE can show on the wire (`--quirk`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quirks {
    /// No SOAP Header at all, so no `cwmp:ID` (MikroTik, Motorola VAP2404E).
    pub no_header: bool,
    /// Array counts zero-padded: `arrayType="cwmp:EventStruct[0002]"`.
    pub zero_padded_arrays: bool,
    /// Bodies in ISO-8859-1 with `charset=ISO-8859-1` (Thomson).
    pub iso_8859_1: bool,
    /// How requests go on the wire: chunked bodies, a new connection per message, no cookies.
    pub wire: Wire,
}

impl Quirks {
    /// Turns on the quirk named `name` (the `--quirk` values).
    pub fn enable(&mut self, name: &str) -> Result<(), String> {
        match name {
            "no-header" => self.no_header = true,
            "zero-padded-arrays" => self.zero_padded_arrays = true,
            "iso-8859-1" => self.iso_8859_1 = true,
            "chunked" => self.wire.chunked = true,
            "reconnect-per-message" => self.wire.reconnect_per_message = true,
            "no-cookies" => self.wire.no_cookies = true,
            other => {
                return Err(format!(
                    "unknown quirk {other:?} (no-header, zero-padded-arrays, iso-8859-1, chunked, reconnect-per-message, no-cookies)"
                ));
            }
        }
        Ok(())
    }
}

/// Faults a CPE answers instead of doing what the ACS asked (`--fault`, `--fault-rate`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultInjection {
    /// (RPC name as on the wire, fault code).
    pub rules: Vec<(String, u32)>,
    /// Probability that a matching request gets its fault (1.0: always).
    pub rate: f64,
}

impl FaultInjection {
    /// Adds a rule from `METHOD=CODE`; METHOD is an RPC name (`SetParameterValues`) or its
    /// initials (`spv`, `gpv`, `gpn`, `gpa`, `spa`), case-insensitive.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        let (method, code) = spec
            .split_once('=')
            .ok_or_else(|| format!("bad --fault {spec:?}: expected METHOD=CODE, e.g. spv=9002"))?;
        let code: u32 = code
            .trim()
            .parse()
            .ok()
            .filter(|c| (9000..=9899).contains(c))
            .ok_or_else(|| format!("bad fault code in {spec:?}: expected 9000-9899"))?;
        let method = match method.trim().to_ascii_lowercase().as_str() {
            "spv" => "SetParameterValues".to_owned(),
            "gpv" => "GetParameterValues".to_owned(),
            "gpn" => "GetParameterNames".to_owned(),
            "gpa" => "GetParameterAttributes".to_owned(),
            "spa" => "SetParameterAttributes".to_owned(),
            other => crate::answer::CPE_METHODS
                .iter()
                .find(|m| m.eq_ignore_ascii_case(other))
                .map(|m| (*m).to_owned())
                .ok_or_else(|| format!("unknown method in --fault {spec:?}"))?,
        };
        self.rules.push((method, code));
        Ok(())
    }

    /// The fault code to answer `method` with, given a uniform random draw in [0, 1).
    pub fn fault_for(&self, method: &str, draw: f64) -> Option<u32> {
        let code = self
            .rules
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, c)| *c)?;
        (draw < self.rate).then_some(code)
    }
}

/// The settings of a run, shared by every device.
#[derive(Debug, Clone)]
pub struct Settings {
    pub acs: Target,
    /// The URL as given (stored in ManagementServer.URL).
    pub acs_url: String,
    pub version: CwmpVersion,
    pub quirks: Quirks,
    pub faults: FaultInjection,
    /// How long the CPE waits for each HTTP answer.
    pub http_timeout: Duration,
    /// How long a reboot takes before the device informs again.
    pub reboot_delay: Duration,
    /// How long an agent that crashed or exited (a vendor behaviour) stays down before its
    /// process is started again.
    pub restart_delay: Duration,
    /// Which devices show which vendor behaviours (`--behaviour`).
    pub behaviours: BehaviourPlan,
    /// Print one JSON line per significant event on stdout.
    pub json_events: bool,
    /// `--inform-interval`: PeriodicInformInterval (and PeriodicInformEnable true) as the
    /// device's factory setting.
    pub inform_interval: Option<u32>,
    /// `--username`, `--password`, `--cr-username`, `--cr-password`: factory credentials.
    pub credentials: CredentialOverrides,
}

/// Factory credentials given on the command line; `{serial}` in a value becomes the device's
/// serial number, so a fleet can have per-device credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialOverrides {
    /// ManagementServer.Username: what the CPE answers the ACS's 401 challenges with.
    pub username: Option<String>,
    /// ManagementServer.Password.
    pub password: Option<String>,
    /// ManagementServer.ConnectionRequestUsername: what the connection-request listener checks.
    pub cr_username: Option<String>,
    /// ManagementServer.ConnectionRequestPassword.
    pub cr_password: Option<String>,
}

impl Settings {
    pub fn new(acs_url: &str) -> Result<Settings, String> {
        Ok(Settings {
            acs: Target::parse(acs_url)?,
            acs_url: acs_url.to_owned(),
            version: CwmpVersion::V1_0,
            quirks: Quirks::default(),
            faults: FaultInjection {
                rules: Vec::new(),
                rate: 1.0,
            },
            http_timeout: Duration::from_secs(30),
            reboot_delay: Duration::from_secs(1),
            restart_delay: Duration::from_secs(10),
            behaviours: BehaviourPlan::default(),
            json_events: false,
            inform_interval: None,
            credentials: CredentialOverrides::default(),
        })
    }

    /// Applies the command line's factory settings to a new (or factory-reset) device.
    pub fn apply_overrides(&self, device: &mut Device) {
        let ms = format!("{}ManagementServer.", device.root());
        let serial = device.device_id().serial_number;
        let c = &self.credentials;
        for (leaf, value) in [
            ("Username", &c.username),
            ("Password", &c.password),
            ("ConnectionRequestUsername", &c.cr_username),
            ("ConnectionRequestPassword", &c.cr_password),
        ] {
            if let Some(v) = value {
                let _ = device.set(&format!("{ms}{leaf}"), &v.replace("{serial}", &serial));
            }
        }
        device.clear_value_changes();
        if let Some(interval) = self.inform_interval {
            let ms = format!("{}ManagementServer.", device.root());
            let _ = device.set(&format!("{ms}PeriodicInformEnable"), "true");
            let _ = device.set(
                &format!("{ms}PeriodicInformInterval"),
                &interval.to_string(),
            );
            device.clear_value_changes();
        }
    }
}
