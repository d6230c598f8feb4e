//! Typed reads of child elements, shared by every message decoder.
//!
//! Children are found by local name in any order. Numbers and booleans are trimmed and read
//! leniently; dates never fail; arrays ignore their `arrayType` count and item names
//! (`[0008]`, `[64]` with two items, `string[11]`: PROTOCOL §6).

use std::str::FromStr;

use crate::error::{DecodeError, DecodeErrorKind, excerpt};
use crate::value::{XsdDateTime, parse_bool, parse_int};
use crate::xml::tree::El;

/// A struct that reads itself from an element and writes its children.
pub(crate) trait XmlStruct: Sized {
    fn read(el: El<'_, '_>) -> Result<Self, DecodeError>;
    fn write(&self, w: &mut crate::xml::writer::Writer<'_>);
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
