"""Text report: grouped by VM, every finding visible, colour only when asked."""

from __future__ import annotations

from report_samples import clean_result, mixed_result

from policycheck.report import render
from policycheck.report.common import region_text
from policycheck.report.text import render_text


def test_every_finding_is_listed_under_its_vm() -> None:
    result = mixed_result()
    text = render_text(result, width=1000)  # wide: no cell wraps, each region is one line
    for finding in result.findings:
        assert f"VM {finding.vm_name}" in text
        assert finding.vm_id in text
        assert finding.rule_id in text
        assert region_text(finding) in text
    # One heading per VM (three clouds each have a pbx1).
    assert text.count("VM pbx1 ") == 3
    assert text.count("VM media1 ") == 1


def test_rows_name_responsible_rules_and_suppression() -> None:
    text = render(mixed_result(), "text")
    assert "swyx-pbx/rdp" in text
    assert "(suppressed)" in text
    assert "2031-03-31" in text


def test_summary_line_and_errors() -> None:
    text = render(mixed_result(), "text")
    last = text.strip().splitlines()[-1]
    assert "18 findings: 8 errors, 2 warnings, 8 notes; 1 suppressed" in last
    assert "INCOMPLETE (1 collection error)" in last
    assert "AuthorizationFailed" in text


def test_plain_unless_color() -> None:
    plain = render(mixed_result(), "text")
    assert "\x1b[" not in plain
    colored = render(mixed_result(), "text", color=True)
    assert "\x1b[" in colored


def test_fixed_width_when_not_a_terminal() -> None:
    lines = render(mixed_result(), "text").splitlines()
    assert max(len(line) for line in lines) <= 160


def test_values_are_not_read_as_markup() -> None:
    result = mixed_result()
    # Rendered from data: a VM name is printed as it is, never read as rich markup.
    odd = result.findings[0].model_copy(update={"vm_name": "[bold]not markup[/bold] [x]"})
    text = render(result.model_copy(update={"findings": [odd]}), "text")
    assert "[bold]not markup[/bold]" in text


def test_clean_result() -> None:
    text = render(clean_result(), "text")
    assert text.strip() == "No findings (1 VM, 0 firewalls)"
