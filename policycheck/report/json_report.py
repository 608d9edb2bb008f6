"""``--format json``: the documented machine-readable report (docs/report-json.md).

The ``schema`` value changes only when a field is removed or changes meaning, so
scripts can check it; new fields may be added within ``policycheck/report/v2``.
v2 replaced v1's collapsed ``protocol``/``ports`` with the exact ``region``.
"""

from __future__ import annotations

from typing import Any

from policycheck.findings import ScanResult
from policycheck.report.common import message, sorted_findings, summarize, tool_json
from policycheck.report.evidence import evidence_json
from policycheck.report.stream import Streamed, Write, collect, dump

JSON_SCHEMA_ID = "policycheck/report/v2"


def render_json(result: ScanResult) -> str:
    return collect(lambda write: write_json(result, write)).decode()


def write_json(result: ScanResult, write: Write) -> None:
    """The report through ``write``, one finding at a time (see report/stream.py)."""
    dump(build_json(result, streamed=True), write)
    write(b"\n")


def build_json(result: ScanResult, *, streamed: bool = False) -> dict[str, Any]:
    """The report as a document; ``streamed`` leaves the findings to be produced
    while writing."""
    summary = summarize(result)
    findings = (
        {
            **finding.model_dump(mode="json"),
            "message": message(finding),
            "fingerprint": finding.fingerprint(),
            "resource": finding.resource,
        }
        for finding in sorted_findings(result.findings)
    )
    document: dict[str, Any] = {
        "schema": JSON_SCHEMA_ID,
        "tool": tool_json(result.tool_version),
        "sources": list(result.sources),
        "summary": {
            "vms": summary.vms,
            "firewalls": summary.firewalls,
            "findings": summary.active,
            "findings_by_rule": summary.by_rule,
            "findings_by_level": summary.by_level,
            "suppressed": summary.suppressed,
            "incomplete": summary.incomplete,
        },
        "findings": Streamed(findings) if streamed else list(findings),
        "errors": [error.model_dump(mode="json") for error in result.errors],
    }
    if result.shard is not None:
        document["shard"] = result.shard.model_dump()
    if result.evidence is not None:
        document["evidence"] = evidence_json(result.evidence)
    return document
