"""The harness of xstack's kernel-peer tests (tests/kernel) and benches (bench/).

One place for what they share:

- lab     the veth lab's names and addresses; lab up/down through scripts/lab.sh
- proc    start xstack serve / xstack load / peers in a namespace, wait until they are
          ready (failing loudly with their stderr), stop them by PID (signal, bounded
          wait, SIGKILL, reap)
- jsonio  the JSON object on the last line of `--json` output; dotted key paths
- stats   medians, per-round paired ratios and their medians
- report  the benches' tables, from their raw results

Shell scripts reach it through `python3 -m harness ...` (see __main__.py), wrapped by
tests/harness/harness.sh. Standard library only.
"""
