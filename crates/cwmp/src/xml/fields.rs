//! Typed reads of child elements, shared by every message decoder.
//!
//! Children are found by local name in any order. Numbers and booleans are trimmed and read
//! leniently; dates never fail; arrays ignore their `arrayType` count and item names
//! (`[0008]`, `[64]` with two items, `string[11]`: PROTOCOL §6).

use std::str::FromStr;

use crate::error::{DecodeError, DecodeErrorKind, excerpt};
use crate::value::{XsdDateTime, parse_bool, parse_int};
use crate::xml::tree::El;
use crate::xml::writer::Writer;

/// A struct that reads itself from an element and writes its children.
pub(crate) trait XmlStruct: Sized {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError>;
    fn write(&self, w: &mut Writer<'_>);
}

/// A number type and its xsd name, for the error that names what was expected.
pub(crate) trait XsdNumber: FromStr + std::fmt::Display {
    const XSD: &'static str;
}

impl XsdNumber for u32 {
    const XSD: &'static str = "unsignedInt";
}

impl XsdNumber for i32 {
    const XSD: &'static str = "int";
}

/// Declares a message struct and its [`XmlStruct`] impl from one field list: each field
/// names its element and how it is carried, and `read` (any order, tolerant) and `write`
/// (this order, the schema's sequence) are generated from it.
///
/// Kinds: `text` (required string), `text_or_empty` (absent = empty: CPEs omit
/// CommandKey, FaultString…), `text_opt` (`Option`), `number`/`number_or(default)` (`u32`
/// unsignedInt, `i32` int), `boolean`, `date_time`, `date_time_or_empty`, `fault_code`,
/// `strings` (a `string[n]` array), `array(item)` (a `cwmp:item[n]` array of structs),
/// `nested` (a struct child), `repeated` (every child of that name, each a struct),
/// `each` (every child of that name; the item writes its own element), `flatten` (the
/// struct's fields inline).
macro_rules! xml_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $field_vis:vis $field:ident: $ty:ty => $kind:ident($($arg:tt)*),
            )*
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty,)*
        }

        impl $crate::xml::fields::XmlStruct for $name {
            fn read(
                el: $crate::xml::tree::El<'_, '_>,
            ) -> Result<Self, $crate::error::DecodeError> {
                Ok($name {
                    $($field: $crate::xml::fields::read_field!(el, $kind($($arg)*)),)*
                })
            }

            fn write(&self, w: &mut $crate::xml::writer::Writer<'_>) {
                $($crate::xml::fields::write_field!(w, &self.$field, $kind($($arg)*));)*
            }
        }
    };
}
pub(crate) use xml_struct;

/// One field's read in [`xml_struct!`].
macro_rules! read_field {
    ($el:ident, text($n:literal)) => {
        $el.string($n)?
    };
    ($el:ident, text_or_empty($n:literal)) => {
        $el.string_or_empty($n)
    };
    ($el:ident, text_opt($n:literal)) => {
        $el.opt_string($n)
    };
    ($el:ident, number($n:literal)) => {
        $el.xsd_number($n)?
    };
    ($el:ident, number_or($n:literal, $default:expr)) => {
        $el.xsd_number_or($n, $default)?
    };
    ($el:ident, boolean($n:literal)) => {
        $el.boolean($n)?
    };
    ($el:ident, date_time($n:literal)) => {
        $el.date_time($n)?
    };
    ($el:ident, date_time_or_empty($n:literal)) => {
        $crate::value::XsdDateTime::parse($el.string_or_empty($n))
    };
    ($el:ident, fault_code($n:literal)) => {
        $crate::fault::FaultCode($el.xsd_number($n)?)
    };
    ($el:ident, strings($n:literal)) => {
        $el.strings($n)
    };
    ($el:ident, array($n:literal, $item:literal)) => {
        $el.list($n)?
    };
    ($el:ident, nested($n:literal)) => {
        <_ as $crate::xml::fields::XmlStruct>::read($el.req($n)?)?
    };
    ($el:ident, repeated($n:literal)) => {
        $el.repeated($n)?
    };
    ($el:ident, each($n:literal)) => {
        $el.repeated($n)?
    };
    ($el:ident, flatten()) => {
        <_ as $crate::xml::fields::XmlStruct>::read($el)?
    };
}
pub(crate) use read_field;

