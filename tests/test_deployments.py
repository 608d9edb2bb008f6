"""Whose server is IpPbxSrv: each VM trusts the SwyxWare server of its own deployment.

The must-show estate is built in moto (two tenants, two VPCs, read back through the
live collector), and as Terraform plans for Azure (two VNets) and GCP (two
networks); the precedence rules (profile > swyx-deployment marker > network)
are checked on the model directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from aws_estate import REGION, moto_session  # noqa: F401
from model_estates import prov, rule
from plan_fragments import J, Res, const, declaration, ref, write_plan
from scan_helpers import scan, touches

from policycheck.demo import build_host, build_network, build_security_group, perm
from policycheck.findings import Finding, ScanResult
from policycheck.model import VM, Attachment, FirewallObject, Inventory, Provider
from policycheck.profile import Profile
from policycheck.sources.aws import AwsOptions, collect
from policycheck.sources.terraform import load_plan

GATE_PORT = 5064  # SwyxGate: tcp 5064 inbound from IpPbxSrv only (catalog row 1.3)


def gate_findings(result: ScanResult, vm_name: str) -> list[Finding]:
    """SWYX001/SWYX002 on the SwyxGate port of one VM."""
    return [
        f
        for f in result.findings
        if f.vm_name == vm_name
        and f.rule_id in ("SWYX001", "SWYX002")
        and f.direction == "inbound"
        and touches(f, GATE_PORT)
    ]


# ------------------------------------------------------- two tenants, live AWS


def _tenant(ec2: Any, name: str, octet: int, gate_from: str) -> None:
    """One tenant: a VPC with its SwyxWare server and a SwyxGate VM whose group
    opens the gate port to ``gate_from``."""
    vpc, subnet = build_network(ec2, name, f"10.{octet}.0.0/16", f"10.{octet}.1.0/24")
    server_sg = build_security_group(ec2, f"{name}-server", vpc, [], egress=[])
    build_host(ec2, f"{name}-pbx", subnet, f"10.{octet}.1.10", [server_sg], roles="swyxware-server")
    gate_sg = build_security_group(
        ec2,
        f"{name}-gate",
        vpc,
        [perm("tcp", (GATE_PORT, GATE_PORT), cidrs=[gate_from])],
        egress=[],
    )
    build_host(ec2, f"{name}-gate", subnet, f"10.{octet}.1.20", [gate_sg], roles="swyxgate")


def test_two_tenants_other_tenants_server_is_swyx002(moto_session: boto3.Session) -> None:  # noqa: F811
    ec2 = moto_session.client("ec2", region_name=REGION)
    # Tenant A's gate trusts tenant B's server (the exposure); tenant B's gate
    # trusts its own server (clean).
    _tenant(ec2, "tenant-a", 1, gate_from="10.2.1.10/32")
    _tenant(ec2, "tenant-b", 2, gate_from="10.2.1.10/32")
    inventory = collect(AwsOptions(regions=[REGION], session=moto_session, retry_mode="standard"))
    result = scan(inventory)

    [exposed] = gate_findings(result, "tenant-a-gate")
    assert exposed.rule_id == "SWYX002"
    assert exposed.peers == ["10.2.1.10/32"]
    assert exposed.documented_peers == ["10.1.1.10/32"]
    assert gate_findings(result, "tenant-b-gate") == []


# ---------------------------------------- two tenants in plans, Azure and GCP


def _azure_tenant(t: str, octet: int, gate_from: str) -> tuple[list[Res], list[J]]:
    """Tenant ``t``: a VNet 10.<octet>.0.0/16 with its server (.10) and a SwyxGate
    (.20) whose NSG opens the gate port to ``gate_from``; ids unknown until apply."""
    loc = {"location": "westeurope", "resource_group_name": f"rg-{t}"}
    resources = [
        Res(
            "azurerm_virtual_network",
            t,
            {"name": f"{t}-vnet", "address_space": [f"10.{octet}.0.0/16"], **loc},
            {"id": True, "subnet": True},
        ),
        Res(
            "azurerm_subnet",
            t,
            {
                "name": f"{t}-subnet",
                "virtual_network_name": f"{t}-vnet",
                "resource_group_name": f"rg-{t}",
                "address_prefixes": [f"10.{octet}.1.0/24"],
            },
            {"id": True},
        ),
        Res(
            "azurerm_network_security_group",
            f"{t}_gate",
            {
                "name": f"{t}-gate-nsg",
                **loc,
                "tags": None,
                "security_rule": [
                    {
                        "access": "Allow",
                        "description": "",
                        "destination_address_prefix": "*",
                        "destination_address_prefixes": [],
                        "destination_application_security_group_ids": [],
                        "destination_port_range": str(GATE_PORT),
                        "destination_port_ranges": [],
                        "direction": "Inbound",
                        "name": "gate-from-server",
                        "priority": 100,
                        "protocol": "Tcp",
                        "source_address_prefix": gate_from,
                        "source_address_prefixes": [],
                        "source_application_security_group_ids": [],
                        "source_port_range": "*",
                        "source_port_ranges": [],
                    },
                    # Without it, AllowVnetInBound opens the port to the whole VNet.
                    {
                        "access": "Deny",
                        "description": "",
                        "destination_address_prefix": "*",
                        "destination_address_prefixes": [],
                        "destination_application_security_group_ids": [],
                        "destination_port_range": "*",
                        "destination_port_ranges": [],
                        "direction": "Inbound",
                        "name": "deny-all-inbound",
                        "priority": 4096,
                        "protocol": "*",
                        "source_address_prefix": "*",
                        "source_address_prefixes": [],
                        "source_application_security_group_ids": [],
                        "source_port_range": "*",
                        "source_port_ranges": [],
                    },
                ],
            },
            {"id": True},
        ),
        Res(
            "azurerm_network_interface_security_group_association",
            f"{t}_gate",
            {},
            {"id": True, "network_interface_id": True, "network_security_group_id": True},
        ),
    ]
    config = [
        declaration("azurerm_virtual_network", t, {"name": const(f"{t}-vnet")}),
        declaration(
            "azurerm_subnet", t, {"virtual_network_name": ref(f"azurerm_virtual_network.{t}.name")}
        ),
        declaration("azurerm_network_security_group", f"{t}_gate", {}),
        declaration(
            "azurerm_network_interface_security_group_association",
            f"{t}_gate",
            {
                "network_interface_id": ref(f"azurerm_network_interface.{t}_gate.id"),
                "network_security_group_id": ref(f"azurerm_network_security_group.{t}_gate.id"),
            },
        ),
    ]
    for role, host in (("swyxware-server", 10), ("swyxgate", 20)):
        name = f"{t}_{'pbx' if host == 10 else 'gate'}"
        resources += [
            Res(
                "azurerm_network_interface",
                name,
                {
                    "name": f"{name}-nic",
                    **loc,
                    "ip_configuration": [
                        {
                            "name": "ipconfig1",
                            "private_ip_address_allocation": "Static",
                            "private_ip_address": f"10.{octet}.1.{host}",
                            "private_ip_address_version": "IPv4",
                            "primary": True,
                            "public_ip_address_id": None,
                        }
                    ],
                },
                {"id": True, "ip_configuration": [{"subnet_id": True}]},
            ),
            Res(
                "azurerm_linux_virtual_machine",
                name,
                {
                    "name": name.replace("_", "-"),
                    **loc,
                    "size": "Standard_D4s_v5",
                    "tags": {"swyx-roles": role},
                },
                {"id": True, "network_interface_ids": True},
            ),
        ]
        config += [
            declaration(
                "azurerm_network_interface",
                name,
                {"ip_configuration": [{"subnet_id": ref(f"azurerm_subnet.{t}.id")}]},
            ),
            declaration(
                "azurerm_linux_virtual_machine",
                name,
                {"network_interface_ids": ref(f"azurerm_network_interface.{name}.id")},
            ),
        ]
    return resources, config


def test_two_tenants_in_an_azure_plan(tmp_path: Path) -> None:
    """Tenant A's gate open to tenant B's server (another VNet) is SWYX002; tenant
    B's gate open to its own server is clean."""
    a, a_config = _azure_tenant("tenant_a", 1, gate_from="10.2.1.10")
    b, b_config = _azure_tenant("tenant_b", 2, gate_from="10.2.1.10")
    result = scan(load_plan(write_plan(tmp_path, [*a, *b], [*a_config, *b_config])))
    [exposed] = gate_findings(result, "tenant-a-gate")
    assert exposed.rule_id == "SWYX002"
    assert (exposed.peers, exposed.documented_peers) == (["10.2.1.10/32"], ["10.1.1.10/32"])
    assert gate_findings(result, "tenant-b-gate") == []


