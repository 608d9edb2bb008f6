"""`policycheck demo`: audit an emulated hosted-SwyxWare AWS estate, no account needed.

moto emulates EC2 in-process; the estate is built with ordinary boto3 calls and
then read back through the very same :func:`policycheck.sources.aws.collect` a
real scan uses, so the demo exercises the real path end to end.

The builders here (:func:`perm`, :func:`build_network`, :func:`build_host`) are
also what the test estate in ``tests/aws_estate.py`` is made of.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from policycheck.model import Inventory

DEMO_REGIONS = ("eu-central-1", "eu-west-1")
#: Any AMI id will do for moto; it does not boot anything.
_AMI = "ami-12c6146b"
ROLES_TAG = "swyx-roles"
ALL_SWYX_ROLES = "swyxware-server, cds, linkmanager, remote-connector"

# --------------------------------------------------------------------- builders


def perm(
    protocol: str,
    ports: tuple[int, int] | None = None,
    *,
    cidrs: Sequence[str] = (),
    cidrs_v6: Sequence[str] = (),
    groups: Sequence[str] = (),
    prefix_lists: Sequence[str] = (),
    description: str | None = None,
) -> dict[str, Any]:
    """One EC2 ``IpPermission``: a protocol, a port range and its peers."""
    desc = {"Description": description} if description else {}
    permission: dict[str, Any] = {"IpProtocol": protocol}
    if ports is not None:
        permission["FromPort"], permission["ToPort"] = ports
    if cidrs:
        permission["IpRanges"] = [{"CidrIp": c, **desc} for c in cidrs]
    if cidrs_v6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": c, **desc} for c in cidrs_v6]
    if groups:
        permission["UserIdGroupPairs"] = [{"GroupId": g, **desc} for g in groups]
    if prefix_lists:
        permission["PrefixListIds"] = [{"PrefixListId": p, **desc} for p in prefix_lists]
    return permission


def _name_tag(resource_type: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}]}]


def build_network(ec2: Any, name: str, vpc_cidr: str, subnet_cidr: str) -> tuple[str, str]:
    """A VPC with one subnet; returns (vpc id, subnet id)."""
    vpc_id = ec2.create_vpc(CidrBlock=vpc_cidr, TagSpecifications=_name_tag("vpc", name))["Vpc"][
        "VpcId"
    ]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
    return vpc_id, subnet_id


def build_security_group(
    ec2: Any,
    name: str,
    vpc_id: str,
    ingress: Sequence[dict[str, Any]],
    egress: Sequence[dict[str, Any]] | None = None,
) -> str:
    """A security group; ``egress=None`` keeps AWS's default allow-all egress rule."""
    sg_id: str = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)[
        "GroupId"
    ]
    if ingress:
        ec2.authorize_security_group_ingress(GroupId=sg_id, IpPermissions=list(ingress))
    if egress is not None:
        ec2.revoke_security_group_egress(
            GroupId=sg_id, IpPermissions=[perm("-1", cidrs=["0.0.0.0/0"])]
        )
        if egress:
            ec2.authorize_security_group_egress(GroupId=sg_id, IpPermissions=list(egress))
    return sg_id


def build_host(
    ec2: Any,
    name: str,
    subnet_id: str,
    address: str,
    security_groups: Sequence[str],
    roles: str | None = None,
) -> dict[str, str]:
    """An instance with a Name tag, optional ``swyx-roles`` tag, fixed private IP."""
    tags = [{"Key": "Name", "Value": name}]
    if roles is not None:
        tags.append({"Key": ROLES_TAG, "Value": roles})
    instance = ec2.run_instances(
        ImageId=_AMI,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.medium",
        SubnetId=subnet_id,
        PrivateIpAddress=address,
        SecurityGroupIds=list(security_groups),
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]
    return {
        "instance_id": instance["InstanceId"],
        "eni_id": instance["NetworkInterfaces"][0]["NetworkInterfaceId"],
    }


# ------------------------------------------------------------------ the estate

ANYWHERE = ["0.0.0.0/0"]
INTERNAL = ["10.0.0.0/8"]


def compliant_ingress() -> list[dict[str, Any]]:
    """What a full hosted SwyxWare VM needs: tunnel, auth API, CDS, SIP, RTP."""
    return [
        perm("tcp", (16203, 16203), cidrs=ANYWHERE, description="RemoteConnector tunnel"),
        perm("tcp", (57203, 57203), cidrs=ANYWHERE, description="RemoteConnector tunnel"),
        perm("tcp", (9101, 9101), cidrs=ANYWHERE, description="REST API authentication"),
        perm("tcp", (9094, 9094), cidrs=INTERNAL, description="CDS configuration"),
        perm("tcp", (9100, 9100), cidrs=INTERNAL, description="CDS"),
        perm("tcp", (9200, 9200), cidrs=INTERNAL, description="CDS"),
        perm("tcp", (5060, 5060), cidrs=INTERNAL, description="SIP"),
        perm("udp", (5060, 5060), cidrs=INTERNAL, description="SIP"),
        perm("udp", (51000, 51499), cidrs=INTERNAL, description="RTP"),
    ]


