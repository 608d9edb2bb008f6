"""Per-cloud CLI commands (`scan aws`, `collect aws`, ...), registered by cli.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from policycheck.model import Inventory

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
    from policycheck.sources import snapshot

    write_atomic(output, snapshot.dumps(inventory))
    for err in inventory.errors:
        click.echo(f"policycheck: incomplete: {err.provider} {err.scope}: {err.message}", err=True)
    return 3 if inventory.errors else 0


def live_commands(
    group: click.Group,
    options: Callable[[Any], Any],
    run: Callable[..., None],
    describe: Callable[[LiveSource], str],
    epilog: str = "",
) -> None:
    """Add ``GROUP aws|azure|gcp``: a live cloud as the input of another command
    (explain, drift), with the options of ``scan X``. ``run(load, **opts)`` gets
    the reader and the command's own options. The whole estate is read: a shard of
    it cannot answer for one packet or one plan."""
    from policycheck.commands import aws, azure, gcp

    for live in (aws.LIVE, azure.LIVE, gcp.LIVE):
        _live_command(group, live, options, run, describe(live), epilog)


def _live_command(
    group: click.Group,
    live: LiveSource,
    options: Callable[[Any], Any],
    run: Callable[..., None],
    help_text: str,
    epilog: str,
) -> None:
    # Which keyword arguments are the cloud's collection options.
    probe = click.command()(live.options(lambda **_: None))
    reading = {p.name for p in probe.params if p.name}

    @group.command(live.name, help=help_text, epilog=epilog + (live.epilog or ""))
    @live.options
    @options
    def command(**opts: Any) -> None:
        read = {k: opts.pop(k) for k in list(opts) if k in reading}
        if read.pop("shard", None) is not None:
            raise click.UsageError("--shard: this command reads the whole estate")
        quiet = bool(opts.get("quiet"))
        run(lambda: live.read(quiet, **read), **opts)
