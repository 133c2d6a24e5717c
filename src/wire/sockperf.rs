//! wire/sockperf: the 14-byte header that starts every sockperf message.
//!
//! Layer: `wire/`, sans-IO. It owns the layout sockperf puts on the wire, all fields in
//! network byte order: a u64 sequence number, u16 flags (1 = CLIENT, 2 = PONG_REQUEST,
//! 4 = WARMUP) and a u32 message length that counts the whole message, header included.
//! Invariants: a [`SockperfHeader`] from `new_checked` holds at least [`HEADER_LEN`] bytes,
//! so no accessor panics. The message length is not checked against the buffer there,
//! because on TCP a message may span segments; [`SockperfHeader::check_datagram`] does
//! that check for UDP, where one datagram is one message.

use super::{be, WireError};

mod field {
    pub const SEQ: usize = 0;
    pub const FLAGS: usize = 8;
    pub const MSG_LEN: usize = 10;
    pub const END: usize = 14;
}

/// Length of the sockperf header.
pub const HEADER_LEN: usize = field::END;

/// The message comes from a client (cleared in a server's reply).
pub const FLAG_CLIENT: u16 = 1;
/// The client wants this message answered (ping-pong / under-load samples).
pub const FLAG_PONG_REQUEST: u16 = 2;
/// Warm-up message: answered, but not measured.
pub const FLAG_WARMUP: u16 = 4;

/// A view over a sockperf message header (and whatever follows it in the buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockperfHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SockperfHeader<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        SockperfHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Truncated` if the buffer is shorter than the header.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// For UDP, where the buffer is one whole message: `BadLength` unless the message
    /// length field equals the buffer length (and so is at least 14).
    pub fn check_datagram(&self) -> Result<(), WireError> {
        self.check_len()?;
        if usize::try_from(self.msg_len()).ok() != Some(self.buffer.as_ref().len()) {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn seq(&self) -> u64 {
        be::u64_at(self.buffer.as_ref(), field::SEQ)
    }

    pub fn flags(&self) -> u16 {
        be::u16_at(self.buffer.as_ref(), field::FLAGS)
    }

    /// The whole message's length, header included.
    pub fn msg_len(&self) -> u32 {
        be::u32_at(self.buffer.as_ref(), field::MSG_LEN)
    }

    pub fn is_client(&self) -> bool {
        self.flags() & FLAG_CLIENT != 0
    }

    pub fn is_pong_request(&self) -> bool {
        self.flags() & FLAG_PONG_REQUEST != 0
    }

    pub fn is_warmup(&self) -> bool {
        self.flags() & FLAG_WARMUP != 0
    }

    /// The bytes after the header in this buffer.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SockperfHeader<T> {
    pub fn set_seq(&mut self, v: u64) {
        be::set_u64(self.buffer.as_mut(), field::SEQ, v);
    }

    pub fn set_flags(&mut self, v: u16) {
        be::set_u16(self.buffer.as_mut(), field::FLAGS, v);
    }

    pub fn set_msg_len(&mut self, v: u32) {
        be::set_u32(self.buffer.as_mut(), field::MSG_LEN, v);
    }

    /// Turns a client message into the server's answer in place: clears CLIENT, keeps the
    /// sequence number, the other flags and the length (the reply echoes the message).
    pub fn make_reply(&mut self) {
        let f = self.flags() & !FLAG_CLIENT;
        self.set_flags(f);
    }

    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The parsed sockperf header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SockperfRepr {
    pub seq: u64,
    pub flags: u16,
    pub msg_len: u32,
}

impl SockperfRepr {
    pub fn parse<T: AsRef<[u8]>>(header: &SockperfHeader<T>) -> Result<SockperfRepr, WireError> {
        header.check_len()?;
        if (header.msg_len() as usize) < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        Ok(SockperfRepr {
            seq: header.seq(),
            flags: header.flags(),
            msg_len: header.msg_len(),
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The whole message (header included), per the length field.
    pub const fn buffer_len(&self) -> usize {
        self.msg_len as usize
    }

    /// Writes the header; panics if the buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut SockperfHeader<T>) {
        header.set_seq(self.seq);
        header.set_flags(self.flags);
        header.set_msg_len(self.msg_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A 14-byte ping from a sockperf client: seq 7, CLIENT|PONG_REQUEST, length 14.
    const PING: [u8; 14] = [0, 0, 0, 0, 0, 0, 0, 7, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0e];

    #[test]
    fn parses_client_ping() {
        let h = SockperfHeader::new_checked(&PING[..]).unwrap();
        assert_eq!((h.seq(), h.flags(), h.msg_len()), (7, 3, 14));
        assert!(h.is_client() && h.is_pong_request() && !h.is_warmup());
        assert!(h.check_datagram().is_ok());
        assert!(h.body().is_empty());
    }

    #[test]
    fn reply_clears_only_the_client_flag() {
        let mut b = PING;
        SockperfHeader::new_checked(&mut b[..])
            .unwrap()
            .make_reply();
        assert_eq!(
            b,
            [0, 0, 0, 0, 0, 0, 0, 7, 0x00, 0x02, 0x00, 0x00, 0x00, 0x0e]
        );
    }

    #[test]
    fn length_mismatches_are_reported() {
        assert_eq!(
            SockperfHeader::new_checked(&PING[..13]).unwrap_err(),
            WireError::Truncated
        );
        let mut b = [0u8; 20];
        b[..14].copy_from_slice(&PING);
        let h = SockperfHeader::new_checked(&b[..]).unwrap();
        assert_eq!(h.check_datagram().unwrap_err(), WireError::BadLength);
        let mut b = PING;
        b[13] = 3;
        let h = SockperfHeader::new_checked(&b[..]).unwrap();
        assert_eq!(SockperfRepr::parse(&h).unwrap_err(), WireError::BadLength);
    }

    proptest! {
        #[test]
        fn repr_round_trips(seq in any::<u64>(), flags in any::<u16>(), msg_len in 14u32..) {
            let r = SockperfRepr { seq, flags, msg_len };
            let mut buf = [0u8; HEADER_LEN];
            r.emit(&mut SockperfHeader::new_unchecked(&mut buf[..]));
            prop_assert_eq!(SockperfRepr::parse(&SockperfHeader::new_checked(&buf[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(h) = SockperfHeader::new_checked(&data[..]) {
                let _ = (SockperfRepr::parse(&h), h.check_datagram(), h.body());
            }
        }
    }
}
