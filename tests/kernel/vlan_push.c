/* A tc classifier for the vlan kernel test: it gives 802.1Q tag VLAN 5 to every IPv4
 * packet from 198.18.5.1 that leaves xsa0, with bpf_skb_vlan_push. The kernel keeps such
 * a tag out of the frame, in the skb (as a VLAN sub-interface over veth does; this
 * test kernel has no 8021q module), so the receiving side sees it as offloaded.
 * Self-contained (no headers): only the helpers and the fields used are declared. */
typedef unsigned int u32;
typedef unsigned short u16;

struct __sk_buff {
    u32 len, pkt_type, mark, queue_mapping, protocol;
};

static long (*skb_load_bytes)(struct __sk_buff *skb, u32 off, void *to, u32 len) = (void *)26;
static long (*skb_vlan_push)(struct __sk_buff *skb, u16 proto, u16 tci) = (void *)18;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define be16(x) __builtin_bswap16(x)
#define be32(x) __builtin_bswap32(x)
#else
#define be16(x) (x)
#define be32(x) (x)
#endif

__attribute__((section("classifier"), used)) int tag(struct __sk_buff *skb)
{
    u32 src;
    if (skb->protocol != be16(0x0800))
        return 0;
    if (skb_load_bytes(skb, 14 + 12, &src, 4) < 0)
        return 0;
    if (src == be32(0xC6120501)) /* 198.18.5.1 */
        skb_vlan_push(skb, be16(0x8100), 5);
    return 0; /* TC_ACT_OK */
}

char _license[] __attribute__((section("license"), used)) = "GPL";
