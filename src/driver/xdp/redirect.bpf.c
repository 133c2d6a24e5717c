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
// With CFG_REFLECT (`serve --reflect-in-xdp`), the stateless IPv4 requests that xstack's
// stack would answer by turning the request around are answered here, with XDP_TX, byte
// for byte as the stack answers them (src/stack/mod.rs): ICMP echo to an address xstack
// owns, UDP to the echo ports and the sockperf port that user space wrote into
// `reflect_ports` (on a shared address, only those ports that are also claimed). Only a
// request the stack would answer is answered: anything it would drop or count (bad
// checksums, IP options, fragments, martian or own source addresses, frames not to the
// interface's MAC, short sockperf messages) goes on to the socket as before. sockperf
// messages that ask for no reply are dropped here, as the stack drops them. Each reply
// is counted in `reflects`.
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
#include <linux/udp.h>
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

// Slots of `reflects`.
#define R_ICMP_ECHO 0
#define R_UDP_ECHO 1
#define R_SOCKPERF 2
#define R_SOCKPERF_NO_REPLY 3
#define R_COUNT 4

// Values of reflect_ports.
#define SVC_ECHO 1
#define SVC_SOCKPERF 2

// Bits of config.flags.
#define CFG_IPV6 1
#define CFG_REFLECT 2

// TTL of every reply (TTL in src/stack/mod.rs).
#define REPLY_TTL 64

// sockperf header (src/wire/sockperf.rs): u64 sequence, u16 flags, u32 length.
#define SOCKPERF_HEADER 14
#define SOCKPERF_FLAGS 8
#define SOCKPERF_CLIENT 1
#define SOCKPERF_PONG_REQUEST 2

struct config {
	__u32 flags;
	// Longest frame an AF_XDP frame holds; longer ones for us are dropped as oversize.
	__u32 max_frame;
	// The process that attached the program, so that another xstack can name it.
	__u32 owner_pid;
	// The program's interface version (PROGRAM_VERSION in program.rs).
	__u32 version;
	// The interface's MAC: the stack takes IPv4 only to it, and answers from it.
	__u8 mac[6];
	__u16 pad;
	// The directed broadcast address of the stack's subnet (network byte order; 0 when
	// it has none, /31 and /32): a martian source, as 0/8, 127/8, 224/4 and
	// 255.255.255.255 are.
	__be32 broadcast;
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

// UDP port -> SVC_ECHO or SVC_SOCKPERF, for the ports answered in XDP (CFG_REFLECT).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} reflect_ports SEC(".maps");

// What the fast path answered (CFG_REFLECT), per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, R_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} reflects SEC(".maps");

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

// ---- The fast path for stateless replies (CFG_REFLECT) ----

// reflect_v4's answer when the frame goes on as it would without the fast path.
#define GO_ON (-1)

struct icmp_echo_hdr {
	__u8 type;
	__u8 code;
	__u16 check;
};

static __always_inline int counted(__u32 slot, int action)
{
	__u64 *n = bpf_map_lookup_elem(&reflects, &slot);
	if (n)
		*n += 1;
	return action;
}

// Folds a ones'-complement sum to 16 bits.
static __always_inline __u16 fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

// RFC 1624 eqn. 3, exactly as checksum::update_u16 computes it: HC' = ~(~HC + ~m + m').
// Words are taken as they lie in the frame; a ones'-complement sum does not depend on
// the byte order it is taken in, so this is the same as on big-endian values.
static __always_inline __u16 csum_update(__u16 check, __u16 old, __u16 new)
{
	return ~fold((__u64)(__u16)~check + (__u16)~old + new);
}

// Where the ICMP or UDP header starts: after Ethernet and an IPv4 header without options.
#define L4_OFF (sizeof(struct ethhdr) + sizeof(struct ipv4_hdr))

// The ones'-complement sum of the frame's bytes from L4_OFF to its end, added to `seed`,
// folded to 16 bits; -1 if the frame is longer than this walks (1788 bytes after
// L4_OFF, more than an Ethernet MTU's worth), or the helper refuses. A global function,
// so that the verifier walks its many paths once, not once per path of its callers.
__attribute__((noinline)) int sum_l4(struct xdp_md *ctx, __u32 seed)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *p = data + L4_OFF;
	if ((void *)p > end)
		return -1;
	__s64 r = seed;
#pragma unroll
	for (int i = 0; i < 6; i++) {
		if ((void *)(p + 256) > end)
			break;
		r = bpf_csum_diff(0, 0, (__be32 *)p, 256, (__u32)r);
		if (r < 0)
			return -1;
		p += 256;
	}
#define SUM_CHUNK(n)                                                             \
	if ((void *)(p + (n)) <= end) {                                          \
		r = bpf_csum_diff(0, 0, (__be32 *)p, (n), (__u32)r);             \
		if (r < 0)                                                       \
			return -1;                                               \
		p += (n);                                                        \
	}
	SUM_CHUNK(128)
	SUM_CHUNK(64)
	SUM_CHUNK(32)
	SUM_CHUNK(16)
	SUM_CHUNK(8)
	SUM_CHUNK(4)
#undef SUM_CHUNK
	__u64 s = (__u32)r;
	if ((void *)(p + 2) <= end) {
		s += *(__u16 *)p;
		p += 2;
	}
	if ((void *)(p + 1) <= end) {
		// An odd last byte is the high byte of a word whose low byte is zero.
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		s += *p;
#else
		s += (__u16)*p << 8;
#endif
		p += 1;
	}
	if ((void *)p != end)
		return -1;
	return fold(s);
}

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

