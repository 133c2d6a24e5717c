//! proto/tcp/rst: the reply to a segment for which no connection exists
//! (RFC 9293 §3.10.7.1, state CLOSED). Pure function; the stack fills in ports/addresses.

use super::segment::{Segment, SegmentHeader};
use super::seq::SeqNumber;
use crate::wire::tcp::{TcpFlags, TcpOptions};

/// What to send back for `seg` when no connection (and no listener) matches it.
///
/// An arriving RST is discarded. A segment with ACK gets `<SEQ=SEG.ACK><CTL=RST>`;
/// otherwise `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
pub fn rst_for_no_connection(seg: &Segment) -> Option<SegmentHeader> {
    if seg.flags.contains(TcpFlags::RST) {
        return None;
    }
    if seg.flags.contains(TcpFlags::ACK) {
        Some(SegmentHeader {
            seq: seg.ack,
            ack: SeqNumber(0),
            flags: TcpFlags::RST,
            window: 0,
            options: TcpOptions::default(),
        })
    } else {
        Some(SegmentHeader {
            seq: SeqNumber(0),
            ack: seg.seq + seg.len(),
            flags: TcpFlags::RST | TcpFlags::ACK,
            window: 0,
            options: TcpOptions::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 9293 §3.10.7.1: no ACK bit -> <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; SYN counts.
    #[test]
    fn syn_to_closed_port_gets_rst_ack_seq_zero() {
        let seg = Segment::new(1000, 0, TcpFlags::SYN, 64240);
        let r = rst_for_no_connection(&seg).unwrap();
        assert_eq!(r.seq, SeqNumber(0));
        assert_eq!(r.ack, SeqNumber(1001));
        assert_eq!(r.flags, TcpFlags::RST | TcpFlags::ACK);
    }

    // RFC 9293 §3.10.7.1: SEG.LEN counts payload and FIN.
    #[test]
    fn fin_with_data_to_closed_port_acks_whole_length() {
        let mut seg = Segment::new(u32::MAX, 0, TcpFlags::FIN, 100);
        seg.payload = b"hello";
        let r = rst_for_no_connection(&seg).unwrap();
        assert_eq!(r.ack, SeqNumber(5));
        assert_eq!(r.flags, TcpFlags::RST | TcpFlags::ACK);
    }

    // RFC 9293 §3.10.7.1: ACK bit on -> <SEQ=SEG.ACK><CTL=RST>.
    #[test]
    fn ack_to_closed_port_gets_rst_seq_from_ack() {
        let seg = Segment::new(1000, 77_777, TcpFlags::ACK, 100);
        let r = rst_for_no_connection(&seg).unwrap();
        assert_eq!(r.seq, SeqNumber(77_777));
        assert_eq!(r.flags, TcpFlags::RST);
    }

    // RFC 9293 §3.10.7.1: "An incoming segment containing a RST is discarded."
    #[test]
    fn rst_is_never_answered() {
        assert!(rst_for_no_connection(&Segment::new(1, 2, TcpFlags::RST, 0)).is_none());
        assert!(
            rst_for_no_connection(&Segment::new(1, 2, TcpFlags::RST | TcpFlags::ACK, 0)).is_none()
        );
    }
}
