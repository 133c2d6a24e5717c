//! Ethernet and ARP (`wire::ethernet`, `wire::arp`): every accessor of an accepted view;
//! parse → emit gives the same header bytes (both formats have one spelling of each
//! value), and parse of what was emitted gives the same value.

use xstack::wire::arp::PACKET_LEN;
use xstack::wire::{ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr};

pub fn run(data: &[u8]) {
    if let Ok(eth) = EthernetFrame::new_checked(data) {
        let t = eth.ethertype();
        let _ = (eth.dst_addr().is_broadcast(), eth.src_addr().is_unicast());
        let _ = (t.is_vlan_tag(), t.to_string(), eth.src_addr().to_string());
        assert_eq!(EtherType::from(u16::from(t)), t);
        assert_eq!(eth.payload(), &data[14..]);
        let repr = EthernetRepr::parse(&eth).expect("new_checked accepted it");
        let mut out = vec![0u8; repr.buffer_len(0)];
        repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
        assert_eq!(out[..], data[..14], "an Ethernet header has one spelling");
        let again = EthernetRepr::parse(&EthernetFrame::new_checked(&out[..]).unwrap());
        assert_eq!(again, Ok(repr));
    }
    // ARP from the usual offset whatever the EtherType says, and from the start.
    for arp in [data.get(14..).unwrap_or(&[]), data] {
        let Ok(p) = ArpPacket::new_checked(arp) else {
            continue;
        };
        let _ = (p.hardware_type(), p.protocol_type(), p.hardware_len());
        let _ = (p.protocol_len(), p.operation());
        let _ = (p.source_hardware_addr(), p.source_protocol_addr());
        let _ = (p.target_hardware_addr(), p.target_protocol_addr());
        let op = p.operation();
        assert_eq!(ArpOperation::from(u16::from(op)), op);
        let Ok(repr) = ArpRepr::parse(&p) else {
            continue;
        };
        let mut out = [0u8; PACKET_LEN];
        repr.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
        assert_eq!(
            out[..],
            arp[..PACKET_LEN],
            "an Ethernet/IPv4 ARP packet has one spelling"
        );
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&out[..]).unwrap()),
            Ok(repr)
        );
    }
}
