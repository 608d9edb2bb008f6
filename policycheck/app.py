"""One scan, start to finish: profile -> evaluate -> render -> write -> exit code.

Every ``scan`` command, ``demo`` and ``drift`` end here, so exit codes and output handling
are decided in exactly one place.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from policycheck import api
from policycheck.findings import ScanResult
from policycheck.model import Inventory
from policycheck.report.output import write_atomic


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
    evidence: bool = False,
) -> int:
    # The same steps as the public API (policycheck.api), so the two cannot drift.
    profile = api.load_profile(profile_path)
    result = api.evaluate(
        inventory,
        profile,
        rego=rego,  # type: ignore[arg-type]
        opa_url=opa_url,
        evidence=evidence,
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
    """Render, write (stdout or atomically to ``output``), say what could not be
    read, and return the exit code: the end of every command that reports findings."""
    to_terminal = output is None and sys.stdout.isatty()
    chosen = fmt or ("text" if to_terminal else "json")
    text = api.render(result, chosen, category=category, color=to_terminal)  # type: ignore[arg-type]
    if output is not None:
        write_atomic(output, text)
    else:
        click.echo(text, nl=not text.endswith("\n"))
    for err in result.errors:
        click.echo(f"policycheck: incomplete: {err.provider} {err.scope}: {err.message}", err=True)
    return api.exit_code(result, fail_on)  # type: ignore[arg-type]
