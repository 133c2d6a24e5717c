"""The tables the benches print, from their raw results (see stats for the format).

Each function prints what its bench prints on stdout: a Markdown table and, for most,
one JSON object. Absolute numbers are medians over the rounds; every ratio is the median
of the per-round ratios (stats.median_ratio), as docs/performance.md explains.
"""

import datetime
import json
import os

from . import jsonio, stats

NAN = stats.NAN


def _read(path):
    with open(path) as f:
        return f.read()


def compare(out, secs, rounds, update_docs=False, docs="docs/performance.md"):
    """bench/compare.sh: OUT/results and OUT/micro.txt -> table, JSON, and with
    UPDATE_DOCS the block of DOCS between the compare.sh markers."""
    res = stats.read_rounds(os.path.join(out, "results"))
    med = stats.column_medians(res)

    def get(k, i):
        return med[k][i] if k in med and i < len(med[k]) else NAN

    def ratio(num, den, col):
        return stats.median_ratio(res, num, den, col)

    def x(v):
        return f"{v:.2f}x" if v == v else ""

    lines = []
    p = lines.append
    p(f"bench/compare.sh, {datetime.date.today()}: {rounds} round(s) of {secs} s, medians. "
      "veth lab; client on core 0, server on core 1 of a 2-core machine that they share. "
      "\"vs floor\": the same client against the minimal AF_XDP reflector (bench/floor, "
      "docs/floor.md); for a client other than the minimal one against that reflector, "
      "the minimal client against it.")
    p("")
    p("| test | pair | p50 (us) | p99 (us) | p99.9 (us) | rate (/s) | p50 vs kernel | p99.9 vs kernel "
      "| p50 vs floor | p99.9 vs floor |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    pp = {"udp": (("udp-kernel-kernel", "kernel <-> kernel (sockperf both, busy-polling)", "udp-sockperf-afxdp"),
                  ("udp-sockperf-xdptx", "sockperf client -> XDP_TX reflector (floor, no user space)",
                   "udp-sockperf-afxdp"),
                  ("udp-sockperf-afxdp", "sockperf client -> minimal AF_XDP reflector (floor)", None),
                  ("udp-sockperf-xstack", "sockperf client -> xstack serve", "udp-sockperf-afxdp"),
                  ("udp-sockperf-xreflect", "sockperf client -> xstack serve --reflect-in-xdp "
                   "(vs floor: the XDP_TX reflector)", "udp-sockperf-xdptx"),
                  ("udp-load-xstack", "xstack load -> xstack serve", "udp-load-afxdp"),
                  ("udp-load-afxdp", "xstack load -> minimal AF_XDP reflector", "udp-fclient-afxdp"),
                  ("udp-load-kernel", "xstack load -> kernel sockperf server", None),
                  ("udp-fclient-xdptx", "minimal AF_XDP client -> XDP_TX reflector", "udp-fclient-afxdp"),
                  ("udp-fclient-afxdp", "minimal AF_XDP client -> minimal AF_XDP reflector", None),
                  ("udp-fclient-xstack", "minimal AF_XDP client -> xstack serve", "udp-fclient-afxdp"),
                  ("udp-fclient-xreflect", "minimal AF_XDP client -> xstack serve --reflect-in-xdp "
                   "(vs floor: the XDP_TX reflector)", "udp-fclient-xdptx"),
                  ("udp-fclient-kernel", "minimal AF_XDP client -> kernel sockperf server", None)),
          "tcp": (("tcp-kernel-kernel", "kernel <-> kernel (sockperf both, busy-polling)", None),
                  ("tcp-sockperf-xstack", "sockperf client -> xstack serve", None),
                  ("tcp-load-xstack", "xstack load -> xstack serve", None),
                  ("tcp-load-kernel", "xstack load -> kernel sockperf server", None))}
    for proto in ("udp", "tcp"):
        base = f"{proto}-kernel-kernel"
        for k, label, floor in pp[proto]:
            fl = (f"{x(ratio(k, floor, 0))} | {x(ratio(k, floor, 2))}" if floor else " | ")
            p(f"| {proto.upper()} ping-pong 64 B | {label} | {get(k,0):.2f} | {get(k,1):.2f} | {get(k,2):.2f} | "
              f"{get(k,3):.0f} | {ratio(k, base, 0):.2f}x | {ratio(k, base, 2):.2f}x | {fl} |")
    tk, tx = get("udp-tput-kernel", 3), get("udp-tput-xstack", 3)
    p(f"| UDP echo throughput, one server core | kernel sockperf server | | | | {tk:.0f} | | | | |")
    p(f"| UDP echo throughput, one server core | xstack serve | | | | {tx:.0f} | "
      f"{ratio('udp-tput-xstack', 'udp-tput-kernel', 3):.2f}x the kernel | | "
      f"{x(ratio('udp-tput-xstack', 'udp-tput-afxdp', 3))} | |")
    ck, cx = get("crr-kernel", 3), get("crr-xstack", 3)
    p(f"| TCP connect/request/close | kernel epoll echo server | {get('crr-kernel',0):.2f} | {get('crr-kernel',1):.2f} | {get('crr-kernel',2):.2f} | {ck:.0f} | | | | |")
    p(f"| TCP connect/request/close | xstack serve | {get('crr-xstack',0):.2f} | {get('crr-xstack',1):.2f} | {get('crr-xstack',2):.2f} | {cx:.0f} | "
      f"{ratio('crr-xstack', 'crr-kernel', 3):.2f}x the kernel | | | |")
    sk, xl = get("udp-kernel-kernel", 3), get("udp-load-kernel", 3)
    p(f"| load generator, one core, 1 flow | sockperf client (busy) -> kernel server | | | | {sk:.0f} | | | | |")
    p(f"| load generator, one core, 1 flow | xstack load -> kernel server | | | | {xl:.0f} | "
      f"{ratio('udp-load-kernel', 'udp-kernel-kernel', 3):.2f}x sockperf | | "
      f"{x(ratio('udp-load-kernel', 'udp-fclient-kernel', 3))} | |")
    p(f"| load generator, one core, 16 flows | xstack load -> kernel server | | | | {tk:.0f} | "
      f"{ratio('udp-tput-kernel', 'udp-kernel-kernel', 3):.2f}x sockperf | | "
      f"{x(ratio('udp-tput-kernel', 'udp-ftput-kernel', 3))} | |")
    p("")
    p("Against the floor: echo throughput of one server core, 16 flows, closed loop. Client "
      "and server busy: each program's own busy time (batches that received frames) per "
      "second of the run — a busy-polling thread's CPU is always 100 %, this is the part "
      "that did work; the side near 1.00 saturated. The XDP_TX reflector has no user "
      "space: its work is softirq time on the client's core. The kernel's sockperf server "
      "counts no busy time. \"xstack / minimal\": the rate of xstack's program over the "
      "minimal one's in the same role, per round.")
    p("")
    p("| client, 16 flows | server | rate (/s) | client busy | server busy | vs kernel server | "
      "xstack / minimal |")
    p("|---|---|---|---|---|---|---|")

    def busy(k, i):
        v = get(k, i)
        return f"{v:.2f}" if v == v else ""

    for client, ck_ in (("xstack load", "tput"), ("minimal AF_XDP client", "ftput")):
        for srv, sk_ in (("kernel sockperf server", "kernel"), ("XDP_TX reflector", "xdptx"),
                         ("minimal AF_XDP reflector", "afxdp"), ("xstack serve", "xstack"),
                         ("xstack serve --reflect-in-xdp", "xreflect")):
            k = f"udp-{ck_}-{sk_}"
            if k not in med:
                continue
            vs_k = x(ratio(k, f"udp-{ck_}-kernel", 3)) if sk_ != "kernel" else ""
            if sk_ == "xstack":
                den = f"udp-{ck_}-afxdp"
                rel, what = x(ratio(k, den, 3)), "serve / reflector"
            elif sk_ == "xreflect":
                rel, what = x(ratio(k, f"udp-{ck_}-xdptx", 3)), "serve / XDP_TX reflector"
            elif ck_ == "tput":
                rel, what = x(ratio(k, f"udp-ftput-{sk_}", 3)), "load / client"
            else:
                rel, what = "", ""
            rel = f"{rel} ({what})" if rel else ""
            p(f"| {client} | {srv} | {get(k,3):.0f} | {busy(k,5)} | {busy(k,6)} | {vs_k} | {rel} |")
    p("")
    p("Load generator on one core against the minimal AF_XDP reflector: xstack load / minimal "
      f"client, 1 flow {x(ratio('udp-load-afxdp', 'udp-fclient-afxdp', 3))} of the rate "
      f"(p50 {x(ratio('udp-load-afxdp', 'udp-fclient-afxdp', 0))}, p99.9 "
      f"{x(ratio('udp-load-afxdp', 'udp-fclient-afxdp', 2))}); 16 flows "
      f"{x(ratio('udp-tput-afxdp', 'udp-ftput-afxdp', 3))} of the rate.")
    p("")
    micro_path = os.path.join(out, "micro.txt")
    micro = _read(micro_path).strip() if os.path.exists(micro_path) else ""
    if micro:
        p("Micro-benchmarks (`cargo bench --bench micro`):")
        p("")
        p("```")
        p(micro)
        p("```")
    md = "\n".join(lines)
    print(md)
    print()
    print(json.dumps({"secs": float(secs), "rounds": int(rounds), "medians": med}))
    if update_docs:
        doc = _read(docs)
        begin, end = "<!-- compare.sh begin -->", "<!-- compare.sh end -->"
        block = (f"{begin}\n{md}\n\nPlot: `{out}/compare.svg` (xstack load against the kernel's "
                 f"and xstack's servers, UDP and TCP).\n{end}")
        if begin in doc and end in doc:
            doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
        else:
            doc = doc.rstrip() + "\n\n## bench/compare.sh: xstack against the kernel\n\n" + block + "\n"
        with open(docs, "w") as f:
            f.write(doc)


