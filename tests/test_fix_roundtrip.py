"""Proof that `policycheck fix` is right (issue 13, item 2).

For every reference deployment in fixtures/terraform (both reference estates of
each cloud, the legacy 0.12 plan and the example estates with their profiles):
run `policycheck fix terraform PLAN` as a user does, take out of the plan every
rule that applies to a fixed VM, add the generated Terraform as ``terraform plan``
would (tests/tf_render.py parses the .tf text with python-hcl2 and writes the
resources into the plan JSON), read the result with the real plan reader and scan
it again (tests/fix_support.py). Then:

- no SWYX001, SWYX002 or SWYX003 (nor SWYX004 or SWYX007) on any VM;
- each VM's effective access (the engine's, per cloud) is exactly its documented
  flows and exactly its rule set: nothing more, nothing less;
- `fix` on the fixed plan asks for no change and gives the same rule sets;
- `policycheck scan terraform` on the fixed plan, run as a user runs it (a
  subprocess), reports nothing and exits 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fix_support import NOT_AFTER_FIX, TODAY, assert_exact, fix_plan, load, round_trip

from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.sources.terraform import load_plan

REPO = Path(__file__).resolve().parent.parent
PLANS = REPO / "fixtures" / "terraform"
PROFILES = REPO / "examples" / "profiles"
#: Every deployment of fixtures/terraform, with the profile it is scanned with.
DEPLOYMENTS = {
    "aws-broken": None,
    "aws-compliant": None,
    "aws-inline-ignore": None,
    "legacy-0.1": None,
    "example-aws-trunk": "aws-all-in-one-sip-trunk.yaml",
    "azure-broken": None,
    "azure-compliant": None,
    "example-azure-dmz": "azure-dmz-remote-connector.yaml",
    "gcp-broken": None,
    "gcp-compliant": None,
    "example-gcp-split": "gcp-split-roles.yaml",
}


def _profile(name: str) -> Path | None:
    profile = DEPLOYMENTS[name]
    return PROFILES / profile if profile else None


def test_every_deployment_is_covered() -> None:
    plans = sorted(p.parent.name for p in PLANS.glob("*/plan.json"))
    assert plans == sorted(DEPLOYMENTS), "a new fixture deployment needs a round trip here"


@pytest.mark.parametrize("name", list(DEPLOYMENTS))
def test_fix_round_trip(name: str, tmp_path: Path) -> None:
    plan = PLANS / name / "plan.json"
    before = evaluate(load_plan(plan), load(_profile(name)), default_catalog(), today=TODAY)
    if "broken" in name:  # there was something to fix, so this test can fail
        assert any(f.rule_id in ("SWYX001", "SWYX002") for f in before.findings)
    inventory, fixed, _ = round_trip(plan, _profile(name), tmp_path)
    assert fixed["vms"], "every deployment has a Swyx VM"
    assert fixed["limits"] == [] and fixed["skipped"] == []
    assert_exact(
        inventory, fixed, _profile(name), fix_plan(tmp_path / "fixed" / "plan.json", _profile(name))
    )
    scan = ["scan", "terraform", str(tmp_path / "fixed" / "plan.json"), "--format", "json"]
    if _profile(name) is not None:
        scan += ["--profile", str(_profile(name))]
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", *scan],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    findings = json.loads(proc.stdout)["findings"]
    assert [f["rule_id"] for f in findings if f["rule_id"] in NOT_AFTER_FIX] == []
    assert (proc.returncode, findings) == (0, []), proc.stderr
