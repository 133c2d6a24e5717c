#!/usr/bin/env python3
"""Checks the JSON report of xstack load (the last line of stdout): requests > 0, no
errors (unless allowed), p50 <= p99 <= p99.9 <= max, and the open-loop fields."""
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
if not (lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["p9999"] <= lat["max"]):
    problems.append(f"percentiles out of order: {lat}")
for k in ("requests", "errors", "duration_s", "throughput_rps"):
    if k not in r:
        problems.append(f"missing {k}")
if "--open-loop" in sys.argv and "latency_uncorrected_us" not in r:
    problems.append("open loop without latency_uncorrected_us")
if problems:
    sys.exit("; ".join(problems) + f"\n{json.dumps(r)}")
extra = ""
if r.get("mode") == "stream":
    extra = f", {r['throughput_bps'] / 1e6:.1f} Mbit/s echoed"
if "connections_per_s" in r:
    extra = f", {r['connections_per_s']:.0f} connections/s"
print(f"{r['requests']} requests, {r['throughput_rps']:.0f}/s, p50 {lat['p50']:.1f} us, "
      f"p99 {lat['p99']:.1f} us, p99.9 {lat['p999']:.1f} us, max {lat['max']:.1f} us{extra}")