// A source address the stack drops as martian (is_martian in src/stack/mod.rs).
static __always_inline int martian(__be32 saddr, struct config *cfg)
{
	__u8 first = bpf_ntohl(saddr) >> 24;
	return first == 0 || first == 127 || (first & 0xf0) == 0xe0 || saddr == 0xffffffff ||
	       (cfg->broadcast && saddr == cfg->broadcast);
}

// The request becomes its reply (turn_around in src/stack/mod.rs): Ethernet addresses
// back to the sender from the interface's MAC, IP addresses swapped (no checksum
// changes), TTL reset, patched into the header checksum.
static __always_inline void turn_around(struct ethhdr *eth, struct ipv4_hdr *ip,
					struct config *cfg)
{
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->mac, ETH_ALEN);
	__be32 a = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = a;
	__u16 *ttl_proto = (__u16 *)&ip->ttl;
	__u16 old = *ttl_proto;
	ip->ttl = REPLY_TTL;
	ip->check = csum_update(ip->check, old, *ttl_proto);
}

// Answers the IPv4 frame in XDP when the stack would answer it by turning it around
// (ICMP echo on an `owned` address, UDP echo and sockperf on the ports in
// reflect_ports): XDP_TX, or XDP_DROP for a sockperf message that wants no reply;
// GO_ON for everything else. It may trim Ethernet padding after the IP datagram off a
// frame it takes for a request (the stack ignores those bytes too); such a frame goes
// to xstack whatever happens, never to the kernel.
static __always_inline int reflect_v4(struct xdp_md *ctx, struct config *cfg, int owned)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv4_hdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return GO_ON;
	// No options, no fragments: the stack answers those on its own path.
	if (ip->ver_ihl != 0x45 || (ip->frag_off & bpf_htons(0x3fff)))
		return GO_ON;
	__u8 proto = ip->protocol;
	if (!(proto == IPPROTO_UDP || (proto == IPPROTO_ICMP && owned)))
		return GO_ON;
	// The stack takes IPv4 only to its MAC, from a unicast MAC that is not its own.
	if (!mac_eq(eth->h_dest, cfg->mac) || (eth->h_source[0] & 1) ||
	    mac_eq(eth->h_source, cfg->mac))
		return GO_ON;
	__u32 tot = bpf_ntohs(ip->tot_len);
	__u32 len = (__u32)((long)end - (long)data);
	if (tot < sizeof(*ip) + 8 || sizeof(*eth) + tot > len)
		return GO_ON;
	__u64 hs = 0;
	__u16 *w = (__u16 *)ip;
