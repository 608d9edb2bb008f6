"""``--baseline``: new since a previous report, unchanged, and absent (fixed).

The estate is the broken AWS reference plan (fixtures/ESTATE.md), scanned through
the CLI as a subprocess, then changed the way a pull request changes it: one
security group rule added, removed or widened in the plan JSON (planned values
and resource changes alike, as Terraform writes both).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cli_run import run_policycheck
from hypothesis import given, settings
from hypothesis import strategies as st

from policycheck import api
from policycheck.baseline import compare, load_baseline
from policycheck.errors import InputError
from policycheck.findings import ScanResult
from policycheck.report import render
from tests.report_samples import mixed_result, terraform_result

ROOT = Path(__file__).parent.parent
ESTATE = ROOT / "fixtures/terraform/aws-broken"
PLAN = ESTATE / "plan.json"
SG = "aws_security_group.pbx"
SCHEMA_PATH = ROOT / "policycheck/report/schemas/sarif-schema-2.1.0.json"


policycheck = run_policycheck


def scan(plan: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return policycheck("scan", "terraform", str(plan), "--tf-dir", str(ESTATE), *args)


def changed_plan(tmp_path: Path, change: Any) -> Path:
    """The reference plan with ``change(ingress list)`` applied to the group's
    inline ingress rules, in planned_values and resource_changes alike."""
    plan = json.loads(PLAN.read_text())
    for res in plan["planned_values"]["root_module"]["resources"]:
        if res["address"] == SG:
            change(res["values"]["ingress"])
    for rc in plan["resource_changes"]:
        if rc["address"] == SG:
            change(rc["change"]["after"]["ingress"])
    out = tmp_path / "plan.json"
    out.write_text(json.dumps(plan))
    return out


def ingress(port: int, cidr: str = "0.0.0.0/0", description: str = "added") -> dict[str, Any]:
    return {
        "cidr_blocks": [cidr],
        "description": description,
        "from_port": port,
        "ipv6_cidr_blocks": [],
        "prefix_list_ids": [],
        "protocol": "tcp",
        "security_groups": [],
        "self": False,
        "to_port": port,
    }


@pytest.fixture(scope="module")
def baselines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Today's reports of the unchanged estate: the JSON report and the SARIF log,
    written by one scan."""
    where = tmp_path_factory.mktemp("baseline")
    proc = scan(PLAN, "-o", str(where / "base.json"), "-o", str(where / "base.sarif"))
    assert proc.returncode == 1, proc.stderr  # the broken estate has errors
    return {"json": where / "base.json", "sarif": where / "base.sarif"}


