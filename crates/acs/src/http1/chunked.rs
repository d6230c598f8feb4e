//! The chunked transfer coding (RFC 9112 §7.1), decoded byte by byte and strictly to its
//! grammar, so that no byte is read one way here and another way by a proxy in front:
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = 1*HEXDIG [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-ext    = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
//! ```
//!
//! - A size is hex digits only (no sign, `0x`, or spaces before it), checked against the body
//!   limit digit by digit, so it can never overflow. Spaces after it are allowed only before a
//!   `;` (BWS), as the grammar says.
//! - Every line of the framing ends in CRLF: a bare LF after a size, after chunk data or in the
//!   trailer section is refused, as hyper does. (RFC 9112 §2.2 lets a recipient accept a bare
//!   LF in the request line and header fields; the chunk framing is where "funky chunks"
//!   smuggling lives, so here it is not accepted.)
//! - Extensions are parsed to the grammar above and dropped; trailer fields are checked as
//!   field lines (no folding) and dropped. Together they may take 16 kB per body, like hyper.
//! - An error is found at the first byte that cannot belong to the grammar, without waiting
//!   for the end of the line.

/// Most bytes of chunk extensions, and separately of trailer fields, in one body.
const EXTRAS: usize = 16 * 1024;
/// Most trailer fields in one body.
const TRAILERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a chunk size's first digit.
    SizeStart,
    Size,
    /// Spaces after the size: a `;` must follow.
    SizeBws,
    /// After `;`: spaces, then an extension's name.
    ExtName0,
    ExtName,
    /// Spaces after the name: `=` or `;` must follow.
    ExtNameBws,
    /// After `=`: spaces, then a token or a quoted string.
    ExtValue0,
    ExtToken,
    ExtQuoted,
    ExtQuotedPair,
    /// Right after a quoted string's closing quote.
    ExtQuoteEnd,
    /// Spaces after a value: `;` must follow.
    ExtValueBws,
    /// After the CR ending a size line.
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final CRLF).
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// After the CR of the final CRLF.
    EndLf,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Error {
    /// The body would exceed the limit.
    TooLarge,
    /// What is wrong with the framing.
    Bad(&'static str),
}

/// A chunked body being decoded; feed it what arrives, in any pieces.
pub(super) struct Decoder {
    state: State,
    /// The size being read, then the data bytes left in the chunk.
    size: u64,
    /// Data bytes so far, against `max_body`.
    len: u64,
    max_body: u64,
    ext_bytes: usize,
    trailer_bytes: usize,
    trailers: usize,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A field value's byte: VCHAR, obs-text, space or tab.
fn is_field_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80 || is_ws(b)
}

fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

impl Decoder {
    pub(super) fn new(max_body: usize) -> Decoder {
        Decoder {
            state: State::SizeStart,
            size: 0,
            len: 0,
            max_body: max_body as u64,
            ext_bytes: 0,
            trailer_bytes: 0,
            trailers: 0,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes what `buf` holds: data goes to `body`, or is only counted when there is none
    /// (a body read to be dropped). Returns the bytes used: all of `buf`, or fewer when the
    /// body ends inside it (the rest is the next request's).
    pub(super) fn decode(
        &mut self,
        buf: &[u8],
        mut body: Option<&mut Vec<u8>>,
    ) -> Result<usize, Error> {
        use State::*;
        let mut at = 0;
        while at < buf.len() {
            if self.state == Done {
                break;
            }
            if self.state == Data {
                let take = (buf.len() - at).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                if let Some(body) = body.as_deref_mut() {
                    body.extend_from_slice(&buf[at..at + take]);
                }
                at += take;
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = DataCr;
                }
                continue;
            }
            let b = buf[at];
            at += 1;
            self.state = self.step(b)?;
        }
        Ok(at)
    }

    /// The state after byte `b` of the framing (anything but chunk data).
    fn step(&mut self, b: u8) -> Result<State, Error> {
        use State::*;
        let ext = |d: &mut Decoder, next: State| {
            d.ext_bytes += 1;
            if d.ext_bytes > EXTRAS {
                Err(Error::Bad("chunk extensions too long"))
            } else {
                Ok(next)
            }
        };
        let trailer = |d: &mut Decoder, next: State| {
            d.trailer_bytes += 1;
            if d.trailer_bytes > EXTRAS {
                Err(Error::Bad("trailer section too long"))
            } else {
                Ok(next)
            }
        };
        match (self.state, b) {
            (SizeStart, _) => match hex(b) {
                Some(d) => {
                    self.size = d;
                    Ok(Size)
                }
                None => Err(Error::Bad("chunk size does not start with a hex digit")),
            },
            (Size, b'\r') => Ok(SizeLf),
            (Size, b'\n') => Err(Error::Bad("bare LF after a chunk size")),
            (Size, b';') => ext(self, ExtName0),
            (Size, _) if is_ws(b) => ext(self, SizeBws),
            (Size, _) => {
                let d = hex(b).ok_or(Error::Bad("invalid chunk size"))?;
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(d))
                    .filter(|&s| s <= self.max_body.saturating_sub(self.len))
                    .ok_or(Error::TooLarge)?;
                Ok(Size)
            }
            (SizeBws, b';') => ext(self, ExtName0),
            (SizeBws, _) if is_ws(b) => ext(self, SizeBws),
            (SizeBws, _) => Err(Error::Bad("whitespace after a chunk size")),
            (ExtName0, _) if is_ws(b) => ext(self, ExtName0),
            (ExtName0 | ExtName, _) if is_tchar(b) => ext(self, ExtName),
            (ExtName, b'\r') => Ok(SizeLf),
            (ExtName | ExtNameBws, b';') => ext(self, ExtName0),
            (ExtName | ExtNameBws, b'=') => ext(self, ExtValue0),
            (ExtName | ExtNameBws, _) if is_ws(b) => ext(self, ExtNameBws),
            (ExtValue0, _) if is_ws(b) => ext(self, ExtValue0),
            (ExtValue0, b'"') => ext(self, ExtQuoted),
            (ExtValue0 | ExtToken, _) if is_tchar(b) => ext(self, ExtToken),
            (ExtToken | ExtQuoteEnd, b'\r') => Ok(SizeLf),
            (ExtToken | ExtQuoteEnd | ExtValueBws, b';') => ext(self, ExtName0),
            (ExtToken | ExtQuoteEnd | ExtValueBws, _) if is_ws(b) => ext(self, ExtValueBws),
            (ExtQuoted, b'"') => ext(self, ExtQuoteEnd),
            (ExtQuoted, b'\\') => ext(self, ExtQuotedPair),
            (ExtQuoted | ExtQuotedPair, _) if is_field_byte(b) => ext(self, ExtQuoted),
            (
                ExtName0 | ExtName | ExtNameBws | ExtValue0 | ExtToken | ExtQuoted | ExtQuotedPair
                | ExtQuoteEnd | ExtValueBws,
                _,
            ) => Err(Error::Bad("invalid chunk extension")),
            (SizeLf, b'\n') if self.size == 0 => Ok(TrailerStart),
            (SizeLf, b'\n') => Ok(Data),
            (SizeLf, _) => Err(Error::Bad("CR without LF after a chunk size")),
            (DataCr, b'\r') => Ok(DataLf),
            (DataCr, b'\n') => Err(Error::Bad("bare LF after chunk data")),
            (DataCr, _) => Err(Error::Bad("chunk data longer than its size")),
            (DataLf, b'\n') => Ok(SizeStart),
            (DataLf, _) => Err(Error::Bad("CR without LF after chunk data")),
            (TrailerStart, b'\r') => Ok(EndLf),
            (TrailerStart, _) if is_tchar(b) => {
                self.trailers += 1;
                if self.trailers > TRAILERS {
                    return Err(Error::Bad("too many trailer fields"));
                }
                trailer(self, TrailerName)
            }
            (TrailerStart, _) if is_ws(b) => Err(Error::Bad("folded trailer field")),
            (TrailerStart, b'\n') => Err(Error::Bad("bare LF ending the chunked body")),
            (TrailerStart, _) => Err(Error::Bad("invalid trailer field")),
            (TrailerName, b':') => trailer(self, TrailerValue),
            (TrailerName, _) if is_tchar(b) => trailer(self, TrailerName),
            (TrailerName, _) => Err(Error::Bad("invalid trailer field name")),
            (TrailerValue, b'\r') => Ok(TrailerLf),
            (TrailerValue, _) if is_field_byte(b) => trailer(self, TrailerValue),
            (TrailerValue, b'\n') => Err(Error::Bad("bare LF after a trailer field")),
            (TrailerValue, _) => Err(Error::Bad("invalid trailer field value")),
            (TrailerLf, b'\n') => Ok(TrailerStart),
            (TrailerLf, _) => Err(Error::Bad("CR without LF after a trailer field")),
            (EndLf, b'\n') => Ok(Done),
            (EndLf, _) => Err(Error::Bad("CR without LF ending the chunked body")),
            // `decode` copies chunk data itself and stops at `Done`
            (Data | Done, _) => Err(Error::Bad("chunked body already complete")),
        }
        .inspect(|next| {
            if *next == Data {
                self.len += self.size;
            }
        })
    }
}
