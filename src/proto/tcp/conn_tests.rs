//! Tier 2 of the TCP tests for one connection (`conn`): each starts a connection in a
//! state, feeds it segments at explicit times and checks what it sends and where it goes,
//! one test per RFC rule, named after it. A child module of `conn`, so tests may look at
//! the TCB's private variables.

use super::*;

const ISS: u32 = 5000;
const IRS: u32 = 1000;

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn seg<'a>(seq: u32, ack: u32, flags: TcpFlags, payload: &'a [u8]) -> Segment<'a> {
    Segment {
        seq: SeqNumber(seq),
        ack: SeqNumber(ack),
        flags,
        window: 65535,
        options: TcpOptions::default(),
        payload,
    }
}

fn syn(mss: Option<u16>, ws: Option<u8>) -> Segment<'static> {
    Segment {
        options: TcpOptions {
            mss,
            window_scale: ws,
            ..TcpOptions::default()
        },
        ..seg(IRS, 0, TcpFlags::SYN, b"")
    }
}

/// Everything the connection sends now: (header, payload).
fn out(c: &mut Connection, now: Instant) -> Vec<(SegmentHeader, Vec<u8>)> {
    let mut v = Vec::new();
    c.poll_transmit(now, &mut |h, a, b| {
        v.push((*h, [a, b].concat()));
        true
    });
    v
}

fn flags(o: &[(SegmentHeader, Vec<u8>)]) -> Vec<TcpFlags> {
    o.iter().map(|(h, _)| h.flags).collect()
}

#[test]
fn time_wait_hands_its_buffers_back_once_and_still_acks() {
    let mut c = established();
    c.close();
    out(&mut c, t(10));
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 2, A, b""));
    assert!(
        c.take_buffers().is_none(),
        "FIN_WAIT_2 may still receive data"
    );
    c.handle_segment(t(12), &seg(IRS + 1, ISS + 2, FA, b""));
    assert_eq!(c.state(), State::TimeWait);
    let b = c.take_buffers().expect("TIME_WAIT needs no buffers");
    assert!(b.holds_memory());
    assert!(c.take_buffers().is_none(), "taken once");
    // A retransmitted FIN is still answered, from no buffers at all.
    c.handle_segment(t(13), &seg(IRS + 1, ISS + 2, FA, b""));
    assert_eq!(flags(&out(&mut c, t(13))), vec![A]);
}

#[test]
fn buffers_come_back_once_the_connection_needs_them_no_more() {
    let cfg = TcpConfig::default();
    let mut c = Connection::accept(
        cfg,
        t(0),
        ISS,
        &syn(Some(1460), None),
        Buffers::for_config(&cfg),
    );
    assert!(
        c.take_buffers().is_none(),
        "SYN_RCVD still needs its buffers"
    );
    let b = c.release_buffers();
    assert!(b.fits(&cfg) && b.holds_memory());
}

const A: TcpFlags = TcpFlags::ACK;
const PA: TcpFlags = TcpFlags(0x18);
const FA: TcpFlags = TcpFlags(0x11);

/// A connection accepted from a SYN with MSS 1460 and window scale 7, and established.
fn established() -> Connection {
    let mut c = Connection::accept(
        TcpConfig::default(),
        t(0),
        ISS,
        &syn(Some(1460), Some(7)),
        Buffers::for_config(&TcpConfig::default()),
    );
    out(&mut c, t(0));
    c.handle_segment(t(1), &seg(IRS + 1, ISS + 1, A, b""));
    assert_eq!(c.state(), State::Established);
    while c.poll_event().is_some() {}
    c
}

// RFC 9293 §3.5, figure 6: LISTEN -> SYN_RCVD -> ESTABLISHED.
#[test]
fn passive_open_three_way_handshake() {
    let mut c = Connection::accept(
        TcpConfig::default(),
        t(0),
        ISS,
        &syn(Some(1460), Some(7)),
        Buffers::for_config(&TcpConfig::default()),
    );
    assert_eq!(c.state(), State::SynReceived);
    let o = out(&mut c, t(0));
    assert_eq!(o.len(), 1);
    let (h, p) = &o[0];
    assert_eq!(h.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!((h.seq.0, h.ack.0), (ISS, IRS + 1));
    assert_eq!(h.options.mss, Some(1460));
    assert_eq!(h.options.window_scale, Some(7));
    assert!(p.is_empty());
    c.handle_segment(t(1), &seg(IRS + 1, ISS + 1, A, b""));
    assert_eq!(c.state(), State::Established);
    let ev: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(ev.contains(&Event::Connected));
    assert!(ev.contains(&Event::StateChanged {
        from: State::SynReceived,
        to: State::Established
    }));
    assert!(
        out(&mut c, t(1)).is_empty(),
        "nothing to say after the handshake"
    );
}

// RFC 9293 §3.5: CLOSED -> SYN_SENT -> ESTABLISHED, the third segment is an ACK.
#[test]
fn active_open_three_way_handshake() {
    let mut c = Connection::connect(
        TcpConfig::default(),
        t(0),
        ISS,
        Buffers::for_config(&TcpConfig::default()),
    );
    let o = out(&mut c, t(0));
    assert_eq!(flags(&o), vec![TcpFlags::SYN]);
    assert_eq!(o[0].0.seq.0, ISS);
    assert_eq!(
        o[0].0.options.window_scale,
        Some(7),
        "an active open offers scaling"
    );
    let mut synack = syn(Some(1400), Some(5));
    synack.flags = TcpFlags::SYN | A;
    synack.ack = SeqNumber(ISS + 1);
    c.handle_segment(t(10), &synack);
    assert_eq!(c.state(), State::Established);
    let o = out(&mut c, t(10));
    assert_eq!(flags(&o), vec![A]);
    assert_eq!((o[0].0.seq.0, o[0].0.ack.0), (ISS + 1, IRS + 1));
}

// RFC 9293 §3.5, figure 7: both sides send SYN; each answers with SYN-ACK.
#[test]
fn simultaneous_open() {
    let mut c = Connection::connect(
        TcpConfig::default(),
        t(0),
        ISS,
        Buffers::for_config(&TcpConfig::default()),
    );
    out(&mut c, t(0));
    c.handle_segment(t(1), &syn(Some(1460), Some(7)));
    assert_eq!(c.state(), State::SynReceived);
    let o = out(&mut c, t(1));
    assert_eq!(flags(&o), vec![TcpFlags::SYN | A]);
    assert_eq!((o[0].0.seq.0, o[0].0.ack.0), (ISS, IRS + 1));
    c.handle_segment(t(2), &seg(IRS + 1, ISS + 1, TcpFlags::SYN | A, b""));
    // A SYN in SYN_RCVD is answered with a challenge ACK, not a second handshake.
    c.handle_segment(t(2), &seg(IRS + 1, ISS + 1, A, b""));
    assert_eq!(c.state(), State::Established);
}

// RFC 9293 §3.7.1: a SYN without the MSS option means 536.
#[test]
fn peer_without_mss_gets_536_byte_segments() {
    let mut c = Connection::accept(
        TcpConfig::default(),
        t(0),
        ISS,
        &syn(None, None),
        Buffers::for_config(&TcpConfig::default()),
    );
    out(&mut c, t(0));
    c.handle_segment(t(1), &seg(IRS + 1, ISS + 1, A, b""));
    assert_eq!(c.send(&[7u8; 1000]), 1000);
    let o = out(&mut c, t(1));
    let sizes: Vec<_> = o.iter().map(|(_, p)| p.len()).collect();
    assert_eq!(sizes, vec![536, 464]);
}

// RFC 7323 §2.2: window scaling only if the SYN offered it; windows in SYNs unscaled.
#[test]
fn window_scale_only_if_the_syn_offered_it() {
    let mut c = Connection::accept(
        TcpConfig::default(),
        t(0),
        ISS,
        &syn(Some(1460), None),
        Buffers::for_config(&TcpConfig::default()),
    );
    let o = out(&mut c, t(0));
    assert_eq!(o[0].0.options.window_scale, None);
    assert_eq!(o[0].0.window, 65535, "64 KiB buffer, unscaled, capped");
    c.handle_segment(t(1), &seg(IRS + 1, ISS + 1, A, b""));
    c.handle_segment(t(2), &seg(IRS + 1, ISS + 1, A, b"x"));
    c.handle_segment(t(3), &seg(IRS + 2, ISS + 1, A, b"y"));
    let o = out(&mut c, t(3));
    assert_eq!(o[0].0.window, 65534, "unscaled: the free space itself");
    // With scaling offered, our windows are shifted by 7.
    let mut s = established();
    s.handle_segment(t(2), &seg(IRS + 1, ISS + 1, A, b"x"));
    s.handle_segment(t(3), &seg(IRS + 2, ISS + 1, A, b"y"));
    assert_eq!(out(&mut s, t(3))[0].0.window, ((65536 - 2) >> 7) as u16);
}

/// An established connection that has had its first 16 data segments (100 bytes each,
/// acknowledged at once in quick-ACK mode) and is past them.
fn established_past_quick_acks() -> (Connection, u32) {
    let mut c = established();
    let mut at = IRS + 1;
    for i in 0..16 {
        c.handle_segment(t(2), &seg(at, ISS + 1, A, &[i; 100]));
        at += 100;
        assert_eq!(flags(&out(&mut c, t(2))), vec![A], "quick ACK {i}");
    }
    read_all(&mut c);
    (c, at)
}

// RFC 9293 §3.8.6.3 and RFC 5681 §4.2: ACKs may be delayed, but every second full
// segment is acknowledged at once and no ACK waits longer than the delay.
#[test]
fn delayed_ack_at_most_every_second_segment() {
    let (mut c, at) = established_past_quick_acks();
    c.handle_segment(t(10), &seg(at, ISS + 1, A, &[1; 100]));
    assert!(
        out(&mut c, t(10)).is_empty(),
        "the first segment's ACK waits"
    );
    assert_eq!(c.poll_timeout(), Some(t(50)));
    c.handle_segment(t(11), &seg(at + 100, ISS + 1, A, &[2; 100]));
    let o = out(&mut c, t(11));
    assert_eq!(flags(&o), vec![A]);
    assert_eq!(o[0].0.ack.0, at + 200);
    c.handle_segment(t(20), &seg(at + 200, ISS + 1, A, &[3; 100]));
    c.handle_timeout(t(60));
    assert_eq!(
        out(&mut c, t(60))[0].0.ack.0,
        at + 300,
        "acknowledged after the delay"
    );
}

// As Linux's quick-ACK mode (RFC 5681 §4.2 leaves the delay to the receiver): the first
// data segments, those after a pause longer than the RTO (the sender has likely timed
// out and restarts its slow start from one segment), and those after a duplicate are
// acknowledged at once.
#[test]
fn quick_acks_at_the_start_after_a_pause_and_after_a_duplicate() {
    let (mut c, at) = established_past_quick_acks();
    c.handle_segment(t(10), &seg(at, ISS + 1, A, &[1; 100]));
    assert!(out(&mut c, t(10)).is_empty(), "delayed again");
    c.handle_timeout(t(50));
    out(&mut c, t(50));
    // A pause longer than the RTO (200 ms): quick ACKs again.
    c.handle_segment(t(400), &seg(at + 100, ISS + 1, A, &[2; 100]));
    assert_eq!(flags(&out(&mut c, t(400))), vec![A]);
    c.handle_segment(t(401), &seg(at + 200, ISS + 1, A, &[3; 100]));
    assert_eq!(flags(&out(&mut c, t(401))), vec![A]);
    let (mut c, at) = established_past_quick_acks();
    c.handle_segment(t(10), &seg(at - 100, ISS + 1, A, &[15; 100]));
    out(&mut c, t(10));
    c.handle_segment(t(11), &seg(at, ISS + 1, A, &[1; 100]));
    assert_eq!(flags(&out(&mut c, t(11))), vec![A], "after a duplicate");
}

// RFC 5681 §4.2: an out-of-order segment gets an immediate duplicate ACK.
#[test]
fn out_of_order_segment_gets_an_immediate_duplicate_ack() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 101, ISS + 1, A, &[1; 100]));
    let o = out(&mut c, t(10));
    assert_eq!(flags(&o), vec![A]);
    assert_eq!(o[0].0.ack.0, IRS + 1);
    assert_eq!(c.recv_available(), 0);
    assert_eq!(c.stats().out_of_order, 1);
}

