"""One estate, every source, the same findings.

The reference estate (fixtures/ESTATE.md) exists as a Terraform plan per cloud,
as a live estate per cloud (moto, the fake ARM server, the fake Compute server)
and in the normalized model. A live scan run as a subprocess must report what
the Terraform plan gate reports, and both what the engine reports on the model.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_estate import build_estate
from azure_fake import FakeArm, fake_arm  # noqa: F401
from findings_compare import Signature, signatures
from gcp_fake import FakeCompute, gcp_fake, isolated_env  # noqa: F401
from model_estates import estate
from moto.server import ThreadedMotoServer

from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.findings import Finding
from policycheck.model import Inventory, PortRange
from policycheck.profile import Profile
from policycheck.sources.terraform import load_plan

REPO = Path(__file__).resolve().parent.parent
TF = REPO / "fixtures" / "terraform"
VARIANTS = ["broken", "compliant"]
TODAY = dt.date(2026, 11, 26)


def engine_signatures(inventory: Inventory) -> dict[Signature, int]:
    result = evaluate(inventory, Profile(), default_catalog(), today=TODAY)
    return dict(signatures(result.findings))


def terraform_signatures(provider: str, variant: str) -> dict[Signature, int]:
    return engine_signatures(load_plan(TF / f"{provider}-{variant}" / "plan.json"))


def cli_signatures(proc: subprocess.CompletedProcess[str], variant: str) -> dict[Signature, int]:
    assert proc.returncode == (1 if variant == "broken" else 0), proc.stderr
    data = json.loads(proc.stdout)
    return dict(signatures(Finding.model_validate(f) for f in data["findings"]))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_terraform_plan_gives_the_model_estate_findings(provider: str, variant: str) -> None:
    expected = engine_signatures(estate(provider, variant))  # type: ignore[arg-type]
    assert terraform_signatures(provider, variant) == expected
    if variant == "broken":
        assert {s[0] for s in expected} == {"SWYX001", "SWYX002"}
    else:
        assert expected == {}


# ------------------------------------------------------------------------ AWS


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIACROSSSOURCETEST1",
    "AWS_SECRET_ACCESS_KEY": "cross-source-secret",
    "AWS_DEFAULT_REGION": "eu-central-1",
}


def fresh_ec2(moto_server: str) -> Any:
    """An EC2 client of the moto server, emptied first (its state is per process)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"))
    return boto3.client(
        "ec2",
        endpoint_url=moto_server,
        region_name="eu-central-1",
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def aws_cli_env() -> dict[str, str]:
    """The environment of a CLI subprocess that sees only the test's credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENV, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


@pytest.mark.parametrize("variant", VARIANTS)
def test_live_aws_matches_terraform(moto_server: str, variant: str, tmp_path: Path) -> None:
    ec2 = fresh_ec2(moto_server)
    build_estate(ec2, variant)  # type: ignore[arg-type]
    env = aws_cli_env()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "policycheck",
            "scan",
            "aws",
            "--endpoint-url",
            moto_server,
            "--region",
            "eu-central-1",
            "--format",
            "json",
            "--quiet",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli_signatures(proc, variant) == terraform_signatures("aws", variant)


# ---------------------------------------------------------------------- Azure


@pytest.mark.parametrize("variant", VARIANTS)
def test_live_azure_matches_terraform(fake_arm: FakeArm, variant: str) -> None:  # noqa: F811
    fake_arm.use_estate(variant)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(fake_arm.env())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "policycheck",
            "scan",
            "azure",
            "--endpoint",
            fake_arm.url,
            "--no-instance-discovery",
            "--format",
            "json",
            "--quiet",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli_signatures(proc, variant) == terraform_signatures("azure", variant)


# ------------------------------------------------------------------------ GCP


@pytest.mark.parametrize("variant", VARIANTS)
def test_live_gcp_matches_terraform(gcp_fake: FakeCompute, variant: str, tmp_path: Path) -> None:  # noqa: F811
    gcp_fake.serve_estate(variant)
    project = f"swyx-{variant}"
    key = gcp_fake.service_account(tmp_path, project)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "policycheck",
            "scan",
            "gcp",
            "--project",
            project,
            "--endpoint",
            gcp_fake.url,
            "--format",
            "json",
            "--quiet",
        ],
        env=isolated_env(tmp_path, key.path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli_signatures(proc, variant) == gcp_live_signatures(variant)


def gcp_live_signatures(variant: str) -> dict[Signature, int]:
    """The Terraform estate plus what only the live GCP fixture has.

    fixtures/gcp/broken also holds x-deny-ssh-v4 (deny tcp 22 from 0.0.0.0/0 at
    priority 100), which takes tcp 22 from 10.0.0.0/8 out of B3's exact region.
    Its other extra rules (disabled, another target tag, an allow shadowed by the
    deny) change no SWYX001-SWYX003 finding.
    """
    inventory = load_plan(TF / f"gcp-{variant}" / "plan.json")
    if variant != "broken":
        return engine_signatures(inventory)
    [b1] = [fw for fw in inventory.firewalls if fw.name == "b1-allow-rdp"]
    deny = b1.rules[0].model_copy(
        update={
            "id": "x-deny-ssh-v4",
            "name": "x-deny-ssh-v4",
            "action": "deny",
            "priority": 100,
            "ports": (PortRange(lo=22, hi=22),),
        }
    )
    extra = b1.model_copy(update={"id": "x-deny-ssh-v4", "name": "x-deny-ssh-v4", "rules": (deny,)})
    return engine_signatures(
        inventory.model_copy(update={"firewalls": [*inventory.firewalls, extra]})
    )


def test_snapshot_round_trip_keeps_the_findings(moto_server: str, tmp_path: Path) -> None:
    """collect -> snapshot file -> scan snapshot gives the live scan's findings."""
    ec2 = fresh_ec2(moto_server)
    build_estate(ec2, "broken")
    env = aws_cli_env()
    snap = tmp_path / "inventory.json"
    collect = subprocess.run(
        [
            sys.executable,
            "-m",
            "policycheck",
            "collect",
            "aws",
            "--endpoint-url",
            moto_server,
            "--region",
            "eu-central-1",
            "-o",
            str(snap),
            "--quiet",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert collect.returncode == 0, collect.stderr
    assert json.loads(snap.read_text())["schema_version"] == 1
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", "scan", "snapshot", str(snap), "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli_signatures(proc, "broken") == terraform_signatures("aws", "broken")
