"""A local AWS for the CLI and collector tests: moto in server mode on 127.0.0.1,
and a small fault-injecting proxy in front of it.

Failures that moto cannot produce on demand (throttling, one broken region,
rejected credentials, an HTML page or garbage instead of EC2's XML, a hang) come
from the proxy: it answers with the error documents EC2 and STS really send, or
with a broken answer from misbehave.py, and forwards everything else. The SDK is
never patched; it simply talks to the proxy.
"""

from __future__ import annotations

import http.client
import os
import re
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest
from misbehave import Misbehaviour, answer
from moto.server import ThreadedMotoServer

REGION = "eu-central-1"
OTHER_REGION = "eu-west-1"
ACCOUNT = "123456789012"
# Recognisable fake secrets: none of them may ever show up in any output.
ACCESS_KEY = "AKIAPOLICYCHECKFAKE1"
SECRET_KEY = "fake-secret-Zq9vW2xLmN4pR7tY-do-not-print"
SESSION_TOKEN = "fake-session-token-Kd83hfJ2mZ-do-not-print"
SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)

_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/")


# ----------------------------------------------------------- servers (fixtures)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto(moto_url: str) -> str:
    """A fresh, empty emulated AWS for each test."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    return moto_url


@dataclass
class Faults:
    """What the proxy does instead of forwarding."""

    #: operation -> how many times to answer RequestLimitExceeded before forwarding.
    throttle: dict[str, int] = field(default_factory=dict)
    #: regions whose EC2 calls are refused with UnauthorizedOperation.
    broken_regions: set[str] = field(default_factory=set)
    #: access key -> STS/EC2 error code (ExpiredToken, InvalidClientTokenId, ...).
    rejected_keys: dict[str, str] = field(default_factory=dict)
    #: text in a request body -> error code to refuse that request with (HTTP 403).
    refuse_bodies: dict[str, str] = field(default_factory=dict)
    #: (region, operation) -> a 200 response body served instead of moto's.
    replace: dict[tuple[str, str], bytes] = field(default_factory=dict)
    #: region (or ``"*"``) -> a broken answer from misbehave.py instead of moto's.
    misbehaviour: dict[str, Misbehaviour] = field(default_factory=dict)
    #: Set at teardown: ends the handlers of "hang".
    release: threading.Event = field(default_factory=threading.Event)
    #: every operation seen, including refused ones.
    seen: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def error_document(service: str, code: str, message: str) -> bytes:
    if service == "sts":
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>proxy</RequestId></ErrorResponse>"
        )
    else:
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            "</Error></Errors><RequestID>proxy</RequestID></Response>"
        )
    return ('<?xml version="1.0" encoding="UTF-8"?>' + body).encode()


def make_proxy_handler(upstream: str, faults: Faults) -> type[BaseHTTPRequestHandler]:
    target = upstream.removeprefix("http://")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            action = parse_qs(body.decode()).get("Action", ["?"])[0]
            scope = _CREDENTIAL_SCOPE.search(self.headers.get("Authorization", ""))
            key, region, service = scope.groups() if scope else ("", "", "")
            with faults.lock:
                faults.seen[action] += 1
                throttled = faults.throttle.get(action, 0) > 0
                if throttled:
                    faults.throttle[action] -= 1
            if key in faults.rejected_keys:
                code = faults.rejected_keys[key]
                return self._answer(403, error_document(service, code, f"{code} for this key"))
            for text, code in faults.refuse_bodies.items():
                if text in body.decode():
                    return self._answer(403, error_document(service, code, f"{code} here"))
            if service == "ec2" and region in faults.broken_regions:
                message = "You are not authorized to perform this operation."
                doc = error_document(service, "UnauthorizedOperation", message)
                return self._answer(403, doc)
            bad = faults.misbehaviour.get(region) or faults.misbehaviour.get("*")
            if bad is not None and bad.take():
                return answer(self, bad.mode, faults.release)
            if (region, action) in faults.replace:
                return self._answer(200, faults.replace[(region, action)])
            if throttled:
                doc = error_document(service, "RequestLimitExceeded", "Request limit exceeded.")
                return self._answer(503, doc)
            conn = http.client.HTTPConnection(target, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            self._answer(response.status, response.read(), response.getheader("Content-Type"))
            conn.close()

        def _answer(self, status: int, payload: bytes, ctype: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype or "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def proxy(moto: str) -> Iterator[tuple[str, Faults]]:
    faults = Faults()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_proxy_handler(moto, faults))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", faults
    faults.release.set()
    server.shutdown()
    server.server_close()


# ----------------------------------------------------------------------- helpers


def ec2_client(url: str, region: str = REGION) -> Any:
    return boto3.Session(
        aws_access_key_id="builder", aws_secret_access_key="builder", region_name=region
    ).client("ec2", endpoint_url=url)


def aws_env(tmp_path: Path, **aws: str) -> dict[str, str]:
    """A clean environment: no user AWS files, no metadata service, only ``aws``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "CI"}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(tmp_path),
        **aws,
    )
    return env


def fake_credentials() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
    }
