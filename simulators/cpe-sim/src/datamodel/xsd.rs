//! The TR-106 value types a parameter can have, and how a value's text is checked against them.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;

/// The type of a parameter, as the data-model templates and TR-106 name it.
///
/// Derived TR-106 types (IPAddress, MACAddress, lists, enumerations, URLs …) are all `String`:
/// that is how they travel on the wire (`xsd:string`, PROTOCOL §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum XsdType {
    String,
    Int,
    UnsignedInt,
    Long,
    UnsignedLong,
    Boolean,
    DateTime,
    Base64,
    HexBinary,
}

/// Why a value's text is not a value of its type (CWMP fault 9006).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotOfType;

impl XsdType {
    /// The name used in the templates and in TR-106 (`unsignedInt`, `base64`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            XsdType::String => "string",
            XsdType::Int => "int",
            XsdType::UnsignedInt => "unsignedInt",
            XsdType::Long => "long",
            XsdType::UnsignedLong => "unsignedLong",
            XsdType::Boolean => "boolean",
            XsdType::DateTime => "dateTime",
            XsdType::Base64 => "base64",
            XsdType::HexBinary => "hexBinary",
        }
    }

    /// The XML Schema local name that goes into `xsi:type` (`xsd:<this>`). Only `base64`
    /// differs from [`XsdType::as_str`]: TR-106 base64 is XML Schema `base64Binary`.
    pub fn xsd_local_name(self) -> &'static str {
        match self {
            XsdType::Base64 => "base64Binary",
            other => other.as_str(),
        }
    }

    /// Reads a type name as an ACS puts it in `xsi:type`: with or without a prefix
    /// (`xsd:int`, `int`), and both `base64` and `base64Binary`.
    pub fn from_xsi_type(name: &str) -> Option<XsdType> {
        let local = name.rsplit(':').next().unwrap_or(name);
        Some(match local {
            "string" => XsdType::String,
            "int" => XsdType::Int,
            "unsignedInt" => XsdType::UnsignedInt,
            "long" => XsdType::Long,
            "unsignedLong" => XsdType::UnsignedLong,
            "boolean" => XsdType::Boolean,
            "dateTime" => XsdType::DateTime,
            "base64" | "base64Binary" => XsdType::Base64,
            "hexBinary" => XsdType::HexBinary,
            _ => return None,
        })
    }

    /// The value range of the integer types, `None` for the others.
    fn integer_range(self) -> Option<(i128, i128)> {
        match self {
            XsdType::Int => Some((i32::MIN.into(), i32::MAX.into())),
            XsdType::UnsignedInt => Some((0, u32::MAX.into())),
            XsdType::Long => Some((i64::MIN.into(), i64::MAX.into())),
            XsdType::UnsignedLong => Some((0, u64::MAX.into())),
            _ => None,
        }
    }

    pub(crate) fn is_integer(self) -> bool {
        self.integer_range().is_some()
    }

    /// Checks that `text` is a value of this type and returns its stored form: booleans become
    /// `true`/`false` (the XML Schema canonical form, whatever of `true/false/1/0` in any case
    /// the ACS sent), integers lose a leading `+`, everything else is kept as sent.
    pub(crate) fn canonical(self, text: &str) -> Result<Cow<'_, str>, NotOfType> {
        match self {
            XsdType::String => Ok(Cow::Borrowed(text)),
            // TR-106 allows unknown and relative times and real CPEs send worse (PROTOCOL §6):
            // a dateTime is stored as the text it came as.
            XsdType::DateTime => Ok(Cow::Borrowed(text)),
            XsdType::Boolean => {
                if text.eq_ignore_ascii_case("true") || text == "1" {
                    Ok(Cow::Borrowed("true"))
                } else if text.eq_ignore_ascii_case("false") || text == "0" {
                    Ok(Cow::Borrowed("false"))
                } else {
                    Err(NotOfType)
                }
            }
            XsdType::Base64 => {
                let ok = text.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'+' | b'/' | b'=')
                        || b.is_ascii_whitespace()
                });
                if ok {
                    Ok(Cow::Borrowed(text))
                } else {
                    Err(NotOfType)
                }
            }
            XsdType::HexBinary => {
                if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(Cow::Borrowed(text))
                } else {
                    Err(NotOfType)
                }
            }
            XsdType::Int | XsdType::UnsignedInt | XsdType::Long | XsdType::UnsignedLong => {
                let n = parse_integer(text).ok_or(NotOfType)?;
                let (min, max) = self.integer_range().ok_or(NotOfType)?;
                if n < min || n > max {
                    return Err(NotOfType);
                }
                if text.starts_with('+') || (n == 0 && text.starts_with('-')) {
                    Ok(Cow::Owned(n.to_string()))
                } else {
                    Ok(Cow::Borrowed(text))
                }
            }
        }
    }
}

/// An XML Schema integer literal: optional sign, then digits only (no spaces, no `0x`).
pub(crate) fn parse_integer(text: &str) -> Option<i128> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for XsdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