def _gcp_tenant(t: str, octet: int, gate_from: str) -> tuple[list[Res], list[J]]:
    """Tenant ``t``: a network with its server (.10) and a SwyxGate (.20) whose
    firewall rule opens the gate port to ``gate_from``."""
    resources = [
        Res(
            "google_compute_network",
            t,
            {"name": f"{t}-net", "auto_create_subnetworks": False},
            {"id": True, "self_link": True},
        ),
        Res(
            "google_compute_subnetwork",
            t,
            {
                "name": f"{t}-subnet",
                "ip_cidr_range": f"10.{octet}.1.0/24",
                "region": "europe-west3",
            },
            {"id": True, "network": True, "self_link": True},
        ),
        Res(
            "google_compute_firewall",
            f"{t}_gate",
            {
                "name": f"{t}-gate",
                "direction": "INGRESS",
                "priority": 1000,
                "source_ranges": [gate_from],
                "allow": [{"protocol": "tcp", "ports": [str(GATE_PORT)]}],
                "deny": [],
                "disabled": False,
                "target_tags": ["swyx-gate"],
            },
            {"id": True, "network": True, "self_link": True},
        ),
    ]
    config = [
        declaration("google_compute_network", t, {"name": const(f"{t}-net")}),
        declaration(
            "google_compute_subnetwork", t, {"network": ref(f"google_compute_network.{t}.id")}
        ),
        declaration(
            "google_compute_firewall",
            f"{t}_gate",
            {"network": ref(f"google_compute_network.{t}.name")},
        ),
    ]
    for role, host in (("swyxware-server", 10), ("swyxgate", 20)):
        name = f"{t}-{'pbx' if host == 10 else 'gate'}"
        resources.append(
            Res(
                "google_compute_instance",
                name.replace("-", "_"),
                {
                    "name": name,
                    "zone": "europe-west3-a",
                    "machine_type": "e2-standard-4",
                    "tags": ["swyx-gate"] if host == 20 else [],
                    "labels": {"swyx-roles": role},
                    "network_interface": [
                        {"network_ip": f"10.{octet}.1.{host}", "access_config": []}
                    ],
                    "service_account": [],
                },
                {
                    "id": True,
                    "self_link": True,
                    "network_interface": [{"network": True, "subnetwork": True}],
                },
            )
        )
        config.append(
            declaration(
                "google_compute_instance",
                name.replace("-", "_"),
                {
                    "network_interface": [
                        {
                            "network": ref(f"google_compute_network.{t}.id"),
                            "subnetwork": ref(f"google_compute_subnetwork.{t}.id"),
                        }
                    ]
                },
            )
        )
    return resources, config


