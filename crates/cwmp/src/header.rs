//! The SOAP Header and its CWMP elements (PROTOCOL §4).

use crate::error::DecodeError;
use crate::value::{parse_bool, parse_int};
use crate::xml::tree::El;
use crate::xml::writer::Writer;

/// The CWMP header elements. A message without Header, or with an empty one (MikroTik,
/// Motorola VAP2404E), decodes to `Header::default()`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// `cwmp:ID`: request/response correlation, copied into the response. Any string
    /// (`22_THOM_TR69_ID`, `inform`); kept exactly.
    pub id: Option<String>,
    /// `cwmp:HoldRequests` (ACS → CPE): `true` stops the CPE's own requests.
    pub hold_requests: Option<bool>,
    /// `cwmp:NoMoreRequests` (CPE → ACS): deprecated since Amendment 1, still sent by
    /// Thomson and ZyXEL; decoded so callers can log it, otherwise to be ignored.
    pub no_more_requests: Option<bool>,
    /// `cwmp:SessionTimeout` (1.3+, CPE → ACS): seconds the CPE waits for the ACS.
    pub session_timeout: Option<u32>,
    /// `cwmp:SupportedCWMPVersions` (1.4, CPE → ACS), e.g. `1.0,1.1,1.2,1.3,1.4`.
    pub supported_cwmp_versions: Option<String>,
    /// `cwmp:UseCWMPVersion` (1.4, ACS → CPE), e.g. `1.4`.
    pub use_cwmp_version: Option<String>,
}

impl Header {
    /// A header carrying only a `cwmp:ID`.
    pub fn with_id(id: impl Into<String>) -> Header {
        Header {
            id: Some(id.into()),
            ..Header::default()
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        *self == Header::default()
    }

    pub(crate) fn read(el: El<'_, '_>) -> Result<Header, DecodeError> {
        let mut h = Header::default();
        for child in el.children() {
            // Matched by local name, whatever namespace the CPE put it in; GenieACS looks
            // for a lower-case `sessionTimeout`, so case is ignored.
            let name = child.local();
            let text = child.text();
            if name.eq_ignore_ascii_case("ID") {
                h.id = Some(text.to_owned());
            } else if name.eq_ignore_ascii_case("HoldRequests") {
                h.hold_requests = Some(parse_bool(text).ok_or_else(|| child.invalid("boolean"))?);
            } else if name.eq_ignore_ascii_case("NoMoreRequests") {
                // Deprecated: a junk value must not cost the message.
                h.no_more_requests = parse_bool(text);
            } else if name.eq_ignore_ascii_case("SessionTimeout") {
                h.session_timeout = parse_int(text);
            } else if name.eq_ignore_ascii_case("SupportedCWMPVersions") {
                h.supported_cwmp_versions = Some(text.trim().to_owned());
            } else if name.eq_ignore_ascii_case("UseCWMPVersion") {
                h.use_cwmp_version = Some(text.trim().to_owned());
            }
        }
        Ok(h)
    }

    /// mustUnderstand values are the schema's fixed ones (cwmp-1-0..1-4.xsd).
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        if self.is_empty() {
            return;
        }
        w.raw("<soap-env:Header>");
        if let Some(id) = &self.id {
            w.raw("<cwmp:ID soap-env:mustUnderstand=\"1\">");
            w.text(id);
            w.raw("</cwmp:ID>");
        }
        if let Some(hold) = self.hold_requests {
            w.raw("<cwmp:HoldRequests soap-env:mustUnderstand=\"1\">");
            let text = w.bool_text(hold);
            w.raw(text);
            w.raw("</cwmp:HoldRequests>");
        }
        if let Some(v) = self.no_more_requests {
            let text = w.bool_text(v);
            w.raw("<cwmp:NoMoreRequests>");
            w.raw(text);
            w.raw("</cwmp:NoMoreRequests>");
        }
        if let Some(t) = self.session_timeout {
            w.raw("<cwmp:SessionTimeout soap-env:mustUnderstand=\"0\">");
            w.raw(&t.to_string());
            w.raw("</cwmp:SessionTimeout>");
        }
        if let Some(v) = &self.supported_cwmp_versions {
            w.raw("<cwmp:SupportedCWMPVersions soap-env:mustUnderstand=\"0\">");
            w.text(v);
            w.raw("</cwmp:SupportedCWMPVersions>");
        }
        if let Some(v) = &self.use_cwmp_version {
            w.raw("<cwmp:UseCWMPVersion soap-env:mustUnderstand=\"1\">");
            w.text(v);
            w.raw("</cwmp:UseCWMPVersion>");
        }
        w.raw("</soap-env:Header>");
    }
}
