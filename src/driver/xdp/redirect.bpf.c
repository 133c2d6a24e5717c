// SPDX-License-Identifier: MIT
//
// xstack's XDP program: sends to the AF_XDP socket of the frame's queue only what xstack
// serves, and passes everything else to the kernel's stack untouched.
//
//  - ARP whose target protocol address is an IPv4 address xstack owns outright;
//  - IPv4 to an address xstack owns outright;
//  - IPv4 TCP or UDP to an address xstack shares with the kernel, when the destination
//    port is one xstack claimed (`--claim`); the kernel keeps ARP and every other port.
//    A later fragment carries no ports: it goes where the first fragment of its datagram
//    went (remembered in `claimed_frags`), so that one stack gets every piece;
//  - IPv6 the same way, once user space switches the 0x86DD branch on (CFG_IPV6).
//
// Frames for xstack that cannot reach it are dropped here and counted rather than passed
// on: one larger than an AF_XDP frame (a GSO super-frame) is counted as `oversize`, and
// one that arrives on a queue without a socket as `no_socket`. The kernel would only
// drop them later, or answer them with a RST in its name.
//
// The maps are the interface with user space (src/driver/xdp/program.rs), which fills
// them before it attaches the program and reads `verdicts` for the summary.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 256
#define MAX_ADDRS 64

// Values of addrs_v4 and addrs_v6.
#define ADDR_OWNED 1  // everything for it is xstack's, ARP included
#define ADDR_SHARED 2 // the kernel has it too: only the claimed ports are xstack's

// Slots of `verdicts`.
#define V_REDIRECTED 0
#define V_PASSED 1
#define V_OVERSIZE 2
#define V_NO_SOCKET 3
#define V_COUNT 4

// Bits of config.flags.
#define CFG_IPV6 1

struct config {
	__u32 flags;
	// Longest frame an AF_XDP frame holds; longer ones for us are dropped as oversize.
	__u32 max_frame;
	// The process that attached the program, so that another xstack can name it.
	__u32 owner_pid;
	// The program's interface version (PROGRAM_VERSION in program.rs).
	__u32 version;
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// IPv4 address (network byte order) -> ADDR_OWNED or ADDR_SHARED.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ADDRS);
	__type(key, __u32);
	__type(value, __u32);
} addrs_v4 SEC(".maps");

struct in6_key {
	__u8 addr[16];
};

// IPv6 address -> ADDR_OWNED or ADDR_SHARED; looked up only with CFG_IPV6.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ADDRS);
	__type(key, struct in6_key);
	__type(value, __u32);
} addrs_v6 SEC(".maps");

// Claimed ports of shared addresses: index port for TCP, 65536 + port for UDP; non-zero
// means claimed.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 65536);
	__type(key, __u32);
	__type(value, __u8);
} claims SEC(".maps");

// IPv4 datagrams to a shared address whose first fragment went to xstack.
struct frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8 protocol;
	__u8 pad;
};

// (source, destination, identification, protocol) of a datagram whose first fragment
// was for a claimed port; its later fragments go to xstack too. LRU: a flood of first
// fragments only pushes out the oldest entries.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct frag_key);
	__type(value, __u8);
} claimed_frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, V_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

struct arp_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
};

struct ipv4_hdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6_hdr {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

static __always_inline int count(__u32 verdict, int action)
{
	__u64 *n = bpf_map_lookup_elem(&verdicts, &verdict);
	if (n)
		*n += 1;
	return action;
}

// Whether the TCP or UDP destination port at `l4` is claimed.
static __always_inline int claimed(void *l4, void *end, __u8 proto)
{
	__u32 base;
	if (proto == IPPROTO_TCP)
		base = 0;
	else if (proto == IPPROTO_UDP)
		base = 65536;
	else
		return 0;
	// Both headers start with the source and destination ports.
	__be16 *ports = l4;
	if ((void *)(ports + 2) > end)
		return 0;
	__u32 key = base + bpf_ntohs(ports[1]);
	__u8 *c = bpf_map_lookup_elem(&claims, &key);
	return c && *c;
}

// What to do with a frame for xstack: to its queue's socket, unless it cannot fit.
static __always_inline int to_xstack(struct xdp_md *ctx, struct config *cfg)
{
	__u64 len = (__u64)(long)ctx->data_end - (__u64)(long)ctx->data;
	if (cfg && cfg->max_frame && len > cfg->max_frame)
		return count(V_OVERSIZE, XDP_DROP);
	int r = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_DROP);
	if (r == XDP_REDIRECT)
		return count(V_REDIRECTED, r);
	return count(V_NO_SOCKET, XDP_DROP);
}