def queues(out, secs, rounds):
    """bench/queues.sh: OUT/results (rate, p50, load's steered frames, requests, errors,
    serve's steered frames) -> table."""
    res = stats.read_rounds(os.path.join(out, "results"))
    med = stats.column_medians(res)
    print(f"bench/queues.sh, {datetime.date.today()}: {rounds} round(s) of {secs} s, medians; "
          "xstack load -> xstack serve on a 2-queue veth, 2-core machine shared by both sides.")
    print()
    print(f"serve's TCP ownership: {os.environ.get('XSTACK_SERVE_STEER') or 'arrival'}.")
    print()
    print("| test | workers a side | polling | UMEM | rate (/s) | p50 (us) | vs 1 worker "
          "| replies handed over (load) | requests handed over (serve) |")
    print("|---|---|---|---|---|---|---|---|---|")
    names = {"udp": "UDP ping-pong, 16 flows", "tcp": "TCP ping-pong, 16 connections",
             "crr": "TCP connect/request/close"}
    for t in ("udp", "tcp", "crr"):
        base = f"{t}-q1-busy-per-queue"
        for q, poll, umem in ((1, "busy", "per-queue"), (2, "busy", "per-queue"),
                              (2, "adaptive", "per-queue"), (2, "adaptive", "shared")):
            key = f"{t}-q{q}-{poll}-{umem}"
            m = med.get(key)
            if not m:
                continue
            r = stats.median_ratio(res, key, base, 0)
            rel = f"{r:.2f}x" if r == r else ""
            # Frames handed over per completed request (a ping-pong reply is one frame).
            def per(n):
                return f"{n:.0f} ({n / m[3]:.2f} per request)" if m[3] and n == n else f"{n:.0f}"
            served = per(m[5]) if len(m) > 5 else ""
            print(f"| {names[t]} | {q} | {poll} | {umem} | {m[0]:.0f} | {m[1]:.2f} | {rel} "
                  f"| {per(m[2])} | {served} |")


