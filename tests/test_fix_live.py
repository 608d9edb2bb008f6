"""`policycheck fix aws|azure|gcp` on the live reference estates (moto server, the
fake ARM server, the fake Compute server), run as a user runs it.

The generated Terraform names existing objects by id (a security group) or name
(an NSG and its resource group, a GCP network); it is read by the real plan reader
and applied to the collected inventory (tests/fix_support.py: ``applied``), and the
result must be exactly the documented flows, as for the plans.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_estate import build_estate
from azure_fake import FakeArm, fake_arm  # noqa: F401
from click.testing import CliRunner
from fix_support import applied, assert_exact
from gcp_fake import FakeCompute, gcp_fake, isolated_env  # noqa: F401
from moto.server import ThreadedMotoServer

from policycheck.cli import cli
from policycheck.model import Inventory
from policycheck.sources import snapshot

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ["broken", "compliant"]
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAFIXLIVETEST00001",
    "AWS_SECRET_ACCESS_KEY": "fix-live-secret",
    "AWS_DEFAULT_REGION": "eu-central-1",
}


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policycheck", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _fix_and_collect(
    cloud: str, read: list[str], env: dict[str, str], tmp_path: Path
) -> tuple[Inventory, dict[str, Any], str]:
    """`fix CLOUD` in both formats and `collect CLOUD`, with the same options."""
    outputs = []
    for fmt in ("json", "terraform"):
        proc = _run(["fix", cloud, *read, "--format", fmt, "--quiet"], env, tmp_path)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    snap = tmp_path / "inventory.json"
    proc = _run(["collect", cloud, *read, "-o", str(snap), "--quiet"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    return snapshot.load(snap), json.loads(outputs[0]), outputs[1]


def _refix(inventory: Inventory, tmp_path: Path) -> Callable[[], dict[str, Any]]:
    def refix() -> dict[str, Any]:
        path = tmp_path / "fixed.json"
        path.write_bytes(snapshot.dumps(inventory))
        result = CliRunner().invoke(cli, ["fix", "snapshot", str(path), "--format", "json"])
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    return refix


def _check(inventory: Inventory, fixed: dict[str, Any], terraform: str, tmp_path: Path) -> None:
    assert fixed["vms"] and fixed["limits"] == [] and fixed["skipped"] == []
    done = applied(inventory, fixed, terraform)
    assert_exact(done, fixed, None, _refix(done, tmp_path))


# ------------------------------------------------------------------------ AWS


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.parametrize("variant", VARIANTS)
def test_fix_aws_live(moto_server: str, variant: str, tmp_path: Path) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"))
    ec2 = boto3.client(
        "ec2",
        endpoint_url=moto_server,
        region_name="eu-central-1",
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    ids = build_estate(ec2, variant)  # type: ignore[arg-type]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENV, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    read = ["--endpoint-url", moto_server, "--region", "eu-central-1"]
    inventory, fixed, terraform = _fix_and_collect("aws", read, env, tmp_path)
    assert f'security_group_id = "{ids["sg_id"]}"' in terraform
    _check(inventory, fixed, terraform, tmp_path)


# ---------------------------------------------------------------------- Azure


@pytest.mark.parametrize("variant", VARIANTS)
def test_fix_azure_live(fake_arm: FakeArm, variant: str, tmp_path: Path) -> None:  # noqa: F811
    fake_arm.use_estate(variant)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(fake_arm.env())
    read = ["--endpoint", fake_arm.url, "--no-instance-discovery"]
    inventory, fixed, terraform = _fix_and_collect("azure", read, env, tmp_path)
    assert 'network_security_group_name = "pbx1-nsg"' in terraform
    assert 'resource_group_name         = "rg-swyx"' in terraform
    _check(inventory, fixed, terraform, tmp_path)


# ------------------------------------------------------------------------ GCP


@pytest.mark.parametrize("variant", VARIANTS)
def test_fix_gcp_live(gcp_fake: FakeCompute, variant: str, tmp_path: Path) -> None:  # noqa: F811
    gcp_fake.serve_estate(variant)
    project = f"swyx-{variant}"
    key = gcp_fake.service_account(tmp_path, project)
    read = ["--project", project, "--endpoint", gcp_fake.url]
    inventory, fixed, terraform = _fix_and_collect(
        "gcp", read, isolated_env(tmp_path, key.path), tmp_path
    )
    assert f'project       = "{project}"' in terraform
    _check(inventory, fixed, terraform, tmp_path)
