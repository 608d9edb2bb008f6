"""Broken HTTP answers for the local cloud fakes (AWS proxy, ARM, Compute).

What a collector meets in the field when an endpoint is not what it should be: an
HTML login page from a proxy or a disabled region, garbage, an empty or truncated
body, a connection closed without an answer, an endpoint that never answers,
throttling (429) and server errors. Every fake delegates here, so each cloud is
tested against the same misbehaviour, sent at the HTTP level the SDKs really read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

#: Every mode a fake can be told to answer with.
MODES = ("html", "garbage", "empty", "truncated", "close", "hang", "429", "500", "502", "503")

_HTML = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
    b"<body><h1>Proxy authentication required</h1></body></html>"
)


@dataclass
class Misbehaviour:
    """Answer with ``mode``; ``times`` limits it to the first N requests (then behave)."""

    mode: str
    times: int | None = None
    served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown misbehaviour {self.mode!r}; one of {MODES}")

    def take(self) -> bool:
        """True if this request is to misbehave (and count it)."""
        with self.lock:
            if self.times is not None and self.served >= self.times:
                return False
            self.served += 1
            return True


def answer(handler: BaseHTTPRequestHandler, mode: str, release: threading.Event) -> None:
    """Send ``mode``'s broken answer on ``handler``'s connection; a hang lasts until
    ``release`` is set (the fake's teardown) or a minute has passed."""
    if mode == "hang":
        release.wait(timeout=60)
        handler.close_connection = True
        return
    if mode == "close":
        handler.close_connection = True
        handler.connection.close()
        return
    status, ctype, body, length = 200, "application/json", b"", None
    if mode == "html":
        ctype, body = "text/html; charset=utf-8", _HTML
    elif mode == "garbage":
        body = b"\x00\x9f\xffnot json at all {{{<<<"
    elif mode == "truncated":
        body = b'{"value": [{"id": "/subscriptions/x", "name": "tru'
        length = len(body) + 4096  # promises more than it sends, then closes
    elif mode in ("429", "500", "502", "503"):
        # What gateways and load balancers send: a status and a small HTML page.
        status, ctype = int(mode), "text/html"
        body = f"<html><body><h1>{mode} Service Unavailable</h1></body></html>".encode()
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(length if length is not None else len(body)))
    if status == 429:
        handler.send_header("Retry-After", "0")
    handler.end_headers()
    handler.wfile.write(body)
    if length is not None:
        handler.wfile.flush()
        handler.close_connection = True
        handler.connection.close()