def udp_rtt(results, secs, rounds, proto):
    """bench/udp_rtt.sh: RESULTS (ping avg ms, p50, p99, p99.9, dropped) -> table, JSON."""
    res = stats.read_rounds(results)
    med = stats.column_medians(res)
    names = {"kernel": "kernel sockperf server", "xdp": "xstack serve, xdp",
             "packet": "xstack serve, packet"}
    print(f"{proto.upper()} RTT, veth lab, client on core 0, server on core 1, sockperf -t {secs}, "
          f"{rounds} round(s), medians; the machine's 2 cores are shared by client and server\n")
    print("| server | ping avg (us) | sockperf p50 (us) | p99 (us) | p99.9 (us) | dropped | p50 vs kernel | p99.9 vs kernel |")
    print("|---|---|---|---|---|---|---|---|")
    out = {}
    for k in ("kernel", "xdp", "packet"):
        ping, p50, p99, p999, drop = med[k]
        r50, r999 = stats.median_ratio(res, k, "kernel", 1), stats.median_ratio(res, k, "kernel", 3)
        print(f"| {names[k]} | {ping*1000:.1f} | {p50:.2f} | {p99:.2f} | {p999:.2f} | {drop:.0f} | "
              f"{r50:.2f}x | {r999:.2f}x |")
        out[k] = {"ping_avg_us": ping * 1000, "p50_us": p50, "p99_us": p99, "p999_us": p999,
                  "dropped": drop, "p50_ratio_vs_kernel": r50, "p999_ratio_vs_kernel": r999}
    print()
    print(json.dumps(out))


