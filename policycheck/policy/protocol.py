"""The line protocol of the engine child processes (policycheck/policy/worker.py
for rego-cpp, policycheck/policy/opa_worker.py for OPA's Go library): one JSON
object per line in each direction, answered in order. Requests and replies are
documented in worker.py; this module holds what both children share.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, Protocol

import orjson


class EngineFailure(Exception):
    """An error the engine reports: its message and, when it gives one, its
    position as a byte offset (rego-cpp) or a line (OPA) in ``file``."""

    def __init__(
        self,
        message: str,
        file: str | None = None,
        offset: int | None = None,
        line: int | None = None,
    ):
        super().__init__(message)
        self.message, self.file, self.offset, self.line = message, file, offset, line


class Handler(Protocol):
    def handle(self, request: dict[str, Any]) -> dict[str, Any]: ...


def serve(make: Callable[[], Handler]) -> None:
    """Answer requests on stdin until it closes. The protocol gets its own copy
    of stdout; fd 1 (where an engine and a policy's print() write) becomes stderr."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    worker: Handler | None = None
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        try:
            if worker is None:
                worker = make()
            reply = worker.handle(orjson.loads(raw))
        except EngineFailure as exc:
            reply = {
                "ok": False,
                "error": exc.message,
                "file": exc.file,
                "offset": exc.offset,
                "line": exc.line,
            }
        except Exception as exc:  # anything else still answers, with its message
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        channel.write(orjson.dumps(reply, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        channel.flush()
