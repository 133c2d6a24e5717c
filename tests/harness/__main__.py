"""python3 -m harness COMMAND ... (with PYTHONPATH=tests): the harness for shell scripts.

    env                              the lab's names as shell assignments (for harness.sh)
    lab up|down [--queues N] [--b-kernel | --no-b-kernel] [--offloads off|default]
    ready PID[:START] --what NAME (--stdout FILE [--word ready] | --listen tcp:PORT|udp:PORT)
          [--stderr FILE] [--timeout SECS]
                                     waits until a process is ready; exit 1, with a sentence
                                     and its stderr, if it exits first or times out
    stop PID[:START] [--signal INT|TERM] [--timeout SECS] [--what NAME]
                                     signal, bounded wait, SIGKILL; exit 3 if it needed
                                     SIGKILL, 4 if it could not be stopped or is not ours
    json FILE|- [KEY.SUB ...]        the JSON on the last line of FILE, or the values at
                                     the dotted keys, on one line separated by spaces
    median V...                      the median of the numbers
    medians FILE [--columns N]       per key of a "ROUND KEY VALUE..." file: "KEY MEDIAN..."
    ratio FILE NUM DEN COL [--den-col C]
                                     the median of the per-round ratios NUM[COL]/DEN[COL]
    report compare|queues|udp-rtt|load-vs-sockperf|profile|demo ARGS...
                                     a bench's table (see harness/report.py)

Errors are one sentence on stderr and a non-zero exit status.
"""

import argparse
import sys

from . import jsonio, lab, proc, report, stats


def _num(x):
    return stats.median([x])  # a float, or ValueError


def main(argv=None):
    ap = argparse.ArgumentParser(prog="harness", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    sub.add_parser("env", help="the lab's names as shell assignments")

    p = sub.add_parser("lab", help="bring the lab up or down (scripts/lab.sh)")
    p.add_argument("action", choices=("up", "down"))
    p.add_argument("--queues", type=int)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--b-kernel", dest="b_kernel", action="store_true", default=None)
    g.add_argument("--no-b-kernel", dest="b_kernel", action="store_false")
    p.add_argument("--offloads", choices=("off", "default"))

    p = sub.add_parser("ready", help="wait until a process is ready")
    p.add_argument("pid")
    p.add_argument("--what", default=None)
    p.add_argument("--stdout")
    p.add_argument("--stderr")
    p.add_argument("--word", default="ready")
    p.add_argument("--listen")
    p.add_argument("--timeout", type=float, default=10.0)

    p = sub.add_parser("stop", help="stop a process by PID")
    p.add_argument("pid")
    p.add_argument("--signal", default="TERM")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--what", default=None)

    p = sub.add_parser("json", help="read the JSON on the last line of a file")
    p.add_argument("file")
    p.add_argument("keys", nargs="*")

    p = sub.add_parser("median", help="the median of numbers")
    p.add_argument("values", nargs="+")

    p = sub.add_parser("medians", help="column medians per key of a results file")
    p.add_argument("file")
    p.add_argument("--columns", type=int)

    p = sub.add_parser("ratio", help="the median of per-round ratios")
    p.add_argument("file")
    p.add_argument("num")
    p.add_argument("den")
    p.add_argument("col", type=int)
    p.add_argument("--den-col", type=int)

    p = sub.add_parser("report", help="a bench's table")
    rs = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    r = rs.add_parser("compare")
    r.add_argument("out")
    r.add_argument("secs")
    r.add_argument("rounds")
    r.add_argument("--update-docs", action="store_true")
    r.add_argument("--docs", default="docs/performance.md")
    r = rs.add_parser("queues")
    r.add_argument("out")
    r.add_argument("secs")
    r.add_argument("rounds")
    for name in ("udp-rtt", "load-vs-sockperf"):
        r = rs.add_parser(name)
        r.add_argument("results")
        r.add_argument("secs")
        r.add_argument("rounds")
        r.add_argument("proto")
    r = rs.add_parser("http")
    r.add_argument("results")
    r.add_argument("secs")
    r.add_argument("rounds")
    r.add_argument("rate")
    r.add_argument("size")
    r = rs.add_parser("demo")
    r.add_argument("sockperf_out")
    r.add_argument("runs", nargs="+", metavar="LABEL=LOAD_JSON")
    r = rs.add_parser("profile")
    r.add_argument("load_json")
    r.add_argument("serve_out")

    a = ap.parse_args(argv)
    try:
        return run(a)
    except proc.StopError as e:
        print(f"harness {a.cmd}: {e}", file=sys.stderr)
        return 4
    except (jsonio.JsonError, lab.LabError, proc.NotReady, ValueError, OSError) as e:
        print(f"harness {a.cmd}: {e}", file=sys.stderr)
        return 1


def run(a):
    if a.cmd == "env":
        print(lab.shell_vars())
    elif a.cmd == "lab":
        (lab.up(a.queues, a.b_kernel, a.offloads) if a.action == "up" else lab.down())
    elif a.cmd == "ready":
        pid, _ = proc.parse_ident(a.pid)
        if (a.listen is None) == (a.stdout is None):
            raise ValueError("give either --stdout FILE (to look for --word) or --listen PROTO:PORT")
        proc.wait_ready(pid, a.what or f"pid {pid}", a.stdout, a.stderr, word=a.word,
                        listen=a.listen, timeout=a.timeout)
    elif a.cmd == "stop":
        what = proc.stop_pid(a.pid, a.signal, a.timeout, a.what)
        if what == "killed":
            name = a.what or f"pid {a.pid.partition(':')[0]}"
            print(f"harness stop: {name} did not stop within {a.timeout:g} s of "
                  f"SIG{a.signal.upper().removeprefix('SIG')}: killed", file=sys.stderr)
            return 3
    elif a.cmd == "json":
        v = jsonio.last_json(a.file)
        if not a.keys:
            print(jsonio.fmt(v))
        else:
            print(" ".join(jsonio.fmt(jsonio.get(v, k)) for k in a.keys))
    elif a.cmd == "median":
        print(stats.median(_num(v) for v in a.values))
    elif a.cmd == "medians":
        for k, m in stats.column_medians(stats.read_rounds(a.file), a.columns).items():
            print(k, *m)
    elif a.cmd == "ratio":
        print(stats.median_ratio(stats.read_rounds(a.file), a.num, a.den, a.col, a.den_col))
    elif a.cmd == "report":
        if a.bench == "compare":
            report.compare(a.out, a.secs, a.rounds, a.update_docs, a.docs)
        elif a.bench == "queues":
            report.queues(a.out, a.secs, a.rounds)
        elif a.bench == "udp-rtt":
            report.udp_rtt(a.results, a.secs, a.rounds, a.proto)
        elif a.bench == "load-vs-sockperf":
            report.load_vs_sockperf(a.results, a.secs, a.rounds, a.proto)
        elif a.bench == "profile":
            report.profile(a.load_json, a.serve_out)
        elif a.bench == "demo":
            report.demo(a.sockperf_out, a.runs)
        elif a.bench == "http":
            report.http(a.results, a.secs, a.rounds, a.rate, a.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
