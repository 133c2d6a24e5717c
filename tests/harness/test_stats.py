import math
import os
import tempfile
import unittest

from harness import stats


class Median(unittest.TestCase):
    def test_odd_and_even_counts(self):
        self.assertEqual(stats.median([3, 1, 2]), 2)
        self.assertEqual(stats.median([4, 1, 3, 2]), 2.5)
        self.assertEqual(stats.median(["1.5"]), 1.5)

    def test_empty_is_an_error_not_zero(self):
        with self.assertRaises(ValueError):
            stats.median([])


ROUNDS = """\
1 kernel 10 100
1 ours 5 80
2 kernel 20 100
2 ours 12 90

3 kernel 40 200
3 ours 16 100
"""


class Rounds(unittest.TestCase):
    def setUp(self):
        self.r = stats.parse_rounds(ROUNDS.splitlines())

    def test_keys_and_rounds_keep_their_order(self):
        self.assertEqual(list(self.r), ["kernel", "ours"])
        self.assertEqual(list(self.r["ours"]), ["1", "2", "3"])
        self.assertEqual(self.r["ours"]["2"], [12.0, 90.0])

    def test_column_medians(self):
        self.assertEqual(stats.column_medians(self.r), {"kernel": [20, 100], "ours": [12, 90]})
        self.assertEqual(stats.column_medians(self.r, columns=1), {"kernel": [20], "ours": [12]})

    def test_ratios_pair_measurements_of_the_same_round(self):
        self.assertEqual(stats.paired_ratios(self.r, "ours", "kernel", 0), [0.5, 0.6, 0.4])
        self.assertEqual(stats.median_ratio(self.r, "ours", "kernel", 0), 0.5)
        # Not the ratio of the medians (12 / 20 = 0.6): a bimodal VM moves both sides of a
        # round together, and the per-round ratio cancels that out.
        self.assertNotEqual(stats.median_ratio(self.r, "ours", "kernel", 0), 12 / 20)
        self.assertEqual(stats.median_ratio(self.r, "ours", "kernel", 1, den_col=0), 4.5)

    def test_a_round_missing_one_side_is_left_out(self):
        r = stats.parse_rounds(["1 a 2", "1 b 4", "2 a 3", "3 b 6", "4 a 1", "4 b 0"])
        self.assertEqual(stats.paired_ratios(r, "a", "b", 0), [0.5])  # round 4: b is 0

    def test_no_pair_is_nan(self):
        self.assertTrue(math.isnan(stats.median_ratio(self.r, "ours", "nosuch", 0)))
        self.assertTrue(math.isnan(stats.median_ratio(self.r, "nosuch", "kernel", 0)))

    def test_baseline_against_itself_is_one(self):
        self.assertEqual(stats.median_ratio(self.r, "kernel", "kernel", 1), 1.0)

    def test_malformed_lines(self):
        with self.assertRaisesRegex(ValueError, "line 1: want"):
            stats.parse_rounds(["kernel 10"])
        with self.assertRaisesRegex(ValueError, "not a number"):
            stats.parse_rounds(["1 kernel ten"])
        with self.assertRaisesRegex(ValueError, "twice in round 1"):
            stats.parse_rounds(["1 k 1", "1 k 2"])

    def test_read_rounds_from_a_file(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "results")
            with open(p, "w") as f:
                f.write(ROUNDS)
            self.assertEqual(stats.read_rounds(p), self.r)


if __name__ == "__main__":
    unittest.main()
