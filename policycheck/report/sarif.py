"""SARIF 2.1.0 for GitHub code scanning.

Valid against the official OASIS schema (vendored in ``schemas/``) and shaped by
GitHub's rules for uploaded SARIF: one run, every rule described, every result with
a physical location, a ``partialFingerprints.primaryLocationLineHash`` and a
category in ``automationDetails.id``. See docs/sarif.md for the decisions.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import re
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from policycheck.findings import (
    RULES,
    BaselineFinding,
    Finding,
    PolicyRule,
    ScanResult,
    Suppression,
    SuppressionState,
    SuppressionStatus,
    VMEvidence,
)
from policycheck.report.common import (
    TOOL_NAME,
    baseline_counts,
    information_uri,
    message,
    places,
    rule_ids,
    rule_refs_text,
    sorted_findings,
    suppression_status_text,
)
from policycheck.report.evidence import evidence_sarif_results
from policycheck.report.rule_help import (
    help_markdown,
    help_text,
    policy_help_markdown,
    policy_help_text,
)
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
#: Notification descriptors for suppressions that did not apply, in the order of
#: ``driver.notifications`` (a notification's descriptor index points there).
SUPPRESSION_NOTIFICATIONS: dict[SuppressionState, str] = {
    "expired": "suppression-expired",
    "unmatched": "suppression-unmatched",
}
NOTIFICATION_IDS = (COLLECTION_ERROR_ID, *SUPPRESSION_NOTIFICATIONS.values())
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
    ids = rule_ids(result)
    index = {rule_id: i for i, rule_id in enumerate(ids)}
    policy_rules = {r.id: r for r in result.policy_rules}
    # Help shows the Terraform examples of the clouds this scan covers only.
    clouds: set[str] = {f.provider for f in result.findings if f.provider} | {
        vm.provider for vm in result.vms
    }
    results = itertools.chain(
        (_result(f, index[f.rule_id], result.sources) for f in sorted_findings(result.findings)),
        (
            _absent_result(f, index[f.rule_id])
            for f in (result.baseline.absent if result.baseline else [])
        ),
        evidence_sarif_results(
            result.evidence or [], ids, lambda vm: _vm_location(vm, result.sources)
        ),
    )
    run: dict[str, Any] = {
        "tool": {"driver": _driver(result.tool_version, ids, clouds or None, policy_rules)},
        "automationDetails": {"id": automation_id(category, _source_kinds(result))},
        "originalUriBaseIds": {
            SRCROOT: {
                "description": {
                    "text": "The root of the scanned repository (the working directory "
                    "policycheck ran in); every result URI is relative to it."
                }
            }
        },
        "invocations": [_invocation(result)],
        "results": Streamed(results) if streamed else list(results),
        "columnKind": "unicodeCodePoints",
        "properties": {
            "sources": list(result.sources),
            "profile": result.profile,
            "vmCount": result.vm_count,
            "firewallCount": result.firewall_count,
            "incomplete": result.incomplete,
            "suppressionsExpired": len(result.suppressions_in("expired")),
            "suppressionsUnmatched": len(result.suppressions_in("unmatched")),
            **({"shard": result.shard.model_dump()} if result.shard is not None else {}),
        },
    }
    if result.baseline is not None:
        counts = baseline_counts(result)
        run["properties"]["baseline"] = {
            "path": result.baseline.path,
            "kind": result.baseline.kind,
            "new": counts.new,
            "unchanged": counts.unchanged,
            "absent": counts.absent,
        }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


# ---------------------------------------------------------------------- rules


def _driver(
    version: str,
    ids: list[str],
    clouds: set[str] | None,
    policy_rules: dict[str, PolicyRule],
) -> dict[str, Any]:
    return {
        "name": TOOL_NAME,
        "version": version,
        "semanticVersion": version,
        "informationUri": information_uri(),
        "rules": [
            _rule(rule_id, clouds)
            if rule_id in RULES
            else _policy_rule(rule_id, policy_rules.get(rule_id))
            for rule_id in ids
        ],
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
            },
            {
                "id": SUPPRESSION_NOTIFICATIONS["expired"],
                "name": "SuppressionExpired",
                "shortDescription": {"text": "A suppression has expired."},
                "fullDescription": {
                    "text": "A profile suppression or inline ignore is past its expiry date: "
                    "it no longer applies, and the findings it matches are active again."
                },
                "defaultConfiguration": {"level": "warning"},
            },
            {
                "id": SUPPRESSION_NOTIFICATIONS["unmatched"],
                "name": "SuppressionUnmatched",
                "shortDescription": {"text": "A suppression suppressed nothing."},
                "fullDescription": {
                    "text": "A valid profile suppression or inline ignore matched no finding: "
                    "the access it accepted is gone, or its selectors are wrong."
                },
                "defaultConfiguration": {"level": "note"},
            },
        ],
    }


def _rule(rule_id: str, clouds: set[str] | None) -> dict[str, Any]:
    rule = RULES[rule_id]
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {"text": help_text(rule, clouds), "markdown": help_markdown(rule, clouds)},
        "defaultConfiguration": {"level": rule.level},
        "properties": {
            "tags": ["security", "network", "firewall", "swyx", *PROVIDERS],
            # GitHub reads a string and maps it to critical/high/medium/low.
            "security-severity": f"{rule.security_severity:.1f}",
            "precision": rule.precision,
            "problem.severity": PROBLEM_SEVERITY[rule.level],
        },
    }


def _policy_rule(rule_id: str, rule: PolicyRule | None) -> dict[str, Any]:
    """A user policy's rule, from its METADATA (docs/rego.md)."""
    if rule is None:  # a result id no METADATA describes: still a described rule
        return {"id": rule_id, "shortDescription": {"text": rule_id}}
    out: dict[str, Any] = {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {"text": policy_help_text(rule), "markdown": policy_help_markdown(rule)},
        "defaultConfiguration": {"level": rule.level},
        "properties": {
            "tags": ["security", "network", "firewall", "policy", "rego"],
            "security-severity": f"{rule.security_severity:.1f}",
            "problem.severity": PROBLEM_SEVERITY[rule.level],
            "package": rule.package,
            "policyFile": rule.file,
            "policyLine": rule.line,
        },
    }
    web = [ref for ref in rule.related if ref.startswith(("https://", "http://"))]
    if web:
        out["helpUri"] = web[0]
    return out


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
        # The title is the rule's shortDescription, shown beside the message.
        "message": {"text": message(finding)},
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
    if finding.policy is not None:
        result["properties"]["policy"] = {
            "package": finding.policy.package,
            "rule": finding.policy.rule,
            "file": finding.policy.file,
            "line": finding.policy.line,
            "details": finding.policy.details,
        }
    consoles = [p.console_url for p in places(finding) if p.console_url]
    if consoles:
        # Live scans: the console pages of the responsible firewalls, in rule order.
        result["properties"]["consoleUrls"] = list(dict.fromkeys(consoles))
    if finding.drift is not None:
        result["properties"]["drift"] = finding.drift.model_dump(mode="json")
    if finding.suppression is not None:
        result["suppressions"] = [_suppression(finding.suppression)]
    if finding.baseline_state is not None:
        result["baselineState"] = finding.baseline_state
    return result


