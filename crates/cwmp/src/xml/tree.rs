//! A flat, borrowed index of the elements of one message.
//!
//! quick-xml streams the events; this module keeps, per element, its namespace class, its
//! local name and its text as slices of the input, in one `Vec`. Text is only copied when it
//! arrives in pieces (entity references, CDATA). The typed decoders then look children up by
//! local name, in any order (PROTOCOL §4: CPEs reorder, qualify or unqualify children).
//! Memory is proportional to the input (an element costs at least four input bytes), and
//! nothing here recurses, so hostile nesting cannot exhaust the stack.
//!
//! Namespaces are resolved lazily, by walking up to the nearest `xmlns` declaration of the
//! prefix: only the envelope, header and body elements ever need it, so resolving every
//! element (what quick-xml's `NsReader` does) was a seventh of the decode time.

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::events::attributes::{Attribute, Attributes};
use quick_xml::reader::Reader;

use crate::error::{DecodeError, DecodeErrorKind, excerpt};
use crate::namespace::Namespace;

/// No CWMP message nests deeper than ~8 elements; 64 leaves room for vendor extensions.
pub(crate) const MAX_DEPTH: usize = 64;

pub(crate) const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub(crate) const SOAP_ENC: &str = "http://schemas.xmlsoap.org/soap/encoding/";
pub(crate) const XSD: &str = "http://www.w3.org/2001/XMLSchema";
pub(crate) const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The namespace an element resolved to, as far as CWMP cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ns {
    /// No namespace (unprefixed, no default namespace in scope).
    None,
    SoapEnv,
    Cwmp(Namespace),
    /// A cwmp-looking URI this crate does not know; kept to name it in the error.
    UnknownCwmp(String),
    /// Anything else, including an undeclared prefix.
    Other,
}

impl Ns {
    fn classify(uri: &str) -> Ns {
        if uri == SOAP_ENV {
            Ns::SoapEnv
        } else if let Some(cwmp) = Namespace::from_uri(uri) {
            Ns::Cwmp(cwmp)
        } else if uri.starts_with("urn:dslforum-org:cwmp-") {
            Ns::UnknownCwmp(excerpt(uri))
        } else {
            Ns::Other
        }
    }
}

#[derive(Debug)]
struct Node<'a> {
    /// The start tag without `<`, `>` and `/`: name and attributes, parsed lazily.
    tag: &'a str,
    name_len: usize,
    /// Where the local name starts in `tag` (after `prefix:`), computed once.
    local_start: usize,
    text: Cow<'a, str>,
    has_children: bool,
    parent: Option<u32>,
    first_child: Option<u32>,
    last_child: Option<u32>,
    next_sibling: Option<u32>,
    offset: usize,
}

/// The parsed element index of one document.
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    text: &'a str,
    nodes: Vec<Node<'a>>,
    root: Option<u32>,
}

