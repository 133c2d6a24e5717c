// SPDX-License-Identifier: MIT
//
// The floor of a user-space load generator on this testbed: a closed-loop UDP client on
// one AF_XDP socket (queue 0, copy mode), with FLOWS flows (source ports), each with one
// sockperf request in flight (CLIENT | PONG_REQUEST, so that sockperf servers, xstack
// serve's sockperf responder and the floor reflectors answer it). One thread busy-polls
// the RX ring; a batch of replies costs one clock read, which ends the RTT of each reply
// and stamps the next request of each flow, sent in one TX batch with one sendto.
//
//   afxdp_client --iface IF --bpf XSK_REDIRECT_OBJ --src IP --dst-mac MAC --secs S
//                [--dst 198.18.0.2] [--port 11111] [--flows 1] [--size 64] [--sport 40000]
//
// It sends only to 198.18.0.2, the lab's server (scripts/lab.sh), from an address in
// 198.18.0.0/15, and refuses anything else. The destination MAC is given (the bench reads
// xsb0's); the servers resolve the client's address through the kernel in xs-a, which
// owns it. A reply that has not come within 200 ms is counted lost and its flow sends
// again. The first 100 ms are warm-up, not measured. After SECS seconds (or SIGINT /
// SIGTERM) it prints one JSON object on stdout: replies, rate, RTT percentiles (a
// log-linear histogram, 1/64 of a power of two wide), lost and stray frames, and its
// busy time (the time in batches that received frames) against its run time.

#include "xsk_common.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <sys/ioctl.h>

static const char *PROG = "afxdp_client";

#define SP_CLIENT 1
#define SP_PONG_REQUEST 2
#define HDRS (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))
#define MAX_FLOWS 1024
#define TIMEOUT_NS 200000000ull
#define WARMUP_NS 100000000ull

// Log-linear histogram of nanoseconds: 64 linear buckets per power of two.
#define SUB 64
#define HBUCKETS (SUB * 64)
static uint64_t hist[HBUCKETS];
static uint64_t hist_n, hist_max;

static inline unsigned bucket(uint64_t v)
{
	if (v < SUB)
		return (unsigned)v;
	unsigned e = 63 - (unsigned)__builtin_clzll(v); // >= 6
	unsigned m = (unsigned)(v >> (e - 6)) & (SUB - 1);
	return SUB * (e - 5) + m;
}

static inline uint64_t bucket_mid(unsigned b)
{
	if (b < SUB)
		return b;
	unsigned e = b / SUB + 5, m = b % SUB;
	uint64_t lo = (uint64_t)(SUB + m) << (e - 6);
	return lo + ((1ull << (e - 6)) >> 1);
}

static inline void record(uint64_t ns)
{
	hist[bucket(ns)]++;
	hist_n++;
	if (ns > hist_max)
		hist_max = ns;
}

static double pct_us(double q)
{
	if (!hist_n)
		return 0;
	uint64_t want = (uint64_t)(q * (double)hist_n + 0.999999999);
	if (want < 1)
		want = 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < HBUCKETS; b++) {
		seen += hist[b];
		if (seen >= want)
			return (double)bucket_mid(b) / 1000.0;
	}
	return (double)hist_max / 1000.0;
}

struct flow {
	uint64_t seq;
	uint64_t sent_ns;
	int due; // a reply (or a loss) came: send the next request in this batch
};

static struct flow flows[MAX_FLOWS];
static uint64_t free_tx[RING_SIZE];
static uint32_t n_free;
static uint8_t tmpl[HDRS + 1500];
static uint32_t frame_len, base_sum;