def compliant_egress() -> list[dict[str, Any]]:
    return [perm("tcp", (0, 65535), cidrs=ANYWHERE), perm("udp", (0, 65535), cidrs=ANYWHERE)]


def _is_tunnel(permission: dict[str, Any]) -> bool:
    return permission.get("FromPort") in (16203, 57203)


def build_demo_frankfurt(ec2: Any) -> dict[str, str]:
    """pbx-fra-1 (all roles, compliant rules plus RDP and SIP open to the world,
    RDP from the jump host's group) and jump-1 (admin host, no roles, SSH from
    the office prefix list)."""
    vpc_id, subnet_id = build_network(ec2, "swyx-fra", "10.0.0.0/16", "10.0.1.0/24")
    office = ec2.create_managed_prefix_list(
        PrefixListName="office-ranges",
        MaxEntries=5,
        AddressFamily="IPv4",
        Entries=[
            {"Cidr": "203.0.113.0/24", "Description": "HQ"},
            {"Cidr": "198.51.100.0/24", "Description": "branch"},
        ],
    )["PrefixList"]["PrefixListId"]
    jump_sg = build_security_group(
        ec2, "admin-jump", vpc_id, [perm("tcp", (22, 22), prefix_lists=[office])]
    )
    pbx_sg = build_security_group(
        ec2,
        "pbx-fra-1",
        vpc_id,
        [
            *compliant_ingress(),
            perm("tcp", (3389, 3389), cidrs=ANYWHERE, description="RDP (temporary!)"),
            perm("tcp", (5060, 5060), cidrs=ANYWHERE, description="SIP trunk test"),
            perm("tcp", (3389, 3389), groups=[jump_sg], description="RDP from jump host"),
        ],
    )
    jump = build_host(ec2, "jump-1", subnet_id, "10.0.1.5", [jump_sg])
    pbx = build_host(ec2, "pbx-fra-1", subnet_id, "10.0.1.10", [pbx_sg], roles=ALL_SWYX_ROLES)
    return {"pbx-fra-1": pbx["instance_id"], "jump-1": jump["instance_id"]}


def build_demo_dublin(ec2: Any) -> dict[str, str]:
    """pbx-dub-1 (tunnel ports missing: its RemoteConnector is unreachable) and
    pbx-dub-2 (compliant, egress limited to tcp and udp)."""
    vpc_id, subnet_id = build_network(ec2, "swyx-dub", "10.1.0.0/16", "10.1.1.0/24")
    no_tunnel = [p for p in compliant_ingress() if not _is_tunnel(p)]
    dub1_sg = build_security_group(ec2, "pbx-dub-1", vpc_id, no_tunnel)
    dub2_sg = build_security_group(
        ec2, "pbx-dub-2", vpc_id, compliant_ingress(), egress=compliant_egress()
    )
    dub1 = build_host(ec2, "pbx-dub-1", subnet_id, "10.1.1.10", [dub1_sg], roles=ALL_SWYX_ROLES)
    dub2 = build_host(ec2, "pbx-dub-2", subnet_id, "10.1.1.20", [dub2_sg], roles=ALL_SWYX_ROLES)
    return {"pbx-dub-1": dub1["instance_id"], "pbx-dub-2": dub2["instance_id"]}


# ------------------------------------------------------------------------- run

#: Variables through which a user's real AWS setup could reach the demo.
_USER_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CA_BUNDLE",
)


@contextmanager
def isolated_aws_environment() -> Iterator[None]:
    """Hide the user's AWS config, credentials and endpoints for the duration,
    then restore the environment exactly as it was."""
    saved = dict(os.environ)
    try:
        for name in _USER_AWS_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_DEFAULT_REGION=DEMO_REGIONS[0],
        )
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_demo(quiet: bool) -> Inventory:
    """Build the emulated estate in two regions and collect it like a real scan."""
    from policycheck.extras import require

    require("demo", "policycheck demo")
    import boto3
    from moto import mock_aws

    from policycheck.progress import progress_display
    from policycheck.sources.aws import AwsOptions, collect

    with isolated_aws_environment(), mock_aws():
        # Explicit fake keys: the credential chain (and so any real key) is never consulted.
        session = boto3.Session(
            aws_access_key_id="DEMOACCESSKEY",
            aws_secret_access_key="demo-secret",
            region_name=DEMO_REGIONS[0],
        )
        build_demo_frankfurt(session.client("ec2", region_name="eu-central-1"))
        build_demo_dublin(session.client("ec2", region_name="eu-west-1"))
        with progress_display("Reading the emulated AWS estate", quiet) as progress:
            return collect(
                AwsOptions(regions=list(DEMO_REGIONS), session=session, progress=progress)
            )
