"""Reports: a :class:`~policycheck.findings.ScanResult` rendered as text.

Reports present, they never evaluate: every number and every finding comes from
the ScanResult, so the four formats cannot disagree with each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from policycheck.findings import ScanResult

Format = Literal["text", "json", "sarif", "markdown"]
FORMATS: tuple[str, ...] = get_args(Format)


def render(
    result: ScanResult,
    fmt: Format,
    *,
    category: str | None = None,
    color: bool = False,
) -> str:
    """Render ``result`` in ``fmt``.

    ``category`` only affects SARIF (``automationDetails.id``); ``color`` only
    affects text (ANSI colours, and the terminal's width instead of 160 columns).
    """
    if fmt == "sarif":
        from policycheck.report.sarif import render_sarif

        return render_sarif(result, category=category)
    if fmt == "json":
        from policycheck.report.json_report import render_json

        return render_json(result)
    if fmt == "markdown":
        from policycheck.report.markdown import render_markdown

        return render_markdown(result)
    if fmt == "text":
        from policycheck.report.text import render_text

        return render_text(result, color=color)
    raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_report(
    result: ScanResult,
    fmt: Format,
    write: Callable[[bytes], object],
    *,
    category: str | None = None,
    color: bool = False,
) -> None:
    """Write ``result`` in ``fmt`` through ``write``: JSON and SARIF one finding at a
    time (a large report never exists as a whole in memory), the others at once."""
    if fmt == "sarif":
        from policycheck.report.sarif import write_sarif

        write_sarif(result, write, category=category)
    elif fmt == "json":
        from policycheck.report.json_report import write_json

        write_json(result, write)
    else:
        write(render(result, fmt, category=category, color=color).encode("utf-8"))


__all__ = ["FORMATS", "Format", "render", "write_report"]
