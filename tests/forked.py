"""Real child processes for the tests, forked from a server that has imported torch.

A test that runs `python -m model_trainer ...` or `python -c CODE` as a process of its
own would pay a fresh interpreter each time (~2-4 s of torch and its first optimizer
step). `popen` and `run` hand the command to a zygote instead: a server started once per
test process that has already imported torch, torch._dynamo and the loop, and forks a
child for each command. The child is a real process with its own pid, session, cwd,
environment, file descriptors and signal handlers, running the command as the
interpreter would (`runpy` for -m, `exec` for -c), so signal, kill and lock tests test
the same thing; its exit status comes back as `Popen.returncode` does (-N for a signal).

What a fork cannot give and a fresh interpreter does: a check of what a command imports
(torch is already there) and the hash seed. Such tests call subprocess directly, and
MTRAIN_TEST_FRESH=1 sends every command to a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRELOAD = ("numpy", "torch", "torch._dynamo", "model_trainer.trial.experiment",
           "model_trainer.study.trial_task", "model_trainer.study.runner")
_HEADER = 8  # bytes of the request's length


# ---- the test's side -------------------------------------------------------------


class ForkedProcess:
    """The part of `subprocess.Popen` the tests use, for a child forked by the zygote."""

    def __init__(self, args: list[str], *, cwd: Any = None, env: dict | None = None,
                 stdout: Any = None, stderr: Any = None, text: bool = False,
                 start_new_session: bool = False):
        self.args, self.returncode = args, None
        self.stdout = self.stderr = None
        ours, theirs = [], []  # pipe ends: read here, written by the child
        fds = [os.open(os.devnull, os.O_RDONLY)]
        for which, target in (("stdout", stdout), ("stderr", stderr)):
            if target == subprocess.PIPE:
                read, write = os.pipe()
                ours.append(read)
                theirs.append(write)
                fds.append(write)
                setattr(self, which, _reader(read, text))
            elif target == subprocess.STDOUT:
                fds.append(fds[1])
            elif target == subprocess.DEVNULL:
                fds.append(os.open(os.devnull, os.O_WRONLY))
                theirs.append(fds[-1])
            elif target is None:
                fds.append(1 if which == "stdout" else 2)
            else:
                fds.append(target if isinstance(target, int) else target.fileno())
        request = {"argv": args[1:], "cwd": str(cwd or os.getcwd()),
                   "env": dict(os.environ if env is None else env),
                   "new_session": start_new_session}
        self._conn = _zygote().connect()
        try:
            socket.send_fds(self._conn, [b"F"], fds)
            body = json.dumps(request).encode()
            self._conn.sendall(len(body).to_bytes(_HEADER, "big") + body)
            self.pid = int(self._line())
        finally:
            os.close(fds[0])
            for fd in theirs:
                os.close(fd)

    def _line(self, timeout: float | None = None) -> str | None:
        self._conn.settimeout(timeout)
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = self._conn.recv(64)
                if not chunk:
                    raise RuntimeError("the test zygote died")
                data += chunk
        except (TimeoutError, BlockingIOError):
            if data:
                raise
            return None
        return data.decode().strip()

    def poll(self) -> int | None:
        if self.returncode is None:
            line = self._line(0)
            if line is not None:
                self.returncode = int(line)
                self._conn.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            line = self._line(timeout)
            if line is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.returncode = int(line)
            self._conn.close()
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[Any, Any]:
        """Read stdout and stderr to their end, then wait (Popen.communicate)."""
        outputs = {}
        threads = [threading.Thread(target=lambda n=name, f=f: outputs.__setitem__(n, f.read()))
                   for name, f in (("out", self.stdout), ("err", self.stderr)) if f]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(timeout)
        return outputs.get("out"), outputs.get("err")

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __enter__(self) -> ForkedProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        for stream in (self.stdout, self.stderr):
            if stream:
                stream.close()
        self.wait()


def popen(args: list[str], **kwargs: Any) -> Any:
    """`subprocess.Popen(args, ...)` for `[sys.executable, '-m' | '-c', ...]`: forked
    from the zygote (or a fresh interpreter under MTRAIN_TEST_FRESH=1)."""
    if os.environ.get("MTRAIN_TEST_FRESH") == "1" or not _forkable(args):
        return subprocess.Popen(args, **kwargs)
    return ForkedProcess(args, **kwargs)


def run(args: list[str], *, capture_output: bool = False, timeout: float | None = None,
        check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess:
    """`subprocess.run` through `popen`."""
    if capture_output:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc = popen(args, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    done = subprocess.CompletedProcess(args, proc.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def _forkable(args: list[str]) -> bool:
    return len(args) >= 2 and args[0] == sys.executable and args[1] in ("-m", "-c")


def _reader(fd: int, text: bool) -> Any:
    return open(fd, encoding="utf-8", errors="replace") if text else open(fd, "rb")


class _Zygote:
    """The zygote of this test process, started on first use, stopped at exit."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="mtrain-zygote-")) / "socket"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.process = subprocess.Popen([sys.executable, "-m", "tests.forked", str(self.path),
                                         str(os.getpid())], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        ready = self.process.stdout.readline()
        self.process.stdout.close()
        if ready.strip() != b"ready":
            raise RuntimeError("the test zygote did not start")

    def connect(self) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(self.path))
        return conn

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        with contextlib.suppress(OSError):
            self.path.unlink()
            self.path.parent.rmdir()


