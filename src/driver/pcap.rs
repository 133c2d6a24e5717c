//! driver/pcap: wraps any [`Device`] and writes every frame it receives and sends
//! (reflected ones included) to a classic libpcap file with nanosecond timestamps and
//! LINKTYPE_ETHERNET, which tcpdump and Wireshark read. Recording costs a copy into a
//! buffered writer per frame; it is meant for debugging, not for benchmarks.

use super::{Device, DeviceInfo, Doorbell, DriverError, DriverStats, Transmit, Verdict};
use core::time::Duration;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;

/// The nanosecond-resolution pcap magic number.
const MAGIC_NS: u32 = 0xa1b2_3c4d;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 65535;

/// Appends pcap records to a writer.
pub struct PcapWriter<W: Write> {
    out: W,
    /// The first write error; recording stops there, the device keeps working.
    pub error: Option<std::io::Error>,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&MAGIC_NS.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, error: None })
    }

    pub fn record(&mut self, frame: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let len = frame.len().min(SNAPLEN as usize);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&(t.as_secs() as u32).to_le_bytes());
        h[4..8].copy_from_slice(&t.subsec_nanos().to_le_bytes());
        h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        if let Err(e) = self
            .out
            .write_all(&h)
            .and_then(|_| self.out.write_all(&frame[..len]))
        {
            self.error = Some(e);
        }
    }

    pub fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e);
        }
    }
}

/// A [`Transmit`] that records each frame it builds.
struct RecordingTx<'a, W: Write> {
    inner: &'a mut dyn Transmit,
    pcap: &'a mut PcapWriter<W>,
}

impl<W: Write> Transmit for RecordingTx<'_, W> {
    fn frame_capacity(&self) -> usize {
        self.inner.frame_capacity()
    }

    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let pcap = &mut *self.pcap;
        self.inner.send_with(&mut |buf| {
            let len = build(buf);
            if len > 0 {
                pcap.record(&buf[..len.min(buf.len())]);
            }
            len
        })
    }
}

/// Any device, recorded to a pcap file.
pub struct PcapDevice<D: Device> {
    inner: D,
    pcap: PcapWriter<BufWriter<File>>,
}

impl<D: Device> PcapDevice<D> {
    /// Wraps `inner`, writing to a new file at `path`.
    pub fn create(inner: D, path: &Path) -> std::io::Result<Self> {
        let file = File::create(path)?;
        Ok(PcapDevice {
            inner,
            pcap: PcapWriter::new(BufWriter::new(file))?,
        })
    }
}

impl<D: Device> Drop for PcapDevice<D> {
    fn drop(&mut self) {
        self.pcap.flush();
    }
}

impl<D: Device> Device for PcapDevice<D> {
    fn info(&self) -> &DeviceInfo {
        self.inner.info()
    }

    fn receive(
        &mut self,
        budget: usize,
        handler: &mut dyn FnMut(&mut [u8], &mut dyn Transmit) -> Verdict,
    ) -> Result<usize, DriverError> {
        let pcap = &mut self.pcap;
        self.inner.receive(budget, &mut |frame, tx| {
            pcap.record(frame);
            let mut rec = RecordingTx {
                inner: tx,
                pcap: &mut *pcap,
            };
            let v = handler(frame, &mut rec);
            if let Verdict::Reflect(len) = v {
                pcap.record(&frame[..len.min(frame.len())]);
            }
            v
        })
    }

    fn transmitter(&mut self) -> &mut dyn Transmit {
        self
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        self.inner.flush()
    }

    fn wait(&mut self, timeout: Duration, bell: Option<&Doorbell>) -> Result<(), DriverError> {
        self.pcap.flush();
        self.inner.wait(timeout, bell)
    }

    fn stats(&self) -> DriverStats {
        self.inner.stats()
    }

    fn tx_unsent(&self) -> bool {
        self.inner.tx_unsent()
    }
}

/// Frames sent outside `receive` (timers) are recorded through the device itself.
impl<D: Device> Transmit for PcapDevice<D> {
    fn frame_capacity(&self) -> usize {
        self.inner.info().frame_capacity
    }

    fn send_with(&mut self, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let pcap = &mut self.pcap;
        self.inner.transmitter().send_with(&mut |buf| {
            let len = build(buf);
            if len > 0 {
                pcap.record(&buf[..len.min(buf.len())]);
            }
            len
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::sim::{Faults, SimClock, SimLink};

    #[test]
    fn records_received_reflected_and_sent_frames() {
        let clock = SimClock::new();
        let (mut a, b) = SimLink::pair(&clock, Faults::default(), 1);
        let path = std::env::temp_dir().join(format!("xstack-pcap-{}.pcap", std::process::id()));
        {
            let mut dev = PcapDevice::create(b, &path).unwrap();
            a.inject(&[0x11; 60]);
            clock.advance(Duration::from_millis(1));
            dev.receive(8, &mut |f, tx| {
                tx.send_with(&mut |buf| {
                    buf[..42].fill(0x22);
                    42
                });
                f[0] = 0x33;
                Verdict::Reflect(f.len())
            })
            .unwrap();
            dev.transmitter().send_with(&mut |buf| {
                buf[..50].fill(0x44);
                50
            });
        }
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(&bytes[0..4], &MAGIC_NS.to_le_bytes());
        // Walk the records: received (60), built (42), reflected (60), timer-sent (50).
        let mut at = 24;
        let mut seen = Vec::new();
        while at < bytes.len() {
            let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            seen.push((caplen, bytes[at + 16]));
            at += 16 + caplen;
        }
        assert_eq!(at, bytes.len());
        assert_eq!(seen, vec![(60, 0x11), (42, 0x22), (60, 0x33), (50, 0x44)]);
    }
}
