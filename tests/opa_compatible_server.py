"""An OPA-compatible test server: the subset of OPA's REST API policycheck uses.

There is no OPA binary on the test machines, so the ``--rego opa`` path is
exercised against this server instead: opa-python-client sends its real HTTP
requests to 127.0.0.1, and the server evaluates them with rego-cpp (regopy, in
policycheck's engine child process), the same engine as ``--rego embedded``. It
is NOT OPA; a test against a real OPA server runs when ``OPA_URL`` is set, and
the GitHub CI workflow runs the Rego unit tests under real OPA.

Implemented (shapes as documented at https://www.openpolicyagent.org/docs/rest-api):

- ``PUT /v1/policies/{id}`` (text/plain module): 200 ``{}``, or 400 with OPA's
  ``{"code": "invalid_parameter", "message": ..., "errors": [{"code",
  "message", "location": {"file": id, "row", "col"}}]}`` when the module does
  not parse or calls a function that is not defined (as OPA's compiler does).
- ``DELETE /v1/policies/{id}``: 200 ``{}`` (404 when unknown).
- ``PUT /v1/data/{path}`` (JSON document): 204; ``PATCH /v1/data/{path}``
  (JSON patch, ``add``/``replace``/``remove``): 204; ``DELETE /v1/data/{path}``: 204.
- ``POST /v1/data/{path}`` with ``{"input": ...}``: 200 ``{"result": value}``, or
  200 ``{}`` when the document is undefined; ``?strict-builtin-errors=true``
  makes a failing built-in a 500 ``{"code": "internal_error", "message": ...}``.
- ``GET /health``: 200 ``{}``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from policycheck.errors import InputError
from policycheck.policy.embedded import EmbeddedEngine, EngineCrash, EngineError, EngineTimeout
from policycheck.policy.session import Modules, check_calls
from policycheck.policy.source import SourceError, parse_source


@dataclass
class OpaState:
    policies: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    #: (method, path) of every request, in order.
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _segments(path: str) -> list[str]:
    return [s for s in urlsplit(path).path.split("/") if s]


def _compile_error(pid: str, message: str, row: int = 1) -> dict[str, Any]:
    return {
        "code": "invalid_parameter",
        "message": "error(s) occurred while compiling module(s)",
        "errors": [
            {
                "code": "rego_compile_error",
                "message": message,
                "location": {"file": pid, "row": row, "col": 1},
            }
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _reply(self, status: int, body: object | None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _record(self) -> None:
        with self.server.state.lock:
            self.server.state.requests.append((self.command, urlsplit(self.path).path))

    def do_GET(self) -> None:
        self._record()
        if urlsplit(self.path).path == "/health":
            self._reply(200, {})
        else:
            self._reply(404, {"code": "resource_not_found", "message": self.path})

    def do_PUT(self) -> None:
        self._record()
        parts = _segments(self.path)
        body = self._body()
        if parts[:2] == ["v1", "policies"] and len(parts) > 2:
            pid = "/".join(parts[2:])
            problem = self._compile(pid, body.decode())
            if problem is not None:
                self._reply(400, problem)
                return
            with self.server.state.lock:
                self.server.state.policies[pid] = body.decode()
            self._reply(200, {})
        elif parts[:2] == ["v1", "data"] and len(parts) > 2:
            try:
                value = json.loads(body)
            except ValueError:
                self._reply(400, {"code": "invalid_parameter", "message": "invalid JSON"})
                return
            with self.server.state.lock:
                node = self.server.state.data
                for key in parts[2:-1]:
                    node = node.setdefault(key, {})
                node[parts[-1]] = value
            self._reply(204, None)
        else:
            self._reply(404, {"code": "resource_not_found", "message": self.path})

    def do_PATCH(self) -> None:
        self._record()
        parts = _segments(self.path)
        if parts[:2] != ["v1", "data"]:
            self._reply(404, {"code": "resource_not_found", "message": self.path})
            return
        try:
            patches = json.loads(self._body())
            with self.server.state.lock:
                for patch in patches:
                    keys = parts[2:] + [k for k in patch["path"].split("/") if k]
                    node = self.server.state.data
                    for key in keys[:-1]:
                        node = node.setdefault(key, {})
                    if patch["op"] in ("add", "replace"):
                        node[keys[-1]] = patch["value"]
                    elif patch["op"] == "remove":
                        del node[keys[-1]]
                    else:
                        raise ValueError(patch["op"])
        except (ValueError, KeyError, TypeError):
            self._reply(400, {"code": "invalid_parameter", "message": "invalid patch"})
            return
        self._reply(204, None)

    def do_DELETE(self) -> None:
        self._record()
        parts = _segments(self.path)
        state = self.server.state
        if parts[:2] == ["v1", "policies"] and len(parts) > 2:
            with state.lock:
                found = state.policies.pop("/".join(parts[2:]), None)
            if found is None:
                self._reply(404, {"code": "resource_not_found", "message": self.path})
            else:
                self._reply(200, {})
        elif parts[:2] == ["v1", "data"] and len(parts) > 2:
            with state.lock:
                node = state.data
                for key in parts[2:-1]:
                    node = node.get(key, {})
                found = node.pop(parts[-1], None) if isinstance(node, dict) else None
            if found is None:
                self._reply(404, {"code": "resource_not_found", "message": self.path})
            else:
                self._reply(204, None)
        else:
            self._reply(404, {"code": "resource_not_found", "message": self.path})

    def _compile(self, pid: str, module: str) -> dict[str, Any] | None:
        """OPA compiles a module on upload: parse errors and undefined functions."""
        try:
            source = parse_source(Path(pid), pid, module)
        except SourceError as exc:
            return _compile_error(pid, str(exc))
        with self.server.state.lock:
            others = dict(self.server.state.policies)
        others.pop(pid, None)
        sources = [parse_source(Path(p), p, text) for p, text in others.items()] + [source]
        modules = Modules(sources)
        try:
            with EmbeddedEngine(timeout=30) as engine:
                check_calls(engine, sources)
                engine.load(modules.pairs())
        except InputError as exc:
            where, _, message = str(exc).partition(": ")
            row = where.rsplit(":", 1)[-1]
            return _compile_error(pid, message, int(row) if row.isdigit() else 1)
        except EngineError as exc:
            where = modules.where(exc.file, exc.offset) or pid
            row = where.rsplit(":", 1)[-1]
            return _compile_error(pid, exc.message, int(row) if row.isdigit() else 1)
        return None

    def do_POST(self) -> None:
        self._record()
        split = urlsplit(self.path)
        parts = _segments(self.path)
        if parts[:2] != ["v1", "data"] or len(parts) < 3:
            self._reply(404, {"code": "resource_not_found", "message": self.path})
            return
        try:
            request = json.loads(self._body() or b"{}")
        except ValueError:
            self._reply(400, {"code": "invalid_parameter", "message": "invalid JSON"})
            return
        strict = [v.lower() for v in parse_qs(split.query).get("strict-builtin-errors", [])]
        with self.server.state.lock:
            policies = dict(self.server.state.policies)
            data = json.loads(json.dumps(self.server.state.data))
        sources = [parse_source(Path(p), p, text) for p, text in policies.items()]
        modules = Modules(sources)
        query = "data." + ".".join(parts[2:])
        try:
            with EmbeddedEngine(timeout=self.server.timeout) as engine:
                if "input" in request:
                    engine.load(modules.pairs(), data, request["input"])
                else:
                    engine.load(modules.pairs(), data)
                defined, value = engine.query(query)
        except EngineError as exc:
            where = modules.where(exc.file, exc.offset) or query
            kind = "eval_builtin_error" if strict and strict[0] == "true" else "eval_error"
            self._reply(
                500,
                {"code": "internal_error", "message": f"1 error occurred: {where}: {kind}: {exc}"},
            )
            return
        except (EngineTimeout, EngineCrash) as exc:
            self._reply(500, {"code": "internal_error", "message": str(exc)})
            return
        self._reply(200, {"result": value} if defined else {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, timeout: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = OpaState()
        self.timeout = timeout


class OpaCompatibleServer:
    """Runs the server on 127.0.0.1 (free port) in a thread; use as a context manager.

    ``timeout``: how long one evaluation may take before the server answers 500
    (OPA itself has no such limit; the client's time limit is what a test checks).
    """

    def __init__(self, timeout: float = 120.0) -> None:
        self._server = _Server(timeout)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def state(self) -> OpaState:
        return self._server.state

    def __enter__(self) -> OpaCompatibleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
