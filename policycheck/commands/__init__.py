"""Per-cloud CLI commands (`scan aws`, `collect aws`, ...), registered by cli.py."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
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
    #: The ``policycheck.api`` function that reads it, by name: api (and with it
    #: the cloud's SDK) is imported only when a command really reads the cloud.
    collector: str
    #: Shown under the command's help (authentication, exit codes).
    epilog: str | None = None
    #: Run before reading (e.g. quieting an SDK's own logging).
    prepare: Callable[[], None] | None = None

    def read(self, quiet: bool, **options: Any) -> Inventory:
        from policycheck import api
        from policycheck.progress import progress_display

        if self.prepare is not None:
            self.prepare()
        collect: Callable[..., Inventory] = getattr(api, self.collector)
        with progress_display(f"Reading {self.title}", quiet) as progress:
            return collect(progress=progress, **options)

    def option_names(self) -> frozenset[str]:
        """The keyword arguments its collection options give a command."""
        probe = click.command()(self.options(lambda **_: None))
        return frozenset(p.name for p in probe.params if p.name)


def register_live(
    ctx: CommandContext,
    live: LiveSource,
    *,
    scan_help: str,
    collect_help: str,
    epilog: str | None = None,
) -> None:
    """Add ``scan X`` and ``collect X`` for one live cloud (``epilog``: under both
    commands' help; default the cloud's own)."""
    from policycheck.commands.sharding import live_part

    reading = live.option_names()

    epilog = live.epilog if epilog is None else epilog

    @ctx.scan.command(live.name, help=scan_help, epilog=epilog)
    @live.options
    @ctx.report_options
    def scan(**opts: Any) -> None:
        read = {k: opts.pop(k) for k in list(opts) if k in reading}
        inventory = live.read(bool(opts.get("quiet")), **read)
        ctx.finish(inventory, part=live_part(inventory, read.get("shard"), live.name), **opts)

    @ctx.collect.command(live.name, help=collect_help, epilog=epilog)
    @live.options
    @snapshot_output_options
    def collect(output: Path, quiet: bool, **read: Any) -> None:
        sys.exit(write_snapshot(live.read(quiet, **read), output))


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


def answer_options(
    formats: Sequence[str], *, default: str | None, format_help: str, output_help: str
) -> Callable[[F], F]:
    """``--format``, ``--output`` and ``--quiet`` of a command that writes one answer
    (fix, explain): to stdout, or with -o atomically to a file."""

    def decorate(f: F) -> F:
        f = click.option("--quiet", "-q", is_flag=True, help="No progress display.")(f)
        f = click.option(
            "--output",
            "-o",
            type=click.Path(path_type=Path, dir_okay=False),
            help=output_help,
        )(f)
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(formats),
            default=default,
            show_default=default is not None,
            help=format_help,
        )(f)

    return decorate


def baseline_option(help_text: str) -> Callable[[F], F]:
    """``--baseline REPORT`` (a previous .json report or .sarif log) as
    ``baseline_path``: on every scan, and on merge for sharded scans."""
    return click.option(
        "--baseline",
        "baseline_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        metavar="REPORT",
        help=help_text,
    )


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
    *,
    epilog_end: str = "",
    shards: bool = False,
) -> None:
    """Add ``GROUP aws|azure|gcp``: a live cloud as the input of another command
    (explain, drift, fix), with the options of ``scan X``. ``run(load, **opts)``
    gets the reader and the command's own options. Unless ``shards``, the whole
    estate is read: a shard of it cannot answer for one packet or one plan."""
    from policycheck.commands import aws, azure, gcp

    for live in (aws.LIVE, azure.LIVE, gcp.LIVE):
        _live_command(
            group,
            live,
            options,
            run,
            describe(live),
            epilog + (live.epilog or "") + epilog_end,
            shards,
        )


def _live_command(
    group: click.Group,
    live: LiveSource,
    options: Callable[[Any], Any],
    run: Callable[..., None],
    help_text: str,
    epilog: str,
    shards: bool,
) -> None:
    reading = live.option_names()

    @group.command(live.name, help=help_text, epilog=epilog)
    @live.options
    @options
    def command(**opts: Any) -> None:
        read = {k: opts.pop(k) for k in list(opts) if k in reading}
        if not shards and read.pop("shard", None) is not None:
            raise click.UsageError("--shard: this command reads the whole estate")
        quiet = bool(opts.get("quiet"))
        run(lambda: live.read(quiet, **read), **opts)
