"""`--evidence`: each VM's checked flows with their status, in JSON, Markdown and SARIF.

On the compliant reference estates every expected flow of every VM is listed as
passing; where a flow fails, its status names the very findings that say why.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_policycheck
from test_report_sarif import validator  # noqa: F401

from policycheck.catalog import default_catalog
from policycheck.engine.context import Context
from policycheck.engine.evaluate import VMExpectations, evaluate
from policycheck.engine.roles import assign_roles
from policycheck.findings import ScanResult
from policycheck.model import Inventory
from policycheck.profile import Profile
from policycheck.sources.terraform import load_plan

REPO = Path(__file__).resolve().parent.parent
TF = REPO / "fixtures" / "terraform"
TODAY = dt.date(2026, 11, 26)
COMPLIANT = ["aws-compliant", "azure-compliant", "gcp-compliant"]


def scan(inventory: Inventory) -> ScanResult:
    return evaluate(inventory, Profile(), default_catalog(), today=TODAY, evidence=True)


def expected_flows(inventory: Inventory) -> dict[str, list[tuple[object, ...]]]:
    """Per VM id, its expected flows as the engine derives them (an independent call)."""
    profile, catalog = Profile(), default_catalog()
    ctx = Context(inventory, profile.internal_networks)
    roles = {id(vm): assign_roles(vm, ctx, profile, catalog.role_slugs) for vm in inventory.vms}
    expectations = VMExpectations(inventory, roles, profile, catalog, ctx)
    return {
        vm.id: [
            (f.direction, f.protocol, list(f.ports), list(f.peers), list(f.rows))
            for f in expectations.expected(vm, roles[id(vm)].roles).flows
        ]
        for vm in inventory.vms
        if roles[id(vm)].roles
    }


@pytest.mark.parametrize("name", COMPLIANT)
def test_every_expected_flow_of_every_vm_passes_on_a_compliant_estate(name: str) -> None:
    inventory = load_plan(TF / name / "plan.json")
    result = scan(inventory)
    assert result.evidence is not None
    expected = expected_flows(inventory)
    assert {vm.vm_id for vm in result.evidence} == set(expected) != set()
    for vm in result.evidence:
        listed = [
            (f.direction, f.protocol, f.ports, f.peers, f.rows)
            for f in vm.flows
            if not f.status.startswith("undocumented")
        ]
        assert listed == expected[vm.vm_id]
        failing = [(f.direction, f.rows, f.status) for f in vm.flows if not f.passed]
        assert failing == [] and result.active() == []
        statuses = {f.status for f in vm.flows}
        assert {"required_open", "documented_open", "documented_closed"} <= statuses
        assert ("inbound", "undocumented_closed") in {(f.direction, f.status) for f in vm.flows}


def test_failing_flows_name_the_findings_that_say_why() -> None:
    broken = scan(load_plan(TF / "aws-broken" / "plan.json"))
    assert broken.evidence is not None
    fingerprints = {f.fingerprint(): f for f in broken.findings}
    [vm] = broken.evidence
    failing = [f for f in vm.flows if not f.passed]
    assert {f.status for f in failing} == {"documented_too_broad", "undocumented_open"}
    for flow in failing:
        assert flow.findings and set(flow.findings) <= set(fingerprints)
        kinds = {fingerprints[fp].rule_id for fp in flow.findings}
        if flow.status == "documented_too_broad":
            assert kinds == {"SWYX002"}
        else:
            assert kinds == {"SWYX001" if flow.direction == "inbound" else "SWYX004"}
    [sip] = [f for f in failing if f.protocol == "tcp" and f.rows == ["1.1/inbound/1"]]
    assert fingerprints[sip.findings[0]].region[0].peers  # B2: tcp 5060 from the internet

    # The compliant AWS estate without C1 (the RemoteConnector tunnel ports).
    inventory = load_plan(TF / "aws-compliant" / "plan.json")
    [sg] = inventory.firewalls
    without = [
        r
        for r in sg.rules
        if {p.lo for p in r.ports} != {57203} and {p.lo for p in r.ports} != {16203}
    ]
    inventory.firewalls = [sg.model_copy(update={"rules": tuple(without)})]
    blocked = scan(inventory)
    assert blocked.evidence is not None
    [tunnel] = [f for f in blocked.evidence[0].flows if f.required]
    assert tunnel.status == "required_blocked" and not tunnel.passed
    [finding] = [f for f in blocked.findings if f.fingerprint() in tunnel.findings]
    assert finding.rule_id == "SWYX003"


policycheck = run_policycheck


def test_cli_evidence_in_json_markdown_and_sarif(validator: Any) -> None:  # noqa: F811
    plan = str(TF / "azure-compliant" / "plan.json")
    data = json.loads(
        policycheck("scan", "terraform", plan, "--evidence", "--format", "json").stdout
    )
    [vm] = data["evidence"]
    assert vm["vm_name"] == "pbx1" and len(vm["flows"]) == 50
    assert all(f["passed"] for f in vm["flows"])

    sarif = json.loads(
        policycheck("scan", "terraform", plan, "--evidence", "--format", "sarif").stdout
    )
    validator.validate(sarif)
    results = sarif["runs"][0]["results"]
    assert len(results) == 50
    assert {(r["kind"], r["level"]) for r in results} == {("pass", "none")}
    rules = {r["ruleId"] for r in results}
    assert rules == {"SWYX001", "SWYX002", "SWYX003", "SWYX004"}
    [tunnel] = [r for r in results if r["ruleId"] == "SWYX003"]
    assert tunnel["properties"]["evidence"]["status"] == "required_open"
    assert "required and open" in tunnel["message"]["text"]

    markdown = policycheck("scan", "terraform", plan, "--evidence", "--format", "markdown").stdout
    assert "### Evidence" in markdown
    assert "50 checked flows of 1 VM: 50 passed, 0 failed." in markdown
    assert "required and open" in markdown and "undocumented and closed" in markdown

    # Without --evidence the reports are as before.
    plain = json.loads(policycheck("scan", "terraform", plan, "--format", "json").stdout)
    assert "evidence" not in plain
    plain_sarif = json.loads(policycheck("scan", "terraform", plan, "--format", "sarif").stdout)
    assert plain_sarif["runs"][0]["results"] == []


def test_rego_decided_scan_gives_the_same_evidence() -> None:
    """With --rego the flows are judged by the findings Rego decided: the same."""
    from policycheck import api

    inventory = load_plan(TF / "aws-broken" / "plan.json")
    native = scan(inventory)
    via_rego = api.evaluate(inventory, Profile(), rego="embedded", today=TODAY, evidence=True)
    assert via_rego.evidence is not None and via_rego.evidence == native.evidence
    assert any(not f.passed for vm in via_rego.evidence for f in vm.flows)
