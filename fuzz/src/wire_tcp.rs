//! TCP (`wire::tcp`): the segment view, options, and the checksum over either family's
//! pseudo-header. Parse → emit → parse gives the same segment, its options as xstack
//! writes them (Linux's order and padding; SACK blocks past the 40-byte area dropped);
//! options built from the input round-trip through emit and parse; the checksum agrees
//! with a plain RFC 1071 sum.

use crate::frames::{l4, l4_checksum_ok};
use core::net::IpAddr;
use xstack::wire::tcp::MAX_OPTIONS_LEN;
use xstack::wire::{TcpOptions, TcpPacket, TcpRepr, MAX_SACK_BLOCKS};

pub fn run(data: &[u8]) {
    let (seg, src, dst) = l4(data);
    segment(seg, src, dst);
    // The options area alone, and options made from the input's first bytes.
    let _ = TcpOptions::parse(data.get(..MAX_OPTIONS_LEN).unwrap_or(data));
    options_round_trip(data);
}

/// The options `emit` writes for `o`: its SACK blocks cut to the ones that fit, and no
/// malformed SACK option (one of a bad length is skipped when parsed, never written).
fn as_emitted(o: &TcpOptions) -> TcpOptions {
    let n = o.sack_blocks_emitted();
    let mut e = *o;
    e.sack_count = n as u8;
    e.sack_malformed = false;
    for b in &mut e.sack_blocks[n..] {
        *b = (0, 0);
    }
    e
}

fn segment(seg: &[u8], src: IpAddr, dst: IpAddr) {
    let Ok(p) = TcpPacket::new_checked(seg) else {
        return;
    };
    let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number());
    let _ = (
        p.flags().to_string(),
        p.window_len(),
        p.checksum(),
        p.urgent_at(),
    );
    let _ = (p.options(), p.payload(), p.segment_len());
    let ok = p.verify_checksum(src, dst);
    assert_eq!(ok, l4_checksum_ok(seg, src, dst, 6), "TCP checksum");
    let unverified = TcpRepr::parse_unverified(&p);
    let parsed = TcpRepr::parse(&p, src, dst);
    match (&parsed, &unverified) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), _) => {}
        (Ok(_), Err(e)) => panic!("parse accepted what parse_unverified refused: {e:?}"),
    }
    let Ok(r) = unverified else {
        return;
    };
    let _ = (r.to_string(), r.segment_len());
    assert_eq!(TcpOptions::parse(p.options()), Ok(r.options));
    let mut out = vec![0u8; r.buffer_len()];
    let mut e = TcpPacket::new_unchecked(&mut out[..]);
    r.emit(&mut e, src, dst);
    let e = TcpPacket::new_checked(&out[..]).expect("what we emit is a segment");
    assert!(e.verify_checksum(src, dst));
    let back = TcpRepr::parse(&e, src, dst).expect("what we emit parses");
    assert_eq!(
        back,
        TcpRepr {
            options: as_emitted(&r.options),
            ..r
        }
    );
}

fn options_round_trip(data: &[u8]) {
    let Some(b) = data.get(..28) else {
        return;
    };
    let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let flags = b[0];
    let mut o = TcpOptions {
        mss: (flags & 1 != 0).then(|| u16::from_be_bytes([b[1], b[2]])),
        window_scale: (flags & 2 != 0).then_some(b[3] % 15),
        sack_permitted: flags & 4 != 0,
        timestamps: (flags & 8 != 0).then(|| (u32_at(4), u32_at(8))),
        ..TcpOptions::default()
    };
    let n = usize::from(flags >> 4) % (MAX_SACK_BLOCKS + 1);
    for i in 0..n {
        let l = u32_at(12 + 4 * (i % 4));
        o.sack_blocks[i] = (l, l.wrapping_add(u32::from(b[i + 1])));
    }
    o.sack_count = n as u8;
    let len = o.emit_len();
    assert!(len <= MAX_OPTIONS_LEN && len.is_multiple_of(4));
    let mut buf = [0u8; MAX_OPTIONS_LEN];
    assert_eq!(o.emit(&mut buf), len);
    assert_eq!(TcpOptions::parse(&buf[..len]), Ok(as_emitted(&o)));
    assert_eq!(as_emitted(&o).sack(), &o.sack()[..o.sack_blocks_emitted()]);
}
