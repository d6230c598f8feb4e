//! Making N virtual CPEs: serial numbers from a pattern, per-device identities (MACs, WAN
//! addresses, connection-request paths), all sharing one template.

use std::sync::Arc;

use crate::cpe::Cpe;
use crate::datamodel::{Device, Identity, Model, Template};
use crate::settings::Settings;

/// A serial-number pattern such as `ZN{:09}`: text around one `{}` placeholder that takes the
/// device index (0-based), optionally `{:0N}`/`{:N}` zero-padded to N digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialPattern {
    prefix: String,
    width: usize,
    suffix: String,
}

impl SerialPattern {
    pub fn parse(pattern: &str) -> Result<SerialPattern, String> {
        let open = pattern
            .find('{')
            .ok_or_else(|| format!("serial pattern {pattern:?} has no {{}} placeholder"))?;
        let close = pattern[open..]
            .find('}')
            .map(|i| open + i)
            .ok_or_else(|| format!("unclosed placeholder in serial pattern {pattern:?}"))?;
        let spec = &pattern[open + 1..close];
        let width = match spec.strip_prefix(':') {
            None if spec.is_empty() => 0,
            Some(w) => w
                .trim_start_matches('0')
                .parse()
                .ok()
                .or_else(|| w.chars().all(|c| c == '0').then_some(0))
                .ok_or_else(|| format!("bad width {spec:?} in serial pattern {pattern:?}"))?,
            None => {
                return Err(format!(
                    "bad placeholder {{{spec}}} in serial pattern {pattern:?}"
                ));
            }
        };
        if pattern[close + 1..].contains('{') {
            return Err(format!(
                "serial pattern {pattern:?} has more than one placeholder"
            ));
        }
        Ok(SerialPattern {
            prefix: pattern[..open].to_owned(),
            width,
            suffix: pattern[close + 1..].to_owned(),
        })
    }

    pub fn serial(&self, index: u32) -> String {
        format!(
            "{}{index:0width$}{}",
            self.prefix,
            self.suffix,
            width = self.width
        )
    }
}

/// Where the connection-request listener is reachable, for ConnectionRequestURL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrEndpoint {
    pub host: String,
    pub port: u16,
}

/// The path under which device `serial` takes connection requests.
pub fn cr_path(serial: &str) -> String {
    format!("/cr/{serial}")
}

/// The identity of device `index`: `serial`, OUI `00D09E`, a MAC block of 16 addresses per
/// device, a WAN address in 10.64.0.0/10.
pub fn identity(
    index: u32,
    serial: &str,
    settings: &Settings,
    cr: Option<&CrEndpoint>,
    product_class: &str,
) -> Identity {
    let mac_base = 0x00D0_9E00_0000u64 + u64::from(index) * 16;
    let b = mac_base.to_be_bytes();
    let wan = 0x0A40_0002u32.wrapping_add(index);
    let (cr_host, cr_port) = match cr {
        Some(c) => (c.host.clone(), c.port),
        None => ("127.0.0.1".to_owned(), 7547),
    };
    Identity {
        serial: serial.to_owned(),
        oui: "00D09E".to_owned(),
        product_class: product_class.to_owned(),
        mac: [b[2], b[3], b[4], b[5], b[6], b[7]],
        wan_ip: wan.into(),
        acs_url: settings.acs_url.clone(),
        cr_host,
        cr_port,
        cr_path: cr_path(serial),
    }
}

/// `count` CPEs of `model`, serials from `pattern`.
pub fn build(
    model: Model,
    count: u32,
    pattern: &SerialPattern,
    settings: &Settings,
    cr: Option<&CrEndpoint>,
) -> Result<Vec<Arc<Cpe>>, String> {
    let template: Arc<Template> = model
        .load()
        .map_err(|e| format!("{model:?} template: {e}"))?;
    let product_class = match model {
        Model::Tr181 => "SIM-181",
        Model::Tr098 => "SIM-098",
    };
    let seed = crate::digest::random_u64();
    Ok((0..count)
        .map(|i| {
            let serial = pattern.serial(i);
            let mut device = Device::new(
                template.clone(),
                &identity(i, &serial, settings, cr, product_class),
            );
            settings.apply_overrides(&mut device);
            Arc::new(
                Cpe::new(
                    device,
                    seed ^ (u64::from(i) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                )
                .with_behaviours(settings.behaviours.for_device(i, count)),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_patterns() {
        assert_eq!(
            SerialPattern::parse("ZN{:09}").unwrap().serial(42),
            "ZN000000042"
        );
        assert_eq!(SerialPattern::parse("A{}B").unwrap().serial(7), "A7B");
        assert_eq!(SerialPattern::parse("X{:4}").unwrap().serial(7), "X0007");
        assert!(SerialPattern::parse("none").is_err());
        assert!(SerialPattern::parse("{}{}").is_err());
    }
}
