"""`policycheck scan gcp` and `policycheck collect gcp`: the live GCP collector on the CLI."""

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

_AUTH = """
\b
Authentication: Application Default Credentials, with the read-only
compute.readonly scope:
  gcloud auth application-default login        # your user
  export GOOGLE_APPLICATION_CREDENTIALS=key.json  # a service account
  (on GCE/Cloud Build/GKE the attached service account is used)
The identity needs roles/compute.viewer on each project (and on the
organization for --organization). Only list calls are made; nothing changes.
"""
_AUTH_HELP = (
    _AUTH
    + """
\b
Exit codes: 0 clean, 1 findings, 2 bad usage or credentials,
3 a project could not be read (the others are still reported).
"""
)


def _gcp_options(f: F) -> F:
    f = shard_option(f)
    f = timeout_option(f)
    f = click.option(
        "--max-workers",
        type=click.IntRange(1, 64),
        default=8,
        show_default=True,
        help="Projects read in parallel.",
    )(f)
    f = click.option(
        "--endpoint",
        metavar="URL",
        callback=check_endpoint,
        help="Compute API endpoint, e.g. a Private Service Connect URL "
        "(default: https://compute.googleapis.com).",
    )(f)
    f = click.option(
        "--organization",
        metavar="ID",
        help="Also read the organization's hierarchical firewall policies "
        "(numeric ID, or organizations/ID).",
    )(f)
    f = click.option(
        "--project",
        "projects",
        multiple=True,
        metavar="ID",
        help="Project to read (repeatable). Default: the credentials' project "
        "(GOOGLE_CLOUD_PROJECT or the key file's project_id).",
    )(f)
    return f


def _collect(
    projects: tuple[str, ...],
    organization: str | None,
    endpoint: str | None,
    max_workers: int,
    quiet: bool,
    timeout: float,
    shard: Shard | None,
) -> Inventory:
    # Imported here: the Compute SDK takes ~2 s to import, only gcp commands pay it.
    from policycheck import api
    from policycheck.progress import progress_display

    with progress_display("Reading GCP", quiet) as progress:
        return api.collect_gcp(
            projects=projects,
            organization=organization,
            endpoint=endpoint,
            max_workers=max_workers,
            progress=progress,
            timeout=timeout,
            shard=shard,
        )


def _read_live(
    quiet: bool,
    *,
    projects: tuple[str, ...],
    organization: str | None,
    endpoint: str | None,
    max_workers: int,
    timeout: float,
    shard: Shard | None = None,
) -> Inventory:
    return _collect(projects, organization, endpoint, max_workers, quiet, timeout, shard)


LIVE = LiveSource(name="gcp", title="GCP", options=_gcp_options, read=_read_live, epilog=_AUTH)


def register(ctx: CommandContext) -> None:
    """Add `scan gcp` and `collect gcp` to the CLI."""

    @ctx.scan.command("gcp", epilog=_AUTH_HELP)
    @_gcp_options
    @ctx.report_options
    def scan_gcp(
        projects: tuple[str, ...],
        organization: str | None,
        endpoint: str | None,
        max_workers: int,
        timeout: float,
        shard: Shard | None,
        **report_opts: Any,
    ) -> None:
        """Scan live GCP projects: VPC firewall rules, network firewall policies
        and (with --organization) hierarchical policies in front of SwyxWare VMs.

        \b
        A VM's Swyx roles are its network tags swyx-role-<role>, e.g.
        swyx-role-swyxware-server, swyx-role-remote-connector.

        \b
        Examples:
          policycheck scan gcp --project swyx-prod
          policycheck scan gcp --project a --project b --format sarif -o gcp.sarif
          policycheck scan gcp --project swyx-prod --organization 123456789012
        """
        quiet = bool(report_opts.get("quiet"))
        inventory = _collect(projects, organization, endpoint, max_workers, quiet, timeout, shard)
        ctx.finish(inventory, part=live_part(inventory, shard, "gcp"), **report_opts)

    @ctx.collect.command("gcp", epilog=_AUTH_HELP)
    @_gcp_options
    @snapshot_output_options
    def collect_gcp(
        projects: tuple[str, ...],
        organization: str | None,
        endpoint: str | None,
        max_workers: int,
        timeout: float,
        shard: Shard | None,
        output: Path,
        quiet: bool,
    ) -> None:
        """Read live GCP projects into an inventory snapshot, without evaluating it.

        \b
        Useful to audit offline or to keep a dated record:
          policycheck collect gcp --project swyx-prod -o gcp-2026-01-31.json
          policycheck scan snapshot gcp-2026-01-31.json
        """
        inventory = _collect(projects, organization, endpoint, max_workers, quiet, timeout, shard)
        sys.exit(write_snapshot(inventory, output))
