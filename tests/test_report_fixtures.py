"""The reports of every fixture as a person reads them.

- With ``COLUMNS=100`` no line of the text report is longer than 100 characters,
  on any fixture (in-process through the CLI, and once through a real pipe).
- Golden files (``tests/golden/``) hold the text and Markdown reports of the
  reference estates, so a change of wording or layout is a reviewed diff. After
  an intended change, regenerate them and review the diff:

      POLICYCHECK_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report_fixtures.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_samples import mixed_result

from policycheck.catalog import default_catalog
from policycheck.cli import cli
from policycheck.engine.evaluate import evaluate
from policycheck.findings import ScanResult
from policycheck.profile import load_profile
from policycheck.report import render
from policycheck.report.text import render_text
from policycheck.sources import terraform

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
REGENERATE = os.environ.get("POLICYCHECK_REGENERATE_GOLDEN") == "1"
#: Example estates and the profile each is scanned with (fixtures/ESTATE.md).
PROFILES = {
    "example-aws-trunk": "examples/profiles/aws-all-in-one-sip-trunk.yaml",
    "example-azure-dmz": "examples/profiles/azure-dmz-remote-connector.yaml",
    "example-gcp-split": "examples/profiles/gcp-split-roles.yaml",
}


def _plans() -> list[str]:
    plans = sorted(str(p.relative_to(REPO)) for p in (REPO / "fixtures").rglob("*.json"))
    return [p for p in plans if "/bad/" not in p and _is_plan(REPO / p)]


def _is_plan(path: Path) -> bool:
    try:
        terraform.load_plan(path)
    except Exception:  # a fixture that is not a readable plan
        return False
    return True


PLANS = _plans()


def _profile_args(plan: str) -> list[str]:
    name = Path(plan).parent.name
    return ["--profile", PROFILES[name]] if name in PROFILES else []


def test_the_fixtures_are_many() -> None:
    """The check below is not vacuous: the reference, example and real-world plans."""
    assert len(PLANS) >= 15
    assert {Path(p).parent.name for p in PLANS} >= {"aws-broken", "azure-broken", "gcp-broken"}


@pytest.mark.parametrize("plan", PLANS)
def test_text_fits_100_columns_on_every_fixture(plan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Must show: with COLUMNS=100 no line of the text report exceeds 100 characters."""
    monkeypatch.chdir(REPO)
    args = ["scan", "terraform", plan, "--format", "text", *_profile_args(plan)]
    run = CliRunner().invoke(cli, args, env={"COLUMNS": "100"})
    assert run.exit_code in (0, 1), run.output
    lines = run.stdout.splitlines()
    assert lines, plan
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)


@pytest.mark.parametrize("plan", PLANS)
def test_text_with_a_baseline_fits_100_columns_on_every_fixture(
    plan: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same with --baseline: the baseline is the next fixture's report, so the
    report has new findings, absent (fixed) ones with their old messages, or both."""
    monkeypatch.chdir(REPO)
    other = PLANS[(PLANS.index(plan) + 1) % len(PLANS)]
    base = tmp_path / "base.json"
    made = CliRunner().invoke(cli, ["scan", "terraform", other, "-o", str(base)])
    assert made.exit_code in (0, 1), made.output
    args = ["scan", "terraform", plan, "--format", "text", "--baseline", str(base)]
    run = CliRunner().invoke(cli, [*args, *_profile_args(plan)], env={"COLUMNS": "100"})
    assert run.exit_code in (0, 1), run.output
    lines = run.stdout.splitlines()
    assert "Since the baseline" in lines[0]
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)


def test_columns_is_honoured_through_a_pipe() -> None:
    env = {**os.environ, "COLUMNS": "100"}
    plan = "fixtures/terraform/azure-broken/plan.json"
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", "scan", "terraform", plan, "--format", "text"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    widths = [len(line) for line in proc.stdout.splitlines()]
    assert max(widths) <= 100
    assert max(widths) >= 90  # the width is used: lines are filled, not kept short


@pytest.mark.parametrize("plan", PLANS)
def test_sarif_messages_word_peers_never_as_fragments(
    plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No SARIF message lists more than a handful of CIDRs: sets are worded ("the
    internet except ...") or cut ("and 12 more")."""
    monkeypatch.chdir(REPO)
    run = CliRunner().invoke(
        cli, ["scan", "terraform", plan, "--format", "sarif", *_profile_args(plan)]
    )
    assert run.exit_code in (0, 1), run.output
    for result in json.loads(run.stdout)["runs"][0]["results"]:
        text = result["message"]["text"]
        cidrs = re.findall(r"[0-9a-f:.]+/\d+", text)
        assert len(cidrs) <= 8, text


# ---------------------------------------------------------------- golden files


def _scan(plan: str) -> ScanResult:
    catalog = default_catalog()
    name = Path(plan).parent.name
    profile = load_profile(Path(PROFILES[name]) if name in PROFILES else None, catalog)
    return evaluate(terraform.load_plan(Path(plan)), profile, catalog)


GOLDEN_PLANS = [p for p in PLANS if p.startswith("fixtures/terraform/")]


def _check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        print(f"regenerated {path.relative_to(REPO)}")
    assert path.exists(), f"no golden file {name}; run with POLICYCHECK_REGENERATE_GOLDEN=1"
    assert actual == path.read_text(), (
        f"{name} differs from its golden file; if the change is intended, run "
        "POLICYCHECK_REGENERATE_GOLDEN=1 pytest tests/test_report_fixtures.py and review the diff"
    )


@pytest.mark.parametrize("plan", GOLDEN_PLANS)
def test_golden_reports_of_the_reference_estates(
    plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    result = _scan(plan)
    name = Path(plan).parent.name
    _check(f"{name}.txt", render_text(result, width=100))
    _check(f"{name}.md", render(result, "markdown"))


def test_golden_reports_of_a_live_scan() -> None:
    """Live ids (AWS ARNs, Azure resource ids, GCP self links) and console pages."""
    _check("live-sample.txt", render_text(mixed_result(), width=100))
    _check("live-sample.md", render(mixed_result(), "markdown"))
