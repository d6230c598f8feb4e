//! What the engine suites (`engine.rs` over a fake backend, `engine_store.rs` over a real
//! store) share: a message posted into a session as the CPE listener would, and the body of
//! the envelope the engine answered with.

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
