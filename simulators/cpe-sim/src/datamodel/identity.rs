//! What makes one virtual CPE different from the next, and the `${…}` placeholders in the
//! templates that it fills in (syntax in `schemas/datamodel/README.md`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// The per-device values substituted into a template's `${…}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `${serial}`: DeviceInfo.SerialNumber and the Inform's DeviceId.
    pub serial: String,
    /// `${oui}`: six upper-case hex digits, DeviceInfo.ManufacturerOUI.
    pub oui: String,
    /// `${product_class}`: DeviceInfo.ProductClass.
    pub product_class: String,
    /// `${mac}` is this address, `${mac+N}` this address plus N (as a 48-bit number): one
    /// base per device, each interface its own offset.
    pub mac: [u8; 6],
    /// `${wan_ip}`: the device's WAN (CWMP) IPv4 address.
    pub wan_ip: Ipv4Addr,
    /// `${acs_url}`: ManagementServer.URL as shipped (what a factory reset goes back to).
    pub acs_url: String,
    /// `${cr_host}`, `${cr_port}`, `${cr_path}`: where the device listens for connection
    /// requests; the templates build ConnectionRequestURL from them.
    pub cr_host: String,
    pub cr_port: u16,
    pub cr_path: String,
}

/// The placeholder names a template may use.
const NAMES: [&str; 9] = [
    "serial",
    "oui",
    "product_class",
    "mac",
    "wan_ip",
    "acs_url",
    "cr_host",
    "cr_port",
    "cr_path",
];

/// One `${…}` occurrence: a name and, for `mac`, an offset.
struct Placeholder<'a> {
    name: &'a str,
    offset: u64,
}

/// A piece of a template value: literal text or a placeholder.
enum Piece<'a> {
    Literal(&'a str),
    Placeholder(Placeholder<'a>),
}

/// Splits `text` into literal pieces and placeholders; `Err` names what is malformed.
fn scan<'a>(text: &'a str, mut on: impl FnMut(Piece<'a>)) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        on(Piece::Literal(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {text:?}"))?;
        let inner = &after[..end];
        let (name, offset) = match inner.split_once('+') {
            Some((name, n)) => {
                let n = n
                    .parse()
                    .map_err(|_| format!("bad offset in ${{{inner}}}"))?;
                (name, n)
            }
            None => (inner, 0),
        };
        if !NAMES.contains(&name) {
            return Err(format!("unknown placeholder ${{{inner}}}"));
        }
        if offset != 0 && name != "mac" {
            return Err(format!("only ${{mac+N}} takes an offset, not ${{{inner}}}"));
        }
        on(Piece::Placeholder(Placeholder { name, offset }));
        rest = &after[end + 1..];
    }
    on(Piece::Literal(rest));
    Ok(())
}

/// Whether `text` has placeholders, or why they are malformed.
pub(crate) fn check(text: &str) -> Result<bool, String> {
    let mut any = false;
    scan(text, |piece| any |= matches!(piece, Piece::Placeholder(_)))?;
    Ok(any)
}

impl Identity {
    /// `text` with every placeholder replaced. Placeholders were checked when the template
    /// loaded, so a malformed one cannot reach here; it is kept as written if it does.
    pub(crate) fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 16);
        let scanned = scan(text, |piece| match piece {
            Piece::Literal(lit) => out.push_str(lit),
            Piece::Placeholder(p) => self.write(&mut out, &p),
        });
        match scanned {
            Ok(()) => out,
            Err(_) => text.to_owned(),
        }
    }

    fn write(&self, out: &mut String, p: &Placeholder<'_>) {
        match p.name {
            "serial" => out.push_str(&self.serial),
            "oui" => out.push_str(&self.oui),
            "product_class" => out.push_str(&self.product_class),
            "mac" => {
                let base = self
                    .mac
                    .iter()
                    .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                let mac = base.wrapping_add(p.offset) & 0xFFFF_FFFF_FFFF;
                for i in (0..6).rev() {
                    let _ = write!(out, "{:02X}", (mac >> (i * 8)) & 0xFF);
                    if i != 0 {
                        out.push(':');
                    }
                }
            }
            "wan_ip" => {
                let _ = write!(out, "{}", self.wan_ip);
            }
            "acs_url" => out.push_str(&self.acs_url),
            "cr_host" => out.push_str(&self.cr_host),
            "cr_port" => {
                let _ = write!(out, "{}", self.cr_port);
            }
            "cr_path" => out.push_str(&self.cr_path),
            _ => {}
        }
    }
}
