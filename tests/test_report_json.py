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
        "profile",
        "summary",
        "vms",
        "findings",
        "absent",
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
    assert summary["vms"] == 6
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


def test_every_vm_with_its_roles_and_their_origins() -> None:
    vms = report()["vms"]
    assert [(v["provider"], v["name"]) for v in vms] == [
        ("aws", "pbx1"),
        ("aws", "media1"),
        ("azure", "pbx1"),
        ("gcp", "pbx1"),
        ("gcp", "worker-7"),
        ("gcp", "cds1"),
    ]
    azure = vms[2]
    assert azure["roles"] == [
        {
            "role": "swyxware-server",
            "origins": [
                {"kind": "vm_tag", "key": "swyx-roles", "firewall": None},
                {"kind": "firewall_tag", "key": "swyx-roles", "firewall": "pbx1-nsg"},
            ],
        }
    ]
    assert vms[0]["resource"] == "module.pbx.aws_instance.pbx1"
    assert vms[0]["provenance"]["file"] == "modules/pbx/main.tf"
    # The clean VM is listed like the others, with the profile entry that gave its role.
    assert vms[5]["roles"][0]["origins"] == [
        {"kind": "profile", "key": "role_assignments[0]", "firewall": None}
    ]


def test_rules_carry_their_console_page() -> None:
    for entry in report()["findings"]:
        for rule in entry["rules"]:
            if rule["provenance"]["source"] == "terraform":
                assert rule["console_url"] is None
            elif entry["provider"] == "azure":
                assert rule["console_url"].startswith("https://portal.azure.com/#@/resource/")
                assert rule["console_url"].endswith(rule["firewall_id"])
