"""``--shard K/N`` on the command line: one option for every scan and collect command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from policycheck.model import Inventory
from policycheck.shard import Part, Shard, read_part, split_file

F = TypeVar("F", bound=Callable[..., Any])

SHARD_HELP = (
    "Read/evaluate only part K of N (e.g. 2/4), for a CI matrix or a Kubernetes "
    "Indexed Job; the parts are deterministic and disjoint, and `policycheck merge` "
    "combines their reports. Parts: accounts or regions (aws), subscriptions (azure), "
    "projects (gcp), deployments (plans, snapshots). See docs/sharding.md."
)


def _parse(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Shard | None:
    return None if value is None else Shard.parse(value)


def shard_option(f: F) -> F:
    return click.option("--shard", metavar="K/N", callback=_parse, help=SHARD_HELP)(f)


def file_part(inventory: Inventory, shard: Shard | None, scan: str) -> Part | None:
    """For a plan or snapshot: every shard reads all of it and evaluates its VMs."""
    return None if shard is None else split_file(inventory, shard, scan)


def live_part(inventory: Inventory, shard: Shard | None, scan: str) -> Part | None:
    """For a live read that already holds only the shard's scopes."""
    return None if shard is None else read_part(inventory, shard, scan)
