"""Rule numbers and priorities a cloud would refuse are input errors (exit 2, naming
the rule), from every source: plans, snapshots and live responses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plan_fragments import Res, declaration, write_plan

from policycheck.errors import InputError
from policycheck.model import FirewallObject, Peer, Provenance, Rule
from policycheck.sources import snapshot
from policycheck.sources.terraform import load_plan


def _rule(priority: int, name: str = "r1") -> Rule:
    return Rule(
        id=f"id-{name}",
        name=name,
        direction="inbound",
        priority=priority,
        peers=(Peer.cidr("0.0.0.0/0"),),
        provenance=Provenance(source="snapshot"),
    )


def _object(provider: str, kind: str, priority: int) -> FirewallObject:
    return FirewallObject(
        provider=provider,
        kind=kind,
        id=f"{kind}-1",
        name=f"my-{kind}",
        rules=(_rule(priority),),
        provenance=Provenance(source="snapshot"),
    )


@pytest.mark.parametrize(
    ("provider", "kind", "good", "bad"),
    [
        ("aws", "network_acl", [1, 100, 32766, 32767], [0, 32768, 40000]),
        ("azure", "nsg", [100, 4096, 65000, 65001, 65500], [99, 4097, 5000, 64999, 65002, 65501]),
        ("gcp", "vpc_firewall", [0, 1000, 65535], [-1, 65536]),
        ("gcp", "firewall_policy", [0, 2147483643, 2147483647], [-1, 2147483648]),
    ],
)
def test_ranges_per_cloud(provider: str, kind: str, good: list[int], bad: list[int]) -> None:
    for number in good:
        _object(provider, kind, number)
    for number in bad:
        with pytest.raises(InputError, match=rf"my-{kind}: rule r1: .* {number} is outside"):
            _object(provider, kind, number)


def test_security_groups_have_no_order() -> None:
    _object("aws", "security_group", 123456)  # a priority no source sets: not checked


def _nacl_plan(tmp_path: Path, rule_no: int) -> Path:
    acl = Res(
        "aws_network_acl",
        "pbx",
        {
            "ingress": [
                {
                    "action": "allow",
                    "cidr_block": "0.0.0.0/0",
                    "from_port": 0,
                    "icmp_code": 0,
                    "icmp_type": 0,
                    "ipv6_cidr_block": "",
                    "protocol": "-1",
                    "rule_no": rule_no,
                    "to_port": 0,
                }
            ],
            "egress": [],
            "tags": None,
        },
        {"id": True, "vpc_id": True},
    )
    return write_plan(tmp_path, [acl], [declaration("aws_network_acl", "pbx", {})])


def test_plan_nacl_rule_number_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load_plan(_nacl_plan(tmp_path, 40000))
    message = str(err.value)
    assert "plan.json" in message and "aws_network_acl.pbx/ingress/0" in message
    assert "rule number 40000 is outside 1-32766, 32767" in message


def test_plan_azure_priority_is_an_input_error(tmp_path: Path) -> None:
    nsg = Res(
        "azurerm_network_security_group",
        "pbx",
        {
            "name": "pbx-nsg",
            "location": "westeurope",
            "resource_group_name": "rg",
            "security_rule": [
                {
                    "access": "Allow",
                    "description": "",
                    "destination_address_prefix": "*",
                    "destination_address_prefixes": [],
                    "destination_application_security_group_ids": [],
                    "destination_port_range": "3389",
                    "destination_port_ranges": [],
                    "direction": "Inbound",
                    "name": "rdp",
                    "priority": 5000,
                    "protocol": "Tcp",
                    "source_address_prefix": "*",
                    "source_address_prefixes": [],
                    "source_application_security_group_ids": [],
                    "source_port_range": "*",
                    "source_port_ranges": [],
                }
            ],
            "tags": None,
        },
        {"id": True},
    )
    with pytest.raises(InputError, match=r"Azure NSG pbx-nsg: rule rdp: priority 5000"):
        load_plan(write_plan(tmp_path, [nsg], []))


def test_plan_gcp_priority_is_an_input_error(tmp_path: Path) -> None:
    fw = Res(
        "google_compute_firewall",
        "rdp",
        {
            "name": "allow-rdp",
            "network": "swyx-net",
            "direction": "INGRESS",
            "priority": 70000,
            "source_ranges": ["0.0.0.0/0"],
            "allow": [{"protocol": "tcp", "ports": ["3389"]}],
            "deny": [],
            "disabled": False,
        },
        {"id": True, "self_link": True},
    )
    with pytest.raises(InputError, match=r"allow-rdp: .*priority 70000 is outside 0-65535"):
        load_plan(write_plan(tmp_path, [fw], []))


def test_snapshot_with_bad_priority_names_file_and_rule(tmp_path: Path) -> None:
    raw: dict[str, Any] = {
        "schema_version": 1,
        "firewalls": [json.loads(_object("azure", "nsg", 100).model_dump_json())],
    }
    raw["firewalls"][0]["rules"][0]["priority"] = 5000
    with pytest.raises(InputError, match=r"snap\.json: Azure NSG my-nsg: rule r1: priority 5000"):
        snapshot.loads(json.dumps(raw).encode(), "snap.json")


def test_cli_exit_2_one_line(tmp_path: Path) -> None:
    plan = _nacl_plan(tmp_path, 0)
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", "scan", "terraform", str(plan), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "rule number 0 is outside 1-32766, 32767" in line
    assert not out.exists()