#[test]
fn data_is_received_in_order_and_echoed() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 1, ISS + 1, A, b"hello"));
    assert_eq!(c.poll_event(), Some(Event::Readable));
    let mut buf = [0u8; 16];
    let n = c.recv(&mut buf);
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(c.send(&buf[..n]), 5);
    let o = out(&mut c, t(10));
    assert_eq!(o.len(), 1, "the reply carries the ACK");
    assert_eq!(o[0].0.flags, PA);
    assert_eq!((o[0].0.seq.0, o[0].0.ack.0), (ISS + 1, IRS + 6));
    assert_eq!(o[0].1, b"hello");
    // A duplicate of the same segment is trimmed away and re-acknowledged.
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 1, A, b"hello"));
    assert_eq!(c.recv_available(), 0);
}

// RFC 6298 §5: retransmit on timeout from SND.UNA, doubling the RTO each time.
#[test]
fn rto_backs_off_exponentially() {
    let mut c = established();
    c.send(b"data");
    out(&mut c, t(100));
    let mut at = t(100);
    // The handshake's 1 ms sample put the RTO at its 200 ms floor.
    let mut rto = c.rtt.rto();
    assert_eq!(rto, Duration::from_millis(200));
    for _ in 0..3 {
        at += rto;
        assert_eq!(c.poll_timeout(), Some(at));
        c.handle_timeout(at);
        let o = out(&mut c, at);
        assert_eq!(o.len(), 1);
        assert_eq!((o[0].0.seq.0, o[0].1.as_slice()), (ISS + 1, &b"data"[..]));
        rto *= 2;
    }
    assert_eq!(c.stats().retransmits, 3);
}

// RFC 6298 §5.5 backs off on timeouts; an ACK of new data ends the back-off and the
// RTO returns to SRTT + 4·RTTVAR (as Linux does). Found by the 5 % loss pair test,
// where the back-off otherwise climbed to 60 s and stalled the transfer.
#[test]
fn an_ack_of_new_data_ends_the_backoff() {
    let mut c = established();
    let base = c.rtt.rto();
    c.send(b"data");
    out(&mut c, t(100));
    for _ in 0..3 {
        let at = c.poll_timeout().unwrap();
        c.handle_timeout(at);
        out(&mut c, at);
    }
    assert_eq!(c.rtt.rto(), base * 8);
    c.handle_segment(t(5000), &seg(IRS + 1, ISS + 5, A, b""));
    assert_eq!(c.rtt.rto(), base);
}

// RFC 6298 §3 (Karn): no RTT sample from a retransmitted segment.
#[test]
fn karn_no_rtt_sample_from_a_retransmitted_segment() {
    let mut c = established();
    // The handshake took 1 ms: that was the first sample.
    assert_eq!(c.rtt.srtt(), Some(Duration::from_millis(1)));
    c.send(b"data");
    out(&mut c, t(100));
    c.handle_timeout(t(100) + c.rtt.rto());
    out(&mut c, t(2000));
    c.handle_segment(t(2500), &seg(IRS + 1, ISS + 5, A, b""));
    assert_eq!(
        c.rtt.srtt(),
        Some(Duration::from_millis(1)),
        "no sample from the retransmission"
    );
}

// RFC 9293 §3.8.3: after too many retransmissions, give up with a RST.
#[test]
fn gives_up_after_max_retries_with_rst() {
    let cfg = TcpConfig {
        max_retries: 2,
        ..TcpConfig::default()
    };
    let mut c = Connection::accept(
        cfg,
        t(0),
        ISS,
        &syn(Some(1460), None),
        Buffers::for_config(&cfg),
    );
    out(&mut c, t(0));
    c.handle_segment(t(1), &seg(IRS + 1, ISS + 1, A, b""));
    c.send(b"x");
    out(&mut c, t(1));
    for _ in 0..3 {
        let at = c.poll_timeout().unwrap();
        c.handle_timeout(at);
        out(&mut c, at);
    }
    assert_eq!(c.state(), State::Closed);
    let ev: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(ev.contains(&Event::Closed(CloseReason::Timeout)), "{ev:?}");
}

// RFC 9293 §3.10.7.4 and the SYN-ACK timer: an unanswered SYN-ACK is sent again.
#[test]
fn syn_ack_is_retransmitted() {
    let mut c = Connection::accept(
        TcpConfig::default(),
        t(0),
        ISS,
        &syn(Some(1460), None),
        Buffers::for_config(&TcpConfig::default()),
    );
    out(&mut c, t(0));
    assert_eq!(c.poll_timeout(), Some(t(1000)));
    c.handle_timeout(t(1000));
    let o = out(&mut c, t(1000));
    assert_eq!(flags(&o), vec![TcpFlags::SYN | A]);
    assert_eq!(o[0].0.seq.0, ISS);
}

// RFC 9293 §3.6, figure 12: the passive close: CLOSE_WAIT, then LAST_ACK, then CLOSED.
#[test]
fn passive_close_through_close_wait_and_last_ack() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 1, ISS + 1, FA, b""));
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(flags(&out(&mut c, t(10))), vec![A]);
    c.close();
    let o = out(&mut c, t(11));
    assert_eq!(flags(&o), vec![FA]);
    assert_eq!(c.state(), State::LastAck);
    c.handle_segment(t(12), &seg(IRS + 2, ISS + 2, A, b""));
    assert_eq!(c.state(), State::Closed);
    let ev: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(ev.contains(&Event::Closed(CloseReason::Fin)));
}

// RFC 9293 §3.6: FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT for 2×MSL, then CLOSED.
#[test]
fn active_close_reaches_time_wait_for_two_msl() {
    let mut c = established();
    c.close();
    assert_eq!(flags(&out(&mut c, t(10))), vec![FA]);
    assert_eq!(c.state(), State::FinWait1);
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 2, A, b""));
    assert_eq!(c.state(), State::FinWait2);
    c.handle_segment(t(12), &seg(IRS + 1, ISS + 2, FA, b""));
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(out(&mut c, t(12))[0].0.ack.0, IRS + 2);
    assert_eq!(
        c.poll_timeout(),
        Some(t(12) + TcpConfig::default().time_wait)
    );
    c.handle_timeout(t(12) + TcpConfig::default().time_wait);
    assert_eq!(c.state(), State::Closed);
}

// RFC 9293 §3.10.7.4 (TIME_WAIT): a retransmitted FIN is acknowledged again and the
// 2×MSL timer restarts.
#[test]
fn time_wait_reacks_a_retransmitted_fin() {
    let mut c = established();
    c.close();
    out(&mut c, t(10));
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 2, FA, b""));
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 2, A, b""));
    out(&mut c, t(11));
    assert_eq!(c.state(), State::TimeWait);
    c.handle_segment(t(5000), &seg(IRS + 1, ISS + 2, FA, b""));
    let o = out(&mut c, t(5000));
    assert_eq!(flags(&o), vec![A]);
    assert_eq!(o[0].0.ack.0, IRS + 2);
    assert_eq!(
        c.poll_timeout(),
        Some(t(5000) + TcpConfig::default().time_wait)
    );
}

// RFC 9293 §3.6, figure 13: simultaneous close goes through CLOSING.
#[test]
fn simultaneous_close_goes_through_closing() {
    let mut c = established();
    c.close();
    out(&mut c, t(10));
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 1, FA, b""));
    assert_eq!(c.state(), State::Closing);
    c.handle_segment(t(12), &seg(IRS + 2, ISS + 2, A, b""));
    assert_eq!(c.state(), State::TimeWait);
}

// RFC 9293 §3.6: our FIN is retransmitted in LAST_ACK until acknowledged.
#[test]
fn fin_is_retransmitted_in_last_ack() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 1, ISS + 1, FA, b""));
    c.close();
    out(&mut c, t(10));
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    let o = out(&mut c, at);
    assert_eq!(flags(&o), vec![FA]);
    assert_eq!(o[0].0.seq.0, ISS + 1);
    assert_eq!(c.state(), State::LastAck);
}

// RFC 9293 §3.6: after the peer's FIN, data still flows the other way (half-close).
#[test]
fn half_close_data_still_flows_after_the_peers_fin() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 1, ISS + 1, FA, b"last words"));
    assert_eq!(c.state(), State::CloseWait);
    let mut buf = [0u8; 32];
    let n = c.recv(&mut buf);
    assert_eq!(&buf[..n], b"last words");
    assert!(c.peer_done());
    assert_eq!(c.send(b"still here"), 10);
    let o = out(&mut c, t(11));
    assert_eq!(o[0].1, b"still here");
    assert_eq!(o[0].0.ack.0, IRS + 12, "the FIN is acknowledged");
}

// RFC 9293 §3.10.7.4 / RFC 5961 §3.2: a RST exactly at RCV.NXT resets...
#[test]
fn rst_at_rcv_nxt_closes() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 1, 0, TcpFlags::RST, b""));
    assert_eq!(c.state(), State::Closed);
    assert!(out(&mut c, t(10)).is_empty(), "a RST is never answered");
}

// ... and one elsewhere in the window gets a challenge ACK (RFC 5961 §3.2).
#[test]
fn rst_in_window_but_not_exact_gets_a_challenge_ack() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 100, 0, TcpFlags::RST, b""));
    assert_eq!(c.state(), State::Established);
    let o = out(&mut c, t(10));
    assert_eq!(flags(&o), vec![A]);
    assert_eq!(o[0].0.ack.0, IRS + 1);
    assert_eq!(c.stats().challenge_acks, 1);
    // Outside the window: ignored.
    c.handle_segment(t(11), &seg(IRS + 1_000_000, 0, TcpFlags::RST, b""));
    assert!(out(&mut c, t(11)).is_empty());
}

// RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK.
#[test]
fn syn_in_established_gets_a_challenge_ack() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 1, 0, TcpFlags::SYN, b""));
    assert_eq!(c.state(), State::Established);
    assert_eq!(flags(&out(&mut c, t(10))), vec![A]);
}

// RFC 9293 §3.10.7.4: an ACK for data never sent is answered with an ACK and dropped.
#[test]
fn ack_of_unsent_data_is_answered_and_dropped() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 1, ISS + 1000, A, b"zzz"));
    assert_eq!(c.recv_available(), 0);
    assert_eq!(flags(&out(&mut c, t(10))), vec![A]);
}

// RFC 9293 §3.8.6.1: with data waiting on a zero window and nothing in flight, the
// persist timer sends a one-byte probe, so a lost window update cannot stall us.
#[test]
fn zero_window_probe_after_the_persist_timeout() {
    let mut c = established();
    let mut w = seg(IRS + 1, ISS + 1, A, b"");
    w.window = 0;
    c.handle_segment(t(10), &w);
    c.send(b"waiting");
    assert!(out(&mut c, t(10)).is_empty(), "no room in the window");
    let at = c.poll_timeout().expect("the persist timer runs");
    assert_eq!(at, t(10) + c.rtt.rto());
    c.handle_timeout(at);
    let o = out(&mut c, at);
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].0.seq.0, o[0].1.as_slice()), (ISS + 1, &b"w"[..]));
    // The window opens: the rest follows.
    let mut w = seg(IRS + 1, ISS + 2, A, b"");
    w.window = 100;
    c.handle_segment(at + Duration::from_millis(1), &w);
    let o = out(&mut c, at + Duration::from_millis(1));
    assert_eq!(o[0].1, b"aiting");
}

/// The peer's zero-window ACK (of everything up to `ack`), as Linux sends it for a
/// window probe whose byte it refused.
fn zero_window_ack(ack: u32) -> Segment<'static> {
    Segment {
        window: 0,
        ..seg(IRS + 1, ack, A, b"")
    }
}

