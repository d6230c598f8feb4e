//! The request smuggling table: each known vector family (CL.TE, TE.CL, TE.TE obfuscations,
//! CL.CL, "funky chunks", head syntax) as the bytes of one request followed by a plain
//! `GET /next`, with what this layer must do and what hyper 1's HTTP/1 server does with the
//! same bytes (checked, not assumed). A refusal must come with `Connection: close` and leave
//! `/next` unanswered; `docs/http.md` reproduces the table.

use super::decide::{self, Decision};

/// What a server does with a row's request, and so with the `GET /next` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Refused: nothing served, nothing after it read.
    Refused,
    /// Served with this body, then `/next` served too: the connection went on.
    Served(&'static [u8]),
    /// Served with this body, then nothing more: the connection closed (or swallowed the rest).
    ServedThenClosed(&'static [u8]),
    /// Nothing served, nothing refused: still reading the body when the stream ended.
    WaitsForBody,
}

use Then::*;

struct Row {
    family: &'static str,
    what: &'static str,
    bytes: &'static [u8],
    /// Our reply's status, and what follows.
    ours: (u16, Then),
    hyper: Then,
}

const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n";

const ROWS: &[Row] = &[
    // CL.TE and TE.CL: both headers; the body is read as chunked, then the connection closes
    Row {
        family: "CL.TE",
        what: "Content-Length covering a chunked body and more",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ours: (200, ServedThenClosed(b"")),
        hyper: ServedThenClosed(b""),
    },
    Row {
        family: "TE.CL",
        what: "Content-Length shorter than the chunked body",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
        ours: (200, ServedThenClosed(b"SMUGGLED")),
        hyper: ServedThenClosed(b"SMUGGLED"),
    },
    Row {
        family: "TE.CL",
        what: "Transfer-Encoding before Content-Length",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ours: (200, ServedThenClosed(b"abc")),
        hyper: ServedThenClosed(b"abc"),
    },
    Row {
        family: "CL.TE",
        what: "chunked beside an invalid Content-Length",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: abc\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: ServedThenClosed(b""),
    },
    // TE.TE: obfuscated Transfer-Encoding
    Row {
        family: "TE.TE",
        what: "`xchunked`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "`chunked, identity`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "`identity, chunked` (unknown coding before chunked)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
        ours: (501, Refused),
        hyper: Served(b""),
    },
    Row {
        family: "TE.TE",
        what: "two fields: `chunked` then `identity`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "two fields: `identity` then `chunked`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ours: (501, Refused),
        hyper: Served(b""),
    },
    Row {
        family: "TE.TE",
        what: "two fields: `chunked` twice",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Served(b""),
    },
    Row {
        family: "TE.TE",
        what: "`, chunked` (empty list element)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Served(b""),
    },
    Row {
        family: "TE.TE",
        what: "`chunked;x=1` (a parameter)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "`\"chunked\"` (quoted)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "`CHUNKED` (case)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "TE.TE",
        what: "`  chunked` (spaces before the value: OWS)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:   chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "TE.TE",
        what: "tab before the value (OWS)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "TE.TE",
        what: "`Transfer-Encoding\\t:` (tab before the colon)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "`Transfer-Encoding :` (space before the colon)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "vertical tab before the value",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "non-ASCII byte after `chunked`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\xff\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "obs-fold: `Transfer-Encoding` continued on a folded line",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "obs-fold: ` Transfer-Encoding: chunked` after another field",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "chunked on HTTP/1.0",
        bytes: b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "TE.TE",
        what: "`gzip, chunked` (gzip left to the handler)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    // CL.CL
    Row {
        family: "CL.CL",
        what: "two different values",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "CL.CL",
        what: "the same value twice",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "CL.CL",
        what: "`3, 3` (a list of one value)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
        ours: (200, Served(b"abc")),
        hyper: Refused,
    },
    Row {
        family: "CL.CL",
        what: "`3, 4`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "CL.CL",
        what: "`3,` (empty list element)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3,\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "CL",
        what: "empty value",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "CL",
        what: "`+3`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "CL",
        what: "`-3`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "CL",
        what: "`0x3`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "CL",
        what: "`3 3` (space inside)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3 3\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "CL",
        what: "`3` and a non-ASCII byte",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\xff\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "CL",
        what: "20 digits (over 64 bits)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "CL",
        what: "`003` (leading zeros)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 003\r\n\r\nabc",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "CL",
        what: "spaces around the value (OWS)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:  3 \r\n\r\nabc",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "CL",
        what: "a length over the body limit",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nabc",
        ours: (413, Refused),
        hyper: WaitsForBody,
    },
    // funky chunks
    Row {
        family: "chunks",
        what: "size with trailing garbage `3x`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "size, space, garbage `3 x`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "space after the size `3 `",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Served(b"abc"),
    },
    Row {
        family: "chunks",
        what: "space before the size ` 3`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "`+3`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "`-3`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "`0x3`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "17 hex digits (over 64 bits)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n",
        ours: (413, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "a size over the body limit",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\nabc\r\n0\r\n\r\n",
        ours: (413, Refused),
        hyper: WaitsForBody,
    },
    Row {
        family: "chunks",
        what: "`0003` (leading zeros)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0003\r\nabc\r\n0000\r\n\r\n",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "chunks",
        what: "bare LF after the size",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "bare LF after the data",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "bare LF after the last chunk's size",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "bare LF ending the body",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\n",
        ours: (400, Refused),
        hyper: ServedThenClosed(b"abc"),
    },
    Row {
        family: "chunks",
        what: "data longer than its size",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "an empty line where a size belongs",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "extension: token and quoted string (with `;` inside)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 ; a=b;c=\"d;e\"\r\nabc\r\n0\r\n\r\n",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "chunks",
        what: "extension with a bare LF",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "extension: quoted string holding CRLF",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"\r\nabc\"\r\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "extension without a name `3;`",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Served(b"abc"),
    },
    Row {
        family: "chunks",
        what: "extension value with a space inside",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b c\r\nabc\r\n0\r\n\r\n",
        ours: (400, Refused),
        hyper: Served(b"abc"),
    },
    Row {
        family: "chunks",
        what: "trailer field",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: y\r\n\r\n",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "chunks",
        what: "trailer field ended by a bare LF",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: y\n\r\n",
        ours: (400, Refused),
        hyper: ServedThenClosed(b"abc"),
    },
    Row {
        family: "chunks",
        what: "folded trailer field",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: y\r\n z\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "chunks",
        what: "invalid trailer field name",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX T: y\r\n\r\n",
        ours: (400, Refused),
        hyper: Refused,
    },
    // the head
    Row {
        family: "head",
        what: "bare LF ending every head line (RFC 9112 2.2 allows it)",
        bytes: b"POST / HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "head",
        what: "bare CR ending a head line",
        bytes: b"POST / HTTP/1.1\rHost: x\r\nContent-Length: 3\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "head",
        what: "NUL in a field value",
        bytes: b"POST / HTTP/1.1\r\nHost: x\x00y\r\nContent-Length: 3\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "head",
        what: "`Content-Length : 3` (space before the colon)",
        bytes: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "head",
        what: "whitespace-led line right after the request line",
        bytes: b"POST / HTTP/1.1\r\n Content-Length: 3\r\nHost: x\r\n\r\nabc",
        ours: (400, Refused),
        hyper: Refused,
    },
    Row {
        family: "head",
        what: "GET with a body (read by its length)",
        bytes: b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        ours: (200, Served(b"abc")),
        hyper: Served(b"abc"),
    },
    Row {
        family: "head",
        what: "HTTP/1.0 without keep-alive",
        bytes: b"POST / HTTP/1.0\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        ours: (200, ServedThenClosed(b"abc")),
        hyper: ServedThenClosed(b"abc"),
    },
];

/// The decision `then` stands for, on a row's bytes.
fn expected(then: Then) -> Decision {
    let first = |body: &[u8]| ("/".to_owned(), body.to_vec());
    let (served, refused) = match then {
        Refused => (vec![], true),
        Served(body) => (vec![first(body), ("/next".to_owned(), vec![])], false),
        WaitsForBody => (vec![], false),
        ServedThenClosed(body) => (vec![first(body)], false),
    };
    Decision { served, refused }
}

/// The status and `Connection: close` of each reply in `out`.
fn replies(mut out: &[u8]) -> Vec<(u16, bool)> {
    let mut all = Vec::new();
    while let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
        let status = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.parse().unwrap());
        all.push((status, head.contains("\r\nconnection: close")));
        out = &out[end + 4 + len..];
    }
    all
}

#[test]
fn the_smuggling_vectors_are_refused_and_the_rest_never_answered() {
    let mut failures = Vec::new();
    let mut table = String::from("| family | vector | acs | hyper 1 |\n|---|---|---|---|\n");
    for row in ROWS {
        let mut bytes = row.bytes.to_vec();
        bytes.extend_from_slice(NEXT);
        let (ours, out) = decide::ours(&bytes);
        let (status, then) = row.ours;
        if ours != expected(then) {
            failures.push(format!("{}: {}: ours {ours}", row.family, row.what));
        }
        let want: Vec<(u16, bool)> = match then {
            Served(_) => vec![(status, false), (200, false)],
            _ => vec![(status, true)],
        };
        if replies(&out) != want {
            failures.push(format!(
                "{}: {}: our replies {:?}, expected {want:?}",
                row.family,
                row.what,
                replies(&out)
            ));
        }
        let hyper = decide::hyper(&bytes);
        if hyper != expected(row.hyper) {
            failures.push(format!("{}: {}: hyper {hyper}", row.family, row.what));
        }
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.family,
            row.what,
            shown(status, then),
            shown(0, row.hyper)
        ));
    }
    println!("{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn shown(status: u16, then: Then) -> String {
    let status = if status == 0 {
        String::new()
    } else {
        format!("{status}, ")
    };
    match then {
        Refused => format!("{status}refused, closed"),
        Served(_) => format!("{status}served, next served"),
        WaitsForBody => "waits for the body".to_owned(),
        ServedThenClosed(_) => format!("{status}served, then closed"),
    }
}
