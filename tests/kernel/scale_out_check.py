#!/usr/bin/env python3
"""Checks a scale-out run in DIR: l1..l3.json (xstack load --json), l1..l3.hlog (their
interval logs) and report.json (xstack report --json over the three logs).

- The report's total is the sum of the three reports' requests.
- Its percentiles are those of one histogram made by adding every interval of the three
  logs, read with the Python hdrhistogram package (not xstack's reader).
- It has one row per instance, named after it, each with its instance's sample count.
- The instances' measured windows overlap (one --start-at)."""
import json
import math
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

LOWEST, HIGHEST, DIGITS = 1, 60_000_000_000, 3  # src/metrics/hist.rs


def last_json(path):
    with open(path) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def read_log(path, tag):
    """The intervals of PATH with TAG (None: untagged) added up, and (first start, last
    end) in seconds since the epoch."""
    total = HdrHistogram(LOWEST, HIGHEST, DIGITS)
    reader = HistogramLogReader(path, HdrHistogram(LOWEST, HIGHEST, DIGITS))
    span = None
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        if h.get_tag() != tag:
            continue
        total.add(h)
        s, e = h.get_start_time_stamp() / 1000.0, h.get_end_time_stamp() / 1000.0
        span = (s, e) if span is None else (min(span[0], s), max(span[1], e))
    return total, span


def value_at_rank(h, rank):
    """The highest value equivalent to the RANK-th smallest sample of H."""
    seen = 0
    for index in range(h.counts_len):
        seen += h.get_count_at_index(index)
        if seen >= rank:
            return h.get_highest_equivalent_value(h.get_value_from_index(index))
    return 0


def value_at_quantile(h, q):
    """The value at quantile Q with the rank rule of the Rust hdrhistogram crate that
    xstack uses, ceil(q * n) (the Python package rounds its rank, int(q * n + 0.5), which
    can pick the neighbouring sample's bucket): both are read from this package's
    histogram, so the comparison is of the merged distributions, not of two rules."""
    n = h.get_total_count()
    return value_at_rank(h, max(1, math.ceil(q * n - 1e-9)))


def main(d):
    loads = [last_json(f"{d}/l{i}.json") for i in (1, 2, 3)]
    report = last_json(f"{d}/report.json")
    tag = report.get("tag")
    problems = []
    want = sum(x["requests"] for x in loads)
    if report["samples"] != want:
        problems.append(f"report total {report['samples']} != sum of the reports {want}")
    merged = HdrHistogram(LOWEST, HIGHEST, DIGITS)
    spans = []
    for i in (1, 2, 3):
        h, span = read_log(f"{d}/l{i}.hlog", tag)
        if h.get_total_count() != loads[i - 1]["requests"]:
            problems.append(f"log {i}: {h.get_total_count()} samples, its report says "
                            f"{loads[i - 1]['requests']}")
        merged.add(h)
        spans.append(span)
    if merged.get_total_count() != want:
        problems.append(f"the three logs hold {merged.get_total_count()} samples, not {want}")
    lat = report["latency_us"]
    for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
        ours = round(lat[key] * 1000)
        theirs = value_at_quantile(merged, q)
        if not merged.values_are_equivalent(ours, theirs):
            problems.append(f"{key}: report {ours} ns, the added histogram {theirs} ns")
    if not merged.values_are_equivalent(round(lat["max"] * 1000), merged.get_max_value()):
        problems.append(f"max: report {lat['max']} us, the added histogram {merged.get_max_value()} ns")
    rows = report["inputs"]
    if len(rows) != 3 or sorted(r["samples"] for r in rows) != sorted(x["requests"] for x in loads):
        problems.append(f"per-instance rows: {[(r['file'], r['samples']) for r in rows]}")
    if sorted(r.get("instance") or "" for r in rows) != ["load-1", "load-2", "load-3"]:
        problems.append(f"rows do not name their instances: {[r.get('instance') for r in rows]}")
    if report.get("windows_overlap") is not True:
        problems.append(f"xstack report says the windows overlap: {report.get('windows_overlap')}")
    if any(s is None for s in spans):
        problems.append("a log without timed intervals")
    elif max(s[0] for s in spans) >= min(s[1] for s in spans):
        problems.append(f"the windows do not overlap: {spans}")
    names = sorted(x["instance"] for x in loads)
    if names != ["load-1", "load-2", "load-3"]:
        problems.append(f"instances {names}")
    if problems:
        sys.exit("; ".join(problems))
    starts = [s[0] for s in spans]
    print(f"{want} requests = {' + '.join(str(x['requests']) for x in loads)}; "
          f"p50 {lat['p50']} us, p99 {lat['p99']} us equal to the hdrhistogram package's sum "
          f"of the logs; starts within {1000 * (max(starts) - min(starts)):.0f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