/// Runs the connection's timers until `until`, answering each window probe with
/// `answer` (None: the peer is silent). Returns the instants at which probes went out,
/// and the RST if one ended the run; panics on anything else sent.
fn probe_until(
    c: &mut Connection,
    until: Instant,
    answer: Option<&Segment>,
) -> (Vec<Instant>, Vec<(SegmentHeader, Vec<u8>)>) {
    let mut probes = Vec::new();
    let mut last = Instant::ZERO;
    while let Some(at) = c.poll_timeout() {
        assert!(at > last, "time moves on between timers");
        last = at;
        if at > until {
            break;
        }
        c.handle_timeout(at);
        let o = out(c, at);
        if o.iter().any(|(h, _)| h.flags.contains(TcpFlags::RST)) {
            return (probes, o);
        }
        if o.is_empty() {
            continue;
        }
        assert_eq!(o.len(), 1, "one probe at a time: {o:?}");
        assert_eq!(o[0].1.len(), 1, "a probe carries one byte");
        probes.push(at);
        if let Some(a) = answer {
            c.handle_segment(at + Duration::from_millis(1), a);
            assert!(out(c, at + Duration::from_millis(1)).is_empty());
        }
    }
    (probes, Vec::new())
}

// RFC 1122 §4.2.2.17: a receiver may keep its window closed indefinitely; as long as it
// acknowledges the probes the connection stays. The persist timer is not the
// retransmission timer: its back-off is capped, the RTO does not back off, and an
// acknowledged probe resets the count that gives up.
//= https://www.rfc-editor.org/rfc/rfc1122#section-4.2.2.17
//# A TCP MAY keep its offered receive window closed indefinitely.  As
//# long as the receiving TCP continues to send acknowledgments in
//# response to the probe segments, the sending TCP MUST allow the
//# connection to stay open.
#[test]
fn a_zero_window_held_for_ten_minutes_with_every_probe_answered_keeps_the_connection() {
    let mut c = established();
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    c.handle_segment(t(10), &zero_window_ack(ISS + 1));
    assert_eq!(c.send(&data), data.len());
    assert!(out(&mut c, t(10)).is_empty(), "no room in the window");
    let rto = c.rtt.rto();
    let ten_minutes = t(10) + Duration::from_secs(600);
    let (probes, rst) = probe_until(&mut c, ten_minutes, Some(&zero_window_ack(ISS + 1)));
    assert!(rst.is_empty(), "reset after {:?}", probes.last());
    assert_eq!(c.state(), State::Established);
    assert!(probes.len() >= 10, "{} probes in ten minutes", probes.len());
    for w in probes.windows(2) {
        assert!(
            w[1] - w[0] <= Duration::from_secs(60),
            "the back-off is capped"
        );
    }
    assert_eq!(c.rtt.rto(), rto, "probes do not back the RTO off");
    let s = c.stats();
    assert_eq!((s.timeouts, s.retransmits), (0, 0));
    assert_eq!(s.window_probes, probes.len() as u64);
    // The receiver reads again: the transfer completes.
    let now = ten_minutes + Duration::from_millis(5);
    let mut w = seg(IRS + 1, ISS + 1, A, b"");
    w.window = 100; // scaled by 7: 12800 bytes
    c.handle_segment(now, &w);
    let got: Vec<u8> = out(&mut c, now).into_iter().flat_map(|(_, p)| p).collect();
    assert_eq!(got, data);
    c.handle_segment(now, &seg(IRS + 1, ISS + 1 + 3000, A, b""));
    assert_eq!(c.snd_una, c.snd_max);
    assert_eq!(c.poll_timeout(), None, "nothing left to send or time");
}

// RFC 1122 §4.2.2.17 still lets a sender give up on a peer that has gone: probes that
// nobody acknowledges count toward the retry limit, and the connection ends with a RST.
#[test]
fn a_peer_that_stops_answering_window_probes_is_given_up_on() {
    let mut c = established();
    c.handle_segment(t(10), &zero_window_ack(ISS + 1));
    c.send(b"waiting");
    out(&mut c, t(10));
    // A first probe is answered; the count starts over from there.
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    assert_eq!(out(&mut c, at).len(), 1);
    c.handle_segment(at, &zero_window_ack(ISS + 1));
    assert!(out(&mut c, at).is_empty());
    let (probes, rst) = probe_until(&mut c, t(10) + Duration::from_secs(600), None);
    assert_eq!(probes.len() as u32, TcpConfig::default().max_retries);
    assert_eq!(flags(&rst), vec![TcpFlags::RST | A]);
    assert_eq!(c.state(), State::Closed);
    let ev: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(ev.contains(&Event::Closed(CloseReason::Timeout)), "{ev:?}");
}

// RFC 9293 §3.8.6.1: data that went out into a window the peer then closed (and that it
// dropped) is not a dead peer either: its retransmission becomes a window probe.
#[test]
fn a_retransmission_into_a_closed_window_becomes_a_window_probe() {
    let mut c = with_segments_in_flight(2);
    // The peer dropped both segments and says its window is closed.
    c.handle_segment(t(20), &zero_window_ack(ISS + 1));
    assert!(out(&mut c, t(20)).is_empty());
    let rto_at = c
        .timers
        .retransmit
        .deadline()
        .expect("the data is still timed");
    let (probes, rst) = probe_until(
        &mut c,
        t(20) + Duration::from_secs(600),
        Some(&zero_window_ack(ISS + 1)),
    );
    assert!(rst.is_empty(), "reset after {:?}", probes.last());
    assert_eq!(probes[0], rto_at, "the retransmission is the first probe");
    assert!(probes.len() >= 10);
    assert_eq!(c.state(), State::Established);
    assert_eq!((c.retries, c.stats().timeouts), (0, 0));
}

// RFC 9293 §3.8.6.1: the ACK that opens a window after probes restarts transmission at
// once (Linux resumes within milliseconds), not when a timer next fires.
//= https://www.rfc-editor.org/rfc/rfc9293#section-3.8.6.1
//# If the window is opened, the sending TCP peer continues transmitting
//# data immediately.
#[test]
fn a_window_update_after_probes_restarts_transmission_at_once() {
    let mut c = established();
    c.send(&vec![9u8; 40_000]);
    assert_eq!(out(&mut c, t(10)).len(), 10);
    let una = ISS + 1 + 10 * 1460;
    c.handle_segment(t(11), &zero_window_ack(una));
    assert!(out(&mut c, t(11)).is_empty());
    let mut last = t(11);
    let mut probes = 0;
    while probes < 3 {
        let at = c.poll_timeout().unwrap();
        c.handle_timeout(at);
        for (_, p) in out(&mut c, at) {
            if p.len() == 1 {
                probes += 1;
                last = at;
                c.handle_segment(at + Duration::from_millis(1), &zero_window_ack(una));
                out(&mut c, at + Duration::from_millis(1));
            }
        }
    }
    let now = last + Duration::from_millis(5);
    let mut w = seg(IRS + 1, una, A, b"");
    w.window = 512; // 64 KiB
    c.handle_segment(now, &w);
    let o = out(&mut c, now);
    assert!(!o.is_empty(), "nothing sent when the window opened");
    assert_eq!((o[0].0.seq.0, o[0].1.len()), (una, 1460));
}

// RFC 9293 §3.8.6: never send beyond the peer's window.
#[test]
fn sending_stops_at_the_peers_window() {
    let mut c = established();
    let mut w = seg(IRS + 1, ISS + 1, A, b"");
    w.window = 10; // scaled by 7: 1280 bytes
    c.handle_segment(t(10), &w);
    c.send(&[0u8; 5000]);
    let sent: usize = out(&mut c, t(10)).iter().map(|(_, p)| p.len()).sum();
    assert_eq!(sent, 1280);
}

// RFC 1122 §4.2.2.16: the right edge of the window does not move back where the buffer
// can hold the window rounded up to the scale's unit (128 here); only when less than a
// unit is left does it, by less than a unit. And RFC 9293 §3.10.7.4's allowance for
// ACKs: a pure ACK sitting on the furthest edge advertised (the peer's last data, which
// filled the window, was lost) still acknowledges our data.
#[test]
fn the_right_edge_moves_back_only_at_a_full_buffer_and_an_ack_on_it_counts() {
    let mut c = established();
    c.send(&[1u8; 100]);
    let o = out(&mut c, t(2));
    assert_eq!(o.iter().map(|(_, p)| p.len()).sum::<usize>(), 100);
    // The peer fills our buffer (nobody reads) up to 48 bytes short of full.
    let chunk = [7u8; 1448];
    let (mut seq, mut left, mut now) = (IRS + 1, 64 * 1024 - 48, 3);
    let mut edge = 0u32;
    let check = |o: Vec<(SegmentHeader, Vec<u8>)>, edge: &mut u32, end: u32| {
        for (h, _) in o {
            let e = h.ack.0 + (u32::from(h.window) << 7);
            assert!(
                e >= *edge || (*edge - e < 128 && end - *edge < 128),
                "the right edge moved back from {} to {e}, {} before the buffer's end",
                *edge,
                end - *edge
            );
            *edge = (*edge).max(e);
        }
    };
    // The buffer ends 64 KiB past the first byte while nobody reads.
    let end = IRS + 1 + 64 * 1024;
    while left > 0 {
        let n = left.min(chunk.len());
        c.handle_segment(t(now), &seg(seq, ISS + 1, A, &chunk[..n]));
        seq += n as u32;
        left -= n;
        check(out(&mut c, t(now)), &mut edge, end);
        now += 1;
    }
    c.handle_timeout(t(now + 500));
    check(out(&mut c, t(now + 500)), &mut edge, end);
    assert_eq!(c.rcv_wnd(), 48);
    assert!(edge >= seq + 48, "the 48 free bytes are still offered");
    // The peer's next 48 bytes are lost; its ACK of our data comes on the edge.
    let mut ack = seg(seq + 48, ISS + 101, A, b"");
    ack.window = 100;
    c.handle_segment(t(now + 501), &ack);
    assert_eq!(c.snd_una, SeqNumber(ISS + 101), "the ACK was taken");
    assert_eq!(
        c.timers.retransmit.deadline(),
        None,
        "nothing is left to resend"
    );
    // And one on the edge as advertised (rounded up to the unit) counts as well.
    c.send(&[2u8; 50]);
    out(&mut c, t(now + 502));
    let mut ack = seg(edge, ISS + 151, A, b"");
    ack.window = 100;
    c.handle_segment(t(now + 503), &ack);
    assert_eq!(c.snd_una, SeqNumber(ISS + 151));
}

/// Established from a SYN with the given window scale and our config.
fn established_with(cfg: TcpConfig, ws: Option<u8>) -> Connection {
    let mut c = Connection::accept(
        cfg,
        t(0),
        ISS,
        &syn(Some(1460), ws),
        Buffers::for_config(&cfg),
    );
    out(&mut c, t(0));
    c.handle_segment(t(1), &seg(IRS + 1, ISS + 1, A, b""));
    assert_eq!(c.state(), State::Established);
    while c.poll_event().is_some() {}
    c
}

fn read_all(c: &mut Connection) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 20];
    let n = c.recv(&mut buf);
    buf.truncate(n);
    buf
}

// RFC 9293 §3.10.7.4 (segment text) and RFC 5681 §4.2: an out-of-order segment is
// kept and answered with an immediate duplicate ACK; the segment that fills the hole
// delivers both, and is acknowledged at once.
#[test]
fn out_of_order_segments_are_reassembled() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 1 + 3, ISS + 1, PA, b"def"));
    let o = out(&mut c, t(10));
    assert_eq!(flags(&o), vec![A]);
    assert_eq!(o[0].0.ack.0, IRS + 1, "a duplicate ACK");
    assert_eq!(c.recv_available(), 0);
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 1, PA, b"abc"));
    assert_eq!(read_all(&mut c), b"abcdef");
    let o = out(&mut c, t(11));
    assert_eq!(o.len(), 1, "filling a hole is acknowledged at once");
    assert_eq!(o[0].0.ack.0, IRS + 7);
}

