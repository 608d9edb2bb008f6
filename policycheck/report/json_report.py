"""``--format json``: the documented machine-readable report (docs/report-json.md).

The ``schema`` value changes only when a field is removed or changes meaning, so
scripts can check it; new fields may be added within ``policycheck/report/v2``.
v2 replaced v1's collapsed ``protocol``/``ports`` with the exact ``region``.
"""

from __future__ import annotations

from typing import Any

import orjson

from policycheck.findings import Finding, ScanResult
from policycheck.report.common import (
    TOOL_NAME,
    baseline_counts,
    information_uri,
    message,
    places,
    sorted_findings,
    summarize,
    suppression_status_text,
)

JSON_SCHEMA_ID = "policycheck/report/v2"


def render_json(result: ScanResult) -> str:
    return orjson.dumps(build_json(result), option=orjson.OPT_INDENT_2).decode() + "\n"


def _finding(finding: Finding) -> dict[str, Any]:
    data = finding.model_dump(mode="json")
    # Each responsible rule's console page (live scans), beside its provenance.
    for rule, where in zip(data["rules"], places(finding), strict=True):
        rule["console_url"] = where.console_url
    return {
        **data,
        "message": message(finding),
        "fingerprint": finding.fingerprint(),
        "resource": finding.resource,
    }


def build_json(result: ScanResult) -> dict[str, Any]:
    summary = summarize(result)
    return {
        "schema": JSON_SCHEMA_ID,
        "tool": {
            "name": TOOL_NAME,
            "version": result.tool_version,
            "informationUri": information_uri(),
        },
        "sources": list(result.sources),
        "profile": result.profile,
        "summary": {
            "vms": summary.vms,
            "firewalls": summary.firewalls,
            "findings": summary.active,
            "findings_by_rule": summary.by_rule,
            "findings_by_level": summary.by_level,
            "suppressed": summary.suppressed,
            "suppressions_expired": summary.suppressions_expired,
            "suppressions_unmatched": summary.suppressions_unmatched,
            "incomplete": summary.incomplete,
            "baseline": _baseline_summary(result),
        },
        "vms": [{**vm.model_dump(mode="json"), "resource": vm.resource} for vm in result.vms],
        "findings": [_finding(finding) for finding in sorted_findings(result.findings)],
        "absent": [
            {**f.model_dump(mode="json"), "baseline_state": "absent"}
            for f in (result.baseline.absent if result.baseline else [])
        ],
        "errors": [error.model_dump(mode="json") for error in result.errors],
        "suppressions": [
            {**status.model_dump(mode="json"), "message": suppression_status_text(status)}
            for status in result.suppressions
        ],
    }


def _baseline_summary(result: ScanResult) -> dict[str, Any] | None:
    """Counts against the baseline (active findings, as ``findings``), or null."""
    if result.baseline is None:
        return None
    counts = baseline_counts(result)
    return {
        "path": result.baseline.path,
        "kind": result.baseline.kind,
        "new": counts.new,
        "unchanged": counts.unchanged,
        "absent": counts.absent,
    }
