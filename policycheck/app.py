"""One scan, start to finish: profile -> evaluate -> render -> write -> exit code.

Every ``scan`` command and ``demo`` end here, so exit codes and output handling
are decided in exactly one place.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from policycheck import api
from policycheck.baseline import Baseline
from policycheck.findings import ScanResult
from policycheck.model import Inventory
from policycheck.report.common import suppression_status_text
from policycheck.report.output import Destination, write_files


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
    baseline: Baseline | None = None,
) -> int:
    # The same steps as the public API (policycheck.api), so the two cannot drift.
    profile = api.load_profile(profile_path)
    result = api.evaluate(inventory, profile, rego=rego, opa_url=opa_url)  # type: ignore[arg-type]
    if baseline is not None:
        result = api.compare_baseline(result, baseline)
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
    standard output. Each format is rendered once however many files want it."""
    terminal = sys.stdout.isatty()
    rendered: dict[tuple[str, bool], str] = {}

    def text_of(dest: Destination) -> str:
        # Colour and the terminal's width only for a terminal, never in a file.
        color = dest.path is None and terminal and dest.fmt == "text"
        key = (dest.fmt, color)
        if key not in rendered:
            rendered[key] = api.render(result, dest.fmt, category=category, color=color)
        return rendered[key]

    write_files([(d.path, text_of(d)) for d in destinations if d.path is not None])
    for dest in destinations:
        if dest.path is None:
            text = text_of(dest)
            click.echo(text, nl=not text.endswith("\n"))
