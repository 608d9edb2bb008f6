"""Text report: per VM, fits the width it is given, says each thing once, never
cuts a rule id, cloud id or port range, and names where to change each finding."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_samples import CLEAN_VM, clean_result, mixed_result, terraform_result

from policycheck.findings import ScanResult
from policycheck.report import render
from policycheck.report.common import part_text, places, rule_label, what_text
from policycheck.report.text import (
    DEFAULT_WIDTH,
    MIN_WIDTH,
    render_text,
    report_lines,
    report_width,
    through_console,
    wrap,
)

WIDE = 1000  # nothing wraps: each paragraph is one line


def test_every_finding_is_listed_under_its_vm() -> None:
    result = mixed_result()
    text = render_text(result, width=WIDE)
    for finding in result.findings:
        assert f"{finding.vm_name} ({finding.provider})" in text
        assert finding.rule_id in text
        if finding.rule_id != "SWYX003":  # said as the requirement's flow instead
            for part in finding.region:
                assert part_text(part) in text
        else:
            assert what_text(finding) in text
    # One heading per VM (three clouds each have a pbx1).
    assert len(re.findall(r"^pbx1 \(", text, flags=re.M)) == 3
    assert len(re.findall(r"^media1 \(aws\)", text, flags=re.M)) == 1


@pytest.mark.parametrize("make", [mixed_result, terraform_result])
def test_each_finding_says_its_region_once(make: object) -> None:
    """No column or line restates another: rendered alone, a finding's region
    parts appear exactly as often as in the one line that states the region."""
    result: ScanResult = make()  # type: ignore[operator]
    for finding in result.findings:
        alone = result.model_copy(update={"findings": [finding], "vms": []})
        text = render_text(alone, width=WIDE)
        body = text.split("\n\n", 1)[1]
        for part in finding.region:
            said = part_text(part)
            assert body.count(said) == 1 or body.count(said) == what_text(finding).count(said), (
                finding.rule_id,
                said,
                body,
            )


def test_where_to_change_each_finding() -> None:
    """file:line for plan findings; the console page for live ones."""
    text = render_text(mixed_result(), width=WIDE)
    assert "allowed by swyx-pbx/rdp · modules/pbx/security.tf:12-20" in text
    assert (
        "https://console.cloud.google.com/networking/firewalls/details/b2-sip?project=swyx-prod"
        in (text)
    )
    assert (
        "https://portal.azure.com/#@/resource/subscriptions/11111111-2222-3333-4444-555555555555"
        "/resourceGroups/swyx/providers/Microsoft.Network/networkSecurityGroups/pbx1-nsg"
    ) in text
    for finding in mixed_result().findings:
        for where in places(finding):
            assert where.label in text


def test_roles_with_their_origins_and_clean_vms() -> None:
    text = render_text(mixed_result(), width=WIDE)
    assert "roles: swyxware-server, cds (tag swyx-roles)" in text
    assert "roles: swyxware-server (tag swyx-roles, tag swyx-roles on pbx1-nsg)" in text
    assert "roles: swyxware-server, remote-connector (network tag swyx-role-<role>)" in text
    clean = text.split("Checked, no findings (1 VM):", 1)[1]
    assert f"{CLEAN_VM} (gcp)" in clean
    assert "roles: cds (profile role_assignments[0])" in clean


def test_suppression_is_shown_with_reason_and_expiry() -> None:
    text = render_text(mixed_result(), width=WIDE)
    assert "suppressed until 2031-03-31 (suppressions[0]): Vendor support access" in text
    assert "4 findings: 1 error, 1 warning, 2 notes; 1 suppressed" in text


def test_summary_and_errors() -> None:
    text = render_text(mixed_result(), width=WIDE)
    last = text.strip().splitlines()[-1]
    assert "18 findings: 8 errors, 2 warnings, 8 notes; 1 suppressed" in last
    assert "INCOMPLETE (1 collection error)" in last
    assert "AuthorizationFailed" in text


def test_plain_unless_color() -> None:
    plain = render(mixed_result(), "text")
    assert "\x1b[" not in plain
    colored = render(mixed_result(), "text", color=True)
    assert "\x1b[" in colored


def test_console_links_open_whole_on_a_terminal() -> None:
    """A console URL split to fit the width links every piece to the whole URL."""
    url = (
        "https://portal.azure.com/#@/resource/subscriptions/11111111-2222-3333-4444-555555555555"
        "/resourceGroups/swyx/providers/Microsoft.Network/networkSecurityGroups/pbx1-nsg"
    )
    colored = render_text(mixed_result(), color=True, width=100)
    pieces = [line for line in colored.splitlines() if "\x1b]8;" in line and url in line]
    assert len(pieces) >= 2
    assert url not in render_text(mixed_result(), width=100)  # split, without links


def test_values_are_not_read_as_markup() -> None:
    result = mixed_result()
    # Rendered from data: a VM name is printed as it is, never read as rich markup.
    odd = result.findings[0].model_copy(update={"vm_name": "[bold]not markup[/bold] [x]"})
    text = render(result.model_copy(update={"findings": [odd]}), "text")
    assert "[bold]not markup[/bold]" in text


def test_clean_result() -> None:
    text = render(clean_result(), "text")
    assert text.strip().splitlines()[-1] == "No findings (1 VM, 0 firewalls)"
    assert "Checked, no findings (1 VM):" in text


# ----------------------------------------------------------------- the width


def test_width_comes_from_columns_then_terminal_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "132")
    assert report_width(terminal=False) == 132  # COLUMNS counts when piped too
    monkeypatch.setenv("COLUMNS", "20")
    assert report_width(terminal=False) == MIN_WIDTH
    monkeypatch.setenv("COLUMNS", "wide")
    assert report_width(terminal=False) == DEFAULT_WIDTH == 100
    monkeypatch.delenv("COLUMNS")
    assert report_width(terminal=False) == 100


def test_render_honours_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "72")
    lines = render(mixed_result(), "text").splitlines()
    assert max(map(len, lines)) <= 72
    assert max(map(len, lines)) > 60  # the width is used, not just respected


@settings(max_examples=60, deadline=None)
@given(width=st.integers(min_value=MIN_WIDTH, max_value=220))
def test_no_line_is_longer_than_the_width(width: int) -> None:
    for result in (mixed_result(), terraform_result(), clean_result()):
        for color in (False, True):
            text = render_text(result, color=color, width=width)
            # Colours (SGR) and terminal links (OSC 8) take no columns.
            plain = re.sub(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\", "", text)
            assert max(map(len, plain.splitlines())) <= width


def test_ids_and_ranges_are_never_cut_where_they_fit() -> None:
    """At 100 columns every rule id, rule label, file:line and port range that
    fits on a line is printed whole."""
    result = mixed_result()
    lines = render_text(result, width=100).splitlines()
    whole = set()
    for finding in result.findings:
        whole.add(finding.rule_id)
        for where in places(finding):
            whole.add(where.label)
            if where.file_lines:
                whole.add(where.file_lines)
        for ref in finding.rules:
            whole.add(rule_label(ref))
        for part in finding.region:
            whole.update(re.findall(r"\d+-\d+", part_text(part)))
    for token in whole:
        assert any(token in line for line in lines), token


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.text(alphabet="ab/-.:", min_size=1, max_size=40), min_size=1, max_size=30),
    first=st.integers(min_value=10, max_value=60),
    hang=st.integers(min_value=0, max_value=4),
)
def test_wrap_keeps_words_whole_when_they_fit(words: list[str], first: int, hang: int) -> None:
    rest = first - hang
    lines = wrap(" ".join(words), first, rest)
    assert len(lines[0]) <= first and all(len(line) <= rest for line in lines[1:])
    # Nothing is lost or reordered; only spaces at line breaks go.
    assert "".join(lines).replace(" ", "") == "".join(words)
    for word in words:
        if len(word) <= rest:
            assert any(word in line.split(" ") for line in lines), word


@pytest.mark.parametrize("make", [mixed_result, terraform_result, clean_result])
@pytest.mark.parametrize("width", [MIN_WIDTH, DEFAULT_WIDTH, 200])
def test_plain_text_is_what_the_console_prints_without_colour(make: object, width: int) -> None:
    """Without colour the report skips rich's per-line rendering; the bytes must
    be exactly what the console printed, for every line the report makes."""
    result = make()  # type: ignore[operator]
    out = report_lines(result, width)
    assert render_text(result, width=width) == through_console(out.lines, width, color=False)
    assert "\x1b[" in render_text(result, width=width, color=True)  # colour still goes through rich
