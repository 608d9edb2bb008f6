"""Markdown summary: verdict, counts, findings tables, safe escaping."""

from __future__ import annotations

from report_samples import clean_result, mixed_result, terraform_result

from policycheck.findings import RULES
from policycheck.report import render
from policycheck.report.common import part_text, what_text
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
        title = escape(RULES[finding.rule_id].title)
        vm = f"{escape(finding.vm_name)} ({finding.provider})"
        assert f"| {finding.level} | {finding.rule_id} {title} | {vm} |" in md
        assert escape(what_text(finding)) in md


def test_findings_say_where_to_change_them() -> None:
    """A plan's findings name file and lines; a live scan's the cloud id, linked to
    the console page of its firewall."""
    md = render(mixed_result(), "markdown")
    assert "swyx-pbx/rdp at modules/pbx/security.tf:12-20 |" in md
    assert (
        "b2-sip: [https://www.googleapis.com/compute/v1/projects/swyx-prod/global/firewalls/b2-sip]"
        "(https://console.cloud.google.com/networking/firewalls/details/b2-sip?project=swyx-prod)"
    ) in md
    assert "(https://portal.azure.com/#@/resource/subscriptions/" in md


def test_each_thing_is_said_once_per_row() -> None:
    """No column restates another: the region appears once in its row."""
    result = mixed_result()
    md = render(result, "markdown")
    for finding in result.findings:
        what = escape(what_text(finding))
        if not what:
            continue
        vm = f"| {escape(finding.vm_name)} ({finding.provider}) |"
        (row,) = [
            line
            for line in md.splitlines()
            if f"| {what}" in line and vm in line and f"| {finding.rule_id} " in line
        ]
        for part in finding.region:
            assert row.count(escape(part_text(part))) == what.count(escape(part_text(part)))


def test_vms_with_roles_their_origins_and_the_clean_ones() -> None:
    md = render(mixed_result(), "markdown")
    assert "### VMs checked (6, 1 clean)" in md
    assert (
        "| pbx1 (azure) | /subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/"
        "swyx/providers/Microsoft.Compute/virtualMachines/pbx1 | swyxware-server (tag swyx-roles, "
        "tag swyx-roles on pbx1-nsg) | 4 findings (1 suppressed) |"
    ) in md
    assert "| cds1 (gcp) |" in md
    assert "| cds (profile role\\_assignments\\[0\\]) | :white_check_mark: clean |" in md


def test_notes_and_suppressed_are_folded() -> None:
    md = render(mixed_result(), "markdown")
    notes_at = md.index("<summary>Notes (8)</summary>")
    assert md.index("| note | SWYX004 ") > notes_at
    assert md.index("| error | SWYX001 ") < notes_at
    assert "<summary>Suppressed (1)</summary>" in md
    assert "Vendor support access until the migration, ticket OPS-1234 | 2031-03-31 |" in md


def test_pipes_and_backticks_are_escaped() -> None:
    md = render(terraform_result(), "markdown")
    # The sample's unknown role slug is "media`server|x".
    assert "unknown role slug(s) 'media\\`server\\|x'" in md
    assert "media`server|x" not in md
    # Each table row keeps its column count despite the pipe in the message.
    row = next(line for line in md.splitlines() if "unknown role slug" in line)
    assert row.replace("\\|", "").count("|") == 6


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
    assert md.count("| error | SWYX001 ") == MAX_ROWS


def test_sources_are_escaped_outside_code_spans() -> None:
    md = render(terraform_result(), "markdown")
    assert "Sources: terraform:plans/broken.json." in md
