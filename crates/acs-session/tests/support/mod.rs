//! What the engine suites (`engine.rs` over a fake backend, `engine_store.rs` over a real
//! store) share: the envelope and the Inform a test CPE sends, a message posted into a session
//! as the CPE listener would, and the body of the envelope the engine answered with.

use acs_session::engine::{Engine, Reply, RequestContext, Session, SessionBackend};
use chrono::{DateTime, Utc};
use cwmp::{Body, Decoded};

/// `message` (an envelope, or the empty POST) into `session` at `now`, from no particular peer.
pub async fn post<B: SessionBackend>(
    engine: &Engine<B>,
    session: &mut Session,
    message: Decoded,
    now: DateTime<Utc>,
) -> Reply {
    engine
        .handle(session, message, &RequestContext::default(), now)
        .await
}

/// An envelope the test wrote, decoded as the listener decodes a CPE's POST.
pub fn decoded(bytes: &[u8]) -> Decoded {
    cwmp::decode(bytes, Some("text/xml")).expect("decodes")
}

/// The body of the envelope the engine answered with; anything else fails the test.
pub fn body_of(reply: &Reply) -> Body {
    let Reply::Envelope(bytes) = reply else {
        panic!("expected an envelope, got {reply:?}")
    };
    match decoded(bytes) {
        Decoded::Envelope(e) => e.body,
        Decoded::EmptyBody => panic!("empty"),
    }
}

/// `body` in a CWMP 1.0 envelope with `cwmp:ID` 7.
pub fn envelope(body: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Header><cwmp:ID soap:mustUnderstand="1">7</cwmp:ID></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

/// The Inform of device `SN1` (SimNet, OUI A1B2C3, class SG) with `events` (code, command key)
/// and its `ParameterKey`.
pub fn inform(events: &[(&str, &str)], parameter_key: &str) -> String {
    let ev: String = events
        .iter()
        .map(|(c, k)| {
            format!(
                "<EventStruct><EventCode>{c}</EventCode><CommandKey>{k}</CommandKey></EventStruct>"
            )
        })
        .collect();
    envelope(&format!(
        r#"<cwmp:Inform><DeviceId><Manufacturer>SimNet</Manufacturer><OUI>A1B2C3</OUI><ProductClass>SG</ProductClass><SerialNumber>SN1</SerialNumber></DeviceId><Event>{ev}</Event><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount><ParameterList><ParameterValueStruct><Name>InternetGatewayDevice.ManagementServer.ParameterKey</Name><Value xsi:type="xsd:string">{parameter_key}</Value></ParameterValueStruct><ParameterValueStruct><Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">1.0</Value></ParameterValueStruct></ParameterList></cwmp:Inform>"#
    ))
}
