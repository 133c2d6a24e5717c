//! proto/tcp/segment: the segment as the state machine sees it.
//!
//! [`Segment`] holds the RFC 9293 SEG.* variables of an arriving segment, borrowing the
//! payload from the received frame. [`SegmentHeader`] is what the state machine emits; the
//! stack turns it (plus ports and addresses it owns) into a wire header and appends the
//! payload slices handed over next to it.

use super::seq::SeqNumber;
use crate::wire::tcp::{TcpFlags, TcpOptions};

/// An arriving segment: SEG.SEQ, SEG.ACK, control bits, SEG.WND (unscaled, as on the
/// wire), options and the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> Segment<'a> {
    /// SEG.LEN: payload octets plus one for SYN and one for FIN.
    pub fn len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// True when the segment occupies no sequence space.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A segment with no options and no payload.
    pub fn new(seq: u32, ack: u32, flags: TcpFlags, window: u16) -> Segment<'static> {
        Segment {
            seq: SeqNumber(seq),
            ack: SeqNumber(ack),
            flags,
            window,
            options: TcpOptions::default(),
            payload: &[],
        }
    }
}

/// An outgoing segment header: what the state machine decided to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    /// Already scaled down by our window-scale shift (never scaled on SYN segments).
    pub window: u16,
    pub options: TcpOptions,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn len_counts_syn_and_fin() {
        let mut s = Segment::new(1, 0, TcpFlags::SYN, 100);
        assert_eq!(s.len(), 1);
        s.flags = TcpFlags::FIN | TcpFlags::ACK;
        s.payload = b"abc";
        assert_eq!(s.len(), 4);
        s.flags = TcpFlags::ACK;
        s.payload = &[];
        assert!(s.is_empty());
    }
}
