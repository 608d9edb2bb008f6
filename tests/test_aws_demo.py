"""`policycheck demo`: the emulated two-region estate, read through the real collector,
without touching the user's AWS configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from policycheck.demo import run_demo
from policycheck.model import Inventory, Peer


def _by_name(inv: Inventory) -> dict[str, object]:
    return {vm.name: vm for vm in inv.vms}


@pytest.fixture
def hostile_user_aws_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A user setup that breaks botocore if the demo ever reads it: a malformed config
    file, a profile that does not exist, an endpoint that refuses connections."""
    broken = tmp_path / "aws-config"
    broken.write_text("[profile this is not\nvalid ini = = =\n")
    settings = {
        "AWS_CONFIG_FILE": str(broken),
        "AWS_SHARED_CREDENTIALS_FILE": str(broken),
        "AWS_PROFILE": "no-such-profile",
        "AWS_ACCESS_KEY_ID": "AKIAUSERSREALKEY0001",
        "AWS_SECRET_ACCESS_KEY": "users-real-secret-do-not-use",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


def test_demo_estate_is_collected_through_the_real_collector(
    hostile_user_aws_setup: dict[str, str],
) -> None:
    before = dict(os.environ)
    inv = run_demo(quiet=True)
    assert dict(os.environ) == before, "the demo leaked environment changes"
    assert inv.errors == []
    assert sorted(inv.sources) == [
        "aws:123456789012/eu-central-1",
        "aws:123456789012/eu-west-1",
    ]
    vms = {vm.name: vm for vm in inv.vms}
    assert sorted(vms) == ["jump-1", "pbx-dub-1", "pbx-dub-2", "pbx-fra-1"]
    assert {n: vm.provenance.region for n, vm in vms.items()} == {
        "jump-1": "eu-central-1",
        "pbx-fra-1": "eu-central-1",
        "pbx-dub-1": "eu-west-1",
        "pbx-dub-2": "eu-west-1",
    }
    assert "swyx-roles" not in vms["jump-1"].tags
    assert vms["pbx-dub-1"].tags["swyx-roles"].startswith("swyxware-server")

    groups = {f.name: f for f in inv.firewalls if f.kind == "security_group"}
    fra_ports = {(r.protocol, r.ports[0].lo, str(r.peers[0])) for r in groups["pbx-fra-1"].rules}
    assert ("tcp", 3389, "0.0.0.0/0") in fra_ports  # RDP from anywhere
    assert ("tcp", 5060, "0.0.0.0/0") in fra_ports  # SIP from the internet
    jump_ref = Peer(kind="security_group", value=groups["admin-jump"].id)
    assert any(r.peers == (jump_ref,) for r in groups["pbx-fra-1"].rules)
    dub1_ports = {r.ports[0].lo for r in groups["pbx-dub-1"].rules}
    assert not {16203, 57203} & dub1_ports  # the tunnel is missing: SWYX003
    assert {16203, 57203} <= {r.ports[0].lo for r in groups["pbx-dub-2"].rules}
    assert [g.name for g in inv.address_groups] == ["office-ranges"]


def test_demo_command_reports_the_planted_problems(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "missing"), HOME=str(tmp_path))
    run = subprocess.run(
        [sys.executable, "-m", "policycheck", "demo", "--format", "json", "--quiet"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    findings = json.loads(run.stdout)["findings"]
    by_vm: dict[str, set[str]] = {}
    for finding in findings:
        by_vm.setdefault(finding["vm_name"], set()).add(finding["rule_id"])
    print(by_vm)
    assert {"SWYX001", "SWYX002"} <= by_vm["pbx-fra-1"]
    assert "SWYX003" in by_vm["pbx-dub-1"]
    assert not {"SWYX001", "SWYX002", "SWYX003"} & by_vm.get("pbx-dub-2", set())
