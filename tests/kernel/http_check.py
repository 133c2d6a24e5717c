#!/usr/bin/env python3
"""Checks the JSON report of xstack load --app http (the last line of stdout) and prints
a one-line summary. Always: requests > 0, schema_version 1, the http section consistent
(responses == requests, the classes add up to the codes), p50 <= p99 <= max.

    --code C       every response has status C (default 200)
    --body N       every body was N bytes: body_bytes == N x responses
    --errors-only KIND   errors are allowed, but only of KIND (else: no error at all)
    --closes       the server closed connections (server_closes > 0)
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness.jsonio import JsonError, last_json  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("report")
ap.add_argument("--code", default="200")
ap.add_argument("--body", type=int)
ap.add_argument("--errors-only")
ap.add_argument("--closes", action="store_true")
a = ap.parse_args()
try:
    r = last_json(a.report)
except JsonError as e:
    sys.exit(str(e))
problems = []
n = r["requests"]
h = r.get("http")
if r.get("schema_version") != 1:
    problems.append("not a schema_version 1 document")
if n <= 0:
    problems.append("no response")
if h is None:
    problems.append("no http section")
    h = {"responses": 0, "by_code": {}, "by_class": {}, "body_bytes": 0}
kinds = {k: v for k, v in r["errors_by_kind"].items() if v}
if a.errors_only:
    if set(kinds) - {a.errors_only} or not kinds:
        problems.append(f"errors should be {a.errors_only} only (and some): {kinds}")
elif r["errors"] != 0:
    problems.append(f"errors: {kinds}")
if h["responses"] != n:
    problems.append(f"http.responses {h['responses']} != requests {n}")
if h["by_code"] != {a.code: n}:
    problems.append(f"by_code {h['by_code']}, not all {n} {a.code}")
if sum(h["by_class"].values()) != sum(h["by_code"].values()):
    problems.append(f"by_class {h['by_class']} does not add up to by_code")
if a.body is not None and h["body_bytes"] != a.body * n:
    problems.append(f"body_bytes {h['body_bytes']} != {a.body} x {n}")
if h["body_bytes"] != r["bytes_received"]:
    problems.append("body_bytes != bytes_received")
if a.closes and r["replies"]["server_closes"] == 0:
    problems.append("no server close counted")
lat = r["latency_us"]
if n > 0 and not (lat["p50"] <= lat["p99"] <= lat["max"]):
    problems.append(f"percentiles out of order: {lat}")
if problems:
    sys.exit("; ".join(problems) + f"\n{json.dumps(r)[:3000]}")
rep = r["replies"]
print(f"{n} responses {a.code}, {r['throughput_rps']:.0f}/s, body {h['body_bytes']} B, "
      f"p50 {lat['p50']:.1f} us, p99 {lat['p99']:.1f} us, errors {kinds or 0}, "
      f"server closes {rep['server_closes']}, retried {rep['retried']}")