SEC("xdp")
int xstack_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);

	if ((void *)(eth + 1) > end)
		return count(V_PASSED, XDP_PASS);
	__be16 type = eth->h_proto;

	if (type == bpf_htons(ETH_P_ARP)) {
		struct arp_ipv4 *arp = (void *)(eth + 1);
		if ((void *)(arp + 1) > end || arp->ptype != bpf_htons(ETH_P_IP) || arp->plen != 4)
			return count(V_PASSED, XDP_PASS);
		__u32 tpa;
		__builtin_memcpy(&tpa, arp->tpa, 4);
		__u32 *mode = bpf_map_lookup_elem(&addrs_v4, &tpa);
		if (mode && *mode == ADDR_OWNED)
			return to_xstack(ctx, cfg);
		return count(V_PASSED, XDP_PASS);
	}

	if (type == bpf_htons(ETH_P_IP)) {
		struct ipv4_hdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end)
			return count(V_PASSED, XDP_PASS);
		__u32 daddr = ip->daddr;
		__u32 *mode = bpf_map_lookup_elem(&addrs_v4, &daddr);
		if (!mode)
			return count(V_PASSED, XDP_PASS);
		if (*mode == ADDR_OWNED)
			return to_xstack(ctx, cfg);
		// Shared: claimed ports of TCP and UDP, and the fragments of such datagrams.
		__u32 ihl = (ip->ver_ihl & 0x0f) * 4;
		if (ihl < 20)
			return count(V_PASSED, XDP_PASS);
		struct frag_key fk;
		__builtin_memset(&fk, 0, sizeof(fk));
		fk.saddr = ip->saddr;
		fk.daddr = ip->daddr;
		fk.id = ip->id;
		fk.protocol = ip->protocol;
		if (ip->frag_off & bpf_htons(0x1fff)) {
			// A later fragment: wherever its first fragment went (the kernel, when
			// that one has not been seen: it arrived later, or not at all).
			if (bpf_map_lookup_elem(&claimed_frags, &fk))
				return to_xstack(ctx, cfg);
			return count(V_PASSED, XDP_PASS);
		}
		void *l4 = (void *)ip + ihl;
		int mine = claimed(l4, end, ip->protocol);
		if (ip->frag_off & bpf_htons(0x2000)) {
			// A first fragment: the rest of its datagram follows it. An unclaimed one
			// clears what an earlier datagram with the same identification left.
			if (mine) {
				__u8 one = 1;
				bpf_map_update_elem(&claimed_frags, &fk, &one, BPF_ANY);
			} else {
				bpf_map_delete_elem(&claimed_frags, &fk);
			}
		}
		if (mine)
			return to_xstack(ctx, cfg);
		return count(V_PASSED, XDP_PASS);
	}

	if (type == bpf_htons(ETH_P_IPV6) && cfg && (cfg->flags & CFG_IPV6)) {
		struct ipv6_hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return count(V_PASSED, XDP_PASS);
		struct in6_key key;
		__builtin_memcpy(key.addr, ip6->daddr, 16);
		__u32 *mode = bpf_map_lookup_elem(&addrs_v6, &key);
		if (!mode)
			return count(V_PASSED, XDP_PASS);
		if (*mode == ADDR_OWNED)
			return to_xstack(ctx, cfg);
		// Shared: TCP or UDP right after the fixed header (no extension headers).
		if (claimed((void *)(ip6 + 1), end, ip6->nexthdr))
			return to_xstack(ctx, cfg);
		return count(V_PASSED, XDP_PASS);
	}

	return count(V_PASSED, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