// RFC 5681 §4.2: one duplicate ACK for each out-of-order segment, even when several
// arrive before the connection next transmits.
#[test]
fn each_out_of_order_segment_gets_its_own_duplicate_ack() {
    let mut c = established();
    for i in 1..=3u32 {
        c.handle_segment(t(10), &seg(IRS + 1 + 10 * i, ISS + 1, A, b"x"));
    }
    let o = out(&mut c, t(10));
    assert_eq!(o.len(), 3);
    assert!(o.iter().all(|(h, _)| h.ack.0 == IRS + 1 && h.flags == A));
}

// RFC 9293 §3.10.7.4: a FIN that arrives before the data in front of it takes effect
// when that data arrives.
#[test]
fn an_out_of_order_fin_waits_for_the_data_before_it() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 1 + 2, ISS + 1, FA, b"cd"));
    assert_eq!(c.state(), State::Established);
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 1, A, b"ab"));
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(read_all(&mut c), b"abcd");
    assert!(c.peer_done());
    assert_eq!(
        out(&mut c, t(11))[0].0.ack.0,
        IRS + 6,
        "data and FIN acknowledged"
    );
}

/// Sends `segments` full segments and returns the connection with them in flight.
fn with_segments_in_flight(segments: usize) -> Connection {
    let mut c = established();
    c.send(&vec![7u8; 1460 * segments]);
    let o = out(&mut c, t(10));
    assert_eq!(o.len(), segments);
    c
}

fn dup_ack(c: &mut Connection, at: Instant) {
    c.handle_segment(at, &seg(IRS + 1, ISS + 1, A, b""));
}

// RFC 5681 §3.2: the third duplicate ACK retransmits the first unacknowledged segment
// at once, sets ssthresh to half the flight and cwnd to ssthresh + 3 segments.
#[test]
fn fast_retransmit_on_the_third_duplicate_ack() {
    let mut c = with_segments_in_flight(6);
    for _ in 0..2 {
        dup_ack(&mut c, t(20));
        assert!(
            out(&mut c, t(20)).is_empty(),
            "two duplicates are not enough"
        );
    }
    dup_ack(&mut c, t(20));
    let o = out(&mut c, t(20));
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].0.seq.0, o[0].1.len()), (ISS + 1, 1460));
    assert_eq!(c.congestion(), (3 * 1460 + 3 * 1460, 3 * 1460));
    assert_eq!(c.stats().fast_retransmits, 1);
    assert!(c.timers.retransmit.is_armed(), "the timer still runs");
}

// RFC 6582 §3.2: in recovery a partial ACK retransmits the next hole; the full ACK
// ends recovery with cwnd = min(ssthresh, flight + MSS).
#[test]
fn newreno_partial_ack_retransmits_the_next_hole() {
    let mut c = with_segments_in_flight(6);
    for _ in 0..3 {
        dup_ack(&mut c, t(20));
    }
    out(&mut c, t(20));
    c.handle_segment(t(30), &seg(IRS + 1, ISS + 1 + 1460, A, b""));
    let o = out(&mut c, t(30));
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0].0.seq.0, ISS + 1 + 1460);
    c.handle_segment(t(40), &seg(IRS + 1, ISS + 1 + 6 * 1460, A, b""));
    assert!(!c.cc.in_recovery());
    assert_eq!(c.congestion(), (1460, 3 * 1460), "nothing left in flight");
}

// RFC 5681 §3.1: a retransmission timeout sets cwnd to one segment (the loss window)
// and ssthresh to half the flight.
#[test]
fn a_timeout_collapses_cwnd_to_one_segment() {
    let mut c = with_segments_in_flight(6);
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    assert_eq!(c.congestion(), (1460, 3 * 1460));
    let o = out(&mut c, at);
    assert_eq!(o.len(), 1, "one segment in the loss window");
}

// RFC 6928 and RFC 5681 §3.1: the first flight is ten segments; each ACK in slow
// start opens the window by up to one segment.
#[test]
fn slow_start_begins_with_ten_segments() {
    let mut c = established();
    c.send(&vec![1u8; 1460 * 20]);
    assert_eq!(out(&mut c, t(10)).len(), 10);
    c.handle_segment(t(20), &seg(IRS + 1, ISS + 1 + 2 * 1460, A, b""));
    assert_eq!(c.congestion().0, 11 * 1460);
    assert_eq!(
        out(&mut c, t(20)).len(),
        3,
        "two acknowledged plus one more"
    );
}

// RFC 5961 §5.2 / RFC 9293 §3.10.7.4: an ACK older than SND.UNA - MAX.SND.WND is
// answered with an ACK and its segment dropped.
#[test]
fn an_ack_far_below_snd_una_is_dropped() {
    let mut c = established_with(TcpConfig::default(), None);
    let old = ISS.wrapping_sub(1_000_000);
    c.handle_segment(t(10), &seg(IRS + 1, old, PA, b"data"));
    assert_eq!(c.recv_available(), 0, "the text is not taken");
    assert_eq!(flags(&out(&mut c, t(10))), vec![A]);
}

// After a timeout restarts from SND.UNA, the peer may acknowledge beyond SND.NXT what
// it held out of order; that ACK is valid (it is below SND.MAX).
#[test]
fn an_ack_beyond_snd_nxt_after_a_timeout_is_accepted() {
    let mut c = with_segments_in_flight(3);
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    out(&mut c, at);
    c.handle_segment(at, &seg(IRS + 1, ISS + 1 + 3 * 1460, A, b""));
    assert_eq!(c.snd_una.0, ISS + 1 + 3 * 1460);
    assert_eq!(c.snd_nxt, c.snd_una);
    assert!(out(&mut c, at).is_empty(), "nothing is resent");
    assert_eq!(c.timers.retransmit.deadline(), None);
}

// RFC 9293 §3.8.6.2.2 (receiver SWS avoidance): a window that reading opens by less
// than min(buffer/2, MSS) is not advertised; one that opens by more is, at once.
#[test]
fn receiver_sws_avoidance_holds_back_small_window_increases() {
    let cfg = TcpConfig {
        recv_buffer: 8192,
        window_scale: 0,
        ..TcpConfig::default()
    };
    let mut c = established_with(cfg, None);
    let mut seq = IRS + 1;
    for len in [1460, 1460, 1460, 1460, 1460, 892] {
        c.handle_segment(t(10), &seg(seq, ISS + 1, A, &vec![0u8; len]));
        seq += len as u32;
    }
    let o = out(&mut c, t(10));
    assert_eq!(o.last().unwrap().0.window, 0, "the buffer is full");
    let mut buf = [0u8; 500];
    assert_eq!(c.recv(&mut buf), 500);
    assert!(
        out(&mut c, t(11)).is_empty(),
        "500 bytes are not worth announcing"
    );
    c.handle_segment(t(12), &seg(seq, ISS + 1, A, b""));
    c.ack_now = true;
    assert_eq!(
        out(&mut c, t(12))[0].0.window,
        0,
        "nor advertised in an ACK"
    );
    let mut buf = [0u8; 1000];
    assert_eq!(c.recv(&mut buf), 1000);
    let o = out(&mut c, t(13));
    assert_eq!(o.len(), 1, "a window update goes out at once");
    assert_eq!(o[0].0.window, 1500);
}

// RFC 9293 §3.8.6.2.1 (sender SWS avoidance): with data in flight, a sliver of window
// smaller than a segment (and than half the largest window offered) is not used.
#[test]
fn sender_sws_avoidance_waits_for_a_useful_window() {
    let mut c = established_with(TcpConfig::default(), None);
    let mut w = seg(IRS + 1, ISS + 1, A, b"");
    w.window = 2000;
    c.handle_segment(t(10), &w);
    c.send(&[3u8; 4000]);
    let o = out(&mut c, t(10));
    assert_eq!(o.len(), 1);
    assert_eq!(
        o[0].1.len(),
        1460,
        "one full segment; 540 bytes of room wait"
    );
    // Its ACK opens the window again: the next full segment goes.
    let mut w = seg(IRS + 1, ISS + 1 + 1460, A, b"");
    w.window = 2000;
    c.handle_segment(t(20), &w);
    assert_eq!(out(&mut c, t(20))[0].1.len(), 1460);
}

// RFC 5961 §7: challenge ACKs are rate-limited (here per connection, 10 a second).
#[test]
fn challenge_acks_are_rate_limited() {
    let mut c = established();
    for _ in 0..25 {
        c.handle_segment(t(10), &seg(IRS + 100, 0, TcpFlags::RST, b""));
    }
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.stats().challenge_acks, 10);
    assert_eq!(c.stats().challenge_acks_limited, 15);
    c.handle_segment(t(1011), &seg(IRS + 100, 0, TcpFlags::RST, b""));
    assert_eq!(
        c.stats().challenge_acks,
        11,
        "a new second, a new allowance"
    );
}

// RFC 9293 §3.6 and §3.10.8: our FIN is retransmitted in FIN_WAIT_1 until acknowledged.
#[test]
fn fin_is_retransmitted_in_fin_wait_1() {
    let mut c = established();
    c.close();
    assert_eq!(flags(&out(&mut c, t(10))), vec![FA]);
    assert_eq!(c.state(), State::FinWait1);
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    let o = out(&mut c, at);
    assert_eq!(flags(&o), vec![FA]);
    assert_eq!(o[0].0.seq.0, ISS + 1);
}

// RFC 9293 §3.6: in CLOSING (both FINs sent, ours unacknowledged) our FIN is resent.
#[test]
fn fin_is_retransmitted_in_closing() {
    let mut c = established();
    c.close();
    out(&mut c, t(10));
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 1, FA, b""));
    assert_eq!(c.state(), State::Closing);
    out(&mut c, t(11));
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    assert_eq!(flags(&out(&mut c, at)), vec![FA]);
    c.handle_segment(at, &seg(IRS + 2, ISS + 2, A, b""));
    assert_eq!(c.state(), State::TimeWait);
}

// RFC 9293 §3.8.1 / RFC 6298 §5: an unanswered SYN is sent again, with back-off.
#[test]
fn syn_is_retransmitted_in_syn_sent() {
    let mut c = Connection::connect(
        TcpConfig::default(),
        t(0),
        ISS,
        Buffers::for_config(&TcpConfig::default()),
    );
    out(&mut c, t(0));
    let first = c.poll_timeout().unwrap();
    assert_eq!(first, t(1000));
    c.handle_timeout(first);
    assert_eq!(flags(&out(&mut c, first)), vec![TcpFlags::SYN]);
    assert_eq!(c.poll_timeout(), Some(first + Duration::from_secs(2)));
}

// RFC 9293 §3.10.7.4: with a zero receive window no segment is acceptable, but a
// valid ACK in it is still taken.
#[test]
fn an_ack_is_taken_even_when_our_window_is_zero() {
    let cfg = TcpConfig {
        recv_buffer: 1460,
        window_scale: 0,
        ..TcpConfig::default()
    };
    let mut c = established_with(cfg, None);
    c.send(b"ping");
    out(&mut c, t(5));
    c.handle_segment(t(10), &seg(IRS + 1, ISS + 1, A, &[0u8; 1460]));
    assert_eq!(c.rcv_wnd(), 0);
    // A window probe's byte, which we refuse, carrying the ACK of our data.
    c.handle_segment(t(11), &seg(IRS + 1 + 1460, ISS + 5, A, b"x"));
    assert_eq!(c.snd_una.0, ISS + 5, "the ACK was processed");
    assert_eq!(c.recv_available(), 1460, "the byte was not");
}

// RFC 6191 / RFC 1122 §4.2.2.13: a SYN may reopen a connection in TIME_WAIT only when
// its sequence number is above the old connection's.
#[test]
fn a_syn_may_reopen_time_wait_only_with_a_higher_sequence_number() {
    let mut c = established();
    c.close();
    out(&mut c, t(10));
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 2, FA, b""));
    assert_eq!(c.state(), State::TimeWait);
    let mut s = syn(Some(1460), None);
    s.seq = SeqNumber(IRS + 100_000);
    assert!(c.syn_may_reopen(&s));
    s.seq = SeqNumber(IRS + 1);
    assert!(!c.syn_may_reopen(&s));
}

