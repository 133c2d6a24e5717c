//! State-machine conformance tests: build a connection in a given state, feed one
//! segment at an explicit time, assert the exact segment(s) emitted and the new state.

use core::time::Duration;

use super::conn::{CloseReason, Connection, Event, State, TcpConfig};
use super::segment::{Segment, SegmentHeader};
use super::seq::SeqNumber;
use crate::time::Instant;
use crate::wire::tcp::{TcpFlags, TcpOptions};

const LOCAL_ISS: u32 = 1000;
const REMOTE_ISS: u32 = 5000;
const A: TcpFlags = TcpFlags::ACK;
const S: TcpFlags = TcpFlags::SYN;
const F: TcpFlags = TcpFlags::FIN;
const R: TcpFlags = TcpFlags::RST;
const P: TcpFlags = TcpFlags::PSH;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn cfg() -> TcpConfig {
    TcpConfig::default()
}

type Out = (SegmentHeader, Vec<u8>);

fn out(c: &mut Connection, now: Instant) -> Vec<Out> {
    let mut v = Vec::new();
    c.poll_transmit(now, &mut |h, a, b| {
        v.push((*h, [a, b].concat()));
        true
    });
    v
}

fn seg(seq: u32, ack: u32, flags: TcpFlags, window: u16) -> Segment<'static> {
    Segment::new(seq, ack, flags, window)
}

fn data(seq: u32, ack: u32, payload: &[u8]) -> Segment<'_> {
    Segment {
        payload,
        ..Segment::new(seq, ack, A, 65535)
    }
}

fn syn_opts(mss: Option<u16>, ws: Option<u8>) -> TcpOptions {
    TcpOptions {
        mss,
        window_scale: ws,
        ..TcpOptions::default()
    }
}

fn hdr(o: &Out) -> (u32, u32, TcpFlags, usize) {
    (o.0.seq.0, o.0.ack.0, o.0.flags, o.1.len())
}

fn drain_events(c: &mut Connection) -> Vec<Event> {
    core::iter::from_fn(|| c.poll_event()).collect()
}

/// An ESTABLISHED connection by active open: SND.NXT = 1001, RCV.NXT = 5001, no window
/// scaling, peer window 65535, peer MSS 1460. All output drained; time is 10 ms.
fn established() -> Connection {
    let mut c = Connection::connect(cfg(), ms(0), LOCAL_ISS);
    assert_eq!(out(&mut c, ms(0)).len(), 1);
    let mut sa = seg(REMOTE_ISS, LOCAL_ISS + 1, S | A, 65535);
    sa.options = syn_opts(Some(1460), None);
    c.handle_segment(ms(10), &sa);
    assert_eq!(c.state(), State::Established);
    let o = out(&mut c, ms(10));
    assert_eq!(o.len(), 1);
    drain_events(&mut c);
    c
}

// RFC 9293 §3.5 figure 6, passive side: SYN -> SYN-ACK (MSS, WS) -> ACK -> ESTABLISHED.
#[test]
fn passive_open_three_way_handshake() {
    let mut syn = seg(REMOTE_ISS, 0, S, 64240);
    syn.options = syn_opts(Some(1460), Some(7));
    let mut c = Connection::accept(cfg(), ms(0), LOCAL_ISS, &syn);
    assert_eq!(c.state(), State::SynReceived);
    let o = out(&mut c, ms(0));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (LOCAL_ISS, REMOTE_ISS + 1, S | A, 0));
    assert_eq!(o[0].0.options.mss, Some(1460));
    assert_eq!(o[0].0.options.window_scale, Some(7));
    assert!(!o[0].0.options.sack_permitted);
    assert_eq!(o[0].0.options.timestamps, None);
    assert_eq!(o[0].0.window, 65535, "SYN-ACK window is never scaled");
    c.handle_segment(ms(5), &seg(REMOTE_ISS + 1, LOCAL_ISS + 1, A, 502));
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.send_window(), 502 << 7);
    assert!(out(&mut c, ms(5)).is_empty());
    let ev = drain_events(&mut c);
    assert!(ev.contains(&Event::Connected));
    assert!(ev.contains(&Event::StateChanged {
        from: State::SynReceived,
        to: State::Established
    }));
}

