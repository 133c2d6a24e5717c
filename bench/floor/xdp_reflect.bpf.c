// SPDX-License-Identifier: MIT
//
// The floor of the testbed with no user space at all: an XDP program that answers, in
// the driver, what a UDP echo / sockperf server would answer, and ICMP echo requests.
// bench/compare.sh attaches it to xsb0 in xs-b in native mode:
//
//     ip -n xs-b link set dev xsb0 xdpdrv obj xdp_reflect.bpf.o sec xdp
//
// For every IPv4 frame to an address in 198.18.0.0/15 (the lab's range; anything else is
// passed to the kernel untouched, as are ARP, IPv6, fragments and IP options):
//  - UDP: Ethernet addresses, IP addresses and UDP ports swapped. When the payload is a
//    sockperf message from a client (at least 14 bytes, its length field equal to the
//    payload's length, CLIENT set), it is answered as a sockperf server does (and as
//    xstack does, src/stack/mod.rs sockperf_reply): CLIENT cleared, the rest kept, only
//    if PONG_REQUEST is set (otherwise the frame is dropped: sockperf sends no reply).
//    Any other UDP payload is echoed as it is.
//  - ICMP echo request: addresses swapped, type 8 -> 0.
// Swapping addresses and ports leaves every checksum as it is (the one's complement sum
// does not depend on order); the one 16-bit word that changes (sockperf flags, ICMP
// type) is patched incrementally (RFC 1624, eqn. 3). A zero UDP checksum (none) stays 0.
//
// veth: XDP_TX on xsb0 hands the frame to the peer xsa0's XDP receive queue, which the
// kernel accepts only while xsa0 has NAPI running — that is, while xsa0 has an XDP
// program attached or GRO on. lab.sh turns GRO off, so the bench attaches
// xdp_pass.bpf.c to xsa0 (natively) for as long as this program is attached, and
// leaves GRO as lab.sh set it. Without it the frames are dropped (the peer's
// rx_xdp_tx_xmit_errors counter of `ethtool -S xsb0` grows).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>

#define SEC(name) __attribute__((section(name), used))

// <linux/icmp.h> pulls in libc headers, which -target bpf cannot use.
struct icmp_echo {
	__u8 type;
	__u8 code;
	__u16 checksum;
};
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

#define SOCKPERF_HDR 14
#define SP_CLIENT 1
#define SP_PONG_REQUEST 2

static __always_inline __u16 bswap16(__u16 x)
{
	return __builtin_bswap16(x);
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), all in network byte order.
static __always_inline __u16 csum_replace16(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check;
	sum += (__u16)~old;
	sum += new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline void swap_eth(struct ethhdr *eth)
{
	unsigned char tmp[ETH_ALEN];
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
}

static __always_inline int lab_addr(__u32 be_addr)
{
	// 198.18.0.0/15, in network byte order.
	return (be_addr & __builtin_bswap32(0xfffe0000)) == __builtin_bswap32(0xc6120000);
}

SEC("xdp")
int xdp_reflect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 tmp;

	if ((void *)(ip + 1) > end || eth->h_proto != bswap16(ETH_P_IP))
		return XDP_PASS;
	if (ip->ihl != 5 || (ip->frag_off & bswap16(0x3fff)) || !lab_addr(ip->daddr))
		return XDP_PASS;

	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)(ip + 1);
		if ((void *)(udp + 1) > end)
			return XDP_PASS;
		__u8 *msg = (void *)(udp + 1);
		__u32 ulen = bswap16(udp->len);
		if ((void *)(msg + SOCKPERF_HDR) <= end && ulen >= sizeof(*udp) + SOCKPERF_HDR) {
			__u32 plen = ulen - sizeof(*udp);
			__u32 mlen = __builtin_bswap32(*(__u32 *)(msg + 10));
			__u16 flags = *(__u16 *)(msg + 8); // network byte order
			if (mlen == plen && (flags & bswap16(SP_CLIENT))) {
				if (!(flags & bswap16(SP_PONG_REQUEST)))
					return XDP_DROP;
				__u16 nflags = flags & ~bswap16(SP_CLIENT);
				*(__u16 *)(msg + 8) = nflags;
				if (udp->check) {
					__u16 c = csum_replace16(udp->check, flags, nflags);
					udp->check = c ? c : 0xffff;
				}
			}
		}
		__u16 port = udp->source;
		udp->source = udp->dest;
		udp->dest = port;
	} else if (ip->protocol == IPPROTO_ICMP) {
		struct icmp_echo *icmp = (void *)(ip + 1);
		if ((void *)(icmp + 1) > end || icmp->type != ICMP_ECHO || icmp->code != 0)
			return XDP_PASS;
		icmp->type = ICMP_ECHOREPLY;
		icmp->checksum = csum_replace16(icmp->checksum, bswap16(ICMP_ECHO << 8),
						bswap16(ICMP_ECHOREPLY << 8));
	} else {
		return XDP_PASS;
	}
	tmp = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = tmp;
	swap_eth(eth);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