/// Every event queued, oldest first.
fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

// The owner may leave events unpolled for a while. A burst of data must not push the
// state changes out of the queue: the stack counts a half-open connection until the
// StateChanged from SYN_RCVD, opens it on Connected and removes it on Closed.
#[test]
fn a_burst_of_data_never_pushes_state_changes_out_of_the_event_queue() {
    let mut c = Connection::accept(
        TcpConfig::default(),
        t(0),
        ISS,
        &syn(Some(1460), Some(7)),
        Buffers::for_config(&TcpConfig::default()),
    );
    out(&mut c, t(0));
    c.handle_segment(t(1), &seg(IRS + 1, ISS + 1, A, b""));
    let mut seq = IRS + 1;
    for i in 0..100 {
        c.handle_segment(t(2 + i), &seg(seq, ISS + 1, PA, &[7u8; 100]));
        seq += 100;
        out(&mut c, t(2 + i));
    }
    c.handle_segment(t(200), &seg(seq, ISS + 1, FA, b""));
    c.close();
    assert_eq!(flags(&out(&mut c, t(200))), vec![FA]);
    c.handle_segment(t(201), &seg(seq + 1, ISS + 2, A, b""));
    assert_eq!(c.state(), State::Closed);
    use State::*;
    assert_eq!(
        events(&mut c),
        vec![
            Event::StateChanged {
                from: Listen,
                to: SynReceived
            },
            Event::StateChanged {
                from: SynReceived,
                to: Established
            },
            Event::Connected,
            // A hundred segments of data, none read: one Readable says it.
            Event::Readable,
            Event::PeerClosed,
            Event::StateChanged {
                from: Established,
                to: CloseWait
            },
            Event::StateChanged {
                from: CloseWait,
                to: LastAck
            },
            Event::StateChanged {
                from: LastAck,
                to: Closed
            },
            Event::Closed(CloseReason::Fin),
        ]
    );
    assert_eq!(
        c.recv_available(),
        100 * 100,
        "all the data is there to read"
    );
}

// Readable is reported again once the owner has polled it; state changes in between
// keep their order.
#[test]
fn readable_is_reported_again_after_it_was_polled() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 1, ISS + 1, PA, b"ab"));
    c.handle_segment(t(11), &seg(IRS + 3, ISS + 1, PA, b"cd"));
    assert_eq!(events(&mut c), vec![Event::Readable]);
    c.handle_segment(t(12), &seg(IRS + 5, ISS + 1, PA, b"ef"));
    c.handle_segment(t(13), &seg(IRS + 7, ISS + 1, FA, b"gh"));
    assert_eq!(
        events(&mut c),
        vec![
            Event::Readable,
            Event::PeerClosed,
            Event::StateChanged {
                from: State::Established,
                to: State::CloseWait
            },
        ]
    );
    assert_eq!(read_all(&mut c), b"abcdefgh");
}

// The longest life a connection has (simultaneous open, then simultaneous close through
// CLOSING and TIME_WAIT: seven state changes), with a burst of data in the middle and no
// event polled: every change is reported, in order (the bound in events.rs).
#[test]
fn the_longest_life_reports_every_state_change_in_order() {
    let mut c = Connection::connect(
        TcpConfig::default(),
        t(0),
        ISS,
        Buffers::for_config(&TcpConfig::default()),
    );
    out(&mut c, t(0));
    c.handle_segment(t(1), &syn(Some(1460), Some(7)));
    out(&mut c, t(1));
    c.handle_segment(t(2), &seg(IRS + 1, ISS + 1, A, b""));
    let mut seq = IRS + 1;
    for i in 0..50 {
        c.handle_segment(t(3 + i), &seg(seq, ISS + 1, PA, &[1u8; 10]));
        seq += 10;
    }
    c.close();
    out(&mut c, t(100));
    c.handle_segment(t(101), &seg(seq, ISS + 1, FA, b""));
    c.handle_segment(t(102), &seg(seq + 1, ISS + 2, A, b""));
    assert_eq!(c.state(), State::TimeWait);
    c.handle_timeout(t(102) + TcpConfig::default().time_wait);
    assert_eq!(c.state(), State::Closed);
    use State::*;
    let changes: Vec<_> = events(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            Event::StateChanged { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (Closed, SynSent),
            (SynSent, SynReceived),
            (SynReceived, Established),
            (Established, FinWait1),
            (FinWait1, Closing),
            (Closing, TimeWait),
            (TimeWait, Closed),
        ]
    );
}

// Found by tests/prop_tcp_pair.rs (a SYN duplicated on the link): a retransmitted SYN in
// SYN_RCVD is not acceptable (RFC 9293 §3.10.7.4) and asks for an acknowledgment, which
// before ESTABLISHED is the SYN-ACK. It was never sent, and the request stayed set:
// `poll_timeout` said "now" until the handshake completed or the SYN-ACK timer fired
// (up to a minute), and the stack's worker spun all that time.
#[test]
fn a_retransmitted_syn_in_syn_received_gets_the_syn_ack_again() {
    let cfg = TcpConfig::default();
    let mut c = Connection::accept(
        cfg,
        t(0),
        ISS,
        &syn(Some(1460), None),
        Buffers::for_config(&cfg),
    );
    assert_eq!(flags(&out(&mut c, t(0))), vec![TcpFlags::SYN | A]);
    c.handle_segment(t(5), &syn(Some(1460), None));
    assert_eq!(c.state(), State::SynReceived);
    let o = out(&mut c, t(5));
    assert_eq!(flags(&o), vec![TcpFlags::SYN | A]);
    assert_eq!((o[0].0.seq.0, o[0].0.ack.0), (ISS, IRS + 1));
    assert_eq!(
        c.poll_timeout(),
        Some(t(1000)),
        "nothing left due before the SYN-ACK timer"
    );
    assert!(out(&mut c, t(6)).is_empty());
    c.handle_segment(t(7), &seg(IRS + 1, ISS + 1, A, b""));
    assert_eq!(c.state(), State::Established);
}

// Found by tests/prop_tcp_pair.rs: a connection that gave up after a go-back-N restart
// sent its RST at SND.NXT, below what the peer had received (its ACKs were lost). The
// peer dropped the RST as out of the window (RFC 5961 §3.2) and held its connection, in
// FIN_WAIT_2, for ever. At SND.MAX the RST is exact, or in the window and answered with
// a challenge ACK that the RST for no connection then settles.
#[test]
fn a_reset_after_a_go_back_n_restart_is_sent_at_snd_max() {
    let mut c = established();
    assert_eq!(c.send(&[7u8; 4380]), 4380);
    assert_eq!(out(&mut c, t(10)).len(), 3);
    // The peer got all three segments; its ACKs were lost. The RTO resends the first.
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    let o = out(&mut c, at);
    assert_eq!((o.len(), o[0].0.seq.0), (1, ISS + 1));
    c.abort();
    let o = out(&mut c, at);
    assert_eq!(flags(&o), vec![TcpFlags::RST | A]);
    assert_eq!(o[0].0.seq.0, ISS + 1 + 4380, "at SND.MAX, not SND.NXT");
}

// ---- SACK (RFC 2018, RFC 2883, RFC 6675, RFC 8985) ----

/// SEG.* with SACK blocks.
fn with_sack<'a>(mut s: Segment<'a>, blocks: &[(u32, u32)]) -> Segment<'a> {
    for (i, &b) in blocks.iter().enumerate() {
        s.options.sack_blocks[i] = b;
    }
    s.options.sack_count = blocks.len() as u8;
    s
}

fn sack_of(h: &SegmentHeader) -> Vec<(u32, u32)> {
    h.options.sack().to_vec()
}

fn syn_sack() -> Segment<'static> {
    let mut s = syn(Some(1460), Some(7));
    s.options.sack_permitted = true;
    s
}

/// A connection accepted from a SYN that permits SACK, established, SRTT 1 ms.
fn established_sack() -> Connection {
    let cfg = TcpConfig::default();
    let mut c = Connection::accept(cfg, t(0), ISS, &syn_sack(), Buffers::for_config(&cfg));
    let o = out(&mut c, t(0));
    assert!(o[0].0.options.sack_permitted);
    c.handle_segment(t(1), &seg(IRS + 1, ISS + 1, A, b""));
    assert_eq!(c.state(), State::Established);
    assert!(c.sack_enabled());
    while c.poll_event().is_some() {}
    c
}

/// The start of our `i`-th full segment.
fn our(i: u32) -> u32 {
    ISS + 1 + 1460 * i
}

/// With SACK, `segments` full segments sent at t(10), with `queued` more segments of
/// data waiting behind them.
fn sack_flight(segments: usize, queued: usize) -> Connection {
    let mut c = established_sack();
    c.send(&vec![7u8; 1460 * (segments + queued)]);
    c.cc.cwnd_for_test(segments * 1460);
    let o = out(&mut c, t(10));
    assert_eq!(o.len(), segments);
    c
}

/// An ACK of SND.UNA = `ack` with `blocks`, at `at`.
fn sack_ack(c: &mut Connection, at: Instant, ack: u32, blocks: &[(u32, u32)]) {
    c.handle_segment(at, &with_sack(seg(IRS + 1, ack, A, b""), blocks));
}

/// The sequence numbers of the data segments in `o`.
fn seqs(o: &[(SegmentHeader, Vec<u8>)]) -> Vec<u32> {
    o.iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(h, _)| h.seq.0)
        .collect()
}

// RFC 2018 §2: SACK-permitted goes in the SYN; a SYN-ACK carries it only when the SYN
// did, and SACK is on only when both SYNs had it.
#[test]
fn sack_permitted_is_offered_in_the_syn_and_answered_only_if_offered() {
    let cfg = TcpConfig::default();
    let mut c = Connection::connect(cfg, t(0), ISS, Buffers::for_config(&cfg));
    assert!(
        out(&mut c, t(0))[0].0.options.sack_permitted,
        "a SYN offers it"
    );
    let mut synack = syn(Some(1460), Some(7));
    synack.flags = TcpFlags::SYN | A;
    synack.ack = SeqNumber(ISS + 1);
    c.handle_segment(t(1), &synack);
    assert!(!c.sack_enabled(), "the SYN-ACK did not permit it");
    let mut c = Connection::connect(cfg, t(0), ISS, Buffers::for_config(&cfg));
    out(&mut c, t(0));
    synack.options.sack_permitted = true;
    c.handle_segment(t(1), &synack);
    assert!(c.sack_enabled());

    let mut s = Connection::accept(
        cfg,
        t(0),
        ISS,
        &syn(Some(1460), Some(7)),
        Buffers::for_config(&cfg),
    );
    assert!(
        !out(&mut s, t(0))[0].0.options.sack_permitted,
        "not offered, not answered"
    );
    assert!(!s.sack_enabled());
    let off = TcpConfig { sack: false, ..cfg };
    let mut s = Connection::accept(off, t(0), ISS, &syn_sack(), Buffers::for_config(&off));
    assert!(
        !out(&mut s, t(0))[0].0.options.sack_permitted,
        "turned off here"
    );
    assert!(!s.sack_enabled());
    let mut c = Connection::connect(off, t(0), ISS, Buffers::for_config(&off));
    assert!(!out(&mut c, t(0))[0].0.options.sack_permitted);
}