// RFC 9293 §3.5 figure 6, active side: SYN (MSS, WS offered) -> SYN-ACK -> ACK.
#[test]
fn active_open_three_way_handshake() {
    let mut c = Connection::connect(cfg(), ms(0), LOCAL_ISS);
    assert_eq!(c.state(), State::SynSent);
    let o = out(&mut c, ms(0));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (LOCAL_ISS, 0, S, 0));
    assert_eq!(o[0].0.options.mss, Some(1460));
    assert_eq!(o[0].0.options.window_scale, Some(7));
    let mut sa = seg(REMOTE_ISS, LOCAL_ISS + 1, S | A, 65535);
    sa.options = syn_opts(Some(1400), Some(2));
    c.handle_segment(ms(10), &sa);
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.mss(), 1400);
    assert_eq!(c.send_window(), 65535, "window in SYN-ACK is not scaled");
    let o = out(&mut c, ms(10));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (LOCAL_ISS + 1, REMOTE_ISS + 1, A, 0));
    assert_eq!(o[0].0.window, (65536 >> 7) as u16);
    assert!(drain_events(&mut c).contains(&Event::Connected));
    // RTT sample from the SYN (not retransmitted): 10 ms.
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)));
}

// RFC 9293 §3.10.7.3: SYN-SENT, ACK outside (ISS, SND.NXT] -> <SEQ=SEG.ACK><CTL=RST>.
#[test]
fn syn_sent_bad_ack_gets_rst() {
    let mut c = Connection::connect(cfg(), ms(0), LOCAL_ISS);
    out(&mut c, ms(0));
    c.handle_segment(ms(1), &seg(REMOTE_ISS, 4242, S | A, 100));
    assert_eq!(c.state(), State::SynSent);
    let o = out(&mut c, ms(1));
    assert_eq!(hdr(&o[0]), (4242, 0, R, 0));
}

// RFC 9293 §3.10.8 / RFC 6298 §5.5: SYN-ACK retransmitted with back-off, then given up
// after syn_retries.
#[test]
fn syn_ack_retransmitted_then_gives_up() {
    let syn = seg(REMOTE_ISS, 0, S, 64240);
    let mut c = Connection::accept(cfg(), ms(0), LOCAL_ISS, &syn);
    assert_eq!(out(&mut c, ms(0)).len(), 1);
    let mut expected = ms(1000);
    let mut rto = 1000;
    for _ in 0..cfg().syn_retries {
        assert_eq!(c.poll_timeout(), Some(expected));
        c.handle_timeout(expected);
        let o = out(&mut c, expected);
        assert_eq!(o.len(), 1);
        assert_eq!(hdr(&o[0]), (LOCAL_ISS, REMOTE_ISS + 1, S | A, 0));
        rto *= 2;
        expected += Duration::from_millis(rto);
    }
    c.handle_timeout(expected);
    assert_eq!(c.state(), State::Closed);
    let o = out(&mut c, expected);
    assert_eq!(o.len(), 1);
    assert!(o[0].0.flags.contains(R));
    assert!(drain_events(&mut c).contains(&Event::Closed {
        reason: CloseReason::Timeout
    }));
    assert_eq!(c.stats().retransmits, 5);
}

// RFC 9293 §3.5 figure 7: simultaneous open; SYN in SYN-SENT -> SYN-RCVD, SYN-ACK.
#[test]
fn simultaneous_open() {
    let mut c = Connection::connect(cfg(), ms(0), LOCAL_ISS);
    out(&mut c, ms(0));
    let mut syn = seg(REMOTE_ISS, 0, S, 65535);
    syn.options = syn_opts(Some(1460), Some(7));
    c.handle_segment(ms(1), &syn);
    assert_eq!(c.state(), State::SynReceived);
    let o = out(&mut c, ms(1));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (LOCAL_ISS, REMOTE_ISS + 1, S | A, 0));
    // the peer's SYN-ACK completes it
    c.handle_segment(ms(2), &seg(REMOTE_ISS, LOCAL_ISS + 1, S | A, 65535));
    // a SYN in SYN-RCVD at IRS is a retransmission; ACK-only completes:
    c.handle_segment(ms(2), &seg(REMOTE_ISS + 1, LOCAL_ISS + 1, A, 512));
    assert_eq!(c.state(), State::Established);
}

// RFC 9293 §3.6 figure 12: active close: FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT.
#[test]
fn four_way_close_active_side_reaches_time_wait() {
    let mut c = established();
    c.close();
    assert_eq!(c.state(), State::FinWait1);
    let o = out(&mut c, ms(20));
    assert_eq!(hdr(&o[0]), (1001, 5001, F | A, 0));
    c.handle_segment(ms(30), &seg(5001, 1002, A, 65535));
    assert_eq!(c.state(), State::FinWait2);
    c.handle_segment(ms(40), &seg(5001, 1002, F | A, 65535));
    assert_eq!(c.state(), State::TimeWait);
    let o = out(&mut c, ms(40));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (1002, 5002, A, 0));
}

