"""``--format text``: findings per VM for people reading a terminal or a CI log.

Fits the width it is given (``COLUMNS``, else the terminal's, else 100 columns):
lines wrap between words, so a port range, rule id or cloud id is never cut; only
a single id longer than a whole line is split, after a ``/``. Each finding says
each thing once: its title, the region (protocol, ports, peers in words), what
else the rule needs said, and where to change it (file:line for a plan, the cloud
id and console page for a live scan).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from io import StringIO

from rich.console import Console
from rich.style import Style
from rich.text import Text

from policycheck.findings import CheckedVM, Finding, ScanResult
from policycheck.report.common import (
    SUPPRESSION_STATE_TITLES,
    Place,
    absent_text,
    baseline_counts,
    baseline_text,
    detail_lines,
    flow_groups,
    group_by_vm,
    level_counts_text,
    places,
    plural,
    preposition,
    profile_text,
    roles_text,
    rule_kind_text,
    rule_title,
    subject_word,
    summarize,
    suppression_status_text,
    vm_place,
    what_text,
)

#: Width when neither COLUMNS nor a terminal says otherwise (files, pipes, CI
#: logs), so they never wrap differently from one machine to the next.
DEFAULT_WIDTH = 100
#: Narrower than this, the level and rule columns leave no room for the finding.
MIN_WIDTH = 60
LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan"}
#: Where a finding's lines start: two spaces, the level, the rule id.
LEVEL_WIDTH, RULE_WIDTH = 9, 9
INDENT = 2 + LEVEL_WIDTH + RULE_WIDTH
#: How a finding's responsible rules are introduced, per rule id.
_PLACE_WORD = {
    "SWYX001": "allowed by",
    "SWYX002": "allowed by",
    "SWYX004": "allowed by",
    "SWYX003": "add to",
    "SWYX006": "VM",
}


def report_width(terminal: bool) -> int:
    """``COLUMNS`` if set (also when piped, as ``ls`` and ``git`` do), else the
    terminal's width when writing to one, else :data:`DEFAULT_WIDTH`."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return max(int(columns), MIN_WIDTH)
    if terminal:
        try:
            return max(os.get_terminal_size(sys.stdout.fileno()).columns, MIN_WIDTH)
        except (OSError, ValueError):
            pass
    return DEFAULT_WIDTH


def render_text(result: ScanResult, *, color: bool = False, width: int | None = None) -> str:
    out = report_lines(result, max(width or report_width(color), MIN_WIDTH))
    if not color:
        # The lines are wrapped already and Text holds no control characters, so
        # without colour a console would print each line's text as it is; rich's
        # per-line rendering cost ~0.4 ms a line (5 s for 12,000 findings).
        return "".join(f"{line.plain}\n" for line in out.lines)
    return through_console(out.lines, out.width, color=color)


def report_lines(result: ScanResult, width: int) -> _Out:
    """The report's lines, wrapped to ``width``, with their styles."""
    out = _Out(width)
    vms: dict[tuple[str, str], CheckedVM] = {(vm.provider, vm.id): vm for vm in result.vms}
    if result.baseline is None:
        _vm_blocks(out, result.findings, vms)
    else:
        _baseline_sections(out, result, vms)
    with_findings = {(f.provider, f.vm_id) for f in result.findings}
    clean = [vm for vm in result.vms if (vm.provider, vm.id) not in with_findings]
    if clean:
        _clean_block(out, clean)
    _suppression_states(out, result)
    _errors(out, result)
    out.para(profile_text(result), 0)
    out.para(_summary_line(result), 0, style="bold")
    return out


def through_console(lines: list[Text], width: int, *, color: bool) -> str:
    """``lines`` as rich prints them (styles and links as ANSI sequences if ``color``)."""
    buffer = StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        soft_wrap=True,  # lines are already wrapped to the width
    )
    for line in lines:
        console.print(line)
    return buffer.getvalue()


def _vm_blocks(out: _Out, findings: list[Finding], vms: dict[tuple[str, str], CheckedVM]) -> None:
    for first, group in group_by_vm(findings):
        _vm_block(out, first, group, vms.get((first.provider or "", first.vm_id)))


