import os
import re
import unittest

from harness import lab


class Lab(unittest.TestCase):
    def test_names_match_lab_sh(self):
        """harness.lab holds the same defaults as scripts/lab.sh (with no LAB_* set)."""
        with open(lab.LAB_SH) as f:
            text = f.read()
        defaults = dict(re.findall(r"^\w+=\$\{(LAB_\w+):-([^}]*)\}", text, re.M))
        env = {k: v for k, v in os.environ.items() if k.startswith("LAB_")}
        if env:
            self.skipTest(f"LAB_* set in the environment: {env}")
        self.assertEqual(defaults["LAB_A_PREFIX"], lab.NS_A)
        self.assertEqual(defaults["LAB_B_PREFIX"], lab.NS_B)
        self.assertEqual(defaults["LAB_BR_PREFIX"], lab.NS_BR)
        self.assertEqual(defaults["LAB_IF_A"], lab.IF_A)
        self.assertEqual(defaults["LAB_IF_B"], lab.IF_B)
        self.assertEqual(defaults["LAB_NET"], lab.NET)

    def test_addresses_stay_inside_the_benchmark_range(self):
        for ip in (lab.A, lab.B, lab.LOADGEN):
            self.assertRegex(ip, r"^198\.1[89]\.")

    def test_command_lines(self):
        self.assertEqual(lab.serve_argv(["--udp-echo", "7"], driver="xdp", binary="xs"),
                         ["ip", "netns", "exec", lab.NS_B, "xs", "serve", "--iface", lab.IF_B,
                          "--ip", f"{lab.B}/24", "--driver", "xdp", "--udp-echo", "7"])
        self.assertEqual(lab.load_argv(["--json"], binary="xs")[3:],
                         [lab.NS_A, "xs", "load", "--iface", lab.IF_A, "--ip", f"{lab.LOADGEN}/24", "--json"])

    def test_lab_env(self):
        env = lab.lab_env(queues=2, b_kernel=True)
        self.assertEqual((env["LAB_QUEUES"], env["LAB_B_KERNEL"]), ("2", "1"))
        self.assertEqual(lab.lab_env(b_kernel=False)["LAB_B_KERNEL"], "0")
        self.assertEqual(lab.lab_env(offloads="default")["LAB_OFFLOADS"], "default")
        with self.assertRaises(lab.LabError):
            lab.lab_env(offloads="on")


if __name__ == "__main__":
    unittest.main()