// RFC 9293 §3.6.1: TIME-WAIT lasts 2 x MSL, then CLOSED.
#[test]
fn time_wait_lasts_two_msl() {
    let mut c = established();
    c.close();
    out(&mut c, ms(20));
    c.handle_segment(ms(30), &seg(5001, 1002, F | A, 65535));
    assert_eq!(c.state(), State::TimeWait);
    out(&mut c, ms(30));
    assert_eq!(c.poll_timeout(), Some(ms(30 + 60_000)));
    c.handle_timeout(ms(30 + 59_999));
    assert_eq!(c.state(), State::TimeWait);
    c.handle_timeout(ms(30 + 60_000));
    assert_eq!(c.state(), State::Closed);
    assert!(drain_events(&mut c).contains(&Event::Closed {
        reason: CloseReason::Fin
    }));
}

// RFC 9293 §3.10.7.4 eighth step, TIME-WAIT: a retransmitted FIN is acked and the 2 MSL
// timeout restarted.
#[test]
fn time_wait_reacks_retransmitted_fin() {
    let mut c = established();
    c.close();
    out(&mut c, ms(20));
    c.handle_segment(ms(30), &seg(5001, 1002, F | A, 65535));
    out(&mut c, ms(30));
    c.handle_segment(ms(1000), &seg(5001, 1002, F | A, 65535));
    let o = out(&mut c, ms(1000));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (1002, 5002, A, 0));
    assert_eq!(c.poll_timeout(), Some(ms(1000 + 60_000)));
}

// RFC 9293 §3.6 figure 13: simultaneous close: FIN_WAIT_1 + FIN -> CLOSING -> TIME_WAIT.
#[test]
fn simultaneous_close_goes_through_closing() {
    let mut c = established();
    c.close();
    out(&mut c, ms(20));
    c.handle_segment(ms(21), &seg(5001, 1001, F | A, 65535));
    assert_eq!(c.state(), State::Closing);
    let o = out(&mut c, ms(21));
    assert_eq!(hdr(&o[0]), (1002, 5002, A, 0));
    c.handle_segment(ms(30), &seg(5002, 1002, A, 65535));
    assert_eq!(c.state(), State::TimeWait);
}

// RFC 9293 §3.10.8: our FIN in LAST_ACK is retransmitted on RTO; its ACK closes.
#[test]
fn fin_retransmitted_in_last_ack() {
    let mut c = established();
    c.handle_segment(ms(20), &seg(5001, 1001, F | A, 65535));
    assert_eq!(c.state(), State::CloseWait);
    assert!(drain_events(&mut c).contains(&Event::PeerClosed));
    out(&mut c, ms(20));
    c.close();
    assert_eq!(c.state(), State::LastAck);
    let o = out(&mut c, ms(20));
    assert_eq!(hdr(&o[0]), (1001, 5002, F | A, 0));
    let t = c.poll_timeout().unwrap();
    c.handle_timeout(t);
    let o = out(&mut c, t);
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (1001, 5002, F | A, 0));
    c.handle_segment(t + Duration::from_millis(5), &seg(5002, 1002, A, 65535));
    assert_eq!(c.state(), State::Closed);
    assert!(drain_events(&mut c).contains(&Event::Closed {
        reason: CloseReason::Fin
    }));
}

// RFC 9293 §3.6 (half-close): after the peer's FIN we can still send data.
#[test]
fn half_close_data_still_flows_after_peer_fin() {
    let mut c = established();
    c.handle_segment(ms(20), &data(5001, 1001, b"bye"));
    c.handle_segment(ms(20), &seg(5004, 1001, F | A, 65535));
    assert_eq!(c.state(), State::CloseWait);
    let mut buf = [0u8; 8];
    assert_eq!(c.recv(&mut buf), 3);
    assert_eq!(c.send(b"still here"), 10);
    let o = out(&mut c, ms(21));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (1001, 5005, A | P, 10));
    assert_eq!(o[0].1, b"still here");
}

// RFC 9293 §3.10.7.4 second step / RFC 5961 §3.2: RST with SEG.SEQ = RCV.NXT resets.
#[test]
fn rst_exact_seq_closes() {
    let mut c = established();
    c.handle_segment(ms(20), &seg(5001, 0, R, 0));
    assert_eq!(c.state(), State::Closed);
    assert!(out(&mut c, ms(20)).is_empty());
    assert!(drain_events(&mut c).contains(&Event::Closed {
        reason: CloseReason::Rst
    }));
}

