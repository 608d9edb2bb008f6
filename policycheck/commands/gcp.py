"""`policycheck scan gcp` and `policycheck collect gcp`: the live GCP collector on the CLI."""

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


LIVE = LiveSource(
    name="gcp",
    title="GCP",
    options=_gcp_options,
    collector="collect_gcp",
    epilog=_AUTH,
)

_SCAN_HELP = """Scan live GCP projects: VPC firewall rules, network firewall policies
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

_COLLECT_HELP = """Read live GCP projects into an inventory snapshot, without evaluating it.

\b
Useful to audit offline or to keep a dated record:
  policycheck collect gcp --project swyx-prod -o gcp-2026-01-31.json
  policycheck scan snapshot gcp-2026-01-31.json
"""


def register(ctx: CommandContext) -> None:
    """Add `scan gcp` and `collect gcp` to the CLI."""
    register_live(ctx, LIVE, scan_help=_SCAN_HELP, collect_help=_COLLECT_HELP, epilog=_AUTH_HELP)
