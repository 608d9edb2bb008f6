"""Azure semantics on real-shaped inputs: the load-balancer probe is not the internet
for required flows, Dynamic private IPs against prefix destinations, service tags
across nextLink pages, and priorities / prefixes that are input errors.

Live estates are the fixtures under fixtures/azure/, edited per test and served by
the fake ARM (tests/azure_fake.py) to the real SDK; plans are written in
``terraform show -json`` shape (tests/plan_fragments.py).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure_fake import FIXTURES, FakeArm, azure_env, fake_arm, read_arm  # noqa: F401
from plan_fragments import Res, const, declaration, ref, write_plan
from scan_helpers import on_port, scan, text, unresolved

from policycheck.errors import InputError
from policycheck.findings import Finding
from policycheck.sources.terraform import load_plan

COMPLIANT = "c0000000-0000-4000-8000-000000000001"
BROKEN = "b0000000-0000-4000-8000-000000000001"
TUNNEL = 16203
RDP = 3389
Json = dict[str, Any]


def estate(tmp_path: Path, name: str, sub: str, edit: Callable[[dict[str, Json]], None]) -> Path:
    """A copy of fixtures/azure/<name>, its subscription's responses edited in place."""
    target = tmp_path / name
    target.mkdir()
    (target / "subscriptions.json").write_text((FIXTURES / name / "subscriptions.json").read_text())
    (target / sub).mkdir()
    bodies = {
        f.stem: json.loads(f.read_text()) for f in sorted((FIXTURES / name / sub).glob("*.json"))
    }
    edit(bodies)
    for stem, body in bodies.items():
        (target / sub / f"{stem}.json").write_text(json.dumps(body))
    return target


def nsg_rules(bodies: dict[str, Json]) -> list[Json]:
    rules: list[Json] = bodies["networkSecurityGroups"]["value"][0]["properties"]["securityRules"]
    return rules


# --------------------------------------- SWYX003 and the load-balancer probe


def test_tunnel_reachable_only_from_the_load_balancer_probe_is_blocked(
    azure_env: FakeArm,  # noqa: F811
    tmp_path: Path,
) -> None:
    """No rule opens the tunnel, and no custom deny-all: only the default
    AllowAzureLoadBalancerInBound lets anything (168.63.129.16) reach 16203."""

    def edit(bodies: dict[str, Json]) -> None:
        rules = nsg_rules(bodies)
        rules[:] = [r for r in rules if r["name"] not in ("C1", "deny-all-inbound")]

    azure_env.use_estate(estate(tmp_path, "compliant", COMPLIANT, edit))
    inventory = read_arm(azure_env)
    [blocked] = on_port(scan(inventory), "SWYX003", TUNNEL)
    assert blocked.level == "warning"
    # The probe is reported neither as exposure nor as the tunnel's peer.
    exposed = on_port(scan(inventory), "SWYX001", TUNNEL)
    assert not [f for f in exposed if "168.63.129.16/32" in f.peers]


def test_tunnel_from_the_internet_is_still_satisfied(
    azure_env: FakeArm,  # noqa: F811
) -> None:
    azure_env.use_estate("compliant")
    assert on_port(scan(read_arm(azure_env)), "SWYX003", TUNNEL) == []


# ------------------------------------------------- Dynamic private addresses