static int parse_mac(const char *s, uint8_t *mac)
{
	unsigned v[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static int in_lab(struct in_addr a)
{
	return (ntohl(a.s_addr) & 0xfffe0000u) == 0xc6120000u; // 198.18.0.0/15
}

// Builds flow I's next request into the TX frame at ADDR of the UMEM.
static void build(uint8_t *umem, uint64_t addr, uint16_t sport, uint64_t seq)
{
	uint8_t *f = umem + addr;
	memcpy(f, tmpl, frame_len);
	struct udphdr *udp = (struct udphdr *)(f + sizeof(struct ethhdr) + sizeof(struct iphdr));
	uint8_t *msg = (uint8_t *)(udp + 1);
	udp->source = htons(sport);
	uint64_t be = __builtin_bswap64(seq);
	memcpy(msg, &be, 8);
	// The template's UDP checksum is 0: the sum covers the pseudo-header, the UDP header
	// and the message, and the port and sequence number change per request.
	uint32_t sum = base_sum + udp->source;
	sum = csum_add(sum, msg, 8);
	uint16_t c = csum_fold(sum);
	udp->check = c ? c : 0xffff;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s --iface IF --bpf OBJ --src IP --dst-mac MAC --secs S [--dst 198.18.0.2]\n"
		"       [--port 11111] [--flows 1] [--size 64] [--sport 40000]\n",
		PROG);
	exit(2);
}

static long num(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: %s wants a whole number from %ld to %ld, not '%s'\n", PROG, opt,
			lo, hi, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *bpf = NULL, *src_s = NULL, *mac_s = NULL;
	const char *dst_s = "198.18.0.2";
	long secs = 0, port = 11111, nflows = 1, size = 64, sport = 40000;
	static const struct option opts[] = {
		{ "iface", required_argument, 0, 'i' }, { "bpf", required_argument, 0, 'b' },
		{ "src", required_argument, 0, 's' },	{ "dst", required_argument, 0, 'd' },
		{ "dst-mac", required_argument, 0, 'm' }, { "secs", required_argument, 0, 't' },
		{ "port", required_argument, 0, 'p' },	{ "flows", required_argument, 0, 'f' },
		{ "size", required_argument, 0, 'z' },	{ "sport", required_argument, 0, 'P' },
		{ 0, 0, 0, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': ifname = optarg; break;
		case 'b': bpf = optarg; break;
		case 's': src_s = optarg; break;
		case 'd': dst_s = optarg; break;
		case 'm': mac_s = optarg; break;
		case 't': secs = num("--secs", optarg, 1, 3600); break;
		case 'p': port = num("--port", optarg, 1, 65535); break;
		case 'f': nflows = num("--flows", optarg, 1, MAX_FLOWS); break;
		case 'z': size = num("--size", optarg, 14, 1400); break;
		case 'P': sport = num("--sport", optarg, 1024, 65535); break;
		default: usage();
		}
	}
	if (optind != argc || !ifname || !bpf || !src_s || !mac_s || !secs)
		usage();
	if (sport + nflows - 1 > 65535) {
		fprintf(stderr, "%s: --sport %ld with %ld flows runs past port 65535\n", PROG, sport,
			nflows);
		return 2;
	}
	struct in_addr src, dst;
	uint8_t dmac[6], smac[6];
	if (!inet_pton(AF_INET, src_s, &src) || !in_lab(src)) {
		fprintf(stderr, "%s: --src must be an IPv4 address in 198.18.0.0/15, not %s\n", PROG,
			src_s);
		return 2;
	}
	// The lab's rule: traffic only to the lab's server.
	if (!inet_pton(AF_INET, dst_s, &dst) || dst.s_addr != htonl(0xc6120002u)) {
		fprintf(stderr, "%s: refusing destination %s: only 198.18.0.2, the lab's server\n",
			PROG, dst_s);
		return 2;
	}
	if (parse_mac(mac_s, dmac)) {
		fprintf(stderr, "%s: --dst-mac: not a MAC address: %s\n", PROG, mac_s);
		return 2;
	}
	{
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr))
			die(PROG, "the interface's MAC address (SIOCGIFHWADDR)");
		memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
		close(s);
	}

	// The request template: checksummed IP header, UDP checksum 0 (filled per request),
	// a sockperf message of SIZE bytes (the header, then zeros).
	frame_len = HDRS + (uint32_t)size;
	struct ethhdr *eth = (struct ethhdr *)tmpl;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);
	uint8_t *msg = (uint8_t *)(udp + 1);
	memcpy(eth->h_dest, dmac, 6);
	memcpy(eth->h_source, smac, 6);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons((uint16_t)(frame_len - sizeof(*eth)));
	ip->frag_off = htons(0x4000);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = src.s_addr;
	ip->daddr = dst.s_addr;
	ip->check = csum_fold(csum_add(0, ip, sizeof(*ip)));
	udp->dest = htons((uint16_t)port);
	udp->len = htons((uint16_t)(sizeof(*udp) + size));
	uint16_t flags = htons(SP_CLIENT | SP_PONG_REQUEST);
	uint32_t mlen = htonl((uint32_t)size);
	memcpy(msg + 8, &flags, 2);
	memcpy(msg + 10, &mlen, 4);
	uint32_t pseudo = csum_add(0, &ip->saddr, 8) + htons(IPPROTO_UDP) + udp->len;
	// Everything but the source port and the sequence number (both zero in the template).
	base_sum = csum_add(pseudo, udp, sizeof(*udp) + (size_t)size); // an odd last byte is 0

	struct xsk x;
	xsk_open(PROG, &x, ifname, bpf, (uint16_t)sport, (uint16_t)(sport + nflows - 1));
	catch_signals();
	for (uint32_t i = 0; i < RING_SIZE; i++)
		fill_one(&x, (uint64_t)i * FRAME_SIZE);
	for (uint32_t i = 0; i < RING_SIZE; i++)
		free_tx[n_free++] = (uint64_t)(RING_SIZE + i) * FRAME_SIZE;

	uint64_t replies = 0, measured = 0, lost = 0, stray = 0, busy_ns = 0;
	uint64_t t_start = now_ns();
	uint64_t warm_end = t_start + WARMUP_NS, deadline = t_start + (uint64_t)secs * 1000000000ull;
	for (long i = 0; i < nflows; i++)
		flows[i].due = 1;
	int pending = (int)nflows;
	uint64_t t = t_start, spins = 0, next_check = t_start + TIMEOUT_NS / 4;
	for (;;) {
		uint32_t rcons = *x.rx.consumer;
		uint32_t n = load_acquire(x.rx.producer) - rcons;
		if (n == 0 && !pending) {
			if ((++spins & 1023) != 0)
				continue;
			t = now_ns();
			if (t >= deadline || stop_flag)
				break;
			if (t < next_check)
				continue;
		}
		uint64_t t0 = (n || pending) ? now_ns() : t;
		if (t0 >= next_check) {
			next_check = t0 + TIMEOUT_NS / 4;
			for (long i = 0; i < nflows; i++) {
				if (!flows[i].due && t0 - flows[i].sent_ns > TIMEOUT_NS) {
					flows[i].due = 1;
					pending++;
					lost++;
				}
			}
		}
		if (n > BATCH)
			n = BATCH;
		for (uint32_t i = 0; i < n; i++) {
			struct xdp_desc *d = ring_desc(&x.rx, rcons + i);
			uint8_t *f = x.umem + d->addr;
			struct iphdr *rip = (struct iphdr *)(f + sizeof(struct ethhdr));
			struct udphdr *rudp = (struct udphdr *)(rip + 1);
			uint8_t *rmsg = (uint8_t *)(rudp + 1);
			uint64_t seq;
			uint16_t rflags;
			long fl = -1;
			if (d->len >= frame_len && rip->protocol == IPPROTO_UDP &&
			    rip->saddr == dst.s_addr && rudp->source == htons((uint16_t)port)) {
				fl = (long)ntohs(rudp->dest) - sport;
				memcpy(&seq, rmsg, 8);
				memcpy(&rflags, rmsg + 8, 2);
				if (fl < 0 || fl >= nflows || flows[fl].due ||
				    __builtin_bswap64(seq) != flows[fl].seq ||
				    (rflags & htons(SP_CLIENT)))
					fl = -1;
			}
			if (fl >= 0) {
				struct flow *w = &flows[fl];
				if (w->sent_ns >= warm_end && t0 < deadline) {
					record(t0 - w->sent_ns);
					measured++;
				}
				replies++;
				w->due = 1;
				pending++;
			} else {
				stray++;
			}
			fill_one(&x, d->addr);
		}
		if (n)
			store_release(x.rx.consumer, rcons + n);
		// Copy mode completes inside sendto: the TX frames are free again.
		uint32_t ccons = *x.comp.consumer;
		uint32_t cn = load_acquire(x.comp.producer) - ccons;
		for (uint32_t i = 0; i < cn; i++)
			free_tx[n_free++] = *ring_addr(&x.comp, ccons + i);
		store_release(x.comp.consumer, ccons + cn);
		uint32_t tprod = *x.tx.producer, sent = 0;
		uint32_t room = RING_SIZE - (tprod - load_acquire(x.tx.consumer));
		if (t0 < deadline && !stop_flag) {
			for (long i = 0; i < nflows && pending && sent < room && n_free; i++) {
				struct flow *w = &flows[i];
				if (!w->due)
					continue;
				uint64_t a = free_tx[--n_free];
				w->seq++;
				build(x.umem, a, (uint16_t)(sport + i), w->seq);
				struct xdp_desc *td = ring_desc(&x.tx, tprod + sent);
				td->addr = a;
				td->len = frame_len;
				td->options = 0;
				sent++;
				w->sent_ns = t0;
				w->due = 0;
				pending--;
			}
		}
		if (sent) {
			store_release(x.tx.producer, tprod + sent);
			kick_tx(&x, tprod + sent);
		}
		if (n) {
			t = now_ns();
			busy_ns += t - t0;
			if (t >= deadline || stop_flag)
				break;
		} else if (t0 >= deadline || stop_flag) {
			break;
		}
	}
	uint64_t t_end = now_ns();
	xsk_close(&x);
	uint64_t end = t_end < deadline ? t_end : deadline;
	double window = end > warm_end ? (double)(end - warm_end) / 1e9 : 0;
	printf("{\"program\": \"afxdp_client\", \"flows\": %ld, \"size\": %ld, \"replies\": %llu, "
	       "\"requests\": %llu, \"duration_s\": %.6f, \"throughput_rps\": %.1f, "
	       "\"latency_us\": {\"p50\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}, "
	       "\"lost\": %llu, \"stray\": %llu, \"busy_s\": %.6f, \"run_s\": %.6f}\n",
	       nflows, size, (unsigned long long)replies, (unsigned long long)measured, window,
	       window > 0 ? (double)measured / window : 0.0, pct_us(0.50), pct_us(0.99),
	       pct_us(0.999), hist_max / 1000.0, (unsigned long long)lost,
	       (unsigned long long)stray, busy_ns / 1e9, (t_end - t_start) / 1e9);
	return measured ? 0 : 3;
}
