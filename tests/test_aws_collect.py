"""The AWS collector against moto in-process (``mock_aws``): what comes back is
exactly what was built, through the real boto3 client and paginators."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
from aws_estate import REGION, build_estate, moto_session  # noqa: F401

from policycheck.model import Inventory, Peer, PortRange, Rule
from policycheck.sources import aws
from policycheck.sources.aws import READ_ONLY_PREFIXES, AwsOptions, collect

ACCOUNT = "123456789012"  # moto's default account


def _ec2(session: boto3.Session, region: str = REGION) -> Any:
    return session.client("ec2", region_name=region)


def _collect(session: boto3.Session, regions: list[str] | None = None) -> Inventory:
    return collect(AwsOptions(regions=regions or [REGION], session=session, retry_mode="standard"))


def _shape(rule: Rule) -> tuple[str, str, tuple[str, ...], tuple[str, ...], str | None]:
    return (
        rule.direction,
        rule.protocol,
        tuple(str(p) for p in rule.ports),
        tuple(str(p) for p in rule.peers),
        rule.description,
    )


def _group(inventory: Inventory, name: str) -> Any:
    matches = [f for f in inventory.firewalls if f.kind == "security_group" and f.name == name]
    assert len(matches) == 1, [f.name for f in inventory.firewalls]
    return matches[0]


# ---------------------------------------------------------- the reference estate


def test_broken_estate_rules_come_back_exactly(moto_session: boto3.Session) -> None:  # noqa: F811
    ids = build_estate(_ec2(moto_session), "broken")
    inv = _collect(moto_session)
    sg = _group(inv, "swyx-pbx")
    assert sg.id == ids["sg_id"]
    assert sg.network == ids["vpc_id"]
    assert sorted(_shape(r) for r in sg.rules) == sorted(
        [
            ("inbound", "tcp", ("3389-3389",), ("0.0.0.0/0",), "B1"),
            ("inbound", "tcp", ("5060-5060",), ("0.0.0.0/0",), "B2"),
            ("inbound", "all", ("0-65535",), ("10.0.0.0/8",), "B3"),
            ("inbound", "tcp", ("22-22",), ("::/0",), "B4"),
            ("inbound", "tcp", ("16203-16203",), ("0.0.0.0/0",), "B5"),
            ("inbound", "tcp", ("57203-57203",), ("0.0.0.0/0",), "B5"),
            ("inbound", "tcp", ("9094-9094",), ("10.0.0.0/8",), "B6"),
            ("inbound", "tcp", ("9101-9101",), ("0.0.0.0/0",), "B7"),
            ("outbound", "all", ("0-65535",), ("0.0.0.0/0",), None),
        ]
    )
    # Rule ids are EC2's stable security group rule ids, and unique.
    assert all(r.id.startswith("sgr-") for r in sg.rules)
    assert len({r.id for r in sg.rules}) == len(sg.rules)
    assert all(r.priority is None and r.action == "allow" for r in sg.rules)
    assert not inv.errors


def test_compliant_estate_rules_come_back_exactly(moto_session: boto3.Session) -> None:  # noqa: F811
    build_estate(_ec2(moto_session), "compliant")
    sg = _group(_collect(moto_session), "swyx-pbx")
    assert sorted(_shape(r) for r in sg.rules) == sorted(
        [
            ("inbound", "tcp", ("16203-16203",), ("0.0.0.0/0",), "C1"),
            ("inbound", "tcp", ("57203-57203",), ("0.0.0.0/0",), "C1"),
            ("inbound", "tcp", ("9101-9101",), ("0.0.0.0/0",), "C2"),
            ("inbound", "tcp", ("9094-9094",), ("10.0.0.0/8",), "C3"),
            ("inbound", "tcp", ("9100-9100",), ("10.0.0.0/8",), "C3"),
            ("inbound", "tcp", ("9200-9200",), ("10.0.0.0/8",), "C3"),
            ("inbound", "tcp", ("5060-5060",), ("10.0.0.0/8",), "C4"),
            ("inbound", "udp", ("5060-5060",), ("10.0.0.0/8",), "C4"),
            ("inbound", "udp", ("51000-51499",), ("10.0.0.0/8",), "C5"),
            ("outbound", "tcp", ("0-65535",), ("0.0.0.0/0",), "E"),
            ("outbound", "udp", ("0-65535",), ("0.0.0.0/0",), "E"),
        ]
    )


def test_pbx1_vm_has_tags_address_network_and_interface_attachment(
    moto_session: boto3.Session,  # noqa: F811
) -> None:
    ids = build_estate(_ec2(moto_session), "broken")
    inv = _collect(moto_session)
    assert [vm.name for vm in inv.vms] == ["pbx1"]
    vm = inv.vms[0]
    assert vm.id == ids["instance_id"]
    assert vm.addresses == ("10.0.1.10",)
    assert vm.tags["swyx-roles"] == "swyxware-server, cds, linkmanager, remote-connector"
    assert vm.networks == (ids["vpc_id"],)
    default_acl = next(
        f.id for f in inv.firewalls if f.kind == "network_acl" and f.network == ids["vpc_id"]
    )
    assert [(a.firewall_id, a.level, a.via) for a in vm.attachments] == [
        (ids["sg_id"], "interface", ids["eni_id"]),
        (default_acl, "subnet", ids["subnet_id"]),  # the VPC's default network ACL
    ]
    assert vm.provenance.source == "aws"
    assert vm.provenance.scope == ACCOUNT
    assert vm.provenance.region == REGION
    assert vm.provenance.cloud_id == f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{vm.id}"
    network = next(n for n in inv.networks if n.id == ids["vpc_id"])
    assert network.address_spaces == ("10.0.0.0/16",)
    assert network.name == "swyx-net"
    assert inv.sources == [f"aws:{ACCOUNT}/{REGION}"]


def test_union_of_groups_over_all_interfaces(moto_session: boto3.Session) -> None:  # noqa: F811
    ec2 = _ec2(moto_session)
    ids = build_estate(ec2, "compliant")
    extra = ec2.create_security_group(GroupName="mgmt", Description="m", VpcId=ids["vpc_id"])
    eni = ec2.create_network_interface(
        SubnetId=ids["subnet_id"], PrivateIpAddress="10.0.1.11", Groups=[extra["GroupId"]]
    )["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(
        NetworkInterfaceId=eni, InstanceId=ids["instance_id"], DeviceIndex=1
    )
    vm = _collect(moto_session).vms[0]
    assert sorted(vm.addresses) == ["10.0.1.10", "10.0.1.11"]
    assert sorted(
        (a.firewall_id, a.via) for a in vm.attachments if a.level == "interface"
    ) == sorted([(ids["sg_id"], ids["eni_id"]), (extra["GroupId"], eni)])


def test_public_address_is_collected(moto_session: boto3.Session) -> None:  # noqa: F811
    ec2 = _ec2(moto_session)
    ids = build_estate(ec2, "broken")
    alloc = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=ids["instance_id"])
    vm = _collect(moto_session).vms[0]
    assert set(vm.addresses) == {"10.0.1.10", alloc["PublicIp"]}


def test_terminated_instances_are_not_vms(moto_session: boto3.Session) -> None:  # noqa: F811
    ec2 = _ec2(moto_session)
    ids = build_estate(ec2, "broken")
    ec2.terminate_instances(InstanceIds=[ids["instance_id"]])
    assert _collect(moto_session).vms == []


# ------------------------------------------------- references, lists and NACLs


def test_security_group_and_prefix_list_peers(moto_session: boto3.Session) -> None:  # noqa: F811
    ec2 = _ec2(moto_session)
    ids = build_estate(ec2, "compliant")
    admin = ec2.create_security_group(GroupName="admin", Description="a", VpcId=ids["vpc_id"])
    office = ec2.create_managed_prefix_list(
        PrefixListName="office",
        MaxEntries=5,
        AddressFamily="IPv4",
        Entries=[{"Cidr": "203.0.113.0/24"}, {"Cidr": "198.51.100.0/24"}],
    )["PrefixList"]["PrefixListId"]
    ec2.authorize_security_group_ingress(
        GroupId=ids["sg_id"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 3389,
                "ToPort": 3389,
                "UserIdGroupPairs": [{"GroupId": admin["GroupId"]}],
                "PrefixListIds": [{"PrefixListId": office}],
            }
        ],
    )
    inv = _collect(moto_session)
    rdp = [r for r in _group(inv, "swyx-pbx").rules if r.ports == (PortRange(lo=3389, hi=3389),)]
    # One EC2 rule per peer, as DescribeSecurityGroupRules reports them.
    assert {r.peers for r in rdp} == {
        (Peer(kind="security_group", value=admin["GroupId"]),),
        (Peer(kind="prefix_list", value=office),),
    }
    assert len(rdp) == 2
    # Only the referenced list is resolved (moto also has AWS-managed lists).
    assert [(g.id, g.name, g.kind, sorted(g.cidrs)) for g in inv.address_groups] == [
        (office, "office", "prefix_list", ["198.51.100.0/24", "203.0.113.0/24"])
    ]


def test_network_acls_are_ordered_inventory_not_attachments(moto_session: boto3.Session) -> None:  # noqa: F811
    ec2 = _ec2(moto_session)
    ids = build_estate(ec2, "broken")
    acl = ec2.create_network_acl(
        VpcId=ids["vpc_id"],
        TagSpecifications=[
            {"ResourceType": "network-acl", "Tags": [{"Key": "Name", "Value": "pbx"}]}
        ],
    )["NetworkAcl"]["NetworkAclId"]
    entries = [
        (100, "-1", "allow", False, {"Ipv6CidrBlock": "::/0"}),
        (90, "6", "deny", False, {"CidrBlock": "0.0.0.0/0", "PortRange": {"From": 22, "To": 22}}),
        (
            100,
            "17",
            "allow",
            True,
            {"CidrBlock": "10.0.0.0/8", "PortRange": {"From": 53, "To": 53}},
        ),
    ]
    for number, proto, action, egress, extra in entries:
        ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=number,
            Protocol=proto,
            RuleAction=action,
            Egress=egress,
            **extra,
        )
    inv = _collect(moto_session)
    nacl = next(f for f in inv.firewalls if f.id == acl)
    assert (nacl.kind, nacl.name, nacl.network) == ("network_acl", "pbx", ids["vpc_id"])
    assert [
        (r.direction, r.priority, r.action, r.protocol, str(r.ports[0]), str(r.peers[0]))
        for r in nacl.rules
    ] == [
        ("inbound", 90, "deny", "tcp", "22-22", "0.0.0.0/0"),
        ("inbound", 100, "allow", "all", "0-65535", "::/0"),
        ("outbound", 100, "allow", "udp", "53-53", "10.0.0.0/8"),
    ]
    assert all(a.firewall_id != acl for vm in inv.vms for a in vm.attachments)


# --------------------------------------------------------------- regions, roles


def test_two_regions_are_read_and_attributed(moto_session: boto3.Session) -> None:  # noqa: F811
    fra = build_estate(_ec2(moto_session, "eu-central-1"), "broken")
    dub = build_estate(_ec2(moto_session, "eu-west-1"), "compliant")
    inv = _collect(moto_session, ["eu-central-1", "eu-west-1"])
    by_id = {vm.id: vm for vm in inv.vms}
    assert by_id[fra["instance_id"]].provenance.region == "eu-central-1"
    assert by_id[dub["instance_id"]].provenance.region == "eu-west-1"
    assert sorted(inv.sources) == [f"aws:{ACCOUNT}/eu-central-1", f"aws:{ACCOUNT}/eu-west-1"]
    pbx_groups = [f for f in inv.firewalls if f.name == "swyx-pbx"]
    assert sorted((g.id, g.provenance.region) for g in pbx_groups) == sorted(
        [(fra["sg_id"], "eu-central-1"), (dub["sg_id"], "eu-west-1")]
    )


def test_role_arn_reads_the_role_account(moto_session: boto3.Session) -> None:  # noqa: F811
    build_estate(_ec2(moto_session), "broken")  # in the caller's account, not the role's
    inv = collect(
        AwsOptions(
            regions=[REGION],
            role_arns=["arn:aws:iam::111111111111:role/audit"],
            session=moto_session,
            retry_mode="standard",
        )
    )
    assert inv.sources == [f"aws:111111111111/{REGION}"]
    assert inv.vms == []
    assert {f.provenance.scope for f in inv.firewalls} == {"111111111111"}


def test_every_enabled_region_is_read_with_read_operations_only(
    moto_session: boto3.Session,  # noqa: F811
) -> None:
    """No --region: DescribeRegions decides; with a role, its account is read. Every
    operation the collector issues (seen through boto3's own event hook) is a read."""
    enabled = sorted(
        r["RegionName"] for r in _ec2(moto_session).describe_regions(AllRegions=False)["Regions"]
    )
    ids = build_estate(_ec2(moto_session, "eu-west-1"), "broken")
    operations: list[str] = []
    moto_session.events.register(
        "before-call.*.*", lambda model, **_: operations.append(model.name)
    )
    inv = collect(
        AwsOptions(
            role_arns=[f"arn:aws:iam::{ACCOUNT}:role/audit"],
            session=moto_session,
            max_workers=8,
            retry_mode="standard",
        )
    )
    print(sorted(set(operations)))
    assert sorted(inv.sources) == [f"aws:{ACCOUNT}/{r}" for r in enabled]
    assert [vm.id for vm in inv.vms] == [ids["instance_id"]]
    assert not inv.errors
    assert all(op.startswith(READ_ONLY_PREFIXES) for op in operations), operations
    for expected in ("AssumeRole", "DescribeRegions", "DescribeSecurityGroupRules"):
        assert expected in operations


def test_progress_reports_each_region(moto_session: boto3.Session) -> None:  # noqa: F811
    build_estate(_ec2(moto_session), "broken")
    messages: list[str] = []
    collect(
        AwsOptions(
            regions=[REGION, "eu-west-1"],
            session=moto_session,
            progress=messages.append,
            retry_mode="standard",
        )
    )
    # eu-central-1: swyx-pbx plus the default groups of the default VPC and of swyx-net.
    assert sorted(messages) == [
        f"{ACCOUNT}/eu-central-1: 1 VMs, 3 security groups",
        f"{ACCOUNT}/eu-west-1: 0 VMs, 1 security groups",
    ]


# ------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (AwsOptions(regions=["Frankfurt"]), "--region: 'Frankfurt' is not an AWS region name"),
        (AwsOptions(role_arns=["audit"]), "--role-arn: 'audit' is not an IAM role ARN"),
        (AwsOptions(max_workers=0), "--max-workers: must be at least 1"),
    ],
)
def test_bad_options_are_input_errors(opts: AwsOptions, message: str) -> None:
    from policycheck.errors import InputError

    with pytest.raises(InputError, match="^" + message.replace("(", r"\(")):
        collect(opts)


def test_unknown_profile_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from policycheck.errors import InputError

    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    with pytest.raises(InputError, match="AWS profile 'nope' not found"):
        collect(AwsOptions(profile="nope", regions=[REGION]))


def test_client_config_retries_and_timeouts() -> None:
    config = aws.client_config("standard", timeout=20)
    assert config.retries == {"mode": "standard", "max_attempts": aws.MAX_ATTEMPTS}
    assert (config.connect_timeout, config.read_timeout) == (10.0, 20)
