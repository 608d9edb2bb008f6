"""A local fake of Azure Resource Manager and Entra ID, for driving the real Azure SDK.

The collector must be tested through azure-mgmt-* and azure-identity exactly as
they run against Azure, so this server speaks their wire protocol instead of
replacing any SDK code:

- Entra ID: the OpenID discovery document and the client-credentials token
  endpoint that MSAL calls for a ``ClientSecretCredential`` /
  ``EnvironmentCredential`` whose authority host (``AZURE_AUTHORITY_HOST``) is
  this server. It issues one bearer token and refuses any other secret.
- ARM: the subscription, Microsoft.Network and Microsoft.Compute list calls the
  collector makes, served from ``fixtures/azure/<estate>/`` in the real REST
  shapes, split into pages of one resource (at least two pages per list, the
  last possibly empty) linked by ``nextLink`` URLs carrying ``api-version`` and a
  ``$skiptoken``, as ARM does.

HTTPS only, with a throwaway CA from ``trustme``: the SDK refuses bearer tokens
over plain HTTP, and the CA reaches the SDK through ``REQUESTS_CA_BUNDLE``, the
documented way to trust a private CA. Every request is recorded so tests can
prove which paths, api-versions and methods the SDK really used.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import re
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import trustme
from misbehave import Misbehaviour, answer

from policycheck.model import Inventory
from policycheck.sources.azure import AzureOptions, collect

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "azure"

TENANT_ID = "72f988bf-0000-4000-8000-00000000a2e1"
CLIENT_ID = "5f0c4a8e-0000-4000-8000-0000000c11e7"
#: Recognisable so tests can prove it never leaks into output.
CLIENT_SECRET = "S3CRET-client-secret-do-not-print-7f1c"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJmYWtlIjoiYXJtIn0.TOKEN-do-not-print-91ab"

#: List calls per subscription, by the ARM path after ``/subscriptions/{id}``;
#: the value is the fixture file name.
_PAGED_LISTS = {
    "/providers/microsoft.network/networksecuritygroups": "networkSecurityGroups",
    "/providers/microsoft.network/networkinterfaces": "networkInterfaces",
    "/providers/microsoft.network/virtualnetworks": "virtualNetworks",
    "/providers/microsoft.network/applicationsecuritygroups": "applicationSecurityGroups",
    "/providers/microsoft.compute/virtualmachines": "virtualMachines",
}
_SERVICE_TAGS = re.compile(r"^/providers/microsoft\.network/locations/([^/]+)/servicetags$")
#: ARM's error code and message for the failures tests inject, by HTTP status.
_FAILURES = {
    401: ("InvalidAuthenticationToken", "The access token is invalid."),
    403: (
        "AuthorizationFailed",
        "The client does not have authorization to perform action "
        "'Microsoft.Network/networkSecurityGroups/read' over scope '/subscriptions/{sub}'.",
    ),
    # The SDK answers this one with a provider-registration POST (a write).
    409: (
        "MissingSubscriptionRegistration",
        "The subscription is not registered to use namespace 'Microsoft.Network'.",
    ),
}
_SUBSCRIPTION_PATH = re.compile(r"^/subscriptions/([^/]+)(/.*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None

    @property
    def is_arm(self) -> bool:
        return self.path.lower().startswith(("/subscriptions", "/providers"))


@dataclass
class FakeArm:
    """State of one running fake: what it serves and what it was asked."""

    url: str
    ca_path: Path
    estate_dir: Path
    requests: list[Recorded] = field(default_factory=list)
    #: Subscription id -> HTTP status every request under it gets (e.g. 403).
    failures: dict[str, int] = field(default_factory=dict)
    #: Extra subscriptions the subscription list shows (e.g. one that fails).
    extra_subscriptions: list[str] = field(default_factory=list)
    #: Subscription id (or ``"*"`` for every ARM request) -> a broken answer (misbehave.py).
    misbehaviour: dict[str, Misbehaviour] = field(default_factory=dict)
    #: Where service-tag ``nextLink``s point (None: this server), e.g. another host.
    service_tags_link_base: str | None = None
    #: Set at teardown: ends the handlers of "hang".
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def misbehave(self, subscription: str, mode: str, times: int | None = None) -> None:
        """Answer ARM requests under ``subscription`` (``"*"``: all ARM requests) with
        ``mode`` from misbehave.MODES, the first ``times`` times or always."""
        self.misbehaviour[subscription] = Misbehaviour(mode, times)

    def use_estate(self, estate: str | Path) -> None:
        """Serve another estate: a name under fixtures/azure/ or a directory."""
        self.estate_dir = estate if isinstance(estate, Path) else FIXTURES / estate

    def subscription_ids(self) -> list[str]:
        return [s["subscriptionId"] for s in self._subscriptions()]

    def env(self) -> dict[str, str]:
        """Environment for DefaultAzureCredential's EnvironmentCredential against this server.

        ``AZURE_TOKEN_CREDENTIALS=EnvironmentCredential`` (documented by
        azure-identity) keeps DefaultAzureCredential from also trying managed
        identity or the Azure CLI on the test machine.
        """
        return {
            "AZURE_TENANT_ID": TENANT_ID,
            "AZURE_CLIENT_ID": CLIENT_ID,
            "AZURE_CLIENT_SECRET": CLIENT_SECRET,
            "AZURE_AUTHORITY_HOST": self.url,
            "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
        }

    def arm_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.is_arm]

    def record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def _subscriptions(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = _read(self.estate_dir / "subscriptions.json")["value"]
        extra = [
            {
                "id": f"/subscriptions/{sub}",
                "subscriptionId": sub,
                "tenantId": TENANT_ID,
                "displayName": f"extra-{sub[:8]}",
                "state": "Enabled",
                "authorizationSource": "RoleBased",
            }
            for sub in self.extra_subscriptions
        ]
        return [*listed, *extra]


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _arm_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; tests read ``FakeArm.requests`` instead."""

    # ------------------------------------------------------------------ plumbing

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _record(self) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        self.server.fake.record(
            Recorded(self.command, parts.path, query, self.headers.get("Authorization"))
        )
        return parts.path, query

    def do_GET(self) -> None:
        path, query = self._record()
        if path.startswith(f"/{TENANT_ID}/"):
            self._openid_configuration(path)
        else:
            self._arm(path, query)

    def do_POST(self) -> None:
        path, _ = self._record()
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        if path == f"/{TENANT_ID}/oauth2/v2.0/token":
            self._token(form)
        else:
            self._send(405, _arm_error("MethodNotAllowed", f"POST {path} is not served"))

    def _refuse_write(self) -> None:
        self._record()
        self._send(405, _arm_error("MethodNotAllowed", "this fake is read-only"))

    do_PUT = do_PATCH = do_DELETE = _refuse_write

    # ------------------------------------------------------------------ Entra ID

    def _openid_configuration(self, path: str) -> None:
        if path != f"/{TENANT_ID}/v2.0/.well-known/openid-configuration":
            self._send(404, {"error": "not_found"})
            return
        base = f"{self.server.fake.url}/{TENANT_ID}"
        self._send(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{self.server.fake.url}/{TENANT_ID}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "tenant_region_scope": "EU",
            },
        )

    def _token(self, form: dict[str, list[str]]) -> None:
        def one(key: str) -> str:
            return (form.get(key) or [""])[0]

        if one("grant_type") != "client_credentials" or one("client_id") != CLIENT_ID:
            self._send(400, {"error": "unauthorized_client", "error_description": "AADSTS700016"})
            return
        if one("client_secret") != CLIENT_SECRET:
            self._send(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                    "error_codes": [7000215],
                },
            )
            return
        self._send(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": ACCESS_TOKEN,
            },
        )

    # ----------------------------------------------------------------------- ARM

    def _arm(self, path: str, query: dict[str, list[str]]) -> None:
        fake = self.server.fake
        match = _SUBSCRIPTION_PATH.match(path)
        for key in ("*", match.group(1) if match else ""):
            bad = fake.misbehaviour.get(key)
            if bad is not None and bad.take():
                answer(self, bad.mode, fake.release)
                return
        if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            code, message = _FAILURES[401]
            challenge = 'Bearer authorization_uri="https://login.example", error="invalid_token"'
            self._send(401, _arm_error(code, message), {"WWW-Authenticate": challenge})
            return
        if not query.get("api-version"):
            self._send(
                400,
                _arm_error(
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                ),
            )
            return
        if path.rstrip("/").lower() == "/subscriptions":
            self._page(path, query, fake._subscriptions())
            return
        if not match:
            self._send(404, _arm_error("NotFound", f"no route for {path}"))
            return
        sub, rest = match.group(1), (match.group(2) or "").lower()
        if sub in fake.failures:
            status = fake.failures[sub]
            code, message = _FAILURES.get(status, ("InternalServerError", "Internal error."))
            self._send(status, _arm_error(code, message.format(sub=sub)))
            return
        sub_dir = fake.estate_dir / sub
        if not sub_dir.is_dir():
            self._send(
                404,
                _arm_error("SubscriptionNotFound", f"The subscription '{sub}' could not be found."),
            )
            return
        name = _PAGED_LISTS.get(rest) or ("serviceTags" if _SERVICE_TAGS.match(rest) else "")
        source = sub_dir / f"{name}.json"
        if not name or not source.is_file():
            # A fixture left out on purpose: the call fails as an unknown route does.
            self._send(404, _arm_error("NotFound", f"no route for {path}"))
        elif name == "serviceTags":
            self._service_tags(path, query, _read(source))
        else:
            self._page(path, query, _read(source)["value"])

    def _service_tags(self, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> None:
        """A ServiceTagsListResult, one tag per page linked by ``nextLink``: the SDK's
        operation returns the first page only, so the collector must follow it."""
        values = body.get("values") or []
        index = int((query.get("$skiptoken") or ["0"])[0])
        page = {k: v for k, v in body.items() if k != "values"}
        page["values"] = values[index : index + 1]
        if index + 1 < len(values):
            next_query = urlencode(
                {"api-version": query["api-version"][0], "$skiptoken": index + 1}
            )
            base = self.server.fake.service_tags_link_base or self.server.fake.url
            page["nextLink"] = f"{base}{path}?{next_query}"
        self._send(200, page)

    def _page(self, path: str, query: dict[str, list[str]], items: list[dict[str, Any]]) -> None:
        """One resource per page, and never fewer than two pages, so paging is always exercised."""
        pages = [items[i : i + 1] for i in range(len(items))]
        while len(pages) < 2:
            pages.append([])
        index = int((query.get("$skiptoken") or ["0"])[0])
        body: dict[str, Any] = {"value": pages[index]}
        if index + 1 < len(pages):
            next_query = urlencode(
                {"api-version": query["api-version"][0], "$skiptoken": index + 1}
            )
            body["nextLink"] = f"{self.server.fake.url}{path}?{next_query}"
        self._send(200, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeArm


@functools.cache
def _ca() -> tuple[trustme.CA, Path]:
    """One throwaway CA per test process, its PEM in a directory removed at exit."""
    ca = trustme.CA()
    directory = tempfile.mkdtemp(prefix="policycheck-azure-ca-")
    atexit.register(shutil.rmtree, directory, True)
    path = Path(directory) / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


@pytest.fixture
def fake_arm() -> Iterator[FakeArm]:
    """A running fake ARM + Entra ID on 127.0.0.1 (ephemeral port), serving the broken estate."""
    with running_fake_arm() as fake:
        yield fake


@contextlib.contextmanager
def running_fake_arm() -> Iterator[FakeArm]:
    """The fake outside pytest (benchmarks/fingerprints.py scans the fixtures with it)."""
    ca, ca_path = _ca()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    server.fake = FakeArm(
        url=f"https://127.0.0.1:{port}", ca_path=ca_path, estate_dir=FIXTURES / "broken"
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-arm", daemon=True
    )
    thread.start()
    try:
        yield server.fake
    finally:
        server.fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def azure_env(fake_arm: FakeArm, monkeypatch: pytest.MonkeyPatch) -> FakeArm:
    """The documented EnvironmentCredential variables, pointing at the fake."""
    for name, value in fake_arm.env().items():
        monkeypatch.setenv(name, value)
    return fake_arm


def read_arm(arm: FakeArm, subscriptions: list[str] | None = None, **kw: Any) -> Inventory:
    """The live collector against the fake (``azure_env`` set up the credential)."""
    return collect(
        AzureOptions(
            subscriptions=subscriptions,
            base_url=arm.url,
            disable_instance_discovery=True,
            **kw,
        )
    )