def test_two_tenants_in_a_gcp_plan(tmp_path: Path) -> None:
    a, a_config = _gcp_tenant("tenant-a", 1, gate_from="10.2.1.10/32")
    b, b_config = _gcp_tenant("tenant-b", 2, gate_from="10.2.1.10/32")
    result = scan(load_plan(write_plan(tmp_path, [*a, *b], [*a_config, *b_config])))
    [exposed] = gate_findings(result, "tenant-a-gate")
    assert exposed.rule_id == "SWYX002"
    assert (exposed.peers, exposed.documented_peers) == (["10.2.1.10/32"], ["10.1.1.10/32"])
    assert gate_findings(result, "tenant-b-gate") == []


# ------------------------------------------------------------ the precedence


def _vm(name: str, address: str, roles: str, network: str, **extra: Any) -> VM:
    provider: Provider = extra.pop("provider", "aws")
    tags = {"swyx-roles": roles, **extra.pop("tags", {})}
    return VM(
        provider=provider,
        id=f"vm-{name}",
        name=name,
        addresses=(address,),
        tags=tags,
        networks=(network,) if network else (),
        provenance=prov(provider),
        **extra,
    )


def _gate_group(source: str, tags: dict[str, str] | None = None) -> FirewallObject:
    return FirewallObject(
        provider="aws",
        kind="security_group",
        id="sg-gate",
        name="gate",
        rules=(rule("aws", "gate-5064", "tcp", [(GATE_PORT, GATE_PORT)], [source]),),
        tags=tags or {},
        provenance=prov("aws"),
    )


def _estate(*vms: VM, group: FirewallObject) -> Inventory:
    gate = VM.model_validate(
        {
            **vms[0].model_dump(),
            "attachments": [Attachment(firewall_id=group.id).model_dump()],
        }
    )
    return Inventory(vms=[gate, *vms[1:]], firewalls=[group])


SERVER_A = "10.0.1.10"
SERVER_B = "10.0.1.11"


