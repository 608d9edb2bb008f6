"""`policycheck drift`: the Terraform plan of the reference estate against the cloud.

Each cloud's compliant estate exists as a plan (fixtures/terraform/<cloud>-compliant)
and as a live estate (moto server, the fake ARM server, the fake Compute server):
with nothing changed, drift reports nothing; with one rule added by hand in the
cloud (through the cloud's own API shape), it reports exactly that rule, as
SWYX008 with the Terraform address and the cloud id, through a snapshot and
through the live source, in every output format.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from aws_estate import build_estate
from azure_fake import FakeArm, fake_arm  # noqa: F401
from cli_run import run_policycheck
from gcp_fake import FakeCompute, gcp_fake, isolated_env  # noqa: F401
from test_cross_source import aws_cli_env, fresh_ec2, moto_server  # noqa: F401

from policycheck.engine.drift import drift
from policycheck.model import Peer
from policycheck.sources.terraform import load_plan

REPO = Path(__file__).resolve().parent.parent
TF = REPO / "fixtures" / "terraform"
HAND = "198.51.100.0/24"


policycheck = run_policycheck


def drift_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    proc = policycheck("drift", *args, "--format", "json", env=env)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["findings"]


def assert_exactly_the_hand_rule(findings: list[dict[str, Any]], address: str, cloud: str) -> None:
    [finding] = findings
    assert finding["rule_id"] == "SWYX008"
    assert finding["drift"]["kind"] == "added"
    assert finding["drift"]["terraform_address"] == address
    assert cloud in finding["drift"]["cloud_id"]
    assert finding["direction"] == "inbound"
    assert [(p["protocol"], p["ports"], p["peers"]) for p in finding["region"]] == [
        ("tcp", [{"lo": 3389, "hi": 3389}], [HAND])
    ]


# ------------------------------------------------------------------------ AWS


def test_aws_drift_reports_exactly_the_rule_added_by_hand(
    moto_server: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    ec2 = fresh_ec2(moto_server)
    ids = build_estate(ec2, "compliant")
    plan = str(TF / "aws-compliant" / "plan.json")
    live = ["aws", "--endpoint-url", moto_server, "--region", "eu-central-1"]
    inventory = tmp_path / "inventory.json"

    def collect() -> None:
        proc = policycheck("collect", *live, "-o", str(inventory), "--quiet", env=aws_cli_env())
        assert proc.returncode == 0, proc.stderr

    collect()
    assert drift_json("--plan", plan, "--inventory", str(inventory)) == (0, [])
    assert drift_json("--plan", plan, *live, env=aws_cli_env()) == (0, [])

    ec2.authorize_security_group_ingress(
        GroupId=ids["sg_id"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": HAND}]}
        ],
    )
    collect()
    code, findings = drift_json("--plan", plan, "--inventory", str(inventory))
    assert code == 1
    assert_exactly_the_hand_rule(findings, "aws_security_group.pbx", ":security-group-rule/sgr-")
    code, live_findings = drift_json("--plan", plan, *live, env=aws_cli_env())
    assert (code, live_findings) == (1, findings)


# ---------------------------------------------------------------------- Azure

AZURE_SUB = "c0000000-0000-4000-8000-000000000001"


def azure_estate(tmp_path: Path, edit: Any) -> Path:
    """A copy of fixtures/azure/compliant with pbx1-nsg's rules edited by ``edit``."""
    root = tmp_path / "azure"
    shutil.copytree(REPO / "fixtures" / "azure" / "compliant", root)
    path = root / AZURE_SUB / "networkSecurityGroups.json"
    data = json.loads(path.read_text())
    [nsg] = [n for n in data["value"] if n["name"] == "pbx1-nsg"]
    edit(nsg["properties"]["securityRules"], nsg["id"])
    path.write_text(json.dumps(data))
    return root


