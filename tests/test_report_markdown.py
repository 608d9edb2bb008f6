"""Markdown summary: verdict, counts, findings tables, safe escaping."""

from __future__ import annotations

from report_samples import clean_result, mixed_result, terraform_result

from policycheck.report import render
from policycheck.report.common import region_text
from policycheck.report.markdown import MAX_ROWS, escape


def test_verdict_and_counts() -> None:
    md = render(mixed_result(), "markdown")
    assert md.startswith("## policycheck: :x: 8 errors (incomplete)")
    assert "| SWYX001 | Undocumented inbound access | error | 5 | 1 |" in md
    assert "> [!WARNING]" in md


def test_clean_verdict() -> None:
    md = render(clean_result(), "markdown")
    assert md.startswith("## policycheck: :white_check_mark: no errors or warnings")
    assert "### Errors and warnings" not in md


def test_every_finding_appears() -> None:
    result = mixed_result()
    md = render(result, "markdown")
    for finding in result.findings:
        assert f"| {finding.rule_id} | {escape(finding.vm_name)} ({finding.provider}) |" in md
        assert escape(region_text(finding)) in md


def test_notes_and_suppressed_are_folded() -> None:
    md = render(mixed_result(), "markdown")
    notes_at = md.index("<summary>Notes (8)</summary>")
    assert md.index("| note | SWYX004 |") > notes_at
    assert md.index("| error | SWYX001 |") < notes_at
    assert "<summary>Suppressed (1)</summary>" in md
    assert "Vendor support access until the migration, ticket OPS-1234 | 2031-03-31 |" in md


def test_pipes_and_backticks_are_escaped() -> None:
    md = render(terraform_result(), "markdown")
    # The sample's unknown role slug is "media`server|x".
    assert "unknown role slug(s) 'media\\`server\\|x'" in md
    assert "media`server|x" not in md
    # Each table row keeps its column count despite the pipe in the message.
    row = next(line for line in md.splitlines() if "unknown role slug" in line)
    assert row.replace("\\|", "").count("|") == 9


def test_escape_neutralises_html_and_markdown() -> None:
    assert escape("<script>&") == "&lt;script&gt;&amp;"
    assert escape("a|b`c*d_e\nf") == "a\\|b\\`c\\*d\\_e f"


def test_collection_errors_section() -> None:
    md = render(mixed_result(), "markdown")
    assert "### Collection errors" in md
    assert "AuthorizationFailed" in md


def test_long_tables_are_capped() -> None:
    result = terraform_result()
    many = [
        f.model_copy(update={"vm_name": f"vm{i:04d}"})
        for i in range(MAX_ROWS + 30)
        for f in result.findings[:1]
    ]
    md = render(result.model_copy(update={"findings": many}), "markdown")
    assert "... and 30 more" in md
    assert md.count("| error | SWYX001 |") == MAX_ROWS


def test_sources_are_escaped_outside_code_spans() -> None:
    md = render(terraform_result(), "markdown")
    assert "Sources: terraform:plans/broken.json." in md
