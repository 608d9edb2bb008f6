"""`policycheck collect azure` / `scan azure` as a user runs them: a subprocess that
authenticates through DefaultAzureCredential's documented environment variables
against the fake ARM/Entra server and trusts its CA through REQUESTS_CA_BUNDLE."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from azure_fake import ACCESS_TOKEN, CLIENT_SECRET, FakeArm, fake_arm  # noqa: F401
from click.testing import CliRunner

from policycheck.cli import cli
from policycheck.sources import snapshot

REPO = Path(__file__).resolve().parent.parent
BROKEN = "b0000000-0000-4000-8000-000000000001"
OTHER = "f0000000-0000-4000-8000-000000000001"
WRONG_SECRET = "WRONG-secret-value-0123456789"


@pytest.fixture
def arm(fake_arm: FakeArm) -> FakeArm:  # noqa: F811
    return fake_arm


def run(arm: FakeArm, *args: str, **env_overrides: str | None) -> subprocess.CompletedProcess[str]:
    """Run the CLI with only the fake's Azure settings (none of the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(arm.env())
    env.pop("CI", None)
    for name, value in env_overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    command = [sys.executable, "-m", "policycheck", *args]
    command += ["--endpoint", arm.url, "--no-instance-discovery"]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in (CLIENT_SECRET, WRONG_SECRET, ACCESS_TOKEN, ACCESS_TOKEN.split(".")[-1]):
            assert secret not in text


def test_collect_azure_writes_a_snapshot(arm: FakeArm, tmp_path: Path) -> None:
    out = tmp_path / "azure.json"
    proc = run(arm, "collect", "azure", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # not a terminal: no progress
    raw = out.read_text()
    assert_no_secrets(proc.stdout, proc.stderr, raw)
    inventory = snapshot.load(out)
    assert inventory.errors == []
    assert [f.name for f in inventory.firewalls] == ["pbx1-nsg", "subnet-nsg"]
    assert [r.name for r in inventory.firewalls[0].rules][:7] == [f"B{i}" for i in range(1, 8)]
    (vm,) = inventory.vms
    assert [a.level for a in vm.attachments] == ["subnet", "interface"]
    assert {r.method for r in arm.arm_requests()} == {"GET"}


def test_collect_azure_with_one_unreadable_subscription_exits_3(
    arm: FakeArm, tmp_path: Path
) -> None:
    arm.extra_subscriptions = [OTHER]
    arm.failures = {OTHER: 403}
    out = tmp_path / "azure.json"
    proc = run(arm, "collect", "azure", "-o", str(out))
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith(
        f"policycheck: incomplete: azure {OTHER}: HTTP 403 AuthorizationFailed"
    )
    inventory = snapshot.load(out)  # written anyway, with the readable part
    assert [e.scope for e in inventory.errors] == [OTHER]
    assert len(inventory.firewalls) == 2


def test_collect_azure_reads_only_the_given_subscription(arm: FakeArm, tmp_path: Path) -> None:
    out = tmp_path / "azure.json"
    proc = run(arm, "collect", "azure", "--subscription", BROKEN, "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert not any(r.path == "/subscriptions" for r in arm.arm_requests())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"AZURE_CLIENT_SECRET": WRONG_SECRET}, "AADSTS7000215"),
        ({"AZURE_CLIENT_SECRET": None}, "EnvironmentCredential"),
    ],
    ids=["wrong-secret", "missing-secret"],
)
def test_bad_or_missing_credential_exits_2_with_one_line(
    arm: FakeArm, tmp_path: Path, overrides: dict[str, str | None], expected: str
) -> None:
    out = tmp_path / "azure.json"
    proc = run(arm, "collect", "azure", "-o", str(out), **overrides)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("policycheck: error: azure: cannot get a token:")
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr
    assert_no_secrets(proc.stdout, proc.stderr)
    assert not out.exists()
    assert not arm.arm_requests()


def test_help_teaches_options_and_authentication() -> None:
    for command in ("collect", "scan"):
        result = CliRunner().invoke(cli, [command, "azure", "--help"])
        assert result.exit_code == 0
        text = " ".join(result.output.split())  # help is re-wrapped to the terminal
        for needle in (
            "--subscription",
            "--endpoint",
            "--max-workers",
            "--no-instance-discovery",
            "AZURE_CLIENT_SECRET",
            "AZURE_TOKEN_CREDENTIALS",
            "REQUESTS_CA_BUNDLE",
            "Reader",
            "exits 3" if command == "scan" else "Exit 3",
        ):
            assert needle in text, (command, needle)


def test_scan_azure_reports_the_broken_estate(arm: FakeArm) -> None:
    proc = run(arm, "scan", "azure", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert_no_secrets(proc.stdout, proc.stderr)
    findings = json.loads(proc.stdout)["findings"]
    by_rule = {(f["rule_id"], r["rule_name"]) for f in findings for r in f["rules"]}
    for expected in [("SWYX001", "B1"), ("SWYX002", "B2"), ("SWYX001", "B3"), ("SWYX001", "B4")]:
        assert expected in by_rule, sorted(by_rule)
    # B5-B7 open documented ports: no error-level finding names them.
    errors = {name for rule_id, name in by_rule if rule_id in ("SWYX001", "SWYX002", "SWYX003")}
    assert not errors & {"B5", "B6", "B7"}
    # Egress through the default AllowInternetOutBound is the documented note.
    assert ("SWYX004", "AllowInternetOutBound") in by_rule
    assert {f["vm_name"] for f in findings} == {"pbx1"}


def test_scan_azure_compliant_estate_is_clean(arm: FakeArm) -> None:
    arm.use_estate("compliant")
    proc = run(arm, "scan", "azure", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["findings"] == [] or {f["rule_id"] for f in report["findings"]} <= {"SWYX004"}
    assert report["summary"]["vms"] == 1
