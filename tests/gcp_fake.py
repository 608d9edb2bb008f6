"""A local fake of the Compute Engine REST API, for driving the real google-cloud-compute SDK.

The SDK is never patched: it is pointed at this server through its documented
``client_options.api_endpoint`` (``http://127.0.0.1:PORT`` is honoured by the REST
transport), and google-auth authenticates through its documented route, a
credentials file named by ``GOOGLE_APPLICATION_CREDENTIALS``:

- a service-account key: GAPIC clients make google-auth sign its own JWT with the
  key (no token request), which this server verifies against the key's public half;
- an ``external_account`` file: google-auth exchanges a subject token at the
  file's ``token_url``, this server's ``/token``.

Responses are the fixture files under ``fixtures/gcp/<estate>/``, laid out like the
API paths they answer (``projects/<p>/global/firewalls.json`` answers
``GET /compute/v1/projects/<p>/global/firewalls``). Every list is served in at
least two pages: a page may be empty but still carry a ``nextPageToken``, which
Google APIs allow (AIP-158), so the pager must follow tokens rather than stop at an
empty page. The server records every request so tests can prove which paths the
SDK sent, that it only read, and that it followed the tokens.

Authentication is checked for real: a bearer token must be one this server issued
from ``/token``, or a self-signed JWT (what google-auth sends for service-account
keys to GAPIC clients) signed by a key the test registered.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions as auth_exceptions
from google.auth import jwt
from misbehave import Misbehaviour, answer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gcp"
API_PREFIX = "/compute/v1/"
#: Hierarchical (organization) policies are listed at one path, scoped by ``parentId``.
ORG_POLICIES_PATH = "/compute/v1/locations/global/firewallPolicies"
READONLY_SCOPE = "https://www.googleapis.com/auth/compute.readonly"


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class ServiceAccountKey:
    """A throwaway service-account key: the JSON google-auth reads, and its secrets."""

    info: dict[str, str]
    private_key_pem: str
    path: Path


@dataclass
class FakeCompute:
    """State shared between the test and the server threads."""

    roots: dict[str, Path] = field(default_factory=dict)
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    #: Scopes requested by each accepted credential (token grant or self-signed JWT).
    scopes_seen: list[str] = field(default_factory=list)
    #: Access tokens handed out by ``/token``; tests assert none leaks into output.
    issued_tokens: list[str] = field(default_factory=list)
    #: path prefix (after /compute/v1/) -> HTTP status to answer with instead.
    failures: dict[str, int] = field(default_factory=dict)
    #: path prefix (after /compute/v1/) -> a broken answer (misbehave.py).
    misbehaviour: dict[str, Misbehaviour] = field(default_factory=dict)
    #: Set at teardown: ends the handlers of "hang".
    release: threading.Event = field(default_factory=threading.Event)
    _trusted_keys: dict[str, str] = field(default_factory=dict)
    _subject_tokens: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ setup

    def serve_estate(self, estate: str) -> None:
        """Serve every project/organization under ``fixtures/gcp/<estate>``."""
        self.serve_directory(FIXTURES / estate)

    def serve_directory(self, base: Path) -> None:
        """Serve every project/organization under ``base`` (laid out like fixtures/gcp/<estate>)."""
        for kind in ("projects", "organizations"):
            for scope_dir in sorted((base / kind).glob("*")):
                self.roots[f"{kind}/{scope_dir.name}"] = scope_dir

    def fail(self, prefix: str, status: int) -> None:
        """Answer every request whose API path starts with ``prefix`` with ``status``.

        ``prefix`` is relative to /compute/v1/, e.g. ``projects/p2`` or
        ``projects/p1/aggregated/instances?page=2`` (a page other than the first).
        """
        self.failures[prefix] = status

    def misbehave(self, prefix: str, mode: str, times: int | None = None) -> None:
        """Answer API requests whose path (after /compute/v1/) starts with ``prefix``
        with ``mode`` from misbehave.MODES, the first ``times`` times or always."""
        self.misbehaviour[prefix] = Misbehaviour(mode, times)

    def misbehaving(self, path: str) -> Misbehaviour | None:
        rel = path.removeprefix(API_PREFIX)
        for prefix, bad in self.misbehaviour.items():
            if path.startswith(API_PREFIX) and rel.startswith(prefix) and bad.take():
                return bad
        return None

    def service_account(
        self, directory: Path, project: str, trusted: bool = True
    ) -> ServiceAccountKey:
        """Write a service-account key file whose ``token_uri`` is this server."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        key_id = secrets.token_hex(20)
        info = {
            "type": "service_account",
            "project_id": project,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": f"policycheck@{project}.iam.gserviceaccount.com",
            "client_id": "104523987120398471234",
            "auth_uri": f"{self.url}/auth",
            "token_uri": f"{self.url}/token",
            "auth_provider_x509_cert_url": f"{self.url}/certs",
            "client_x509_cert_url": f"{self.url}/certs/{key_id}",
            "universe_domain": "googleapis.com",
        }
        if trusted:
            public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            self._trusted_keys[key_id] = public.decode()
        path = directory / f"sa-{key_id[:8]}.json"
        path.write_text(json.dumps(info))
        return ServiceAccountKey(info=info, private_key_pem=pem, path=path)

    def workload_identity(self, directory: Path, accepted: bool = True) -> tuple[Path, str]:
        """Write an ``external_account`` (workload/workforce identity federation) file,
        the route CI systems use: google-auth exchanges the subject token at
        ``token_url`` (honoured, unlike ``authorized_user`` files, whose token URI
        google-auth always resets to Google's). A workforce-pool audience carries no
        project number, so google-auth makes no Resource Manager lookup."""
        subject = "oidc-" + secrets.token_urlsafe(32)
        if accepted:
            self._subject_tokens.add(subject)
        token_file = directory / "oidc-token.txt"
        token_file.write_text(subject)
        info = {
            "type": "external_account",
            "audience": "//iam.googleapis.com/locations/global/workforcePools/ci/providers/oidc",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": f"{self.url}/token",
            "credential_source": {"file": str(token_file)},
        }
        path = directory / "adc-external-account.json"
        path.write_text(json.dumps(info))
        return path, subject

    # --------------------------------------------------------------- queries

    def api_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path != "/token"]

    def pages_served(self, path: str) -> list[str | None]:
        """The ``pageToken`` of every request to ``path``, in order."""
        return [r.param("pageToken") for r in self.requests if r.path == path]

    # -------------------------------------------------------------- handling

    def _record(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        with self._lock:
            self.requests.append(Request(method, path, query))

    def _authenticated(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        token = header.removeprefix("Bearer ")
        with self._lock:
            if token in self.issued_tokens:
                return True
        return self._trusted_jwt(token) is not None

    def _trusted_jwt(self, token: str) -> dict[str, Any] | None:
        """Claims of a JWT signed by a registered key, else None."""
        try:
            header = jwt.decode_header(token)
            public = self._trusted_keys.get(str(header.get("kid")))
            if public is None:
                return None
            claims: dict[str, Any] = jwt.decode(token, certs=public, verify=True)
        except (ValueError, auth_exceptions.GoogleAuthError):
            return None
        with self._lock:
            self.scopes_seen.append(str(claims.get("scope", "")))
        return claims

    def _grant(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        grant = (form.get("grant_type") or [""])[0]
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            assertion = (form.get("assertion") or [""])[0]
            if self._trusted_jwt(assertion) is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Invalid JWT Signature.",
                }
        elif grant == "urn:ietf:params:oauth:grant-type:token-exchange":
            if (form.get("subject_token") or [""])[0] not in self._subject_tokens:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "The subject token is invalid.",
                }
            with self._lock:
                self.scopes_seen.append((form.get("scope") or [""])[0])
        else:
            return 400, {"error": "unsupported_grant_type"}
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            self.issued_tokens.append(token)
        return 200, {
            "access_token": token,
            "expires_in": 3599,
            "token_type": "Bearer",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }

    def _failure(self, api_path: str, page: int) -> int | None:
        for prefix, status in self.failures.items():
            base, _, page_spec = prefix.partition("?page=")
            if api_path.startswith(base) and (not page_spec or int(page_spec) == page):
                return status
        return None

    def _document(self, path: str, query: dict[str, list[str]]) -> dict[str, Any] | None:
        """The fixture answering ``path``, or None (404)."""
        if path == ORG_POLICIES_PATH:
            parent = (query.get("parentId") or [""])[0]
            root = self.roots.get(parent)
            file = root / "firewallPolicies.json" if root else None
        else:
            rel = path.removeprefix(API_PREFIX)
            parts = rel.split("/")
            root = self.roots.get("/".join(parts[:2])) if len(parts) > 2 else None
            file = root.joinpath(*parts[2:]).with_suffix(".json") if root else None
        if file is None or not file.is_file():
            return None
        doc: dict[str, Any] = json.loads(file.read_text())
        return doc

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        doc = self._document(path, query)
        if doc is None:
            return _error(404, f"The resource '{path.removeprefix(API_PREFIX)}' was not found")
        pages = _split_pages(doc.get("items"), query)
        token = (query.get("pageToken") or [None])[0]
        tokens = [_page_token(path, i) for i in range(len(pages))]
        if token is None:
            index = 0
        elif token in tokens[1:]:
            index = tokens.index(token)
        else:
            return _error(400, "Invalid value for field 'pageToken': " + repr(token))
        status = self._failure(path.removeprefix(API_PREFIX), index + 1)
        if status is not None:
            return _error(status, f"Required 'compute.read' permission for '{path}'")
        page = copy.deepcopy(doc)
        if pages[index]:
            page["items"] = pages[index]
        else:
            page.pop("items", None)
        if index + 1 < len(pages):
            page["nextPageToken"] = tokens[index + 1]
        return 200, page


def _split_pages(items: Any, query: dict[str, list[str]]) -> list[Any]:
    """At least two pages whenever there is anything to page (see module docstring)."""
    if not items:
        return [items]
    keys = list(items) if isinstance(items, dict) else list(range(len(items)))
    max_results = (query.get("maxResults") or [None])[0]
    size = int(max_results) if max_results else max(1, len(keys) // 2)
    chunks = [keys[i : i + size] for i in range(0, len(keys), size)]
    if len(chunks) == 1 or len(keys) < 2:
        chunks = [keys[: len(keys) // 2], keys[len(keys) // 2 :]]
    if isinstance(items, dict):
        return [{k: items[k] for k in chunk} for chunk in chunks]
    return [[items[k] for k in chunk] for chunk in chunks]


def _page_token(path: str, index: int) -> str:
    """Opaque, per-path tokens, so a token from one list is refused by another."""
    return hashlib.sha256(f"{path}#{index}".encode()).hexdigest()[:24]


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    """Google's JSON error shape for Compute."""
    reasons = {400: "invalid", 401: "authError", 403: "forbidden", 404: "notFound"}
    return status, {
        "error": {
            "code": status,
            "message": message,
            "errors": [
                {
                    "message": message,
                    "domain": "global",
                    "reason": reasons.get(status, "backendError"),
                }
            ],
        }
    }


def _handler(fake: FakeCompute) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            return

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _parts(self) -> tuple[str, dict[str, list[str]]]:
            split = urlsplit(self.path)
            return split.path, parse_qs(split.query)

        def do_GET(self) -> None:
            path, query = self._parts()
            fake._record("GET", path, query)
            bad = fake.misbehaving(path)
            if bad is not None:
                answer(self, bad.mode, fake.release)
                return
            if not fake._authenticated(self.headers.get("Authorization")):
                self._send(*_error(401, "Request had invalid authentication credentials."))
                return
            self._send(*fake.answer(path, query))

        def do_POST(self) -> None:
            path, query = self._parts()
            fake._record("POST", path, query)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            if path != "/token":
                self._send(*_error(405, "read-only fake: only GET is served"))
                return
            self._send(*fake._grant(parse_qs(body)))

        def _refuse(self) -> None:
            path, query = self._parts()
            fake._record(self.command, path, query)
            self._send(*_error(405, "read-only fake: only GET is served"))

        do_PUT = do_PATCH = do_DELETE = _refuse

    return Handler


def isolated_env(home: Path, credentials_file: Path | str | None) -> dict[str, str]:
    """Environment for a subprocess (or monkeypatching) that sees only the given
    credentials file: no gcloud config, no user ADC, no project from outside."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_", "GCLOUD_")) and k != "NO_GCE_CHECK"
    }
    env.update(
        HOME=str(home),
        CLOUDSDK_CONFIG=str(home / "gcloud"),
        # No metadata-server probe: the tests have only 127.0.0.1.
        NO_GCE_CHECK="true",
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
    )
    if credentials_file is not None:
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(credentials_file)
    return env


@pytest.fixture
def gcp_fake() -> Iterator[FakeCompute]:
    """A running fake Compute API on an ephemeral 127.0.0.1 port."""
    with running_gcp_fake() as fake:
        yield fake


@contextlib.contextmanager
def running_gcp_fake() -> Iterator[FakeCompute]:
    """The fake outside pytest (benchmarks/fingerprints.py scans the fixtures with it)."""
    fake = FakeCompute()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="gcp-fake", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
