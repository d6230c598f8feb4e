//! The encoder's output buffer: fixed prefixes, escaped text, exact array counts.

use crate::envelope::{BooleanStyle, EncodeOptions};

/// Writes XML into a `String`. Prefixes are fixed: `soap-env`, `soap-enc`, `xsd`, `xsi`,
/// `cwmp` (declared once on the Envelope); RPC children are unqualified, as the schema's
/// `elementFormDefault="unqualified"` wants.
pub(crate) struct Writer<'o> {
    pub(crate) out: String,
    pub(crate) options: &'o EncodeOptions,
}

impl Writer<'_> {
    pub(crate) fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    pub(crate) fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub(crate) fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Escaped text content.
    pub(crate) fn text(&mut self, s: &str) {
        escape_into(&mut self.out, s);
    }

    /// Escaped attribute content: also `\n` and `\t`, which attribute-value normalisation
    /// would otherwise turn into spaces.
    pub(crate) fn attr_text(&mut self, s: &str) {
        let mut buf = [0u8; 4];
        for c in s.chars() {
            match c {
                '\n' => self.out.push_str("&#10;"),
                '\t' => self.out.push_str("&#9;"),
                _ => escape_into(&mut self.out, c.encode_utf8(&mut buf)),
            }
        }
    }

    /// `<name>text</name>`
    pub(crate) fn str(&mut self, name: &str, value: &str) {
        self.open(name);
        self.text(value);
        self.close(name);
    }

    pub(crate) fn opt_str(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(name, v);
        }
    }

    pub(crate) fn num(&mut self, name: &str, value: impl std::fmt::Display) {
        use std::fmt::Write as _;
        self.open(name);
        // Writing into a String cannot fail.
        let _ = write!(self.out, "{value}");
        self.close(name);
    }

    pub(crate) fn bool(&mut self, name: &str, value: bool) {
        let text = self.bool_text(value);
        self.str(name, text);
    }

    pub(crate) fn bool_text(&self, value: bool) -> &'static str {
        match (self.options.boolean_style, value) {
            (BooleanStyle::ZeroOne, true) => "1",
            (BooleanStyle::ZeroOne, false) => "0",
            (BooleanStyle::TrueFalse, true) => "true",
            (BooleanStyle::TrueFalse, false) => "false",
        }
    }

    /// A SOAP-encoded array with an exact `arrayType` count (PROTOCOL §6; CPEs may check it).
    pub(crate) fn array<T>(
        &mut self,
        name: &str,
        item_type: &str,
        items: &[T],
        mut write_item: impl FnMut(&mut Self, &T),
    ) {
        use std::fmt::Write as _;
        let _ = write!(
            self.out,
            "<{name} soap-enc:arrayType=\"{item_type}[{}]\">",
            items.len()
        );
        for item in items {
            write_item(self, item);
        }
        self.close(name);
    }

    /// An array of `<string>` items typed `xsd:string[n]`.
    pub(crate) fn string_array(&mut self, name: &str, items: &[String]) {
        self.array(name, "xsd:string", items, |w, s| w.str("string", s));
    }
}

/// Escapes text for element content and attribute values. `\r` and `\t` become character
/// references so that a parser's end-of-line and attribute normalisation cannot change them;
/// characters XML 1.0 cannot carry at all (C0 controls) become U+FFFD rather than making the
/// whole message unreadable.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) =
        rest.find(|c: char| matches!(c, '&' | '<' | '>' | '"' | '\'' | '\r') || needs_replacing(c))
    {
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next().unwrap_or('\u{FFFD}');
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            _ => out.push('\u{FFFD}'),
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(rest);
}

fn needs_replacing(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}
