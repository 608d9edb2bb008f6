"""The Terraform plan source: reference estates, real-world plans, bad inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policycheck.errors import InputError
from policycheck.model import ALL_PORTS, FirewallObject, Inventory, Peer, PortRange, Rule
from policycheck.sources.terraform import load_plan

REPO = Path(__file__).resolve().parent.parent
FIX = REPO / "fixtures" / "terraform"
REAL = REPO / "fixtures" / "realworld" / "terraform-plans"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def load(name: str) -> Inventory:
    return load_plan(FIX / name / "plan.json")


def line_after(path: Path, marker: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if marker in line) + 1


def fw_by_name(inv: Inventory, name: str) -> FirewallObject:
    return next(f for f in inv.firewalls if f.name == name)


def rule_by_id(inv: Inventory, rule_id: str) -> Rule:
    return next(r for f in inv.firewalls for r in f.rules if r.id == rule_id)


def ports(*spec: int | tuple[int, int]) -> tuple[PortRange, ...]:
    return tuple(
        PortRange(lo=s, hi=s) if isinstance(s, int) else PortRange(lo=s[0], hi=s[1]) for s in spec
    )


def cidr(*values: str) -> tuple[Peer, ...]:
    return tuple(Peer.cidr(v) for v in values)


def summary(rule: Rule) -> tuple[Any, ...]:
    return (rule.direction, rule.action, rule.priority, rule.protocol, rule.ports, rule.peers)


# ------------------------------------------------------------------ AWS


def test_aws_broken_rules_inline_and_in_child_module() -> None:
    inv = load("aws-broken")
    assert inv.sources == [f"terraform:{FIX / 'aws-broken' / 'plan.json'}"]
    sg = fw_by_name(inv, "swyx-pbx")
    # Unknown id until apply: the address is the id, so references connect.
    assert (sg.provider, sg.kind, sg.id) == ("aws", "security_group", "aws_security_group.pbx")
    assert sg.network == "aws_vpc.swyx"
    rules = {r.id: r for r in sg.rules}
    mod = "module.pbx_rules."
    expected = {
        "aws_security_group.pbx/ingress/0": ("inbound", "tcp", ports(3389), cidr("0.0.0.0/0")),
        "aws_security_group.pbx/ingress/1": ("inbound", "tcp", ports(5060), cidr("0.0.0.0/0")),
        "aws_security_group.pbx/egress/0": ("outbound", "all", (ALL_PORTS,), cidr("0.0.0.0/0")),
        f"{mod}aws_security_group_rule.b3_private_all": (
            "inbound",
            "all",
            (ALL_PORTS,),
            cidr("10.0.0.0/8"),
        ),
        f"{mod}aws_vpc_security_group_ingress_rule.b4_ssh_v6": (
            "inbound",
            "tcp",
            ports(22),
            cidr("::/0"),
        ),
        f'{mod}aws_security_group_rule.b5_remote_connector["16203"]': (
            "inbound",
            "tcp",
            ports(16203),
            cidr("0.0.0.0/0"),
        ),
        f'{mod}aws_security_group_rule.b5_remote_connector["57203"]': (
            "inbound",
            "tcp",
            ports(57203),
            cidr("0.0.0.0/0"),
        ),
        f"{mod}aws_vpc_security_group_ingress_rule.b6_9094": (
            "inbound",
            "tcp",
            ports(9094),
            cidr("10.0.0.0/8"),
        ),
        f"{mod}aws_security_group_rule.b7_9101": ("inbound", "tcp", ports(9101), cidr("0.0.0.0/0")),
        f"{mod}aws_security_group_rule.b9_vpn_admin": (
            "inbound",
            "tcp",
            ports(8443),
            (Peer(kind="unknown", value="cidr_blocks (known after apply)"),),
        ),
    }
    assert {k: (r.direction, r.protocol, r.ports, r.peers) for k, r in rules.items()} == expected
    assert all(r.action == "allow" and r.priority is None for r in sg.rules)
    assert rules[f"{mod}aws_security_group_rule.b9_vpn_admin"].unknown == ("cidr_blocks",)
    assert all(not r.unknown for k, r in rules.items() if "b9" not in k)
    # Only one firewall object: module rules joined the group through var.sg_id.
    assert [f.id for f in inv.firewalls] == ["aws_security_group.pbx"]


def test_aws_broken_instance_attached_only_through_references() -> None:
    inv = load("aws-broken")
    plan = json.loads((FIX / "aws-broken" / "plan.json").read_text())
    after = next(rc for rc in plan["resource_changes"] if rc["address"] == "aws_instance.pbx1")
    assert "vpc_security_group_ids" not in after["change"]["after"]  # truly unknown in the plan
    (vm,) = inv.vms
    assert (vm.id, vm.name, vm.addresses) == ("aws_instance.pbx1", "pbx1", ("10.0.1.10",))
    assert vm.tags["swyx-roles"] == "swyxware-server, cds, linkmanager, remote-connector"
    assert [(a.firewall_id, a.level) for a in vm.attachments] == [
        ("aws_security_group.pbx", "interface")
    ]
    assert vm.unknown == ()
    assert vm.networks == ("aws_vpc.swyx",)
    assert [(n.id, n.address_spaces) for n in inv.networks] == [("aws_vpc.swyx", ("10.0.0.0/16",))]


def test_aws_broken_provenance_points_at_rule_blocks() -> None:
    inv = load("aws-broken")
    root_tf = FIX / "aws-broken" / "main.tf"
    module_tf = FIX / "aws-broken" / "modules" / "pbx-rules" / "main.tf"
    b1 = rule_by_id(inv, "aws_security_group.pbx/ingress/0").provenance
    assert (b1.source, b1.address, b1.file) == (
        "terraform",
        "aws_security_group.pbx",
        "fixtures/terraform/aws-broken/main.tf",
    )
    assert b1.start_line == line_after(root_tf, "# B1:")
    assert b1.end_line == b1.start_line + 6
    b2 = rule_by_id(inv, "aws_security_group.pbx/ingress/1").provenance
    assert b2.start_line == line_after(root_tf, "# B2:")
    b9 = rule_by_id(inv, "module.pbx_rules.aws_security_group_rule.b9_vpn_admin").provenance
    assert b9.file == "fixtures/terraform/aws-broken/modules/pbx-rules/main.tf"
    assert b9.start_line == line_after(module_tf, "# B9:")
    b5 = rule_by_id(
        inv, 'module.pbx_rules.aws_security_group_rule.b5_remote_connector["57203"]'
    ).provenance
    assert b5.start_line == line_after(module_tf, "# B5:")
    vm_line = inv.vms[0].provenance.start_line
    assert vm_line is not None
    assert root_tf.read_text().splitlines()[vm_line - 1] == 'resource "aws_instance" "pbx1" {'


def test_aws_compliant_known_ids_and_deleted_rule_skipped() -> None:
    inv = load("aws-compliant")
    (sg,) = inv.firewalls
    assert sg.id == "sg-0c1d2e3f4a5b6c7d8" and sg.network == "vpc-0a1b2c3d4e5f60718"
    inbound = [(r.protocol, r.ports, r.peers) for r in sg.rules if r.direction == "inbound"]
    assert len(inbound) == 9
    assert set(inbound) == set(
        [
            ("tcp", ports(16203), cidr("0.0.0.0/0")),
            ("tcp", ports(57203), cidr("0.0.0.0/0")),
            ("tcp", ports(9101), cidr("0.0.0.0/0")),
            ("tcp", ports(9094), cidr("10.0.0.0/8")),
            ("tcp", ports(9100), cidr("10.0.0.0/8")),
            ("tcp", ports(9200), cidr("10.0.0.0/8")),
            ("tcp", ports(5060), cidr("10.0.0.0/8")),
            ("udp", ports(5060), cidr("10.0.0.0/8")),
            ("udp", ports((51000, 51499)), cidr("10.0.0.0/8")),
        ]
    )
    outbound = [(r.protocol, r.ports, r.peers) for r in sg.rules if r.direction == "outbound"]
    assert outbound == [
        ("tcp", (ALL_PORTS,), cidr("0.0.0.0/0")),
        ("udp", (ALL_PORTS,), cidr("0.0.0.0/0")),
    ]
    # The plan deletes legacy_rdp (3389 from anywhere); it must not be reported.
    assert not any(PortRange(lo=3389, hi=3389) in r.ports for r in sg.rules)
    (vm,) = inv.vms
    assert vm.id == "i-0123456789abcdef0"
    assert [a.firewall_id for a in vm.attachments] == ["sg-0c1d2e3f4a5b6c7d8"]
    assert vm.networks == ("vpc-0a1b2c3d4e5f60718",)
    # Set-ordered inline blocks are still attributed to the right .tf block.
    tf = FIX / "aws-compliant" / "main.tf"
    udp_sip = next(r for r in sg.rules if r.protocol == "udp" and r.ports == ports(5060))
    assert udp_sip.provenance.start_line == line_after(tf, "# C4: SIP over UDP")


def test_format_0_1_plan_with_bare_references() -> None:
    inv = load("legacy-0.1")
    (sg,) = inv.firewalls
    assert [summary(r) for r in sg.rules] == [
        ("inbound", "allow", None, "tcp", ports(9101), cidr("0.0.0.0/0"))
    ]
    (vm,) = inv.vms
    assert [a.firewall_id for a in vm.attachments] == ["aws_security_group.pbx"]


# ---------------------------------------------------------------- Azure


def test_azure_broken_rules_plural_fields_and_unknown_prefix() -> None:
    inv = load("azure-broken")
    nsg = fw_by_name(inv, "pbx1-nsg")
    assert (nsg.kind, nsg.id) == ("nsg", "azurerm_network_security_group.pbx")
    got = {r.name: summary(r) for r in nsg.rules}
    any_dst = (Peer(kind="service_tag", value="*"),)
    assert got == {
        "allow-rdp": ("inbound", "allow", 1000, "tcp", ports(3389), cidr("0.0.0.0/0")),
        "allow-sip-tcp": ("inbound", "allow", 1010, "tcp", ports(5060), cidr("0.0.0.0/0")),
        "allow-internal-all": ("inbound", "allow", 1020, "all", (ALL_PORTS,), cidr("10.0.0.0/8")),
        "allow-ssh-v6": ("inbound", "allow", 1030, "tcp", ports(22), cidr("::/0")),
        "allow-remote-connector": (
            "inbound",
            "allow",
            1040,
            "tcp",
            ports(16203, 57203),
            cidr("0.0.0.0/0"),
        ),
        "allow-9094": ("inbound", "allow", 1050, "tcp", ports(9094), cidr("10.0.0.0/8")),
        "allow-9101": ("inbound", "allow", 1060, "tcp", ports(9101), cidr("0.0.0.0/0")),
        "allow-admin-from-vpn": (
            "inbound",
            "allow",
            1070,
            "tcp",
            ports(8443),
            (Peer(kind="unknown", value="source_address_prefix (known after apply)"),),
        ),
    }
    assert all(r.targets == any_dst for r in nsg.rules)
    vpn = next(r for r in nsg.rules if r.name == "allow-admin-from-vpn")
    assert vpn.unknown == ("source_address_prefix",)
    # No default rules: the engine adds them.
    assert not any(r.priority and r.priority >= 65000 for f in inv.firewalls for r in f.rules)
    subnet = fw_by_name(inv, "subnet-nsg")
    assert [summary(r) for r in subnet.rules] == [
        ("inbound", "allow", 100, "all", (ALL_PORTS,), (Peer(kind="service_tag", value="*"),))
    ]


def test_azure_broken_nic_and_subnet_nsg_through_references() -> None:
    inv = load("azure-broken")
    (vm,) = inv.vms
    assert (vm.id, vm.name, vm.addresses) == (
        "azurerm_windows_virtual_machine.pbx1",
        "pbx1",
        ("10.0.1.10",),
    )
    assert vm.tags == {"swyx-roles": "swyxware-server, cds, linkmanager, remote-connector"}
    assert {(a.firewall_id, a.level, a.via) for a in vm.attachments} == {
        ("azurerm_network_security_group.pbx", "interface", "azurerm_network_interface.pbx1"),
        ("azurerm_network_security_group.subnet", "subnet", "azurerm_subnet.pbx"),
    }
    assert vm.unknown == ()
    assert vm.networks == ("azurerm_virtual_network.swyx",)
    assert [(n.name, n.address_spaces) for n in inv.networks] == [("swyx-net", ("10.0.0.0/16",))]
    module_tf = FIX / "azure-broken" / "modules" / "pbx-rules" / "main.tf"
    b2 = next(r for r in fw_by_name(inv, "pbx1-nsg").rules if r.name == "allow-sip-tcp")
    assert b2.provenance.start_line == line_after(module_tf, "# B2")
    assert b2.provenance.address == "module.pbx_rules.azurerm_network_security_rule.b2_sip"


def test_azure_compliant_inline_rules_with_deny_all() -> None:
    inv = load("azure-compliant")
    (nsg,) = inv.firewalls
    assert nsg.id.endswith("/networkSecurityGroups/pbx1-nsg")
    got = {r.name: (*summary(r), r.targets) for r in nsg.rules}
    anyp = (Peer(kind="service_tag", value="*"),)
    assert got["C3"] == (
        "inbound",
        "allow",
        1020,
        "tcp",
        ports(9094, 9100, 9200),
        cidr("10.0.0.0/8"),
        anyp,
    )
    assert got["C4"] == ("inbound", "allow", 1030, "all", ports(5060), cidr("10.0.0.0/8"), anyp)
    assert got["deny-all-inbound"] == ("inbound", "deny", 4096, "all", (ALL_PORTS,), anyp, anyp)
    # Outbound: the remote side is the destination.
    assert got["E1"] == ("outbound", "allow", 1000, "tcp", (ALL_PORTS,), cidr("0.0.0.0/0"), anyp)
    assert len(got) == 9
    (vm,) = inv.vms
    assert [(a.firewall_id, a.level) for a in vm.attachments] == [(nsg.id, "interface")]
    tf = FIX / "azure-compliant" / "main.tf"
    c5 = next(r for r in nsg.rules if r.name == "C5")
    assert c5.provenance.start_line == line_after(tf, "# C5")


# ------------------------------------------------------------------ GCP


#: The plans' networks, qualified by the project their resources name (issue 8).
BROKEN_NET = "projects/swyx-broken/global/networks/swyx-net"
COMPLIANT_NET = "projects/swyx-compliant/global/networks/swyx-net"


def test_gcp_broken_rules_module_network_and_unknown_range() -> None:
    inv = load("gcp-broken")
    got = {f.name: (f.network, [summary(r) for r in f.rules]) for f in inv.firewalls}
    tag = (Peer(kind="network_tag", value="swyx-pbx"),)
    assert all(r.targets == tag for f in inv.firewalls for r in f.rules)
    assert got["b1-allow-rdp"] == (
        BROKEN_NET,
        [("inbound", "allow", 1000, "tcp", ports(3389), cidr("0.0.0.0/0"))],
    )
    # B3/B8 are in the child module; their network is resolved through var.network.
    assert got["b3-allow-internal-all"] == (
        BROKEN_NET,
        [("inbound", "allow", 1020, "all", (ALL_PORTS,), cidr("10.0.0.0/8"))],
    )
    assert got["b8-allow-udp-all-ports"] == (
        BROKEN_NET,
        [("inbound", "allow", 1070, "udp", (ALL_PORTS,), cidr("192.168.0.0/16"))],
    )
    assert got["b5-allow-remote-connector"][1][0][4] == ports(16203, 57203)
    b9 = fw_by_name(inv, "b9-allow-admin-from-vpn").rules[0]
    assert b9.peers == (Peer(kind="unknown", value="source_ranges (known after apply)"),)
    assert b9.unknown == ("source_ranges",)
    assert len(inv.firewalls) == 9
    (vm,) = inv.vms
    assert vm.networks == (BROKEN_NET,)
    # The subnetwork names its network by a reference only (id unknown until apply).
    assert [(n.id, n.address_spaces) for n in inv.networks] == [(BROKEN_NET, ("10.0.1.0/24",))]
    assert vm.addresses == ("10.0.1.10",)
    assert "swyx-role-remote-connector" in vm.network_tags and "swyx-pbx" in vm.network_tags
    assert vm.service_accounts == ("pbx1@swyx-broken.iam.gserviceaccount.com",)
    assert vm.tags == {"estate": "broken"}
    module_tf = FIX / "gcp-broken" / "modules" / "pbx-rules" / "main.tf"
    b8 = fw_by_name(inv, "b8-allow-udp-all-ports")
    assert b8.provenance.start_line == line_after(module_tf, "# B8")
    assert b8.rules[0].provenance == b8.provenance


def test_gcp_compliant_egress_allow_and_deny() -> None:
    inv = load("gcp-compliant")
    allow = fw_by_name(inv, "c-egress-allow-tcp-udp")
    assert allow.id == "projects/swyx-compliant/global/firewalls/c-egress-allow-tcp-udp"
    assert [summary(r) for r in allow.rules] == [
        ("outbound", "allow", 1000, "tcp", (ALL_PORTS,), cidr("0.0.0.0/0")),
        ("outbound", "allow", 1000, "udp", (ALL_PORTS,), cidr("0.0.0.0/0")),
    ]
    deny = fw_by_name(inv, "c-egress-deny-all")
    assert [summary(r) for r in deny.rules] == [
        ("outbound", "deny", 65000, "all", (ALL_PORTS,), cidr("0.0.0.0/0"))
    ]
    sip = fw_by_name(inv, "c4-allow-sip")
    assert [(r.protocol, r.ports) for r in sip.rules] == [
        ("tcp", ports(5060)),
        ("udp", ports(5060)),
    ]
    assert all(f.network == COMPLIANT_NET for f in inv.firewalls)
    assert inv.vms[0].networks == (COMPLIANT_NET,)
    assert [(n.id, n.address_spaces) for n in inv.networks] == [(COMPLIANT_NET, ("10.0.1.0/24",))]
    assert not any(r.unknown for f in inv.firewalls for r in f.rules)


def _write_plan(
    tmp_path: Path, resources: list[dict[str, Any]], config: list[dict[str, Any]]
) -> Path:
    doc = {
        "format_version": "1.2",
        "terraform_version": "1.9.5",
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": r["address"],
                        "mode": "managed",
                        "type": r["type"],
                        "name": r["name"],
                        "values": r["values"],
                    }
                    for r in resources
                ]
            }
        },
        "resource_changes": [
            {
                "address": r["address"],
                "mode": "managed",
                "type": r["type"],
                "name": r["name"],
                "change": {
                    "actions": r.get("actions", ["create"]),
                    "before": None,
                    "after": r["values"],
                    "after_unknown": r.get("unknown", {}),
                },
            }
            for r in resources
        ],
        "configuration": {"root_module": {"resources": config}},
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    return path


def test_gcp_network_firewall_policy_rule_and_association(tmp_path: Path) -> None:
    net = "projects/p/global/networks/swyx-net"
    plan = _write_plan(
        tmp_path,
        [
            {
                "address": "google_compute_network_firewall_policy.pol",
                "type": "google_compute_network_firewall_policy",
                "name": "pol",
                "values": {"name": "swyx-policy"},
                "unknown": {"id": True},
            },
            {
                "address": "google_compute_network_firewall_policy_association.a",
                "type": "google_compute_network_firewall_policy_association",
                "name": "a",
                "values": {"attachment_target": net, "firewall_policy": "swyx-policy", "name": "a"},
            },
            {
                "address": "google_compute_network_firewall_policy_rule.sip",
                "type": "google_compute_network_firewall_policy_rule",
                "name": "sip",
                "values": {
                    "action": "allow",
                    "direction": "INGRESS",
                    "priority": 100,
                    "disabled": False,
                    "firewall_policy": "swyx-policy",
                    "target_service_accounts": ["pbx@p.iam"],
                    "match": [
                        {
                            "src_ip_ranges": ["10.0.0.0/8"],
                            "layer4_configs": [
                                {"ip_protocol": "tcp", "ports": ["5060"]},
                                {"ip_protocol": "udp"},
                            ],
                        }
                    ],
                },
            },
            {
                "address": "google_compute_network_firewall_policy_rule.next",
                "type": "google_compute_network_firewall_policy_rule",
                "name": "next",
                "values": {
                    "action": "goto_next",
                    "direction": "INGRESS",
                    "priority": 200,
                    "firewall_policy": "swyx-policy",
                    "match": [
                        {"src_ip_ranges": ["0.0.0.0/0"], "layer4_configs": [{"ip_protocol": "all"}]}
                    ],
                },
            },
            {
                "address": "google_compute_instance.vm",
                "type": "google_compute_instance",
                "name": "vm",
                "values": {
                    "name": "vm",
                    "network_interface": [{"network": net, "network_ip": "10.0.1.5"}],
                    "service_account": [{"email": "pbx@p.iam"}],
                    "tags": ["a"],
                },
            },
        ],
        [],
    )
    inv = load_plan(plan)
    (pol,) = inv.firewalls
    assert (pol.kind, pol.id, pol.network) == (
        "firewall_policy",
        "google_compute_network_firewall_policy.pol",
        "projects/p/global/networks/swyx-net",
    )
    assert [(*summary(r), r.targets) for r in pol.rules] == [
        (
            "inbound",
            "allow",
            100,
            "tcp",
            ports(5060),
            cidr("10.0.0.0/8"),
            (Peer(kind="service_account", value="pbx@p.iam"),),
        ),
        (
            "inbound",
            "allow",
            100,
            "udp",
            (ALL_PORTS,),
            cidr("10.0.0.0/8"),
            (Peer(kind="service_account", value="pbx@p.iam"),),
        ),
        # goto_next is kept: it hands traffic to the next policy level.
        ("inbound", "goto_next", 200, "all", (ALL_PORTS,), cidr("0.0.0.0/0"), ()),
    ]
    (vm,) = inv.vms
    assert [(a.firewall_id, a.level) for a in vm.attachments] == [(pol.id, "network")]
    assert vm.networks == ("projects/p/global/networks/swyx-net",)


def test_azure_application_security_groups(tmp_path: Path) -> None:
    plan = _write_plan(
        tmp_path,
        [
            {
                "address": "azurerm_application_security_group.pbx",
                "type": "azurerm_application_security_group",
                "name": "pbx",
                "values": {"name": "pbx-asg"},
                "unknown": {"id": True},
            },
            {
                "address": "azurerm_network_security_group.n",
                "type": "azurerm_network_security_group",
                "name": "n",
                "values": {
                    "name": "n",
                    "resource_group_name": "rg",
                    "security_rule": [
                        {
                            "name": "to-asg",
                            "priority": 200,
                            "direction": "Inbound",
                            "access": "Allow",
                            "protocol": "Tcp",
                            "source_address_prefix": "VirtualNetwork",
                            "destination_port_ranges": ["5060", "5061"],
                            "destination_application_security_group_ids": [None],
                        }
                    ],
                },
                "unknown": {
                    "id": True,
                    "security_rule": [{"destination_application_security_group_ids": [True]}],
                },
            },
            {
                "address": "azurerm_network_interface.nic",
                "type": "azurerm_network_interface",
                "name": "nic",
                "values": {"name": "nic", "ip_configuration": [{"private_ip_address": "10.0.1.4"}]},
                "unknown": {"id": True},
            },
            {
                "address": "azurerm_network_interface_application_security_group_association.a",
                "type": "azurerm_network_interface_application_security_group_association",
                "name": "a",
                "values": {},
                "unknown": {"network_interface_id": True, "application_security_group_id": True},
            },
            {
                "address": "azurerm_linux_virtual_machine.vm",
                "type": "azurerm_linux_virtual_machine",
                "name": "vm",
                "values": {"name": "vm", "network_interface_ids": [None]},
                "unknown": {"network_interface_ids": [True]},
            },
        ],
        [
            {
                "address": "azurerm_network_interface_application_security_group_association.a",
                "type": "azurerm_network_interface_application_security_group_association",
                "name": "a",
                "expressions": {
                    "network_interface_id": {
                        "references": [
                            "azurerm_network_interface.nic.id",
                            "azurerm_network_interface.nic",
                        ]
                    },
                    "application_security_group_id": {
                        "references": [
                            "azurerm_application_security_group.pbx.id",
                            "azurerm_application_security_group.pbx",
                        ]
                    },
                },
            },
            {
                "address": "azurerm_linux_virtual_machine.vm",
                "type": "azurerm_linux_virtual_machine",
                "name": "vm",
                "expressions": {
                    "network_interface_ids": {
                        "references": [
                            "azurerm_network_interface.nic.id",
                            "azurerm_network_interface.nic",
                        ]
                    }
                },
            },
        ],
    )
    inv = load_plan(plan)
    (vm,) = inv.vms
    assert vm.app_security_groups == ("azurerm_application_security_group.pbx",)
    assert vm.addresses == ("10.0.1.4",)
    (rule,) = inv.firewalls[0].rules
    assert rule.peers == (Peer(kind="service_tag", value="VirtualNetwork"),)
    assert rule.ports == ports(5060, 5061)
    # An unknown ASG inside an inline block cannot be traced: marked, not dropped.
    assert "destination_application_security_group_ids" in rule.unknown


def test_deleted_security_group_is_skipped_and_replaced_one_kept(tmp_path: Path) -> None:
    values = {"name": "g", "ingress": [], "egress": []}
    plan = _write_plan(
        tmp_path,
        [
            {
                "address": "aws_security_group.gone",
                "type": "aws_security_group",
                "name": "gone",
                "values": values,
                "actions": ["delete"],
            },
            {
                "address": "aws_security_group.replaced",
                "type": "aws_security_group",
                "name": "replaced",
                "values": {**values, "name": "r"},
                "actions": ["delete", "create"],
            },
        ],
        [],
    )
    assert [f.id for f in load_plan(plan).firewalls] == ["aws_security_group.replaced"]


def test_instance_without_any_group_is_marked_unknown(tmp_path: Path) -> None:
    plan = _write_plan(
        tmp_path,
        [
            {
                "address": "aws_instance.x",
                "type": "aws_instance",
                "name": "x",
                "values": {"private_ip": "10.0.0.5"},
                "unknown": {"vpc_security_group_ids": True},
            }
        ],
        [
            {
                "address": "aws_instance.x",
                "type": "aws_instance",
                "name": "x",
                "expressions": {
                    "vpc_security_group_ids": {
                        "references": ["data.aws_security_group.x.id", "data.aws_security_group.x"]
                    }
                },
            }
        ],
    )
    (vm,) = load_plan(plan).vms
    assert vm.unknown == ("vpc_security_group_ids",) and vm.attachments == ()


def test_malformed_port_names_address_and_field(tmp_path: Path) -> None:
    doc = json.loads((FIX / "aws-broken" / "plan.json").read_text())
    for rc in doc["resource_changes"]:
        if rc["address"].endswith("b7_9101"):
            rc["change"]["after"]["from_port"] = "ninety"
    for mod in doc["planned_values"]["root_module"]["child_modules"]:
        for res in mod["resources"]:
            if res["address"].endswith("b7_9101"):
                res["values"]["from_port"] = "ninety"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as err:
        load_plan(path)
    assert "module.pbx_rules.aws_security_group_rule.b7_9101: from_port" in str(err.value)
    assert "expected an integer" in str(err.value)


def test_tf_dir_option_and_plan_without_tf(tmp_path: Path) -> None:
    copied = tmp_path / "plan.json"
    shutil.copy(FIX / "aws-broken" / "plan.json", copied)
    bare = load_plan(copied)
    prov = bare.firewalls[0].provenance
    assert (prov.file, prov.start_line) == (copied.resolve().as_posix(), 1)
    with_dir = load_plan(copied, tf_dir=FIX / "aws-broken")
    assert with_dir.firewalls[0].provenance.file == "fixtures/terraform/aws-broken/main.tf"


def test_unparsable_tf_next_to_plan_costs_only_its_lines(tmp_path: Path) -> None:
    shutil.copy(FIX / "aws-broken" / "plan.json", tmp_path / "plan.json")
    shutil.copy(FIX / "aws-broken" / "main.tf", tmp_path / "main.tf")
    (tmp_path / "broken.tf").write_text("resource {{{\n")
    warnings: list[str] = []
    inventory = load_plan(tmp_path / "plan.json", warn=warnings.append)
    assert len(inventory.firewalls) == len(load_plan(FIX / "aws-broken" / "plan.json").firewalls)
    assert any(
        fw.provenance.file and fw.provenance.file.endswith("main.tf") for fw in inventory.firewalls
    )
    (warning,) = warnings
    assert "broken.tf: cannot parse HCL at line 1" in warning and "without line numbers" in warning


# ------------------------------------------------------------ real world


def real(name: str) -> Inventory:
    return load_plan(REAL / name)


def test_realworld_every_plan_loads_and_the_state_is_refused() -> None:
    loaded = 0
    for path in sorted(REAL.iterdir()):
        if "corrupted" in path.name:
            with pytest.raises(InputError, match="this is a Terraform state, not a plan"):
                load_plan(path)
            continue
        inv = load_plan(path)
        assert inv.sources == [f"terraform:{path}"]
        loaded += 1
    assert loaded == 10


def test_realworld_aws_inline_and_separate_rules_0_12() -> None:
    for name in (
        "terraform__runner__resources__plan__tfplan.json",
        "terraform__parser__resources__plan_tags__tfplan.json",
    ):
        inv = real(name)
        web = fw_by_name(inv, "123456789123-acme-corp-sg")
        assert [(r.direction, r.protocol, r.ports) for r in web.rules] == [
            ("inbound", "tcp", ports(22)),
            ("inbound", "tcp", ports(80)),
            ("outbound", "all", (ALL_PORTS,)),
        ]
        rds = fw_by_name(inv, "123456789123-acme-corp-rds-sg")
        assert {summary(r) for r in rds.rules} == {
            ("inbound", "allow", None, "tcp", ports(3306), cidr("172.16.0.0/16")),
            ("outbound", "allow", None, "all", (ALL_PORTS,), cidr("0.0.0.0/0")),
        }
        assert sorted(vm.name for vm in inv.vms) == [
            "123456789123-acme-corp-dbapp",
            "123456789123-acme-corp-ec2",
        ]
        assert all(
            [a.firewall_id for a in vm.attachments] == ["aws_security_group.web-node"]
            for vm in inv.vms
        )


def test_realworld_for_each_module_security_groups() -> None:
    inv = real("common__runner_registry__plan_with_for_each_for_enrichment__tf_plan.json")
    assert sorted(f.id for f in inv.firewalls) == [
        'module.sg["awful_example"].aws_security_group.bad',
        'module.sg["bad_example"].aws_security_group.bad',
        'module.sg["terrible_example"].aws_security_group.bad',
    ]
    for fw in inv.firewalls:
        assert [summary(r) for r in fw.rules] == [
            ("inbound", "allow", None, "all", (ALL_PORTS,), cidr("0.0.0.0/0"))
        ]


def test_realworld_gcp_module_firewalls() -> None:
    inv = real("terraform__runner__extra_tf_plan_checks__modules.json")
    got = {f.name: [(r.direction, r.protocol, r.ports) for r in f.rules] for f in inv.firewalls}
    assert got == {
        "egress-wss-valid-port443-allow": [("outbound", "tcp", ports(443))],
        "egress-wss-valid-port80and443-allow": [("outbound", "tcp", ports(80, 443))],
        "egress-wss-all-ports-allow": [("outbound", "tcp", (ALL_PORTS,))],
        "egress-wss-violating-port3600-allow": [("outbound", "tcp", ports(80, 443, 3600))],
    }
    assert {f.network for f in inv.firewalls} == {
        "projects/fake-id/global/networks/achia_test-peered-wss-network"
    }
    assert all(r.peers == cidr("0.0.0.0/0") for f in inv.firewalls for r in f.rules)


def test_realworld_separate_rules_of_groups_outside_the_plan() -> None:
    inv = real("terraform__runner__resources__plan_change_keys__tfplan.json")
    got = {f.id: [summary(r) for r in f.rules] for f in inv.firewalls}
    peer = (Peer(kind="security_group", value="sg-8d21ab5963b0e7917"),)
    assert got == {
        "sg-547cc4cd5f94bb695": [("inbound", "allow", None, "tcp", ports((5432, 5433)), peer)],
        "sg-547cc4cd5f94bb696": [("inbound", "allow", None, "udp", ports(8888), peer)],
    }


def test_realworld_azure_nsg_and_separate_rule() -> None:
    inv = real("terraform__runner__resources__plan_with_resource_reference__tfplan_extra_ref.json")
    got = {f.name: [summary(r) for r in f.rules] for f in inv.firewalls}
    assert got == {
        "fail": [],
        "pass": [
            ("inbound", "deny", 100, "tcp", ports(3389), (Peer(kind="service_tag", value="*"),))
        ],
    }


def test_realworld_utf16_plans(tmp_path: Path) -> None:
    for name in (
        "terraform__runner__resources__plan_with_utf_16_encoding__tfplan.json",
        "terraform__parser__resources__plan_encodings__tfplan_win_utf16.json",
    ):
        raw = (REAL / name).read_bytes()
        assert raw[:2] == b"\xff\xfe"
        assert real(name).firewalls == []
        # PowerShell variants without a BOM read the same.
        bomless = tmp_path / name
        bomless.write_bytes(raw[2:])
        assert load_plan(bomless).sources == [f"terraform:{bomless}"]
    utf8_bom = tmp_path / "bom.json"
    utf8_bom.write_bytes(b"\xef\xbb\xbf" + (FIX / "legacy-0.1" / "plan.json").read_bytes())
    assert len(load_plan(utf8_bom).firewalls) == 1
    utf16_ref = tmp_path / "utf16.json"
    utf16_ref.write_bytes((FIX / "aws-broken" / "plan.json").read_text().encode("utf-16-le"))
    assert len(load_plan(utf16_ref).firewalls[0].rules) == 10


def test_realworld_deleted_and_nested_modules_plans() -> None:
    deleted = real("terraform__runner__resources__plan_with_deleted_resources__tfplan.json")
    nested = real("terraform__runner__resources__plan_nested_child_modules__tfplan.json")
    assert deleted.firewalls == nested.firewalls == [] and deleted.vms == nested.vms == []


# ----------------------------------------------------------- bad inputs

BAD = [
    ("not-json.json", "not JSON"),
    ("empty.json", "the plan file is empty"),
    (
        "state.json",
        "this is a Terraform state, not a plan (run terraform show -json on a plan file)",
    ),
    ("format-9.json", "unsupported plan format_version '9.0'"),
    ("malformed-sg.json", "aws_security_group.pbx: ingress: expected a list of blocks"),
]


@pytest.mark.parametrize(("name", "fragment"), BAD)
def test_bad_input_raises_input_error(name: str, fragment: str) -> None:
    path = FIX / "bad" / name
    with pytest.raises(InputError) as err:
        load_plan(path)
    message = str(err.value)
    assert fragment in message and message.startswith(f"{path}:")
    assert "\n" not in message


def test_not_an_object_and_missing_file(tmp_path: Path) -> None:
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(InputError, match="a Terraform plan is a JSON object, found list"):
        load_plan(listing)
    with pytest.raises(InputError, match="cannot read the plan"):
        load_plan(tmp_path / "missing.json")


@pytest.mark.parametrize(("name", "fragment"), BAD)
def test_cli_bad_input_exit_2_one_line(name: str, fragment: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", "scan", "terraform", str(FIX / "bad" / name)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr
