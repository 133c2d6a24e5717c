"""The veth lab of docs/lab.md, as the tests and benches use it.

scripts/lab.sh builds and removes the lab; this module runs it, and holds the names and
addresses every script agrees on (the same defaults and LAB_* overrides as lab.sh):

    xs-a (the kernel peer)  xsa0  198.18.0.1/24   <-- veth -->   xs-b  xsb0  (xstack owns .2)
    xstack load, when it runs in xs-a, owns 198.18.0.10 on xsa0.

Only addresses inside 198.18.0.0/15 are ever used.
"""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_SH = os.path.join(ROOT, "scripts", "lab.sh")
BIN = os.path.join(ROOT, "target", "release", "xstack")

NS_A = os.environ.get("LAB_A_PREFIX", "xs-a")
NS_B = os.environ.get("LAB_B_PREFIX", "xs-b")
NS_BR = os.environ.get("LAB_BR_PREFIX", "xs-br")  # between the two, with LAB_BRIDGE=1
IF_A = os.environ.get("LAB_IF_A", "xsa0")
IF_B = os.environ.get("LAB_IF_B", "xsb0")
NET = os.environ.get("LAB_NET", "198.18.0")
A = f"{NET}.1"  # the kernel's address in xs-a
B = f"{NET}.2"  # the server's address in xs-b (xstack's, or the kernel's with b_kernel)
LOADGEN = f"{NET}.10"  # xstack load's address in xs-a
PREFIX = 24


class LabError(Exception):
    """The lab could not be brought up or down."""


def _in_range(net):
    parts = net.split(".")
    return len(parts) >= 2 and parts[0] == "198" and parts[1] in ("18", "19")


def lab_env(queues=None, b_kernel=None, offloads=None):
    """The environment for lab.sh: the caller's, with LAB_QUEUES / LAB_B_KERNEL /
    LAB_OFFLOADS set when given (None keeps what the environment already says).
    offloads="default" keeps the kernel's default veth offloads; "off" (lab.sh's
    default) turns TX checksum offload, TSO, GSO and GRO off."""
    env = dict(os.environ)
    if offloads is not None:
        if offloads not in ("off", "default"):
            raise LabError(f"offloads must be 'off' or 'default', not {offloads!r}")
        env["LAB_OFFLOADS"] = offloads
    if queues is not None:
        env["LAB_QUEUES"] = str(int(queues))
    if b_kernel is not None:
        env["LAB_B_KERNEL"] = "1" if b_kernel else "0"
    return env


def _run(action, env):
    if os.geteuid() != 0:
        raise LabError(f"lab {action}: creating network namespaces needs root: run it with sudo")
    if not _in_range(NET):
        raise LabError(f"lab {action}: LAB_NET must be inside 198.18.0.0/15, not {NET}")
    r = subprocess.run([LAB_SH, action], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise LabError(f"scripts/lab.sh {action} failed (exit status {r.returncode}): "
                       f"{r.stdout.strip() or 'no output'}")


def up(queues=None, b_kernel=None, offloads=None):
    """Builds the lab afresh (lab.sh up removes an old one first)."""
    _run("up", lab_env(queues, b_kernel, offloads))


def down():
    """Removes the lab; quiet when it is not there."""
    _run("down", dict(os.environ))


def netns(ns, argv):
    """ARGV run inside network namespace NS. `ip netns exec` execs ARGV, so a process
    started from this has ARGV's own PID, and signals sent to it reach ARGV."""
    return ["ip", "netns", "exec", ns, *argv]


def serve_argv(args=(), driver=None, ip=None, iface=None, binary=None):
    """`xstack serve` in xs-b owning B on xsb0, with ARGS after the common options."""
    argv = [binary or BIN, "serve", "--iface", iface or IF_B, "--ip", f"{ip or B}/{PREFIX}"]
    if driver:
        argv += ["--driver", driver]
    return netns(NS_B, argv + list(args))


def load_argv(args=(), driver=None, ip=None, iface=None, binary=None):
    """`xstack load` in xs-a owning LOADGEN on xsa0, with ARGS after the common options."""
    argv = [binary or BIN, "load", "--iface", iface or IF_A, "--ip", f"{ip or LOADGEN}/{PREFIX}"]
    if driver:
        argv += ["--driver", driver]
    return netns(NS_A, argv + list(args))


def shell_vars():
    """The lab's names as shell assignments (for tests/harness/harness.sh)."""
    names = {"HX_ROOT": ROOT, "HX_BIN": BIN, "HX_NS_A": NS_A, "HX_NS_B": NS_B, "HX_NS_BR": NS_BR,
             "HX_IF_A": IF_A, "HX_IF_B": IF_B, "HX_A": A, "HX_B": B,
             "HX_LOADGEN": LOADGEN, "HX_PREFIX": str(PREFIX)}
    return "\n".join(f"{k}={_shell_quote(v)}" for k, v in names.items())


def _shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"
