"""Paging: every list the collector reads is followed across pages.

botocore's ``Stubber`` serves scripted responses to a real EC2 client and checks
each request's parameters, so this proves that *every* paginated operation asks
for the largest page, follows ``NextToken`` and that nothing on page 2 is lost.
(moto ignores ``MaxResults`` for most EC2 lists, hence the Stubber here.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from policycheck.model import Peer, PortRange
from policycheck.sources.aws import PAGE_SIZES, client_config, read_region

REGION = "eu-central-1"
ACCOUNT = "123456789012"
ANY = "0.0.0.0/0"
PL = "pl-2"


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client("ec2", config=client_config("standard"))
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _two_pages(
    stubber: Stubber,
    operation: str,
    key: str,
    first: list[dict[str, Any]],
    second: list[dict[str, Any]],
    **params: Any,
) -> None:
    size = PAGE_SIZES[operation]
    stubber.add_response(
        operation, {key: first, "NextToken": f"{operation}-2"}, {**params, "MaxResults": size}
    )
    stubber.add_response(
        operation, {key: second}, {**params, "MaxResults": size, "NextToken": f"{operation}-2"}
    )


def _sg_rule(rule_id: str, group: str, **fields: Any) -> dict[str, Any]:
    return {"SecurityGroupRuleId": rule_id, "GroupId": group, "IsEgress": False, **fields}


def _instance(instance_id: str, address: str, group: str, state: str = "running") -> dict[str, Any]:
    return {
        "Instances": [
            {
                "InstanceId": instance_id,
                "State": {"Name": state},
                "VpcId": "vpc-2",
                "Tags": [{"Key": "Name", "Value": instance_id.replace("i-", "vm-")}],
                "NetworkInterfaces": [
                    {
                        "NetworkInterfaceId": f"eni-{address.rsplit('.', 1)[1]}",
                        "VpcId": "vpc-2",
                        "PrivateIpAddresses": [{"PrivateIpAddress": address}],
                        "Groups": [{"GroupId": group, "GroupName": group}],
                    }
                ],
            }
        ]
    }


def test_every_paginated_read_follows_next_token(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    _two_pages(
        stubber,
        "describe_vpcs",
        "Vpcs",
        [{"VpcId": "vpc-1", "CidrBlock": "172.31.0.0/16"}],
        [
            {
                "VpcId": "vpc-2",
                "CidrBlock": "10.0.0.0/16",
                "CidrBlockAssociationSet": [
                    {"CidrBlock": "10.0.0.0/16", "CidrBlockState": {"State": "associated"}},
                    {"CidrBlock": "10.9.0.0/16", "CidrBlockState": {"State": "disassociated"}},
                ],
            }
        ],
    )
    _two_pages(
        stubber,
        "describe_security_groups",
        "SecurityGroups",
        [{"GroupId": "sg-1", "GroupName": "one", "VpcId": "vpc-2"}],
        [
            {
                "GroupId": "sg-2",
                "GroupName": "two",
                "VpcId": "vpc-2",
                "Tags": [{"Key": "team", "Value": "voice"}],
            }
        ],
    )
    _two_pages(
        stubber,
        "describe_security_group_rules",
        "SecurityGroupRules",
        [
            _sg_rule(
                "sgr-1", "sg-1", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIpv4="0.0.0.0/0"
            ),
            _sg_rule(
                "sgr-2",
                "sg-2",
                IpProtocol="tcp",
                FromPort=9094,
                ToPort=9094,
                # A group of another account keeps its id; the engine reports it unresolved.
                ReferencedGroupInfo={"GroupId": "sg-0foreign", "UserId": "999999999999"},
            ),
        ],
        [
            _sg_rule(
                "sgr-3", "sg-2", IpProtocol="udp", FromPort=5060, ToPort=5060, PrefixListId="pl-2"
            ),
            _sg_rule("sgr-4", "sg-2", IpProtocol="50", FromPort=-1, ToPort=-1, CidrIpv6="::/0"),
            _sg_rule("sgr-5", "sg-2", IpProtocol="bogus", CidrIpv4="10.0.0.0/8"),
        ],
    )
    _two_pages(
        stubber,
        "describe_network_acls",
        "NetworkAcls",
        [{"NetworkAclId": "acl-1", "VpcId": "vpc-1", "Entries": []}],
        [
            {
                "NetworkAclId": "acl-2",
                "VpcId": "vpc-2",
                "Entries": [
                    {
                        "RuleNumber": 10,
                        "Protocol": "6",
                        "RuleAction": "deny",
                        "Egress": False,
                        "CidrBlock": "0.0.0.0/0",
                        "PortRange": {"From": 3389, "To": 3389},
                    }
                ],
            }
        ],
    )
    # pl-1 (page 1) is referenced by no rule: its entries are not fetched.
    _two_pages(
        stubber,
        "describe_managed_prefix_lists",
        "PrefixLists",
        [{"PrefixListId": "pl-1", "PrefixListName": "unused"}],
        [{"PrefixListId": "pl-2", "PrefixListName": "carriers"}],
    )
    _two_pages(
        stubber,
        "get_managed_prefix_list_entries",
        "Entries",
        [{"Cidr": "192.0.2.0/24"}],
        [{"Cidr": "198.51.100.0/24"}],
        PrefixListId="pl-2",
    )
    _two_pages(
        stubber,
        "describe_instances",
        "Reservations",
        [
            _instance("i-1", "10.0.1.10", "sg-1"),
            _instance("i-9", "10.0.1.99", "sg-1", "terminated"),
        ],
        [_instance("i-2", "10.0.1.20", "sg-2")],
    )

    inv = read_region(client, ACCOUNT, REGION)

    assert [(n.id, n.address_spaces) for n in inv.networks] == [
        ("vpc-1", ("172.31.0.0/16",)),
        ("vpc-2", ("10.0.0.0/16",)),
    ]
    groups = {f.id: f for f in inv.firewalls if f.kind == "security_group"}
    assert sorted(groups) == ["sg-1", "sg-2"]
    assert groups["sg-2"].tags == {"team": "voice"}
    rules = {r.id: r for g in groups.values() for r in g.rules}
    assert sorted(rules) == ["sgr-1", "sgr-2", "sgr-3", "sgr-4", "sgr-5"]
    assert rules["sgr-2"].peers == (Peer(kind="security_group", value="sg-0foreign"),)
    assert rules["sgr-3"].peers == (Peer(kind="prefix_list", value="pl-2"),)
    assert (rules["sgr-3"].protocol, rules["sgr-3"].ports) == (
        "udp",
        (PortRange(lo=5060, hi=5060),),
    )
    assert (rules["sgr-4"].protocol, str(rules["sgr-4"].ports[0])) == ("50", "0-65535")
    # An unknown protocol is kept, marked unknown, never dropped.
    assert (rules["sgr-5"].protocol, rules["sgr-5"].unknown) == ("all", ("protocol",))
    nacls = {f.id: f for f in inv.firewalls if f.kind == "network_acl"}
    assert sorted(nacls) == ["acl-1", "acl-2"]
    assert [(r.priority, r.action, str(r.ports[0])) for r in nacls["acl-2"].rules] == [
        (10, "deny", "3389-3389")
    ]
    assert [(g.id, g.cidrs) for g in inv.address_groups] == [
        ("pl-2", ("192.0.2.0/24", "198.51.100.0/24"))
    ]
    assert [(vm.id, vm.name, vm.addresses) for vm in inv.vms] == [
        ("i-1", "vm-1", ("10.0.1.10",)),
        ("i-2", "vm-2", ("10.0.1.20",)),
    ]


def test_unparsable_cidr_becomes_an_unknown_peer(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    bad = _sg_rule(
        "sgr-1", "sg-1", IpProtocol="tcp", FromPort=22, ToPort=22, CidrIpv4="10.0.0.0/33"
    )
    responses: list[tuple[str, dict[str, Any]]] = [
        ("describe_vpcs", {"Vpcs": []}),
        ("describe_security_groups", {"SecurityGroups": [{"GroupId": "sg-1", "GroupName": "one"}]}),
        ("describe_security_group_rules", {"SecurityGroupRules": [bad]}),
        ("describe_network_acls", {"NetworkAcls": []}),
        ("describe_managed_prefix_lists", {"PrefixLists": []}),
        ("describe_instances", {"Reservations": []}),
    ]
    for operation, response in responses:
        stubber.add_response(operation, response, {"MaxResults": PAGE_SIZES[operation]})
    inv = read_region(client, ACCOUNT, REGION)
    (rule,) = inv.firewalls[0].rules
    assert rule.peers == (Peer(kind="unknown", value="10.0.0.0/33"),)
    assert rule.unknown == ("peers",)
    assert rule.ports == (PortRange(lo=22, hi=22),)
