//! `--app raw`: a generic request/response exchange over TCP, for servers that speak a
//! line or fixed-size protocol (a memcached `version`, a Redis `PING`). The request is the
//! bytes of `--request-file`, sent as they are; a response is `--response-bytes N` bytes,
//! or everything up to and including the first `--response-delimiter`.
//!
//! The parser runs per connection over the stream like the HTTP one (`http.rs`) and
//! shares its [`Step`]/[`Response`] vocabulary, so the TCP clients drive both the same
//! way. Fixed-size responses are counted, never stored; a delimited one is kept until its
//! delimiter arrives, and one longer than [`http::RX_BUFFER`] is malformed.

use super::http::{self, Response, Step};

/// How a raw response ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// After exactly this many bytes.
    Bytes(usize),
    /// After the first occurrence of these bytes.
    Delimiter(Vec<u8>),
}

/// The response parser of one connection.
#[derive(Clone, Debug)]
pub struct RawParser {
    framing: Framing,
    /// Bytes of the current response already taken (fixed size) or already searched
    /// (delimiter).
    seen: usize,
}

impl RawParser {
    pub fn new(framing: Framing) -> Self {
        RawParser { framing, seen: 0 }
    }

    pub fn reset(&mut self) {
        self.seen = 0;
    }

    pub fn idle(&self) -> bool {
        self.seen == 0
    }

    fn done(&mut self, len: usize) -> Step {
        self.seen = 0;
        Step::Done(Response {
            status: 0,
            body: len as u64,
            close: false,
        })
    }

    /// As [`http::HttpParser::feed`]: consumes from the front of `buf`; a delimited
    /// response is consumed only once whole.
    pub fn feed(&mut self, buf: &[u8]) -> (usize, Step) {
        match &self.framing {
            &Framing::Bytes(size) => {
                let n = buf.len().min(size - self.seen);
                self.seen += n;
                if self.seen == size {
                    (n, self.done(size))
                } else {
                    (n, Step::More)
                }
            }
            Framing::Delimiter(d) => {
                // Search only what is new, and the delimiter's length before it.
                let from = self.seen.saturating_sub(d.len() - 1);
                match buf[from..].windows(d.len()).position(|w| w == &d[..]) {
                    Some(k) => {
                        let len = from + k + d.len();
                        (len, self.done(len))
                    }
                    None if buf.len() >= http::RX_BUFFER => (
                        0,
                        Step::Malformed("no response delimiter within the receive buffer"),
                    ),
                    None => {
                        self.seen = buf.len();
                        (0, Step::More)
                    }
                }
            }
        }
    }

    /// The server closed: a response cut short is malformed.
    pub fn eof(&mut self) -> Option<Step> {
        (self.seen > 0).then_some(Step::Malformed("closed in the middle of a response"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &mut RawParser, input: &[u8], step: usize) -> Vec<u64> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                let (n, s) = p.feed(&buf);
                buf.drain(..n);
                match s {
                    Step::Done(r) => out.push(r.body),
                    _ => break,
                }
            }
        }
        out
    }

    #[test]
    fn fixed_size_responses_in_any_split() {
        for step in [1, 3, 7, 100] {
            let mut p = RawParser::new(Framing::Bytes(7));
            assert_eq!(run(&mut p, b"+PONG\r\n+PONG\r\n+PO", step), vec![7, 7]);
            assert!(!p.idle());
        }
    }

    #[test]
    fn delimited_responses_even_when_the_delimiter_is_split() {
        for step in [1, 2, 5, 100] {
            let mut p = RawParser::new(Framing::Delimiter(b"\r\n".to_vec()));
            assert_eq!(
                run(&mut p, b"+PONG\r\nVERSION 1.6.21\r\n\r\n", step),
                vec![7, 16, 2]
            );
            assert!(p.idle(), "split every {step}");
        }
        let mut p = RawParser::new(Framing::Delimiter(b"END".to_vec()));
        assert_eq!(run(&mut p, b"aEENEND", 1), vec![7]);
        let mut p = RawParser::new(Framing::Delimiter(b"\n".to_vec()));
        let (_, s) = p.feed(&vec![b'x'; http::RX_BUFFER]);
        assert!(matches!(s, Step::Malformed(_)));
        let mut p = RawParser::new(Framing::Delimiter(b"\n".to_vec()));
        assert_eq!(p.eof(), None, "a close between responses is no error");
        assert_eq!(p.feed(b"ab"), (0, Step::More));
        assert!(p.eof().is_some(), "a close in the middle of one is");
    }
}
