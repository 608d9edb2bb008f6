"""One scan, start to finish: profile -> evaluate -> render -> write -> exit code.

Every ``scan`` command and ``demo`` end here, so exit codes and output handling
are decided in exactly one place.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import click

from policycheck import api
from policycheck.findings import ScanResult
from policycheck.memory import evaluating, freeze_inputs
from policycheck.model import Inventory
from policycheck.report import render, write_report
from policycheck.report.common import suppression_status_text
from policycheck.report.output import Destination, Produce, write_files
from policycheck.shard import Part

if TYPE_CHECKING:
    from policycheck.baseline import Baseline  # only with --baseline, through api


def run_report(
    inventory: Inventory,
    *,
    destinations: list[Destination],
    profile_path: Path | None = None,
    fail_on: str = "error",
    category: str | None = None,
    quiet: bool = False,
    rego: str = "off",
    opa_url: str | None = None,
    part: Part | None = None,
    policy_dirs: Sequence[Path] = (),
    rego_timeout: float | None = None,
    rego_batch: int | Literal["all"] | None = None,
    rego_engine: str = "rego-cpp",
    rego_input: Path | None = None,
    baseline: Baseline | None = None,
    evidence: bool = False,
) -> int:
    # The same steps as the public API (policycheck.api), so the two cannot drift.
    profile = api.load_profile(profile_path)
    freeze_inputs()
    select = part.selects if part is not None else None
    with evaluating():
        result = api.evaluate(
            inventory,
            profile,
            rego=rego,  # type: ignore[arg-type]
            opa_url=opa_url,
            select=select,
            policy_dirs=policy_dirs,
            rego_timeout=rego_timeout,
            rego_batch=rego_batch,
            rego_engine=rego_engine,  # type: ignore[arg-type]
            rego_input=rego_input,
            evidence=evidence,
        )
    if part is not None:
        result = result.model_copy(
            update={"firewall_count": part.firewall_count, "shard": part.mark()}
        )
        if not quiet:
            click.echo(
                f"policycheck: shard {part.shard} evaluates {result.vm_count} of the "
                f"{len(inventory.vms)} VMs read",
                err=True,
            )
    if baseline is not None:
        result = api.compare_baseline(result, baseline)
    return deliver(result, destinations, fail_on=fail_on, category=category)


def deliver(
    result: ScanResult,
    destinations: list[Destination],
    *,
    fail_on: str = "error",
    category: str | None = None,
) -> int:
    """Write every report, say what could not be read and which suppressions
    expired, and return the exit code: the end of every command that reports
    findings (scan, demo, drift)."""
    write_reports(result, destinations, category=category)
    for err in result.errors:
        click.echo(f"policycheck: incomplete: {err.provider} {err.scope}: {err.message}", err=True)
    for status in result.suppressions_in("expired"):
        click.echo(f"policycheck: warning: suppression {suppression_status_text(status)}", err=True)
    return api.exit_code(result, fail_on)  # type: ignore[arg-type]


def write_reports(
    result: ScanResult, destinations: list[Destination], *, category: str | None = None
) -> None:
    """Every report from the same result: the files all at once (or none), then
    standard output. JSON and SARIF are written one finding at a time, so a large
    report never exists whole in memory."""
    terminal = sys.stdout.isatty()

    def producer(dest: Destination) -> Produce:
        # Colour and the terminal's width only for a terminal, never in a file.
        color = dest.path is None and terminal and dest.fmt == "text"
        return lambda write: write_report(result, dest.fmt, write, category=category, color=color)

    write_files([(d.path, producer(d)) for d in destinations if d.path is not None])
    for dest in destinations:
        if dest.path is not None:
            continue
        if dest.fmt == "text":
            text = render(result, "text", color=terminal)
            click.echo(text, nl=not text.endswith("\n"))
        else:
            _to_stdout(producer(dest))


def _to_stdout(produce: Produce) -> None:
    """Standard output written as it is produced, ending in a newline."""
    sys.stdout.flush()
    stdout: BinaryIO = sys.stdout.buffer
    last = b"\n"

    def write(chunk: bytes) -> None:
        nonlocal last
        if chunk:
            stdout.write(chunk)
            last = chunk[-1:]

    produce(write)
    if last != b"\n":
        stdout.write(b"\n")
    stdout.flush()
