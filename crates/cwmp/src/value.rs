//! Parameter values and xsd scalar types (PROTOCOL §6).
//!
//! A [`Value`] keeps the text exactly as the CPE sent it and, beside it, the parsed value of
//! its `xsi:type`. A value that does not parse is kept and marked [`Typed::Invalid`]: one bad
//! value never fails a whole message (`0000-00-00T00:00:00` from Thomson, `2019-03-05T11:54::14`
//! from Cytco, PROTOCOL §15.17).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

/// The `xsi:type` of a value (local part; the prefix a CPE used is not kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum XsdType {
    /// `xsd:string`, and the type of a value without `xsi:type`.
    String,
    /// `xsd:int` (32-bit signed).
    Int,
    /// `xsd:unsignedInt` (32-bit unsigned).
    UnsignedInt,
    /// `xsd:long` (64-bit signed).
    Long,
    /// `xsd:unsignedLong` (64-bit unsigned).
    UnsignedLong,
    /// `xsd:boolean`.
    Boolean,
    /// `xsd:dateTime`.
    DateTime,
    /// `xsd:base64Binary` (also read from `SOAP-ENC:base64`).
    Base64,
    /// `xsd:hexBinary`.
    HexBinary,
    /// Any other type name, kept as its local part (e.g. `float`); encoded with `xsd:`.
    Other(String),
}

impl XsdType {
    /// Reads an `xsi:type` attribute value such as `xsd:string` or `SOAP-ENC:base64`.
    pub fn from_attr(value: &str) -> XsdType {
        let value = value.trim();
        let local = value.rsplit_once(':').map_or(value, |(_, l)| l);
        match local {
            "string" => XsdType::String,
            "int" => XsdType::Int,
            "unsignedInt" => XsdType::UnsignedInt,
            "long" => XsdType::Long,
            "unsignedLong" => XsdType::UnsignedLong,
            "boolean" => XsdType::Boolean,
            "dateTime" => XsdType::DateTime,
            "base64Binary" | "base64" => XsdType::Base64,
            "hexBinary" => XsdType::HexBinary,
            other => XsdType::Other(other.to_owned()),
        }
    }

    /// The local type name as encoded after `xsd:`.
    pub fn name(&self) -> &str {
        match self {
            XsdType::String => "string",
            XsdType::Int => "int",
            XsdType::UnsignedInt => "unsignedInt",
            XsdType::Long => "long",
            XsdType::UnsignedLong => "unsignedLong",
            XsdType::Boolean => "boolean",
            XsdType::DateTime => "dateTime",
            XsdType::Base64 => "base64Binary",
            XsdType::HexBinary => "hexBinary",
            XsdType::Other(name) => name,
        }
    }
}

/// A parameter value: declared type, the text as sent, and the parsed value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The `xsi:type` (`String` when the CPE sent none).
    pub xsd_type: XsdType,
    /// The text exactly as it was in the message (entities resolved, nothing trimmed).
    pub raw: String,
    /// `raw` parsed as `xsd_type`.
    pub typed: Typed,
}

/// A value parsed according to its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    /// A string; the text is [`Value::raw`].
    String,
    Int(i32),
    UnsignedInt(u32),
    Long(i64),
    UnsignedLong(u64),
    Boolean(bool),
    DateTime(TimeValue),
    Base64(Vec<u8>),
    HexBinary(Vec<u8>),
    /// A type this crate does not interpret; the text is [`Value::raw`].
    Other,
    /// The text does not parse as the declared type; the text is [`Value::raw`].
    Invalid,
}

impl Value {
    /// Parses `raw` as `xsd_type`, marking it [`Typed::Invalid`] if it does not parse.
    pub fn parse(xsd_type: XsdType, raw: impl Into<String>) -> Value {
        let raw = raw.into();
        let typed = typed(&xsd_type, &raw);
        Value {
            xsd_type,
            raw,
            typed,
        }
    }

    /// An `xsd:string`.
    pub fn string(s: impl Into<String>) -> Value {
        Value {
            xsd_type: XsdType::String,
            raw: s.into(),
            typed: Typed::String,
        }
    }

    /// An `xsd:int`.
    pub fn int(v: i32) -> Value {
        Value {
            xsd_type: XsdType::Int,
            raw: v.to_string(),
            typed: Typed::Int(v),
        }
    }

    /// An `xsd:unsignedInt`.
    pub fn unsigned_int(v: u32) -> Value {
        Value {
            xsd_type: XsdType::UnsignedInt,
            raw: v.to_string(),
            typed: Typed::UnsignedInt(v),
        }
    }

