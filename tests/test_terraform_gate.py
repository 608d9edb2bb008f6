"""The plan gate as CI runs it: `policycheck scan terraform` on the reference plans.

Each finding must point at the `.tf` block of the rule that caused it, the SARIF
must satisfy the official schema, and fingerprints must not move when lines do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

REPO = Path(__file__).resolve().parent.parent
TF = REPO / "fixtures" / "terraform"
SCHEMA = REPO / "policycheck" / "report" / "schemas" / "sarif-schema-2.1.0.json"

Result = dict[str, Any]


def scan(plan: Path, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policycheck", "scan", "terraform", str(plan), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sarif_of(plan: Path, *args: str, cwd: Path = REPO) -> dict[str, Any]:
    proc = scan(plan, "--format", "sarif", *args, cwd=cwd)
    assert proc.returncode == 1, proc.stderr
    log: dict[str, Any] = json.loads(proc.stdout)
    return log


def _is(rule: str, protocol: str, port: str | None, peer: str) -> Callable[[Result], bool]:
    """A result whose region has a part of ``protocol`` with the port range (None:
    a part without ports) and the peer."""

    def has(part: dict[str, Any]) -> bool:
        ports = [f"{p['lo']}-{p['hi']}" for p in part["ports"]]
        return (
            part["protocol"] == protocol
            and (port in ports if port is not None else ports == [])
            and peer in part["peers"]
        )

    def match(r: Result) -> bool:
        return r["ruleId"] == rule and any(has(part) for part in r["properties"]["region"])

    return match


# Which reference rule (fixtures/ESTATE.md) each gating finding must blame.
BLAME = {
    "B1": _is("SWYX001", "tcp", "3389-3389", "0.0.0.0/0"),
    "B2": _is("SWYX002", "tcp", "5060-5060", "8.0.0.0/7"),
    # An all-protocols rule: every protocol but tcp/udp is one part, without ports.
    "B3": _is("SWYX001", "other", None, "10.0.0.0/8"),
    "B4": _is("SWYX001", "tcp", "22-22", "::/0"),
}


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_findings_point_at_the_rule_block(provider: str) -> None:
    log = sarif_of(TF / f"{provider}-broken" / "plan.json")
    results = log["runs"][0]["results"]
    for marker, predicate in BLAME.items():
        [result] = [r for r in results if predicate(r)]
        loc = result["locations"][0]["physicalLocation"]
        path = REPO / loc["artifactLocation"]["uri"]
        assert path.suffix == ".tf" and path.is_file(), loc
        lines = path.read_text().splitlines()
        start = loc["region"]["startLine"]
        # Every reference rule block is preceded by a comment naming it.
        assert lines[start - 2].strip().startswith(f"# {marker}"), (marker, path, start)
        assert loc["region"]["endLine"] >= start
        assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]


def test_unknown_until_apply_is_a_note_not_dropped() -> None:
    log = sarif_of(TF / "aws-broken" / "plan.json")
    [b9] = [r for r in log["runs"][0]["results"] if r["ruleId"] == "SWYX005"]
    assert b9["level"] == "note"
    [part] = b9["properties"]["region"]
    assert (part["protocol"], part["ports"]) == ("tcp", [{"lo": 8443, "hi": 8443}])
    assert "known after apply" in b9["message"]["text"]


def test_sarif_is_valid_against_the_official_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema)
    for provider in ("aws", "azure", "gcp"):
        log = sarif_of(TF / f"{provider}-broken" / "plan.json", "--category", f"tf/{provider}")
        errors = sorted(validator.iter_errors(log), key=str)
        assert errors == []
        [run] = log["runs"]
        assert run["automationDetails"]["id"] == f"tf/{provider}/"
        for result in run["results"]:
            assert result["partialFingerprints"]["primaryLocationLineHash"]
            uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            assert not uri.startswith("/") and "\\" not in uri


def _fingerprints(log: dict[str, Any]) -> dict[str, int]:
    return {
        r["partialFingerprints"]["primaryLocationLineHash"]: r["locations"][0]["physicalLocation"][
            "region"
        ]["startLine"]
        for r in log["runs"][0]["results"]
    }


UNRELATED_TF = """\
# An unrelated group added later: it protects nothing and moves every line below.
resource "aws_security_group" "unrelated" {
  name = "unrelated"

  ingress {
    from_port   = 8080
    to_port     = 8080
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

"""


def _add_unrelated_group(plan: dict[str, Any]) -> None:
    values = {
        "name": "unrelated",
        "description": "Managed by Terraform",
        "ingress": [
            {
                "from_port": 8080,
                "to_port": 8080,
                "protocol": "tcp",
                "cidr_blocks": ["0.0.0.0/0"],
                "ipv6_cidr_blocks": [],
                "prefix_list_ids": [],
                "security_groups": [],
                "self": False,
                "description": "",
            }
        ],
        "egress": [],
        "tags": None,
    }
    resource = {
        "address": "aws_security_group.unrelated",
        "mode": "managed",
        "type": "aws_security_group",
        "name": "unrelated",
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "schema_version": 1,
        "values": values,
        "sensitive_values": {},
    }
    plan["planned_values"]["root_module"]["resources"].append(resource)
    plan["resource_changes"].append(
        {
            "address": "aws_security_group.unrelated",
            "mode": "managed",
            "type": "aws_security_group",
            "name": "unrelated",
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {
                "actions": ["create"],
                "before": None,
                "after": values,
                "after_unknown": {"id": True, "arn": True},
            },
        }
    )


def test_fingerprints_survive_reruns_and_unrelated_changes(tmp_path: Path) -> None:
    plan = TF / "aws-broken" / "plan.json"
    first = _fingerprints(sarif_of(plan))
    assert first == _fingerprints(sarif_of(plan))

    work = tmp_path / "aws-broken"
    shutil.copytree(TF / "aws-broken", work)
    main_tf = work / "main.tf"
    main_tf.write_text(UNRELATED_TF + main_tf.read_text())
    data = json.loads(plan.read_text())
    _add_unrelated_group(data)
    (work / "plan.json").write_text(json.dumps(data))
    after = _fingerprints(sarif_of(work / "plan.json", cwd=tmp_path))

    assert set(first) <= set(after)  # every old finding keeps its fingerprint
    moved = [fp for fp in first if first[fp] != after[fp]]
    assert moved, "the inserted block should have moved the root module's findings"
    assert len(after) == len(first)  # the unrelated group protects no VM: no new finding


@pytest.mark.parametrize(
    ("fixture", "fragment"),
    [
        ("not-json.json", "not JSON"),
        ("empty.json", "empty"),
        ("state.json", "state, not a plan"),
        ("format-9.json", "9.0"),
        ("malformed-sg.json", "aws_security_group"),
    ],
)
def test_bad_plans_exit_2_with_one_line(fixture: str, fragment: str, tmp_path: Path) -> None:
    out = tmp_path / "out.sarif"
    proc = scan(TF / "bad" / fixture, "--format", "sarif", "-o", str(out))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_fail_on_levels() -> None:
    plan = TF / "aws-broken" / "plan.json"
    assert scan(plan, "--fail-on", "never", "--format", "json").returncode == 0
    compliant = TF / "aws-compliant" / "plan.json"
    assert scan(compliant, "--format", "json").returncode == 0
    assert scan(plan, "--fail-on", "note", "--format", "json").returncode == 1
