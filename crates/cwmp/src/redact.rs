//! Secrets out of a message's text, for what is kept for people to read (debug session
//! traces, logs): the values of password-like parameters in any `ParameterValueStruct`
//! (SetParameterValues, GetParameterValuesResponse, Inform), and every `Password` element
//! (Download, Upload, ScheduleDownload, ChangeDUState operations). Each secret's text becomes
//! `***`; everything else stays byte for byte as it was, prefixes, order and whitespace
//! included, since that is what a trace is for.
//!
//! A message that is not well-formed XML cannot be told apart into secrets and the rest, so
//! it is an error: the caller keeps nothing of it.

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::charset;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::xml::tree::MAX_DEPTH;

/// What a redacted secret reads as.
pub const REDACTED: &str = "***";

/// Whether a parameter's value is a secret, by its path: the last segment names a password,
/// passphrase, secret, pre-shared or private key (`ConnectionRequestPassword`,
/// `KeyPassphrase`, `RadiusSecret`, `PreSharedKey`, `X_..._PSK`), or a key of a Wi-Fi or
/// security object (`WEPKey.1.WEPKey`, `Security.X_..._WPAKey`). Case does not matter.
/// `ManagementServer.ParameterKey` is not a secret.
pub fn is_secret_parameter(path: &str) -> bool {
    let path = path.to_ascii_lowercase();
    let last = path
        .trim_end_matches('.')
        .rsplit('.')
        .next()
        .unwrap_or_default();
    let named = [
        "password",
        "passphrase",
        "secret",
        "psk",
        "presharedkey",
        "privatekey",
        "wepkey",
    ]
    .iter()
    .any(|word| last.contains(word));
    let wifi_key = last.contains("key")
        && ["wlanconfiguration", "wifi", "security", "wep", "wpa"]
            .iter()
            .any(|object| path.contains(object));
    named || wifi_key
}

/// `bytes` (in the charset its Content-Type, BOM or XML declaration names) as UTF-8 text
/// with every secret replaced by [`REDACTED`]. An empty body is an empty string.
pub fn redact_message(bytes: &[u8], content_type: Option<&str>) -> Result<String, DecodeError> {
    let text = charset::to_utf8(bytes, content_type)?;
    Ok(redact(&text)?.into_owned())
}

/// One open element: its local name, where its content starts, and for a
/// `ParameterValueStruct` what its `Name` said and where its `Value`'s text is.
struct Open<'a> {
    local: &'a str,
    content_start: usize,
    name: Option<Cow<'a, str>>,
    value: Option<(usize, usize)>,
}

