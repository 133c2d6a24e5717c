//! The response parsers of `load --app http` and `--app raw` (`app::load::http`,
//! `app::load::raw`), the stream parsers a peer's bytes reach. Each is driven as the TCP
//! client drives it (a receive buffer of `http::RX_BUFFER` bytes, the unconsumed bytes
//! kept at its front), once with the biggest reads the buffer takes and once with reads
//! of the sizes the input names: both must find the same responses, the same error (its
//! reason aside) and the same end, whatever the cuts.

use crate::frames::{take_u16, take_u8};
use xstack::app::load::http::{HttpParser, Step, RX_BUFFER};
use xstack::app::load::raw::{Framing, RawParser};

enum Parser {
    Http(HttpParser),
    Raw(RawParser),
}

impl Parser {
    fn feed(&mut self, buf: &[u8]) -> (usize, Step) {
        match self {
            Parser::Http(p) => p.feed(buf),
            Parser::Raw(p) => p.feed(buf),
        }
    }
    fn eof(&mut self) -> Option<Step> {
        match self {
            Parser::Http(p) => p.eof(),
            Parser::Raw(p) => p.eof(),
        }
    }
}

/// The steps other than `More` that the parser reports over `stream`, read in pieces of
/// `reads` bytes in turn (0: as much as the buffer takes), then the end of the stream.
fn drive(mut p: Parser, stream: &[u8], reads: &[usize]) -> Vec<Step> {
    let mut rx = vec![0u8; RX_BUFFER];
    let (mut len, mut at, mut out) = (0usize, 0usize, Vec::new());
    let mut turn = 0;
    while at < stream.len() {
        let room = RX_BUFFER - len;
        assert!(room > 0, "the parser left the receive buffer full");
        let want = reads.get(turn % reads.len().max(1)).copied().unwrap_or(0);
        turn += 1;
        let n = if want == 0 { room } else { want.min(room) };
        let n = n.min(stream.len() - at);
        rx[len..len + n].copy_from_slice(&stream[at..at + n]);
        (len, at) = (len + n, at + n);
        let mut off = 0;
        for _ in 0..=RX_BUFFER {
            let (used, step) = p.feed(&rx[off..len]);
            assert!(used <= len - off, "consumed {used} of {}", len - off);
            off += used;
            match step {
                Step::More => break,
                Step::Done(_) => out.push(step),
                Step::Malformed(_) => {
                    out.push(step);
                    return out;
                }
            }
            assert!(out.len() <= stream.len() + 1, "responses out of nothing");
        }
        rx.copy_within(off..len, 0);
        len -= off;
    }
    out.extend(p.eof());
    out
}

pub fn run(data: &[u8]) {
    let mut d = data;
    let mode = take_u8(&mut d);
    let make = |d: &mut &[u8]| -> Option<Parser> {
        Some(match mode & 3 {
            0 | 1 => Parser::Http(HttpParser::new(mode & 1 != 0)),
            2 => Parser::Raw(RawParser::new(Framing::Bytes(
                usize::from(take_u16(d)) % 4096 + 1,
            ))),
            _ => {
                let n = usize::from(take_u8(d)) % 4 + 1;
                let delim = d.get(..n)?.to_vec();
                *d = &d[n..];
                Parser::Raw(RawParser::new(Framing::Delimiter(delim)))
            }
        })
    };
    let mut d2 = d;
    let (Some(a), Some(b)) = (make(&mut d), make(&mut d2)) else {
        return;
    };
    let count = usize::from(take_u8(&mut d)) % 8;
    let reads: Vec<usize> = (0..count)
        .map(|_| usize::from(take_u16(&mut d)) % 2048 + 1)
        .collect();
    // The error's reason aside: where one stream holds two faults (a head too long
    // with a bad byte past the limit), which is met first depends on the cuts, and the
    // client acts on neither reason, only on the error.
    let class = |steps: Vec<Step>| -> Vec<Step> {
        steps
            .into_iter()
            .map(|s| match s {
                Step::Malformed(_) => Step::Malformed(""),
                s => s,
            })
            .collect()
    };
    let whole = class(drive(a, d, &[]));
    let pieces = class(drive(b, d, &reads));
    assert_eq!(whole, pieces, "reads of {reads:?}");
}