// RFC 5961 §3.2: RST in window but not exact -> challenge ACK, state unchanged.
#[test]
fn rst_in_window_not_exact_gets_challenge_ack() {
    let mut c = established();
    c.handle_segment(ms(20), &seg(5100, 0, R, 0));
    assert_eq!(c.state(), State::Established);
    let o = out(&mut c, ms(20));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (1001, 5001, A, 0));
    assert_eq!(c.stats().challenge_acks, 1);
}

// RFC 9293 §3.10.7.4 first step: RST outside the window is dropped silently.
#[test]
fn rst_out_of_window_is_dropped() {
    let mut c = established();
    c.handle_segment(ms(20), &seg(5001 + 200_000, 0, R, 0));
    assert_eq!(c.state(), State::Established);
    assert!(out(&mut c, ms(20)).is_empty());
}

// RFC 5961 §4.2 / RFC 9293 §3.10.7.4 fourth step: SYN in a synchronized state ->
// challenge ACK.
#[test]
fn syn_in_established_gets_challenge_ack() {
    let mut c = established();
    c.handle_segment(ms(20), &seg(5001, 0, S, 65535));
    assert_eq!(c.state(), State::Established);
    let o = out(&mut c, ms(20));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (1001, 5001, A, 0));
    assert_eq!(c.stats().challenge_acks, 1);
}

// RFC 9293 §3.10.7.4 fifth step: an ACK of unsent data gets an ACK and is dropped.
#[test]
fn ack_of_unsent_data_gets_ack_and_is_dropped() {
    let mut c = established();
    c.handle_segment(ms(20), &data(5001, 9999, b"x"));
    let o = out(&mut c, ms(20));
    assert_eq!(hdr(&o[0]), (1001, 5001, A, 0));
    assert_eq!(c.recv_available(), 0);
}

// RFC 9293 §3.10.7.4 first step: unacceptable segment (old) -> ACK.
#[test]
fn old_duplicate_segment_gets_ack() {
    let mut c = established();
    c.handle_segment(ms(20), &data(4000, 1001, b"old"));
    let o = out(&mut c, ms(20));
    assert_eq!(hdr(&o[0]), (1001, 5001, A, 0));
}

// RFC 9293 §3.10.7.4 seventh step, RFC 5681 §4.2: out-of-order data -> immediate
// duplicate ACK; kept and reassembled when the hole fills.
#[test]
fn out_of_order_segment_gets_immediate_dup_ack_and_is_reassembled() {
    let mut c = established();
    c.handle_segment(ms(20), &data(5004, 1001, b"def"));
    let o = out(&mut c, ms(20));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (1001, 5001, A, 0));
    assert_eq!(c.recv_available(), 0);
    assert_eq!(c.stats().out_of_order, 1);
    c.handle_segment(ms(21), &data(5001, 1001, b"abc"));
    let o = out(&mut c, ms(21));
    assert_eq!(o.len(), 1, "hole filled: immediate ACK");
    assert_eq!(hdr(&o[0]), (1001, 5007, A, 0));
    let mut buf = [0u8; 16];
    assert_eq!(c.recv(&mut buf), 6);
    assert_eq!(&buf[..6], b"abcdef");
}

// RFC 9293 §3.8.6.3 / RFC 5681 §4.2: delay ACKs at most `delayed_ack`, and ACK at least
// every second full-size segment.
#[test]
fn delayed_ack_at_most_every_second_full_segment() {
    let mut c = established();
    let full = vec![7u8; 1460];
    c.handle_segment(ms(20), &data(5001, 1001, &full));
    assert!(out(&mut c, ms(20)).is_empty(), "first segment: ACK delayed");
    assert_eq!(c.poll_timeout(), Some(ms(60)));
    c.handle_segment(ms(21), &data(6461, 1001, &full));
    let o = out(&mut c, ms(21));
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (1001, 7921, A, 0));
    // a lone small segment is acked when the delayed-ACK timer fires
    c.handle_segment(ms(30), &data(7921, 1001, b"z"));
    assert!(out(&mut c, ms(30)).is_empty());
    assert_eq!(c.poll_timeout(), Some(ms(70)));
    c.handle_timeout(ms(70));
    let o = out(&mut c, ms(70));
    assert_eq!(hdr(&o[0]), (1001, 7922, A, 0));
}

