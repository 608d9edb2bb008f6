"""Per-cloud CLI commands (`scan aws`, `collect aws`, ...), registered by cli.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from policycheck.model import Inventory
from policycheck.sources import snapshot

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CommandContext:
    """What a cloud's command module needs from the CLI to register itself.

    - ``scan``/``collect``: the click groups to add ``scan X``/``collect X`` to.
    - ``report_options``: decorator adding --profile/--format/--output/--fail-on/
      --category/--quiet to a scan command (its kwargs go to ``finish``).
    - ``finish(inventory, **report_opts)``: evaluates, renders, writes, exits.
    - ``root``: the ``policycheck`` group, for commands of their own (``fix``).
    - ``profile_option``: decorator adding ``--profile`` (the deployment profile).
    """

    scan: click.Group
    collect: click.Group
    report_options: Callable[[Any], Any]
    finish: Callable[..., None]
    root: click.Group
    profile_option: Callable[[Any], Any]


@dataclass(frozen=True)
class LiveSource:
    """A live cloud as any command reads it: its collection options (the ones
    `scan X` and `collect X` take) and ``read(quiet, **those options)``."""

    name: str
    #: How the cloud is written in prose (AWS, Azure, GCP).
    title: str
    options: Callable[[Any], Any]
    read: Callable[..., Inventory]
    #: Shown under the command's help (authentication, exit codes).
    epilog: str | None = None


def check_endpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Callback for --endpoint/--endpoint-url: a URL, checked before anything is read."""
    from policycheck.inputs import check_url

    return None if value is None else check_url(value, param.opts[0])


def timeout_option(f: F) -> F:
    """``--timeout`` for every cloud command: how long one API response may take."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=1, max=3600),
        default=60,
        show_default=True,
        metavar="SECONDS",
        help="Wait at most this long for one API response (a hung endpoint fails the "
        "scope it serves). Throttling and server errors are still retried with backoff.",
    )(f)


def snapshot_output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--output`` (required) and ``--quiet`` for every ``collect`` command."""
    f = click.option("--quiet", "-q", is_flag=True, help="No progress display.")(f)
    return click.option(
        "--output",
        "-o",
        required=True,
        type=click.Path(path_type=Path, dir_okay=False),
        help="Snapshot file to write (atomically).",
    )(f)


def write_snapshot(inventory: Inventory, output: Path) -> int:
    """Write a collected inventory; exit 3 if part of the estate was unreadable."""
    from policycheck.report.output import write_atomic

    write_atomic(output, snapshot.dumps(inventory))
    for err in inventory.errors:
        click.echo(f"policycheck: incomplete: {err.provider} {err.scope}: {err.message}", err=True)
    return 3 if inventory.errors else 0