fn xml_error(text: &str, offset: u64, err: &quick_xml::Error) -> DecodeError {
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    DecodeError::at(text, offset, DecodeErrorKind::Xml(err.to_string()))
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

impl<'a> Doc<'a> {
    /// Reads a whole document. Refuses DOCTYPEs; checks well-formedness as quick-xml does
    /// (matching end tags, closed elements).
    pub(crate) fn parse(text: &'a str) -> Result<Doc<'a>, DecodeError> {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;

        let mut doc = Doc {
            text,
            // A guess from the input size (an element takes at least ~40 bytes in practice),
            // never from a count inside the message.
            nodes: Vec::with_capacity(text.len() / 40),
            root: None,
        };
        let mut stack: Vec<u32> = Vec::new();
        loop {
            let start = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(err) => return Err(xml_error(text, reader.error_position(), &err)),
            };
            let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let is_empty = matches!(event, Event::Empty(_));
                    if stack.len() >= MAX_DEPTH {
                        return Err(DecodeError::at(
                            text,
                            start,
                            DecodeErrorKind::TooDeep(MAX_DEPTH),
                        ));
                    }
                    let name_len = e.name().as_ref().len();
                    // The tag text as a slice of the input, so it costs no allocation.
                    let tag = text
                        .get(start + 1..end.saturating_sub(if is_empty { 2 } else { 1 }))
                        .filter(|tag| {
                            tag.is_char_boundary(name_len)
                                && text.as_bytes().get(start) == Some(&b'<')
                        })
                        .ok_or_else(|| {
                            let detail = "start tag does not line up with the input".to_owned();
                            DecodeError::at(text, start, DecodeErrorKind::Xml(detail))
                        })?;
                    let index = u32::try_from(doc.nodes.len()).map_err(|_| {
                        DecodeError::at(
                            text,
                            start,
                            DecodeErrorKind::Xml("too many elements".into()),
                        )
                    })?;
                    let local_start = tag.as_bytes()[..name_len]
                        .iter()
                        .rposition(|&b| b == b':')
                        .map_or(0, |i| i + 1);
                    doc.nodes.push(Node {
                        tag,
                        name_len,
                        local_start,
                        text: Cow::Borrowed(""),
                        has_children: false,
                        parent: stack.last().copied(),
                        first_child: None,
                        last_child: None,
                        next_sibling: None,
                        offset: start,
                    });
                    match stack.last() {
                        Some(&parent) => doc.link_child(parent, index),
                        None if doc.root.is_none() => doc.root = Some(index),
                        None => {
                            let name = doc.nodes[index as usize].local().to_owned();
                            return Err(DecodeError::at(
                                text,
                                start,
                                DecodeErrorKind::TrailingElement(excerpt(&name)),
                            ));
                        }
                    }
                    if !is_empty {
                        stack.push(index);
                    }
                }
                Event::End(_) => {
                    stack.pop();
                }
                Event::Text(t) => {
                    // Layout whitespace between child elements is dropped unread.
                    if let Some(&top) = stack
                        .last()
                        .filter(|&&top| !doc.nodes[top as usize].has_children)
                    {
                        doc.append_text(top, t.xml10_content());
                    }
                }
                Event::CData(t) => {
                    if let Some(&top) = stack.last() {
                        doc.append_text(top, t.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(&top) = stack.last() {
                        let resolved = match r.resolve_char_ref() {
                            Ok(Some(c)) => Some(c),
                            Ok(None) => predefined_entity(&r),
                            Err(_) => None,
                        };
                        let piece = match resolved {
                            Some(c) => Cow::Owned(c.to_string()),
                            // Without a DTD no other entity can be defined; keep the
                            // reference literally rather than dropping the message.
                            None => Cow::Owned(format!("&{};", &*r)),
                        };
                        doc.append_text(top, piece);
                    }
                }
                Event::DocType(_) => {
                    return Err(DecodeError::at(text, start, DecodeErrorKind::DocType));
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => {
                    if let Some(&open) = stack.last() {
                        let name = excerpt(doc.nodes[open as usize].local());
                        return Err(DecodeError::at(
                            text,
                            text.len(),
                            DecodeErrorKind::UnexpectedEof(name),
                        ));
                    }
                    break;
                }
            }
        }
        Ok(doc)
    }

    fn link_child(&mut self, parent: u32, child: u32) {
        let p = &mut self.nodes[parent as usize];
        // Whitespace between child elements is layout, not content.
        p.has_children = true;
        p.text = Cow::Borrowed("");
        let previous = p.last_child.replace(child);
        if p.first_child.is_none() {
            p.first_child = Some(child);
        }
        if let Some(prev) = previous {
            self.nodes[prev as usize].next_sibling = Some(child);
        }
    }

    fn append_text(&mut self, index: u32, piece: Cow<'a, str>) {
        let node = &mut self.nodes[index as usize];
        if node.has_children {
            return;
        }
        if node.text.is_empty() {
            node.text = piece;
        } else {
            node.text.to_mut().push_str(&piece);
        }
    }

    /// The root element, if the document has one.
    pub(crate) fn root(&self) -> Option<El<'_, 'a>> {
        self.root.map(|index| El { doc: self, index })
    }

    /// The text the document was parsed from.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }
}

impl<'a> Node<'a> {
    fn name(&self) -> &str {
        &self.tag[..self.name_len]
    }

    fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + use<'a> {
        let mut attributes = Attributes::new(self.tag, self.name_len);
        attributes.with_checks(false);
        attributes.flatten()
    }

    /// The URI this element declares for `prefix` (`None`: the default namespace).
    fn xmlns(&self, prefix: Option<&str>) -> Option<String> {
        if !self.tag[self.name_len..].contains("xmlns") {
            return None;
        }
        self.attributes().find_map(|a| {
            let key: &str = a.key.as_ref();
            let declares = match prefix {
                Some(p) => key.strip_prefix("xmlns:") == Some(p),
                None => key == "xmlns",
            };
            declares.then(|| a.value.trim().to_owned())
        })
    }

    fn local(&self) -> &'a str {
        &self.tag[self.local_start..self.name_len]
    }
}