def azure_plan(
    tmp_path: Path,
    rules: list[Json],
    *,
    subnet_prefixes: list[str] | None = None,
) -> Path:
    """pbx1 whose NIC has a Dynamic private IP (unknown until apply) in pbx-subnet."""
    prefixes = ["10.0.1.0/24"] if subnet_prefixes is None else subnet_prefixes
    resources = [
        Res(
            "azurerm_virtual_network",
            "swyx",
            {"name": "swyx-vnet", "address_space": ["10.0.0.0/16"], "location": "westeurope"},
            {"id": True, "subnet": True},
        ),
        Res(
            "azurerm_subnet",
            "pbx",
            {
                "name": "pbx-subnet",
                "virtual_network_name": "swyx-vnet",
                "resource_group_name": "rg-swyx",
                "address_prefixes": prefixes,
            },
            {"id": True, **({} if prefixes else {"address_prefixes": True})},
        ),
        Res(
            "azurerm_network_security_group",
            "pbx",
            {
                "name": "pbx1-nsg",
                "location": "westeurope",
                "resource_group_name": "rg-swyx",
                "security_rule": rules,
                "tags": None,
            },
            {"id": True},
        ),
        Res(
            "azurerm_network_interface",
            "pbx",
            {
                "name": "pbx1-nic",
                "location": "westeurope",
                "resource_group_name": "rg-swyx",
                "ip_configuration": [
                    {
                        "name": "ipconfig1",
                        "private_ip_address_allocation": "Dynamic",
                        "private_ip_address_version": "IPv4",
                        "primary": True,
                        "public_ip_address_id": None,
                    }
                ],
            },
            {
                "id": True,
                "private_ip_address": True,
                "private_ip_addresses": True,
                "ip_configuration": [{"subnet_id": True, "private_ip_address": True}],
            },
        ),
        Res(
            "azurerm_network_interface_security_group_association",
            "pbx",
            {},
            {"id": True, "network_interface_id": True, "network_security_group_id": True},
        ),
        Res(
            "azurerm_windows_virtual_machine",
            "pbx",
            {
                "name": "pbx1",
                "location": "westeurope",
                "resource_group_name": "rg-swyx",
                "size": "Standard_D4s_v5",
                "tags": {"swyx-roles": "swyxware-server, remote-connector"},
            },
            {"id": True, "network_interface_ids": True, "private_ip_address": True},
        ),
    ]
    config = [
        declaration("azurerm_virtual_network", "swyx", {"name": const("swyx-vnet")}),
        declaration(
            "azurerm_subnet",
            "pbx",
            {"virtual_network_name": ref("azurerm_virtual_network.swyx.name")},
        ),
        declaration("azurerm_network_security_group", "pbx", {"name": const("pbx1-nsg")}),
        declaration(
            "azurerm_network_interface",
            "pbx",
            {"ip_configuration": [{"subnet_id": ref("azurerm_subnet.pbx.id")}]},
        ),
        declaration(
            "azurerm_network_interface_security_group_association",
            "pbx",
            {
                "network_interface_id": ref("azurerm_network_interface.pbx.id"),
                "network_security_group_id": ref("azurerm_network_security_group.pbx.id"),
            },
        ),
        declaration(
            "azurerm_windows_virtual_machine",
            "pbx",
            {"network_interface_ids": ref("azurerm_network_interface.pbx.id")},
        ),
    ]
    return write_plan(tmp_path, resources, config)


def nsg_rule(
    name: str,
    priority: int,
    port: str,
    *,
    access: str = "Allow",
    source: str = "*",
    destination: str = "*",
) -> Json:
    """One inline security_rule block of azurerm_network_security_group."""
    return {
        "access": access,
        "description": "",
        "destination_address_prefix": destination,
        "destination_address_prefixes": [],
        "destination_application_security_group_ids": [],
        "destination_port_range": port,
        "destination_port_ranges": [],
        "direction": "Inbound",
        "name": name,
        "priority": priority,
        "protocol": "Tcp",
        "source_address_prefix": source,
        "source_address_prefixes": [],
        "source_application_security_group_ids": [],
        "source_port_range": "*",
        "source_port_ranges": [],
    }


TUNNEL_RULE = nsg_rule("tunnel", 100, str(TUNNEL), source="Internet")


def by_rule(findings: list[Finding], name: str) -> list[Finding]:
    """The findings blaming the NSG rule ``name`` (AllowVnetInBound gives its own)."""
    return [f for f in findings if any(r.rule_name == name for r in f.rules)]


def test_prefix_destination_applies_to_a_dynamic_address_in_it(tmp_path: Path) -> None:
    plan = azure_plan(
        tmp_path, [TUNNEL_RULE, nsg_rule("rdp", 200, "3389", destination="10.0.1.0/24")]
    )
    inv = load_plan(plan)
    [vm] = inv.vms
    assert (vm.addresses, vm.address_ranges) == ((), ("10.0.1.0/24",))
    result = scan(inv)
    [rdp] = by_rule(on_port(result, "SWYX001", RDP), "rdp")
    assert "0.0.0.0/0" in rdp.peers or "::/0" in rdp.peers
    assert not unresolved(result)


def test_partly_overlapping_prefix_is_swyx005_and_allows_conservatively(tmp_path: Path) -> None:
    plan = azure_plan(
        tmp_path, [TUNNEL_RULE, nsg_rule("rdp", 200, "3389", destination="10.0.1.0/25")]
    )
    result = scan(load_plan(plan))
    assert by_rule(on_port(result, "SWYX001", RDP), "rdp")  # counted as applying
    [unknown] = unresolved(result)
    assert "rdp" in text(unknown) and "10.0.1.0/24" in text(unknown)


def test_partly_overlapping_deny_does_not_hide_exposure(tmp_path: Path) -> None:
    plan = azure_plan(
        tmp_path,
        [
            TUNNEL_RULE,
            nsg_rule("deny-rdp", 150, "3389", access="Deny", destination="10.0.1.128/25"),
            nsg_rule("rdp", 200, "3389"),
        ],
    )
    result = scan(load_plan(plan))
    assert by_rule(on_port(result, "SWYX001", RDP), "rdp")  # the deny may miss: not applied
    [unknown] = unresolved(result)
    assert "deny-rdp" in text(unknown) and "not applying" in text(unknown)


