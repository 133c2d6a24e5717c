import contextlib
import io
import json
import os
import tempfile
import unittest

from harness import report

# Two rounds of bench/compare.sh in which the whole VM was twice as slow in round 2.
RESULTS = """\
1 udp-kernel-kernel 5 10 50 200000
1 udp-sockperf-xstack 4 8 60 250000
2 udp-kernel-kernel 10 20 100 100000
2 udp-sockperf-xstack 6 16 80 170000
1 udp-tput-kernel 0 0 0 300000 0
1 udp-tput-xstack 0 0 0 600000 0
2 udp-tput-kernel 0 0 0 150000 0
2 udp-tput-xstack 0 0 0 450000 0
1 udp-sockperf-afxdp 2 4 35 400000
2 udp-sockperf-afxdp 4 8 40 200000
1 udp-tput-afxdp 0 0 0 900000 0 0.5 0.9
2 udp-tput-afxdp 0 0 0 500000 0 0.6 1.0
"""


def run(fn, *args):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn(*args)
    return buf.getvalue()


class Compare(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.out = self.dir.name
        with open(os.path.join(self.out, "results"), "w") as f:
            f.write(RESULTS)

    def tearDown(self):
        self.dir.cleanup()

    def row(self, text, start):
        return next(line for line in text.splitlines() if line.startswith(start))

    def test_medians_and_per_round_ratios(self):
        text = run(report.compare, self.out, "3", "2")
        row = self.row(text, "| UDP ping-pong 64 B | sockperf client -> xstack serve |")
        # p50 median 5.00; ratios per round 0.8 and 0.6 -> 0.70x (the ratio of the
        # medians would be 5 / 7.5 = 0.67x); p99.9 1.2 and 0.8 -> 1.00x.
        # Against the floor (the minimal AF_XDP reflector): p50 2.0 and 1.5 per round ->
        # 1.75x; p99.9 60/35 and 80/40 -> 1.86x.
        self.assertEqual(row, "| UDP ping-pong 64 B | sockperf client -> xstack serve | 5.00 | 12.00 | "
                              "70.00 | 210000 | 0.70x | 1.00x | 1.75x | 1.86x |")
        row = self.row(text, "| UDP echo throughput, one server core | xstack serve |")
        self.assertIn("| 525000 | 2.50x the kernel |", row)  # 2.0 and 3.0 per round
        self.assertTrue(row.endswith("| 0.78x | |"), row)  # 0.67 and 0.90 against the floor
        # The floor table: medians of the busy columns, the ratio to the kernel's server,
        # and no ratio where the other side of it was never measured.
        row = self.row(text, "| xstack load | minimal AF_XDP reflector |")
        self.assertEqual(row, "| xstack load | minimal AF_XDP reflector | 700000 | 0.55 | 0.95 | 3.17x |  |")
        row = self.row(text, "| xstack load | xstack serve |")
        self.assertEqual(row, "| xstack load | xstack serve | 525000 |  |  | 2.50x | 0.78x (serve / reflector) |")
        # Pairs never measured print as nan, as before.
        self.assertIn("| nanx | nanx |", self.row(text, "| TCP ping-pong 64 B | xstack load -> xstack serve |"))
        last = json.loads(text.strip().splitlines()[-1])
        self.assertEqual(last["rounds"], 2)
        self.assertEqual(last["medians"]["udp-kernel-kernel"], [7.5, 15.0, 75.0, 150000.0])

    def test_the_reflect_in_xdp_rows_are_against_the_xdp_tx_reflector(self):
        with open(os.path.join(self.out, "results"), "a") as f:
            f.write("1 udp-sockperf-xdptx 2 4 20 500000\n2 udp-sockperf-xdptx 2 4 20 500000\n"
                    "1 udp-sockperf-xreflect 3 6 30 400000\n2 udp-sockperf-xreflect 2 4 20 450000\n"
                    "1 udp-ftput-xdptx 0 0 0 1000000 0 0.9 0\n2 udp-ftput-xdptx 0 0 0 1000000 0 0.9 0\n"
                    "1 udp-ftput-xreflect 0 0 0 800000 0 0.9 0.01\n"
                    "2 udp-ftput-xreflect 0 0 0 900000 0 0.9 0.01\n")
        text = run(report.compare, self.out, "3", "2")
        row = self.row(text, "| UDP ping-pong 64 B | sockperf client -> xstack serve --reflect-in-xdp ")
        # p50 1.5 and 1.0 of the XDP_TX reflector per round -> 1.25x; p99.9 the same.
        self.assertTrue(row.endswith("| 1.25x | 1.25x |"), row)
        row = self.row(text, "| minimal AF_XDP client | xstack serve --reflect-in-xdp |")
        self.assertEqual(row, "| minimal AF_XDP client | xstack serve --reflect-in-xdp | 850000 | 0.90 | 0.01 "
                              "|  | 0.85x (serve / XDP_TX reflector) |")

    def test_update_docs_replaces_the_marked_block(self):
        docs = os.path.join(self.out, "performance.md")
        with open(docs, "w") as f:
            f.write("# P\n\nbefore\n<!-- compare.sh begin -->\nold table\n<!-- compare.sh end -->\nafter\n")
        run(report.compare, self.out, "3", "2", True, docs)
        with open(docs) as f:
            text = f.read()
        self.assertNotIn("old table", text)
        self.assertTrue(text.startswith("# P\n\nbefore\n<!-- compare.sh begin -->\nbench/compare.sh, "))
        self.assertTrue(text.endswith(f"UDP and TCP).\n<!-- compare.sh end -->\nafter\n"))


class LoadVsSockperf(unittest.TestCase):
    def test_only_the_first_four_columns(self):
        with tempfile.NamedTemporaryFile("w", suffix=".res") as f:
            f.write("1 sockperf-busy 5 9 40 150000\n1 xstack-1 4 8 30 170000 0\n"
                    "2 sockperf-busy 7 9 60 130000\n2 xstack-1 6 8 50 160000 2\n")
            f.flush()
            text = run(report.load_vs_sockperf, f.name, "1", "2", "udp")
        self.assertIn("| xstack load --app sockperf | 1 | 5.00 | 8.00 | 40.00 | 165000 |", text)
        self.assertEqual(json.loads(text.strip().splitlines()[-1])["xstack-1"], [5.0, 8.0, 40.0, 165000.0])


if __name__ == "__main__":
    unittest.main()


class SockperfPercentiles(unittest.TestCase):
    def test_reads_the_full_rtt_summary(self):
        text = """sockperf: ---> <MAX> observation =   61.347
sockperf: ---> percentile 99.999 =   61.347
sockperf: ---> percentile 99.990 =   47.263
sockperf: ---> percentile 99.900 =   30.159
sockperf: ---> percentile 99.000 =   17.571
sockperf: ---> percentile 90.000 =    8.813
sockperf: ---> percentile 50.000 =    7.519
sockperf: ---> <MIN> observation =    5.838"""
        p = report.sockperf_percentiles(text)
        self.assertEqual(p, {"max": 61.347, "p9999": 47.263, "p999": 30.159, "p99": 17.571,
                             "p90": 8.813, "p50": 7.519})


class Http(unittest.TestCase):
    # Two rounds of bench/http.sh: rps p50 p99 p999 errors client% nginx% others% busy%.
    RESULTS = """\
1 wrk-16 40000 300 900 2000 0 100 60 5 100
1 xstack-16 80000 150 500 900 0 100 95 5 40
2 wrk-16 20000 600 1800 4000 0 100 30 5 100
2 xstack-16 60000 200 600 1000 0 100 97 5 50
1 xstack-open 10000 40 90 200 0 100 20
2 xstack-open 10000 50 95 210 0 100 20
"""

    def test_ratios_are_medians_of_rounds_and_saturation_is_named(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write(self.RESULTS)
            f.flush()
            text = run(report.http, f.name, "5", "2", "10000", "1024")
        rows = text.splitlines()
        wrk = next(r for r in rows if r.startswith("| 16 connections, closed loop | wrk |"))
        self.assertTrue(wrk.endswith("| 5 % | client |"), wrk)
        xs = next(r for r in rows if r.startswith("| 16 connections, closed loop | xstack |"))
        self.assertTrue(xs.endswith("| 5 % | server |"), xs)
        # 2.0 and 3.0 per round -> 2.50x (the ratio of the medians would be 2.33x); per
        # busy client core, 80000/0.4 over 40000 and 60000/0.5 over 20000: 5x and 6x.
        self.assertIn("| 16 connections, closed loop | 2.50x |", text)
        self.assertIn("| 16 connections, closed loop | 2.50x | 0.42x | 5.50x |", text)
        last = json.loads(rows[-1])
        self.assertEqual(last["ratios"]["16"]["rps"], 2.5)
        self.assertEqual(last["ratios"]["16"]["per_busy_core"], 5.5)
        self.assertIn("| open loop at 10000/s, 16 connections | xstack | 10000 |", text)
