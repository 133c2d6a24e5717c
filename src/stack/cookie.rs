//! SYN cookies (RFC 4987 §3.6): when the half-open table is full, the SYN-ACK's ISS
//! carries what the connection needs, and nothing is stored until the ACK returns.
//!
//! The cookie, 32 bits: a 5-bit counter that ticks every 64 s, a 3-bit index into a
//! table of MSS values, one bit that says whether the SYN offered SACK (RFC 2018), and
//! 23 bits of a keyed hash (SipHash over a per-stack secret) over the 4-tuple, the full
//! counter, the client's ISN and that bit. An ACK is accepted when SEG.ACK - 1 is a
//! cookie made for its 4-tuple and SEG.SEQ - 1 in the current or the previous counter
//! period. Linux keeps SACK-permitted (and window scaling) in the timestamp it echoes;
//! here the bit comes out of the hash instead: a forged cookie is guessed with odds of
//! 2^-23 rather than 2^-24, and since the bit is hashed too, it cannot be flipped without
//! guessing the hash anew. Window scaling is not remembered, so a cookie SYN-ACK offers
//! none, and no timestamps either (the connection it makes has neither).

use crate::time::Instant;
use core::hash::{Hash, Hasher};
use core::net::IpAddr;
#[cfg(test)]
use core::net::Ipv4Addr;
use std::hash::DefaultHasher;

/// MSS values a cookie can say; a peer's MSS is rounded down to one of them.
const MSS_TABLE: [u16; 8] = [536, 1024, 1220, 1360, 1400, 1440, 1452, 1460];
const PERIOD_NS: u64 = 64_000_000_000;
/// The bit that says the SYN offered SACK; the hash has the bits below it.
const SACK_BIT: u32 = 23;
const HASH_MASK: u32 = (1 << SACK_BIT) - 1;

/// What a valid cookie gives back: the SYN-ACK's ISS, the SYN's sequence number, the MSS
/// and whether the SYN offered SACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    pub iss: u32,
    pub irs: u32,
    pub mss: u16,
    pub sack: bool,
}

/// The 4-tuple a cookie is bound to: (local ip, local port, remote ip, remote port).
pub type Tuple = (IpAddr, u16, IpAddr, u16);

pub struct SynCookies {
    secret: u64,
}

impl SynCookies {
    /// Cookies keyed by `secret` (the stack's configuration carries it, so a simulation
    /// with a fixed seed replays exactly).
    pub fn with_secret(secret: u64) -> Self {
        SynCookies { secret }
    }

    fn counter(now: Instant) -> u32 {
        (now.as_nanos() / PERIOD_NS) as u32
    }

    fn hash(&self, tuple: Tuple, counter: u32, irs: u32, sack: bool) -> u32 {
        let mut h = DefaultHasher::new();
        (self.secret, tuple, counter, irs, sack).hash(&mut h);
        (h.finish() as u32) & HASH_MASK
    }

    /// The ISS for a SYN with sequence number `irs`, MSS `peer_mss` and SACK-permitted
    /// if `sack`, and the MSS the cookie records.
    pub fn make(
        &self,
        now: Instant,
        tuple: Tuple,
        irs: u32,
        peer_mss: u16,
        sack: bool,
    ) -> (u32, u16) {
        let index = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0);
        let counter = Self::counter(now);
        let cookie = ((counter & 31) << 27)
            | ((index as u32) << 24)
            | (u32::from(sack) << SACK_BIT)
            | self.hash(tuple, counter, irs, sack);
        (cookie, MSS_TABLE[index])
    }

    /// Checks the ACK that completes a cookie handshake: what the cookie kept if it is
    /// one.
    pub fn check(&self, now: Instant, tuple: Tuple, seg_seq: u32, seg_ack: u32) -> Option<Cookie> {
        let cookie = seg_ack.wrapping_sub(1);
        let irs = seg_seq.wrapping_sub(1);
        let sack = cookie >> SACK_BIT & 1 == 1;
        let current = Self::counter(now);
        (0..2u32).find_map(|age| {
            let counter = current.checked_sub(age)?;
            let ok = cookie >> 27 == counter & 31
                && cookie & HASH_MASK == self.hash(tuple, counter, irs, sack);
            ok.then(|| Cookie {
                iss: cookie,
                irs,
                mss: MSS_TABLE[(cookie >> 24 & 7) as usize],
                sack,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    const T: Tuple = (
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        7,
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
        40000,
    );

    #[test]
    fn a_cookie_is_accepted_for_its_own_tuple_and_isn() {
        let c = SynCookies::with_secret(0x5eed);
        let now = Instant::ZERO + Duration::from_secs(1000);
        let (iss, mss) = c.make(now, T, 5000, 1460, false);
        assert_eq!(mss, 1460);
        assert_eq!(
            c.check(now, T, 5001, iss.wrapping_add(1)),
            Some(Cookie {
                iss,
                irs: 5000,
                mss: 1460,
                sack: false
            })
        );
    }

    // RFC 2018 §2 over a cookie: the SYN's SACK-permitted is remembered, and the bit that
    // says so is covered by the hash, so flipping it makes the cookie invalid.
    #[test]
    fn a_cookie_remembers_sack_permitted_and_cannot_be_flipped() {
        let c = SynCookies::with_secret(0x5eed);
        let now = Instant::ZERO + Duration::from_secs(1000);
        let (iss, _) = c.make(now, T, 5000, 1460, true);
        let got = c.check(now, T, 5001, iss.wrapping_add(1)).unwrap();
        assert!(got.sack);
        let flipped = iss ^ (1 << SACK_BIT);
        assert_eq!(c.check(now, T, 5001, flipped.wrapping_add(1)), None);
        let (plain, _) = c.make(now, T, 5000, 1460, false);
        assert!(!c.check(now, T, 5001, plain.wrapping_add(1)).unwrap().sack);
    }

    #[test]
    fn a_cookie_is_refused_for_another_tuple_isn_or_ack() {
        let c = SynCookies::with_secret(0x5eed);
        let now = Instant::ZERO + Duration::from_secs(1000);
        let (iss, _) = c.make(now, T, 5000, 1460, false);
        let other = (T.0, T.1, T.2, 40001);
        assert_eq!(c.check(now, other, 5001, iss.wrapping_add(1)), None);
        assert_eq!(c.check(now, T, 5002, iss.wrapping_add(1)), None);
        assert_eq!(c.check(now, T, 5001, iss.wrapping_add(2)), None);
    }

    #[test]
    fn a_cookie_expires_after_two_periods() {
        let c = SynCookies::with_secret(0x5eed);
        let now = Instant::ZERO + Duration::from_secs(1000);
        let (iss, _) = c.make(now, T, 5000, 1460, false);
        let later = now + Duration::from_secs(64);
        assert!(c.check(later, T, 5001, iss.wrapping_add(1)).is_some());
        let much_later = now + Duration::from_secs(130);
        assert_eq!(c.check(much_later, T, 5001, iss.wrapping_add(1)), None);
    }

    #[test]
    fn the_mss_is_rounded_down_to_the_table() {
        let c = SynCookies::with_secret(0x5eed);
        let now = Instant::ZERO;
        assert_eq!(c.make(now, T, 1, 1450, false).1, 1440);
        assert_eq!(c.make(now, T, 1, 100, false).1, 536);
        assert_eq!(c.make(now, T, 1, 9000, false).1, 1460);
    }
}