def add_rdp(rules: list[dict[str, Any]], nsg_id: str) -> None:
    rules.append(
        {
            "name": "rdp-by-hand",
            "id": f"{nsg_id}/securityRules/rdp-by-hand",
            "properties": {
                "protocol": "Tcp",
                "sourcePortRange": "*",
                "destinationPortRange": "3389",
                "sourceAddressPrefix": HAND,
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "priority": 900,
                "direction": "Inbound",
            },
            "type": "Microsoft.Network/networkSecurityGroups/securityRules",
        }
    )


def narrow_c2(rules: list[dict[str, Any]], _nsg_id: str) -> None:
    [c2] = [r for r in rules if r["name"] == "C2"]
    c2["properties"]["sourceAddressPrefix"] = HAND


def test_azure_drift_reports_exactly_the_rule_added_by_hand(
    fake_arm: FakeArm,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(fake_arm.env())
    plan = str(TF / "azure-compliant" / "plan.json")
    live = ["azure", "--endpoint", fake_arm.url, "--no-instance-discovery"]
    fake_arm.use_estate("compliant")
    assert drift_json("--plan", plan, *live, env=env) == (0, [])

    fake_arm.use_estate(azure_estate(tmp_path / "added", add_rdp))
    code, findings = drift_json("--plan", plan, *live, env=env)
    assert code == 1
    assert_exactly_the_hand_rule(
        findings,
        "azurerm_network_security_group.pbx",
        "/networkSecurityGroups/pbx1-nsg/securityRules/rdp-by-hand",
    )
    # Through a snapshot, the same.
    inventory = tmp_path / "inventory.json"
    proc = policycheck("collect", *live, "-o", str(inventory), "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    assert drift_json("--plan", plan, "--inventory", str(inventory)) == (1, findings)


def test_azure_a_rule_changed_in_the_console_is_one_changed_rule(
    fake_arm: FakeArm,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(fake_arm.env())
    fake_arm.use_estate(azure_estate(tmp_path, narrow_c2))
    code, findings = drift_json(
        "--plan",
        str(TF / "azure-compliant" / "plan.json"),
        "azure",
        "--endpoint",
        fake_arm.url,
        "--no-instance-discovery",
        env=env,
    )
    assert code == 1
    [finding] = findings
    assert finding["drift"]["kind"] == "changed"
    assert finding["drift"]["changes"] == [{"field": "peers", "plan": "0.0.0.0/0", "cloud": HAND}]
    assert finding["drift"]["cloud_id"].endswith("/securityRules/C2")
    assert finding["drift"]["terraform_address"].startswith("azurerm_network_security_")
    assert "peers 0.0.0.0/0 in the plan, 198.51.100.0/24 in the cloud" in finding["message"]


# ------------------------------------------------------------------------ GCP


def test_gcp_drift_reports_exactly_the_rule_added_by_hand(
    gcp_fake: FakeCompute,  # noqa: F811
    tmp_path: Path,
) -> None:
    project = "swyx-compliant"
    key = gcp_fake.service_account(tmp_path, project)
    env = isolated_env(tmp_path, key.path)
    plan = str(TF / "gcp-compliant" / "plan.json")
    live = ["gcp", "--project", project, "--endpoint", gcp_fake.url]
    gcp_fake.serve_estate("compliant")
    assert drift_json("--plan", plan, *live, env=env) == (0, [])

    root = tmp_path / "gcp"
    shutil.copytree(REPO / "fixtures" / "gcp" / "compliant", root)
    path = root / "projects" / project / "global" / "firewalls.json"
    data = json.loads(path.read_text())
    base = data["items"][0]
    self_link = base["selfLink"].rsplit("/", 1)[0] + "/rdp-by-hand"
    data["items"].append(
        {
            **base,
            "id": "4711000000000000999",
            "name": "rdp-by-hand",
            "description": "added in the console",
            "priority": 900,
            "sourceRanges": [HAND],
            "allowed": [{"IPProtocol": "tcp", "ports": ["3389"]}],
            "selfLink": self_link,
        }
    )
    path.write_text(json.dumps(data))
    gcp_fake.roots.clear()
    gcp_fake.serve_estate(str(root))
    code, findings = drift_json("--plan", plan, *live, env=env)
    assert code == 1
    # A GCP firewall rule is its own object: the plan declares no object for it.
    [finding] = findings
    assert finding["drift"]["terraform_address"] is None
    assert finding["drift"]["cloud_id"] == self_link
    assert [(p["protocol"], p["peers"]) for p in finding["region"]] == [("tcp", [HAND])]


# ----------------------------------------------------- formats and the engine


def test_every_output_format_names_the_address_and_the_cloud_id(tmp_path: Path) -> None:
    """The hand-added rule of the AWS case, from a snapshot, in every format."""
    from policycheck.sources import snapshot

    cloud = load_plan(TF / "aws-compliant" / "plan.json")
    [sg] = cloud.firewalls
    extra = sg.rules[0].model_copy(
        update={
            "id": "sgr-0123456789abcdef0",
            "peers": (Peer.cidr(HAND),),
            "provenance": sg.provenance.model_copy(
                update={"address": None, "cloud_id": "arn:aws:ec2:::security-group-rule/sgr-0123"}
            ),
        }
    )
    cloud.firewalls = [sg.model_copy(update={"rules": (*sg.rules, extra)})]
    inventory = tmp_path / "inventory.json"
    inventory.write_bytes(snapshot.dumps(cloud))
    plan = str(TF / "aws-compliant" / "plan.json")
    for fmt in ("text", "json", "sarif", "markdown"):
        proc = policycheck("drift", "--plan", plan, "--inventory", str(inventory), "--format", fmt)
        assert proc.returncode == 1, proc.stderr
        # Markdown escapes underscores; text wraps long ids in its table.
        out = proc.stdout.replace("\\_", "_").replace("\n", "").replace(" ", "")
        for needle in ("SWYX008", "aws_security_group.pbx", "security-group-rule/sgr-0123"):
            assert needle in out, (fmt, needle)
        if fmt == "text":
            # The block is headed by the firewall object it is about, named as one.
            assert proc.stdout.lstrip().startswith("firewall swyx-pbx (aws)"), proc.stdout
    sarif = json.loads(
        policycheck(
            "drift", "--plan", plan, "--inventory", str(inventory), "--format", "sarif"
        ).stdout
    )
    [result] = sarif["runs"][0]["results"]
    assert result["ruleId"] == "SWYX008"
    assert result["properties"]["drift"]["kind"] == "added"
    assert "SWYX008" in [r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]]


@pytest.mark.parametrize("name", ["aws-broken", "azure-broken", "gcp-broken", "example-gcp-split"])
def test_a_plan_has_no_drift_against_itself_and_a_removed_rule_is_missing(name: str) -> None:
    plan = load_plan(TF / name / "plan.json")
    assert drift(plan, plan).findings == []
    # The cloud lacks the first rule of the first object that has one.
    index = next(i for i, fw in enumerate(plan.firewalls) if fw.rules)
    fw = plan.firewalls[index]
    gone = fw.rules[0]
    cloud = plan.model_copy(deep=True)
    cloud.firewalls[index] = fw.model_copy(update={"rules": fw.rules[1:]})
    [finding] = drift(plan, cloud).findings
    assert finding.drift is not None and finding.drift.kind == "missing"
    assert finding.drift.terraform_address == gone.provenance.address
    assert finding.rules[0].rule_id == gone.id


def test_same_named_objects_that_cannot_be_told_apart_are_not_guessed() -> None:
    plan = load_plan(TF / "aws-compliant" / "plan.json")
    [sg] = plan.firewalls
    twins = [sg.model_copy(update={"id": f"sg-{n}"}) for n in ("1", "2")]
    cloud = plan.model_copy(update={"firewalls": twins, "vms": []})
    result = drift(plan, cloud)
    assert result.findings == []
    [error] = result.errors
    assert "2 cloud objects match 'swyx-pbx'" in error.message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--inventory", "x.json"], "--plan PLAN is required"),
        (["--plan", "p.json"], "give the cloud side"),
        (["--plan", "p.json", "--inventory", "x.json", "aws"], "exclude each other"),
        (["aws"], "--plan PLAN is required"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    proc = policycheck("drift", *args)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert message in line and "Traceback" not in line
