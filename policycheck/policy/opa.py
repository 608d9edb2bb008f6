"""Evaluating on an OPA server through opa-python-client (OPA's REST API).

For one scan: ``PUT /v1/policies/policycheck/<file>`` for every module, ``PUT
/v1/data/<key>`` (or a JSON patch adding it) for every top-level key of the
policies' data documents, then
``POST /v1/data/<package>/<rule>?strict-builtin-errors=true`` with the input
document for each query; afterwards every uploaded policy and data document is
deleted again, whether the scan succeeded or not. Policy ids are fixed per file,
so a repeated upload replaces the previous one.

Errors carry OPA's own message and name the OPA URL and the policy (OPA reports
compile errors with the file, which is the policy id, and row).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import click

from policycheck.errors import InputError, one_line
from policycheck.policy.batches import union
from policycheck.policy.session import TIMEOUT_HINT, Answers, Query
from policycheck.policy.source import Source

#: Uploaded policies live under this id prefix on the server.
POLICY_ID_PREFIX = "policycheck/"

Json = dict[str, Any]


def opa_address(url: str) -> tuple[str, int, bool, str]:
    """Host, port and TLS from ``http(s)://host[:port]``; the text shown in errors
    has no credentials."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--opa-url {url!r}: expected http://host:port or https://host:port")
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise InputError(
            f"--opa-url {parts.scheme}://{parts.hostname}: give only scheme, host and port "
            "(opa-python-client always talks to /v1 at the server root)"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InputError(f"--opa-url {parts.scheme}://{parts.hostname}: invalid port") from exc
    shown = f"{parts.scheme}://{parts.hostname}:{port}"
    return parts.hostname, port, parts.scheme == "https", shown


def policy_id(source: Source) -> str:
    return POLICY_ID_PREFIX + source.display.lstrip("/")


def run_opa(
    url: str,
    sources: Sequence[Source],
    data: Json,
    documents: Sequence[Json],
    queries: Sequence[Query],
    *,
    timeout: float,
) -> Answers:
    """Upload, query every input document (batch), clean up; ``{query: (defined,
    value)}`` with the batches' answers united. ``timeout``: seconds the whole
    evaluation may take, and each request."""
    import requests
    from opa_client import OpaClient
    from opa_client.errors import RegoParseError

    host, port, ssl, shown = opa_address(url)
    client = OpaClient(host=host, port=port, ssl=ssl, timeout=timeout)
    by_id = {policy_id(s): s for s in sources}
    uploaded_policies: list[str] = []
    uploaded_data: list[str] = []
    answers: dict[str, list[tuple[bool, Any]]] = {q.expr: [] for q in queries}
    deadline = time.monotonic() + timeout
    step = f"--opa-url {shown}"
    try:
        for pid, src in by_id.items():
            step = f"--opa-url {shown} policy {pid}"
            # rego_compat=False: OPA gets the module exactly as written.
            client.update_policy_from_string(src.text, pid, rego_compat=False)
            uploaded_policies.append(pid)
        for key, value in data.items():
            step = f"--opa-url {shown} data.{key}"
            if isinstance(value, dict):
                client.update_or_create_data(value, key)
            else:  # the client PUTs objects only; a JSON patch adds any value
                client.patch_data("", [{"op": "add", "path": f"/{key}", "value": value}])
            uploaded_data.append(key)
        for document in documents:
            for query in queries:
                step = f"--opa-url {shown} {query.where}"
                if time.monotonic() > deadline:
                    raise requests.Timeout()
                package, _, rule = query.expr.removeprefix("data.").rpartition(".")
                response = client.query_rule(
                    input_data=document,
                    package_path=package,
                    rule_name=rule,
                    query_params={"strict-builtin-errors": True},
                )
                if not isinstance(response, dict):
                    kind = type(response).__name__
                    raise InputError(f"{step}: OPA answered {kind}, not an object")
                answers[query.expr].append(("result" in response, response.get("result")))
    except RegoParseError as exc:
        raise InputError(f"{step}: OPA refused the policy: {_compile_errors(exc, by_id)}") from exc
    except requests.Timeout as exc:
        raise InputError(f"{step}: no answer within {timeout:g} s {TIMEOUT_HINT}") from exc
    except requests.RequestException as exc:
        raise InputError(f"{step}: {_request_problem(exc)}") from exc
    except InputError:
        raise
    except Exception as exc:  # opa-python-client's own errors carry OPA's message
        raise InputError(f"{step}: OPA refused the request: {one_line(str(exc))}") from exc
    finally:
        _clean_up(client, uploaded_policies, uploaded_data, shown)
        client.close_connection()
    return {expr: union(given) for expr, given in answers.items()}


def _compile_errors(exc: Any, by_id: dict[str, Source]) -> str:
    """OPA's compile errors as ``file.rego:ROW: message`` (its file is the policy id)."""
    errors = getattr(exc, "errors", None) or []
    texts: list[str] = []
    for err in errors[:3]:
        if not isinstance(err, dict):
            continue
        location = err.get("location") or {}
        file = str(location.get("file") or "")
        src = by_id.get(file)
        name = src.display if src is not None else file
        row = location.get("row")
        where = f"{name}:{row}: " if name and row else (f"{name}: " if name else "")
        texts.append(f"{where}{one_line(str(err.get('message', '')))}")
    return "; ".join(texts) or one_line(str(getattr(exc, "message", exc)))


def _request_problem(exc: Exception) -> str:
    """What went wrong, with OPA's message when it sent one."""
    response = getattr(exc, "response", None)
    if response is None:
        return f"OPA request failed ({type(exc).__name__})"
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if message:
        return f"OPA answered HTTP {response.status_code}: {one_line(str(message))}"
    return f"OPA answered HTTP {response.status_code}"


def _clean_up(client: Any, policies: Sequence[str], data: Sequence[str], shown: str) -> None:
    """Delete what this scan uploaded; a failure is reported, never fatal."""
    left: list[str] = []
    for pid in policies:
        try:
            client.delete_policy(pid)
        except Exception:
            left.append(f"policy {pid}")
    for key in data:
        try:
            client.delete_data(key)
        except Exception:
            left.append(f"data.{key}")
    if left:
        click.echo(
            f"policycheck: warning: --opa-url {shown}: could not remove {', '.join(left)}",
            err=True,
        )
