//! `cargo fuzz run decode` (nightly): `cwmp::decode` must never panic, hang or allocate
//! without bound, whatever the bytes and whatever the Content-Type says. Whatever decodes
//! must also re-encode and decode again to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the Content-Type, as an HTTP header would.
    let (content_type, body) = match data.split_first() {
        Some((0, rest)) => (None, rest),
        Some((1, rest)) => (Some("text/xml; charset=ISO-8859-1"), rest),
        Some((2, rest)) => (Some("text/xml; charset=utf-16"), rest),
        Some((_, rest)) => (Some("text/xml; charset=utf-8"), rest),
        None => (None, data),
    };
    if let Ok(cwmp::Decoded::Envelope(envelope)) = cwmp::decode(body, content_type) {
        let bytes = envelope.encode(&cwmp::EncodeOptions::default());
        match cwmp::decode(&bytes, None) {
            Ok(cwmp::Decoded::Envelope(again)) => {
                // Values that arrived as `true` re-encode as `1`; compare encodings, which are
                // canonical, rather than the raw structs.
                assert_eq!(again.encode(&cwmp::EncodeOptions::default()), bytes);
            }
            other => panic!("re-encoded message does not decode: {other:?}"),
        }
    }
});
