"""`policycheck scan aws` and `policycheck collect aws`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from policycheck.commands import (
    CommandContext,
    LiveSource,
    check_endpoint,
    snapshot_output_options,
    timeout_option,
    write_snapshot,
)
from policycheck.commands.sharding import live_part, shard_option
from policycheck.model import Inventory
from policycheck.shard import Shard

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


def _read(
    regions: tuple[str, ...],
    aws_profile: str | None,
    role_arns: tuple[str, ...],
    endpoint_url: str | None,
    max_workers: int,
    quiet: bool,
    timeout: float,
    shard: Shard | None,
) -> Inventory:
    from policycheck import api
    from policycheck.progress import progress_display

    with progress_display("Reading AWS", quiet) as progress:
        return api.collect_aws(
            regions=regions,
            aws_profile=aws_profile,
            role_arns=role_arns,
            endpoint_url=endpoint_url,
            max_workers=max_workers,
            progress=progress,
            timeout=timeout,
            shard=shard,
        )


def _read_live(
    quiet: bool,
    *,
    regions: tuple[str, ...],
    aws_profile: str | None,
    role_arns: tuple[str, ...],
    endpoint_url: str | None,
    max_workers: int,
    timeout: float,
    shard: Shard | None = None,
) -> Inventory:
    return _read(regions, aws_profile, role_arns, endpoint_url, max_workers, quiet, timeout, shard)


LIVE = LiveSource(name="aws", title="AWS", options=_collection_options, read=_read_live)


def register(ctx: CommandContext) -> None:
    """Add the aws commands to the CLI."""

    @ctx.scan.command("aws")
    @_collection_options
    @ctx.report_options
    def scan_aws(
        regions: tuple[str, ...],
        aws_profile: str | None,
        role_arns: tuple[str, ...],
        endpoint_url: str | None,
        max_workers: int,
        timeout: float,
        shard: Shard | None,
        **report_opts: Any,
    ) -> None:
        """Read security groups and instances from a live AWS estate and scan them.

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
        inventory = _read(
            regions,
            aws_profile,
            role_arns,
            endpoint_url,
            max_workers,
            bool(report_opts.get("quiet")),
            timeout,
            shard,
        )
        ctx.finish(inventory, part=live_part(inventory, shard, "aws"), **report_opts)

    @ctx.collect.command("aws")
    @_collection_options
    @snapshot_output_options
    def collect_aws(
        regions: tuple[str, ...],
        aws_profile: str | None,
        role_arns: tuple[str, ...],
        endpoint_url: str | None,
        max_workers: int,
        timeout: float,
        shard: Shard | None,
        output: Path,
        quiet: bool,
    ) -> None:
        """Read a live AWS estate into an inventory snapshot, without evaluating it.

        Scan the snapshot later, offline, with `policycheck scan snapshot FILE`.
        Exit 3 (snapshot still written) when a region or account could not be read.

        \b
        Examples:
          policycheck collect aws --region eu-central-1 --region eu-west-1 -o aws.json
          policycheck collect aws --aws-profile audit -o aws-$(date +%F).json
          policycheck scan snapshot aws.json --format sarif -o aws.sarif
        """
        inventory = _read(
            regions, aws_profile, role_arns, endpoint_url, max_workers, quiet, timeout, shard
        )
        sys.exit(write_snapshot(inventory, output))
