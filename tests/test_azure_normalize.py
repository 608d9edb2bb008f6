"""ARM REST shapes -> normalized rules and VMs, for the cases the reference estate
does not exercise: ASGs on either side, outbound rules, ESP/AH, unreadable fields,
inline public IPs, and scrubbing of secrets from messages."""

from __future__ import annotations

from typing import Any

import pytest

from policycheck.model import ALL_PORTS, Peer, PortRange, Rule
from policycheck.sources.azure import (
    SubscriptionData,
    normalize_subscription,
    service_tag_groups,
)

SUB = "d0000000-0000-4000-8000-000000000001"
NET = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network"
ASG_WEB = f"{NET}/applicationSecurityGroups/asg-web"
ASG_DB = f"{NET}/applicationSecurityGroups/asg-db"


def security_rule(name: str, **props: Any) -> dict[str, Any]:
    base = {
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "443",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "priority": 100,
        "direction": "Inbound",
    }
    base.update(props)
    return {
        "name": name,
        "id": f"{NET}/networkSecurityGroups/nsg/securityRules/{name}",
        "properties": base,
    }


def rules_of(*rules: dict[str, Any]) -> list[Rule]:
    data = SubscriptionData(
        subscription=SUB,
        nsgs=[
            {
                "name": "nsg",
                "id": f"{NET}/networkSecurityGroups/nsg",
                "location": "westeurope",
                "properties": {"securityRules": list(rules)},
            }
        ],
        asgs=[{"name": n.rsplit("/", 1)[-1], "id": n} for n in (ASG_WEB, ASG_DB)],
    )
    return list(normalize_subscription(data).firewalls[0].rules)


def test_inbound_asgs_are_peers_and_destination_asgs_targets() -> None:
    (rule,) = rules_of(
        security_rule(
            "web",
            sourceAddressPrefix=None,
            sourceAddressPrefixes=["10.1.0.0/16", "10.2.0.0/16"],
            sourceApplicationSecurityGroups=[{"id": ASG_DB.upper()}],
            destinationAddressPrefix=None,
            destinationApplicationSecurityGroups=[{"id": ASG_WEB}],
        )
    )
    assert rule.peers == (
        Peer.cidr("10.1.0.0/16"),
        Peer.cidr("10.2.0.0/16"),
        Peer(kind="app_security_group", value=ASG_DB),  # the ASG's own spelling
    )
    assert rule.targets == (Peer(kind="app_security_group", value=ASG_WEB),)


def test_outbound_peers_are_destinations_and_targets_sources() -> None:
    (rule,) = rules_of(
        security_rule(
            "out",
            direction="Outbound",
            sourceAddressPrefix=None,
            sourceApplicationSecurityGroups=[{"id": ASG_WEB}],
            destinationAddressPrefix="Storage.WestEurope",
            sourcePortRange=None,
            sourcePortRanges=["1024-65535"],
        )
    )
    assert rule.direction == "outbound"
    assert rule.peers == (Peer(kind="service_tag", value="Storage.WestEurope"),)
    assert rule.targets == (Peer(kind="app_security_group", value=ASG_WEB),)
    assert rule.ports == (PortRange(lo=443, hi=443),)
    assert rule.source_ports == (PortRange(lo=1024, hi=65535),)


def test_star_on_the_vm_side_does_not_narrow() -> None:
    inbound, outbound = rules_of(
        security_rule("in", destinationAddressPrefixes=["10.0.1.4"], destinationAddressPrefix="*"),
        security_rule("out", direction="Outbound", sourceAddressPrefix="*"),
    )
    assert inbound.targets == ()
    assert outbound.targets == ()
    assert outbound.peers == (Peer(kind="service_tag", value="*"),)


def test_specific_destination_prefix_narrows_to_those_addresses() -> None:
    (rule,) = rules_of(security_rule("in", destinationAddressPrefix="10.0.1.10"))
    assert rule.targets == (Peer.cidr("10.0.1.10/32"),)


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [("Tcp", "tcp"), ("Udp", "udp"), ("Icmp", "icmp"), ("Esp", "50"), ("Ah", "51"), ("*", "all")],
)
def test_protocols(protocol: str, expected: str) -> None:
    (rule,) = rules_of(security_rule("p", protocol=protocol))
    assert rule.protocol == expected
    assert rule.unknown == ()


def test_unreadable_protocol_and_ports_are_flagged_not_dropped() -> None:
    (rule,) = rules_of(
        security_rule("odd", protocol="Gre", destinationPortRange="http", sourcePortRange="9-1")
    )
    assert rule.protocol == "all"
    assert rule.ports == (ALL_PORTS,)
    assert rule.source_ports == (ALL_PORTS,)
    assert set(rule.unknown) == {"protocol", "destination_ports", "source_ports"}


def test_rule_without_any_remote_side_gets_an_unknown_peer() -> None:
    (rule,) = rules_of(security_rule("empty", sourceAddressPrefix=None))
    assert rule.peers == (Peer(kind="unknown", value="no address prefix or ASG"),)
    assert "peers" in rule.unknown


def test_public_ip_returned_inline_is_an_address_and_missing_nic_is_skipped() -> None:
    nic_id = f"{NET}/networkInterfaces/nic1"
    data = SubscriptionData(
        subscription=SUB,
        nics=[
            {
                "id": nic_id,
                "name": "nic1",
                "properties": {
                    "ipConfigurations": [
                        {
                            "properties": {
                                "privateIPAddress": "10.0.1.4",
                                "publicIPAddress": {
                                    "id": f"{NET}/publicIPAddresses/pip1",
                                    "properties": {"ipAddress": "20.1.2.3"},
                                },
                            }
                        }
                    ]
                },
            }
        ],
        vms=[
            {
                "id": f"{NET.replace('Network', 'Compute')}/virtualMachines/vm1",
                "name": "vm1",
                "properties": {
                    "networkProfile": {
                        "networkInterfaces": [
                            {"id": nic_id.upper()},
                            {"id": f"{NET}/networkInterfaces/gone"},
                        ]
                    }
                },
            }
        ],
    )
    (vm,) = normalize_subscription(data).vms
    assert vm.addresses == ("10.0.1.4", "20.1.2.3")
    assert vm.attachments == ()  # no NSG anywhere: the engine reports the VM as unguarded
    assert vm.networks == ()


def test_service_tag_groups_ignore_star_and_unreferenced_tags() -> None:
    body = {
        "values": [
            {"name": "Storage", "properties": {"addressPrefixes": ["1.2.3.0/24"]}},
            {"name": "Sql", "properties": {"addressPrefixes": ["5.6.7.0/24"]}},
        ]
    }
    groups = service_tag_groups([body, body], {"*", "storage", "Internet"})
    assert [(g.id, g.name, g.cidrs) for g in groups] == [("storage", "Storage", ("1.2.3.0/24",))]
