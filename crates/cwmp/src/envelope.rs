//! The SOAP envelope: decoding a POST body and encoding a reply.

use crate::body::Body;
use crate::charset;
use crate::error::{DecodeError, DecodeErrorKind, excerpt};
use crate::fault::{Fault, FaultCode};
use crate::header::Header;
use crate::namespace::{CwmpVersion, Namespace, negotiate};
use crate::rpc::InformResponse;
use crate::xml::fields::XmlStruct;
use crate::xml::tree::{Doc, El, Ns, SOAP_ENC, SOAP_ENV, XSD, XSI};
use crate::xml::writer::Writer;

/// What a CPE POSTed.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// An empty (or whitespace-only) body: the CPE has nothing more to send and waits for
    /// the ACS's next request (TR-069 §3.4.6).
    EmptyBody,
    /// A SOAP envelope.
    Envelope(Envelope),
}

/// One CWMP message: header, body and the cwmp namespace it was written in.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The cwmp namespace of the message. Decoding takes it from where it is used (the
    /// Body's element, else the fault detail, else the header), not from the outermost
    /// declaration; encoding writes it as the `cwmp` prefix. Replies must use the CPE's
    /// (PROTOCOL §15.1).
    pub namespace: Namespace,
    pub header: Header,
    pub body: Body,
}

/// How booleans are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BooleanStyle {
    /// `0`/`1`: the default, since TP-Link TD-W9970 rejects `true`/`false` (genieacs#228).
    #[default]
    ZeroOne,
    /// `true`/`false`.
    TrueFalse,
}

/// Encoder settings a device-type profile may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Write `<?xml version="1.0" encoding="UTF-8"?>` first (default). A Huawei CPE needs it
    /// (freeacs#342); a few agents choke on it, so profiles can turn it off.
    pub xml_declaration: bool,
    /// How booleans (struct fields, header flags, `xsd:boolean` values) are written.
    pub boolean_style: BooleanStyle,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            xml_declaration: true,
            boolean_style: BooleanStyle::ZeroOne,
        }
    }
}

/// Decodes a POST body. `content_type` is the HTTP Content-Type header value, if any; its
/// `charset` selects the text encoding (see [`crate::charset`]).
///
/// Never panics; memory use is proportional to `bytes.len()`, so the caller's HTTP body
/// limit bounds it.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> Result<Decoded, DecodeError> {
    let text = charset::to_utf8(bytes, content_type)?;
    if text
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .is_empty()
    {
        return Ok(Decoded::EmptyBody);
    }
    let doc = Doc::parse(&text)?;
    Envelope::read(&doc).map(Decoded::Envelope)
}

impl Envelope {
    /// An envelope in `namespace` without header.
    pub fn new(namespace: Namespace, body: impl Into<Body>) -> Envelope {
        Envelope {
            namespace,
            header: Header::default(),
            body: body.into(),
        }
    }

    /// A reply to this message: same namespace, same `cwmp:ID` (TR-069 §3.5: the responder
    /// copies the ID), the given body.
    pub fn reply(&self, body: impl Into<Body>) -> Envelope {
        Envelope {
            namespace: self.namespace,
            header: Header {
                id: self.header.id.clone(),
                ..Header::default()
            },
            body: body.into(),
        }
    }

    /// The answer to an Inform: InformResponse with MaxEnvelopes 1, plus `UseCWMPVersion`
    /// when the CPE sent `SupportedCWMPVersions`; fault 8006 when no version in that list is
    /// one this crate speaks.
    pub fn inform_reply(&self) -> Envelope {
        let mut reply = self.reply(InformResponse { max_envelopes: 1 });
        if let Some(supported) = &self.header.supported_cwmp_versions {
            match negotiate(supported, CwmpVersion::V1_4) {
                Some(v) => reply.header.use_cwmp_version = Some(v.as_str().to_owned()),
                None => reply.body = Body::Fault(Fault::new(FaultCode::VERSION_INCOMPATIBLE)),
            }
        }
        reply
    }

    /// The CWMP version of the message: the namespace's, refined by the header for
    /// `cwmp-1-2` (1.4 with version negotiation headers, 1.3 with SessionTimeout, as
    /// GenieACS guesses, PROTOCOL §1).
    pub fn version(&self) -> CwmpVersion {
        let h = &self.header;
        match self.namespace {
            Namespace::Cwmp12
                if h.supported_cwmp_versions.is_some() || h.use_cwmp_version.is_some() =>
            {
                CwmpVersion::V1_4
            }
            Namespace::Cwmp12 if h.session_timeout.is_some() => CwmpVersion::V1_3,
            ns => ns.base_version(),
        }
    }

