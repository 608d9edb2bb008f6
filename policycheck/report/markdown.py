"""``--format markdown``: a summary for ``$GITHUB_STEP_SUMMARY`` and PR comments.

Errors and warnings are in the open; notes and suppressed findings are folded in
``<details>`` so a reviewer sees what blocks the change first. Tables are capped
because GitHub truncates a step summary above 1 MiB; the SARIF and JSON reports
always hold everything.
"""

from __future__ import annotations

from policycheck.findings import RULES, CheckedVM, Finding, ScanResult
from policycheck.report.common import (
    SUPPRESSION_STATE_TITLES,
    Summary,
    absent_where,
    baseline_text,
    detail_lines,
    level_counts_text,
    places,
    plural,
    profile_text,
    roles_text,
    rule_title,
    sorted_findings,
    summarize,
    suppression_status_text,
    vm_place,
    vm_text,
    what_text,
)
from policycheck.report.evidence import evidence_markdown

#: Rows per findings table before "... and N more".
MAX_ROWS = 200
_FINDING_COLUMNS = ("Level", "Rule", "VM", "Finding", "Where to change it")
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

    parts = [_headline(summary, result), _context(result, summary)]
    if summary.incomplete:
        parts.append(
            "> [!WARNING]\n> The scan is incomplete: "
            f"{plural(summary.errors, 'part')} of the estate could not be read. "
            "See *Collection errors* below."
        )
    parts.append(_rules_table(result, summary))
    if result.vms:
        parts.append(_vms_section(result))
    prefix = ""
    if result.baseline is not None:
        # New first, then fixed; the unchanged rest below as without a baseline.
        parts.extend(_baseline_sections(result, active))
        blocking = [f for f in blocking if f.baseline_state != "new"]
        notes = [f for f in notes if f.baseline_state != "new"]
        prefix = "Unchanged "
    if blocking:
        title = f"{prefix}errors and warnings".capitalize()
        parts.append(f"### {title}\n\n" + _findings_table(blocking))
    if notes:
        title = f"{prefix}notes".capitalize()
        parts.append(_details(f"{title} ({len(notes)})", _findings_table(notes)))
    if suppressed:
        parts.append(_details(f"Suppressed ({len(suppressed)})", _suppressed_table(suppressed)))
    parts.extend(_suppression_states(result))
    if result.errors:
        lines = [
            f"- **{escape(e.provider)}** {escape(e.scope)}: {escape(e.message)}"
            for e in result.errors
        ]
        parts.append("### Collection errors\n\n" + "\n".join(lines))
    if result.evidence is not None:
        parts.append(evidence_markdown(result.evidence, escape))
    return "\n\n".join(parts) + "\n"


def _headline(summary: Summary, result: ScanResult) -> str:
    errors, warnings = summary.by_level["error"], summary.by_level["warning"]
    new = ""
    if result.baseline is not None:
        # What gates the run: the new findings.
        gating = result.gating()
        errors = sum(f.level == "error" for f in gating)
        warnings = sum(f.level == "warning" for f in gating)
        new = "new "
    if errors:
        verdict = f":x: {plural(errors, new + 'error')}"
    elif warnings:
        verdict = f":warning: {plural(warnings, new + 'warning')}"
    else:
        verdict = f":white_check_mark: no {new}errors or warnings"
    if summary.incomplete:
        verdict += " (incomplete)"
    return f"## policycheck: {verdict}"


def _context(result: ScanResult, summary: Summary) -> str:
    # Not in code spans: backslash escapes would show literally there.
    sources = ", ".join(escape(s) for s in result.sources) or "none"
    return (
        f"{plural(summary.vms, 'VM')} and {plural(summary.firewalls, 'firewall')} checked; "
        f"{level_counts_text(summary)}; {summary.suppressed} suppressed. "
        f"Sources: {sources}. {escape(profile_text(result))}. "
        f"policycheck {escape(result.tool_version)}."
    ) + (f" {escape(baseline_text(result))}" if result.baseline is not None else "")


def _rules_table(result: ScanResult, summary: Summary) -> str:
    rows = ["| Rule | Title | Default level | Findings | Suppressed |", "|---|---|---|---:|---:|"]
    policy = {r.id: r for r in result.policy_rules}
    for rule_id in summary.by_rule:
        info = RULES.get(rule_id) or policy.get(rule_id)
        title, level = (info.title, info.level) if info is not None else (rule_id, "")
        rows.append(
            f"| {escape(rule_id)} | {escape(title)} | {level} | "
            f"{summary.by_rule[rule_id]} | {summary.suppressed_by_rule[rule_id]} |"
        )
    return "### Findings by rule\n\n" + "\n".join(rows)


