"""JSON report: documented shape, correct counts, findings that parse back."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from report_samples import COLLECTION_ERROR, clean_result, mixed_result

from policycheck.findings import RULES, Finding
from policycheck.model import CollectionError
from policycheck.report import render


def report() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render(mixed_result(), "json"))
    return data


def test_top_level_shape() -> None:
    data = report()
    assert list(data) == [
        "schema",
        "tool",
        "sources",
        "summary",
        "findings",
        "errors",
        "suppressions",
    ]
    assert data["schema"] == "policycheck/report/v2"
    assert data["tool"]["name"] == "policycheck"
    assert data["tool"]["version"] == "0.1.0"
    assert data["sources"] == mixed_result().sources


def test_findings_round_trip() -> None:
    result = mixed_result()
    parsed = [Finding.model_validate(entry) for entry in report()["findings"]]
    assert sorted(parsed, key=Finding.fingerprint) == sorted(
        result.findings, key=Finding.fingerprint
    )


def test_findings_carry_fingerprint_and_resource() -> None:
    for entry in report()["findings"]:
        finding = Finding.model_validate(entry)
        assert entry["fingerprint"] == finding.fingerprint()
        assert entry["resource"] == finding.resource


def test_summary_counts() -> None:
    result = mixed_result()
    summary = report()["summary"]
    active = [f for f in result.findings if f.suppression is None]
    assert summary["vms"] == 5
    assert summary["firewalls"] == 9
    assert summary["findings"] == len(active) == 18
    assert summary["findings_by_rule"] == {
        rule_id: Counter(f.rule_id for f in active)[rule_id] for rule_id in sorted(RULES)
    }
    # Hand-counted from report_samples: the suppressed Azure RDP finding is not counted.
    assert summary["findings_by_rule"]["SWYX001"] == 5
    assert summary["findings_by_level"] == {"error": 8, "warning": 2, "note": 8}
    assert summary["suppressed"] == 1
    assert summary["incomplete"] is True


def test_errors_round_trip() -> None:
    errors = [CollectionError.model_validate(e) for e in report()["errors"]]
    assert errors == [COLLECTION_ERROR]


def test_clean_result() -> None:
    data = json.loads(render(clean_result(), "json"))
    assert data["findings"] == []
    assert data["errors"] == []
    assert data["summary"]["incomplete"] is False
    assert set(data["summary"]["findings_by_rule"]) == set(RULES)
    assert sum(data["summary"]["findings_by_level"].values()) == 0


def test_deterministic_order() -> None:
    levels = [f["level"] for f in report()["findings"]]
    assert levels == sorted(levels, key=["error", "warning", "note"].index)
    result = mixed_result()
    shuffled = result.model_copy(update={"findings": sorted(result.findings, key=id)})
    assert render(shuffled, "json") == render(result, "json")
