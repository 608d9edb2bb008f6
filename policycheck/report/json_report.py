"""``--format json``: the documented machine-readable report (docs/report-json.md).

The ``schema`` value changes only when a field is removed or changes meaning, so
scripts can check it; new fields may be added within ``policycheck/report/v2``.
v2 replaced v1's collapsed ``protocol``/``ports`` with the exact ``region``.
"""

from __future__ import annotations

from typing import Any

from policycheck.findings import Finding, ScanResult
from policycheck.report.common import (
    baseline_counts,
    message,
    places,
    sorted_findings,
    summarize,
    suppression_status_text,
    tool_json,
)
from policycheck.report.evidence import evidence_json
from policycheck.report.stream import Streamed, Write, collect, dump

JSON_SCHEMA_ID = "policycheck/report/v2"


def render_json(result: ScanResult) -> str:
    return collect(lambda write: write_json(result, write)).decode()


def write_json(result: ScanResult, write: Write) -> None:
    """The report through ``write``, one finding at a time (see report/stream.py)."""
    dump(build_json(result, streamed=True), write)
    write(b"\n")


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


def build_json(result: ScanResult, *, streamed: bool = False) -> dict[str, Any]:
    """The report as a document; ``streamed`` leaves the findings to be produced
    while writing."""
    summary = summarize(result)
    findings = (_finding(finding) for finding in sorted_findings(result.findings))
    document: dict[str, Any] = {
        "schema": JSON_SCHEMA_ID,
        "tool": tool_json(result.tool_version),
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
        "findings": Streamed(findings) if streamed else list(findings),
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
    if result.shard is not None:
        document["shard"] = result.shard.model_dump()
    if result.evidence is not None:
        document["evidence"] = evidence_json(result.evidence)
    return document


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
