"""Scale: 2,000 security groups x 10 rules. API calls must grow with pages, not groups.

Run: ``.venv/bin/pytest tests/test_aws_scale.py -m slow -q -s`` (figures are printed
and recorded in benchmarks/aws_collect.md).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from policycheck.demo import build_host, build_network, perm
from policycheck.sources.aws import PAGE_SIZES, AwsOptions, collect

REGION = "eu-central-1"
GROUPS = 2000
RULES_PER_GROUP = 10


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    with mock_aws():
        yield boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )


@pytest.mark.slow
def test_calls_grow_with_pages_not_groups(session: boto3.Session) -> None:
    ec2 = session.client("ec2")
    started = time.monotonic()
    vpc_id, subnet_id = build_network(ec2, "scale", "10.0.0.0/16", "10.0.0.0/20")
    first_groups = []
    for n in range(GROUPS):
        sg = ec2.create_security_group(GroupName=f"sg-{n}", Description="scale", VpcId=vpc_id)
        # Ten rules in one call: one IpPermission per port.
        ec2.authorize_security_group_ingress(
            GroupId=sg["GroupId"],
            IpPermissions=[
                perm("tcp", (port, port), cidrs=[f"10.{n % 250}.0.0/16"])
                for port in range(1000, 1000 + RULES_PER_GROUP)
            ],
        )
        if n < 20:
            first_groups.append(sg["GroupId"])
    for n, group in enumerate(first_groups):
        build_host(ec2, f"vm-{n}", subnet_id, f"10.0.1.{n + 10}", [group])
    built = time.monotonic() - started

    calls: Counter[str] = Counter()
    session.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))
    started = time.monotonic()
    inv = collect(AwsOptions(regions=[REGION], session=session, retry_mode="standard"))
    collected = time.monotonic() - started

    groups = [f for f in inv.firewalls if f.kind == "security_group"]
    rules = sum(len(f.rules) for f in groups)
    print(
        f"\nbuilt {GROUPS} groups x {RULES_PER_GROUP} rules in {built:.1f}s; "
        f"collected {len(groups)} groups, {rules} rules, {len(inv.vms)} VMs in {collected:.1f}s; "
        f"calls: {dict(sorted(calls.items()))}"
    )
    assert not inv.errors
    # Every rule came back: 10 ingress + the default egress rule per group.
    assert len([g for g in groups if g.name.startswith("sg-")]) == GROUPS
    assert rules >= GROUPS * (RULES_PER_GROUP + 1)
    assert len(inv.vms) == 20

    def pages(operation: str, items: int) -> int:
        return max(1, math.ceil(items / PAGE_SIZES[operation]))

    bounds = {
        "GetCallerIdentity": 1,
        "DescribeVpcs": pages("describe_vpcs", 2),
        "DescribeSecurityGroups": pages("describe_security_groups", len(groups)),
        "DescribeSecurityGroupRules": pages("describe_security_group_rules", rules),
        "DescribeNetworkAcls": pages("describe_network_acls", 2),
        "DescribeManagedPrefixLists": 1,
        "DescribeInstances": 1,
    }
    assert set(calls) == set(bounds), calls
    for operation, bound in bounds.items():
        assert calls[operation] <= bound, (operation, calls[operation], bound)
    assert sum(calls.values()) <= sum(bounds.values()) < GROUPS / 50