#pragma unroll
	for (int i = 0; i < 10; i++)
		hs += w[i];
	if (fold(hs) != 0xffff)
		return GO_ON;
	__be32 saddr = ip->saddr;
	if (martian(saddr, cfg) || bpf_map_lookup_elem(&addrs_v4, &saddr))
		return GO_ON;
	__u8 svc = 0;
	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = (void *)(ip + 1);
		if ((void *)(udp + 1) > end)
			return GO_ON;
		__u32 port = bpf_ntohs(udp->dest);
		__u8 *s = bpf_map_lookup_elem(&reflect_ports, &port);
		if (!s || !*s)
			return GO_ON;
		svc = *s;
		// A UDP length short of the IP payload makes the stack trim the reply: its path.
		if (bpf_ntohs(udp->len) != tot - sizeof(*ip))
			return GO_ON;
		if (!owned && !claimed(udp, end, IPPROTO_UDP))
			return GO_ON;
	} else {
		struct icmp_echo_hdr *ic = (void *)(ip + 1);
		if ((void *)(ic + 1) > end || ic->type != 8 || ic->code != 0)
			return GO_ON;
	}
	// The pseudo-header of UDP: addresses, protocol, UDP length (0: no checksum, over
	// IPv4).
	__u32 seed = 0;
	if (svc) {
		struct udphdr *udp = (void *)(ip + 1);
		if (udp->check)
			seed = fold((__u64)ip->saddr + ip->daddr + bpf_htons(IPPROTO_UDP) +
				    udp->len);
		else
			seed = 0x10000; // no checksum to check
	}
	if (len > sizeof(*eth) + tot) {
		// Padding after the datagram (a short frame on a real NIC): off with it.
		if (bpf_xdp_adjust_tail(ctx, (int)(sizeof(*eth) + tot) - (int)len))
			return GO_ON;
	}
	// From here the frame ends where the datagram does. ICMP's checksum and UDP's (when
	// it has one) must be right, or the stack drops and counts the request.
	if (seed != 0x10000 && sum_l4(ctx, seed) != 0xffff)
		return GO_ON;
	// The packet pointers from before the checks are stale: the frame may be shorter.
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return GO_ON;
	if (svc == 0) {
		struct icmp_echo_hdr *ic = (void *)(ip + 1);
		if ((void *)(ic + 1) > end)
			return GO_ON;
		// echo_request_into_reply in src/wire/icmp.rs.
		__u16 *tc = (__u16 *)ic;
		__u16 old = *tc;
		ic->type = 0;
		__u16 c = csum_update(ic->check, old, *tc);
		ic->check = c ? c : 0xffff;
		turn_around(eth, ip, cfg);
		return counted(R_ICMP_ECHO, XDP_TX);
	}
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return GO_ON;
	if (svc == SVC_SOCKPERF) {
		__u8 *msg = (void *)(udp + 1);
		// A message shorter than its header is dropped by the stack, and counted.
		if ((void *)(msg + SOCKPERF_HEADER) > end)
			return GO_ON;
		__u16 *fp = (__u16 *)(msg + SOCKPERF_FLAGS);
		__u16 flags = *fp;
		if (!(bpf_ntohs(flags) & SOCKPERF_PONG_REQUEST))
			return counted(R_SOCKPERF_NO_REPLY, XDP_DROP);
		__u16 reply = bpf_htons(bpf_ntohs(flags) & ~SOCKPERF_CLIENT);
		*fp = reply;
		if (udp->check) {
			__u16 c = csum_update(udp->check, flags, reply);
			udp->check = c ? c : 0xffff;
		}
	}
	turn_around(eth, ip, cfg);
	__be16 p = udp->source;
	udp->source = udp->dest;
	udp->dest = p;
	return counted(svc == SVC_SOCKPERF ? R_SOCKPERF : R_UDP_ECHO, XDP_TX);
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
		int owned = *mode == ADDR_OWNED;
		if (cfg && (cfg->flags & CFG_REFLECT)) {
			int act = reflect_v4(ctx, cfg, owned);
			if (act != GO_ON)
				return act;
			// It may have trimmed the frame: the packet pointers are new.
			data = (void *)(long)ctx->data;
			end = (void *)(long)ctx->data_end;
			ip = data + sizeof(struct ethhdr);
			if ((void *)(ip + 1) > end)
				return to_xstack(ctx, cfg);
		}
		if (owned)
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
