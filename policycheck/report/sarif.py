"""SARIF 2.1.0 for GitHub code scanning.

Valid against the official OASIS schema (vendored in ``schemas/``) and shaped by
GitHub's rules for uploaded SARIF: one run, every rule described, every result with
a physical location, a ``partialFingerprints.primaryLocationLineHash`` and a
category in ``automationDetails.id``. See docs/sarif.md for the decisions.
"""

from __future__ import annotations

import itertools
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from policycheck.findings import RULES, Finding, ScanResult, VMEvidence
from policycheck.model import CollectionError
from policycheck.report.common import (
    TOOL_NAME,
    headline,
    information_uri,
    message,
    rule_refs_text,
    sorted_findings,
)
from policycheck.report.evidence import evidence_sarif_results
from policycheck.report.rule_help import help_markdown, help_text
from policycheck.report.stream import Streamed, Write, collect, dump

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"
PROVIDERS = ("aws", "azure", "gcp")
#: Source kinds whose value is a file path (``terraform:plan.json``).
FILE_SOURCE_KINDS = ("terraform", "snapshot")
COLLECTION_ERROR_ID = "collection-error"
#: GitHub's ``problem.severity`` has no "note"; "recommendation" is its lowest.
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}
#: Characters RFC 3986 allows unescaped in a path (pchar plus "/").
_URI_SAFE = "/:@!$&'()*+,;=-._~"
_DRIVE = re.compile(r"^[A-Za-z]:/")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def render_sarif(result: ScanResult, *, category: str | None = None) -> str:
    return collect(lambda write: write_sarif(result, write, category=category)).decode()


def write_sarif(result: ScanResult, write: Write, *, category: str | None = None) -> None:
    """The log through ``write``, one result at a time (see report/stream.py)."""
    dump(build_sarif(result, category=category, streamed=True), write)


def build_sarif(
    result: ScanResult, *, category: str | None = None, streamed: bool = False
) -> dict[str, Any]:
    """The SARIF log; ``streamed`` leaves the results to be produced while writing."""
    rule_ids = sorted(RULES)
    results: Iterable[dict[str, Any]] = (
        _result(f, rule_ids.index(f.rule_id), result.sources)
        for f in sorted_findings(result.findings)
    )
    if result.evidence is not None:
        results = itertools.chain(
            results,
            evidence_sarif_results(
                result.evidence, rule_ids, lambda vm: _vm_location(vm, result.sources)
            ),
        )
    run: dict[str, Any] = {
        "tool": {"driver": _driver(result.tool_version, rule_ids)},
        "automationDetails": {"id": automation_id(category, _source_kinds(result))},
        "originalUriBaseIds": {
            SRCROOT: {
                "description": {
                    "text": "The root of the scanned repository (the working directory "
                    "policycheck ran in); every result URI is relative to it."
                }
            }
        },
        "invocations": [_invocation(result.errors)],
        "results": Streamed(results) if streamed else list(results),
        "columnKind": "unicodeCodePoints",
        "properties": {
            "sources": list(result.sources),
            "vmCount": result.vm_count,
            "firewallCount": result.firewall_count,
            "incomplete": result.incomplete,
            **({"shard": result.shard.model_dump()} if result.shard is not None else {}),
        },
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def _vm_location(vm: VMEvidence, sources: list[str]) -> dict[str, Any]:
    """Where a VM's evidence points: the first plan or snapshot file read, else the
    VM's stable pseudo-path (see :func:`artifact_region`)."""
    uri = next(
        (
            relative_uri(value)
            for kind, _, value in (s.partition(":") for s in sources)
            if kind in FILE_SOURCE_KINDS and value
        ),
        pseudo_uri(vm.provider, vm.vm_id),
    )
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri, "uriBaseId": SRCROOT},
            "region": {"startLine": 1, "endLine": 1},
        },
        "logicalLocations": [
            {"fullyQualifiedName": vm.vm_id, "kind": "resource", "name": vm.vm_name}
        ],
    }


# ---------------------------------------------------------------------- rules


def _driver(version: str, rule_ids: list[str]) -> dict[str, Any]:
    return {
        "name": TOOL_NAME,
        "version": version,
        "semanticVersion": version,
        "informationUri": information_uri(),
        "rules": [_rule(rule_id) for rule_id in rule_ids],
        "notifications": [
            {
                "id": COLLECTION_ERROR_ID,
                "name": "CollectionError",
                "shortDescription": {"text": "Part of the estate could not be read."},
                "fullDescription": {
                    "text": "A region, account, subscription, project or input file could "
                    "not be read, so the findings cover the rest of the estate only."
                },
                "defaultConfiguration": {"level": "error"},
            }
        ],
    }


def _rule(rule_id: str) -> dict[str, Any]:
    rule = RULES[rule_id]
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {"text": help_text(rule), "markdown": help_markdown(rule)},
        "defaultConfiguration": {"level": rule.level},
        "properties": {
            "tags": ["security", "network", "firewall", "swyx", *PROVIDERS],
            # GitHub reads a string and maps it to critical/high/medium/low.
            "security-severity": f"{rule.security_severity:.1f}",
            "precision": rule.precision,
            "problem.severity": PROBLEM_SEVERITY[rule.level],
        },
    }