def test_same_vpc_deployment_tag_decides() -> None:
    """One shared VPC, two deployments told apart by swyx-deployment tags."""
    inv = _estate(
        _vm("gate-a", "10.0.1.20", "swyxgate", "vpc-shared", tags={"swyx-deployment": "a"}),
        _vm("pbx-a", SERVER_A, "swyxware-server", "vpc-shared", tags={"swyx-deployment": "a"}),
        _vm("pbx-b", SERVER_B, "swyxware-server", "vpc-shared", tags={"swyx-deployment": "B "}),
        group=_gate_group(f"{SERVER_B}/32"),
    )
    [exposed] = gate_findings(scan(inv), "gate-a")
    assert exposed.rule_id == "SWYX002" and exposed.peers == [f"{SERVER_B}/32"]
    clean = inv.model_copy(update={"firewalls": [_gate_group(f"{SERVER_A}/32")]})
    assert gate_findings(scan(clean), "gate-a") == []


def test_deployment_marker_on_the_security_group() -> None:
    """The marker may sit on the firewall object that protects the VM."""
    inv = _estate(
        _vm("gate-a", "10.0.1.20", "swyxgate", "vpc-shared"),
        _vm("pbx-a", SERVER_A, "swyxware-server", "vpc-shared", tags={"SWYX-Deployment": "a"}),
        _vm("pbx-b", SERVER_B, "swyxware-server", "vpc-shared", tags={"swyx-deployment": "b"}),
        group=_gate_group(f"{SERVER_B}/32", tags={"swyx-deployment": "a"}),
    )
    [exposed] = gate_findings(scan(inv), "gate-a")
    assert exposed.rule_id == "SWYX002" and exposed.peers == [f"{SERVER_B}/32"]


def test_gcp_network_tag_marker_and_network_default() -> None:
    """GCP: network tag swyx-deployment-<name>; without markers, the network decides."""
    gate = _vm(
        "gate-a",
        "10.0.1.20",
        "swyxgate",
        "projects/p/global/networks/net-a",
        provider="gcp",
        network_tags=("swyx-deployment-a",),
    )
    servers = [
        _vm("pbx-a", SERVER_A, "swyxware-server", "net-b", provider="gcp", tags={}),
        _vm("pbx-b", SERVER_B, "swyxware-server", "net-a", provider="gcp"),
    ]
    servers[0] = servers[0].model_copy(update={"network_tags": ("swyx-deployment-a",)})
    policy = FirewallObject(
        provider="gcp",
        kind="vpc_firewall",
        id="fw-gate",
        name="gate",
        network="net-a",
        rules=(
            rule(
                "gcp",
                "gate-5064",
                "tcp",
                [(GATE_PORT, GATE_PORT)],
                [f"{SERVER_B}/32"],
                priority=1000,
            ),
        ),
        provenance=prov("gcp"),
    )
    inv = Inventory(vms=[gate, *servers], firewalls=[policy])
    [exposed] = gate_findings(scan(inv), "gate-a")
    assert exposed.rule_id == "SWYX002" and exposed.peers == [f"{SERVER_B}/32"]
    # Without the markers the gate trusts the server in its own network: pbx-b.
    unmarked = inv.model_copy(
        update={
            "vms": [
                gate.model_copy(update={"network_tags": ()}),
                servers[0].model_copy(update={"network_tags": ()}),
                servers[1],
            ]
        }
    )
    assert gate_findings(scan(unmarked), "gate-a") == []


def test_profile_ippbxsrv_wins_over_markers_and_networks() -> None:
    inv = _estate(
        _vm("gate-a", "10.0.1.20", "swyxgate", "vpc-a"),
        _vm("pbx-a", SERVER_A, "swyxware-server", "vpc-a"),
        group=_gate_group(f"{SERVER_A}/32"),
    )
    assert gate_findings(scan(inv), "gate-a") == []
    profile = Profile(peer_groups={"IpPbxSrv": ["10.9.9.9/32"]})
    [exposed] = gate_findings(scan(inv, profile), "gate-a")
    assert exposed.rule_id == "SWYX002" and exposed.peers == [f"{SERVER_A}/32"]


def test_other_network_server_is_not_trusted_without_markers() -> None:
    """Default scoping: a server in another VPC is another deployment's server."""
    inv = _estate(
        _vm("gate-a", "10.0.1.20", "swyxgate", "vpc-a"),
        _vm("pbx-a", SERVER_A, "swyxware-server", "vpc-a"),
        _vm("pbx-b", SERVER_B, "swyxware-server", "vpc-b"),
        group=_gate_group(f"{SERVER_B}/32"),
    )
    [exposed] = gate_findings(scan(inv), "gate-a")
    assert exposed.rule_id == "SWYX002" and exposed.peers == [f"{SERVER_B}/32"]
