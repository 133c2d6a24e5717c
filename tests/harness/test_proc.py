import os
import signal
import socket
import sys
import tempfile
import time
import unittest

from harness import proc

PY = sys.executable


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.stop(sig="KILL", timeout=1)
        self.dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def start(self, code, what="peer"):
        p = proc.Proc([PY, "-c", code], what, self.path(what + ".out"), self.path(what + ".err"))
        self.procs.append(p.start())
        return p


class Ready(Base):
    def test_ready_when_it_says_so(self):
        p = self.start("import time; time.sleep(0.2); print('xstack: ready on xsb0', flush=True); time.sleep(30)")
        self.assertLess(p.wait_ready(timeout=5), 5)
        self.assertEqual(p.stop(), -signal.SIGTERM)
        self.assertEqual(p.outcome, "stopped")

    def test_an_early_exit_fails_with_its_stderr(self):
        p = self.start("import sys; print('libbpf: noise', file=sys.stderr); "
                       "print('no network interface named nosuch0', file=sys.stderr); sys.exit(1)",
                       "xstack serve")
        with self.assertRaises(proc.NotReady) as e:
            p.wait_ready(timeout=5)
        msg = str(e.exception)
        self.assertRegex(msg, r"^xstack serve \(pid \d+\) exited before it said 'ready'")
        self.assertIn("stderr: no network interface named nosuch0", msg)
        self.assertNotIn("libbpf", msg)
        self.assertEqual(p.returncode, 1)

    def test_never_ready_times_out_and_is_stopped(self):
        p = self.start("import time; time.sleep(30)")
        t = time.monotonic()
        with self.assertRaisesRegex(proc.NotReady, r"had not said 'ready' after 0.3 s \(nothing on its stderr\)"):
            p.wait_ready(timeout=0.3)
        self.assertLess(time.monotonic() - t, 3)
        self.assertFalse(p.alive())

    def test_ready_on_a_listening_port(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        p = self.start(f"import socket, time; s = socket.socket(); time.sleep(0.2); "
                       f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(30)")
        p.wait_ready(listen=f"tcp:{port}", timeout=5)
        self.assertTrue(proc.listening(p.pid, "tcp", port))
        self.assertFalse(proc.listening(p.pid, "udp", port))

    def test_bad_listen_specs(self):
        for spec in ("sctp:7", "tcp:", "tcp:70000", "udp"):
            with self.assertRaises(ValueError):
                proc.parse_listen(spec)


class Stop(Base):
    def test_a_process_that_ignores_the_signal_is_killed(self):
        p = self.start("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                       "print('ready', flush=True); time.sleep(30)")
        p.wait_ready(timeout=5)
        self.assertEqual(p.stop(timeout=0.3), -signal.SIGKILL)
        self.assertEqual(p.outcome, "killed")

    def test_stop_pid_of_a_process_someone_else_reaps(self):
        p = self.start("import time; print('ready', flush=True); time.sleep(30)")
        p.wait_ready(timeout=5)
        ident = f"{p.pid}:{proc.start_time(p.pid)}"
        self.assertEqual(proc.stop_pid(ident, "INT", timeout=5), "stopped")
        self.assertFalse(proc.alive(p.pid))  # a zombie until reaped: exited all the same
        self.assertEqual(p.wait(1), -signal.SIGINT)  # Python dies of an unhandled SIGINT
        self.assertEqual(proc.stop_pid(ident), "exited")

    def test_a_pid_that_names_another_process_is_left_alone(self):
        p = self.start("import time; time.sleep(30)")
        with self.assertRaisesRegex(proc.StopError, "no longer the process that was started"):
            proc.stop_pid(f"{p.pid}:1", timeout=1)
        self.assertTrue(p.alive())

    def test_idents(self):
        self.assertEqual(proc.parse_ident("123"), (123, None))
        self.assertEqual(proc.parse_ident("123:456"), (123, "456"))
        for bad in ("", "x", "1", "-5"):
            with self.assertRaises(ValueError):
                proc.parse_ident(bad)


if __name__ == "__main__":
    unittest.main()
