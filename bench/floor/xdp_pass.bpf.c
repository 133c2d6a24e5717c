// SPDX-License-Identifier: MIT
//
// XDP_PASS for every frame. bench/compare.sh attaches it to xsa0 while xdp_reflect.bpf.c
// answers on xsb0: a veth accepts frames that its peer sends with XDP_TX only while it
// has NAPI running, which an attached XDP program switches on (see xdp_reflect.bpf.c).

#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
