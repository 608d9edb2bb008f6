"""Start-up: a scan imports what it uses, nothing more (issue 9).

Every scan pays its imports before it reads a byte; the cloud SDKs, the Rego
engine, rich and the HCL parser cost tens to hundreds of milliseconds each, so
a process that does not use them must not load them. The CLI runs here as a
child process, as a user runs it; the test reads its ``sys.modules`` at exit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "fixtures" / "terraform" / "aws-broken" / "plan.json"

#: Top-level packages no plan or snapshot scan writing SARIF to a file needs.
UNUSED = ("boto3", "botocore", "azure", "google", "regopy", "opa_client", "rich", "moto")

#: Runs the CLI's entry point, then prints the top-level packages it imported.
PROBE = """
import json, sys
from policycheck.__main__ import main
sys.argv = ["policycheck", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


def _imported(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr
    modules: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return set(modules)


def test_a_plan_scan_without_tf_files_imports_no_sdk_rego_rich_or_hcl(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    shutil.copy(PLAN, plan)
    out = tmp_path / "out.sarif"
    imported = _imported("scan", "terraform", str(plan), "-o", str(out))
    assert out.exists()
    assert "policycheck" in imported and "pydantic" in imported  # the probe sees imports
    assert not imported & {*UNUSED, "hcl2", "lark"}
    assert "msgspec" not in imported  # the snapshot reader's


def test_a_plan_scan_with_its_tf_files_parses_them(tmp_path: Path) -> None:
    out = tmp_path / "out.sarif"
    imported = _imported("scan", "terraform", str(PLAN), "-o", str(out))
    assert {"hcl2", "lark"} <= imported  # the .tf files beside the plan give line numbers
    assert not imported & set(UNUSED)


@pytest.mark.parametrize("fmt", ["sarif", "json"])
def test_a_snapshot_scan_imports_no_sdk_rego_or_rich(tmp_path: Path, fmt: str) -> None:
    from policycheck.sources import snapshot
    from policycheck.sources.terraform import load_plan

    snap = tmp_path / "inv.json"
    snap.write_bytes(snapshot.dumps(load_plan(PLAN)))
    out = tmp_path / f"out.{fmt}"
    imported = _imported("scan", "snapshot", str(snap), "-o", str(out))
    assert out.exists() and "msgspec" in imported
    assert not imported & {*UNUSED, "hcl2", "lark"}