def load_vs_sockperf(results, secs, rounds, proto):
    """bench/load_vs_sockperf.sh: RESULTS (p50, p99, p99.9, rate[, errors]) -> table, JSON."""
    med = stats.column_medians(stats.read_rounds(results), columns=4)
    print(f"{proto.upper()} ping-pong against the kernel's sockperf server (64 B), {secs} s x {rounds} rounds, medians;"
          " client core 0, server core 1, on a shared 2-core machine\n")
    print("| client | flows | p50 (us) | p99 (us) | p99.9 (us) | requests/s |")
    print("|---|---|---|---|---|---|")
    for k, label, flows in (("sockperf-blocking", "sockperf ping-pong", 1),
                            ("sockperf-busy", "sockperf ping-pong --timeout 0 --nonblocked", 1),
                            ("xstack-1", "xstack load --app sockperf", 1),
                            ("xstack-16", "xstack load --app sockperf", 16)):
        if k not in med:
            continue
        p50, p99, p999, rate = med[k]
        print(f"| {label} | {flows} | {p50:.2f} | {p99:.2f} | {p999:.2f} | {rate:.0f} |")
    print()
    print(json.dumps(med))


def profile(load_json, serve_out):
    """bench/profile.sh: the rate of one workload and how busy the server's worker was,
    from xstack load's report and xstack serve's summary (both JSON on the last line)."""
    load = jsonio.last_json(load_json)
    serve = jsonio.last_json(serve_out)
    b, f = serve["batch_us"], serve["flush_us"]
    busy = b["batches"] * (b["mean"] + f["mean"]) / 1e6
    span = load["duration_s"]
    print(f"rate {load['throughput_rps']:.0f}/s, p50 {load['latency_us']['p50']:.2f} us (under perf)")
    print(f"server worker: {b['batches']} busy batches, {b['frames']} frames; per batch "
          f"{b['mean']:.2f} us in the stack and {f['mean']:.2f} us in the TX kick; "
          f"busy {busy:.3f} s of {span:.3f} s ({100 * busy / span:.0f}%)")


def sockperf_percentiles(text):
    """{name: microseconds} from sockperf's --full-rtt summary: p50, p90, p99, p999,
    p9999 and max (sockperf prints "---> percentile 99.900 = 30.159" and
    "---> <MAX> observation = 61.347")."""
    want = {"50.000": "p50", "90.000": "p90", "99.000": "p99", "99.900": "p999",
            "99.990": "p9999"}
    out = {}
    for line in text.splitlines():
        words = line.replace("=", " = ").split()
        if "percentile" in words and "=" in words:
            q = words[words.index("percentile") + 1]
            if q in want:
                out[want[q]] = float(words[words.index("=") + 1])
        elif "<MAX>" in words and "=" in words:
            out["max"] = float(words[words.index("=") + 1])
    return out


