//! sockperf over a byte stream (TCP): messages are framed by the length field of their
//! 14-byte header (the length counts the header). The responder answers every message
//! that asks for a pong with the same message, client bit cleared; other messages are
//! consumed silently. Sans-IO: bytes in, reply bytes out.
//!
//! Invariants: a message is answered only once it is complete; a header whose length is
//! shorter than the header itself or longer than [`MAX_MESSAGE`] is a protocol error and
//! the caller should reset the connection; the framer holds at most one partial message.

use crate::wire::sockperf::{SockperfHeader, FLAG_PONG_REQUEST, HEADER_LEN};

/// The largest message accepted (sockperf's own limit is 65 KB).
pub const MAX_MESSAGE: usize = 65536;

/// The peer sent something that is not sockperf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramingError {
    pub msg_len: u32,
}

#[derive(Debug, Default)]
pub struct SockperfFramer {
    /// Bytes of the message being assembled.
    partial: Vec<u8>,
    /// Messages answered and ignored so far.
    pub replies: u64,
    pub no_reply: u64,
}

impl SockperfFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of an incomplete message held back.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Feeds received bytes; every reply is appended to `out`. On a framing error the
    /// input after the bad header is left unread.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), FramingError> {
        while !data.is_empty() {
            // Complete the header first, then the message.
            let want = if self.partial.len() < HEADER_LEN {
                HEADER_LEN
            } else {
                let h = SockperfHeader::new_unchecked(&self.partial[..]);
                h.msg_len() as usize
            };
            let take = (want - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() == HEADER_LEN && want == HEADER_LEN {
                let msg_len = SockperfHeader::new_unchecked(&self.partial[..]).msg_len();
                if (msg_len as usize) < HEADER_LEN || msg_len as usize > MAX_MESSAGE {
                    self.partial.clear();
                    return Err(FramingError { msg_len });
                }
            }
            if self.partial.len() >= HEADER_LEN {
                let len = SockperfHeader::new_unchecked(&self.partial[..]).msg_len() as usize;
                if self.partial.len() == len {
                    self.finish(out);
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        let mut h = SockperfHeader::new_unchecked(&mut self.partial[..]);
        if h.flags() & FLAG_PONG_REQUEST != 0 {
            h.make_reply();
            out.extend_from_slice(&self.partial);
            self.replies += 1;
        } else {
            self.no_reply += 1;
        }
        self.partial.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sockperf::FLAG_CLIENT;

    fn msg(seq: u64, flags: u16, len: usize) -> Vec<u8> {
        let mut m = vec![0u8; len];
        let mut h = SockperfHeader::new_unchecked(&mut m[..]);
        h.set_seq(seq);
        h.set_flags(flags);
        h.set_msg_len(len as u32);
        for (i, b) in m[HEADER_LEN..].iter_mut().enumerate() {
            *b = i as u8;
        }
        m
    }

    #[test]
    fn answers_messages_split_and_joined_arbitrarily() {
        let mut stream = Vec::new();
        for seq in 0..50u64 {
            let flags = if seq % 5 == 0 {
                FLAG_CLIENT
            } else {
                FLAG_CLIENT | FLAG_PONG_REQUEST
            };
            stream.extend(msg(seq, flags, 14 + (seq as usize * 37) % 300));
        }
        for chunk in [1usize, 3, 13, 14, 15, 100, 4096] {
            let mut f = SockperfFramer::new();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                f.feed(piece, &mut out).unwrap();
            }
            assert_eq!((f.replies, f.no_reply), (40, 10), "chunk {chunk}");
            // Every reply is its request with the client bit cleared.
            let mut at = 0;
            for seq in (0..50u64).filter(|s| s % 5 != 0) {
                let mut want = msg(seq, FLAG_PONG_REQUEST, 14 + (seq as usize * 37) % 300);
                SockperfHeader::new_unchecked(&mut want[..]).set_flags(FLAG_PONG_REQUEST);
                assert_eq!(
                    &out[at..at + want.len()],
                    &want[..],
                    "chunk {chunk} seq {seq}"
                );
                at += want.len();
            }
            assert_eq!(at, out.len());
        }
    }

    #[test]
    fn a_length_shorter_than_the_header_is_an_error() {
        let mut f = SockperfFramer::new();
        let mut m = msg(1, FLAG_PONG_REQUEST, 14);
        SockperfHeader::new_unchecked(&mut m[..]).set_msg_len(3);
        assert_eq!(
            f.feed(&m, &mut Vec::new()),
            Err(FramingError { msg_len: 3 })
        );
        let mut big = msg(1, FLAG_PONG_REQUEST, 14);
        SockperfHeader::new_unchecked(&mut big[..]).set_msg_len(10_000_000);
        assert!(SockperfFramer::new().feed(&big, &mut Vec::new()).is_err());
    }
}
