"""``--format markdown``: a summary for ``$GITHUB_STEP_SUMMARY`` and PR comments.

Errors and warnings are in the open; notes and suppressed findings are folded in
``<details>`` so a reviewer sees what blocks the change first. Tables are capped
because GitHub truncates a step summary above 1 MiB; the SARIF and JSON reports
always hold everything.
"""

from __future__ import annotations

from policycheck.findings import RULES, Finding, ScanResult
from policycheck.report.common import (
    Summary,
    finding_peers_text,
    level_counts_text,
    message,
    plural,
    region_text,
    rule_refs_text,
    sorted_findings,
    summarize,
    vm_text,
)
from policycheck.report.evidence import evidence_markdown

#: Rows per findings table before "... and N more".
MAX_ROWS = 200
_FINDING_COLUMNS = (
    "Level",
    "Rule",
    "VM",
    "Direction",
    "Protocol/ports",
    "Peers",
    "Firewall rule",
    "Message",
)
_MARKDOWN_SPECIAL = str.maketrans(
    {
        "\\": "\\\\",
        "|": "\\|",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "\r": " ",
        "\n": " ",
    }
)


def escape(text: str) -> str:
    """Make a value inert inside a Markdown table cell.

    Pipes would end the cell (GitHub needs ``\\|`` even inside code spans),
    backticks and emphasis characters would change formatting, and ``<``/``&``
    would let a rule description inject HTML into a PR comment.
    """
    return text.translate(_MARKDOWN_SPECIAL)


def render_markdown(result: ScanResult) -> str:
    summary = summarize(result)
    ordered = sorted_findings(result.findings)
    active = [f for f in ordered if f.suppression is None]
    blocking = [f for f in active if f.level in ("error", "warning")]
    notes = [f for f in active if f.level == "note"]
    suppressed = [f for f in ordered if f.suppression is not None]

    parts = [_headline(summary), _context(result, summary)]
    if summary.incomplete:
        parts.append(
            "> [!WARNING]\n> The scan is incomplete: "
            f"{plural(summary.errors, 'part')} of the estate could not be read. "
            "See *Collection errors* below."
        )
    parts.append(_rules_table(summary))
    if blocking:
        parts.append("### Errors and warnings\n\n" + _findings_table(blocking))
    if notes:
        parts.append(_details(f"Notes ({len(notes)})", _findings_table(notes)))
    if suppressed:
        parts.append(_details(f"Suppressed ({len(suppressed)})", _suppressed_table(suppressed)))
    if result.evidence is not None:
        parts.append(evidence_markdown(result.evidence, escape))
    if result.errors:
        lines = [
            f"- **{escape(e.provider)}** {escape(e.scope)}: {escape(e.message)}"
            for e in result.errors
        ]
        parts.append("### Collection errors\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _headline(summary: Summary) -> str:
    errors, warnings = summary.by_level["error"], summary.by_level["warning"]
    if errors:
        verdict = f":x: {plural(errors, 'error')}"
    elif warnings:
        verdict = f":warning: {plural(warnings, 'warning')}"
    else:
        verdict = ":white_check_mark: no errors or warnings"
    if summary.incomplete:
        verdict += " (incomplete)"
    return f"## policycheck: {verdict}"


def _context(result: ScanResult, summary: Summary) -> str:
    # Not in code spans: backslash escapes would show literally there.
    sources = ", ".join(escape(s) for s in result.sources) or "none"
    return (
        f"{plural(summary.vms, 'VM')} and {plural(summary.firewalls, 'firewall')} checked; "
        f"{level_counts_text(summary)}; {summary.suppressed} suppressed. "
        f"Sources: {sources}. policycheck {escape(result.tool_version)}."
    )


def _rules_table(summary: Summary) -> str:
    rows = ["| Rule | Title | Default level | Findings | Suppressed |", "|---|---|---|---:|---:|"]
    for rule_id in sorted(RULES):
        rule = RULES[rule_id]
        rows.append(
            f"| {rule.id} | {escape(rule.title)} | {rule.level} | "
            f"{summary.by_rule[rule_id]} | {summary.suppressed_by_rule[rule_id]} |"
        )
    return "### Findings by rule\n\n" + "\n".join(rows)


def _finding_cells(finding: Finding) -> list[str]:
    return [
        finding.level,
        finding.rule_id,
        escape(vm_text(finding)),
        finding.direction,
        escape(region_text(finding)),
        escape(finding_peers_text(finding)),
        escape(rule_refs_text(finding)),
        escape(message(finding)),
    ]


def _findings_table(findings: list[Finding]) -> str:
    return _table(list(_FINDING_COLUMNS), [_finding_cells(f) for f in findings])


def _suppressed_table(findings: list[Finding]) -> str:
    rows = []
    for finding in findings:
        sup = finding.suppression
        assert sup is not None  # only suppressed findings reach this table
        rows.append([*_finding_cells(finding), escape(sup.reason), sup.expires.isoformat()])
    return _table([*_FINDING_COLUMNS, "Justification", "Expires"], rows)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows[:MAX_ROWS]]
    hidden = len(rows) - MAX_ROWS
    if hidden > 0:
        lines.append(f"\n_... and {hidden} more; the SARIF and JSON reports list every finding._")
    return "\n".join(lines)


def _details(summary: str, body: str) -> str:
    # Blank lines around the body: GitHub renders Markdown inside <details> only then.
    return f"<details>\n<summary>{summary}</summary>\n\n{body}\n\n</details>"
