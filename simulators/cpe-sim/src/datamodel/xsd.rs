//! The TR-106 value types a parameter can have, and how a value's text is checked against them.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

/// The type of a parameter: the codec's [`cwmp::XsdType`], so that a value read from a
/// template, checked here and sent in a message carries one type from end to end.
///
/// Derived TR-106 types (IPAddress, MACAddress, lists, enumerations, URLs …) are all `String`:
/// that is how they travel on the wire (`xsd:string`, PROTOCOL §6). The data model never
/// holds [`XsdType::Other`]: templates and SetParameterValues only name the nine TR-106 types.
pub use cwmp::XsdType;

/// Why a value's text is not a value of its type (CWMP fault 9006).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotOfType;

/// What the data model needs of a type beyond the codec's naming: reading only the nine
/// known names, and the value checks behind fault 9006.
pub trait TypeRules: Sized {
    /// Reads a type name as an ACS puts it in `xsi:type` or a template writes it: with or
    /// without a prefix (`xsd:int`, `int`), and both `base64` and `base64Binary`. `None` for
    /// any other name.
    fn from_xsi_type(name: &str) -> Option<Self>;
    /// The value range of the integer types, `None` for the others.
    fn integer_range(&self) -> Option<(i128, i128)>;
    fn is_integer(&self) -> bool {
        self.integer_range().is_some()
    }
    /// Checks that `text` is a value of this type and returns its stored form.
    fn canonical<'t>(&self, text: &'t str) -> Result<Cow<'t, str>, NotOfType>;
}

impl TypeRules for XsdType {
    fn from_xsi_type(name: &str) -> Option<XsdType> {
        match XsdType::from_attr(name) {
            XsdType::Other(_) => None,
            known => Some(known),
        }
    }

    fn integer_range(&self) -> Option<(i128, i128)> {
        match self {
            XsdType::Int => Some((i32::MIN.into(), i32::MAX.into())),
            XsdType::UnsignedInt => Some((0, u32::MAX.into())),
            XsdType::Long => Some((i64::MIN.into(), i64::MAX.into())),
            XsdType::UnsignedLong => Some((0, u64::MAX.into())),
            _ => None,
        }
    }

    /// Booleans become `true`/`false` (the XML Schema canonical form, whatever of
    /// `true/false/1/0` in any case the ACS sent), integers lose a leading `+`, everything
    /// else is kept as sent.
    fn canonical<'t>(&self, text: &'t str) -> Result<Cow<'t, str>, NotOfType> {
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
            XsdType::Other(_) => Err(NotOfType),
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

/// Reads a template's `"type"` (`"unsignedInt"`, `"base64"` …); any other name is an error.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<XsdType, D::Error> {
    let name = String::deserialize(d)?;
    XsdType::from_xsi_type(&name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown parameter type {name:?}")))
}