def _finding_cells(finding: Finding) -> list[str]:
    what = [what_text(finding), *detail_lines(finding)]
    return [
        finding.level,
        f"{escape(finding.rule_id)} {escape(rule_title(finding))}",
        escape(vm_text(finding)),
        "<br>".join(escape(line) for line in what if line),
        "<br>".join(_place_cell(finding)),
    ]


def _place_cell(finding: Finding) -> list[str]:
    """Each responsible rule with where to change it: the file and lines of a
    plan, or the cloud id linked to its console page."""
    out: list[str] = []
    for where in places(finding):
        text = escape(where.label) + (" (platform default)" if where.default else "")
        if where.file_lines:
            text += f" at {escape(where.file_lines)}"
        elif where.cloud_id and where.console_url:
            text += f": [{escape(where.cloud_id)}]({_url(where.console_url)})"
        elif where.cloud_id and where.cloud_id != where.label:
            text += f": {escape(where.cloud_id)}"
        out.append(text)
    return out


def _url(url: str) -> str:
    """A link target that cannot end the link or the table cell early."""
    return url.replace("(", "%28").replace(")", "%29").replace("|", "%7C").replace(" ", "%20")


def _vms_section(result: ScanResult) -> str:
    """Every VM checked, with its roles and where they came from: a VM without
    findings is listed as clean."""
    active: dict[tuple[str, str], int] = {}
    suppressed: dict[tuple[str, str], int] = {}
    for f in result.findings:
        counts = active if f.suppression is None else suppressed
        key = (f.provider or "", f.vm_id)
        counts[key] = counts.get(key, 0) + 1
    rows = []
    for vm in result.vms:
        key = (vm.provider, vm.id)
        found = active.get(key, 0)
        status = plural(found, "finding") if found else ":white_check_mark: clean"
        if suppressed.get(key):
            status += f" ({suppressed[key]} suppressed)"
        rows.append(
            [
                escape(f"{vm.name} ({vm.provider})"),
                escape(_vm_where(vm)),
                escape(roles_text(vm)),
                status,
            ]
        )
    clean = sum(1 for vm in result.vms if (vm.provider, vm.id) not in active)
    table = _table(["VM", "Where", "Roles (from)", "Status"], rows)
    return f"### VMs checked ({len(result.vms)}, {clean} clean)\n\n{table}"


def _vm_where(vm: CheckedVM) -> str:
    place = vm_place(vm)
    return place if place == vm.resource else f"{vm.resource} at {place}"


def _findings_table(findings: list[Finding]) -> str:
    return _table(list(_FINDING_COLUMNS), [_finding_cells(f) for f in findings])


def _suppressed_table(findings: list[Finding]) -> str:
    rows = []
    for finding in findings:
        sup = finding.suppression
        assert sup is not None  # only suppressed findings reach this table
        rows.append([*_finding_cells(finding), escape(sup.reason), sup.expires.isoformat()])
    return _table([*_FINDING_COLUMNS, "Justification", "Expires"], rows)


def _baseline_sections(result: ScanResult, active: list[Finding]) -> list[str]:
    assert result.baseline is not None
    out = []
    new = [f for f in active if f.baseline_state == "new"]
    if new:
        out.append(f"### New since the baseline ({len(new)})\n\n" + _findings_table(new))
    absent = result.baseline.absent
    if absent:
        rows = [
            [
                f.level,
                f"{f.rule_id} {escape(RULES[f.rule_id].title)}",
                escape(f"{f.vm_name} ({f.provider})"),
                escape(f.message),
                escape(absent_where(f)),
            ]
            for f in absent
        ]
        header = ["Was", "Rule", "VM", "Finding (as reported then)", "Where it was"]
        out.append(
            f"### Fixed or gone since the baseline ({len(absent)})\n\n" + _table(header, rows)
        )
    return out


def _suppression_states(result: ScanResult) -> list[str]:
    """Suppressions that expired (their findings are active again) or suppressed nothing."""
    out = []
    for state, title in SUPPRESSION_STATE_TITLES:
        listed = result.suppressions_in(state)
        if listed:
            lines = [f"- {escape(suppression_status_text(s))}" for s in listed]
            out.append(f"### {title}\n\n" + "\n".join(lines))
    return out


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
