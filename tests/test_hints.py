"""Findings say what the expected flows rest on: an assumed parameter their ports
lie just above (SWYX001), uncertain rows they cite; the same from the native and
the Rego comparison, in every report format."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from model_estates import prov, rule

from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.findings import AssumedParameterHint, Finding, ScanResult, UncertainRowsHint
from policycheck.model import VM, Attachment, FirewallObject, Inventory, PortRange
from policycheck.profile import Profile
from policycheck.rego import evaluate_rego
from policycheck.report import render
from policycheck.sources.snapshot import dumps

TODAY = dt.date(2026, 12, 1)
Ports = list[tuple[int, int]]


def _vm(roles: str, rules: list[tuple[str, str, Ports, list[str]]]) -> Inventory:
    """One AWS VM holding ``roles`` behind one security group with ``rules``."""
    fw = FirewallObject(
        provider="aws",
        kind="security_group",
        id="sg-1",
        name="sg-1",
        rules=tuple(rule("aws", rid, proto, ports, peers) for rid, proto, ports, peers in rules),
        provenance=prov("aws"),
    )
    vm = VM(
        provider="aws",
        id="i-1",
        name="rc1",
        addresses=("10.0.9.10",),
        tags={"swyx-roles": roles},
        attachments=(Attachment(firewall_id="sg-1"),),
        provenance=prov("aws"),
    )
    return Inventory(vms=[vm], firewalls=[fw])


def _scan(inventory: Inventory, profile: Profile | None = None) -> ScanResult:
    return evaluate(inventory, profile or Profile(), default_catalog(), today=TODAY)


def _only(result: ScanResult, rule_id: str) -> Finding:
    [finding] = [f for f in result.findings if f.rule_id == rule_id]
    return finding


#: A RemoteConnector sized for 800 connections: audio 15000 .. 15000 + 2 * 800.
RC_800 = _vm("remote-connector", [("audio", "udp", [(15000, 16600)], ["10.0.0.0/8"])])


def test_remote_connector_with_more_connections_gets_the_parameter_hint() -> None:
    """Must show: a RemoteConnector with more connections than the default is told
    which parameter to set, not only to close its own audio ports."""
    finding = _only(_scan(RC_800), "SWYX001")
    assert [(p.lo, p.hi) for p in finding.region[0].ports] == [(16001, 16600)]
    [hint] = finding.hints
    assert hint == AssumedParameterHint(
        parameter="TypicalConnections",
        value=500,
        role="remote-connector",
        rows=["1.11/inbound/4"],
        assumed_range=PortRange(lo=15000, hi=16000),
        ports=[PortRange(lo=16001, hi=16600)],
        covering=800,
    )
    # Set as the hint says, the same rule is documented.
    sized = Profile.model_validate(
        {"role_parameters": {"remote-connector": {"TypicalConnections": 800}}}
    )
    assert not [f for f in _scan(RC_800, sized).findings if f.rule_id in ("SWYX001", "SWYX002")]


@pytest.mark.parametrize(
    ("ports", "hinted"),
    [
        ([(16500, 16600)], True),  # a gap, still within one range length above
        ([(16001, 17001)], True),
        ([(17002, 17100)], False),  # beyond one range length above 16000
        ([(15000, 65535)], False),  # no number of connections reaches 65535
        ([(9000, 9999)], False),  # below: not the assumed range's business
    ],
)
def test_hint_only_just_above_the_assumed_range(ports: Ports, hinted: bool) -> None:
    inventory = _vm("remote-connector", [("audio", "udp", ports, ["10.0.0.0/8"])])
    finding = _only(_scan(inventory), "SWYX001")
    assert bool(finding.hints) is hinted


def test_hint_needs_the_same_protocol() -> None:
    inventory = _vm("remote-connector", [("tcp", "tcp", [(16001, 16600)], ["10.0.0.0/8"])])
    assert _only(_scan(inventory), "SWYX001").hints == []


def test_channels_hint_for_swyx_connect() -> None:
    """1.28 '6000 - (6000+(channels*10))': 30 channels assumed; 40 channels reach 6400."""
    inventory = _vm("swyx-connect-6xxx", [("rtp", "udp", [(6000, 6400)], ["10.0.0.0/8"])])
    [hint] = _only(_scan(inventory), "SWYX001").hints
    assert isinstance(hint, AssumedParameterHint)
    assert (hint.parameter, hint.value, hint.covering) == ("Channels", 30, 40)


def test_uncertain_rows_are_named_on_the_findings_citing_them() -> None:
    """1.27 Swyx Connect (172x) 'Allgemein' TCP '3072 - 19455 ?' from '?': a rule
    opening it to the internet is too broad, and the finding says the row is uncertain."""
    inventory = _vm("swyx-connect-172x", [("any", "tcp", [(3072, 19455)], ["0.0.0.0/0"])])
    finding = _only(_scan(inventory), "SWYX002")
    assert UncertainRowsHint(rows=["1.27/inbound/4"]) in finding.hints
    # ... and a certain row's finding does not.
    certain = _vm("swyx-connect-172x", [("sip", "udp", [(5060, 5060)], ["0.0.0.0/0"])])
    assert _only(_scan(certain), "SWYX002").hints == []


@pytest.mark.parametrize(
    "inventory",
    [RC_800, _vm("swyx-connect-172x", [("any", "tcp", [(3072, 19455)], ["0.0.0.0/0"])])],
)
def test_rego_findings_carry_the_same_hints(inventory: Inventory) -> None:
    native = _scan(inventory)
    rego = evaluate_rego(inventory, Profile(), default_catalog(), engine="embedded", today=TODAY)

    def hints(result: ScanResult) -> list[tuple[str, list[object]]]:
        return sorted((f.rule_id, [h.model_dump() for h in f.hints]) for f in result.findings)

    assert hints(rego) == hints(native)
    assert any(h for _, h in hints(native))


def test_hint_in_every_report_format() -> None:
    result = _scan(RC_800)
    for fmt in ("text", "markdown", "sarif", "json"):
        text = render(result, fmt, color=False)  # type: ignore[arg-type]
        # Tables wrap anywhere and Markdown escapes '_': compare without either.
        flat = "".join(text.replace("\\_", "_").split())
        assert "role_parameters.remote-connector.TypicalConnections" in flat, fmt
        assert "atleast800" in flat, fmt
    sarif = json.loads(render(result, "sarif", color=False))
    [res] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "SWYX001"]
    assert res["properties"]["hints"][0]["kind"] == "assumed_parameter"


def test_cli_json_report_carries_the_hint(tmp_path: Path) -> None:
    snapshot = tmp_path / "estate.json"
    snapshot.write_bytes(dumps(RC_800))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "policycheck",
            "scan",
            "snapshot",
            str(snapshot),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    [finding] = [f for f in json.loads(proc.stdout)["findings"] if f["rule_id"] == "SWYX001"]
    assert finding["hints"] == [
        {
            "kind": "assumed_parameter",
            "parameter": "TypicalConnections",
            "value": 500,
            "role": "remote-connector",
            "rows": ["1.11/inbound/4"],
            "assumed_range": {"lo": 15000, "hi": 16000},
            "ports": [{"lo": 16001, "hi": 16600}],
            "covering": 800,
        }
    ]
    assert (
        "set role_parameters.remote-connector.TypicalConnections to at least 800"
        in finding["message"]
    )
