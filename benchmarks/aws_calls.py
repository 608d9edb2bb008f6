"""AWS API calls per scan: they grow with scopes (accounts x regions) and pages, not
with the resources in them.

    .venv/bin/python benchmarks/aws_calls.py

Each scenario builds an estate in moto (in-process, fresh for each), then runs
``policycheck.sources.aws.collect`` exactly as ``scan aws`` does and counts every
SDK call through boto3's own ``before-call`` event, by operation. Accounts are
read through ``--role-arn`` (one ``sts:AssumeRole`` each), as a hosting provider's
audit account reads its tenants' accounts. Prints a Markdown table for
benchmarks/aws_collect.md.

moto answers every list in one page whatever ``MaxResults`` says, so here the
calls are operations x scopes; the ``pages on EC2`` column is what real EC2
would need with policycheck's page sizes (``PAGE_SIZES``, 1,000 items), computed
from the item counts. Paging itself is proven in tests/test_aws_paging.py.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from policycheck.demo import build_host, build_network, perm
from policycheck.sources.aws import PAGE_SIZES, AwsOptions, collect

HOME = "eu-central-1"
KEYS = {"aws_access_key_id": "AKIACALLCOUNT0000001", "aws_secret_access_key": "calls"}


@dataclass(frozen=True)
class Scenario:
    accounts: int
    #: Regions named with --region; 0 means every enabled region (DescribeRegions).
    regions: int
    groups: int  # security groups per (account, region)
    rules: int = 10  # ingress rules per group

    @property
    def label(self) -> str:
        where = f"{self.regions} region(s)" if self.regions else "all enabled regions"
        return f"{self.accounts} account(s) x {where}, {self.groups} SGs x {self.rules} rules each"


SCENARIOS = [
    Scenario(1, 1, 10),
    Scenario(10, 1, 10),
    Scenario(100, 1, 10),
    Scenario(1, 10, 10),
    Scenario(1, 0, 10),
    Scenario(1, 1, 100),
    Scenario(10, 1, 100),
    Scenario(1, 10, 100),
]


def account_id(n: int) -> str:
    return f"{300000000000 + n:012d}"


def role(n: int) -> str:
    return f"arn:aws:iam::{account_id(n)}:role/PolicycheckAudit"


def clients(session: boto3.Session, n: int, scenario: Scenario) -> dict[str, Any]:
    """EC2 clients in account ``n`` for each region the scenario reads."""
    sts = session.client("sts", region_name=HOME)
    creds = sts.assume_role(RoleArn=role(n), RoleSessionName="build")["Credentials"]
    keys = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    ec2 = session.client("ec2", region_name=HOME, **keys)
    names = sorted(r["RegionName"] for r in ec2.describe_regions()["Regions"])
    chosen = names[: scenario.regions] if scenario.regions else names
    return {region: session.client("ec2", region_name=region, **keys) for region in chosen}


def build(session: boto3.Session, scenario: Scenario) -> tuple[list[str], int, int]:
    """The estate; returns the regions read and the groups and rules created."""
    regions: list[str] = []
    groups = rules = 0
    for n in range(scenario.accounts):
        by_region = clients(session, n, scenario)
        regions = list(by_region)
        for ec2 in by_region.values():
            vpc_id, subnet_id = build_network(ec2, "calls", "10.0.0.0/16", "10.0.1.0/24")
            first = None
            for g in range(scenario.groups):
                sg = ec2.create_security_group(GroupName=f"sg-{g}", Description="c", VpcId=vpc_id)
                ec2.authorize_security_group_ingress(
                    GroupId=sg["GroupId"],
                    IpPermissions=[
                        perm("tcp", (port, port), cidrs=["10.0.0.0/8"])
                        for port in range(2000, 2000 + scenario.rules)
                    ],
                )
                first = first or sg["GroupId"]
                groups += 1
                rules += scenario.rules + 1  # and the default egress rule
            build_host(ec2, "vm", subnet_id, "10.0.1.10", [first] if first else [])
    return regions, groups, rules


def measure(scenario: Scenario) -> dict[str, Any]:
    with mock_aws():
        session = boto3.Session(region_name=HOME, **KEYS)
        regions, groups, rules = build(session, scenario)
        calls: Counter[str] = Counter()
        session.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))
        started = time.perf_counter()
        inventory = collect(
            AwsOptions(
                regions=regions if scenario.regions else None,
                role_arns=[role(n) for n in range(scenario.accounts)],
                session=session,
                retry_mode="standard",
            )
        )
        seconds = time.perf_counter() - started
    assert not inventory.errors, inventory.errors
    scopes = scenario.accounts * len(regions)
    pages = {
        "DescribeSecurityGroups": _pages("describe_security_groups", groups + scopes, scopes),
        "DescribeSecurityGroupRules": _pages("describe_security_group_rules", rules, scopes),
    }
    return {
        "scenario": scenario,
        "scopes": scopes,
        "groups": groups,
        "rules": rules,
        "vms": len(inventory.vms),
        "calls": calls,
        "pages": pages,
        "seconds": seconds,
    }


def _pages(operation: str, items: int, scopes: int) -> int:
    """Pages real EC2 would return: per scope, at least one."""
    per_scope = math.ceil(items / scopes)
    return scopes * max(1, math.ceil(per_scope / PAGE_SIZES[operation]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Only the small scenarios.")
    args = parser.parse_args()
    os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
    os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    scenarios = [s for s in SCENARIOS if not args.quick or s.accounts * s.groups <= 100]
    print(
        "| scenario | scopes | SGs | rules | calls | per scope | AssumeRole | "
        "DescribeRegions | EC2 lists | pages on EC2 (SGs + rules) | collect |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scenario in scenarios:
        m = measure(scenario)
        calls: Counter[str] = m["calls"]
        lists = sum(
            v for k, v in calls.items() if k.startswith("Describe") and k != "DescribeRegions"
        )
        print(
            f"| {scenario.label} | {m['scopes']} | {m['groups']:,} | {m['rules']:,} "
            f"| {sum(calls.values())} | {sum(calls.values()) / m['scopes']:.1f} "
            f"| {calls['AssumeRole']} | {calls['DescribeRegions']} | {lists} "
            f"| {sum(m['pages'].values())} | {m['seconds']:.1f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