    /// An `xsd:long`.
    pub fn long(v: i64) -> Value {
        Value {
            xsd_type: XsdType::Long,
            raw: v.to_string(),
            typed: Typed::Long(v),
        }
    }

    /// An `xsd:unsignedLong`.
    pub fn unsigned_long(v: u64) -> Value {
        Value {
            xsd_type: XsdType::UnsignedLong,
            raw: v.to_string(),
            typed: Typed::UnsignedLong(v),
        }
    }

    /// An `xsd:boolean`. The raw text is `1`/`0`; the encoder writes the boolean in the
    /// style of its [`crate::EncodeOptions`].
    pub fn boolean(v: bool) -> Value {
        Value {
            xsd_type: XsdType::Boolean,
            raw: if v { "1" } else { "0" }.to_owned(),
            typed: Typed::Boolean(v),
        }
    }

    /// An `xsd:dateTime`.
    pub fn date_time(t: XsdDateTime) -> Value {
        let typed = t.parsed.clone().map_or(Typed::Invalid, Typed::DateTime);
        Value {
            xsd_type: XsdType::DateTime,
            raw: t.raw,
            typed,
        }
    }

    /// An `xsd:base64Binary`.
    pub fn base64(bytes: &[u8]) -> Value {
        Value {
            xsd_type: XsdType::Base64,
            raw: base64_encode(bytes),
            typed: Typed::Base64(bytes.to_vec()),
        }
    }

    /// An `xsd:hexBinary` (upper-case digits).
    pub fn hex_binary(bytes: &[u8]) -> Value {
        let raw = hex::encode_upper(bytes);
        Value {
            xsd_type: XsdType::HexBinary,
            raw,
            typed: Typed::HexBinary(bytes.to_vec()),
        }
    }

    /// Whether the text did not parse as its declared type.
    pub fn is_invalid(&self) -> bool {
        self.typed == Typed::Invalid
    }
}

fn typed(xsd_type: &XsdType, raw: &str) -> Typed {
    let t = raw.trim();
    let parsed = match xsd_type {
        XsdType::String => return Typed::String,
        XsdType::Other(_) => return Typed::Other,
        XsdType::Int => parse_int(t).map(Typed::Int),
        XsdType::UnsignedInt => parse_int(t).map(Typed::UnsignedInt),
        XsdType::Long => parse_int(t).map(Typed::Long),
        XsdType::UnsignedLong => parse_int(t).map(Typed::UnsignedLong),
        XsdType::Boolean => parse_bool(t).map(Typed::Boolean),
        XsdType::DateTime => parse_date_time(t).map(Typed::DateTime),
        XsdType::Base64 => base64_decode(t).map(Typed::Base64),
        XsdType::HexBinary => hex::decode(t).ok().map(Typed::HexBinary),
    };
    parsed.unwrap_or(Typed::Invalid)
}

/// Integers as CPEs write them: surrounding whitespace, a `+`, leading zeros (`00`, `05`:
/// Thomson RetryCount, PROTOCOL §15.17).
pub(crate) fn parse_int<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.trim().parse().ok()
}

/// `true`/`false`/`1`/`0` in any case (PROTOCOL §6).
pub fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s == "1" || s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s == "0" || s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A parsed `xsd:dateTime`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeValue {
    /// `0001-01-01T00:00:00Z`: TR-106's "Unknown Time" (e.g. Download times not yet known).
    Unknown,
    /// A time with a zone (`Z` or `±hh:mm`).
    Zoned(DateTime<FixedOffset>),
    /// A time without a zone. TR-106 §3.2: with a year before 1000 it counts time since boot
    /// from `0001-01-01T00:00:00`; otherwise CPEs mean UTC or local time (ZyXEL sends
    /// `2015-01-19T23:08:24`).
    Unzoned(NaiveDateTime),
}

/// An `xsd:dateTime` field: the text as sent, and its parse if it parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XsdDateTime {
    /// The text exactly as sent.
    pub raw: String,
    /// `None` for invalid text (`0000-00-00T00:00:00`, `2019-03-05T11:54::14`).
    pub parsed: Option<TimeValue>,
}

impl XsdDateTime {
    /// Parses text leniently; never fails.
    pub fn parse(raw: impl Into<String>) -> XsdDateTime {
        let raw = raw.into();
        let parsed = parse_date_time(&raw);
        XsdDateTime { raw, parsed }
    }

    /// `0001-01-01T00:00:00Z`, the Unknown Time.
    pub fn unknown() -> XsdDateTime {
        XsdDateTime {
            raw: "0001-01-01T00:00:00Z".to_owned(),
            parsed: Some(TimeValue::Unknown),
        }
    }