def _baseline_sections(
    out: _Out, result: ScanResult, vms: dict[tuple[str, str], CheckedVM]
) -> None:
    """With a baseline: what is new first, then what was fixed (or is gone), then
    the unchanged rest; each finding once."""
    assert result.baseline is not None
    out.para(baseline_text(result), 0, style="bold")
    new = [f for f in result.findings if f.baseline_state == "new"]
    if new:
        out.blank()
        out.line(f"New since the baseline ({len(new)}):", "bold")
        _vm_blocks(out, new, vms)
    if result.baseline.absent:
        out.blank()
        out.line(f"Fixed or gone since the baseline ({len(result.baseline.absent)}):", "bold")
        for gone in result.baseline.absent:
            out.para(absent_text(gone), 2)
    unchanged = [f for f in result.findings if f.baseline_state != "new"]
    if unchanged:
        out.blank()
        out.line(f"Unchanged since the baseline ({len(unchanged)}):", "bold")
        _vm_blocks(out, unchanged, vms)


@dataclass
class _Out:
    width: int
    lines: list[Text] = field(default_factory=list)

    def line(self, text: str | Text, style: str = "") -> None:
        self.lines.append(text if isinstance(text, Text) else Text(text, style=style))

    def para(
        self, text: str, indent: int, hang: int = 2, style: str = "", link: str | None = None
    ) -> None:
        """``text`` wrapped at ``indent``, continuation lines ``hang`` further in.
        ``link``: on a terminal every piece links to it (OSC 8), so a URL split
        to fit the width still opens whole."""
        for i, piece in enumerate(wrap(text, self.width - indent, self.width - indent - hang)):
            line = Text(" " * (indent if i == 0 else indent + hang))
            line.append(piece, Style.parse(style or "none") + Style(link=link) if link else style)
            self.lines.append(line)

    def blank(self) -> None:
        if self.lines and self.lines[-1].plain:
            self.lines.append(Text(""))