// The out-of-order store is bounded by bytes (the receive buffer), not by a handful of
// ranges: twenty holes in one window are all held, and filling them delivers it all.
#[test]
fn the_out_of_order_store_holds_every_hole_the_window_has_room_for() {
    let mut c = established();
    let data: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    for i in (1..40).step_by(2) {
        let at = 100 * i as usize;
        c.handle_segment(
            t(10),
            &seg(IRS + 1 + at as u32, ISS + 1, A, &data[at..at + 100]),
        );
    }
    assert_eq!(c.ooo.len(), 20);
    for i in (0..40).step_by(2) {
        let at = 100 * i as usize;
        c.handle_segment(
            t(11),
            &seg(IRS + 1 + at as u32, ISS + 1, A, &data[at..at + 100]),
        );
    }
    assert_eq!(read_all(&mut c), data, "nothing had to be sent again");
    assert_eq!(c.stats().out_of_order_dropped, 0);
}

// RFC 5681 §4.2: an immediate duplicate ACK for every out-of-order segment, however
// many arrive before the connection next transmits (Linux sends one each; the sender's
// fast retransmit counts them).
#[test]
fn every_out_of_order_segment_of_a_batch_gets_its_own_duplicate_ack() {
    let mut c = established();
    for i in 0..40u32 {
        c.handle_segment(t(10), &seg(IRS + 101 + 10 * i, ISS + 1, A, b"x"));
    }
    let o = out(&mut c, t(10));
    assert_eq!(o.len(), 40);
    assert!(o.iter().all(|(h, p)| h.ack.0 == IRS + 1 && p.is_empty()));
}

// RFC 2018 §4: the first block holds the segment that triggered the ACK; the others
// repeat the blocks reported first most recently; four blocks at most (no timestamps).
#[test]
fn the_first_sack_block_holds_the_segment_that_triggered_the_ack() {
    let mut c = established_sack();
    let b = |i: u32| (IRS + 1 + 1000 * i, IRS + 1 + 1000 * i + 100);
    for i in 1..=5 {
        c.handle_segment(t(10), &seg(b(i).0, ISS + 1, A, &[1; 100]));
        let o = out(&mut c, t(10));
        assert_eq!(o.len(), 1);
        let blocks = sack_of(&o[0].0);
        assert_eq!(blocks[0], b(i), "the new block first");
        let want: Vec<_> = (1..=i).rev().take(4).map(b).collect();
        assert_eq!(blocks, want, "then the most recent ones");
    }
    // Two segments in one batch: two ACKs, each led by its own block; a segment that
    // grows a block leads with the grown block.
    c.handle_segment(t(11), &seg(b(2).1, ISS + 1, A, &[1; 50]));
    c.handle_segment(t(11), &seg(b(4).0 - 50, ISS + 1, A, &[1; 50]));
    let o = out(&mut c, t(11));
    assert_eq!(o.len(), 2);
    assert_eq!(sack_of(&o[0].0)[0], (b(2).0, b(2).1 + 50));
    assert_eq!(sack_of(&o[1].0)[0], (b(4).0 - 50, b(4).1));
    assert_eq!(sack_of(&o[1].0)[1], (b(2).0, b(2).1 + 50));
}

// RFC 5681 §4.2 and RFC 2018 §4: a segment that fills a hole is acknowledged at once,
// and the ACK still reports what is held beyond the next hole.
#[test]
fn a_filled_hole_is_acknowledged_at_once_with_the_blocks_still_held() {
    let mut c = established_sack();
    c.handle_segment(t(10), &seg(IRS + 101, ISS + 1, A, &[1; 100]));
    c.handle_segment(t(10), &seg(IRS + 301, ISS + 1, A, &[1; 100]));
    out(&mut c, t(10));
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 1, A, &[1; 100]));
    let o = out(&mut c, t(11));
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].0.ack.0, IRS + 201);
    assert_eq!(sack_of(&o[0].0), vec![(IRS + 301, IRS + 401)]);
    c.handle_segment(t(12), &seg(IRS + 201, ISS + 1, A, &[1; 100]));
    let o = out(&mut c, t(12));
    assert_eq!((o.len(), o[0].0.ack.0), (1, IRS + 401));
    assert!(sack_of(&o[0].0).is_empty(), "nothing held: no blocks");
}

// RFC 2883 §4: a duplicate is reported once, in the first block of an immediate ACK:
// below RCV.NXT alone, above it followed by the held block it lies in.
#[test]
fn a_duplicate_segment_is_reported_in_a_dsack() {
    let mut c = established_sack();
    c.handle_segment(t(10), &seg(IRS + 1, ISS + 1, A, &[1; 100]));
    c.handle_segment(t(10), &seg(IRS + 101, ISS + 1, A, &[1; 100]));
    out(&mut c, t(10));
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 1, A, &[1; 100]));
    let o = out(&mut c, t(11));
    assert_eq!(o.len(), 1);
    assert_eq!(
        (o[0].0.ack.0, sack_of(&o[0].0)),
        (IRS + 201, vec![(IRS + 1, IRS + 101)])
    );
    // Held out of order, then again: D-SACK, then the block that holds it.
    c.handle_segment(t(12), &seg(IRS + 301, ISS + 1, A, &[1; 200]));
    out(&mut c, t(12));
    c.handle_segment(t(13), &seg(IRS + 351, ISS + 1, A, &[1; 50]));
    let o = out(&mut c, t(13));
    assert_eq!(
        sack_of(&o[0].0),
        vec![(IRS + 351, IRS + 401), (IRS + 301, IRS + 501)]
    );
    // Part old, part new: the old part is the duplicate.
    c.handle_segment(t(14), &seg(IRS + 151, ISS + 1, A, &[1; 100]));
    let o = out(&mut c, t(14));
    assert_eq!(o[0].0.ack.0, IRS + 251);
    assert_eq!(sack_of(&o[0].0)[0], (IRS + 151, IRS + 201));
    assert_eq!(c.stats().dsacks_sent, 3);
    // Without SACK nobody is told.
    let mut p = established();
    p.handle_segment(t(10), &seg(IRS + 1, ISS + 1, A, &[1; 100]));
    out(&mut p, t(10));
    p.handle_segment(t(11), &seg(IRS + 1, ISS + 1, A, &[1; 100]));
    let o = out(&mut p, t(11));
    assert!(sack_of(&o[0].0).is_empty());
}

// RFC 6691 and RFC 2018: while data is held out of order, our own data segments leave
// room for the SACK blocks within the MSS, so the peer hears of them even when we send
// full-sized segments back.
#[test]
fn data_segments_leave_room_for_the_sack_blocks() {
    let mut c = established_sack();
    c.handle_segment(t(10), &seg(IRS + 1001, ISS + 1, A, &[1; 100]));
    out(&mut c, t(10));
    c.send(&vec![5u8; 3000]);
    let o = out(&mut c, t(11));
    assert_eq!(o[0].1.len(), 1460 - 12, "one block: 12 bytes of options");
    assert_eq!(sack_of(&o[0].0), vec![(IRS + 1001, IRS + 1101)]);
    assert!(o
        .iter()
        .all(|(h, p)| p.len() + h.options.emit_len() <= 1460));
}

// RFC 6675 `IsLost`: a hole with three SACKed segments above it is lost and goes again
// at once, alone; a recovery starts with ssthresh = cwnd = FlightSize / 2. One SACKed
// segment is not enough (RACK waits for the reordering window first).
#[test]
fn three_sacked_segments_above_a_hole_send_it_again() {
    let mut c = sack_flight(6, 0);
    sack_ack(&mut c, t(20), our(0), &[(our(1), our(2))]);
    assert!(out(&mut c, t(20)).is_empty(), "one SACKed segment: wait");
    assert!(c.timers.reorder.is_armed(), "RACK's reordering timer runs");
    sack_ack(&mut c, t(20), our(0), &[(our(1), our(4))]);
    let o = out(&mut c, t(20));
    assert_eq!(seqs(&o), vec![our(0)]);
    assert_eq!(c.congestion(), (3 * 1460, 3 * 1460));
    assert_eq!(c.stats().fast_retransmits, 1);
    c.sb.check();
}

// RFC 6675 §5: every lost segment of the window goes again in the first round of the
// recovery, not one per round trip as NewReno's partial ACKs would have it.
#[test]
fn sack_recovery_sends_every_lost_segment_in_one_round() {
    let mut c = sack_flight(10, 0);
    sack_ack(
        &mut c,
        t(20),
        our(0),
        &[(our(7), our(10)), (our(4), our(6)), (our(1), our(3))],
    );
    let o = out(&mut c, t(20));
    assert_eq!(seqs(&o), vec![our(0), our(3), our(6)]);
    c.sb.check();
}

// RFC 6675 §5 (C): in recovery no more goes than cwnd - pipe allows; an ACK that takes
// a segment out of the network lets one more go.
#[test]
fn pipe_limits_what_a_recovery_sends() {
    let mut c = sack_flight(10, 0);
    sack_ack(&mut c, t(20), our(0), &[(our(7), our(10))]);
    let o = out(&mut c, t(20));
    // cwnd = 5 segments, pipe 0 (seven lost, three SACKed): five go again.
    assert_eq!(seqs(&o), (0..5).map(our).collect::<Vec<_>>());
    assert_eq!(c.sb.pipe(), 5 * 1460);
    c.handle_segment(
        t(30),
        &with_sack(seg(IRS + 1, our(1), A, b""), &[(our(7), our(10))]),
    );
    assert_eq!(seqs(&out(&mut c, t(30))), vec![our(5)]);
    c.sb.check();
}

// RFC 6675 §5.1 with RFC 6298's timer unchanged: after a timeout the loss window starts
// over from one segment, and what the peer SACKed is not sent again.
#[test]
fn a_timeout_with_sack_sends_again_only_what_was_not_sacked() {
    let mut c = sack_flight(6, 0);
    sack_ack(&mut c, t(20), our(0), &[(our(2), our(4))]);
    let at = c.timers.retransmit.deadline().unwrap();
    c.timers.loss_probe.stop();
    c.timers.reorder.stop();
    c.handle_timeout(at);
    assert_eq!(c.stats().timeouts, 1);
    let o = out(&mut c, at);
    assert_eq!(seqs(&o), vec![our(0)], "one segment in the loss window");
    c.handle_segment(
        at + Duration::from_millis(10),
        &with_sack(seg(IRS + 1, our(1), A, b""), &[(our(2), our(4))]),
    );
    let o = out(&mut c, at + Duration::from_millis(10));
    assert_eq!(
        seqs(&o),
        vec![our(1), our(4)],
        "segments 2 and 3 are skipped"
    );
    c.sb.check();
}

// RFC 2883 §5 / RFC 6675: an ACK whose only news is a D-SACK says the peer got something
// twice; it is no duplicate ACK and no sign of loss.
#[test]
fn a_dsack_is_not_taken_for_a_loss() {
    let mut c = sack_flight(6, 0);
    c.handle_segment(t(15), &seg(IRS + 1, our(2), A, b""));
    for _ in 0..4 {
        sack_ack(&mut c, t(20), our(2), &[(our(0), our(1))]);
    }
    assert!(seqs(&out(&mut c, t(20))).is_empty());
    assert!(!c.cc.in_recovery());
    assert_eq!(c.stats().dsacks_received, 4);
    assert_eq!(c.stats().fast_retransmits, 0);
}

// RFC 2018 §3: blocks that are empty, reversed, or outside what is in flight are
// ignored and counted; they mark nothing and start nothing.
#[test]
fn sack_blocks_outside_the_flight_are_ignored() {
    let mut c = sack_flight(4, 0);
    for _ in 0..3 {
        sack_ack(
            &mut c,
            t(20),
            our(0),
            &[
                (our(1), our(1)),
                (our(2), our(1)),
                (our(3), our(9)),
                (ISS - 5000, ISS),
            ],
        );
    }
    assert_eq!(c.stats().sack_blocks_ignored, 12);
    assert_eq!(c.sb.sacked_bytes(), 0);
    assert!(seqs(&out(&mut c, t(20))).is_empty());
    assert!(!c.cc.in_recovery());
}

