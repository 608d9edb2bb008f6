"""Measuring a child process: wall time, peak RSS, exit status, with a timeout.

Shared by benchmarks/run.py (figures) and benchmarks/fingerprints.py (findings):
every figure is taken from a separate process so that imports, the catalog and
garbage left behind by an earlier run never flatter (or burden) the next one.
"""

from __future__ import annotations

import compileall
import functools
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    seconds: float
    #: Peak resident set size of the child alone (``ru_maxrss``), in MiB.
    peak_mib: float
    #: CPU seconds of the child (user + system): unlike wall time, barely moved by
    #: other processes sharing the cores.
    cpu_seconds: float
    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str

    @property
    def status(self) -> str:
        if self.timed_out:
            return f"timeout ({self.seconds:.0f} s)"
        if self.returncode is not None and self.returncode < 0:
            return f"killed by {signal.Signals(-self.returncode).name}"
        return f"exit {self.returncode}"


def run(
    argv: list[str],
    *,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Run:
    """Run ``argv`` and measure it. ``os.wait4`` gives this child's own rusage,
    unlike ``RUSAGE_CHILDREN``, which is the maximum over every child so far."""
    started = time.perf_counter()
    with _Capture() as stdout, _Capture() as stderr:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout.fd,
            stderr=stderr.fd,
            env=env,
            cwd=cwd,
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer is not None:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        return Run(
            argv=tuple(argv),
            seconds=seconds,
            peak_mib=usage.ru_maxrss / 1024,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            returncode=proc.returncode,
            timed_out=timed_out.is_set(),
            stdout=stdout.text(),
            stderr=stderr.text(),
        )


class _Capture:
    """A temporary file for a child's output: pipes would need a reader thread."""

    def __enter__(self) -> _Capture:
        import tempfile

        self._file = tempfile.TemporaryFile()
        self.fd = self._file.fileno()
        return self

    def text(self) -> str:
        self._file.seek(0)
        return self._file.read().decode("utf-8", "replace")

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def generate(kind: str, vms: int, out: Path) -> dict[str, Any]:
    """Write an estate (benchmarks/estates.py) in a child process; its path and counts.

    On Linux a child inherits its parent's peak RSS across fork and exec, so the
    process that measures children must never hold an estate itself.
    """
    script = Path(__file__).resolve().parent / "estates.py"
    done = run([sys.executable, str(script), kind, str(vms), "--out", str(out)])
    if done.returncode != 0:
        raise SystemExit(f"generating {kind} {vms}: {done.stderr.strip()}")
    info: dict[str, Any] = json.loads(done.stdout)
    return info


def policycheck(*args: str) -> list[str]:
    """The CLI as a child process, from this checkout's interpreter."""
    _compiled()
    return [sys.executable, "-m", "policycheck", *args]


@functools.cache
def _compiled() -> None:
    """Write this checkout's bytecode before anything is measured, as installing a
    package does. The checkout is installed editable, so nothing else writes it, and
    with PYTHONDONTWRITEBYTECODE set (as on the development machine) every scan
    compiled policycheck's ~60 modules again: 0.08 s CPU of each scan's start-up."""
    compileall.compile_dir(REPO / "policycheck", quiet=1)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "commit": _git("rev-parse", "--short=12", "HEAD"),
        # Only the measured code counts: benchmark scripts may be newer than it.
        "dirty": "yes" if _git("status", "--porcelain", "--", "policycheck", "policies") else "no",
    }


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=30
        )
    except OSError:
        return ""
    return done.stdout.strip()
