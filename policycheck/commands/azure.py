"""`policycheck scan azure` and `policycheck collect azure`."""

from __future__ import annotations

import logging
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

#: Shown by both commands: how to authenticate, without ever taking a secret as an option.
_AUTH_HELP = """
\b
Authentication (DefaultAzureCredential, first that works):
  - service principal from the environment: AZURE_TENANT_ID, AZURE_CLIENT_ID and
    AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)
  - workload identity, managed identity
  - `az login`, Azure PowerShell, `azd auth login`
  AZURE_TOKEN_CREDENTIALS=EnvironmentCredential (or AzureCliCredential, ...) pins
  one of them. Other clouds: set AZURE_AUTHORITY_HOST and --endpoint. A private CA
  (TLS-inspecting proxy, Azure Stack): REQUESTS_CA_BUNDLE=/path/ca.pem.
  The identity needs Reader on each subscription. Secrets and tokens are never printed.
"""


def _collection_options(f: F) -> F:
    """Options that say what to read; shared by `scan azure` and `collect azure`."""
    f = shard_option(f)
    f = timeout_option(f)
    f = click.option(
        "--no-instance-discovery",
        "disable_instance_discovery",
        is_flag=True,
        help="Trust AZURE_AUTHORITY_HOST without asking Microsoft's instance discovery "
        "(Azure Stack, private or test authorities it does not know).",
    )(f)
    f = click.option(
        "--max-workers",
        type=click.IntRange(min=1, max=64),
        default=8,
        show_default=True,
        help="Subscriptions read in parallel.",
    )(f)
    f = click.option(
        "--endpoint",
        metavar="URL",
        callback=check_endpoint,
        help="Azure Resource Manager base URL (default https://management.azure.com), e.g. "
        "https://management.usgovcloudapi.net; the token is requested for URL/.default.",
    )(f)
    f = click.option(
        "--subscription",
        "subscriptions",
        multiple=True,
        metavar="ID",
        help="Subscription to read (repeatable). Default: every subscription the identity sees.",
    )(f)
    return f


def _quiet_sdk_logging() -> None:
    # azure-identity logs every failed credential at WARNING; with no handler,
    # Python would print that multi-line text beside our one-line error.
    azure_logger = logging.getLogger("azure")
    if not azure_logger.handlers:
        azure_logger.addHandler(logging.NullHandler())


LIVE = LiveSource(
    name="azure",
    title="Azure",
    options=_collection_options,
    collector="collect_azure",
    epilog=_AUTH_HELP,
    prepare=_quiet_sdk_logging,
)

_SCAN_HELP = """Read NSGs, NICs, VNets and VMs from live Azure subscriptions and scan them.

Read-only: only GET list calls to Azure Resource Manager (plus the token
request). Subnet and NIC NSGs are both evaluated, with Azure's default rules.
A subscription that cannot be read is reported and the run exits 3; a
missing or refused credential exits 2.

\b
Examples:
  policycheck scan azure --profile swyx-profile.yaml
  policycheck scan azure --subscription 1b2c... --format sarif -o azure.sarif
  AZURE_TOKEN_CREDENTIALS=AzureCliCredential policycheck scan azure
"""

_COLLECT_HELP = """Read live Azure subscriptions into an inventory snapshot, without evaluating it.

Scan the snapshot later, offline, with `policycheck scan snapshot FILE`.
Exit 3 (snapshot still written) when a subscription could not be read.

\b
Examples:
  policycheck collect azure -o azure.json
  policycheck collect azure --subscription 1b2c... --subscription 9f8e... -o azure.json
  policycheck scan snapshot azure.json --format sarif -o azure.sarif
"""


def register(ctx: CommandContext) -> None:
    """Add `scan azure` and `collect azure` to the CLI."""
    register_live(ctx, LIVE, scan_help=_SCAN_HELP, collect_help=_COLLECT_HELP, epilog=_AUTH_HELP)