    /// Encodes the message: fixed prefixes (`soap-env`, `soap-enc`, `xsd`, `xsi`, `cwmp`),
    /// UTF-8, escaped text, exact array counts.
    pub fn encode(&self, options: &EncodeOptions) -> Vec<u8> {
        let mut w = Writer {
            out: String::with_capacity(1024),
            options,
        };
        if options.xml_declaration {
            w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        }
        w.raw("<soap-env:Envelope xmlns:soap-env=\"");
        w.raw(SOAP_ENV);
        w.raw("\" xmlns:soap-enc=\"");
        w.raw(SOAP_ENC);
        w.raw("\" xmlns:xsd=\"");
        w.raw(XSD);
        w.raw("\" xmlns:xsi=\"");
        w.raw(XSI);
        w.raw("\" xmlns:cwmp=\"");
        w.raw(self.namespace.uri());
        w.raw("\">");
        self.header.write(&mut w);
        w.raw("<soap-env:Body>");
        self.body.write(&mut w);
        w.raw("</soap-env:Body></soap-env:Envelope>");
        w.out.into_bytes()
    }

    fn read(doc: &Doc<'_>) -> Result<Envelope, DecodeError> {
        let text = doc.text();
        let root = doc
            .root()
            .ok_or_else(|| DecodeError::at(text, 0, DecodeErrorKind::NoRootElement))?;
        // Any prefix, matched by local name (`soap`, `soapenv`, `SOAP-ENV`, `soap_env`…).
        if root.local() != "Envelope" {
            return Err(root.error(DecodeErrorKind::NotAnEnvelope(excerpt(root.local()))));
        }
        let header_el = root.child("Header");
        let header = header_el.map(Header::read).transpose()?.unwrap_or_default();
        let body_el = root
            .child("Body")
            .ok_or_else(|| root.error(DecodeErrorKind::MissingBody))?;
        let message = body_el
            .children()
            .next()
            .ok_or_else(|| body_el.error(DecodeErrorKind::EmptySoapBody))?;

        let namespace = match detect_namespace(message, header_el)? {
            Some(ns) => ns,
            None => body_el
                .declared_cwmp()
                .or_else(|| root.declared_cwmp())
                .unwrap_or(Namespace::Cwmp10),
        };
        let name = message.local();
        let body = if name == "Fault" && !matches!(message.ns(), Ns::Cwmp(_)) {
            Body::Fault(Fault::read(message)?)
        } else {
            match Body::read_rpc(name, message) {
                Some(body) => body?,
                None => Body::Unknown {
                    // Kept whole (it is bounded by the input) so re-encoding is stable.
                    name: name.to_owned(),
                },
            }
        };
        Ok(Envelope {
            namespace,
            header,
            body,
        })
    }
}

/// The namespace where it is used: the Body's element; for a SOAP Fault its `cwmp:Fault`
/// detail; else the first cwmp header element. When none is used, the caller falls back to
/// a cwmp namespace declared on Body or Envelope, else 1.0 (the namespace of every corpus
/// message, and what an unqualified pre-standard stack most likely means).
fn detect_namespace(
    message: El<'_, '_>,
    header: Option<El<'_, '_>>,
) -> Result<Option<Namespace>, DecodeError> {
    let fault_detail = message.child("detail").and_then(|d| d.child("Fault"));
    let header_children = header.into_iter().flat_map(|h| h.children());
    let candidates = std::iter::once(message)
        .chain(fault_detail)
        .chain(header_children);
    for el in candidates {
        match el.ns() {
            Ns::Cwmp(ns) => return Ok(Some(ns)),
            Ns::UnknownCwmp(uri) => {
                return Err(el.error(DecodeErrorKind::UnsupportedNamespace(uri)));
            }
            Ns::None | Ns::SoapEnv | Ns::Other => {}
        }
    }
    Ok(None)
}

macro_rules! into_body {
    ($($ty:ident),* $(,)?) => {$(
        impl From<crate::rpc::$ty> for Body {
            fn from(m: crate::rpc::$ty) -> Body {
                Body::$ty(m)
            }
        }
    )*};
}

into_body!(
    GetRpcMethods,
    GetRpcMethodsResponse,
    SetParameterValues,
    SetParameterValuesResponse,
    GetParameterValues,
    GetParameterValuesResponse,
    GetParameterNames,
    GetParameterNamesResponse,
    SetParameterAttributes,
    SetParameterAttributesResponse,
    GetParameterAttributes,
    GetParameterAttributesResponse,
    AddObject,
    AddObjectResponse,
    DeleteObject,
    DeleteObjectResponse,
    Reboot,
    RebootResponse,
    Download,
    Upload,
    FactoryReset,
    FactoryResetResponse,
    ScheduleInform,
    ScheduleInformResponse,
    ScheduleDownload,
    ScheduleDownloadResponse,
    CancelTransfer,
    CancelTransferResponse,
    ChangeDuState,
    ChangeDuStateResponse,
    GetQueuedTransfers,
    GetQueuedTransfersResponse,
    GetAllQueuedTransfers,
    GetAllQueuedTransfersResponse,
    Inform,
    InformResponse,
    TransferComplete,
    TransferCompleteResponse,
    AutonomousTransferComplete,
    AutonomousTransferCompleteResponse,
    RequestDownload,
    RequestDownloadResponse,
    DuStateChangeComplete,
    DuStateChangeCompleteResponse,
    AutonomousDuStateChangeComplete,
    AutonomousDuStateChangeCompleteResponse,
    Kicked,
    KickedResponse,
);

impl From<Fault> for Body {
    fn from(f: Fault) -> Body {
        Body::Fault(f)
    }
}
