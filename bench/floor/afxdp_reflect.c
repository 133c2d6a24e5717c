// SPDX-License-Identifier: MIT
//
// The floor of a user-space AF_XDP server on this testbed: one AF_XDP socket on queue 0
// (copy mode, as veth has no other), xsk_redirect.bpf.c steering UDP to it, one thread
// busy-polling the RX ring. Each frame is rewritten in place into its answer — the same
// swap as xdp_reflect.bpf.c: Ethernet and IP addresses and UDP ports, a sockperf
// client's message answered as a sockperf server does (CLIENT cleared, only when
// PONG_REQUEST is set; otherwise dropped), other UDP echoed — and its descriptor moves
// to the TX ring; one sendto per batch; completions go back to the fill ring.
//
//   afxdp_reflect IFACE BPF_OBJ [PORT_LO PORT_HI]
//
// UDP to ports PORT_LO..PORT_HI (default 1..65535) is answered; ARP and the rest go to
// the kernel, so the kernel must own the address (lab.sh with LAB_B_KERNEL=1). It says
// "ready" on stderr once attached, and on SIGINT/SIGTERM prints one JSON object on
// stdout: frames received and answered, and its busy time (the time in batches that
// received frames) against its run time, so that a bench can tell whether it saturated.

#include "xsk_common.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>

static const char *PROG = "afxdp_reflect";

#define SP_CLIENT 1
#define SP_PONG_REQUEST 2

static inline uint16_t csum_replace16(uint16_t check, uint16_t old, uint16_t new)
{
	uint32_t sum = (uint16_t)~check;
	sum += (uint16_t)~old;
	sum += new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

// 1 if the frame F of LEN bytes now holds its answer, 0 if it is to be dropped.
static int reflect(uint8_t *f, uint32_t len)
{
	struct ethhdr *eth = (struct ethhdr *)f;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);
	uint8_t *msg = (uint8_t *)(udp + 1);
	if (len < sizeof(*eth) + sizeof(*ip) + sizeof(*udp) || eth->h_proto != htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return 0;
	uint32_t ulen = ntohs(udp->len);
	if (ulen < sizeof(*udp) || sizeof(*eth) + sizeof(*ip) + ulen > len)
		return 0;
	uint32_t plen = ulen - sizeof(*udp);
	if (plen >= 14) {
		uint16_t flags;
		uint32_t mlen;
		memcpy(&flags, msg + 8, 2);
		memcpy(&mlen, msg + 10, 4);
		if (ntohl(mlen) == plen && (flags & htons(SP_CLIENT))) {
			if (!(flags & htons(SP_PONG_REQUEST)))
				return 0;
			uint16_t nflags = flags & ~htons(SP_CLIENT);
			memcpy(msg + 8, &nflags, 2);
			if (udp->check) {
				uint16_t c = csum_replace16(udp->check, flags, nflags);
				udp->check = c ? c : 0xffff;
			}
		}
	}
	uint16_t port = udp->source;
	udp->source = udp->dest;
	udp->dest = port;
	uint32_t a = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = a;
	uint8_t mac[ETH_ALEN];
	memcpy(mac, eth->h_dest, ETH_ALEN);
	memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	memcpy(eth->h_source, mac, ETH_ALEN);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 5) {
		fprintf(stderr, "usage: %s IFACE BPF_OBJ [PORT_LO PORT_HI]\n", PROG);
		return 2;
	}
	long lo = 1, hi = 65535;
	if (argc == 5) {
		lo = strtol(argv[3], NULL, 10);
		hi = strtol(argv[4], NULL, 10);
		if (lo < 1 || hi > 65535 || lo > hi) {
			fprintf(stderr, "%s: bad port range %s..%s\n", PROG, argv[3], argv[4]);
			return 2;
		}
	}
	struct xsk x;
	xsk_open(PROG, &x, argv[1], argv[2], (uint16_t)lo, (uint16_t)hi);
	catch_signals();
	// RING_SIZE frames start on the fill ring, which so always has room for all of them.
	for (uint32_t i = 0; i < RING_SIZE; i++)
		fill_one(&x, (uint64_t)i * FRAME_SIZE);
	fprintf(stderr, "%s: ready on %s queue 0\n", PROG, argv[1]);

	uint64_t rx_frames = 0, answered = 0, dropped = 0, tx_full = 0, busy_ns = 0, batches = 0;
	uint64_t t_start = now_ns();
	uint32_t tx_cached_cons = load_acquire(x.tx.consumer);
	while (!stop_flag) {
		uint32_t rcons = *x.rx.consumer;
		uint32_t n = load_acquire(x.rx.producer) - rcons;
		if (n == 0)
			continue;
		uint64_t t0 = now_ns();
		if (n > BATCH)
			n = BATCH;
		uint32_t tprod = *x.tx.producer;
		if (RING_SIZE - (tprod - tx_cached_cons) < n)
			tx_cached_cons = load_acquire(x.tx.consumer);
		uint32_t room = RING_SIZE - (tprod - tx_cached_cons);
		uint32_t sent = 0;
		for (uint32_t i = 0; i < n; i++) {
			struct xdp_desc *d = ring_desc(&x.rx, rcons + i);
			if (sent < room && reflect(x.umem + d->addr, d->len)) {
				struct xdp_desc *t = ring_desc(&x.tx, tprod + sent);
				t->addr = d->addr;
				t->len = d->len;
				t->options = 0;
				sent++;
			} else {
				if (sent >= room)
					tx_full++;
				else
					dropped++;
				fill_one(&x, d->addr);
			}
		}
		store_release(x.rx.consumer, rcons + n);
		if (sent) {
			store_release(x.tx.producer, tprod + sent);
			kick_tx(&x, tprod + sent);
		}
		// Copy mode completes inside sendto: the frames go back to the fill ring now.
		uint32_t ccons = *x.comp.consumer;
		uint32_t c = load_acquire(x.comp.producer) - ccons;
		for (uint32_t i = 0; i < c; i++)
			fill_one(&x, *ring_addr(&x.comp, ccons + i));
		store_release(x.comp.consumer, ccons + c);
		rx_frames += n;
		answered += sent;
		batches++;
		busy_ns += now_ns() - t0;
	}
	uint64_t run_ns = now_ns() - t_start;
	xsk_close(&x);
	printf("{\"program\": \"afxdp_reflect\", \"rx_frames\": %llu, \"answered\": %llu, "
	       "\"dropped\": %llu, \"tx_full\": %llu, \"batches\": %llu, \"busy_s\": %.6f, "
	       "\"run_s\": %.6f}\n",
	       (unsigned long long)rx_frames, (unsigned long long)answered,
	       (unsigned long long)dropped, (unsigned long long)tx_full,
	       (unsigned long long)batches, busy_ns / 1e9, run_ns / 1e9);
	return 0;
}
