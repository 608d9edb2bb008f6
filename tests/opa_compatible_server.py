"""An OPA-compatible test server: the subset of OPA's REST API policycheck uses.

There is no OPA binary on the test machines, so the ``--rego opa`` path is
exercised against this server instead: opa-python-client sends its real HTTP
requests to 127.0.0.1, and the server evaluates them with rego-cpp (regopy), the
same engine as ``--rego embedded``. It is NOT OPA; a test against a real OPA
server runs when ``OPA_URL`` is set.

Implemented (shapes as documented at https://www.openpolicyagent.org/docs/rest-api):

- ``PUT /v1/policies/{id}`` (text/plain module): 200 ``{}``, or 400 with OPA's
  ``{"code": "invalid_parameter", "message": ..., "errors": [...]}`` when the
  module does not compile.
- ``PUT /v1/data/{path}`` (JSON document): 204.
- ``POST /v1/data/{path}`` with ``{"input": ...}``: 200 ``{"result": value}``,
  or 200 ``{}`` when the document is undefined.
- ``GET /health``: 200 ``{}``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from regopy import Interpreter, LogLevel, RegoError


@dataclass
class OpaState:
    policies: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    #: (method, path) of every request, in order.
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _interpreter() -> Interpreter:
    rego = Interpreter()
    rego.log_level = LogLevel.NONE  # rego-cpp would print errors to stdout
    return rego


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


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
            self.server.state.requests.append((self.command, self.path))

    def do_GET(self) -> None:
        self._record()
        if self.path.split("?")[0] == "/health":
            self._reply(200, {})
        else:
            self._reply(404, {"code": "resource_not_found", "message": self.path})

    def do_PUT(self) -> None:
        self._record()
        parts = _segments(self.path.split("?")[0])
        body = self._body()
        if parts[:2] == ["v1", "policies"] and len(parts) > 2:
            module = body.decode()
            try:
                _interpreter().add_module("check", module)
            except RegoError as exc:
                self._reply(
                    400,
                    {
                        "code": "invalid_parameter",
                        "message": "error(s) occurred while compiling module(s)",
                        "errors": [{"code": "rego_parse_error", "message": str(exc)[:500]}],
                    },
                )
                return
            with self.server.state.lock:
                self.server.state.policies["/".join(parts[2:])] = module
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

    def do_POST(self) -> None:
        self._record()
        parts = _segments(self.path.split("?")[0])
        if parts[:2] != ["v1", "data"] or len(parts) < 3:
            self._reply(404, {"code": "resource_not_found", "message": self.path})
            return
        try:
            request = json.loads(self._body() or b"{}")
        except ValueError:
            self._reply(400, {"code": "invalid_parameter", "message": "invalid JSON"})
            return
        with self.server.state.lock:
            policies = dict(self.server.state.policies)
            data = json.loads(json.dumps(self.server.state.data))
        rego = _interpreter()
        try:
            for name, module in policies.items():
                rego.add_module(name, module)
            rego.add_data(data)
            if "input" in request:
                rego.set_input(request["input"])
            output = rego.query("data." + ".".join(parts[2:]))
        except RegoError as exc:
            self._reply(500, {"code": "internal_error", "message": str(exc)[:500]})
            return
        if not output.ok():
            self._reply(500, {"code": "internal_error", "message": str(output)[:500]})
            return
        results = output.results
        if not results or not results[0].expressions:
            self._reply(200, {})
            return
        self._reply(200, {"result": results[0].expressions[0]})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = OpaState()


class OpaCompatibleServer:
    """Runs the server on 127.0.0.1 (free port) in a thread; use as a context manager."""

    def __init__(self) -> None:
        self._server = _Server()
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
