"""One scan, start to finish: profile -> evaluate -> render -> write -> exit code.

Every ``scan`` command and ``demo`` end here, so exit codes and output handling
are decided in exactly one place.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from policycheck.findings import LEVEL_ORDER, ScanResult
from policycheck.model import Inventory
from policycheck.profile import load_profile
from policycheck.report import render
from policycheck.report.output import Destination, write_files


def exit_code(result: ScanResult, fail_on: str) -> int:
    """3 if part of the estate could not be read, else 1 if an unsuppressed finding
    is at or above ``fail_on``, else 0."""
    if result.incomplete:
        return EXIT_INCOMPLETE
    if fail_on == "never":
        return EXIT_OK
    threshold = LEVEL_ORDER[fail_on]
    if any(LEVEL_ORDER[f.level] >= threshold for f in result.active()):
        return EXIT_FINDINGS
    return EXIT_OK


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
) -> int:
    catalog = default_catalog()
    profile = load_profile(profile_path, catalog)
    if rego == "off":
        result = evaluate(inventory, profile, catalog)
    else:
        from policycheck.rego import evaluate_rego

        result = evaluate_rego(inventory, profile, catalog, engine=rego, opa_url=opa_url)  # type: ignore[arg-type]
    write_reports(result, destinations, category=category)
    for err in result.errors:
        click.echo(f"policycheck: incomplete: {err.provider} {err.scope}: {err.message}", err=True)
    return exit_code(result, fail_on)


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
            rendered[key] = render(result, dest.fmt, category=category, color=color)
        return rendered[key]

    files = [(d.path, text_of(d)) for d in destinations if d.path is not None]
    write_files(files)
    for dest in destinations:
        if dest.path is None:
            text = text_of(dest)
            click.echo(text, nl=not text.endswith("\n"))
