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
    (
        "required: ['1.27/inbound/4']\n",
        "required",
        "uncertain (the document marks it with '?')",
    ),
    ('version: "12.10"\nparameters: {TcpForwarding: "712"}\n', "parameters", "since 12.20 only"),
    (
        "role_parameters:\n  remote-connector: {TcpForwardingPorts: [712]}\n",
        "role_parameters.remote-connector",
        "TcpForwardingPorts acts until 12.20 only",
    ),
    ("version: 12.3\n", "version", 'quote it: version: "12.30"'),
    (
        "sip_trunks:\n  - name: c\n    peers: [203.0.113.0/24]\n    role: cds\n",
        "sip_trunks.0.role",
        "does not terminate SIP trunks",
    ),
    (
        "sip_trunks:\n  - name: c\n    peers: [carrier]\n",
        "",
        "sip_trunks 'c': peer 'carrier' is neither a CIDR nor a peer group",
    ),
    (
        "sip_trunks:\n  - name: c\n    peers: [203.0.113.0/24]\n    transports: [tls]\n",
        "sip_trunks.0.transports.0",
        "'tcp' or 'udp'",
    ),
    (
        "sip_trunks:\n  - {name: c, peers: [192.0.2.1]}\n  - {name: c, peers: [192.0.2.2]}\n",
        "",
        "the name 'c' is used twice",
    ),
    (
        "extra_flows:\n  - {name: x, justification: why not, protocol: tcp, ports: [70000],"
        " peers: [10.0.0.0/8]}\n",
        "extra_flows.0.ports",
        "invalid port or range '70000'",
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


# -------------------------------------------------- what YAML naturally produces


@pytest.mark.parametrize(
    ("text", "version"),
    [("version: 14.1\n", "14.1"), ("version: 14\n", "14"), ("version: 11.5\n", "11.5")],
)
def test_numeric_version_is_read_as_text(tmp_path: Path, text: str, version: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    assert load_profile(path).version == version


def test_numeric_ports_are_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "extra_flows:\n"
        "  - {name: rdp, justification: jump host, protocol: tcp, ports: [3389],"
        " peers: [192.0.2.1]}\n"
        "  - {name: web, justification: probes, protocol: tcp, ports: 8443, peers: [192.0.2.1]}\n"
        "  - {name: mix, justification: probes, protocol: udp, ports: [53, '5000-5010'],"
        " peers: [192.0.2.1]}\n"
        "suppressions:\n  - {reason: ticket OPS-1, expires: 2030-01-01, ports: 3389}\n"
    )
    prof = load_profile(path)
    assert [f.ports for f in prof.extra_flows] == [["3389"], ["8443"], ["53", "5000-5010"]]
    assert prof.suppressions[0].ports == "3389"


def test_schema_shows_the_default_internal_networks() -> None:
    schema = Profile.model_json_schema()
    description = schema["properties"]["internal_networks"]["description"]
    for cidr in DEFAULT_INTERNAL_NETWORKS:
        assert cidr in description


# ---------------------------------------------------------------- profile init


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policycheck", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "roles", [None, "swyxware-server,cds,remote-connector", "remote-connector", "mediapack"]
)
def test_profile_init_prints_a_profile_that_profile_check_accepts(
    tmp_path: Path, roles: str | None
) -> None:
    proc = _cli("profile", "init", *(["--roles", roles] if roles else []))
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "starter.yaml"
    path.write_text(proc.stdout)
    check = _cli("profile", "check", str(path))
    assert check.returncode == 0, check.stderr
    # The starter's active values are the defaults: it means what no profile means.
    assert load_profile(path) == Profile()
    assert proc.stdout.count("\n# ") > 20  # commented
    if roles and "remote-connector" in roles:
        assert "TypicalConnections: 500" in proc.stdout and "TcpForwarding:" in proc.stdout


@pytest.mark.parametrize("roles", [[], ["swyxware-server", "cds"], ["linkmanager", "mediapack"]])
def test_profile_init_examples_are_valid_too(tmp_path: Path, roles: list[str]) -> None:
    """Every commented example, made active, still passes the strict validation."""
    from policycheck.catalog import default_catalog
    from policycheck.starter import starter_profile

    path = tmp_path / "examples.yaml"
    path.write_text(starter_profile(default_catalog(), roles, examples=True))
    prof = load_profile(path)
    assert prof.extra_flows and prof.sip_trunks and prof.suppressions and prof.role_assignments


def test_profile_init_unknown_role_is_one_line() -> None:
    proc = _cli("profile", "init", "--roles", "pbx")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "'pbx'" in proc.stderr


# -------------------------------------------------- --profile is a file, not AWS's


def test_profile_option_naming_no_file_explains_aws_profiles() -> None:
    proc = _cli("expected", "--roles", "cds", "--profile", "prod")
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert "--profile prod: no such file" in line and "YAML file" in line
    assert "--aws-profile prod" in line and "AWS_PROFILE=prod" in line
    scan = _cli("scan", "aws", "--region", "eu-central-1", "--profile", "prod")
    assert scan.returncode == 2 and "--aws-profile prod" in scan.stderr


def test_profile_option_missing_yaml_file_says_so_without_aws_talk(tmp_path: Path) -> None:
    proc = _cli("expected", "--roles", "cds", "--profile", str(tmp_path / "swyx.yaml"))
    assert proc.returncode == 2
    assert "no such file" in proc.stderr and "aws" not in proc.stderr.lower()