    /// A UTC time written as `2024-05-01T12:00:00Z` (fractions when not whole seconds).
    pub fn from_utc(t: DateTime<chrono::Utc>) -> XsdDateTime {
        let raw = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        XsdDateTime::parse(raw)
    }
}

/// Lenient dateTime parsing: zone optional, any number of fraction digits (nanoseconds
/// kept), `T`/`t`/space as separator. Hand-written because it runs for every Inform and
/// every dateTime value, and chrono's format-string parser was a visible share of decode.
pub fn parse_date_time(s: &str) -> Option<TimeValue> {
    let b = s.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let mut at = 19;
    let mut nanos = 0u32;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let digits = b[at..].iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        // Nanosecond precision; further digits are dropped.
        for (k, &d) in b[at..at + digits].iter().take(9).enumerate() {
            nanos += u32::from(d - b'0') * 10u32.pow(8 - k as u32);
        }
        at += digits;
    }
    let time =
        chrono::NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)?;
    let naive = NaiveDateTime::new(date, time);
    let offset_secs = match &b[at..] {
        [] => return Some(TimeValue::Unzoned(naive)),
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let secs =
                i32::try_from(num(at + 1..at + 3)? * 3600 + num(at + 4..at + 6)? * 60).ok()?;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let zoned = FixedOffset::east_opt(offset_secs)?
        .from_local_datetime(&naive)
        .single()?;
    if offset_secs == 0 && zoned.timestamp() == UNKNOWN_TIME_SECS && nanos == 0 {
        return Some(TimeValue::Unknown);
    }
    Some(TimeValue::Zoned(zoned))
}

/// Seconds from the Unix epoch to 0001-01-01T00:00:00Z.
const UNKNOWN_TIME_SECS: i64 = -62_135_596_800;

/// Standard alphabet, padded on encode; on decode padding may be absent or short and the
/// unused low bits of the last character need not be zero, as CPEs write it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Decodes base64, ignoring whitespace (line-wrapped values); `None` on any other junk.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    if s.bytes().any(|c| c.is_ascii_whitespace()) {
        let joined: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        BASE64.decode(joined).ok()
    } else {
        BASE64.decode(s).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_date_times_are_kept_and_classified() {
        assert_eq!(
            parse_date_time("0001-01-01T00:00:00Z"),
            Some(TimeValue::Unknown)
        );
        assert!(matches!(
            parse_date_time("2015-01-19T23:08:24"),
            Some(TimeValue::Unzoned(_))
        ));
        assert!(matches!(
            parse_date_time("1969-12-31T16:00:00.000000+00:00"),
            Some(TimeValue::Zoned(_))
        ));
        assert_eq!(parse_date_time("0000-00-00T00:00:00"), None);
        assert_eq!(parse_date_time("2019-03-05T11:54::14"), None);
    }

    #[test]
    fn base64_round_trips() {
        for len in 0..10 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)), Some(bytes));
        }
        assert_eq!(base64_encode(b"AB"), "QUI=");
    }

    #[test]
    fn base64_is_read_as_cpes_write_it() {
        let decode = |s: &str| base64_decode(s).map(|b| String::from_utf8(b).unwrap());
        // line-wrapped, indented, CRLF
        assert_eq!(
            decode(" QUJD\r\n REVG\n\tR0g= ").as_deref(),
            Some("ABCDEFGH")
        );
        // padding absent or short
        assert_eq!(decode("QUI").as_deref(), Some("AB"));
        assert_eq!(decode("QQ").as_deref(), Some("A"));
        assert_eq!(decode("QQ=").as_deref(), Some("A"));
        // unused low bits not zero
        assert_eq!(decode("QR==").as_deref(), Some("A"));
        assert_eq!(decode("").as_deref(), Some(""));
        // junk stays junk
        for bad in ["QQ===", "QQ==QQ==", "QU*D", "QUJD-_"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn hex_binary_in_either_case() {
        assert_eq!(Value::hex_binary(&[0x0a, 0xff]).raw, "0AFF");
        let typed = |raw: &str| Value::parse(XsdType::HexBinary, raw).typed;
        assert_eq!(typed(" 0aFf "), Typed::HexBinary(vec![0x0a, 0xff]));
        assert_eq!(typed("0AF"), Typed::Invalid);
        assert_eq!(typed("0G"), Typed::Invalid);
    }

    #[test]
    fn booleans_in_any_case() {
        assert_eq!(parse_bool(" TRUE "), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("-1"), None);
    }
}
