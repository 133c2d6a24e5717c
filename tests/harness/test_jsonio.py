import os
import subprocess
import sys
import tempfile
import unittest

from harness import jsonio

HERE = os.path.dirname(os.path.abspath(__file__))

SERVE_OUT = """xstack: ready on xsb0 198.18.0.2/24 (driver xdp, 1 queue)
{"drops_total": 3, "drops": {"truncated": 1, "bad_checksum": 2}, "ratio": 0.25, "ok": true,
 "name": "q0", "queues": [{"id": 0}], "none": null}
""".replace("\n ", " ")


def harness(*args, stdin=None):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "harness", *args], input=stdin, env=env,
                          capture_output=True, text=True)


class LastJson(unittest.TestCase):
    def test_the_last_line_after_a_ready_line(self):
        d = jsonio.last_json_text(SERVE_OUT)
        self.assertEqual(d["drops_total"], 3)

    def test_trailing_blank_lines_are_skipped(self):
        self.assertEqual(jsonio.last_json_text('{"a": 1}\n\n  \n'), {"a": 1})

    def test_no_output_and_not_json_say_so(self):
        with self.assertRaisesRegex(jsonio.JsonError, "out: no output"):
            jsonio.last_json_text("\n", "out")
        with self.assertRaisesRegex(jsonio.JsonError, "the last line is not JSON.*xstack: ready"):
            jsonio.last_json_text("xstack: ready on xsb0\n")

    def test_a_missing_file(self):
        with self.assertRaisesRegex(jsonio.JsonError, "/nonexistent/x: No such file"):
            jsonio.last_json("/nonexistent/x")


class Get(unittest.TestCase):
    d = jsonio.last_json_text(SERVE_OUT)

    def test_dotted_paths(self):
        self.assertEqual(jsonio.get(self.d, "drops.bad_checksum"), 2)
        self.assertEqual(jsonio.get(self.d, "queues.0.id"), 0)

    def test_a_missing_key_names_what_is_there(self):
        with self.assertRaisesRegex(jsonio.JsonError, r"'steer_full' is not in drops \(has: bad_checksum, truncated\)"):
            jsonio.get(self.d, "drops.steer_full")

    def test_fmt_gives_shell_words(self):
        self.assertEqual([jsonio.fmt(v) for v in (3, 0.25, "q0", True, None, [1, 2])],
                         ["3", "0.25", "q0", "true", "null", "[1,2]"])


class Cli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "serve.out")
        with open(self.path, "w") as f:
            f.write(SERVE_OUT)

    def tearDown(self):
        self.dir.cleanup()

    def test_json_keys_on_one_line(self):
        r = harness("json", self.path, "drops_total", "drops.truncated", "ratio")
        self.assertEqual((r.returncode, r.stdout), (0, "3 1 0.25\n"))

    def test_json_from_stdin(self):
        r = harness("json", "-", "a.b", stdin='junk\n{"a": {"b": 7}}\n')
        self.assertEqual(r.stdout, "7\n")

    def test_json_failure_is_one_sentence_and_non_zero(self):
        r = harness("json", self.path, "drops.nosuch")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertRegex(r.stderr, r"^harness json: no key 'drops.nosuch'")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)

    def test_median_and_ratio(self):
        self.assertEqual(harness("median", "3", "1", "2", "10").stdout, "2.5\n")
        res = os.path.join(self.dir.name, "results")
        with open(res, "w") as f:
            f.write("1 k 10 1\n1 x 5 1\n2 k 20 1\n2 x 8 1\n3 k 10 1\n3 x 6 1\n")
        self.assertEqual(harness("ratio", res, "x", "k", "0").stdout, "0.5\n")
        self.assertEqual(harness("medians", res).stdout, "k 10.0 1.0\nx 6.0 1.0\n")


if __name__ == "__main__":
    unittest.main()
