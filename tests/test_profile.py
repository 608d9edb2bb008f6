"""Deployment profile validation: every mistake is one clear line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policycheck.errors import InputError
from policycheck.profile import DEFAULT_INTERNAL_NETWORKS, Profile, load_profile

VALID = """\
version: "14.0"
sdc: false
internal_networks: [10.0.0.0/8]
peer_groups:
  sip-trunk: [203.0.113.0/24]
  IpPbxSrv: [10.0.1.10]
role_assignments:
  - match: {name: "pbx-*"}
    roles: [swyxware-server, cds]
parameters: {RTPFirstPort: 40000, RTPLastPort: 40499}
role_parameters:
  linkmanager: {LowerBoundMediaPortUdp: 55500}
extra_flows:
  - name: rdp-admin
    justification: RDP from the admin jump host
    protocol: tcp
    ports: ["3389"]
    peers: [198.51.100.10/32]
required: ["1.1/inbound/1"]
egress: {strictness: ports, level: warning}
suppressions:
  - rule: SWYX001
    vm: "legacy-*"
    reason: migration ticket OPS-12
    expires: 2030-01-31
"""

INVALID = [
    (
        "role_assignments:\n  - match: {name: x}\n    roles: [pbx]\n",
        "role_assignments.0.roles",
        "unknown role slug 'pbx'",
    ),
    ("internal_networks: [10.0.0.300/8]\n", "internal_networks", "invalid CIDR"),
    ("peer_groups:\n  a: [nonsense]\n", "peer_groups", "invalid CIDR"),
    ("colour: blue\n", "colour", "unknown key"),
    (
        "suppressions:\n  - reason: because we can\n",
        "suppressions.0.expires",
        "required field missing",
    ),
    ("parameters: {NoSuchKey: 1}\n", "", "unknown parameter 'NoSuchKey'"),
    ("required: ['9.9/inbound/1']\n", "", "unknown catalog row"),
    (
        "extra_flows:\n  - name: x\n    protocol: tcp\n    peers: [10.0.0.0/8]\n",
        "extra_flows.0.justification",
        "required field missing",
    ),
    (
        "extra_flows:\n  - name: x\n    justification: why not\n"
        "    protocol: tcp\n    peers: [nowhere]\n",
        "",
        "neither a CIDR nor a peer group",
    ),
    (
        "role_parameters:\n  nope: {RTPFirstPort: 1}\n",
        "role_parameters",
        "unknown role slug 'nope'",
    ),
    ("- just\n- a list\n", "", "must be a YAML mapping"),
    ("version: [\n", "", "not valid YAML"),
]


def test_no_profile_means_defaults() -> None:
    prof = load_profile(None)
    assert prof == Profile()
    assert tuple(prof.internal_networks) == DEFAULT_INTERNAL_NETWORKS
    assert prof.egress.strictness == "protocols"


def test_valid_profile(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(VALID)
    prof = load_profile(path)
    assert prof.peer_groups["IpPbxSrv"] == ["10.0.1.10/32"]
    assert prof.suppressions[0].expires.year == 2030


def test_empty_profile_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("")
    assert load_profile(path) == Profile()


@pytest.mark.parametrize(("text", "field", "message"), INVALID)
def test_invalid_profile_names_the_field(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_profile(path)
    assert message in str(info.value)
    assert field in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("text", "field", "message"), INVALID[:5])
def test_invalid_profile_cli_exit_2(tmp_path: Path, text: str, field: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", "expected", "--roles", "cds", "--profile", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and field in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_profile_schema_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", "profile", "schema"],
        capture_output=True,
        text=True,
        check=True,
    )
    schema = json.loads(proc.stdout)
    assert schema["additionalProperties"] is False
    for key in (
        "version",
        "sdc",
        "internal_networks",
        "peer_groups",
        "role_assignments",
        "parameters",
        "role_parameters",
        "extra_flows",
        "required",
        "egress",
        "suppressions",
    ):
        assert key in schema["properties"]
    assert "expires" in schema["$defs"]["Suppression"]["required"]


def test_profile_check_command(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(VALID)
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", "profile", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "valid" in proc.stdout