/// One field's write in [`xml_struct!`]; `$v` is a reference to the field.
macro_rules! write_field {
    ($w:ident, $v:expr, text($n:literal)) => {
        $w.str($n, $v)
    };
    ($w:ident, $v:expr, text_or_empty($n:literal)) => {
        $w.str($n, $v)
    };
    ($w:ident, $v:expr, text_opt($n:literal)) => {
        $w.opt_str($n, $v.as_deref())
    };
    ($w:ident, $v:expr, number($n:literal)) => {
        $w.num($n, $v)
    };
    ($w:ident, $v:expr, number_or($n:literal, $default:expr)) => {
        $w.num($n, $v)
    };
    ($w:ident, $v:expr, boolean($n:literal)) => {
        $w.bool($n, *$v)
    };
    ($w:ident, $v:expr, date_time($n:literal)) => {
        $w.str($n, &$v.raw)
    };
    ($w:ident, $v:expr, date_time_or_empty($n:literal)) => {
        $w.str($n, &$v.raw)
    };
    ($w:ident, $v:expr, fault_code($n:literal)) => {
        $w.num($n, $v.0)
    };
    ($w:ident, $v:expr, strings($n:literal)) => {
        $w.string_array($n, $v)
    };
    ($w:ident, $v:expr, array($n:literal, $item:literal)) => {
        $w.array($n, concat!("cwmp:", $item), $v, |w, x| {
            $crate::xml::fields::write_struct(w, $item, x)
        })
    };
    ($w:ident, $v:expr, nested($n:literal)) => {
        $crate::xml::fields::write_struct($w, $n, $v)
    };
    ($w:ident, $v:expr, repeated($n:literal)) => {
        for x in $v {
            $crate::xml::fields::write_struct($w, $n, x);
        }
    };
    ($w:ident, $v:expr, each($n:literal)) => {
        for x in $v {
            $crate::xml::fields::XmlStruct::write(x, $w);
        }
    };
    ($w:ident, $v:expr, flatten()) => {
        $crate::xml::fields::XmlStruct::write($v, $w)
    };
}
pub(crate) use write_field;

/// Writes `<name>…</name>` around a struct.
pub(crate) fn write_struct<T: XmlStruct>(w: &mut Writer<'_>, name: &str, value: &T) {
    w.open(name);
    value.write(w);
    w.close(name);
}

impl<'d, 'a> El<'d, 'a> {
    /// A required child.
    pub(crate) fn req(&self, child: &'static str) -> Result<El<'d, 'a>, DecodeError> {
        self.child(child).ok_or_else(|| {
            self.error(DecodeErrorKind::MissingElement {
                parent: excerpt(self.local()),
                child,
            })
        })
    }

    /// A required string child, text kept exactly.
    pub(crate) fn string(&self, child: &'static str) -> Result<String, DecodeError> {
        Ok(self.req(child)?.text().to_owned())
    }

    /// A string child whose absence CPEs get away with (CommandKey, FaultString…): empty.
    pub(crate) fn string_or_empty(&self, child: &str) -> String {
        self.child(child)
            .map(|c| c.text().to_owned())
            .unwrap_or_default()
    }

    /// An optional string child.
    pub(crate) fn opt_string(&self, child: &str) -> Option<String> {
        self.child(child).map(|c| c.text().to_owned())
    }

    /// A required number child (`int`, `unsignedInt`…), leading zeros allowed.
    pub(crate) fn number<T: FromStr>(
        &self,
        child: &'static str,
        expected: &'static str,
    ) -> Result<T, DecodeError> {
        self.req(child)?.parse_number(expected)
    }

    /// A required number child, its xsd type named by `T`.
    pub(crate) fn xsd_number<T: XsdNumber>(&self, child: &'static str) -> Result<T, DecodeError> {
        self.number(child, T::XSD)
    }

    /// A number child whose absence means `default` (Inform's MaxEnvelopes, RetryCount).
    pub(crate) fn xsd_number_or<T: XsdNumber>(
        &self,
        child: &'static str,
        default: T,
    ) -> Result<T, DecodeError> {
        self.child(child)
            .map_or(Ok(default), |c| c.parse_number(T::XSD))
    }

    /// This element's text as a number.
    pub(crate) fn parse_number<T: FromStr>(
        &self,
        expected: &'static str,
    ) -> Result<T, DecodeError> {
        parse_int(self.text()).ok_or_else(|| self.invalid(expected))
    }

    /// A required boolean child.
    pub(crate) fn boolean(&self, child: &'static str) -> Result<bool, DecodeError> {
        let el = self.req(child)?;
        parse_bool(el.text()).ok_or_else(|| el.invalid("boolean"))
    }

    /// A required dateTime child; its text never fails to decode.
    pub(crate) fn date_time(&self, child: &'static str) -> Result<XsdDateTime, DecodeError> {
        Ok(XsdDateTime::parse(self.req(child)?.text()))
    }

    /// The items of an array child; an absent array is empty.
    pub(crate) fn list<T: XmlStruct>(&self, child: &str) -> Result<Vec<T>, DecodeError> {
        match self.child(child) {
            Some(array) => array.children().map(T::read).collect(),
            None => Ok(Vec::new()),
        }
    }

    /// Every child with this name, for the repeated (non-array) elements of
    /// ChangeDUState/`Operations` and DUStateChangeComplete/`Results`.
    pub(crate) fn repeated<T: XmlStruct>(&self, child: &str) -> Result<Vec<T>, DecodeError> {
        self.children()
            .filter(|c| c.local() == child)
            .map(T::read)
            .collect()
    }

    /// The `<string>` items of a string array.
    pub(crate) fn strings(&self, child: &str) -> Vec<String> {
        match self.child(child) {
            Some(array) => array.children().map(|s| s.text().to_owned()).collect(),
            None => Vec::new(),
        }
    }

    pub(crate) fn invalid(&self, expected: &'static str) -> DecodeError {
        self.error(DecodeErrorKind::InvalidValue {
            element: excerpt(self.local()),
            value: excerpt(self.text()),
            expected,
        })
    }
}
