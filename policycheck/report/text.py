"""``--format text``: one table per VM for people reading a terminal or a CI log."""

from __future__ import annotations

import shutil
import sys
from io import StringIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from policycheck.findings import Finding, ScanResult
from policycheck.report.common import (
    finding_peers_text,
    group_by_vm,
    level_counts_text,
    message,
    plural,
    region_text,
    rule_refs_text,
    subject_word,
    summarize,
)

#: Fixed width when the output is not a terminal, so logs and files never wrap
#: differently from one machine to the next.
DEFAULT_WIDTH = 160
LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan"}


def render_text(result: ScanResult, *, color: bool = False, width: int | None = None) -> str:
    buffer = StringIO()
    console = Console(
        file=buffer,
        width=width or _width(color),
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )
    for first, group in group_by_vm(result.findings):
        console.print(_vm_heading(first, group))
        console.print(_table(group))
    _print_errors(console, result)
    console.print(_summary_line(result))
    return buffer.getvalue()


def _width(color: bool) -> int:
    """The terminal's width when writing to one (color implies that), else fixed."""
    if color and sys.stdout.isatty():
        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return DEFAULT_WIDTH


def _vm_heading(first: Finding, group: list[Finding]) -> Text:
    heading = Text()
    word = subject_word(first)
    heading.append(f"{word[:1].upper()}{word[1:]} {first.vm_name}", style="bold")
    heading.append(f"  ({first.provider}, {first.vm_id})  {plural(len(group), 'finding')}")
    return heading


def _table(group: list[Finding]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("Level", no_wrap=True)
    table.add_column("Rule", no_wrap=True)
    table.add_column("Dir", no_wrap=True)
    table.add_column("Protocol/ports", overflow="fold")
    table.add_column("Peers", overflow="fold")
    table.add_column("Firewall/rule", overflow="fold")
    table.add_column("Message", overflow="fold", ratio=1)
    for finding in group:
        # Text, not str: rich would read "[...]" in a value as markup.
        table.add_row(
            _level_cell(finding),
            Text(finding.rule_id),
            Text(finding.direction),
            Text(region_text(finding)),
            Text(finding_peers_text(finding)),
            Text(rule_refs_text(finding)),
            _message(finding),
        )
    return table


def _level_cell(finding: Finding) -> Text:
    if finding.suppression is not None:
        return Text(f"{finding.level} (suppressed)", style="dim")
    return Text(finding.level, style=LEVEL_STYLE[finding.level])


def _message(finding: Finding) -> Text:
    text = Text(message(finding))
    if finding.suppression is not None:
        sup = finding.suppression
        text = Text(f"[suppressed until {sup.expires.isoformat()}: {sup.reason}] ", style="dim")
        text.append(message(finding))
    return text


def _print_errors(console: Console, result: ScanResult) -> None:
    if not result.errors:
        return
    console.print(Text("Incomplete: parts of the estate could not be read", style="bold red"))
    for error in result.errors:
        console.print(Text(f"  {error.provider} {error.scope}: {error.message}"))


def _summary_line(result: ScanResult) -> Text:
    summary = summarize(result)
    if not result.findings:
        line = f"No findings ({plural(summary.vms, 'VM')}, {plural(summary.firewalls, 'firewall')})"
    else:
        line = (
            f"{plural(summary.active, 'finding')}: {level_counts_text(summary)}; "
            f"{summary.suppressed} suppressed; "
            f"{plural(summary.vms, 'VM')}, {plural(summary.firewalls, 'firewall')} checked"
        )
    if summary.incomplete:
        line += f"; INCOMPLETE ({plural(summary.errors, 'collection error')})"
    return Text(line, style="bold")
