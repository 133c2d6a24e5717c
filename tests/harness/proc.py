"""Starting servers and peers, waiting until they are ready, and stopping them by PID.

Every process a test or bench starts is stopped by the PID recorded when it was started:
a signal (SIGINT for xstack, whose summary it triggers; SIGTERM otherwise), a bounded
wait, then SIGKILL, and the process is reaped. Nothing is ever stopped by name.

A PID can be given with the process's start time (field 22 of /proc/PID/stat) as
"PID:START"; then a PID that the kernel has since handed to another process is left
alone instead of signalled.

Two ways in:
- ``Proc``: a child of this Python process (subprocess.Popen), for Python callers;
- the functions ``wait_ready`` and ``stop_pid``: for a process some other program
  started and will reap, e.g. a shell script's background job (tests/harness/harness.sh
  uses them through ``python3 -m harness ready|stop``).

A readiness wait either returns or raises NotReady with a sentence that says what did
not happen, and the end of the process's stderr: a server that exits early or never
says it is ready fails loudly, never silently.
"""

import os
import signal
import subprocess
import time

from . import jsonio, lab

NOISE = ("libbpf:", "libxdp:")  # expected lines on an AF_XDP open (docs/lab.md)


class NotReady(Exception):
    """A server or peer exited, or timed out, before it was ready."""


class StopError(Exception):
    """A process could not be stopped, or its PID no longer names it."""


def _stat(pid):
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may hold spaces or parentheses itself.
    return s[s.rindex(")") + 2:].split()


def alive(pid):
    """True while PID runs; False once it has exited (a zombie waiting to be reaped
    counts as exited) or never existed."""
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def start_time(pid):
    """PID's start time in clock ticks since boot, as a string, or None if it is gone."""
    st = _stat(pid)
    return st[19] if st is not None else None


def parse_ident(ident):
    """(pid, start or None) from "PID" or "PID:START"."""
    pid, _, start = str(ident).partition(":")
    if not pid.isdigit() or int(pid) <= 1:
        raise ValueError(f"not a PID: {ident!r}")
    return int(pid), (start or None)


def stderr_tail(path, lines=20, prefix="    stderr: "):
    """The last LINES lines of the file at PATH, without libbpf/libxdp noise, each line
    prefixed; "" when there is nothing to show."""
    if not path:
        return ""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    keep = [line for line in text.splitlines() if line.strip() and not line.startswith(NOISE)]
    return "".join(f"\n{prefix}{line}" for line in keep[-lines:])


def _said(path, word):
    try:
        with open(path, errors="replace") as f:
            return word in f.read()
    except OSError:
        return False


_NET_STATE = {"tcp": "0A", "udp": "07"}  # LISTEN, and an unconnected UDP socket


def listening(pid, proto, port):
    """True when the network namespace PID runs in has a TCP socket listening, or a UDP
    socket bound, on PORT (read from /proc/PID/net/, so no need to enter the namespace)."""
    want = f"{int(port):04X}"
    for table in (proto, proto + "6"):
        try:
            with open(f"/proc/{int(pid)}/net/{table}") as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[1].rsplit(":", 1)[1] == want and fields[3] == _NET_STATE[proto]:
                        return True
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return False


def parse_listen(spec):
    """("tcp"|"udp", port) from "tcp:7" / "udp:11111"."""
    proto, _, port = spec.partition(":")
    if proto not in _NET_STATE or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"want tcp:PORT or udp:PORT, not {spec!r}")
    return proto, int(port)


def wait_ready(pid, what, stdout=None, stderr=None, word="ready", listen=None, timeout=10.0,
               is_alive=None, interval=0.05):
    """Waits until PID is ready, and returns the seconds it took.

    Ready means: with LISTEN ("tcp:PORT"/"udp:PORT"), its namespace listens on that port;
    otherwise WORD appears in the file STDOUT (or STDERR). Raises NotReady, with the end of the file
    STDERR, when PID exits first or TIMEOUT seconds pass.
    """
    if listen is not None:
        proto, port = parse_listen(listen) if isinstance(listen, str) else listen
        ready = lambda: listening(pid, proto, port)  # noqa: E731
        cond = f"listened on {proto} port {port}"
    else:
        if stdout is None:
            raise ValueError("wait_ready needs STDOUT (to look for WORD) or LISTEN")
        # A server run with --json says it is ready on stderr (stdout holds its JSON
        # alone); without --json on stdout.
        ready = lambda: _said(stdout, word) or (stderr is not None and _said(stderr, word))  # noqa: E731
        cond = f"said {word!r}"
    running = is_alive or (lambda: alive(pid))
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        if ready():
            return time.monotonic() - t0
        if not running():
            if ready():  # it said so just before it exited
                return time.monotonic() - t0
            raise NotReady(f"{what} (pid {pid}) exited before it {cond}"
                           + (stderr_tail(stderr) or " (nothing on its stderr)"))
        if time.monotonic() >= deadline:
            raise NotReady(f"{what} (pid {pid}) had not {cond} after {timeout:g} s"
                           + (stderr_tail(stderr) or " (nothing on its stderr)"))
        time.sleep(interval)


def _signum(sig):
    if isinstance(sig, int):
        return signal.Signals(sig)
    name = str(sig).upper()
    if name.isdigit():
        return signal.Signals(int(name))
    return signal.Signals[name if name.startswith("SIG") else "SIG" + name]


