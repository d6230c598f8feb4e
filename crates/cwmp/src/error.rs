//! The one error type of `decode`: what went wrong and where.

use std::fmt;

/// Where in the decoded text something went wrong.
///
/// Offsets count bytes of the UTF-8 text the parser saw: for UTF-8 input that is the input
/// itself; for ISO-8859-1 or UTF-16 input it is the text after conversion to UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Byte offset, from 0.
    pub offset: usize,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Position {
    /// Computes line and column of `offset` in `text`. Only called on the error path, so the
    /// linear scan costs nothing on valid input.
    pub(crate) fn locate(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Position {
            offset,
            line,
            column,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {} (byte {})",
            self.line, self.column, self.offset
        )
    }
}

/// A message that could not be decoded. `Display` reads like
/// `missing <DeviceId> in <Inform> at line 7, column 1 (byte 412)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at {position}")]
pub struct DecodeError {
    /// What was wrong.
    pub kind: DecodeErrorKind,
    /// Where it was found.
    pub position: Position,
}

/// What was wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The charset named by Content-Type or the XML declaration is not one CPEs use.
    #[error("unsupported charset {0:?}")]
    UnsupportedCharset(String),
    /// A DOCTYPE (and with it any entity declaration) is refused outright: CWMP never needs
    /// one, and entity expansion is the classic XML denial of service.
    #[error("document type declaration refused")]
    DocType,
    /// The XML is not well-formed.
    #[error("malformed xml: {0}")]
    Xml(String),
    /// The input ended inside an element.
    #[error("unexpected end of input inside <{0}>")]
    UnexpectedEof(String),
    /// Elements nest deeper than any CWMP message does.
    #[error("elements nested deeper than {0} levels")]
    TooDeep(usize),
    /// Something other than a SOAP envelope.
    #[error("root element <{0}> is not a soap envelope")]
    NotAnEnvelope(String),
    /// A document without any element.
    #[error("no root element")]
    NoRootElement,
    /// A second top-level element after the envelope.
    #[error("content after the soap envelope: <{0}>")]
    TrailingElement(String),
    /// The envelope has no Body.
    #[error("soap envelope without a body")]
    MissingBody,
    /// The Body holds no element.
    #[error("soap body holds no message")]
    EmptySoapBody,
    /// A cwmp namespace this crate does not know (e.g. a future `cwmp-1-5`).
    #[error("unsupported cwmp namespace {0:?}")]
    UnsupportedNamespace(String),
    /// A required element is missing.
    #[error("missing <{child}> in <{parent}>")]
    MissingElement {
        /// The element that should contain it.
        parent: String,
        /// The element that is missing.
        child: &'static str,
    },
    /// An element's text is not of its type.
    #[error("invalid {expected} {value:?} in <{element}>")]
    InvalidValue {
        /// The element holding the text.
        element: String,
        /// The text, cut to 64 characters.
        value: String,
        /// The type the schema wants, e.g. `unsignedInt`.
        expected: &'static str,
    },
}

impl DecodeError {
    pub(crate) fn at(text: &str, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            kind,
            position: Position::locate(text, offset),
        }
    }
}

/// Cuts untrusted text for an error message, so errors stay small.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}
