#!/usr/bin/env python3
"""Checks the JSON report of xstack load (the last line of stdout): requests > 0, no
errors (unless allowed), p50 <= p99 <= p99.9 <= max (a stream run has no latency: every
percentile is null), the open-loop fields, with --in-place the UDP closed-loop requests
built over the replies before them, and with --interrupted a run stopped by a
signal: marked so, its span measured, its rate over that span, an interval series."""
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree from a root run
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness.jsonio import JsonError, last_json  # noqa: E402

try:
    r = last_json(sys.argv[1])
except JsonError as e:
    sys.exit(str(e))
lat = r["latency_us"]
problems = []
if r["requests"] <= 0:
    problems.append("no requests completed")
if r["errors"] != 0 and "--allow-errors" not in sys.argv:
    problems.append(f"errors: {r['errors_by_kind']}")
order = ("min", "p50", "p90", "p99", "p999", "p9999", "max")
if r.get("mode") == "stream":
    if any(lat[k] is not None for k in order):
        problems.append(f"a stream run with latency figures: {lat}")
elif any(lat[k] is None for k in order):
    problems.append(f"no latency figures: {lat}")
elif not all(lat[a] <= lat[b] for a, b in zip(order, order[1:])):
    problems.append(f"percentiles out of order: {lat}")
if r.get("schema_version") != 1 or "outcome" not in r:
    problems.append("not a schema_version 1 document")
if "--interrupted" in sys.argv:
    span, n = r["duration_s"], r["requests"]
    if r.get("interrupted") is not True or r["outcome"]["status"] != "interrupted":
        problems.append(f"not marked interrupted: {r.get('outcome')}")
    if not 0.5 < span < 5:
        problems.append(f"measured span {span} s")
    elif abs(r["throughput_rps"] - n / span) > 1e-6 * max(n / span, 1):
        problems.append(f"rate {r['throughput_rps']} is not {n} requests over {span} s")
    if not r.get("intervals"):
        problems.append("no interval series")
for k in ("requests", "errors", "duration_s", "throughput_rps"):
    if k not in r:
        problems.append(f"missing {k}")
if "--open-loop" in sys.argv and "latency_uncorrected_us" not in r:
    problems.append("open loop without latency_uncorrected_us")
if "--in-place" in sys.argv:
    # UDP closed loop: every request but a flow's first (and one at the end of warm-up,
    # and one after each error) is written over the reply before it.
    got = r.get("stack", {}).get("udp_sent_in_place", 0)
    least = r["requests"] - 2 * r["connections"] - r["errors"]
    if got <= 0 or got < least:
        problems.append(f"udp_sent_in_place {got}: not every request after the first "
                        f"of a flow was built in place (at least {least})")
if problems:
    sys.exit("; ".join(problems) + f"\n{json.dumps(r)}")
if r.get("mode") == "stream":
    print(f"{r['requests']} units, {r['throughput_bps'] / 1e6:.1f} Mbit/s echoed, "
          "no latency (a stream run measures bytes)")
    sys.exit(0)
extra = ""
if "connections_per_s" in r:
    extra = f", {r['connections_per_s']:.0f} connections/s"
print(f"{r['requests']} requests, {r['throughput_rps']:.0f}/s, p50 {lat['p50']:.1f} us, "
      f"p99 {lat['p99']:.1f} us, p99.9 {lat['p999']:.1f} us, max {lat['max']:.1f} us{extra}")