# -------------------------------------------------------------------- results


def _result(finding: Finding, rule_index: int, sources: list[str]) -> dict[str, Any]:
    uri, start, end = artifact_region(finding, sources)
    logical: dict[str, Any] = {"fullyQualifiedName": finding.resource, "kind": "resource"}
    if finding.primary is not None:
        logical["name"] = finding.primary.firewall_name
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": finding.level,
        "message": {"text": f"{headline(finding)} {message(finding)}".strip()},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": SRCROOT},
                    "region": {"startLine": start, "endLine": end},
                },
                "logicalLocations": [logical],
            }
        ],
        # No line numbers in it: an alert survives unrelated edits to the file.
        "partialFingerprints": {"primaryLocationLineHash": finding.fingerprint()},
        "properties": {
            "vm": finding.vm_name,
            "vmId": finding.vm_id,
            "resource": finding.resource,
            "provider": finding.provider,
            "direction": finding.direction,
            # Exactly the JSON report's region: per part, its protocol, ports and peers.
            "region": [part.model_dump(mode="json") for part in finding.region],
            "peers": list(finding.peers),
            "catalogRows": list(finding.catalog_rows),
            "hints": [hint.model_dump(mode="json") for hint in finding.hints],
            "firewallRules": rule_refs_text(finding),
            "remediation": finding.remediation,
        },
    }
    if finding.drift is not None:
        result["properties"]["drift"] = finding.drift.model_dump(mode="json")
    if finding.suppression is not None:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": finding.suppression.reason,
                "properties": {
                    "expires": finding.suppression.expires.isoformat(),
                    "match": finding.suppression.match,
                },
            }
        ]
    return result


def artifact_region(finding: Finding, sources: list[str]) -> tuple[str, int, int]:
    """The file and lines GitHub annotates; every result needs one.

    1. The primary responsible rule's declaration (``.tf`` file and lines).
    2. Otherwise the first plan or snapshot file the scan read, line 1.
    3. Otherwise (live cloud) ``policycheck/<provider>/<resource>``, line 1: a
       stable pseudo-path per resource, like image names in container scanners'
       SARIF. GitHub accepts the result and lists it without a code annotation.
    """
    ref = finding.primary
    if ref is not None and ref.provenance.file:
        start = max(ref.provenance.start_line or 1, 1)
        end = max(ref.provenance.end_line or start, start)
        return relative_uri(ref.provenance.file), start, end
    for source in sources:
        kind, _, value = source.partition(":")
        if kind in FILE_SOURCE_KINDS and value:
            return relative_uri(value), 1, 1
    return pseudo_uri(finding.provider, finding.resource), 1, 1


def relative_uri(path: str) -> str:
    """A repository-relative URI: forward slashes, no leading slash, escaped.

    Absolute paths under the working directory (the checkout, in CI) become
    relative to it; other absolute paths lose their root, since GitHub resolves
    every URI against the repository root anyway.
    """
    text = path.replace("\\", "/")
    cwd = Path.cwd().as_posix().rstrip("/") + "/"
    if text.startswith(cwd):
        text = text[len(cwd) :]
    text = _DRIVE.sub("", text).lstrip("/")
    text = posixpath.normpath(text) if text else "."
    return quote(str(PurePosixPath(text)), safe=_URI_SAFE)


def pseudo_uri(provider: str, resource: str) -> str:
    """``policycheck/aws/arn:aws:ec2:...:security-group/sg-1``: stable per resource."""
    text = _SCHEME.sub("", resource).lstrip("/")
    return quote(f"{TOOL_NAME}/{provider}/{text}", safe=_URI_SAFE)


# ---------------------------------------------------------------- run details


def _source_kinds(result: ScanResult) -> list[str]:
    """What was scanned; a shard that had nothing to read still says what it scanned,
    so its run lands in the same category as its siblings'."""
    if not result.sources and result.shard is not None:
        return [f"{result.shard.scan}:"]
    return list(result.sources)


def automation_id(category: str | None, sources: list[str]) -> str:
    """``category/`` for GitHub: everything before the last slash is the category.

    A given ``--category`` is kept and gets the trailing slash codeql-action's
    upload-sarif also appends, so both spellings name the same category. Without
    one: ``policycheck/<source kinds>/``, e.g. ``policycheck/terraform/``, which
    is stable across runs of the same kind of scan.
    """
    if category and category.strip():
        text = category.strip()
    else:
        kinds = sorted({s.partition(":")[0] for s in sources if s}) or ["scan"]
        text = f"{TOOL_NAME}/{'+'.join(kinds)}"
    return text if text.endswith("/") else f"{text}/"


def _invocation(errors: list[CollectionError]) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": not errors}
    if errors:
        invocation["toolExecutionNotifications"] = [
            {
                "level": "error",
                "message": {"text": f"{e.provider} {e.scope}: {e.message}"},
                "descriptor": {"id": COLLECTION_ERROR_ID, "index": 0},
                "properties": {"provider": e.provider, "scope": e.scope},
            }
            for e in errors
        ]
    return invocation