// RFC 9293 §3.7.1: no MSS option -> 536.
#[test]
fn peer_without_mss_gets_536() {
    let syn = seg(REMOTE_ISS, 0, S, 65535);
    let mut c = Connection::accept(cfg(), ms(0), LOCAL_ISS, &syn);
    out(&mut c, ms(0));
    c.handle_segment(ms(1), &seg(REMOTE_ISS + 1, LOCAL_ISS + 1, A, 65535));
    assert_eq!(c.mss(), 536);
    c.send(&[1u8; 2000]);
    let o = out(&mut c, ms(1));
    let lens: Vec<usize> = o.iter().map(|x| x.1.len()).collect();
    assert_eq!(lens, vec![536, 536, 536, 392]);
}

// RFC 7323 §1.3/§2.2: window scale sent in SYN-ACK only if the SYN offered it; without
// it neither direction is scaled.
#[test]
fn window_scale_only_if_syn_offered() {
    let syn = seg(REMOTE_ISS, 0, S, 65535);
    let mut c = Connection::accept(cfg(), ms(0), LOCAL_ISS, &syn);
    let o = out(&mut c, ms(0));
    assert_eq!(o[0].0.options.window_scale, None);
    c.handle_segment(ms(1), &seg(REMOTE_ISS + 1, LOCAL_ISS + 1, A, 1000));
    assert_eq!(c.send_window(), 1000);
    c.handle_segment(ms(2), &data(REMOTE_ISS + 1, LOCAL_ISS + 1, b"x"));
    c.handle_timeout(ms(100));
    let o = out(&mut c, ms(100));
    assert_eq!(o[0].0.window, 65535);

    let mut syn = seg(REMOTE_ISS, 0, S, 65535);
    syn.options = syn_opts(Some(1460), Some(3));
    let mut c = Connection::accept(cfg(), ms(0), LOCAL_ISS, &syn);
    let o = out(&mut c, ms(0));
    assert_eq!(o[0].0.options.window_scale, Some(7));
    c.handle_segment(ms(1), &seg(REMOTE_ISS + 1, LOCAL_ISS + 1, A, 1000));
    assert_eq!(c.send_window(), 8000);
}

// RFC 6298 §5.5: the RTO doubles on each timeout, retransmitting from SND.UNA.
#[test]
fn rto_backs_off_exponentially() {
    let mut c = established();
    c.send(b"hello");
    let o = out(&mut c, ms(20));
    assert_eq!(hdr(&o[0]), (1001, 5001, A | P, 5));
    let rto = c.rto();
    let mut t = ms(20) + rto;
    for i in 0..4u32 {
        assert_eq!(c.poll_timeout(), Some(t));
        c.handle_timeout(t);
        let o = out(&mut c, t);
        assert_eq!(o.len(), 1);
        assert_eq!(hdr(&o[0]), (1001, 5001, A | P, 5));
        assert_eq!(c.rto(), rto * 2u32.pow(i + 1));
        t += c.rto();
    }
    assert_eq!(c.stats().timeouts, 4);
    assert_eq!(c.stats().retransmits, 4);
}

// RFC 6298 §3 (Karn): no RTT sample from a retransmitted segment.
#[test]
fn karn_no_rtt_sample_from_retransmitted_segment() {
    let mut c = established();
    let srtt = c.srtt();
    c.send(b"hello");
    out(&mut c, ms(20));
    let t = c.poll_timeout().unwrap();
    c.handle_timeout(t);
    out(&mut c, t);
    let backed_off = c.rto();
    c.handle_segment(t + Duration::from_millis(3), &seg(5001, 1006, A, 65535));
    assert_eq!(c.srtt(), srtt, "no sample taken");
    assert_eq!(
        c.rto(),
        backed_off,
        "backed-off RTO kept until a valid sample"
    );
    // next, a fresh segment is timed again
    c.send(b"x");
    let t2 = t + Duration::from_millis(10);
    out(&mut c, t2);
    c.handle_segment(t2 + Duration::from_millis(90), &seg(5001, 1007, A, 65535));
    assert_ne!(c.srtt(), srtt);
}

