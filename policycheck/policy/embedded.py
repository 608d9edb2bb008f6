"""The embedded engine (rego-cpp via regopy, or OPA's Go library), driven in a
child process.

:class:`EmbeddedEngine` starts ``python -m policycheck.policy.worker`` (rego-cpp)
or ``python -m policycheck.policy.opa_worker`` (OPA) and talks to it line by line
(the protocol of policycheck/policy/worker.py). Every request has a time
limit: past it, the child is killed and :class:`EngineTimeout` raised, so a
policy that loops cannot hang a CI job. A child that dies (rego-cpp crashes on
a few constructs) raises :class:`EngineCrash`; the caller decides what it names.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal

import orjson

from policycheck.policy.protocol import EngineFailure

#: Seconds a policy may take for one step (loading, one query) by default.
DEFAULT_TIMEOUT = 300.0
_MISSING = object()

EngineName = Literal["rego-cpp", "opa"]
ENGINES: tuple[EngineName, ...] = ("rego-cpp", "opa")
DEFAULT_ENGINE: EngineName = "rego-cpp"
#: The child process of each engine, and what it needs installed.
_WORKERS: dict[str, tuple[str, str, str]] = {
    "rego-cpp": ("policycheck.policy.worker", "regopy", "pip install regopy"),
    # pyproject.toml cannot install it: its metadata asks for Python >= 3.14,
    # which nothing in it needs (docs/install.md).
    "opa": (
        "policycheck.policy.opa_worker",
        "opa_bindings",
        "pip install --no-deps --ignore-requires-python opa-golib-python-bindings==0.4.4",
    ),
}


class EngineError(EngineFailure):
    """The engine reported an error: its message, and where when it says so (a
    byte offset or a line in ``file``), as the child's protocol carries it."""


class EngineTimeout(Exception):
    """A step took longer than the time limit; the child was stopped."""

    def __init__(self, seconds: float):
        super().__init__(f"did not finish within {seconds:g} s")
        self.seconds = seconds


class EngineCrash(Exception):
    """The child process ended without answering."""

    def __init__(self, returncode: int | None, engine: EngineName = DEFAULT_ENGINE):
        how = f"exit status {returncode}" if returncode is not None else "no answer"
        super().__init__(f"the embedded Rego engine ({engine}) stopped ({how})")
        self.returncode = returncode


class EngineUnavailable(Exception):
    """The engine's package (regopy, opa-golib-python-bindings) is not installed."""


def require_engine(engine: EngineName) -> None:
    """Raise :class:`EngineUnavailable` (one line: the pip command) unless
    ``engine`` can be imported here, as its child process will."""
    if engine not in _WORKERS:
        raise EngineUnavailable(f"--rego-engine: unknown engine {engine!r} (rego-cpp or opa)")
    _, module, command = _WORKERS[engine]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise EngineUnavailable(
            f"the embedded Rego engine {engine} needs {module}, which is not installed: {command}"
        ) from exc


class EmbeddedEngine:
    """One engine (rego-cpp or OPA) in a child process; a context manager."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, engine: EngineName = DEFAULT_ENGINE):
        self.timeout = timeout
        self.engine = engine
        self._proc: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[bytes] = queue.Queue()
        self._stopped = False

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> EmbeddedEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        require_engine(self.engine)
        env = dict(os.environ)
        # The child must import this very policycheck, wherever it runs from.
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        if self.engine == "opa":
            # Go collects garbage at 100 % heap growth by default; the live heap here
            # is the compiled policies and one batch, so a later collection costs
            # little memory and saves about a third of OPA's CPU time on the input
            # (benchmarks/RESULTS.md, "Rego path"). A GOGC the user set is kept.
            env.setdefault("GOGC", "400")
        proc = subprocess.Popen(
            [sys.executable, "-m", _WORKERS[self.engine][0]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        replies: queue.Queue[bytes] = queue.Queue()
        self._replies = replies
        stdout = proc.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                replies.put(line)
            replies.put(b"")  # end of output: the child is gone

        threading.Thread(target=read, daemon=True).start()
        self._proc = proc
        return proc

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        """Stop the child for good, from any thread: a request waiting on it, and
        every later one, fails with EngineCrash."""
        self._stopped = True
        self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    # ------------------------------------------------------------- requests

    def _request(self, request: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        if self._stopped:
            raise EngineCrash(None, self.engine)
        proc = self._proc or self._start()
        assert proc.stdin is not None
        limit = self.timeout if timeout is None else timeout
        try:
            proc.stdin.write(orjson.dumps(request, option=orjson.OPT_NON_STR_KEYS) + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            self._kill()
            raise EngineCrash(proc.poll(), self.engine) from exc
        try:
            raw = self._replies.get(timeout=limit)
        except queue.Empty:
            self._kill()
            raise EngineTimeout(limit) from None
        if not raw:
            code = proc.wait()
            self._proc = None
            raise EngineCrash(code, self.engine)
        reply: dict[str, Any] = orjson.loads(raw)
        if not reply.get("ok"):
            raise EngineError(
                str(reply.get("error") or "the engine failed"),
                reply.get("file"),
                reply.get("offset"),
                reply.get("line"),
            )
        return reply

    def load(
        self,
        modules: Sequence[tuple[str, str]],
        data: dict[str, Any] | None = None,
        input_document: Any = _MISSING,
        *,
        timeout: float | None = None,
    ) -> None:
        """Add modules (name, text) and data, and set the input document (it
        replaces the previous one)."""
        request: dict[str, Any] = {"op": "load", "modules": [list(m) for m in modules]}
        if data:
            request["data"] = data
        if input_document is not _MISSING:
            request["input"] = input_document
        self._request(request, timeout)

    def query(self, query: str, *, timeout: float | None = None) -> tuple[bool, Any]:
        """(defined, value) of a query such as ``data.pkg.deny``."""
        reply = self._request({"op": "query", "query": query}, timeout)
        return bool(reply.get("defined")), reply.get("value")

    def answers(
        self, queries: Sequence[str], *, timeout: float | None = None
    ) -> list[tuple[bool, Any]]:
        """(defined, value) of each query in one evaluation (OPA's worker only,
        policycheck/policy/opa_worker.py)."""
        reply = self._request({"op": "answers", "queries": list(queries)}, timeout)
        return [(bool(defined), value) for defined, value in reply.get("answers", [])]

    def missing_builtins(self, names: Sequence[str]) -> list[str]:
        """The names that are not built-in functions of rego-cpp (only it answers
        this; OPA's compiler rejects an unknown function itself)."""
        reply = self._request({"op": "builtins", "names": list(names)})
        return [str(n) for n in reply.get("missing", [])]

    def version(self) -> str:
        return str(self._request({"op": "version"}).get("version", "?"))

    @property
    def running(self) -> bool:
        return self._proc is not None
