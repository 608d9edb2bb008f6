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
from policycheck.report.common import suppression_status_text
from policycheck.report.output import write_atomic


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
    profile_path: Path | None = None,
    fmt: str | None = None,
    output: Path | None = None,
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
    to_terminal = output is None and sys.stdout.isatty()
    chosen = fmt or ("text" if to_terminal else "json")
    text = render(result, chosen, category=category, color=to_terminal)  # type: ignore[arg-type]
    if output is not None:
        write_atomic(output, text)
    else:
        click.echo(text, nl=not text.endswith("\n"))
    for err in result.errors:
        click.echo(f"policycheck: incomplete: {err.provider} {err.scope}: {err.message}", err=True)
    for status in result.suppressions_in("expired"):
        click.echo(f"policycheck: warning: suppression {suppression_status_text(status)}", err=True)
    return exit_code(result, fail_on)
