"""AWS semantics on real-shaped inputs: network ACLs (plan and live), attachments
through instance attributes, keyed references, launch templates and autoscaling
groups, planned prefix lists, self-referencing groups.

Plans are written in ``terraform show -json`` shape (tests/plan_fragments.py);
live estates are built in moto and read back through the collector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from aws_estate import REGION, moto_session  # noqa: F401
from plan_fragments import Res, const, declaration, ref, write_plan
from scan_helpers import on_port, scan, text, unresolved

from policycheck.demo import build_host, build_network, build_security_group, perm
from policycheck.model import Inventory
from policycheck.sources.aws import AwsOptions, collect
from policycheck.sources.terraform import load_plan

ROLES = "swyxware-server, remote-connector"
RDP = 3389
TUNNEL = 16203  # RemoteConnector tunnel: must be reachable from the internet


def sg_rule(
    ports: tuple[int, int], cidrs: list[str] | None = None, protocol: str = "tcp", **extra: Any
) -> dict[str, Any]:
    """One inline ``ingress``/``egress`` block of aws_security_group, every attribute set."""
    block: dict[str, Any] = {
        "cidr_blocks": cidrs or [],
        "description": "",
        "from_port": ports[0],
        "ipv6_cidr_blocks": [],
        "prefix_list_ids": [],
        "protocol": protocol,
        "security_groups": [],
        "self": False,
        "to_port": ports[1],
    }
    block.update(extra)
    return block


def acl_rule(
    rule_no: int,
    action: str,
    ports: tuple[int, int] = (0, 0),
    protocol: str = "-1",
    cidr: str = "0.0.0.0/0",
) -> dict[str, Any]:
    """One inline ``ingress``/``egress`` block of aws_network_acl."""
    return {
        "action": action,
        "cidr_block": cidr,
        "from_port": ports[0],
        "icmp_code": 0,
        "icmp_type": 0,
        "ipv6_cidr_block": "",
        "protocol": protocol,
        "rule_no": rule_no,
        "to_port": ports[1],
    }


NETWORK = [
    Res("aws_vpc", "main", {"cidr_block": "10.0.0.0/16", "tags": {"Name": "swyx"}}, {"id": True}),
    Res(
        "aws_subnet",
        "pbx",
        {"cidr_block": "10.0.1.0/24", "tags": None},
        {"id": True, "vpc_id": True},
    ),
]
NETWORK_CONFIG = [
    declaration("aws_vpc", "main", {"cidr_block": const("10.0.0.0/16")}),
    declaration("aws_subnet", "pbx", {"vpc_id": ref("aws_vpc.main.id")}),
]


def group(name: str, ingress: list[dict[str, Any]], **meta: Any) -> Res:
    egress = [sg_rule((0, 0), ["0.0.0.0/0"], protocol="-1")]
    return Res(
        "aws_security_group",
        name,
        {"name": name, "ingress": ingress, "egress": egress, "tags": None},
        {"id": True, "vpc_id": True},
        **meta,
    )


def instance(name: str, exprs: dict[str, Any] | None = None, **values: Any) -> tuple[Res, Any]:
    res = Res(
        "aws_instance",
        name,
        {
            "ami": "ami-0a1b2c3d",
            "instance_type": "t3.medium",
            "private_ip": "10.0.1.10",
            "tags": {"Name": name, "swyx-roles": ROLES},
            **values,
        },
        {
            "id": True,
            "subnet_id": True,
            "vpc_security_group_ids": True,
            "primary_network_interface_id": True,
        },
    )
    config = declaration(
        "aws_instance",
        name,
        {"subnet_id": ref("aws_subnet.pbx.id"), **(exprs or {})},
    )
    return res, config


# ------------------------------------------------------------- network ACLs


def nacl_plan(tmp_path: Path, ingress: list[dict[str, Any]], egress: list[dict[str, Any]]) -> Path:
    """pbx1 with a group opening RDP and the tunnel to the internet, in a subnet whose
    network ACL has the given rules."""
    sg = group(
        "pbx",
        [sg_rule((RDP, RDP), ["0.0.0.0/0"]), sg_rule((TUNNEL, TUNNEL), ["0.0.0.0/0"])],
    )
    acl = Res(
        "aws_network_acl",
        "pbx",
        {"ingress": ingress, "egress": egress, "tags": {"Name": "pbx-acl"}},
        {"id": True, "vpc_id": True, "subnet_ids": True},
    )
    vm, vm_config = instance("pbx1", {"vpc_security_group_ids": ref("aws_security_group.pbx.id")})
    return write_plan(
        tmp_path,
        [*NETWORK, sg, acl, vm],
        [
            *NETWORK_CONFIG,
            declaration("aws_security_group", "pbx", {"vpc_id": ref("aws_vpc.main.id")}),
            declaration(
                "aws_network_acl",
                "pbx",
                {"vpc_id": ref("aws_vpc.main.id"), "subnet_ids": ref("aws_subnet.pbx.id")},
            ),
            vm_config,
        ],
    )


def test_plan_network_acl_deny_narrows_the_security_group(tmp_path: Path) -> None:
    plan = nacl_plan(
        tmp_path,
        ingress=[acl_rule(100, "deny", (RDP, RDP), "tcp"), acl_rule(200, "allow")],
        egress=[acl_rule(100, "allow")],
    )
    inv = load_plan(plan)
    [vm] = inv.vms
    assert ("aws_network_acl.pbx", "subnet") in [(a.firewall_id, a.level) for a in vm.attachments]
    result = scan(inv)
    assert on_port(result, "SWYX001", RDP) == []
    assert on_port(result, "SWYX003", TUNNEL) == []


def test_plan_network_acl_rule_order_first_match(tmp_path: Path) -> None:
    """An allow with a lower rule number wins over a later deny."""
    plan = nacl_plan(
        tmp_path,
        ingress=[
            acl_rule(90, "allow", (RDP, RDP), "tcp"),
            acl_rule(100, "deny", (RDP, RDP), "tcp"),
        ],
        egress=[acl_rule(100, "allow")],
    )
    [rdp] = on_port(scan(load_plan(plan)), "SWYX001", RDP)
    assert rdp.peers == ["0.0.0.0/0"]


def test_plan_network_acl_stateless_reply_blocks_the_tunnel(tmp_path: Path) -> None:
    """Inbound allowed, but the outbound rules drop the replies to client ports:
    the required tunnel is blocked (SWYX003); the inbound exposure stays reported."""
    plan = nacl_plan(
        tmp_path,
        ingress=[acl_rule(100, "allow")],
        egress=[acl_rule(100, "allow", (443, 443), "tcp")],
    )
    result = scan(load_plan(plan))
    [blocked] = on_port(result, "SWYX003", TUNNEL)
    assert blocked.level == "warning"
    assert on_port(result, "SWYX001", RDP)


def test_plan_network_acl_reply_to_part_of_the_ephemeral_range_is_not_enough(
    tmp_path: Path,
) -> None:
    plan = nacl_plan(
        tmp_path,
        ingress=[acl_rule(100, "allow")],
        egress=[acl_rule(100, "allow", (32768, 65535), "tcp")],
    )
    assert on_port(scan(load_plan(plan)), "SWYX003", TUNNEL)
    plan = nacl_plan(
        tmp_path,
        ingress=[acl_rule(100, "allow")],
        egress=[acl_rule(100, "allow", (1024, 65535), "tcp")],
    )
    assert on_port(scan(load_plan(plan)), "SWYX003", TUNNEL) == []


def test_plan_separate_acl_rules_association_and_default_acl(tmp_path: Path) -> None:
    """aws_network_acl_rule + aws_network_acl_association, and aws_default_network_acl
    for a subnet no other ACL names."""
    sg = group("pbx", [sg_rule((RDP, RDP), ["0.0.0.0/0"])])
    acl = Res("aws_network_acl", "pbx", {"tags": None}, {"id": True, "vpc_id": True})
    deny = Res(
        "aws_network_acl_rule",
        "deny_rdp",
        {
            "cidr_block": "0.0.0.0/0",
            "egress": False,
            "from_port": RDP,
            "protocol": "tcp",
            "rule_action": "deny",
            "rule_number": 50,
            "to_port": RDP,
        },
        {"id": True, "network_acl_id": True},
    )
    allow = Res(
        "aws_network_acl_rule",
        "allow_all",
        {
            "cidr_block": "0.0.0.0/0",
            "egress": False,
            "from_port": 0,
            "protocol": "-1",
            "rule_action": "allow",
            "rule_number": 100,
            "to_port": 0,
        },
        {"id": True, "network_acl_id": True},
    )
    assoc = Res(
        "aws_network_acl_association",
        "pbx",
        {},
        {"id": True, "network_acl_id": True, "subnet_id": True},
    )
    vm, vm_config = instance("pbx1", {"vpc_security_group_ids": ref("aws_security_group.pbx.id")})
    config = [
        *NETWORK_CONFIG,
        declaration("aws_security_group", "pbx", {"vpc_id": ref("aws_vpc.main.id")}),
        declaration("aws_network_acl", "pbx", {"vpc_id": ref("aws_vpc.main.id")}),
        declaration(
            "aws_network_acl_rule", "deny_rdp", {"network_acl_id": ref("aws_network_acl.pbx.id")}
        ),
        declaration(
            "aws_network_acl_rule", "allow_all", {"network_acl_id": ref("aws_network_acl.pbx.id")}
        ),
        declaration(
            "aws_network_acl_association",
            "pbx",
            {
                "network_acl_id": ref("aws_network_acl.pbx.id"),
                "subnet_id": ref("aws_subnet.pbx.id"),
            },
        ),
        vm_config,
    ]
    plan = write_plan(tmp_path, [*NETWORK, sg, acl, deny, allow, assoc, vm], config)
    assert on_port(scan(load_plan(plan)), "SWYX001", RDP) == []

    default = Res(
        "aws_default_network_acl",
        "main",
        {
            "ingress": [acl_rule(50, "deny", (RDP, RDP), "tcp"), acl_rule(100, "allow")],
            "egress": [acl_rule(100, "allow")],
            "tags": {"Name": "default"},
        },
        {"id": True, "default_network_acl_id": True, "vpc_id": True},
    )
    plan = write_plan(
        tmp_path,
        [*NETWORK, sg, default, vm],
        [
            *NETWORK_CONFIG,
            declaration("aws_security_group", "pbx", {"vpc_id": ref("aws_vpc.main.id")}),
            declaration(
                "aws_default_network_acl",
                "main",
                {"default_network_acl_id": ref("aws_vpc.main.default_network_acl_id")},
            ),
            vm_config,
        ],
    )
    inv = load_plan(plan)
    assert ("aws_default_network_acl.main", "subnet") in [
        (a.firewall_id, a.level) for a in inv.vms[0].attachments
    ]
    assert on_port(scan(inv), "SWYX001", RDP) == []


def _live_pbx(ec2: Any) -> tuple[str, str]:
    vpc, subnet = build_network(ec2, "swyx", "10.0.0.0/16", "10.0.1.0/24")
    sg = build_security_group(
        ec2,
        "pbx",
        vpc,
        [
            perm("tcp", (RDP, RDP), cidrs=["0.0.0.0/0"]),
            perm("tcp", (TUNNEL, TUNNEL), cidrs=["0.0.0.0/0"]),
        ],
    )
    build_host(ec2, "pbx1", subnet, "10.0.1.10", [sg], roles=ROLES)
    return vpc, subnet


def _entry(ec2: Any, acl: str, number: int, action: str, egress: bool, ports: Any = None) -> None:
    extra = {"PortRange": {"From": ports[0], "To": ports[1]}, "Protocol": "6"} if ports else {}
    ec2.create_network_acl_entry(
        NetworkAclId=acl,
        RuleNumber=number,
        RuleAction=action,
        Egress=egress,
        CidrBlock="0.0.0.0/0",
        **{"Protocol": "-1", **extra},
    )


def test_live_network_acl_of_the_subnet_applies(moto_session: boto3.Session) -> None:  # noqa: F811
    ec2 = moto_session.client("ec2", region_name=REGION)
    vpc, subnet = _live_pbx(ec2)
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    _entry(ec2, acl, 50, "deny", False, (RDP, RDP))
    _entry(ec2, acl, 100, "allow", False)
    _entry(ec2, acl, 100, "allow", True, (443, 443))
    # Move the subnet from the VPC's default ACL to this one.
    current = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}]
    )["NetworkAcls"][0]
    assoc = next(a for a in current["Associations"] if a["SubnetId"] == subnet)
    ec2.replace_network_acl_association(
        AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl
    )

    inv = collect(AwsOptions(regions=[REGION], session=moto_session, retry_mode="standard"))
    [vm] = inv.vms
    assert (acl, "subnet", subnet) in [(a.firewall_id, a.level, a.via) for a in vm.attachments]
    result = scan(inv)
    assert on_port(result, "SWYX001", RDP) == []
    [blocked] = on_port(result, "SWYX003", TUNNEL)  # replies only to port 443
    assert blocked.rule_id == "SWYX003"


def test_live_default_network_acl_allows_everything(moto_session: boto3.Session) -> None:  # noqa: F811
    ec2 = moto_session.client("ec2", region_name=REGION)
    _live_pbx(ec2)
    inv = collect(AwsOptions(regions=[REGION], session=moto_session, retry_mode="standard"))
    [vm] = inv.vms
    [acl] = [a for a in vm.attachments if a.level == "subnet"]
    assert next(f for f in inv.firewalls if f.id == acl.firewall_id).kind == "network_acl"
    result = scan(inv)
    assert on_port(result, "SWYX001", RDP)
    assert on_port(result, "SWYX003", TUNNEL) == []


# ------------------------------------------------ attachments and references


def test_sg_attachment_through_primary_network_interface_id(tmp_path: Path) -> None:
    """Terraform's own example: aws_network_interface_sg_attachment whose
    network_interface_id is aws_instance.X.primary_network_interface_id."""
    sg = group("rdp", [sg_rule((RDP, RDP), ["0.0.0.0/0"])])
    attach = Res(
        "aws_network_interface_sg_attachment",
        "sg_attachment",
        {},
        {"id": True, "network_interface_id": True, "security_group_id": True},
    )
    vm, vm_config = instance("pbx1")
    plan = write_plan(
        tmp_path,
        [*NETWORK, sg, vm, attach],
        [
            *NETWORK_CONFIG,
            declaration("aws_security_group", "rdp", {"vpc_id": ref("aws_vpc.main.id")}),
            vm_config,
            declaration(
                "aws_network_interface_sg_attachment",
                "sg_attachment",
                {
                    "security_group_id": ref("aws_security_group.rdp.id"),
                    "network_interface_id": ref("aws_instance.pbx1.primary_network_interface_id"),
                },
            ),
        ],
    )
    inv = load_plan(plan)
    [pbx] = inv.vms
    assert [a.firewall_id for a in pbx.attachments if a.level == "interface"] == [
        "aws_security_group.rdp"
    ]
    assert pbx.unknown == ()
    [rdp] = on_port(scan(inv), "SWYX001", RDP)
    assert rdp.peers == ["0.0.0.0/0"]


def test_sg_attachment_by_known_primary_interface_id(tmp_path: Path) -> None:
    """Once the instance exists, the plan holds the interface id as a value."""
    sg = group("rdp", [sg_rule((RDP, RDP), ["0.0.0.0/0"])])
    attach = Res(
        "aws_network_interface_sg_attachment",
        "sg_attachment",
        {"network_interface_id": "eni-0123456789abcdef0"},
        {"id": True, "security_group_id": True},
    )
    vm, vm_config = instance("pbx1", primary_network_interface_id="eni-0123456789abcdef0")
    vm.unknown.pop("primary_network_interface_id")
    plan = write_plan(
        tmp_path,
        [*NETWORK, sg, vm, attach],
        [
            *NETWORK_CONFIG,
            vm_config,
            declaration(
                "aws_network_interface_sg_attachment",
                "sg_attachment",
                {
                    "security_group_id": ref("aws_security_group.rdp.id"),
                    "network_interface_id": const("eni-0123456789abcdef0"),
                },
            ),
        ],
    )
    [pbx] = load_plan(plan).vms
    assert [a.firewall_id for a in pbx.attachments if a.level == "interface"] == [
        "aws_security_group.rdp"
    ]


def tiers(module: str = "") -> list[Res]:
    """aws_security_group.tier with for_each = {pbx, web}: only "web" opens RDP."""
    return [
        group("tier", [sg_rule((5060, 5060), ["10.0.0.0/8"])], index="pbx", module=module),
        group("tier", [sg_rule((RDP, RDP), ["0.0.0.0/0"])], index="web", module=module),
    ]


TIER_CONFIG = declaration(
    "aws_security_group",
    "tier",
    {"name": ref("each.key"), "vpc_id": ref("aws_vpc.main.id")},
    for_each_expression=const({"pbx": "pbx", "web": "web"}),
)


def interface_groups(inv: Inventory, vm_name: str) -> list[str]:
    vm = next(v for v in inv.vms if v.name == vm_name)
    return [a.firewall_id for a in vm.attachments if a.level == "interface"]


def test_keyed_reference_means_that_instance_only(tmp_path: Path) -> None:
    vm, vm_config = instance(
        "pbx1", {"vpc_security_group_ids": ref('aws_security_group.tier["pbx"].id')}
    )
    plan = write_plan(tmp_path, [*NETWORK, *tiers(), vm], [*NETWORK_CONFIG, TIER_CONFIG, vm_config])
    inv = load_plan(plan)
    assert interface_groups(inv, "pbx1") == ['aws_security_group.tier["pbx"]']
    assert on_port(scan(inv), "SWYX001", RDP) == []


def keyed_vms(unknown: dict[str, Any], **placement: Any) -> list[Res]:
    """Two instances of aws_instance.vm, "pbx" and "web", keyed or in module instances:
    ``placement`` maps each key to Res keyword arguments (``index``, ``module``)."""
    return [
        Res(
            "aws_instance",
            "vm",
            {
                "ami": "ami-0a1b2c3d",
                "instance_type": "t3.medium",
                "private_ip": address,
                "tags": {"Name": key, "swyx-roles": "swyxgate"},
            },
            dict(unknown),
            **placement[key],
        )
        for key, address in (("pbx", "10.0.1.10"), ("web", "10.0.1.11"))
    ]


def test_each_key_and_count_index_pick_the_same_key(tmp_path: Path) -> None:
    """aws_instance.vm[each.key] with aws_security_group.tier[each.key].id: Terraform
    lists only the unkeyed tier and each.key; each VM gets its own tier."""
    vms = keyed_vms(
        {"id": True, "subnet_id": True, "vpc_security_group_ids": True},
        pbx={"index": "pbx"},
        web={"index": "web"},
    )
    vm_config = declaration(
        "aws_instance",
        "vm",
        {
            "subnet_id": ref("aws_subnet.pbx.id"),
            "vpc_security_group_ids": ref("aws_security_group.tier", "each.key"),
        },
        for_each_expression=const({"pbx": "pbx", "web": "web"}),
    )
    inv = load_plan(
        write_plan(tmp_path, [*NETWORK, *tiers(), *vms], [*NETWORK_CONFIG, TIER_CONFIG, vm_config])
    )
    assert interface_groups(inv, "pbx") == ['aws_security_group.tier["pbx"]']
    assert interface_groups(inv, "web") == ['aws_security_group.tier["web"]']

    # count: the same with numeric keys.
    counted = [
        group("tier", [sg_rule((5060, 5060), ["10.0.0.0/8"])], index=0),
        group("tier", [sg_rule((RDP, RDP), ["0.0.0.0/0"])], index=1),
    ]
    for vm_res, index in zip(vms, (0, 1), strict=True):
        vm_res.index = index
    vm_config["expressions"]["vpc_security_group_ids"] = ref(
        "aws_security_group.tier", "count.index"
    )
    inv = load_plan(
        write_plan(tmp_path, [*NETWORK, *counted, *vms], [*NETWORK_CONFIG, TIER_CONFIG, vm_config])
    )
    assert interface_groups(inv, "pbx") == ["aws_security_group.tier[0]"]


def test_each_value_reference_is_unknown_not_every_instance(tmp_path: Path) -> None:
    vm, vm_config = instance(
        "pbx1", {"vpc_security_group_ids": ref("aws_security_group.tier", "each.value")}
    )
    vm.index = "a"
    vm_config["for_each_expression"] = const({"a": "pbx"})
    inv = load_plan(
        write_plan(tmp_path, [*NETWORK, *tiers(), vm], [*NETWORK_CONFIG, TIER_CONFIG, vm_config])
    )
    [pbx] = inv.vms
    assert interface_groups(inv, "pbx1") == []
    assert "vpc_security_group_ids" in pbx.unknown
    assert unresolved(scan(inv), vm="pbx1")


def test_for_each_module_each_key(tmp_path: Path) -> None:
    """module "tenant" { for_each = {pbx, web}; sg_id = aws_security_group.tier[each.key].id }
    and inside it an instance with vpc_security_group_ids = [var.sg_id]."""
    vms = keyed_vms(
        {"id": True, "vpc_security_group_ids": True},
        pbx={"module": 'module.tenant["pbx"]'},
        web={"module": 'module.tenant["web"]'},
    )
    module_calls = {
        "tenant": {
            "source": "./modules/tenant",
            "for_each_expression": const({"pbx": "pbx", "web": "web"}),
            "expressions": {"sg_id": ref("aws_security_group.tier", "each.key")},
            "module": {
                "resources": [
                    declaration("aws_instance", "vm", {"vpc_security_group_ids": ref("var.sg_id")})
                ],
                "variables": {"sg_id": {}},
            },
        }
    }
    plan = write_plan(
        tmp_path, [*NETWORK, *tiers(), *vms], [*NETWORK_CONFIG, TIER_CONFIG], module_calls
    )
    inv = load_plan(plan)
    assert interface_groups(inv, "pbx") == ['aws_security_group.tier["pbx"]']
    assert interface_groups(inv, "web") == ['aws_security_group.tier["web"]']


# ------------------------------------------ launch templates and autoscaling


def template(name: str, tags: dict[str, str]) -> tuple[Res, Any]:
    res = Res(
        "aws_launch_template",
        name,
        {
            "name": name,
            "image_id": "ami-0a1b2c3d",
            "instance_type": "t3.medium",
            "tag_specifications": [{"resource_type": "instance", "tags": tags}],
            "tags": None,
        },
        {"id": True, "vpc_security_group_ids": True, "arn": True, "latest_version": True},
    )
    config = declaration(
        "aws_launch_template",
        name,
        {"vpc_security_group_ids": ref("aws_security_group.pbx.id")},
    )
    return res, config


def test_autoscaling_group_is_evaluated_before_its_first_instance(tmp_path: Path) -> None:
    sg = group("pbx", [sg_rule((RDP, RDP), ["0.0.0.0/0"])])
    lt, lt_config = template("pbx-template", {"swyx-roles": ROLES})
    asg = Res(
        "aws_autoscaling_group",
        "pbx",
        {
            "name": "pbx-asg",
            "max_size": 2,
            "min_size": 1,
            "launch_template": [{"version": "$Latest"}],
            "tag": [{"key": "swyx-deployment", "propagate_at_launch": True, "value": "t1"}],
        },
        {"id": True, "vpc_zone_identifier": True, "launch_template": [{"id": True}]},
    )
    config = [
        *NETWORK_CONFIG,
        declaration("aws_security_group", "pbx", {"vpc_id": ref("aws_vpc.main.id")}),
        lt_config,
        declaration(
            "aws_autoscaling_group",
            "pbx",
            {
                "vpc_zone_identifier": ref("aws_subnet.pbx.id"),
                "launch_template": [{"id": ref("aws_launch_template.pbx-template.id")}],
            },
        ),
    ]
    inv = load_plan(write_plan(tmp_path, [*NETWORK, sg, lt, asg], config))
    [vm] = inv.vms
    assert (vm.name, vm.tags["swyx-roles"], vm.tags["swyx-deployment"]) == ("pbx-asg", ROLES, "t1")
    assert interface_groups(inv, "pbx-asg") == ["aws_security_group.pbx"]
    assert vm.networks == ("aws_vpc.main",)
    [rdp] = on_port(scan(inv), "SWYX001", RDP, vm="pbx-asg")
    assert rdp.peers == ["0.0.0.0/0"]


def test_role_tagged_template_alone_is_evaluated(tmp_path: Path) -> None:
    sg = group("pbx", [sg_rule((RDP, RDP), ["0.0.0.0/0"])])
    lt, lt_config = template("pbx-template", {"swyx-roles": ROLES})
    config = [
        *NETWORK_CONFIG,
        declaration("aws_security_group", "pbx", {"vpc_id": ref("aws_vpc.main.id")}),
        lt_config,
    ]
    inv = load_plan(write_plan(tmp_path, [*NETWORK, sg, lt], config))
    assert [v.name for v in inv.vms] == ["pbx-template"]
    assert on_port(scan(inv), "SWYX001", RDP, vm="pbx-template")


def test_instance_launched_from_template_gets_its_groups(tmp_path: Path) -> None:
    sg = group("pbx", [sg_rule((RDP, RDP), ["0.0.0.0/0"])])
    lt, lt_config = template("pbx-template", {"swyx-roles": ROLES})
    vm, vm_config = instance("pbx1", launch_template=[{"version": "$Latest"}])
    vm.values["tags"] = {"Name": "pbx1"}
    vm.unknown["launch_template"] = [{"id": True}]
    vm_config["expressions"]["launch_template"] = [
        {"id": ref("aws_launch_template.pbx-template.id")}
    ]
    config = [
        *NETWORK_CONFIG,
        declaration("aws_security_group", "pbx", {"vpc_id": ref("aws_vpc.main.id")}),
        lt_config,
        vm_config,
    ]
    inv = load_plan(write_plan(tmp_path, [*NETWORK, sg, lt, vm], config))
    [pbx] = inv.vms  # the template is the instance's, not a VM of its own
    assert pbx.tags["swyx-roles"] == ROLES
    assert interface_groups(inv, "pbx1") == ["aws_security_group.pbx"]


# ------------------------------------------------------------- prefix lists


def prefix_list_plan(tmp_path: Path, entry: dict[str, Any], entry_unknown: dict[str, Any]) -> Path:
    pl = Res(
        "aws_ec2_managed_prefix_list",
        "admins",
        {
            "address_family": "IPv4",
            "max_entries": 5,
            "name": "admins",
            "entry": [{"cidr": "198.51.100.0/24", "description": "office"}],
            "tags": None,
        },
        {"id": True, "arn": True, "version": True},
    )
    extra = Res(
        "aws_ec2_managed_prefix_list_entry",
        "vpn",
        entry,
        {"id": True, "prefix_list_id": True, **entry_unknown},
    )
    sg = Res(
        "aws_security_group",
        "pbx",
        {
            "name": "pbx",
            "ingress": [sg_rule((RDP, RDP), prefix_list_ids=[None])],
            "egress": [],
            "tags": None,
        },
        {"id": True, "vpc_id": True, "ingress": [{"prefix_list_ids": [True]}]},
    )
    vm, vm_config = instance("pbx1", {"vpc_security_group_ids": ref("aws_security_group.pbx.id")})
    config = [
        *NETWORK_CONFIG,
        declaration("aws_ec2_managed_prefix_list", "admins", {"name": const("admins")}),
        declaration(
            "aws_ec2_managed_prefix_list_entry",
            "vpn",
            {
                "prefix_list_id": ref("aws_ec2_managed_prefix_list.admins.id"),
                # cidr = "${aws_eip.vpn.public_ip}/32": unknown until the address exists
                "cidr": ref("aws_eip.vpn.public_ip"),
            },
        ),
        declaration(
            "aws_security_group",
            "pbx",
            {
                "vpc_id": ref("aws_vpc.main.id"),
                "ingress": [{"prefix_list_ids": ref("aws_ec2_managed_prefix_list.admins.id")}],
            },
        ),
        vm_config,
    ]
    return write_plan(tmp_path, [*NETWORK, pl, extra, sg, vm], config)


def test_planned_prefix_list_is_expanded(tmp_path: Path) -> None:
    plan = prefix_list_plan(tmp_path, {"cidr": "203.0.113.0/24", "description": "vpn"}, {})
    result = scan(load_plan(plan))
    [rdp] = on_port(result, "SWYX001", RDP)
    assert rdp.peers == ["198.51.100.0/24", "203.0.113.0/24"]
    assert not unresolved(result)


def test_planned_prefix_list_with_unknown_entry_is_swyx005(tmp_path: Path) -> None:
    plan = prefix_list_plan(tmp_path, {"description": "vpn"}, {"cidr": True})
    result = scan(load_plan(plan))
    [rdp] = on_port(result, "SWYX001", RDP)
    assert rdp.peers == ["198.51.100.0/24"]  # the known part still counts
    [unknown] = unresolved(result)
    assert "some entries unknown" in text(unknown)


# ------------------------------------------------------- self-referencing


def test_self_referencing_group_whose_only_member_is_the_vm(tmp_path: Path) -> None:
    sg = group("pbx", [sg_rule((0, 0), protocol="-1", self=True)])
    vm, vm_config = instance("pbx1", {"vpc_security_group_ids": ref("aws_security_group.pbx.id")})
    config = [
        *NETWORK_CONFIG,
        declaration("aws_security_group", "pbx", {"vpc_id": ref("aws_vpc.main.id")}),
        vm_config,
    ]
    result = scan(load_plan(write_plan(tmp_path, [*NETWORK, sg, vm], config)))
    inbound = [
        f
        for f in result.findings
        if f.direction == "inbound" and f.rule_id in ("SWYX001", "SWYX002", "SWYX005")
    ]
    assert inbound == []


def test_self_referencing_group_with_a_second_member_is_its_address(tmp_path: Path) -> None:
    sg = group("pbx", [sg_rule((0, 0), protocol="-1", self=True)])
    vm, vm_config = instance("pbx1", {"vpc_security_group_ids": ref("aws_security_group.pbx.id")})
    other, other_config = instance(
        "pbx2", {"vpc_security_group_ids": ref("aws_security_group.pbx.id")}
    )
    other.values["private_ip"] = "10.0.1.11"
    other.values["tags"] = {"Name": "pbx2"}
    config = [
        *NETWORK_CONFIG,
        declaration("aws_security_group", "pbx", {"vpc_id": ref("aws_vpc.main.id")}),
        vm_config,
        other_config,
    ]
    result = scan(load_plan(write_plan(tmp_path, [*NETWORK, sg, vm, other], config)))
    [from_peer] = [f for f in result.findings if f.rule_id == "SWYX001" and f.vm_name == "pbx1"]
    assert from_peer.peers == ["10.0.1.11/32"]