def test_disjoint_prefix_never_applies(tmp_path: Path) -> None:
    plan = azure_plan(
        tmp_path, [TUNNEL_RULE, nsg_rule("rdp", 200, "3389", destination="10.0.2.0/24")]
    )
    result = scan(load_plan(plan))
    assert by_rule(on_port(result, "SWYX001", RDP), "rdp") == []
    assert not unresolved(result)


def test_unknown_subnet_prefix_is_swyx005(tmp_path: Path) -> None:
    plan = azure_plan(
        tmp_path,
        [TUNNEL_RULE, nsg_rule("rdp", 200, "3389", destination="10.0.1.0/24")],
        subnet_prefixes=[],
    )
    result = scan(load_plan(plan))
    assert by_rule(on_port(result, "SWYX001", RDP), "rdp")
    assert [f for f in result.findings if f.rule_id == "SWYX005" and "rdp" in text(f)]


def test_live_dynamic_nic_without_an_address_yet(
    azure_env: FakeArm,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A Dynamic ipConfiguration ARM returns before the address is assigned."""

    def edit(bodies: dict[str, Json]) -> None:
        config = bodies["networkInterfaces"]["value"][0]["properties"]["ipConfigurations"][0]
        config["properties"]["privateIPAllocationMethod"] = "Dynamic"
        del config["properties"]["privateIPAddress"]
        rules = nsg_rules(bodies)
        rdp = copy.deepcopy(rules[0])
        rdp["name"] = "rdp-to-subnet"
        rdp["id"] = rdp["id"].replace("/C1", "/rdp-to-subnet")
        rdp["properties"].update(
            destinationPortRanges=[],
            destinationPortRange="3389",
            destinationAddressPrefix="10.0.1.0/24",
            priority=1100,
        )
        rules.append(rdp)

    azure_env.use_estate(estate(tmp_path, "compliant", COMPLIANT, edit))
    inventory = read_arm(azure_env)
    [vm] = inventory.vms
    assert (vm.addresses, vm.address_ranges) == ((), ("10.0.1.0/24",))
    assert by_rule(on_port(scan(inventory), "SWYX001", RDP), "rdp-to-subnet")


# ------------------------------------------------------- service tags, paged


def test_service_tags_are_read_across_next_link_pages(
    azure_env: FakeArm,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The fake serves one tag per page; a tag on a later page must be expanded."""

    def edit(bodies: dict[str, Json]) -> None:
        nsg_rules(bodies)[0]["properties"]["sourceAddressPrefix"] = "AzureMonitor"

    azure_env.use_estate(estate(tmp_path, "broken", BROKEN, edit))
    inventory = read_arm(azure_env)
    values = json.loads((FIXTURES / "broken" / BROKEN / "serviceTags.json").read_text())["values"]
    assert [v["name"] for v in values].index("AzureMonitor") > 0  # not on the first page
    [group] = inventory.address_groups
    assert group.id == "AzureMonitor" and group.cidrs
    tag_pages = [
        r.query.get("$skiptoken", [None])[0]
        for r in azure_env.arm_requests()
        if r.path.endswith("/serviceTags")
    ]
    assert tag_pages == [None, *(str(i) for i in range(1, len(values)))]
    unknown = unresolved(scan(inventory))
    assert not [f for f in unknown if "AzureMonitor" in text(f)]


def test_service_tag_next_link_to_another_host_is_not_followed(
    azure_env: FakeArm,  # noqa: F811
) -> None:
    """The next page's request would carry the bearer token: a nextLink naming any
    host but the ARM endpoint is a bad response, never followed."""
    azure_env.use_estate("broken")
    azure_env.service_tags_link_base = azure_env.url.replace("127.0.0.1", "localhost")
    with pytest.raises(InputError, match=r"nextLink 'https://localhost:.*not followed"):
        read_arm(azure_env)
    tag_requests = [r for r in azure_env.arm_requests() if r.path.endswith("/serviceTags")]
    assert len(tag_requests) == 1


# ------------------------------------------------- priorities and prefixes


def test_live_priority_outside_the_range_is_an_input_error(
    azure_env: FakeArm,  # noqa: F811
    tmp_path: Path,
) -> None:
    def edit(bodies: dict[str, Json]) -> None:
        nsg_rules(bodies)[1]["properties"]["priority"] = 5000

    azure_env.use_estate(estate(tmp_path, "compliant", COMPLIANT, edit))
    with pytest.raises(InputError, match=r"Azure NSG pbx1-nsg: rule C2: priority 5000"):
        read_arm(azure_env)


def test_live_malformed_prefix_is_an_input_error_not_a_service_tag(
    azure_env: FakeArm,  # noqa: F811
    tmp_path: Path,
) -> None:
    def edit(bodies: dict[str, Json]) -> None:
        nsg_rules(bodies)[1]["properties"]["sourceAddressPrefix"] = "0.0.0.0/33"

    azure_env.use_estate(estate(tmp_path, "compliant", COMPLIANT, edit))
    with pytest.raises(InputError) as err:
        read_arm(azure_env)
    message = str(err.value)
    assert "C2" in message and "0.0.0.0/33" in message and "service tag" not in message


@pytest.mark.parametrize("prefix", ["0.0.0.0/33", "10.0.0.256", "2001:db8::/129", "10.0.0.0/8/8"])
def test_plan_malformed_prefix_is_an_input_error(tmp_path: Path, prefix: str) -> None:
    plan = azure_plan(tmp_path, [TUNNEL_RULE, nsg_rule("rdp", 200, "3389", source=prefix)])
    with pytest.raises(InputError) as err:
        load_plan(plan)
    message = str(err.value)
    assert "security_rule[1]" in message and prefix in message
    assert "service tag" not in message


@pytest.mark.parametrize("tag", ["Storage.WestEurope", "AzureCloud", "Sql.EastUS2", "Internet"])
def test_service_tag_names_are_not_prefixes(tmp_path: Path, tag: str) -> None:
    """A plan has no Service Tags API: a tag is kept by name and, unless built in,
    reported as unresolved (never an input error, never silently nothing)."""
    plan = azure_plan(tmp_path, [TUNNEL_RULE, nsg_rule("rdp", 200, "3389", source=tag)])
    result = scan(load_plan(plan))
    unknown = [f for f in unresolved(result) if tag in text(f)]
    if tag == "Internet":
        assert not unknown and by_rule(on_port(result, "SWYX001", RDP), "rdp")
    else:
        assert unknown


# ------------------------------------------- the platform address, as a class


@pytest.mark.parametrize(
    "source", ["AzureLoadBalancer", "azureloadbalancer", "168.63.129.16", "168.63.129.16/32"]
)
def test_plan_tunnel_open_only_to_the_platform_address_is_blocked(
    tmp_path: Path, source: str
) -> None:
    """Whether the platform address comes through the tag (any case) or is written
    as an address, a custom rule letting only it reach the tunnel satisfies nothing."""
    plan = azure_plan(tmp_path, [nsg_rule("tunnel", 100, str(TUNNEL), source=source)])
    result = scan(load_plan(plan))
    [blocked] = on_port(result, "SWYX003", TUNNEL)
    assert blocked.vm_name == "pbx1"


def test_plan_tunnel_open_to_the_internet_is_satisfied(tmp_path: Path) -> None:
    plan = azure_plan(tmp_path, [TUNNEL_RULE])
    assert on_port(scan(load_plan(plan)), "SWYX003", TUNNEL) == []


# ----------------------------- Dynamic addresses on the VM side of outbound rules


def outbound_deny(source: str) -> Json:
    """Deny everything to the internet from ``source`` (the VM side of an outbound rule)."""
    rule = nsg_rule("deny-out", 4000, "*", access="Deny", source=source, destination="Internet")
    return {**rule, "direction": "Outbound", "protocol": "*"}


def internet_egress(findings: list[Finding]) -> list[Finding]:
    return [f for f in by_rule(findings, "AllowInternetOutBound") if f.rule_id == "SWYX004"]


def test_outbound_source_prefix_applies_to_a_dynamic_address_in_it(tmp_path: Path) -> None:
    result = scan(load_plan(azure_plan(tmp_path, [TUNNEL_RULE, outbound_deny("10.0.1.0/24")])))
    assert internet_egress(result.findings) == []  # the deny holds the VM
    assert not unresolved(result)


def test_outbound_source_prefix_missing_the_subnet_never_applies(tmp_path: Path) -> None:
    result = scan(load_plan(azure_plan(tmp_path, [TUNNEL_RULE, outbound_deny("10.0.2.0/24")])))
    assert internet_egress(result.findings)
    assert not unresolved(result)


def test_outbound_partial_deny_is_swyx005_and_not_applied(tmp_path: Path) -> None:
    result = scan(load_plan(azure_plan(tmp_path, [TUNNEL_RULE, outbound_deny("10.0.1.0/25")])))
    assert internet_egress(result.findings)  # the deny may miss the VM: egress stays visible
    [unknown] = unresolved(result)
    assert "deny-out" in text(unknown) and "not applying" in text(unknown)


# ------------------------------------------------------------ the CLI, exit 2


def test_cli_malformed_prefix_exits_2_with_one_line(tmp_path: Path) -> None:
    plan = azure_plan(tmp_path, [TUNNEL_RULE, nsg_rule("rdp", 200, "3389", source="0.0.0.0/33")])
    out = tmp_path / "report.sarif"
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", "scan", "terraform", str(plan), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "0.0.0.0/33" in line and "security_rule[1]" in line
    assert "Traceback" not in proc.stderr and not out.exists()