// RFC 8985 §6: a retransmission that is lost too is found lost once data sent after it
// is delivered, and goes a third time without waiting for the timeout.
#[test]
fn rack_sends_a_lost_retransmission_again_before_the_timeout() {
    let mut c = sack_flight(10, 4);
    sack_ack(&mut c, t(20), our(0), &[(our(1), our(10))]);
    let o = out(&mut c, t(20));
    assert_eq!(seqs(&o), vec![our(0), our(10), our(11), our(12), our(13)]);
    // Segments 10 and 11, sent after the retransmission, arrive; it does not. With it
    // goes the recovery's rescue (RFC 6675 NextSeg rule 4): segment 13, the highest not
    // SACKed.
    sack_ack(&mut c, t(30), our(0), &[(our(1), our(12))]);
    let o = out(&mut c, t(30));
    assert_eq!(seqs(&o), vec![our(0), our(13)]);
    assert_eq!(c.stats().timeouts, 0);
    c.sb.check();
}

// RFC 6675 NextSeg rule 4: in a recovery whose lost segments have all gone again, the
// last segment, never SACKed and not taken for lost, goes once more ("rescue"), and only
// once a recovery. Its SACK then shows RACK the first retransmission lost, which goes a
// third time without waiting for the timeout.
#[test]
fn a_recovery_rescues_its_tail_once_and_finds_a_lost_retransmission_by_it() {
    let mut c = sack_flight(10, 0);
    sack_ack(&mut c, t(20), our(0), &[(our(1), our(9))]);
    let o = out(&mut c, t(20));
    assert_eq!(seqs(&o), vec![our(0), our(9)]);
    assert_eq!(c.stats().rescue_retransmits, 1);
    // The same news again: no second rescue in this recovery.
    sack_ack(&mut c, t(21), our(0), &[(our(1), our(9))]);
    assert!(seqs(&out(&mut c, t(21))).is_empty());
    // The rescue arrives, the retransmission of segment 0 (sent before it) did not.
    sack_ack(&mut c, t(30), our(0), &[(our(1), our(10))]);
    assert_eq!(seqs(&out(&mut c, t(30))), vec![our(0)]);
    assert_eq!(c.stats().timeouts, 0);
    assert_eq!(c.stats().rescue_retransmits, 1);
    c.sb.check();
}

// RFC 2018 §4 reports received sequence space, and a FIN takes one: an out-of-order
// segment with data and FIN is SACKed up to and including its FIN, so that the peer
// takes its whole last segment for delivered (Linux's scoreboard needs a block to cover
// a segment to its end).
#[test]
fn an_out_of_order_fin_is_inside_its_sack_block() {
    let mut c = established_sack();
    c.handle_segment(t(10), &seg(IRS + 1 + 2, ISS + 1, FA, b"cd"));
    let o = out(&mut c, t(10));
    assert_eq!(o[0].0.ack.0, IRS + 1);
    assert_eq!(sack_of(&o[0].0), vec![(IRS + 3, IRS + 6)]);
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 1, A, b"ab"));
    assert_eq!(c.state(), State::CloseWait);
    let o = out(&mut c, t(11));
    assert_eq!((o[0].0.ack.0, sack_of(&o[0].0)), (IRS + 6, vec![]));
}

// RFC 9293 §3.10.7.4 with trimming: the peer's last segment sent again, because our ACK
// of it was lost, is old data but ends at RCV.NXT; its ACK is the peer's latest and is
// taken (as Linux does), so that our own retransmission stops at once. The duplicate is
// still answered with an ACK that reports it (D-SACK), and its data is not taken twice.
#[test]
fn the_ack_on_the_peers_last_segment_sent_again_is_taken() {
    let mut c = established_sack();
    c.send(&vec![7u8; 3 * 1460]);
    assert_eq!(out(&mut c, t(10)).len(), 3);
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 1, A, b"ab"));
    let _ = out(&mut c, t(11));
    // Our ACK of "ab" is lost; the peer sends it again with the ACK of all our data.
    c.handle_segment(t(250), &seg(IRS + 1, our(3), A, b"ab"));
    assert_eq!(c.snd_una.0, our(3), "its ACK is taken");
    let o = out(&mut c, t(250));
    assert_eq!(seqs(&o), Vec::<u32>::new(), "nothing sent again");
    assert_eq!(
        (o[0].0.ack.0, sack_of(&o[0].0)),
        (IRS + 3, vec![(IRS + 1, IRS + 3)])
    );
    assert_eq!(read_all(&mut c), b"ab");
    // An older duplicate (not ending at RCV.NXT) is only answered.
    c.handle_segment(t(260), &seg(IRS + 3, our(3), A, b"cd"));
    let _ = out(&mut c, t(260));
    c.send(b"x");
    let _ = out(&mut c, t(261));
    c.handle_segment(t(262), &seg(IRS + 3, our(3) + 1, A, b"c"));
    assert_eq!(
        c.snd_una.0,
        our(3),
        "a duplicate ending below RCV.NXT says nothing"
    );
}

// RFC 8985 §7: when the last segments of a flight are lost, a probe (the last segment
// again) goes after about two round trips instead of a 200 ms timeout; the SACK that
// answers it shows the rest lost.
#[test]
fn a_tail_loss_is_probed_long_before_the_timeout() {
    let mut c = established_sack();
    c.send(&vec![7u8; 3 * 1460]);
    assert_eq!(out(&mut c, t(10)).len(), 3);
    let pto = c.poll_timeout().unwrap();
    assert!(pto < t(20), "PTO {pto} (2·SRTT + 2 ms)");
    c.handle_timeout(pto);
    let o = out(&mut c, pto);
    assert_eq!(seqs(&o), vec![our(2)]);
    assert_eq!(c.stats().loss_probes, 1);
    let at = pto + Duration::from_millis(1);
    sack_ack(&mut c, at, our(0), &[(our(2), our(3))]);
    assert_eq!(seqs(&out(&mut c, at)), vec![our(0), our(1)]);
    assert_eq!(c.stats().timeouts, 0);
}

// RFC 6298 is unchanged by SACK: with one segment out, the probe takes the first
// expiry (as in Linux), and then the timeout backs off, doubling each time.
#[test]
fn the_retransmission_timeout_backs_off_as_before_with_sack() {
    let mut c = established_sack();
    c.send(b"data");
    out(&mut c, t(100));
    let rto = c.rtt.rto();
    assert_eq!(rto, Duration::from_millis(200));
    let at = c.poll_timeout().unwrap();
    assert_eq!(at, t(300), "the probe waits as long as the RTO would");
    c.handle_timeout(at);
    assert_eq!(seqs(&out(&mut c, at)), vec![ISS + 1]);
    assert_eq!((c.stats().loss_probes, c.stats().timeouts), (1, 0));
    let mut at = at;
    for k in 0..3 {
        let next = c.poll_timeout().unwrap();
        assert_eq!(next, at + rto * (1 << k));
        at = next;
        c.handle_timeout(at);
        assert_eq!(seqs(&out(&mut c, at)), vec![ISS + 1]);
    }
    assert_eq!(c.stats().timeouts, 3);
}

// RFC 2018 §8: a receiver may drop what it SACKed; a cumulative ACK that stops right at
// a SACKed segment says so, and the SACKs are forgotten.
#[test]
fn reneging_is_noticed_and_the_sacks_are_forgotten() {
    let mut c = sack_flight(4, 0);
    sack_ack(&mut c, t(20), our(0), &[(our(2), our(4))]);
    assert_eq!(c.sb.sacked_bytes(), 2 * 1460);
    c.handle_segment(t(21), &seg(IRS + 1, our(2), A, b""));
    assert_eq!(c.stats().sack_reneged, 1);
    assert_eq!(c.sb.sacked_bytes(), 0);
    c.sb.check();
}

// Without SACK negotiated, SACK blocks a peer sends anyway are ignored, and NewReno
// recovers as before (RFC 5681 §3.2, RFC 6582).
#[test]
fn a_peer_without_sack_gets_newreno_whatever_it_sends() {
    let mut c = with_segments_in_flight(6);
    for _ in 0..3 {
        sack_ack(&mut c, t(20), ISS + 1, &[(our(1), our(4))]);
    }
    let o = out(&mut c, t(20));
    assert_eq!(seqs(&o), vec![ISS + 1]);
    assert_eq!(
        c.congestion(),
        (3 * 1460 + 3 * 1460, 3 * 1460),
        "inflated: NewReno"
    );
    assert!(c.sb.is_empty());
}

// Bad input never panics: ACKs with random SACK blocks, cumulative ACKs and timeouts
// over a flight, with the scoreboard checked after each.
#[test]
fn random_sack_blocks_never_break_the_scoreboard() {
    let mut rng = crate::driver::sim::Rng::new(77);
    let mut c = sack_flight(10, 30);
    let mut now = t(20);
    for _ in 0..5000 {
        now += Duration::from_micros(rng.below(3000));
        let una = c.snd_una.0;
        let max = c.snd_max.0;
        let span = max.wrapping_sub(una).max(1);
        let mut blocks = Vec::new();
        for _ in 0..rng.below(5) {
            let l = una
                .wrapping_add(rng.below(u64::from(span) + 3000) as u32)
                .wrapping_sub(1000);
            let r = l.wrapping_add(rng.below(6000) as u32).wrapping_sub(500);
            blocks.push((l, r));
        }
        let ack = if rng.chance(0.2) {
            una.wrapping_add(rng.below(u64::from(span) + 1) as u32)
        } else {
            una
        };
        sack_ack(&mut c, now, ack, &blocks);
        if rng.chance(0.05) {
            if let Some(at) = c.poll_timeout() {
                now = now.max(at);
                c.handle_timeout(now);
            }
        }
        out(&mut c, now);
        c.sb.check();
        assert!(c.sb.covers(c.snd_una, c.snd_nxt) || c.snd_nxt == c.snd_una);
    }
}

// RFC 8985 §6.3 with RFC 6675 §5 step 4.3: one SACKed segment above a hole is not
// enough for `IsLost`, but RACK's reordering timer finds the hole lost a quarter of a
// round trip later; the recovery then sends it at once, although the pipe (three
// segments still out) is above the new cwnd (two and a half).
#[test]
fn a_loss_found_by_racks_timer_is_sent_again_at_once() {
    let mut c = sack_flight(5, 0);
    sack_ack(&mut c, t(11), our(0), &[(our(1), our(2))]);
    assert!(seqs(&out(&mut c, t(11))).is_empty());
    let at = c.poll_timeout().unwrap();
    assert_eq!(
        Some(at),
        c.timers.reorder.deadline(),
        "before the probe and the RTO"
    );
    c.handle_timeout(at);
    assert!(c.cc.in_recovery());
    assert!(c.sb.pipe() > c.cc.window());
    assert_eq!(seqs(&out(&mut c, at)), vec![our(0)]);
}

// RFC 9293 §3.6 lets the FIN share a segment with the last data: one segment less, and
// no lone FIN at the tail of a flight, which a loss probe would wait on for the minimum
// RTO (RFC 8985 §7.2 adds the peer's delayed ACK when one segment is out).
#[test]
fn the_fin_rides_on_the_last_data_segment() {
    let mut c = established_sack();
    c.send(&[5; 100]);
    c.close();
    let o = out(&mut c, t(10));
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].0.flags, PA | TcpFlags::FIN);
    assert_eq!(c.state(), State::FinWait1);
    assert_eq!(c.snd_nxt.0, ISS + 1 + 101);
    // Lost, it is sent again whole, FIN included.
    let at = c.timers.retransmit.deadline().unwrap();
    c.timers.loss_probe.stop();
    c.handle_timeout(at);
    let o = out(&mut c, at);
    assert_eq!((o[0].0.flags, o[0].1.len()), (TcpFlags::FIN | A, 100));
    c.handle_segment(at, &seg(IRS + 1, ISS + 102, A, b""));
    assert_eq!(c.state(), State::FinWait2);
}