def stop_pid(ident, sig="TERM", timeout=5.0, what=None, kill_wait=2.0, interval=0.02):
    """Stops the process IDENT ("PID" or "PID:START") that someone else will reap.

    Sends SIG, waits up to TIMEOUT seconds for it to exit, then sends SIGKILL and waits
    up to KILL_WAIT more. Returns "exited" (it had exited before the signal), "stopped"
    (it exited on SIG) or "killed" (it needed SIGKILL). Raises StopError when the PID now
    names a different process (then it is not signalled) or survives SIGKILL.
    """
    pid, start = parse_ident(ident)
    sig = _signum(sig)
    what = what or f"pid {pid}"
    if not alive(pid):
        return "exited"
    if start is not None and start_time(pid) != start:
        raise StopError(f"{what}: pid {pid} is no longer the process that was started; left alone")
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return "exited"
    except PermissionError:
        raise StopError(f"{what}: not allowed to signal pid {pid}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return "stopped"
        time.sleep(interval)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    deadline = time.monotonic() + kill_wait
    while time.monotonic() < deadline:
        if not alive(pid):
            return "killed"
        time.sleep(interval)
    raise StopError(f"{what}: pid {pid} still runs {kill_wait:g} s after SIGKILL")


class Proc:
    """A process started by this Python program, optionally inside a network namespace,
    with stdout and stderr in files. Use it as a context manager to have it stopped
    whatever happens:

        with Proc(lab.serve_argv(["--udp-echo", "7"], driver="xdp"), "xstack serve",
                  stdout=".../serve.out", stderr=".../serve.err", stop_signal="INT") as s:
            s.wait_ready()
            ...
        summary = s.json()
    """

    def __init__(self, argv, what=None, stdout=None, stderr=None, ns=None, stop_signal="TERM"):
        self.argv = lab.netns(ns, list(argv)) if ns else list(argv)
        self.what = what or os.path.basename(str(argv[0]))
        self.stdout, self.stderr = stdout, stderr
        self.stop_signal = stop_signal
        self.popen = None
        self.outcome = None

    def start(self):
        out = open(self.stdout, "wb") if self.stdout else subprocess.DEVNULL
        err = open(self.stderr, "wb") if self.stderr else subprocess.DEVNULL
        try:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        finally:
            for f in (out, err):
                if f is not subprocess.DEVNULL:
                    f.close()
        return self

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.returncode

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, word="ready", listen=None, timeout=10.0):
        """As the function wait_ready; on NotReady the process is stopped before raising."""
        try:
            return wait_ready(self.pid, self.what, self.stdout, self.stderr, word=word,
                              listen=listen, timeout=timeout, is_alive=self.alive)
        except NotReady:
            self.stop(timeout=1.0)
            raise

    def wait(self, timeout=None):
        """Waits (bounded by TIMEOUT, if given) for the process to exit by itself, and
        returns its exit status (negative: killed by that signal)."""
        return self.popen.wait(timeout)

    def stop(self, sig=None, timeout=5.0, kill_wait=2.0):
        """Sends SIG (the stop signal given at construction by default), waits up to
        TIMEOUT, then SIGKILL; reaps it and returns its exit status. self.outcome says
        "exited", "stopped" or "killed"."""
        if self.popen is None:
            return None
        if self.popen.poll() is not None:
            self.outcome = self.outcome or "exited"
            return self.popen.returncode
        try:
            self.popen.send_signal(_signum(sig or self.stop_signal))
            self.popen.wait(timeout)
            self.outcome = "stopped"
        except subprocess.TimeoutExpired:
            self.popen.kill()
            try:
                self.popen.wait(kill_wait)
            except subprocess.TimeoutExpired:
                raise StopError(f"{self.what}: pid {self.pid} still runs "
                                f"{kill_wait:g} s after SIGKILL") from None
            self.outcome = "killed"
        return self.popen.returncode

    def json(self):
        """The JSON object on the last line of its stdout."""
        return jsonio.last_json(self.stdout)

    def __enter__(self):
        if self.popen is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def serve(args, stdout, stderr, driver=None, timeout=10.0):
    """Starts xstack serve in xs-b with ARGS and waits until it says it is ready (it is
    stopped with SIGINT, which makes it print its summary)."""
    p = Proc(lab.serve_argv(args, driver), "xstack serve", stdout, stderr, stop_signal="INT")
    p.start()
    p.wait_ready(timeout=timeout)
    return p


def peer(ns, argv, listen, stdout=None, stderr=None, what=None, timeout=10.0):
    """Starts a peer (sockperf server, a Python echo server, ...) in namespace NS and
    waits until it listens on LISTEN ("tcp:PORT" or "udp:PORT")."""
    p = Proc(argv, what, stdout, stderr, ns=ns)
    p.start()
    p.wait_ready(listen=listen, timeout=timeout)
    return p


def load(args, stdout, stderr, driver=None, timeout=600.0):
    """Runs xstack load in xs-a with ARGS (add --json) to the end, and returns the JSON
    report on the last line of its stdout. Raises RuntimeError with the end of its
    stderr if it fails."""
    p = Proc(lab.load_argv(args, driver), "xstack load", stdout, stderr)
    p.start()
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.stop(timeout=1.0)
        raise RuntimeError(f"xstack load did not finish within {timeout:g} s"
                           + stderr_tail(stderr, 3)) from None
    if rc != 0:
        raise RuntimeError(f"xstack load exited with status {rc}" + stderr_tail(stderr, 3))
    return p.json()
