"""`policycheck scan aws` and `policycheck collect aws`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from policycheck.commands import (
    CommandContext,
    LiveSource,
    check_endpoint,
    register_live,
    timeout_option,
)
from policycheck.commands.sharding import shard_option

F = TypeVar("F", bound=Callable[..., Any])


def _collection_options(f: F) -> F:
    """Options that say what to read; shared by `scan aws` and `collect aws`."""
    f = shard_option(f)
    f = timeout_option(f)
    f = click.option(
        "--max-workers",
        type=click.IntRange(min=1, max=64),
        default=8,
        show_default=True,
        help="Regions/accounts read in parallel.",
    )(f)
    f = click.option(
        "--endpoint-url",
        metavar="URL",
        callback=check_endpoint,
        help="Send EC2 and STS calls to URL (an emulator such as moto server, or a proxy). "
        "AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_EC2 are honoured too.",
    )(f)
    f = click.option(
        "--role-arn",
        "role_arns",
        multiple=True,
        metavar="ARN",
        help="Assume this IAM role and read its account (repeatable: one account per role). "
        "Default: the account of the current credentials.",
    )(f)
    f = click.option(
        "--aws-profile",
        metavar="NAME",
        help="AWS config/credentials profile (default: AWS_PROFILE or the default chain).",
    )(f)
    f = click.option(
        "--region",
        "regions",
        multiple=True,
        metavar="REGION",
        help="Region to read (repeatable). Default: every region enabled for the account.",
    )(f)
    return f


LIVE = LiveSource(
    name="aws",
    title="AWS",
    options=_collection_options,
    collector="collect_aws",
)

_SCAN_HELP = """Read security groups and instances from a live AWS estate and scan them.

Read-only: only Describe*/Get* calls (and sts:AssumeRole with --role-arn).
A region that cannot be read is reported and the run exits 3; missing or
expired credentials exit 2.

\b
IAM permissions (the AWS-managed ReadOnlyAccess policy covers them):
  ec2:DescribeRegions, ec2:DescribeVpcs, ec2:DescribeInstances,
  ec2:DescribeSecurityGroups, ec2:DescribeSecurityGroupRules,
  ec2:DescribeNetworkAcls, ec2:DescribeManagedPrefixLists,
  ec2:GetManagedPrefixListEntries

\b
Examples:
  policycheck scan aws --region eu-central-1 --profile swyx-profile.yaml
  policycheck scan aws --aws-profile prod --format sarif -o aws.sarif
  policycheck scan aws --role-arn arn:aws:iam::111122223333:role/Audit \\
                       --role-arn arn:aws:iam::444455556666:role/Audit
  policycheck scan aws --endpoint-url http://127.0.0.1:5000 --region eu-central-1
"""

_COLLECT_HELP = """Read a live AWS estate into an inventory snapshot, without evaluating it.

Scan the snapshot later, offline, with `policycheck scan snapshot FILE`.
Exit 3 (snapshot still written) when a region or account could not be read.

\b
Examples:
  policycheck collect aws --region eu-central-1 --region eu-west-1 -o aws.json
  policycheck collect aws --aws-profile audit -o aws-$(date +%F).json
  policycheck scan snapshot aws.json --format sarif -o aws.sarif
"""


def register(ctx: CommandContext) -> None:
    """Add `scan aws` and `collect aws` to the CLI."""
    register_live(ctx, LIVE, scan_help=_SCAN_HELP, collect_help=_COLLECT_HELP, epilog=None)