// An idle connection holds no buffers: they go back (`reclaim`) once nothing is in them,
// and a set is lent again before data moves.
#[test]
fn an_idle_connection_gives_its_buffers_back_and_takes_a_set_again() {
    let mut c = established();
    let b = c.reclaim().expect("nothing sent, nothing received: idle");
    assert!(b.holds_memory());
    assert!(!c.has_buffers() && c.needs_buffers());
    assert!(c.reclaim().is_none(), "reclaimed once");
    let ring = b.recv_ptr();
    c.lend(b);
    assert!(c.has_buffers() && !c.needs_buffers());
    c.handle_segment(t(10), &seg(IRS + 1, ISS + 1, A, b"hello"));
    assert!(c.reclaim().is_none(), "unread data");
    let mut buf = [0u8; 16];
    let n = c.recv(&mut buf);
    assert_eq!(c.send(&buf[..n]), 5);
    let o = out(&mut c, t(10));
    assert_eq!(o[0].1, b"hello");
    let full = o[0].0.window;
    assert!(c.reclaim().is_none(), "sent, not yet acknowledged");
    c.handle_segment(t(11), &seg(IRS + 6, ISS + 6, A, b""));
    let b = c.reclaim().expect("all acknowledged and read");
    assert_eq!(b.recv_ptr(), ring, "the same ring came back");
    // Without buffers it still advertises the whole configured window, and a FIN
    // needs none.
    c.close();
    let o = out(&mut c, t(12));
    assert_eq!(flags(&o), vec![FA]);
    assert_eq!(o[0].0.window, full, "the window of an empty ring");
}

// Out-of-order data and an owed ACK cause keep the buffers.
#[test]
fn out_of_order_data_keeps_the_buffers() {
    let mut c = established();
    c.handle_segment(t(10), &seg(IRS + 101, ISS + 1, A, &[1; 100]));
    assert!(c.reclaim().is_none(), "out-of-order bytes live in the ring");
    out(&mut c, t(10));
    assert!(c.reclaim().is_none());
    c.handle_segment(t(11), &seg(IRS + 1, ISS + 1, A, &[1; 100]));
    let mut buf = [0u8; 256];
    assert_eq!(c.recv(&mut buf), 200);
    out(&mut c, t(11));
    assert!(c.reclaim().is_some());
}

// The state a connection keeps when idle (no buffers) is bounded; docs/performance.md
// ("Memory per TCP connection") records it.
#[test]
fn the_connection_state_stays_small() {
    // 976 bytes on x86-64 today (the configuration copy 112, the scoreboard's RACK
    // state 160, the timers 104, the RTT estimator 72, the event queue 36, the
    // timestamps' state 32).
    let size = core::mem::size_of::<Connection>();
    assert!(size <= 1024, "Connection is {size} bytes");
}

// A connection may be made without buffers (opening many at once holds no set for each);
// it needs them before it is first driven, and works once lent a set.
#[test]
fn a_connection_made_without_buffers_works_once_lent_a_set() {
    let cfg = TcpConfig::default();
    let mut c = Connection::connect(cfg, t(0), ISS, Buffers::none());
    assert!(!c.has_buffers() && c.needs_buffers());
    c.lend(Buffers::for_config(&cfg));
    assert_eq!(flags(&out(&mut c, t(0))), vec![TcpFlags::SYN]);
    c.handle_segment(t(1), &seg(IRS, ISS + 1, TcpFlags(0x12), b""));
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.send(b"abc"), 3);
    let o = out(&mut c, t(1));
    assert_eq!(o.last().map(|s| s.1.as_slice()), Some(&b"abc"[..]));
    c.handle_segment(t(2), &seg(IRS + 1, ISS + 4, A, b"xyz"));
    let mut buf = [0u8; 8];
    assert_eq!(c.recv(&mut buf), 3);
    out(&mut c, t(2));
    assert!(c.reclaim().is_some(), "idle again");
}

// --- Timestamps (RFC 7323) ---

/// A segment with the timestamps option (TSval, TSecr).
fn with_ts(mut s: Segment<'_>, val: u32, ecr: u32) -> Segment<'_> {
    s.options.timestamps = Some((val, ecr));
    s
}

/// In SYN_RCVD from a SYN with TSval 700 (and window scale 7), our timestamp clock
/// offset by 1 000 000.
fn accepted_with_timestamps() -> Connection {
    let mut c = Connection::accept(
        TcpConfig::default(),
        t(0),
        ISS,
        &with_ts(syn(Some(1460), Some(7)), 700, 0),
        Buffers::for_config(&TcpConfig::default()),
    );
    c.set_ts_offset(1_000_000);
    c
}

/// Accepted from a SYN with TSval 700 and established by an ACK with TSval 701.
fn established_with_timestamps() -> Connection {
    let mut c = accepted_with_timestamps();
    out(&mut c, t(0));
    c.handle_segment(
        t(1),
        &with_ts(seg(IRS + 1, ISS + 1, A, b""), 701, 1_000_000),
    );
    assert_eq!(c.state(), State::Established);
    while c.poll_event().is_some() {}
    c
}

// RFC 7323 §3.2: a SYN-ACK carries timestamps only when the SYN did, echoing its TSval;
// from then on every segment carries them, TSval from our 1 ms clock.
#[test]
fn timestamps_are_answered_when_the_syn_offers_them_and_then_always_sent() {
    let mut c = accepted_with_timestamps();
    let o = out(&mut c, t(5));
    assert_eq!(o[0].0.flags, TcpFlags::SYN | A);
    assert_eq!(o[0].0.options.timestamps, Some((1_000_005, 700)));
    c.handle_segment(
        t(6),
        &with_ts(seg(IRS + 1, ISS + 1, A, b"hi"), 710, 1_000_005),
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.send(&[7u8; 3000]), 3000);
    let o = out(&mut c, t(9));
    assert!(!o.is_empty());
    for (h, _) in &o {
        assert_eq!(h.options.timestamps, Some((1_000_009, 710)), "{h:?}");
    }
    // RFC 6691: the MSS counts data; the 12 bytes of the option come out of it.
    assert_eq!(o[0].1.len(), 1460 - 12);

    // Without them in the SYN, none anywhere.
    let mut c = Connection::accept(
        TcpConfig::default(),
        t(0),
        ISS,
        &syn(Some(1460), Some(7)),
        Buffers::for_config(&TcpConfig::default()),
    );
    assert_eq!(out(&mut c, t(0))[0].0.options.timestamps, None);
    c.handle_segment(t(1), &seg(IRS + 1, ISS + 1, A, b""));
    c.send(&[7u8; 3000]);
    let o = out(&mut c, t(2));
    assert!(o.iter().all(|(h, _)| h.options.timestamps.is_none()));
    assert_eq!(o[0].1.len(), 1460);
}

// RFC 7323 §3.2: an active open offers them (TSecr zero) and uses them only if the
// SYN-ACK answers; with `timestamps` off, nothing is offered.
#[test]
fn an_active_open_offers_timestamps_and_keeps_them_only_if_answered() {
    for answered in [true, false] {
        let cfg = TcpConfig::default();
        let mut c = Connection::connect(cfg, t(0), ISS, Buffers::for_config(&cfg));
        c.set_ts_offset(50);
        let o = out(&mut c, t(3));
        assert_eq!(o[0].0.options.timestamps, Some((53, 0)));
        let mut sa = with_ts(seg(IRS, ISS + 1, TcpFlags::SYN | A, b""), 9000, 53);
        if !answered {
            sa.options.timestamps = None;
        }
        c.handle_segment(t(4), &sa);
        assert_eq!(c.state(), State::Established);
        let o = out(&mut c, t(4));
        let want = answered.then_some((54, 9000));
        assert_eq!(o.last().map(|s| s.0.options.timestamps), Some(want));
    }
    let cfg = TcpConfig {
        timestamps: false,
        ..TcpConfig::default()
    };
    let mut c = Connection::connect(cfg, t(0), ISS, Buffers::for_config(&cfg));
    assert_eq!(out(&mut c, t(0))[0].0.options.timestamps, None);
}

// RFC 7323 §5.3 R1 (PAWS): a segment whose TSval is older than TS.Recent is an old
// duplicate: its data is not taken, an ACK answers it, and it is counted. A RST is
// never discarded by PAWS.
#[test]
fn paws_discards_a_segment_with_an_older_timestamp_and_acknowledges() {
    let mut c = established_with_timestamps();
    c.handle_segment(t(2), &with_ts(seg(IRS + 1, ISS + 1, PA, b"new"), 720, 0));
    assert_eq!(c.recv_available(), 3);
    out(&mut c, t(2));
    // Old timestamp, in-window data: dropped.
    c.handle_segment(t(3), &with_ts(seg(IRS + 4, ISS + 1, PA, b"old"), 719, 0));
    assert_eq!(c.recv_available(), 3, "the old segment's data is not taken");
    assert_eq!(c.stats().paws_rejected, 1);
    let o = out(&mut c, t(3));
    assert_eq!(flags(&o), vec![A]);
    assert_eq!(o[0].0.ack, SeqNumber(IRS + 4));
    assert_eq!(o[0].0.options.timestamps, Some((1_000_003, 720)));
    // Across the 2^31 wrap of the clock, "older" is in sequence-space terms.
    c.ts_recent = 0xffff_fff0;
    c.handle_segment(t(4), &with_ts(seg(IRS + 4, ISS + 1, PA, b"new"), 5, 0));
    assert_eq!(c.recv_available(), 6, "5 is after 0xfffffff0");
    // An old timestamp on an exact RST still resets.
    c.handle_segment(t(5), &with_ts(seg(IRS + 7, 0, TcpFlags::RST, b""), 1, 0));
    assert_eq!(c.state(), State::Closed);
}

// RFC 7323 §5.5: after 24 days without a segment, TS.Recent is stale, and an older
// timestamp is taken rather than the connection being dead for good.
#[test]
fn a_stale_ts_recent_lets_an_older_timestamp_in() {
    let mut c = established_with_timestamps();
    let later = t(1) + Duration::from_secs(25 * 24 * 3600);
    c.handle_segment(later, &with_ts(seg(IRS + 1, ISS + 1, PA, b"abc"), 5, 0));
    assert_eq!(c.recv_available(), 3);
    assert_eq!(c.stats().paws_rejected, 0);
    assert_eq!(c.ts_recent, 5);
}

// RFC 7323 §4.3: TS.Recent takes a segment's TSval only when the segment starts at or
// before what we last acknowledged: an out-of-order segment's newer timestamp is not the
// one echoed, the one that fills the hole is.
#[test]
fn ts_recent_follows_the_segments_at_the_left_edge_only() {
    let mut c = established_with_timestamps();
    c.handle_segment(
        t(2),
        &with_ts(seg(IRS + 1001, ISS + 1, A, &[1; 100]), 800, 0),
    );
    let o = out(&mut c, t(2));
    assert_eq!(o[0].0.options.timestamps, Some((1_000_002, 701)));
    c.handle_segment(t(3), &with_ts(seg(IRS + 1, ISS + 1, A, &[1; 1000]), 790, 0));
    let o = out(&mut c, t(3));
    assert_eq!(o[0].0.ack, SeqNumber(IRS + 1101));
    assert_eq!(o[0].0.options.timestamps, Some((1_000_003, 790)));
}

// RFC 6191: with timestamps, a SYN may reopen TIME_WAIT when its timestamp is newer,
// whatever its sequence number; one with an older timestamp may not (PAWS).
#[test]
fn a_syn_with_a_newer_timestamp_may_reopen_time_wait() {
    let mut c = established_with_timestamps();
    c.close();
    out(&mut c, t(10));
    c.handle_segment(t(11), &with_ts(seg(IRS + 1, ISS + 2, FA, b""), 730, 0));
    assert_eq!(c.state(), State::TimeWait);
    let s = with_ts(syn(Some(1460), None), 731, 0);
    assert!(c.syn_may_reopen(&s), "newer timestamp, old sequence number");
    let mut s = with_ts(syn(Some(1460), None), 729, 0);
    s.seq = SeqNumber(IRS + 100_000);
    assert!(!c.syn_may_reopen(&s), "older timestamp: PAWS says no");
    s.options.timestamps = None;
    assert!(
        c.syn_may_reopen(&s),
        "no timestamp: the sequence number decides"
    );
}