def demo(sockperf_out, runs):
    """scripts/demo.sh: the percentile table of sockperf's own client beside xstack load's
    runs (LABEL=FILE, each a load --json report), in microseconds of full round trip."""
    with open(sockperf_out, errors="replace") as f:
        cols = [("sockperf client -> kernel server", sockperf_percentiles(f.read()))]
    for run in runs:
        label, _, path = run.partition("=")
        cols.append((label, jsonio.last_json(path)["latency_us"]))
    rows = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99.9", "p999"),
            ("p99.99", "p9999"), ("max", "max"))
    print("| percentile (us) | " + " | ".join(c for c, _ in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, key in rows:
        cells = []
        for _, v in cols:
            x = v.get(key)
            cells.append("-" if x is None else f"{x:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


BENCHES = {"compare": compare, "queues": queues, "udp-rtt": udp_rtt,
           "load-vs-sockperf": load_vs_sockperf, "profile": profile, "demo": demo}


def http(results, secs, rounds, rate, size):
    """bench/http.sh: RESULTS rows (rps, p50, p99, p99.9 in us, errors, client CPU, server
    CPU and the others' CPU in % of a core, and the client's busy share in % of its core)
    for wrk-C and xstack-C -> table, JSON. Ratios are medians of per-round xstack/wrk
    ratios; "saturated" names the side whose core was >= 90 % busy (for xstack, which
    busy-polls, only the server's CPU tells). "per busy core" is the rate over the client's
    busy share: what one client core would sustain with the client the bottleneck."""
    rows = stats.read_rounds(results)
    # Column 9: requests/s per busy client core (rps / busy share).
    for per_round in rows.values():
        for vals in per_round.values():
            if len(vals) > 8 and vals[8] > 0:
                vals.append(vals[0] / (vals[8] / 100))
    med = stats.column_medians(rows)

    def per_core(m):
        return f"{m[9]:.0f}" if len(m) > 9 else "-"

    def busy(m):
        return f"{m[8]:.0f} %" if len(m) > 8 else "-"

    def others(m):
        return f"{m[7]:.0f} %" if len(m) > 7 else "-"

    def sat(k):
        if k not in med:
            return "-"
        client, server = med[k][5], med[k][6]
        if k.startswith("xstack"):
            # It busy-polls: its CPU says nothing about its load, only nginx's does.
            return "server" if server >= 90 else "not the server"
        side = [name for name, cpu in (("client", client), ("server", server)) if cpu >= 90]
        return " and ".join(side) or "neither"

    print(f"HTTP GET of a {size}-byte file from nginx (1 worker, core 1), clients on core 0; "
          f"{secs} s x {rounds} rounds, medians; ratios are medians of per-round xstack/wrk ratios\n")
    print("| load | client | requests/s | p50 (us) | p99 (us) | p99.9 (us) | errors | client CPU | client busy | requests/s per busy client core | nginx CPU | others' CPU | saturated |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    labels = (("16", "16 connections, closed loop"), ("64", "64 connections, closed loop"),
              ("1", "1 connection, closed loop"))
    out = {"medians": med, "ratios": {}}
    for c, what in labels:
        for who in ("wrk", "xstack"):
            k = f"{who}-{c}"
            if k in med:
                m = med[k]
                print(f"| {what} | {who} | {m[0]:.0f} | {m[1]:.1f} | {m[2]:.1f} | {m[3]:.1f} | "
                      f"{m[4]:.0f} | {m[5]:.0f} % | {busy(m)} | {per_core(m)} | {m[6]:.0f} % | "
                      f"{others(m)} | {sat(k)} |")
        rps = stats.median_ratio(rows, f"xstack-{c}", f"wrk-{c}", 0)
        p50 = stats.median_ratio(rows, f"xstack-{c}", f"wrk-{c}", 1)
        core = stats.median_ratio(rows, f"xstack-{c}", f"wrk-{c}", 9)
        out["ratios"][c] = {"rps": rps, "p50": p50, "per_busy_core": core}
    if "xstack-open" in med:
        m = med["xstack-open"]
        print(f"| open loop at {float(rate):.0f}/s, 16 connections | xstack | {m[0]:.0f} | {m[1]:.1f} | "
              f"{m[2]:.1f} | {m[3]:.1f} | {m[4]:.0f} | {m[5]:.0f} % | {busy(m)} | {per_core(m)} | "
              f"{m[6]:.0f} % | {others(m)} | {sat('xstack-open')} |")
        out["ratios"]["open_p50_vs_wrk_1"] = stats.median_ratio(rows, "xstack-open", "wrk-1", 1)
    print()
    print("| xstack / wrk | requests/s | p50 | requests/s per busy client core |")
    print("|---|---|---|---|")

    def x(v):
        return "-" if v is None or v != v else f"{v:.2f}x"
    for c, what in labels:
        r = out["ratios"][c]
        print(f"| {what} | {x(r['rps'])} | {x(r['p50'])} | {x(r['per_busy_core'])} |")
    if "open_p50_vs_wrk_1" in out["ratios"]:
        print(f"| xstack open loop at {float(rate):.0f}/s vs wrk 1 connection | - | "
              f"{x(out['ratios']['open_p50_vs_wrk_1'])} | - |")
    print()
    print(json.dumps(out))