_the_zygote: _Zygote | None = None


def _zygote() -> _Zygote:
    global _the_zygote
    if _the_zygote is None or _the_zygote.process.poll() is not None:
        import atexit

        _the_zygote = _Zygote()
        atexit.register(_the_zygote.stop)
    return _the_zygote


# ---- the zygote's side -----------------------------------------------------------


def serve(path: str, owner: int) -> None:
    """Import PRELOAD, then fork a child per request and report its exit status."""
    for name in PRELOAD:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    waiting: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    if threading.active_count() != 1:
        raise RuntimeError("the zygote must not fork with threads running")
    print("ready", flush=True)
    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                _, fds, _, _ = socket.recv_fds(conn, 1, 3)
                size = int.from_bytes(_read_exactly(conn, _HEADER), "big")
                request = json.loads(_read_exactly(conn, size))
                pid = os.fork()
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    selector.close()
                    for sock in (listener, conn, *waiting.values()):
                        sock.close()
                    os.close(wake_read)
                    os.close(wake_write)
                    _child(request, fds)
                for fd in fds:
                    os.close(fd)
                conn.sendall(f"{pid}\n".encode())
                waiting[pid] = conn
            else:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_read, 512):
                        pass
        while waiting:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = waiting.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                conn.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(owner, 0)
            continue
        os._exit(0)  # the test process is gone


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the requested command, then exit as Python would."""
    if request["new_session"]:
        os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False), encoding="utf-8",
        line_buffering=unbuffered or os.isatty(1), write_through=unbuffered)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
        line_buffering=True, write_through=True)
    flag, *rest = request["argv"]
    pythonpath = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = ["" if flag == "-c" else os.getcwd(), *pythonpath, *sys.path[1:]]
    import importlib

    importlib.invalidate_caches()
    _reseed()
    _main(flag, rest)


def _reseed() -> None:
    """A fresh interpreter's unseeded generators differ from process to process."""
    import numpy
    import torch

    numpy.random.seed()
    torch.seed()


def _main(flag: str, rest: list[str]) -> None:
    """Run `-m MODULE ARGS` or `-c CODE ARGS`, then exit as the interpreter would."""
    import runpy
    import traceback
    import types

    code = 0
    try:
        try:
            if flag == "-m":
                sys.argv = [rest[0], *rest[1:]]
                runpy.run_module(rest[0], run_name="__main__", alter_sys=True)
            else:
                sys.argv = ["-c", *rest[1:]]
                main = types.ModuleType("__main__")
                sys.modules["__main__"] = main
                exec(compile(rest[0], "<string>", "exec"), main.__dict__)
        finally:
            threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter does
    except SystemExit as done:
        code = _exit_code(done.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Python ends by its own SIGINT
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
        code = 1
    import atexit

    atexit._run_exitfuncs()
    _flush()
    os._exit(code)


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