def wrap(text: str, first: int, rest: int) -> list[str]:
    """Lines of at most ``first`` (then ``rest``) characters, broken between
    words; a word longer than a whole line is split after a ``/`` (ids, URLs),
    else where it must."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        limit = first if not lines else rest
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        limit = first if not lines else rest
        while len(word) > limit:
            cut = word.rfind("/", 1, limit) + 1 or limit
            lines.append(word[:cut])
            word = word[cut:]
            limit = rest
        current = word
    if current or not lines:
        lines.append(current)
    return lines


def _vm_block(out: _Out, first: Finding, group: list[Finding], vm: CheckedVM | None) -> None:
    out.blank()
    active = [f for f in group if f.suppression is None]
    suppressed = [f for f in group if f.suppression is not None]
    # A drift block is about a firewall object, not a VM: say so before its name.
    heading = Text("firewall " if subject_word(first) == "firewall" else "")
    heading.append(first.vm_name, style="bold")
    heading.append(f" ({first.provider})")
    _name_and_place(out, heading, _vm_where(vm, first), 0)
    if vm is not None:
        out.para(f"roles: {roles_text(vm)}", 2)
    counts = [plural(len(active), "finding")]
    by_level = [plural(sum(f.level == lv for f in active), lv) for lv in ("error", "warning")]
    notes = sum(f.level == "note" for f in active)
    counts.append(", ".join([*by_level, plural(notes, "note")]))
    if suppressed:
        counts.append(f"{len(suppressed)} suppressed")
    out.para(f"{counts[0]}: {'; '.join(counts[1:])}", 2)
    for finding in [*active, *suppressed]:
        out.blank()
        _finding(out, finding)
    out.blank()


def _name_and_place(out: _Out, name: Text, where: str, indent: int) -> None:
    """``name · where`` on one line if it fits, else ``where`` on the next."""
    line = Text(" " * indent) + name
    if indent + len(name) + 3 + len(where) <= out.width:
        line.append(f" · {where}")
        out.line(line)
    else:
        out.line(line)
        out.para(where, indent + 2)


def _vm_where(vm: CheckedVM | None, first: Finding | None) -> str:
    """``aws_instance.pbx1 · main.tf:69-80`` for a plan, the cloud id for a live VM."""
    if vm is None:
        return first.vm_id if first is not None else ""
    place = vm_place(vm)
    return place if place == vm.resource else f"{vm.resource} · {place}"


def _finding(out: _Out, finding: Finding) -> None:
    suppressed = finding.suppression is not None
    style = "dim" if suppressed else ""
    head = Text("  ")
    head.append(
        f"{finding.level:<{LEVEL_WIDTH}}", "dim" if suppressed else LEVEL_STYLE[finding.level]
    )
    head.append(f"{finding.rule_id:<{RULE_WIDTH}}", style)
    title = wrap(rule_title(finding), out.width - INDENT, out.width - INDENT - 2)
    head.append(title[0], "bold" if not suppressed else style)
    out.line(head)
    for piece in title[1:]:
        out.line(" " * (INDENT + 2) + piece, style)
    if finding.suppression is not None:
        sup = finding.suppression
        out.para(
            f"suppressed until {sup.expires.isoformat()} ({sup.match}): {sup.reason}",
            INDENT,
            style=style,
        )
    for text, extra in _what(finding):
        out.para(text, INDENT + extra, style=style)
    for text in detail_lines(finding):
        out.para(text, INDENT, style=style)
    word = _PLACE_WORD.get(finding.rule_id, "rule")
    for labels, spot, console in _place_groups(places(finding)):
        intro = f"{word} {labels}"
        if spot and len(intro) + 3 + len(spot) <= out.width - INDENT:
            out.para(f"{intro} · {spot}", INDENT, style=style)
        else:
            out.para(intro, INDENT, style=style)
            if spot:
                out.para(spot, INDENT + 2, style=style)
        if console:
            out.para(console, INDENT + 2, style=style, link=console)
        word = "and"


def _suppression_states(out: _Out, result: ScanResult) -> None:
    """Suppressions that expired (their findings are active again) or suppressed nothing."""
    for state, title in SUPPRESSION_STATE_TITLES:
        listed = result.suppressions_in(state)
        if not listed:
            continue
        out.blank()
        out.line(title, "bold yellow" if state == "expired" else "bold")
        for status in listed:
            out.para(suppression_status_text(status), 2)
    out.blank()


def _what(finding: Finding) -> Iterable[tuple[str, int]]:
    """The region as paragraphs (text, extra indent): one per group of parts with
    the same peers; several parts with the same peers are listed under them."""
    prep = preposition(finding)
    if finding.rule_id == "SWYX003":
        yield what_text(finding), 0
        return
    prefix = ""
    if finding.rule_id in ("SWYX005", "SWYX007"):
        prefix = f"{rule_kind_text(finding)}, {finding.direction}: "
    symbolic = finding.rule_id == "SWYX005"
    for parts, peers in flow_groups(finding, with_peers=not symbolic):
        if len(parts) == 1:
            yield prefix + parts[0] + (f" {prep} {peers}" if peers else ""), 0
        else:
            yield prefix + (f"{prep} {peers}:" if peers else "every part of:"), 0
            for part in parts:
                yield part, 2
        prefix = ""


def _place_groups(found: list[Place]) -> list[tuple[str, str | None, str | None]]:
    """(labels, file:line or cloud id, console page) per place, rules declared in
    the same place said together: ``pbx1-nsg/AllowInternetOutBound,
    pbx1-nsg/AllowVnetOutBound (platform defaults)``."""
    groups: dict[tuple[str | None, str | None, bool], list[str]] = {}
    for where in found:
        # The console page is built from the cloud id: a live rule's place is said
        # once, as the link (the label names the rule; JSON and SARIF keep the id).
        spot = where.file_lines or (None if where.console_url else where.cloud_id)
        key = (spot if spot != where.label else None, where.console_url, where.default)
        groups.setdefault(key, []).append(where.label)
    out: list[tuple[str, str | None, str | None]] = []
    for (spot, console, default), labels in groups.items():
        text = ", ".join(labels)
        if default:
            text += " (platform default" + ("s)" if len(labels) > 1 else ")")
        out.append((text, spot, console))
    return out


def _clean_block(out: _Out, clean: list[CheckedVM]) -> None:
    out.blank()
    out.line(f"Checked, no findings ({plural(len(clean), 'VM')}):", "bold")
    for vm in clean:
        _name_and_place(out, Text(f"{vm.name} ({vm.provider})"), _vm_where(vm, None), 2)
        out.para(f"roles: {roles_text(vm)}", 4)
    out.blank()


def _errors(out: _Out, result: ScanResult) -> None:
    if not result.errors:
        return
    out.blank()
    out.line("Incomplete: parts of the estate could not be read", "bold red")
    for error in result.errors:
        out.para(f"{error.provider} {error.scope}: {error.message}", 2)
    out.blank()


def _summary_line(result: ScanResult) -> str:
    summary = summarize(result)
    vms = plural(summary.vms, "VM")
    firewalls = plural(summary.firewalls, "firewall")
    if not result.findings:
        line = f"No findings ({vms}, {firewalls})"
    else:
        line = (
            f"{plural(summary.active, 'finding')}: {level_counts_text(summary)}; "
            f"{summary.suppressed} suppressed; {vms}, {firewalls} checked"
        )
    if result.baseline is not None:
        counts = baseline_counts(result)
        line += f"; {counts.new} new, {counts.absent} fixed or gone since the baseline"
    if summary.incomplete:
        line += f"; INCOMPLETE ({plural(summary.errors, 'collection error')})"
    return line
