//! CWMP (TR-069 Amendment 6, CWMP 1.0–1.4) messages: decode what real CPEs send, encode what
//! the ACS (or a simulated CPE) answers. No I/O, no async, no clock.
//!
//! # Shape
//!
//! * [`decode`]`(bytes, content_type) -> Result<`[`Decoded`]`, `[`DecodeError`]`>`: an empty
//!   POST is [`Decoded::EmptyBody`]; otherwise an [`Envelope`] with its [`Header`]
//!   (`cwmp:ID`, HoldRequests, NoMoreRequests, SessionTimeout, SupportedCWMPVersions,
//!   UseCWMPVersion), its cwmp [`Namespace`] and a [`Body`]: one variant per RPC in both
//!   directions, [`Body::Fault`], or [`Body::Unknown`] with the element name (answer 8000).
//! * [`Envelope::encode`]`(&EncodeOptions) -> Vec<u8>`: fixed prefixes, XML declaration
//!   (switchable), booleans as `0/1` (or `true/false`), exact array counts.
//! * Replies: [`Envelope::reply`] copies namespace and `cwmp:ID`; [`Envelope::inform_reply`]
//!   builds the InformResponse (with `UseCWMPVersion` after [`negotiate`], or fault 8006).
//! * Values: [`Value`] keeps the `xsi:type`, the raw text and the parsed [`Typed`] value;
//!   bad values are marked [`Typed::Invalid`], never fatal. Dates are [`XsdDateTime`].
//! * Faults: [`Fault`] with [`CwmpFault`] detail and [`SetParameterValuesFault`] lists;
//!   [`FaultCode`] knows the 8000–8006 and 9000–9032 tables.
//!
//! ```
//! let body = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
//!     xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Body><cwmp:GetRPCMethods/></soap:Body>
//!     </soap:Envelope>"#;
//! let cwmp::Decoded::Envelope(request) = cwmp::decode(body, Some("text/xml")).unwrap() else {
//!     panic!("not an envelope");
//! };
//! let methods = vec!["Inform".to_owned(), "TransferComplete".to_owned()];
//! let reply = request.reply(cwmp::GetRpcMethodsResponse { method_list: methods });
//! let bytes = reply.encode(&cwmp::EncodeOptions::default());
//! assert!(bytes.starts_with(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
//! ```
//!
//! # Tolerance and safety
//!
//! Elements are matched by namespace-resolved local name, in any order, qualified or not;
//! any envelope prefix; header absent or empty; array counts ignored; `faultcode` read by
//! local part; UTF-8, ISO-8859-1 and UTF-16 bodies. A DOCTYPE is refused (no entity
//! expansion). Decoding never panics, does not recurse, and allocates in proportion to the
//! input; errors say what was wrong and at which line and column.

mod body;
pub mod charset;
mod envelope;
mod error;
mod fault;
mod header;
mod namespace;
mod redact;
mod rpc;
mod value;
mod xml;

pub use body::{Body, Direction, Method};
pub use envelope::{BooleanStyle, Decoded, EncodeOptions, Envelope, decode};
pub use error::{DecodeError, DecodeErrorKind, Position};
pub use fault::{CwmpFault, Fault, FaultClass, FaultCode, SetParameterValuesFault};
pub use header::Header;
pub use namespace::{CwmpVersion, Namespace, method_since, negotiate};
pub use redact::{REDACTED, is_secret_parameter, redact, redact_message};
pub use rpc::*;
pub use value::{TimeValue, Typed, Value, XsdDateTime, XsdType, parse_bool, parse_date_time};