def _absent_result(finding: BaselineFinding, rule_index: int) -> dict[str, Any]:
    """A baseline finding this scan no longer has: kind ``pass`` (so its level is
    ``none``, as SARIF requires) and ``baselineState: absent``, at the place and
    with the fingerprint the baseline gave it, so code scanning closes its alert."""
    if finding.file:
        uri = relative_uri(finding.file)
        start = max(finding.start_line or 1, 1)
        end = max(finding.end_line or start, start)
    else:
        uri, start, end = pseudo_uri(finding.provider, finding.resource), 1, 1
    return {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "kind": "pass",
        "level": "none",
        "baselineState": "absent",
        "message": {"text": f"No longer found (was {finding.level}): {finding.message}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": SRCROOT},
                    "region": {"startLine": start, "endLine": end},
                },
                "logicalLocations": [{"fullyQualifiedName": finding.resource, "kind": "resource"}],
            }
        ],
        "partialFingerprints": {"primaryLocationLineHash": finding.fingerprint},
        "properties": {
            "vm": finding.vm_name,
            "vmId": finding.vm_id,
            "resource": finding.resource,
            "provider": finding.provider,
            "direction": finding.direction,
            "baselineLevel": finding.level,
        },
    }


def _suppression(sup: Suppression) -> dict[str, Any]:
    """``external`` for the profile's; ``inSource`` with the comment's location for
    an inline ignore."""
    out: dict[str, Any] = {
        "kind": sup.kind,
        "status": "accepted",
        "justification": sup.reason,
        "properties": {"expires": sup.expires.isoformat(), "match": sup.match},
    }
    if sup.file is not None:
        out["location"] = _source_line(sup.file, sup.line)
    return out


def _source_line(file: str, line: int | None) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": relative_uri(file), "uriBaseId": SRCROOT},
            "region": {"startLine": max(line or 1, 1)},
        }
    }


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
    return pseudo_uri(finding.provider or "policy", finding.resource), 1, 1


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


def relative_uri(path: str) -> str:
    """A repository-relative URI: forward slashes, no leading slash, escaped.

    Absolute paths under the working directory (the checkout, in CI) become
    relative to it; other absolute paths lose their root, since GitHub resolves
    every URI against the repository root anyway.
    """
    # os.getcwd, not Path.cwd(): a Path parsed per result cost more than the cached rest.
    return _relative_uri(path, os.getcwd().replace(os.sep, "/").rstrip("/") + "/")


# Every result names a file, nearly always one of a few (the plan, its .tf files).
@lru_cache(maxsize=1 << 12)
def _relative_uri(path: str, cwd: str) -> str:
    text = path.replace("\\", "/")
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


def _invocation(result: ScanResult) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": not result.errors}
    if result.errors:
        invocation["toolExecutionNotifications"] = [
            {
                "level": "error",
                "message": {"text": f"{e.provider} {e.scope}: {e.message}"},
                "descriptor": {"id": COLLECTION_ERROR_ID, "index": 0},
                "properties": {"provider": e.provider, "scope": e.scope},
            }
            for e in result.errors
        ]
    notices = [
        _suppression_notification(s)
        for state in SUPPRESSION_NOTIFICATIONS
        for s in result.suppressions_in(state)
    ]
    if notices:
        invocation["toolConfigurationNotifications"] = notices
    return invocation


def _suppression_notification(status: SuppressionStatus) -> dict[str, Any]:
    """An expired or unmatched suppression: a configuration problem of the run."""
    ident = SUPPRESSION_NOTIFICATIONS[status.state]
    notice: dict[str, Any] = {
        "level": "warning" if status.state == "expired" else "note",
        "message": {"text": suppression_status_text(status)},
        "descriptor": {"id": ident, "index": NOTIFICATION_IDS.index(ident)},
        "properties": {
            "match": status.match,
            "kind": status.kind,
            "expires": status.expires.isoformat(),
            "findings": status.findings,
        },
    }
    if status.file is not None:
        notice["locations"] = [_source_line(status.file, status.line)]
    return notice
