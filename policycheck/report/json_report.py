"""``--format json``: the documented machine-readable report (docs/report-json.md).

The ``schema`` value changes only when a field is removed or changes meaning, so
scripts can check it; new fields may be added within ``policycheck/report/v2``.
v2 replaced v1's collapsed ``protocol``/``ports`` with the exact ``region``.
"""

from __future__ import annotations

from typing import Any

import orjson

from policycheck.findings import ScanResult
from policycheck.report.common import (
    TOOL_NAME,
    information_uri,
    message,
    sorted_findings,
    summarize,
)
from policycheck.report.evidence import evidence_json

JSON_SCHEMA_ID = "policycheck/report/v2"


def render_json(result: ScanResult) -> str:
    return orjson.dumps(build_json(result), option=orjson.OPT_INDENT_2).decode() + "\n"


def build_json(result: ScanResult) -> dict[str, Any]:
    summary = summarize(result)
    report: dict[str, Any] = {
        "schema": JSON_SCHEMA_ID,
        "tool": {
            "name": TOOL_NAME,
            "version": result.tool_version,
            "informationUri": information_uri(),
        },
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
        "findings": [
            {
                **finding.model_dump(mode="json"),
                "message": message(finding),
                "fingerprint": finding.fingerprint(),
                "resource": finding.resource,
            }
            for finding in sorted_findings(result.findings)
        ],
        "errors": [error.model_dump(mode="json") for error in result.errors],
    }
    if result.evidence is not None:
        report["evidence"] = evidence_json(result.evidence)
    return report
