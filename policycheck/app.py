"""One scan, start to finish: profile -> evaluate -> render -> write -> exit code.

Every ``scan`` command, ``demo`` and ``drift`` end here (drift through
:func:`deliver`), so exit codes and output handling are decided in exactly one place.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

import click

from policycheck import api
from policycheck.findings import ScanResult
from policycheck.memory import freeze_inputs
from policycheck.model import Inventory
from policycheck.report import Format, render, write_report
from policycheck.report.output import write_atomic_with
from policycheck.shard import Part


def write_output(
    result: ScanResult,
    fmt: Format,
    output: Path | None,
    *,
    category: str | None = None,
    color: bool = False,
) -> None:
    """The report to ``output`` (atomically) or stdout, written as it is rendered."""
    if output is not None:
        write_atomic_with(
            output, lambda sink: write_report(result, fmt, sink, category=category, color=color)
        )
        return
    if fmt == "text":
        text = render(result, fmt, color=color)
        click.echo(text, nl=not text.endswith("\n"))
        return
    sys.stdout.flush()
    stdout: BinaryIO = sys.stdout.buffer
    last = b"\n"

    def to_stdout(chunk: bytes) -> None:
        nonlocal last
        if chunk:
            stdout.write(chunk)
            last = chunk[-1:]

    write_report(result, fmt, to_stdout, category=category)
    if last != b"\n":
        stdout.write(b"\n")
    stdout.flush()


def run_report(
    inventory: Inventory,
    *,
    profile_path: Path | None = None,
    fmt: str | None = None,
    output: Path | None = None,
    fail_on: str = "error",
    category: str | None = None,
    quiet: bool = False,
    rego: str = "off",
    opa_url: str | None = None,
    part: Part | None = None,
    evidence: bool = False,
) -> int:
    # The same steps as the public API (policycheck.api), so the two cannot drift.
    profile = api.load_profile(profile_path)
    freeze_inputs()
    select = part.selects if part is not None else None
    result = api.evaluate(
        inventory,
        profile,
        rego=rego,  # type: ignore[arg-type]
        opa_url=opa_url,
        select=select,
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
    return deliver(result, fmt=fmt, output=output, fail_on=fail_on, category=category)


def deliver(
    result: ScanResult,
    *,
    fmt: str | None = None,
    output: Path | None = None,
    fail_on: str = "error",
    category: str | None = None,
) -> int:
    """Write the report (stdout, or atomically to ``output``), say what could not be
    read, and return the exit code: the end of every command that reports findings."""
    to_terminal = output is None and sys.stdout.isatty()
    chosen: Format = fmt or ("text" if to_terminal else "json")  # type: ignore[assignment]
    write_output(result, chosen, output, category=category, color=to_terminal)
    for err in result.errors:
        click.echo(f"policycheck: incomplete: {err.provider} {err.scope}: {err.message}", err=True)
    return api.exit_code(result, fail_on)  # type: ignore[arg-type]