/// One element of a [`Doc`].
#[derive(Clone, Copy)]
pub(crate) struct El<'d, 'a> {
    doc: &'d Doc<'a>,
    index: u32,
}

impl<'d, 'a> El<'d, 'a> {
    fn node(&self) -> &'d Node<'a> {
        &self.doc.nodes[self.index as usize]
    }

    /// The local name (prefix stripped).
    pub(crate) fn local(&self) -> &'a str {
        self.node().local()
    }

    /// The namespace of the element's prefix, from the nearest declaration in scope.
    pub(crate) fn ns(&self) -> Ns {
        let name = self.node().name();
        let prefix = name.rsplit_once(':').map(|(p, _)| p);
        let mut at = Some(self.index);
        while let Some(index) = at {
            let node = &self.doc.nodes[index as usize];
            if let Some(uri) = node.xmlns(prefix) {
                return if uri.is_empty() {
                    Ns::None
                } else {
                    Ns::classify(&uri)
                };
            }
            at = node.parent;
        }
        if prefix.is_some() {
            Ns::Other
        } else {
            Ns::None
        }
    }

    /// The element's text (empty for elements with child elements).
    pub(crate) fn text(&self) -> &'d str {
        &self.node().text
    }

    pub(crate) fn offset(&self) -> usize {
        self.node().offset
    }

    /// Child elements in document order.
    pub(crate) fn children(&self) -> impl Iterator<Item = El<'d, 'a>> + use<'d, 'a> {
        let doc = self.doc;
        std::iter::successors(self.node().first_child, move |&i| {
            doc.nodes[i as usize].next_sibling
        })
        .map(move |index| El { doc, index })
    }

    /// The first child with this local name.
    pub(crate) fn child(&self, local: &str) -> Option<El<'d, 'a>> {
        self.children().find(|c| c.local() == local)
    }

    /// A cwmp namespace this element declares (under any prefix), for messages that declare
    /// one but use it nowhere (a Fault without detail, no header).
    pub(crate) fn declared_cwmp(&self) -> Option<Namespace> {
        self.node().attributes().find_map(|a| {
            let key: &str = a.key.as_ref();
            if key == "xmlns" || key.starts_with("xmlns:") {
                Namespace::from_uri(&a.value)
            } else {
                None
            }
        })
    }

    /// The value of the attribute with this local name, whatever its prefix (`xsi:type`,
    /// `SOAP-ENC:arrayType`; CPEs bind odd prefixes, PROTOCOL §4). Borrowed from the input.
    pub(crate) fn attr(&self, local: &str) -> Option<Cow<'a, str>> {
        self.node().attributes().find_map(|a| {
            let key: &str = a.key.as_ref();
            let key_local = key.rsplit_once(':').map_or(key, |(_, l)| l);
            if key_local != local {
                return None;
            }
            // Normalised as XML wants (references resolved); on a bad reference, the raw text.
            Some(
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .unwrap_or(a.value),
            )
        })
    }

    pub(crate) fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::at(self.doc.text, self.offset(), kind)
    }
}
