// SPDX-License-Identifier: MIT
//
// What the floor's two AF_XDP programs share: one AF_XDP socket in copy mode (the only
// mode a veth has) on queue 0 of an interface, set up with raw socket options and
// mmap'd rings, and the XDP program xsk_redirect.bpf.c loaded and attached with libbpf.
// One UMEM of NUM_FRAMES frames of FRAME_SIZE bytes; every ring has RING_SIZE slots.

#ifndef XSK_COMMON_H
#define XSK_COMMON_H

#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define RING_SIZE 2048
#define NUM_FRAMES (2 * RING_SIZE)
#define FRAME_SIZE 2048
#define BATCH 64

struct ring {
	uint32_t *producer;
	uint32_t *consumer;
	void *descs;
	uint32_t mask;
};

struct xsk {
	int fd;
	int ifindex;
	uint8_t *umem;
	struct ring rx, tx, fill, comp;
	struct bpf_object *obj;
	uint32_t prog_flags;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *prog, const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

static inline uint32_t load_acquire(uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void *map_ring(const char *prog, int fd, const struct xdp_ring_offset *off, size_t elem,
		      off_t pgoff, struct ring *r)
{
	size_t len = off->desc + (size_t)RING_SIZE * elem;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
	if (m == MAP_FAILED)
		die(prog, "mmap of a ring");
	r->producer = (uint32_t *)(m + off->producer);
	r->consumer = (uint32_t *)(m + off->consumer);
	r->descs = m + off->desc;
	r->mask = RING_SIZE - 1;
	return m;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

// xsk_open: the socket on IFNAME queue 0 with BPF_OBJ (xsk_redirect.bpf.o) attached
// natively to IFNAME, steering UDP to ports PORT_LO..PORT_HI to it. All UMEM frames are
// the caller's to place (fill ring or TX).
static void xsk_open(const char *prog, struct xsk *x, const char *ifname, const char *bpf_obj,
		     uint16_t port_lo, uint16_t port_hi)
{
	memset(x, 0, sizeof(*x));
	x->ifindex = if_nametoindex(ifname);
	if (!x->ifindex)
		die(prog, ifname);
	x->umem = mmap(NULL, (size_t)NUM_FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (x->umem == MAP_FAILED)
		die(prog, "mmap of the UMEM");
	x->fd = socket(AF_XDP, SOCK_RAW, 0);
	if (x->fd < 0)
		die(prog, "socket(AF_XDP)");
	struct xdp_umem_reg mr = {
		.addr = (uintptr_t)x->umem,
		.len = (uint64_t)NUM_FRAMES * FRAME_SIZE,
		.chunk_size = FRAME_SIZE,
		.headroom = 0,
	};
	if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)))
		die(prog, "XDP_UMEM_REG");
	int n = RING_SIZE;
	if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof(n)) ||
	    setsockopt(x->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof(n)) ||
	    setsockopt(x->fd, SOL_XDP, XDP_RX_RING, &n, sizeof(n)) ||
	    setsockopt(x->fd, SOL_XDP, XDP_TX_RING, &n, sizeof(n)))
		die(prog, "ring sizes");
	struct xdp_mmap_offsets off;
	socklen_t ol = sizeof(off);
	if (getsockopt(x->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol))
		die(prog, "XDP_MMAP_OFFSETS");
	map_ring(prog, x->fd, &off.rx, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING, &x->rx);
	map_ring(prog, x->fd, &off.tx, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING, &x->tx);
	map_ring(prog, x->fd, &off.fr, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING, &x->fill);
	map_ring(prog, x->fd, &off.cr, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING, &x->comp);
	struct sockaddr_xdp sa = {
		.sxdp_family = AF_XDP,
		.sxdp_flags = XDP_COPY,
		.sxdp_ifindex = x->ifindex,
		.sxdp_queue_id = 0,
	};
	// The socket of a program that just exited may hold the queue for a moment longer
	// (its release is deferred): try again for up to 2 s.
	for (int i = 0; bind(x->fd, (struct sockaddr *)&sa, sizeof(sa)); i++) {
		if (errno != EBUSY || i == 40)
			die(prog, "bind (AF_XDP, copy mode, queue 0)");
		usleep(50000);
	}

	libbpf_set_print(libbpf_quiet);
	x->obj = bpf_object__open_file(bpf_obj, NULL);
	if (!x->obj || libbpf_get_error(x->obj)) {
		fprintf(stderr, "%s: cannot open %s\n", prog, bpf_obj);
		exit(1);
	}
	if (bpf_object__load(x->obj)) {
		fprintf(stderr, "%s: cannot load %s into the kernel\n", prog, bpf_obj);
		exit(1);
	}
	int xsks = bpf_object__find_map_fd_by_name(x->obj, "xsks");
	int ports = bpf_object__find_map_fd_by_name(x->obj, "ports");
	struct bpf_program *p = bpf_object__find_program_by_name(x->obj, "xsk_redirect");
	if (xsks < 0 || ports < 0 || !p) {
		fprintf(stderr, "%s: %s lacks the map xsks, the map ports or the program xsk_redirect\n",
			prog, bpf_obj);
		exit(1);
	}
	uint32_t key = 0, fd = (uint32_t)x->fd;
	uint16_t range[2] = { port_lo, port_hi };
	if (bpf_map_update_elem(xsks, &key, &fd, 0) || bpf_map_update_elem(ports, &key, range, 0))
		die(prog, "filling the XDP program's maps");
	// Natively, and only where no other XDP program is attached: never replace another's.
	x->prog_flags = XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST;
	if (bpf_xdp_attach(x->ifindex, bpf_program__fd(p), x->prog_flags, NULL)) {
		fprintf(stderr, "%s: cannot attach the XDP program to %s (is another attached?)\n",
			prog, ifname);
		exit(1);
	}
}

static void xsk_close(struct xsk *x)
{
	bpf_xdp_detach(x->ifindex, x->prog_flags & ~XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	close(x->fd);
	bpf_object__close(x->obj);
}

static inline struct xdp_desc *ring_desc(struct ring *r, uint32_t i)
{
	return &((struct xdp_desc *)r->descs)[i & r->mask];
}

static inline uint64_t *ring_addr(struct ring *r, uint32_t i)
{
	return &((uint64_t *)r->descs)[i & r->mask];
}

// Puts ADDR (the start of its frame) on the fill ring; the ring has room for every frame.
static inline void fill_one(struct xsk *x, uint64_t addr)
{
	uint32_t p = *x->fill.producer;
	*ring_addr(&x->fill, p) = addr & ~(uint64_t)(FRAME_SIZE - 1);
	store_release(x->fill.producer, p + 1);
}

// Kicks the kernel to send what is on the TX ring up to PROD. Copy mode sends inside
// sendto, at most a budget of frames per call (32 by default), so it kicks again until
// the kernel has taken everything, a bounded number of times.
static inline void kick_tx(struct xsk *x, uint32_t prod)
{
	for (int i = 0; i < 64 && load_acquire(x->tx.consumer) != prod; i++) {
		if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN &&
		    errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN)
			die("xsk", "sendto (TX kick)");
	}
}

// The one's complement sum of LEN bytes at P (LEN even), folded to 16 bits.
static inline uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint16_t *w = p;
	for (size_t i = 0; i < len / 2; i++)
		sum += w[i];
	return sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#endif
