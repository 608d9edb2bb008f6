"""`policycheck explain aws|azure|gcp`: the live sources answer as the plan does.

Each reference estate runs live (moto server, the fake ARM server, the fake
Compute server) and the CLI, as a subprocess, must give the verdict and name the
decisive rules the Terraform plan of the same estate gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aws_estate import build_estate
from azure_fake import FakeArm, fake_arm  # noqa: F401
from gcp_fake import FakeCompute, gcp_fake, isolated_env  # noqa: F401
from test_cross_source import aws_cli_env, fresh_ec2, moto_server  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
TF = REPO / "fixtures" / "terraform"
RDP = ["--vm", "pbx1", "--port", "3389", "--from", "203.0.113.7", "--format", "json"]


def explain(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", "explain", *args, "--quiet"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def names(answer: dict[str, Any]) -> list[tuple[str, int | None]]:
    """The decisive rules by firewall and priority (the fixtures name rules
    differently live, e.g. Azure `B1` for the plan's `allow-rdp`)."""
    return [(r["firewall_name"], r["priority"]) for r in answer["decisive_rules"]]


def test_live_aws_names_the_rules_the_plan_names(moto_server: str) -> None:  # noqa: F811
    ec2 = fresh_ec2(moto_server)
    build_estate(ec2, "broken")
    env = aws_cli_env()
    live = explain("aws", "--endpoint-url", moto_server, "--region", "eu-central-1", *RDP, env=env)
    plan = explain("terraform", str(TF / "aws-broken" / "plan.json"), *RDP)
    assert live["allowed"] is plan["allowed"] is True
    assert [f for f, _ in names(plan)] == ["swyx-pbx"]
    # Live, the VPC's default network ACL is a step too (its rule 100 allows all);
    # the plan declares no ACL.
    [acl] = [f for f, _ in names(live) if f != "swyx-pbx"]
    assert acl.startswith("acl-")
    assert [f for f, _ in names(live)].count("swyx-pbx") == 1
    # Live AWS rules are named by their sgr- ids: both name the rule of tcp 3389.
    assert [r["ports"] for s in live["steps"] for r in s["rules"] if r["outcome"] == "allows"] == [
        r["ports"] for s in plan["steps"] for r in s["rules"] if r["outcome"] == "allows"
    ]


def test_live_azure_names_the_rules_the_plan_names(fake_arm: FakeArm) -> None:  # noqa: F811
    fake_arm.use_estate("broken")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(fake_arm.env())
    live = explain("azure", "--endpoint", fake_arm.url, "--no-instance-discovery", *RDP, env=env)
    plan = explain("terraform", str(TF / "azure-broken" / "plan.json"), *RDP)
    assert live["allowed"] is plan["allowed"] is True
    assert names(live) == names(plan) == [("pbx1-nsg", 1000), ("subnet-nsg", 100)]
    assert [s["label"] for s in live["steps"]] == [s["label"] for s in plan["steps"]]


def test_live_gcp_names_the_deny_at_higher_priority(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
) -> None:
    gcp_fake.serve_estate("broken")
    key = gcp_fake.service_account(tmp_path, "swyx-broken")
    env = isolated_env(tmp_path, key.path)
    where = ["gcp", "--project", "swyx-broken", "--endpoint", gcp_fake.url]
    ssh = ["--vm", "pbx1", "--port", "22", "--from", "10.1.2.3", "--format", "json"]
    denied = explain(*where, *ssh, env=env)
    assert denied["allowed"] is False
    assert [r["rule_name"] for r in denied["decisive_rules"]] == ["x-deny-ssh-v4"]
    live = explain(*where, *RDP, env=env)
    plan = explain("terraform", str(TF / "gcp-broken" / "plan.json"), *RDP)
    assert live["allowed"] is plan["allowed"] is True
    assert names(live) == names(plan) and len(names(plan)) == 1
