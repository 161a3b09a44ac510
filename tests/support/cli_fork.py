"""Run ``spendscope`` commands in processes of their own without paying the CLI's imports each time.

A command run as ``python -m collector`` spends ~0.7 s of CPU starting the interpreter and
importing the CLI before it does anything; tests that run dozens of commands spend most of
their time there. :class:`CliForkServer` starts one process that imports ``collector.cli``
and every command's module (and the packages commands import as they run) once and then, for
each command, forks: the child takes the command's working directory,
environment and standard input, runs ``collector.cli.main()`` with its arguments exactly as
``python -m collector`` does, and exits with the command's status. Each command still runs
in a process of its own (nothing it changes reaches the next one) and ends as the
interpreter does (threads joined, exit handlers run); only the interpreter's start and the
imports are shared. The server is single-threaded, so forking it is safe.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[2]

# The server: read one JSON request a line, fork a child that runs it, answer one JSON line.
_SERVER = r"""
import importlib, json, os, shutil, sys, tempfile
import collector.cli
collector.cli.build_app()  # every command's module, imported once here, not in each child
for name in sys.argv[1:]:  # and what the commands import when they run
    importlib.import_module(name)

requests_in, answers_out = sys.stdin, os.fdopen(os.dup(1), "w")
for line in requests_in:
    job = json.loads(line)
    scratch = tempfile.mkdtemp(prefix="ss-cli-")  # no finalizer: the child's exit keeps it
    paths = [os.path.join(scratch, name) for name in ("in", "out", "err")]
    with open(paths[0], "w", encoding="utf-8") as stdin_file:
        stdin_file.write(job["stdin"])
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            written = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            for fd, (path, mode) in enumerate(zip(paths, (os.O_RDONLY, written, written))):
                os.dup2(os.open(path, mode, 0o600), fd)
            os.chdir(job["cwd"])
            os.environ.clear()
            os.environ.update(job["env"])
            sys.argv = ["spendscope", *job["args"]]
            try:
                collector.cli.main()
                status = 0
            except SystemExit as exc:
                code = exc.code
                status = code if isinstance(code, int) else (0 if code is None else 1)
                if not isinstance(code, (int, type(None))):
                    print(code, file=sys.stderr)
        except BaseException:
            import traceback
            traceback.print_exc()
            status = 1
        finally:
            try:  # what the interpreter does on its way out: join threads, run atexit
                import atexit, threading
                threading._shutdown()
                atexit._run_exitfuncs()
            except BaseException:
                import traceback
                traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    with open(paths[1], encoding="utf-8", errors="replace") as out, open(
        paths[2], encoding="utf-8", errors="replace"
    ) as err:
        answer = {"status": os.waitstatus_to_exitcode(wait_status),
                  "stdout": out.read(), "stderr": err.read()}
    shutil.rmtree(scratch, ignore_errors=True)
    answers_out.write(json.dumps(answer) + "\n")
    answers_out.flush()
"""


# Packages the commands import as they run (not when registered): imported by the server once.
_PRELOAD = (
    "collector.db",
    "collector.pricing",
    "collector.reports",
    "collector.budgets",
    "collector.alerts",
    "collector.reconcile",
    "collector.otel",
)


class CliForkServer:
    """One importing process; :meth:`run` forks it once per command (one at a time)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, *_PRELOAD],
            env=base | {"PYTHONPATH": str(ROOT)} | (env or {}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        stdin: str = "",
        timeout_s: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """``spendscope ARGS`` in ``cwd`` with exactly ``env``, as a finished process; a
        command still running after ``timeout_s`` ends the server (TimeoutExpired)."""
        job = {"args": args, "cwd": str(cwd), "env": env, "stdin": stdin}
        with self._lock:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(json.dumps(job) + "\n")
            self._proc.stdin.flush()
            ready, _, _ = select.select([self._proc.stdout], [], [], timeout_s)
            if not ready:
                self._proc.kill()
                raise subprocess.TimeoutExpired(["spendscope", *args], timeout_s)
            line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the CLI fork server ended ({self._proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return subprocess.CompletedProcess(
            ["spendscope", *args], answer["status"], answer["stdout"], answer["stderr"]
        )

    def close(self) -> None:
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):  # a server that ended already
                self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