def report_against(plan: Path, baseline: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = scan(plan, "--baseline", str(baseline), "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, data


def states(data: dict[str, Any]) -> list[str]:
    return [f["baseline_state"] for f in data["findings"]]


@pytest.mark.parametrize("kind", ["json", "sarif"])
def test_unchanged_estate_has_no_new_findings_and_exits_0(
    baselines: dict[str, Path], kind: str
) -> None:
    code, data = report_against(PLAN, baselines[kind])
    assert code == 0
    assert data["findings"] and set(states(data)) == {"unchanged"}
    total = len(data["findings"])
    assert data["summary"]["baseline"] == {
        "path": str(baselines[kind]),
        "kind": kind,
        "new": 0,
        "unchanged": total,
        "absent": 0,
    }
    assert data["absent"] == []


@pytest.mark.parametrize("kind", ["json", "sarif"])
def test_one_broken_rule_added_is_exactly_one_new_finding_and_exits_1(
    baselines: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    # Telnet open to the internet, beside the RDP rule that is already there.
    plan = changed_plan(tmp_path, lambda rules: rules.append(ingress(23)))
    code, data = report_against(plan, baselines[kind])
    assert code == 1
    new = [f for f in data["findings"] if f["baseline_state"] == "new"]
    assert len(new) == 1
    assert new[0]["rule_id"] == "SWYX001"
    assert new[0]["region"][0]["ports"] == [{"lo": 23, "hi": 23}]
    assert data["summary"]["baseline"]["new"] == 1
    assert data["summary"]["baseline"]["absent"] == 0


@pytest.mark.parametrize("kind", ["json", "sarif"])
def test_one_broken_rule_removed_is_exactly_one_absent_finding(
    baselines: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    plan = changed_plan(tmp_path, lambda rules: rules.pop(0))  # B1: RDP from the internet
    code, data = report_against(plan, baselines[kind])
    assert code == 0
    assert set(states(data)) == {"unchanged"}
    assert len(data["absent"]) == 1
    gone = data["absent"][0]
    assert (gone["rule_id"], gone["baseline_state"]) == ("SWYX001", "absent")
    assert "3389" in gone["message"]
    assert gone["file"] == "fixtures/terraform/aws-broken/main.tf"
    assert data["summary"]["baseline"]["absent"] == 1


def test_a_widened_rule_is_new_not_absorbed_by_the_old_one(
    baselines: dict[str, Path], tmp_path: Path
) -> None:
    """Matching is by the exact region: RDP widened to 3389-3390 is a new finding
    (and the old one is gone), never 'unchanged' because the old port is in it."""

    def widen(rules: list[dict[str, Any]]) -> None:
        rules[0]["to_port"] = 3390

    code, data = report_against(changed_plan(tmp_path, widen), baselines["json"])
    assert code == 1
    new = [f for f in data["findings"] if f["baseline_state"] == "new"]
    assert [(f["rule_id"], f["region"][0]["ports"]) for f in new] == [
        ("SWYX001", [{"lo": 3389, "hi": 3390}])
    ]
    assert [g["rule_id"] for g in data["absent"]] == ["SWYX001"]


def test_fail_on_counts_new_findings_only(baselines: dict[str, Path], tmp_path: Path) -> None:
    # A new SIP rule from the internet is SWYX002 (error); without a baseline the
    # old errors fail the run, with it only the new one does.
    plan = changed_plan(tmp_path, lambda rules: rules.append(ingress(5061)))
    assert scan(plan, "--format", "json").returncode == 1
    code, data = report_against(plan, baselines["json"], "--fail-on", "error")
    assert code == 1
    new = [f for f in data["findings"] if f["baseline_state"] == "new"]
    assert [f["level"] for f in new] == ["error"]
    # The same new finding under --fail-on never, and the unchanged estate under
    # --fail-on note (it has old notes), pass.
    assert report_against(plan, baselines["json"], "--fail-on", "never")[0] == 0
    assert report_against(PLAN, baselines["json"], "--fail-on", "note")[0] == 0


def test_sarif_validates_with_baseline_state(baselines: dict[str, Path], tmp_path: Path) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft4Validator(schema)

    def change(rules: list[dict[str, Any]]) -> None:
        rules.pop(0)
        rules.append(ingress(23))

    proc = scan(
        changed_plan(tmp_path, change), "--baseline", str(baselines["sarif"]), "--format", "sarif"
    )
    assert proc.returncode == 1, proc.stderr
    log = json.loads(proc.stdout)
    validator.validate(log)
    results = log["runs"][0]["results"]
    by_state: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_state.setdefault(r["baselineState"], []).append(r)  # every result has one
    assert {k: len(v) for k, v in by_state.items()} == {
        "new": 1,
        "unchanged": len(results) - 2,
        "absent": 1,
    }
    absent = by_state["absent"][0]
    assert (absent["kind"], absent["level"], absent["ruleId"]) == ("pass", "none", "SWYX001")
    assert absent["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "fixtures/terraform/aws-broken/main.tf"
    )
    base = json.loads(baselines["sarif"].read_text())["runs"][0]["results"]
    gone = [r for r in base if "3389" in r["message"]["text"] and r["ruleId"] == "SWYX001"]
    assert absent["partialFingerprints"] == gone[0]["partialFingerprints"]
    assert log["runs"][0]["properties"]["baseline"]["new"] == 1


def test_text_and_markdown_show_new_first_then_fixed(
    baselines: dict[str, Path], tmp_path: Path
) -> None:
    def change(rules: list[dict[str, Any]]) -> None:
        rules.pop(0)
        rules.append(ingress(23))

    plan = changed_plan(tmp_path, change)
    env = {**os.environ, "COLUMNS": "100"}
    text = policycheck(
        "scan",
        "terraform",
        str(plan),
        "--tf-dir",
        str(ESTATE),
        "--baseline",
        str(baselines["json"]),
        "--format",
        "text",
        env=env,
    ).stdout
    assert max(len(line) for line in text.splitlines()) <= 100
    new_at = text.index("New since the baseline (1):")
    fixed_at = text.index("Fixed or gone since the baseline (1):")
    unchanged_at = text.index("Unchanged since the baseline")
    assert text.index("Since the baseline") < new_at < fixed_at < unchanged_at
    assert "tcp 23 from" in text[new_at:fixed_at]
    assert "3389" in text[fixed_at:unchanged_at]
    assert "tcp 23 from" not in text[unchanged_at:]

    md = scan(plan, "--baseline", str(baselines["sarif"]), "--format", "markdown").stdout
    new_at = md.index("### New since the baseline (1)")
    fixed_at = md.index("### Fixed or gone since the baseline (1)")
    assert new_at < fixed_at < md.index("### Unchanged errors and warnings")
    assert "tcp 23" in md[new_at:fixed_at] and "3389" in md[fixed_at:]


def test_a_rolling_baseline_may_be_the_file_the_run_replaces(
    baselines: dict[str, Path], tmp_path: Path
) -> None:
    rolling = tmp_path / "policycheck.sarif"
    rolling.write_bytes(baselines["sarif"].read_bytes())
    plan = changed_plan(tmp_path, lambda rules: rules.append(ingress(23)))
    first = scan(plan, "--baseline", str(rolling), "-o", str(rolling))
    assert first.returncode == 1, first.stderr
    # Tonight's log is tomorrow's baseline: the same estate again has nothing new.
    second = scan(plan, "--baseline", str(rolling), "-o", str(rolling))
    assert second.returncode == 0, second.stderr
    states = {r["baselineState"] for r in json.loads(rolling.read_text())["runs"][0]["results"]}
    assert states == {"unchanged"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "not JSON"),
        ("[]", "not a policycheck report"),
        ('{"schema": "policycheck/report/v1", "findings": []}', "is not 'policycheck/report/v2'"),
        (
            '{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "tfsec"}}}]}',
            "a SARIF log of 'tfsec', not of policycheck",
        ),
        (
            '{"schema": "policycheck/report/v2", "findings": [{"rule_id": "SWYX001"}]}',
            "findings.0.fingerprint: required field missing",
        ),
        (
            json.dumps(
                {
                    "runs": [
                        {
                            "tool": {"driver": {"name": "policycheck"}},
                            "results": [{"ruleId": "SWYX001", "message": {"text": "x"}}],
                        }
                    ]
                }
            ),
            "partialFingerprints: required field missing",
        ),
    ],
)
def test_a_baseline_that_cannot_be_used_is_exit_2_before_the_scan(
    tmp_path: Path, content: str, expected: str
) -> None:
    bad = tmp_path / "baseline.json"
    bad.write_text(content)
    out = tmp_path / "r.sarif"
    # The plan does not exist: the baseline's error shows it was read first.
    proc = policycheck(
        "scan", "terraform", str(tmp_path / "missing.json"), "--baseline", str(bad), "-o", str(out)
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "--baseline" in lines[0], proc.stderr
    assert not out.exists()


# ------------------------------------------------------------------- the API


def _baseline_of(result: ScanResult, tmp_path: Path, fmt: str) -> Path:
    path = tmp_path / f"base.{fmt}"
    path.write_text(render(result, fmt))  # type: ignore[arg-type]
    return path


@settings(max_examples=40, deadline=None)
@given(
    before=st.sets(st.integers(min_value=0, max_value=40)),
    after=st.sets(st.integers(min_value=0, max_value=40)),
    fmt=st.sampled_from(["json", "sarif"]),
)
def test_states_are_set_differences_of_fingerprints(
    tmp_path_factory: pytest.TempPathFactory, before: set[int], after: set[int], fmt: str
) -> None:
    """Against the oracle of sets: new = now - then, absent = then - now, by fingerprint."""
    full = mixed_result()
    pool = full.findings

    def pick(ids: set[int]) -> ScanResult:
        return full.model_copy(update={"findings": [pool[i] for i in sorted(ids) if i < len(pool)]})

    then, now = pick(before), pick(after)
    baseline = load_baseline(_baseline_of(then, tmp_path_factory.mktemp("b"), fmt))
    compared = compare(now, baseline)
    fp_then = {f.fingerprint() for f in then.findings}
    fp_now = {f.fingerprint() for f in now.findings}
    assert {f.fingerprint() for f in compared.findings if f.baseline_state == "new"} == (
        fp_now - fp_then
    )
    assert {f.fingerprint() for f in compared.findings if f.baseline_state == "unchanged"} == (
        fp_now & fp_then
    )
    assert compared.baseline is not None
    assert {a.fingerprint for a in compared.baseline.absent} == fp_then - fp_now
    gating = {f.fingerprint() for f in compared.gating()}
    assert gating == {f.fingerprint() for f in now.active()} - fp_then


def test_api_compares_like_the_cli(tmp_path: Path) -> None:
    result = terraform_result()
    path = _baseline_of(result, tmp_path, "sarif")
    again = api.compare_baseline(result, api.load_baseline(path))
    assert {f.baseline_state for f in again.findings} == {"unchanged"}
    assert api.exit_code(result) == 1 and api.exit_code(again) == 0


def test_api_load_baseline_raises_input_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{}")
    with pytest.raises(InputError, match="not a policycheck report"):
        api.load_baseline(path)