/// `text` with every secret replaced by [`REDACTED`] (see the module docs); borrowed when it
/// holds none.
pub fn redact(text: &str) -> Result<Cow<'_, str>, DecodeError> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut open: Vec<Open<'_>> = Vec::new();
    // byte ranges of secret text, in document order, never overlapping
    let mut secrets: Vec<(usize, usize)> = Vec::new();
    loop {
        let before = position(&reader);
        let event = reader.read_event().map_err(|e| {
            DecodeError::at(
                text,
                position_u64(reader.error_position()),
                DecodeErrorKind::Xml(e.to_string()),
            )
        })?;
        let after = position(&reader);
        match event {
            Event::Start(e) => {
                if open.len() >= MAX_DEPTH {
                    return Err(DecodeError::at(
                        text,
                        before,
                        DecodeErrorKind::TooDeep(MAX_DEPTH),
                    ));
                }
                let qname = text
                    .get(before + 1..before + 1 + e.name().as_ref().len())
                    .unwrap_or_default();
                open.push(Open {
                    local: local_name(qname),
                    content_start: after,
                    name: None,
                    value: None,
                });
            }
            Event::End(_) => {
                let Some(closed) = open.pop() else { continue };
                let content = (closed.content_start, before);
                let parent = open.last_mut();
                match (closed.local, parent) {
                    ("Password", _) => secrets.push(content),
                    ("Name", Some(p)) if p.local == "ParameterValueStruct" => {
                        let raw = text.get(content.0..content.1).unwrap_or_default();
                        p.name = Some(
                            quick_xml::escape::unescape(raw.trim())
                                .unwrap_or(Cow::Borrowed(raw.trim())),
                        );
                    }
                    ("Value", Some(p)) if p.local == "ParameterValueStruct" => {
                        p.value = Some(content);
                    }
                    ("ParameterValueStruct", _) => {
                        if let (Some(name), Some(value)) = (&closed.name, closed.value)
                            && is_secret_parameter(name)
                        {
                            secrets.push(value);
                        }
                    }
                    _ => {}
                }
            }
            Event::DocType(_) => {
                return Err(DecodeError::at(text, before, DecodeErrorKind::DocType));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(still_open) = open.last() {
        return Err(DecodeError::at(
            text,
            text.len(),
            DecodeErrorKind::UnexpectedEof(still_open.local.to_owned()),
        ));
    }
    if secrets.is_empty() {
        return Ok(Cow::Borrowed(text));
    }
    // a Value's span ends where its parent's Name is read, so sort before splicing
    secrets.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end) in secrets {
        if start < copied || end < start {
            continue;
        }
        out.push_str(&text[copied..start]);
        if start < end {
            out.push_str(REDACTED);
        }
        copied = end;
    }
    out.push_str(&text[copied..]);
    Ok(Cow::Owned(out))
}

fn local_name(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

fn position(reader: &Reader<&[u8]>) -> usize {
    position_u64(reader.buffer_position())
}

fn position_u64(p: u64) -> usize {
    usize::try_from(p).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_parameters_by_name() {
        for secret in [
            "InternetGatewayDevice.ManagementServer.ConnectionRequestPassword",
            "Device.ManagementServer.Password",
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PreSharedKey.1.KeyPassphrase",
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PreSharedKey.1.PreSharedKey",
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.WEPKey.1.WEPKey",
            "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
            "Device.WiFi.AccessPoint.1.Security.SAEPassphrase",
            "Device.WiFi.AccessPoint.1.Security.RadiusSecret",
            "Device.WiFi.AccessPoint.1.Security.X_ACME_WPAKey",
            "Device.Security.Certificate.1.X_ACME_PrivateKey",
            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.password",
        ] {
            assert!(is_secret_parameter(secret), "{secret}");
        }
        for plain in [
            "InternetGatewayDevice.ManagementServer.ParameterKey",
            "InternetGatewayDevice.ManagementServer.ConnectionRequestUsername",
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID",
            "Device.DeviceInfo.SerialNumber",
        ] {
            assert!(!is_secret_parameter(plain), "{plain}");
        }
    }

    #[test]
    fn secrets_are_replaced_and_the_rest_kept_byte_for_byte() {
        let spv = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soapenv:Body><cwmp:SetParameterValues><ParameterList>
  <ParameterValueStruct><Name>Device.ManagementServer.ConnectionRequestPassword</Name><Value xsi:type="xsd:string">s3&amp;cret</Value></ParameterValueStruct>
  <ParameterValueStruct><Value>in-order-reversed</Value><Name>Device.WiFi.AccessPoint.1.Security.KeyPassphrase</Name></ParameterValueStruct>
  <ParameterValueStruct><Name>Device.WiFi.SSID.1.SSID</Name><Value>visible</Value></ParameterValueStruct>
  <ParameterValueStruct><Name>Device.ManagementServer.Password</Name><Value/></ParameterValueStruct>
</ParameterList><ParameterKey>pk</ParameterKey></cwmp:SetParameterValues></soapenv:Body></soapenv:Envelope>"#;
        let out = redact(spv).unwrap();
        assert_eq!(
            out,
            spv.replace("s3&amp;cret", "***")
                .replace("in-order-reversed", "***")
        );
        let download = "<Envelope><Body><cwmp:Download><Username>u</Username><Password>p&lt;w</Password><URL>http://x/</URL></cwmp:Download><cwmp:ChangeDUState><Operations><InstallOpStruct><Password>du</Password></InstallOpStruct></Operations></cwmp:ChangeDUState></Body></Envelope>";
        assert_eq!(
            redact(download).unwrap(),
            download.replace("p&lt;w", "***").replace(">du<", ">***<")
        );
        let plain = "<Envelope><Body><cwmp:Reboot><CommandKey>k</CommandKey></cwmp:Reboot></Body></Envelope>";
        assert!(matches!(redact(plain).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn what_cannot_be_parsed_is_an_error_not_a_guess() {
        for bad in [
            "<Envelope><Password>open",
            "<a><Password>x</b></a>",
            "<!DOCTYPE x [<!ENTITY e 'x'>]><x/>",
        ] {
            assert!(redact(bad).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(redact(&deep).is_err());
        assert_eq!(redact_message(b"", None).unwrap(), "");
    }

    #[test]
    fn iso_8859_1_bodies_come_back_as_utf8() {
        let body = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a><Password>\xe9t\xe9</Password><b>caf\xe9</b></a>";
        let out = redact_message(body, None).unwrap();
        assert!(
            out.ends_with("<a><Password>***</Password><b>caf\u{e9}</b></a>"),
            "{out}"
        );
    }
}