// RFC 5681 §3.2 / RFC 6582: three duplicate ACKs -> fast retransmit of SND.UNA,
// ssthresh = max(FlightSize/2, 2*SMSS), cwnd = ssthresh + 3*SMSS; full ACK ends recovery.
#[test]
fn three_dup_acks_trigger_fast_retransmit() {
    let mut c = established();
    c.send(&[9u8; 1460 * 5]);
    let o = out(&mut c, ms(20));
    assert_eq!(o.len(), 5);
    for i in 0..3 {
        c.handle_segment(ms(30 + i), &seg(5001, 1001, A, 65535));
        let o = out(&mut c, ms(30 + i));
        if i < 2 {
            assert!(o.is_empty());
        } else {
            assert_eq!(o.len(), 1);
            assert_eq!(hdr(&o[0]), (1001, 5001, A, 1460));
        }
    }
    assert_eq!(c.stats().fast_retransmits, 1);
    assert_eq!(c.ssthresh(), 1460 * 5 / 2);
    assert_eq!(c.cwnd(), 1460 * 5 / 2 + 3 * 1460);
    // partial ACK: retransmit the next hole
    c.handle_segment(ms(40), &seg(5001, 1001 + 1460, A, 65535));
    let o = out(&mut c, ms(40));
    assert_eq!(hdr(&o[0]), (1001 + 1460, 5001, A, 1460));
    // full ACK ends recovery with cwnd = ssthresh (or flight + SMSS)
    c.handle_segment(ms(50), &seg(5001, 1001 + 1460 * 5, A, 65535));
    assert_eq!(c.cwnd(), 1460);
    assert_eq!(c.ssthresh(), 1460 * 5 / 2);
}

// RFC 9293 §3.8.6.1 / RFC 1122 4.2.2.17: zero window -> persist timer -> 1-byte probe.
#[test]
fn zero_window_probe_after_persist_timeout() {
    let mut c = established();
    c.handle_segment(ms(20), &seg(5001, 1001, A, 0));
    c.send(b"abc");
    assert!(out(&mut c, ms(20)).is_empty());
    let t = c.poll_timeout().expect("persist timer armed");
    c.handle_timeout(t);
    let o = out(&mut c, t);
    assert_eq!(o.len(), 1);
    assert_eq!(hdr(&o[0]), (1001, 5001, A, 1));
    assert_eq!(o[0].1, b"a");
    // still zero: probe again later, with back-off
    c.handle_segment(t, &seg(5001, 1001, A, 0));
    let t2 = c.poll_timeout().unwrap();
    assert!(t2 > t + c.rto());
    // window opens: data flows
    c.handle_segment(t2, &seg(5001, 1001, A, 100));
    let o = out(&mut c, t2);
    assert_eq!(hdr(&o[0]), (1001, 5001, A | P, 3));
}

// RFC 9293 §3.8.3 (R2) / RFC 1122 4.2.3.5: give up after max_retries with RST.
#[test]
fn gives_up_after_max_retries_with_rst() {
    let mut c = established();
    c.send(b"data");
    out(&mut c, ms(20));
    for _ in 0..cfg().max_retries {
        let t = c.poll_timeout().unwrap();
        c.handle_timeout(t);
        assert_eq!(out(&mut c, t).len(), 1);
    }
    let t = c.poll_timeout().unwrap();
    c.handle_timeout(t);
    assert_eq!(c.state(), State::Closed);
    let o = out(&mut c, t);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].0.flags, R | A);
    assert_eq!(o[0].0.seq.0, 1005, "SEQ = highest sequence number sent");
    assert!(drain_events(&mut c).contains(&Event::Closed {
        reason: CloseReason::Timeout
    }));
    assert_eq!(c.poll_timeout(), None);
}

// Output blocked (no TX buffer) counts as not sent.
#[test]
fn blocked_emit_sends_nothing() {
    let mut c = established();
    c.send(b"abc");
    c.poll_transmit(ms(20), &mut |_, _, _| false);
    let o = out(&mut c, ms(21));
    assert_eq!(hdr(&o[0]), (1001, 5001, A | P, 3));
}

// abort(): RST <SEQ=SND.NXT>, CLOSED.
#[test]
fn abort_sends_rst() {
    let mut c = established();
    c.abort();
    assert_eq!(c.state(), State::Closed);
    let o = out(&mut c, ms(20));
    assert_eq!(o.len(), 1);
    assert!(o[0].0.flags.contains(R));
    assert_eq!(o[0].0.seq, SeqNumber(1001));
}

#[test]
fn state_display_names() {
    let names: Vec<String> = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynReceived,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
        State::Closing,
        State::LastAck,
        State::TimeWait,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        names,
        [
            "CLOSED",
            "LISTEN",
            "SYN_SENT",
            "SYN_RCVD",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "CLOSE_WAIT",
            "CLOSING",
            "LAST_ACK",
            "TIME_WAIT"
        ]
    );
}
