"""The bad-input corpus: plans, snapshots, profiles, CLI options and cloud answers
that a careless user or an attacker produces, each run through the CLI.

Every case asserts the exit code and the one stderr line (its expected fragment,
that it is a single line of bounded length, no traceback, no raw control
character), that an output file that existed before is byte-identical after an
exit 2, and that no stray file (a temporary report) is left beside it. Cases run
in-process through click's CliRunner, which is fast enough for a corpus this
size; test_subprocess_cases runs a sample as real processes, and the must-show
cases (/dev/zero, a password in AWS_ENDPOINT_URL) are subprocesses too.

Each case names the class of defect it stands for (``kind``);
test_the_corpus_covers_every_class keeps the classes of issue 10 covered.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure_fake
import pytest
from aws_estate import build_estate
from aws_fake import (
    ACCOUNT,
    OTHER_REGION,
    REGION,
    SECRETS,
    Faults,
    aws_env,
    ec2_client,
    fake_credentials,
    moto,
    moto_url,
    proxy,
)
from azure_fake import ACCESS_TOKEN, CLIENT_SECRET, FakeArm, fake_arm
from click.testing import CliRunner
from gcp_fake import FakeCompute, gcp_fake, isolated_env
from misbehave import Misbehaviour

from policycheck.cli import cli
from policycheck.errors import MAX_MESSAGE
from policycheck.sources import snapshot
from policycheck.sources.terraform import load_plan

__all__ = ["fake_arm", "gcp_fake", "moto", "moto_url", "proxy"]  # fixtures pytest must see

REPO = Path(__file__).resolve().parent.parent
TF = REPO / "fixtures" / "terraform"
OLD_REPORT = b"the report of the previous run\n"
#: An exit-2 line: "policycheck: error: " + a scrubbed message.
MAX_LINE = len("policycheck: internal error: ") + MAX_MESSAGE + 1


# --------------------------------------------------------------------- inputs


def _replace(node: Any, key: str, value: Any) -> None:
    """Set ``key`` to ``value`` wherever the plan holds a known (non-null) value for it."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and v is not None and not isinstance(v, dict):
                node[k] = value
            else:
                _replace(v, key, value)
    elif isinstance(node, list):
        for item in node:
            _replace(item, key, value)


def plan(cloud: str = "aws", **replace: Any) -> bytes:
    """The reference plan of ``cloud`` (fixtures/terraform/<cloud>-broken) with values replaced."""
    doc = json.loads((TF / f"{cloud}-broken" / "plan.json").read_text())
    for key, value in replace.items():
        _replace(doc, key, value)
    return json.dumps(doc, ensure_ascii=False).encode()


@functools.cache
def _snapshot_doc() -> str:
    return snapshot.dumps(load_plan(TF / "aws-broken" / "plan.json")).decode()


def snap(mutate: Callable[[dict[str, Any]], None]) -> bytes:
    """A valid snapshot of the reference AWS estate, then ``mutate``d."""
    doc = json.loads(_snapshot_doc())
    mutate(doc)
    return json.dumps(doc).encode()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting ``a.0.b`` to ``value``."""

    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def nested(depth: int) -> bytes:
    return b'{"format_version": "1.0", "planned_values": ' + b"[" * depth + b"]" * depth + b"}"


def snap_with_port(text: str) -> bytes:
    """A snapshot whose first rule's first port range has ``"lo": <text>`` verbatim."""
    doc = json.loads(_snapshot_doc())
    doc["firewalls"][0]["rules"][0]["ports"] = [{"lo": 0, "hi": 1}]
    return json.dumps(doc).replace('"lo": 0', f'"lo": {text}', 1).encode()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
PROFILE_OK = b"sdc: false\n"
DEEP_YAML = b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n"
ALIAS_BOMB = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n".encode()
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


# ---------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One bad input: the command, the files it needs, what must come out."""

    id: str
    kind: str
    args: tuple[str, ...]
    #: Fragment of the one stderr line; None: stderr must stay empty.
    message: str | None
    code: int = 2
    files: Mapping[str, bytes] = field(default_factory=dict)
    env: Mapping[str, str | None] = field(default_factory=dict)
    #: Add ``-o {dir}/report.json`` (which exists before the run) to the command.
    output: bool = True

    def __str__(self) -> str:
        return self.id


def _scan_plan(case_id: str, kind: str, data: bytes, message: str, **kw: Any) -> Case:
    return Case(
        case_id,
        kind,
        ("scan", "terraform", "{dir}/plan.json"),
        message,
        files={"plan.json": data},
        **kw,
    )


def _scan_snapshot(case_id: str, kind: str, data: bytes, message: str, **kw: Any) -> Case:
    return Case(
        case_id,
        kind,
        ("scan", "snapshot", "{dir}/inv.json"),
        message,
        files={"inv.json": data},
        **kw,
    )


def _check_profile(case_id: str, kind: str, data: bytes, message: str) -> Case:
    return Case(
        case_id,
        kind,
        ("profile", "check", "{dir}/p.yaml"),
        message,
        files={"p.yaml": data},
        output=False,
    )


_HUGE = "9" * 5000
_MB = "x" * (1 << 20)

PLAN_CASES = [
    _scan_plan("plan-empty", "empty", b"", "the plan file is empty"),
    _scan_plan("plan-whitespace", "empty", b" \n\t\n", "the plan file is empty"),
    _scan_plan("plan-not-json", "syntax", b"hello", "not JSON (unexpected character"),
    _scan_plan("plan-truncated-json", "syntax", plan()[:5000], "not JSON"),
    _scan_plan("plan-json-list", "shape", b"[1, 2]", "a Terraform plan is a JSON object"),
    _scan_plan("plan-no-format-version", "shape", b"{}", "no format_version"),
    _scan_plan(
        "plan-format-9",
        "shape",
        plan(format_version="9.0"),
        "unsupported plan format_version '9.0'",
    ),
    _scan_plan(
        "plan-state",
        "shape",
        b'{"format_version": "1.0", "values": {}}',
        "this is a Terraform state, not a plan",
    ),
    _scan_plan(
        "plan-1mb-format-version",
        "long-value",
        plan(format_version="9" + _MB),
        "unsupported plan format_version",
    ),
    _scan_plan(
        "plan-ansi-format-version",
        "control-chars",
        plan(format_version="\x1b[2J\x1b[31m9\x07"),
        "format_version '\\x1b[2J",
    ),
    _scan_plan("plan-nested-100000", "deep-plan", nested(100_000), "nested deeper than 128"),
    _scan_plan("plan-nested-200", "deep-plan", nested(200), "nested deeper than 128 levels at"),
    _scan_plan(
        "plan-port-5000-digits",
        "huge-integer",
        plan(from_port=0).replace(b'"from_port": 0', f'"from_port": {_HUGE}'.encode(), 1),
        "a number too large to read",
    ),
    _scan_plan(
        "plan-port-25-digits",
        "huge-integer",
        plan(from_port=0).replace(b'"from_port": 0', b'"from_port": 1' + b"0" * 24, 1),
        "from_port: expected an integer",
    ),
    _scan_plan(
        "plan-port-70000",
        "port-range",
        plan(from_port=70000, to_port=70000),
        "from_port: expected a port range",
    ),
    _scan_plan(
        "plan-port-reversed",
        "port-range",
        plan(from_port=5061, to_port=5060),
        "from_port: expected a port range",
    ),
    _scan_plan(
        "plan-port-negative",
        "port-range",
        plan(from_port=-5, to_port=80),
        "from_port: expected a port range",
    ),
    _scan_plan(
        "plan-port-bool", "port-range", plan(from_port=True), "from_port: expected an integer"
    ),
    _scan_plan(
        "plan-protocol-bogus", "shape", plan(protocol="bogus"), "expected a protocol name or number"
    ),
    _scan_plan(
        "plan-aws-private-ip-300",
        "bad-vm-address",
        plan(private_ip="10.0.1.300"),
        'private_ip: expected an IP address, found "10.0.1.300"',
    ),
    _scan_plan(
        "plan-aws-private-ip-short",
        "bad-vm-address",
        plan(private_ip="10.0.1"),
        'private_ip: expected an IP address, found "10.0.1"',
    ),
    _scan_plan(
        "plan-aws-vpc-cidr",
        "address",
        plan(cidr_block="10.0.0.0/33"),
        'cidr_block: expected a CIDR block, found "10.0.0.0/33"',
    ),
    _scan_plan(
        "plan-aws-sg-cidr",
        "address",
        plan(cidr_blocks=["10.0.0.0/8", "300.0.0.0/8"]),
        "cidr_blocks: expected CIDR blocks",
    ),
    _scan_plan(
        "plan-aws-1mb-cidr",
        "long-value",
        plan(cidr_blocks=["1" + _MB]),
        "cidr_blocks: expected CIDR blocks",
    ),
    _scan_plan(
        "plan-azure-address-space",
        "address",
        plan("azure", address_space=["10.1.0.0/16", "not-a-prefix"]),
        'address_space: expected a CIDR block, found "not-a-prefix"',
    ),
    _scan_plan(
        "plan-azure-nic-ip",
        "bad-vm-address",
        plan("azure", private_ip_address="10.1.1.256"),
        'private_ip_address: expected an IP address, found "10.1.1.256"',
    ),
    _scan_plan(
        "plan-gcp-network-ip",
        "bad-vm-address",
        plan("gcp", network_ip="10.2.1"),
        'network_ip: expected an IP address, found "10.2.1"',
    ),
    _scan_plan(
        "plan-gcp-subnet-range",
        "address",
        plan("gcp", ip_cidr_range="10.2.1.0/40"),
        'ip_cidr_range: expected a CIDR block, found "10.2.1.0/40"',
    ),
    _scan_plan("plan-binary", "binary", PNG, "binary data, not a plan"),
    _scan_plan(
        "plan-latin1",
        "encoding",
        plan(description="Telefonie ü").replace("ü".encode(), b"\xfc"),
        "not UTF-8 text (invalid byte 0xfc",
    ),
    _scan_plan(
        "plan-utf16-lone-surrogate",
        "encoding",
        b"\xff\xfe" + '{"a": "'.encode("utf-16-le") + b"\x00\xd8" + b'"\x00}\x00',
        "not UTF-16 text",
    ),
    _scan_plan(
        "plan-nul-byte",
        "binary",
        plan()[:100] + b"\x00" + plan()[100:],
        "binary data, not a plan (control character U+0000",
    ),
    _scan_plan(
        "plan-too-large",
        "size-limit",
        plan(),
        "is larger than 1 KiB",
        env={"POLICYCHECK_MAX_INPUT": "1K"},
    ),
    _scan_plan(
        "plan-max-input-not-a-size",
        "size-limit",
        plan(),
        "POLICYCHECK_MAX_INPUT: 'lots' is not a size",
        env={"POLICYCHECK_MAX_INPUT": "lots"},
    ),
    Case(
        "plan-dev-zero",
        "endless-input",
        ("scan", "terraform", "/dev/zero"),
        "/dev/zero: is a device, not a plan file",
    ),
    Case(
        "plan-directory",
        "special-file",
        ("scan", "terraform", "{dir}/sub"),
        "sub' is a directory",
        files={"sub/keep": b""},
    ),
    Case(
        "plan-missing",
        "special-file",
        ("scan", "terraform", "{dir}/nope.json"),
        "cannot read the plan: No such file or directory",
    ),
    _scan_plan(
        "plan-resource-changes-object",
        "shape",
        b'{"format_version": "1.0", "resource_changes": {}}',
        "resource_changes: expected a list",
    ),
]


def _address_group(doc: dict[str, Any]) -> None:
    doc["address_groups"] = [
        {"provider": "aws", "kind": "prefix_list", "id": "pl-1", "cidrs": ["10.0.0.0/33"]}
    ]


def _first_vm_address(value: str) -> Callable[[dict[str, Any]], None]:
    return _set("vms.0.addresses", [value])


SNAPSHOT_CASES = [
    _scan_snapshot("snap-empty", "empty", b"", "empty file"),
    _scan_snapshot("snap-not-json", "syntax", b"{'python': 'dict'}", "not JSON"),
    _scan_snapshot("snap-no-schema", "schema-version", b'{"vms": []}', "no schema_version"),
    _scan_snapshot(
        "snap-schema-true",
        "schema-version",
        snap(_set("schema_version", True)),
        "snapshot schema_version true is not supported",
    ),
    _scan_snapshot(
        "snap-schema-float",
        "schema-version",
        snap(_set("schema_version", 1.0)),
        "snapshot schema_version 1.0 is not supported",
    ),
    _scan_snapshot(
        "snap-schema-string",
        "schema-version",
        snap(_set("schema_version", "1")),
        'snapshot schema_version "1" is not supported',
    ),
    _scan_snapshot(
        "snap-schema-2",
        "schema-version",
        snap(_set("schema_version", 2)),
        "snapshot schema_version 2 is not supported",
    ),
    _scan_snapshot(
        "snap-vm-address-300",
        "bad-vm-address",
        snap(_first_vm_address("10.0.1.300")),
        "vms.0.addresses.0: invalid IP address '10.0.1.300'",
    ),
    _scan_snapshot(
        "snap-vm-address-short",
        "bad-vm-address",
        snap(_first_vm_address("10.0.1")),
        "vms.0.addresses.0: invalid IP address '10.0.1'",
    ),
    _scan_snapshot(
        "snap-vm-address-prefix",
        "bad-vm-address",
        snap(_first_vm_address("10.0.1.0/24")),
        "vms.0.addresses.0: invalid IP address '10.0.1.0/24'",
    ),
    _scan_snapshot(
        "snap-network-space",
        "address",
        snap(_set("networks.0.address_spaces", ["10.0.0.0/16", "10.0.0.0/99"])),
        "networks.0.address_spaces.1: invalid CIDR '10.0.0.0/99'",
    ),
    _scan_snapshot(
        "snap-address-group-cidr",
        "bad-snapshot-cidr",
        snap(_address_group),
        "address_groups.0.cidrs.0: invalid CIDR '10.0.0.0/33'",
    ),
    _scan_snapshot(
        "snap-peer-cidr",
        "bad-snapshot-cidr",
        snap(_set("firewalls.0.rules.0.peers.0", {"kind": "cidr", "value": "192.168.1.0/33"})),
        "firewalls.0.rules.0.peers.0: invalid CIDR '192.168.1.0/33'",
    ),
    _scan_snapshot(
        "snap-port-70000",
        "port-range",
        snap(_set("firewalls.0.rules.0.ports", [{"lo": 1, "hi": 70000}])),
        "firewalls.0.rules.0.ports.0.hi: Input should be less than or equal to 65535",
    ),
    _scan_snapshot(
        "snap-port-reversed",
        "port-range",
        snap(_set("firewalls.0.rules.0.ports", [{"lo": 100, "hi": 10}])),
        "port range 100-10 is reversed",
    ),
    _scan_snapshot(
        "snap-port-true",
        "port-range",
        snap_with_port("true"),
        "ports.0.lo: Input should be a valid integer",
    ),
    _scan_snapshot(
        "snap-port-string",
        "port-range",
        snap_with_port('"80"'),
        "ports.0.lo: Input should be a valid integer",
    ),
    _scan_snapshot(
        "snap-port-5000-digits",
        "huge-integer",
        snap_with_port(_HUGE),
        "a number too large to read at line 1",
    ),
    _scan_snapshot(
        "snap-unknown-key",
        "shape",
        snap(_set("surprise", 1)),
        "invalid snapshot at surprise: unknown key",
    ),
    _scan_snapshot(
        "snap-nested",
        "deep-snapshot",
        snap(_set("vms.0.tags", json.loads("[" * 300 + "]" * 300))),
        "nested deeper than 128 levels at vms[0].tags",
    ),
    _scan_snapshot(
        "snap-protocol",
        "shape",
        snap(_set("firewalls.0.rules.0.protocol", "tcpx")),
        "firewalls.0.rules.0.protocol: unknown protocol 'tcpx'",
    ),
    _scan_snapshot("snap-binary", "binary", PNG, "binary data, not a snapshot"),
    _scan_snapshot(
        "snap-ansi-vm-name",
        "control-chars",
        snap(_set("vms.0.addresses", ["\x1b]0;pwned\x07"])),
        "invalid IP address '\\x1b]0;pwned\\x07'",
    ),
    Case(
        "snap-dev-zero",
        "endless-input",
        ("scan", "snapshot", "/dev/zero"),
        "/dev/zero: is a device, not a snapshot file",
    ),
]

PROFILE_CASES = [
    _check_profile(
        "profile-date-13-45",
        "impossible-date",
        b"suppressions:\n  - reason: known\n    expires: 2025-13-45\n",
        "not valid YAML at line 3 column 14: invalid date '2025-13-45' (month must be in 1..12)",
    ),
    _check_profile(
        "profile-date-02-30",
        "impossible-date",
        b"suppressions:\n  - reason: known\n    expires: 2025-02-30\n",
        "invalid date '2025-02-30' (day is out of range for month)",
    ),
    _check_profile("profile-binary", "binary-profile", PNG, "binary data, not a profile"),
    _check_profile(
        "profile-utf16-broken",
        "utf16-profile",
        b"\xff\xfe" + "sdc: true\n".encode("utf-16-le") + b"\x00\xdc",
        "not UTF-16 text",
    ),
    _check_profile(
        "profile-latin1",
        "encoding",
        "version: 'ä'\n".encode("latin-1"),
        "not UTF-8 text (invalid byte 0xe4",
    ),
    _check_profile(
        "profile-nested-5000", "deep-profile", DEEP_YAML, "nested deeper than 128 levels at line 1"
    ),
    _check_profile(
        "profile-alias-bomb",
        "deep-profile",
        ALIAS_BOMB,
        "aliases expand to more than 1,000,000 values",
    ),
    _check_profile(
        "profile-int-5000-digits",
        "huge-integer",
        f"parameters:\n  RTPFirstPort: {_HUGE}\n".encode(),
        "invalid integer of 5000 characters",
    ),
    _check_profile(
        "profile-rtp-negative",
        "profile-check-equals-scan",
        b"parameters:\n  RTPFirstPort: -1\n",
        "gives port range -1-",
    ),
    _check_profile(
        "profile-rtp-reversed",
        "profile-check-equals-scan",
        b"parameters:\n  RTPFirstPort: 40000\n  RTPLastPort: 30000\n",
        "gives port range 40000-30000, which is not valid",
    ),
    _check_profile(
        "profile-rtp-70000",
        "port-range",
        b"parameters:\n  RTPFirstPort: 70000\n",
        "which is not valid",
    ),
    _check_profile(
        "profile-python-tag",
        "yaml-tag",
        b"version: !!python/object/apply:os.system ['touch pwned']\n",
        "not valid YAML at line 1 column 10: could not determine a constructor",
    ),
    _check_profile("profile-list", "shape", b"- a\n- b\n", "a profile must be a YAML mapping"),
    _check_profile("profile-unknown-key", "shape", b"sdcc: true\n", "sdcc: unknown key"),
    _check_profile(
        "profile-bad-cidr",
        "address",
        b"internal_networks: [10.0.0.0/33]\n",
        "invalid CIDR '10.0.0.0/33'",
    ),
    _check_profile("profile-syntax", "syntax", b"version: [\n", "not valid YAML at line 2"),
    _check_profile(
        "profile-two-documents", "syntax", b"sdc: true\n---\nsdc: false\n", "not valid YAML"
    ),
    Case(
        "profile-missing",
        "special-file",
        ("profile", "check", "{dir}/nope.yaml"),
        "cannot read the profile: No such file or directory",
        output=False,
    ),
    Case(
        "profile-dev-zero",
        "endless-input",
        ("profile", "check", "/dev/zero"),
        "/dev/zero: is a device, not a profile file",
        output=False,
    ),
    Case(
        "profile-in-scan",
        "profile-check-equals-scan",
        ("scan", "terraform", "{dir}/plan.json", "--profile", "{dir}/p.yaml"),
        "gives port range -1-",
        files={"plan.json": plan(), "p.yaml": b"parameters:\n  RTPFirstPort: -1\n"},
    ),
]

_PLAN = {"plan.json": plan()}
CLI_CASES = [
    Case(
        "out-missing-dir",
        "output-dir-missing",
        ("scan", "terraform", "{dir}/plan.json", "-o", "{dir}/nope/out.json"),
        "nope does not exist",
        # A plan that cannot be read either: the output is checked before any input.
        files={"plan.json": b"not a plan"},
        output=False,
    ),
    Case(
        "out-is-the-plan",
        "output-is-input",
        ("scan", "terraform", "{dir}/plan.json", "-o", "{dir}/plan.json"),
        "is the input",
        files=_PLAN,
        output=False,
    ),
    Case(
        "out-is-the-profile",
        "output-is-input",
        ("scan", "terraform", "{dir}/plan.json", "--profile", "{dir}/p.yaml", "-o", "{dir}/p.yaml"),
        "is the input",
        files={**_PLAN, "p.yaml": PROFILE_OK},
        output=False,
    ),
    Case(
        "out-is-the-snapshot",
        "output-is-input",
        ("scan", "snapshot", "{dir}/inv.json", "-o", "{dir}/inv.json"),
        "is the input",
        files={"inv.json": snap(lambda d: None)},
        output=False,
    ),
    Case(
        "out-is-a-directory",
        "output-dir-missing",
        ("scan", "terraform", "{dir}/plan.json", "-o", "{dir}/sub"),
        "is a directory",
        files={**_PLAN, "sub/keep": b""},
        output=False,
    ),
    Case(
        "out-is-dev-null",
        "output-is-input",
        ("scan", "terraform", "{dir}/plan.json", "-o", "/dev/null"),
        "--output /dev/null: is not a regular file; leave out -o to write to stdout",
        files=_PLAN,
        output=False,
    ),
    Case(
        "category-newline",
        "category",
        ("scan", "terraform", "{dir}/plan.json", "--category", "prod\nforged: line"),
        "--category",
        files=_PLAN,
    ),
    Case(
        "category-ansi",
        "category",
        ("scan", "terraform", "{dir}/plan.json", "--category", "\x1b[31mred"),
        "--category",
        files=_PLAN,
    ),
    Case(
        "format-unknown",
        "usage",
        ("scan", "terraform", "{dir}/plan.json", "--format", "xml"),
        "Invalid value for '--format'",
        files=_PLAN,
    ),
    Case("option-unknown", "usage", ("scan", "terraform", "--bogus"), "No such option"),
    Case(
        "tf-dir-missing",
        "usage",
        ("scan", "terraform", "{dir}/plan.json", "--tf-dir", "{dir}/none"),
        "'--tf-dir'",
        files=_PLAN,
    ),
    Case(
        "roles-unknown",
        "usage",
        ("expected", "--roles", "pbx"),
        "unknown role slug 'pbx'",
        output=False,
    ),
    Case(
        "opa-url-not-url",
        "endpoint-url-not-url",
        ("scan", "terraform", "{dir}/plan.json", "--rego", "opa", "--opa-url", "localhost"),
        "--opa-url",
        files=_PLAN,
    ),
    Case(
        "aws-endpoint-not-a-url",
        "endpoint-url-not-url",
        ("scan", "aws", "--region", REGION, "--endpoint-url", "not a url"),
        "--endpoint-url: 'not a url' is not an http(s) URL",
    ),
    Case(
        "aws-endpoint-ftp",
        "endpoint-url-not-url",
        ("collect", "aws", "--endpoint-url", "ftp://127.0.0.1/"),
        "--endpoint-url: 'ftp://127.0.0.1/' is not an http(s) URL",
    ),
    Case(
        "aws-endpoint-port",
        "endpoint-url-not-url",
        ("scan", "aws", "--endpoint-url", "http://127.0.0.1:99999"),
        "--endpoint-url: 'http://127.0.0.1:99999' is not a valid URL",
    ),
    Case(
        "aws-endpoint-password",
        "url-credentials",
        ("scan", "aws", "--endpoint-url", "http://audit:Hunter2-pass@bad host/"),
        "'http://***@bad host/' is not an http(s) URL",
    ),
    Case(
        "aws-endpoint-variable",
        "endpoint-url-not-url",
        ("scan", "aws", "--region", REGION),
        "AWS_ENDPOINT_URL: 'garbage' is not an http(s) URL",
        env={"AWS_ENDPOINT_URL": "garbage"},
    ),
    Case(
        "aws-config-broken",
        "broken-aws-config",
        ("scan", "aws", "--region", REGION),
        "aws: cannot parse the AWS config file",
        files={"config": b"[default\nregion=x\n"},
        env={"AWS_CONFIG_FILE": "{dir}/config", "AWS_PROFILE": None},
    ),
    Case(
        "aws-region-name",
        "usage",
        ("scan", "aws", "--region", "eu central 1"),
        "--region: 'eu central 1' is not an AWS region name",
    ),
    Case(
        "azure-endpoint-not-a-url",
        "endpoint-url-not-url",
        ("scan", "azure", "--endpoint", "management.azure.com"),
        "--endpoint: 'management.azure.com' is not an http(s) URL",
    ),
    Case(
        "gcp-endpoint-not-a-url",
        "endpoint-url-not-url",
        ("collect", "gcp", "--project", "p", "--endpoint", "https://"),
        "--endpoint: 'https://' is not an http(s) URL",
    ),
    Case("timeout-zero", "usage", ("scan", "gcp", "--timeout", "0"), "'--timeout'"),
]

#: Cases that succeed in part: the run goes on, one stderr line says what was lost.
DEGRADE_CASES = [
    Case(
        "tf-unparsable-file",
        "unparsable-tf",
        ("scan", "terraform", "{dir}/plan.json", "--tf-dir", "{dir}/tf"),
        "tf/zz.tf: cannot parse HCL at line 3 column 1; its findings are reported without",
        code=1,
        files={
            "plan.json": plan(),
            "tf/main.tf": (TF / "aws-broken" / "main.tf").read_bytes(),
            "tf/zz.tf": b"locals {\n  x = [for\n",
        },
    ),
    Case(
        "tf-dir-named-dot-tf",
        "tf-dir-is-dir",
        ("scan", "terraform", "{dir}/plan.json", "--tf-dir", "{dir}/tf"),
        None,
        code=1,
        files={
            "plan.json": plan(),
            "tf/main.tf": (TF / "aws-broken" / "main.tf").read_bytes(),
            "tf/modules.tf/readme": b"",
        },
    ),
]

FILE_CASES = [*PLAN_CASES, *SNAPSHOT_CASES, *PROFILE_CASES, *CLI_CASES, *DEGRADE_CASES]


# --------------------------------------------------------------------- runner


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def _expand(text: str, directory: Path, url: str) -> str:
    return text.replace("{dir}", str(directory)).replace("{url}", url)


def _prepare(case: Case, directory: Path) -> Path:
    for name, data in case.files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    report = directory / "report.json"
    if case.output:
        report.write_bytes(OLD_REPORT)
    return report


def _listing(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def run_case(
    case: Case,
    directory: Path,
    url: str = "",
    env: Mapping[str, str | None] | None = None,
    in_process: bool = True,
) -> Outcome:
    """Run ``case`` and check everything every case must satisfy."""
    directory.mkdir(parents=True, exist_ok=True)
    report = _prepare(case, directory)
    before = _listing(directory)
    args = [_expand(a, directory, url) for a in case.args]
    if case.output:
        args += ["-o", str(report)]
    run_env = {**(env or {})}
    run_env.update(
        {k: None if v is None else _expand(v, directory, url) for k, v in case.env.items()}
    )
    outcome = (_in_process if in_process else _subprocess)(args, run_env)

    assert outcome.code == case.code, (case.id, outcome.stderr, outcome.stdout[-2000:])
    assert "Traceback" not in outcome.stderr + outcome.stdout
    if case.message is None:
        assert outcome.stderr == "", outcome.stderr
    else:
        assert outcome.stderr.endswith("\n") and outcome.stderr.count("\n") == 1, outcome.stderr
        line = outcome.stderr.rstrip("\n")
        assert case.message in line, (case.id, line)
        assert len(line) <= MAX_LINE, len(line)
        assert line.isprintable(), repr(line)  # no raw control character or escape
    if case.output:
        if case.code == 2:
            assert report.read_bytes() == OLD_REPORT  # untouched, not truncated
        else:
            assert report.read_bytes() != OLD_REPORT  # the run's report replaced it whole
            json.loads(report.read_bytes())
    assert _listing(directory) == before, _listing(directory) ^ before  # no stray file
    return outcome


def _in_process(args: list[str], env: Mapping[str, str | None]) -> Outcome:
    result = CliRunner().invoke(
        cli, args, env=dict(env), catch_exceptions=True, prog_name="policycheck"
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # an exception that escaped the CLI: show its traceback
    return Outcome(result.exit_code, result.stdout, result.stderr)


def _subprocess(args: list[str], env: Mapping[str, str | None]) -> Outcome:
    full = {k: v for k, v in os.environ.items() if k not in env}
    full.update({k: v for k, v in env.items() if v is not None})
    proc = subprocess.run(
        [sys.executable, "-m", "policycheck", *args],
        env=full,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def _diff_env(full: Mapping[str, str]) -> dict[str, str | None]:
    """``full`` as changes to this process's environment (None: unset)."""
    changes: dict[str, str | None] = {k: None for k in os.environ if k not in full}
    changes.update({k: v for k, v in full.items() if os.environ.get(k) != v})
    return changes


#: No command of the corpus may read the machine's own cloud settings.
CLEAN_ENV: dict[str, str | None] = {
    **{k: None for k in os.environ if k.startswith(("AWS_", "AZURE_", "GOOGLE_"))},
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "POLICYCHECK_MAX_INPUT": None,
}


@pytest.mark.parametrize("case", FILE_CASES, ids=str)
def test_file_and_option_case(case: Case, tmp_path: Path) -> None:
    run_case(case, tmp_path, env=CLEAN_ENV)


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in FILE_CASES
        if c.id
        in {
            "plan-nested-100000",
            "plan-aws-private-ip-300",
            "snap-schema-true",
            "profile-utf16-broken",
            "profile-date-13-45",
            "out-missing-dir",
            "category-newline",
            "aws-config-broken",
            "aws-endpoint-password",
            "tf-unparsable-file",
            "format-unknown",
        }
    ],
    ids=str,
)
def test_subprocess_cases(case: Case, tmp_path: Path) -> None:
    """The same checks on real processes: what a user and CI see."""
    run_case(case, tmp_path, env=CLEAN_ENV, in_process=False)


# ------------------------------------------------------------------ clouds

#: A misbehaviour for one of two scopes -> the fragment of the "incomplete" line.
PARTIAL = {
    "aws": {
        "html": "NotTheService: describe_vpcs: the answer carries no request id",
        "garbage": "ResponseParserError: the endpoint did not answer in the service's format",
        "truncated": "ResponseParserError",
        "close": "ConnectionClosedError: Connection was closed before we received",
        "500": "500",
        "429": "HTTP 429",
        "hang": "ReadTimeoutError: Read timeout on endpoint URL",
    },
    "azure": {
        "html": "unexpected ARM response",
        "garbage": "unexpected ARM response",
        "truncated": "unexpected ARM response: ('Connection broken: IncompleteRead(50 bytes read",
        "close": "ServiceResponseError",
        "500": "HTTP 500",
        "429": "HTTP 429",
        "hang": "ServiceResponseTimeoutError",
    },
    "gcp": {
        "html": "unreadable response",
        "garbage": "unreadable response",
        "truncated": "network error reaching Google APIs",
        "close": "network error reaching Google APIs: ConnectionError",
        "500": "HTTP 500",
        "429": "HTTP 429",
        "hang": "network error reaching Google APIs: ReadTimeout",
    },
}


def _cloud_case(cloud: str, mode: str, args: tuple[str, ...], failing: str) -> Case:
    message = f"policycheck: incomplete: {cloud} {failing}: {PARTIAL[cloud][mode]}"
    return Case(f"{cloud}-{mode}", mode, (*args, "--timeout", "1"), message, code=3)


# AWS: moto server behind the fault proxy; eu-central-1 holds the reference estate.

AWS_SCAN = (
    "scan",
    "aws",
    "--endpoint-url",
    "{url}",
    "--region",
    REGION,
    "--region",
    OTHER_REGION,
    "--format",
    "json",
)


@pytest.fixture
def aws_world(proxy: tuple[str, Faults], tmp_path: Path) -> tuple[str, Faults, dict[str, Any]]:
    url, faults = proxy
    build_estate(ec2_client(url, REGION), "broken")
    return url, faults, _diff_env(aws_env(tmp_path, **fake_credentials()))


@pytest.mark.parametrize("mode", list(PARTIAL["aws"]))
def test_aws_region_answering_badly_is_incomplete(
    aws_world: tuple[str, Faults, dict[str, Any]], tmp_path: Path, mode: str
) -> None:
    url, faults, env = aws_world
    faults.misbehaviour[OTHER_REGION] = Misbehaviour(mode)
    case = _cloud_case("aws", mode, AWS_SCAN, f"{ACCOUNT}/{OTHER_REGION}")
    outcome = run_case(case, tmp_path / "run", url, env)
    assert json.loads((tmp_path / "run" / "report.json").read_bytes())["summary"]["vms"] == 1
    assert not any(s in outcome.stdout + outcome.stderr for s in SECRETS)


def test_aws_nothing_readable_is_exit_2(
    aws_world: tuple[str, Faults, dict[str, Any]], tmp_path: Path
) -> None:
    url, faults, env = aws_world
    faults.misbehaviour["*"] = Misbehaviour("html")
    case = Case(
        "aws-all-html",
        "no-scope",
        AWS_SCAN,
        "aws: nothing could be read, so nothing was checked: caller/*: KeyError",
    )
    run_case(case, tmp_path, url, env)


def test_aws_refused_connection_is_exit_2(
    aws_world: tuple[str, Faults, dict[str, Any]], tmp_path: Path
) -> None:
    _, _, env = aws_world
    case = Case(
        "aws-refused",
        "connection-refused",
        AWS_SCAN,
        "aws: nothing could be read, so nothing was checked: caller/*: "
        "EndpointConnectionError: Could not connect to the endpoint URL",
    )
    run_case(case, tmp_path, _closed_port(), env)


def test_aws_throttling_and_5xx_are_retried(
    aws_world: tuple[str, Faults, dict[str, Any]], tmp_path: Path
) -> None:
    url, faults, env = aws_world
    # EC2 throttles with 503 RequestLimitExceeded; a gateway fails with a bare 503.
    faults.throttle["DescribeInstances"] = 2
    faults.misbehaviour[OTHER_REGION] = Misbehaviour("503", times=2)
    run_case(Case("aws-throttled", "429", AWS_SCAN, None, code=1), tmp_path, url, env)
    assert faults.throttle["DescribeInstances"] == 0
    assert faults.misbehaviour[OTHER_REGION].served == 2


# Azure: the fake ARM; BROKEN holds the reference estate, OTHER misbehaves.

AZ_BROKEN = "b0000000-0000-4000-8000-000000000001"
AZ_OTHER = "f0000000-0000-4000-8000-000000000001"
AZURE_SCAN = (
    "scan",
    "azure",
    "--endpoint",
    "{url}",
    "--no-instance-discovery",
    "--subscription",
    AZ_BROKEN,
    "--subscription",
    AZ_OTHER,
    "--format",
    "json",
)


def _azure_env(arm: FakeArm) -> dict[str, str | None]:
    return {**{k: None for k in os.environ if k.startswith("AZURE_")}, **arm.env()}


@pytest.mark.parametrize("mode", list(PARTIAL["azure"]))
def test_azure_subscription_answering_badly_is_incomplete(
    fake_arm: FakeArm,
    tmp_path: Path,
    mode: str,
) -> None:
    fake_arm.misbehave(AZ_OTHER, mode)
    case = _cloud_case("azure", mode, AZURE_SCAN, AZ_OTHER)
    outcome = run_case(case, tmp_path, fake_arm.url, _azure_env(fake_arm))
    assert json.loads((tmp_path / "report.json").read_bytes())["summary"]["vms"] == 1
    for secret in (CLIENT_SECRET, ACCESS_TOKEN):
        assert secret not in outcome.stdout + outcome.stderr


def test_azure_nothing_readable_is_exit_2(fake_arm: FakeArm, tmp_path: Path) -> None:
    fake_arm.misbehave("*", "garbage")
    case = Case(
        "azure-all-garbage",
        "no-scope",
        AZURE_SCAN,
        f"azure: nothing could be read, so nothing was checked: {AZ_BROKEN}: "
        "unexpected ARM response",
    )
    run_case(case, tmp_path, fake_arm.url, _azure_env(fake_arm))


def test_azure_refused_connection_is_exit_2(fake_arm: FakeArm, tmp_path: Path) -> None:
    # The token still comes from the fake authority; ARM itself refuses connections.
    case = Case(
        "azure-refused",
        "connection-refused",
        AZURE_SCAN,
        f"azure: nothing could be read, so nothing was checked: {AZ_BROKEN}: ServiceRequestError",
    )
    run_case(case, tmp_path, _closed_port(), _azure_env(fake_arm))


def test_azure_throttling_once_is_retried(fake_arm: FakeArm, tmp_path: Path) -> None:
    fake_arm.misbehave(AZ_BROKEN, "429", times=1)
    args = (*AZURE_SCAN[:5], "--subscription", AZ_BROKEN, "--format", "json")
    run_case(
        Case("azure-429-once", "429", args, None, code=1),
        tmp_path,
        fake_arm.url,
        _azure_env(fake_arm),
    )
    assert fake_arm.misbehaviour[AZ_BROKEN].served == 1


# GCP: the fake Compute API; swyx-broken holds the reference estate.

GCP_SCAN = (
    "scan",
    "gcp",
    "--endpoint",
    "{url}",
    "--project",
    "swyx-broken",
    "--project",
    "swyx-compliant",
    "--format",
    "json",
)


@pytest.fixture
def gcp_world(gcp_fake: FakeCompute, tmp_path: Path) -> tuple[FakeCompute, dict[str, Any]]:
    gcp_fake.serve_estate("broken")
    gcp_fake.serve_estate("compliant")
    key = gcp_fake.service_account(tmp_path, "swyx-broken")
    return gcp_fake, _diff_env(isolated_env(tmp_path, key.path))


@pytest.mark.parametrize("mode", list(PARTIAL["gcp"]))
def test_gcp_project_answering_badly_is_incomplete(
    gcp_world: tuple[FakeCompute, dict[str, Any]], tmp_path: Path, mode: str
) -> None:
    fake, env = gcp_world
    fake.misbehave("projects/swyx-compliant", mode)
    case = _cloud_case("gcp", mode, GCP_SCAN, "swyx-compliant")
    outcome = run_case(case, tmp_path / "run", fake.url, env)
    assert json.loads((tmp_path / "run" / "report.json").read_bytes())["summary"]["vms"] == 1
    assert not any(token in outcome.stdout + outcome.stderr for token in fake.issued_tokens)


def test_gcp_nothing_readable_is_exit_2(
    gcp_world: tuple[FakeCompute, dict[str, Any]], tmp_path: Path
) -> None:
    fake, env = gcp_world
    fake.misbehave("projects/", "html")
    case = Case(
        "gcp-all-html",
        "no-scope",
        GCP_SCAN,
        "gcp: nothing could be read, so nothing was checked: swyx-broken: unreadable response",
    )
    run_case(case, tmp_path / "run", fake.url, env)


def test_gcp_refused_connection_is_exit_2(
    gcp_world: tuple[FakeCompute, dict[str, Any]], tmp_path: Path
) -> None:
    _, env = gcp_world
    case = Case(
        "gcp-refused",
        "connection-refused",
        GCP_SCAN,
        "gcp: nothing could be read, so nothing was checked: swyx-broken: "
        "network error reaching Google APIs: ConnectionError",
    )
    run_case(case, tmp_path / "run", _closed_port(), env)


def test_gcp_throttling_once_is_retried(
    gcp_world: tuple[FakeCompute, dict[str, Any]], tmp_path: Path
) -> None:
    fake, env = gcp_world
    fake.misbehave("projects/swyx-broken", "429", times=1)
    run_case(Case("gcp-429-once", "429", GCP_SCAN, None, code=1), tmp_path / "run", fake.url, env)
    assert fake.misbehaviour["projects/swyx-broken"].served == 1


def _closed_port() -> str:
    """The URL of a port nobody listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# ------------------------------------------------------------------ coverage

#: The classes of issue 10, each of which the corpus must exercise.
REQUIRED_KINDS = {
    # 1. never an internal error
    "huge-integer",
    "deep-plan",
    "deep-profile",
    "bad-vm-address",
    "bad-snapshot-cidr",
    "impossible-date",
    "binary-profile",
    "utf16-profile",
    "output-dir-missing",
    "endpoint-url-not-url",
    "broken-aws-config",
    # 2. every known value validated
    "address",
    "port-range",
    "schema-version",
    "profile-check-equals-scan",
    # 3. bounded and safe output
    "long-value",
    "control-chars",
    "category",
    "url-credentials",
    "output-is-input",
    "size-limit",
    "endless-input",
    # 4. degrade where the user is not at fault
    "unparsable-tf",
    "tf-dir-is-dir",
    "connection-refused",
    "no-scope",
    # 5. cloud answers
    "html",
    "garbage",
    "truncated",
    "close",
    "hang",
    "429",
    "500",
}
#: Kinds of the cloud tests above: per cloud, every misbehaviour, nothing read, refused.
CLOUD_CASES = [
    (cloud, kind)
    for cloud in PARTIAL
    for kind in [*PARTIAL[cloud], "no-scope", "connection-refused"]
]


def test_the_corpus_covers_every_class() -> None:
    kinds = {c.kind for c in FILE_CASES} | {kind for _, kind in CLOUD_CASES}
    assert kinds >= REQUIRED_KINDS, REQUIRED_KINDS - kinds
    assert len(FILE_CASES) + len(CLOUD_CASES) >= 80
    assert len({c.id for c in FILE_CASES}) == len(FILE_CASES)  # ids name one case each


# ---------------------------------------------------------------- must show


#: Runs a command and prints its peak RSS (KiB). A small parent of its own: a child's
#: peak counts the memory it had before exec, which would be the test worker's.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _run_measured(args: list[str], stdin: int | None = None) -> tuple[int, str, int]:
    """Exit code, stderr and peak memory (KiB) of one policycheck process."""
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-m", "policycheck", *args],
        cwd=REPO,
        stdin=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "POLICYCHECK_MAX_INPUT": "64M"},
        timeout=60,  # a hang guard, not a speed claim
        check=True,
    )
    code, peak = proc.stdout.split()
    return int(code), proc.stderr, int(peak)


def test_dev_zero_is_refused_without_reading_it() -> None:
    code, stderr, peak_kib = _run_measured(["scan", "terraform", "/dev/zero"])
    assert code == 2
    assert stderr == "policycheck: error: /dev/zero: is a device, not a plan file\n"
    print(f"scan terraform /dev/zero: peak RSS {peak_kib / 1024:.0f} MiB")
    assert peak_kib < 100 * 1024  # the interpreter and policycheck, no input buffer


def test_an_endless_pipe_is_cut_at_the_size_limit() -> None:
    """``cat /dev/zero | policycheck scan terraform /dev/stdin``: read up to the limit
    (64 MiB here), then refused; memory stays proportional to the limit."""
    with open("/dev/zero", "rb") as zeros:
        feeder = subprocess.Popen(["cat"], stdin=zeros, stdout=subprocess.PIPE)
        assert feeder.stdout is not None
        code, stderr, peak_kib = _run_measured(
            ["scan", "terraform", "/dev/stdin"], stdin=feeder.stdout.fileno()
        )
        feeder.kill()
        feeder.wait()
    assert code == 2
    assert stderr.startswith("policycheck: error: /dev/stdin: the plan is larger than 64 MiB")
    assert stderr.count("\n") == 1
    print(f"endless pipe: peak RSS {peak_kib / 1024:.0f} MiB")
    assert 64 * 1024 < peak_kib < (100 + 2 * 64) * 1024


PASSWORD = "Pa55-w0rd-do-not-print"


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "markdown", "snapshot"])
def test_a_password_in_aws_endpoint_url_is_never_printed(
    aws_world: tuple[str, Faults, dict[str, Any]], tmp_path: Path, fmt: str
) -> None:
    """The endpoint URL reaches messages (a closed connection names it) and, through
    the collection error, every report format and the snapshot; its password never."""
    url, faults, env = aws_world
    faults.misbehaviour[OTHER_REGION] = Misbehaviour("close")
    with_password = url.replace("http://", f"http://auditor:{PASSWORD}@")
    out = tmp_path / "out"
    regions = ["--region", REGION, "--region", OTHER_REGION]
    if fmt == "snapshot":
        args = ["collect", "aws", *regions, "-o", str(out)]
    else:
        args = ["scan", "aws", *regions, "--format", fmt, "-o", str(out)]
    outcome = _subprocess(args, {**env, "AWS_ENDPOINT_URL": with_password})
    assert outcome.code == 3, outcome.stderr
    written = out.read_text()
    for text in (outcome.stdout, outcome.stderr, written):
        assert PASSWORD not in text and "auditor:" not in text
    # The URL itself is still shown, without its credentials, so the test can fail.
    assert "http://***@127.0.0.1:" in outcome.stderr
    assert "@127.0.0.1:" in written  # (Markdown escapes the asterisks)


# ------------------------------------------------------------ what is accepted


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-16"),  # PowerShell 5 `>` and Out-File: UTF-16LE with BOM
        lambda t: t.encode("utf-16-le"),  # the same without its BOM
        lambda t: t.encode("utf-16-be"),
        lambda t: b"\xef\xbb\xbf" + t.encode(),  # Notepad's UTF-8 with BOM
        lambda t: t.encode("utf-32"),
        lambda t: t.replace("\n", "\r\n").encode(),  # Windows line ends
    ],
    ids=["utf16-bom", "utf16le", "utf16be", "utf8-bom", "utf32", "crlf"],
)
def test_windows_encodings_read_like_utf8(encode: Callable[[str], bytes], tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_bytes(encode("sdc: true\nparameters:\n  RTPFirstPort: 40000\n"))
    inventory = tmp_path / "inv.json"
    inventory.write_bytes(encode(_snapshot_doc()))
    args = ["scan", "snapshot", str(inventory), "--profile", str(profile), "--format", "json"]
    result = _in_process(args, CLEAN_ENV)
    assert result.code == 1 and result.stderr == "", result.stderr
    assert _in_process(["profile", "check", str(profile)], CLEAN_ENV).code == 0


@pytest.mark.parametrize(
    "profile",
    [
        b"parameters:\n  RTPFirstPort: -1\n",
        b"parameters:\n  RTPFirstPort: 40000\n  RTPLastPort: 30000\n",
        b"role_parameters:\n  swyxware-server: {RTPFirstPort: 65535, RTPLastPort: 65536}\n",
        b"suppressions:\n  - {reason: later, expires: 2025-02-30}\n",
        b"sdc: true\n",  # and a valid one is valid for both
    ],
)
def test_profile_check_runs_the_scans_validation(profile: bytes, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(profile)
    (tmp_path / "plan.json").write_bytes(plan())
    check = _in_process(["profile", "check", str(path)], CLEAN_ENV)
    scan = _in_process(
        ["scan", "terraform", str(tmp_path / "plan.json"), "--profile", str(path)], CLEAN_ENV
    )
    if check.code == 0:
        assert check.stdout == f"{path}: valid\n" and scan.code == 1
    else:
        assert (check.code, scan.code) == (2, 2)
        assert check.stderr == scan.stderr  # the very same line


HOSTILE_NAME = "\x1b[2J\x1b]0;owned\x07pbx\u202e1\nforged line http://admin:Secr3t-x@10.0.0.5/"


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "markdown"])
def test_names_from_input_reach_reports_neutralized(fmt: str, tmp_path: Path) -> None:
    """Control characters, ANSI/OSC escapes, bidi overrides, newlines and URL
    credentials in VM names and rule descriptions never reach a report raw."""

    def hostile(doc: dict[str, Any]) -> None:
        doc["vms"][0]["name"] = HOSTILE_NAME
        for rule in doc["firewalls"][0]["rules"]:
            rule["description"] = HOSTILE_NAME
            rule["name"] = HOSTILE_NAME

    path = tmp_path / "inv.json"
    path.write_bytes(snap(hostile))
    result = _in_process(["scan", "snapshot", str(path), "--format", fmt], CLEAN_ENV)
    assert result.code == 1, result.stderr
    text = result.stdout
    assert all(c.isprintable() or c in "\n" for c in text), {c for c in text if not c.isprintable()}
    assert "Secr3t-x" not in text and "forged line" in text
    if fmt == "text":
        assert "\\x1b[2J" in text and "\\u202e" in text  # shown, not obeyed
    if fmt == "markdown":
        assert "x1b\\[2J" in text and "u202e" in text  # shown (and Markdown-escaped)


# ------------------------------------------- malformed values in cloud answers

BAD_IP = "10.0.1.300"
_EC2_INSTANCE_WITH_BAD_IP = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
    "<requestId>proxy</requestId><reservationSet><item><reservationId>r-1</reservationId>"
    "<instancesSet><item><instanceId>i-0bad</instanceId>"
    "<instanceState><code>16</code><name>running</name></instanceState>"
    f"<privateIpAddress>{BAD_IP}</privateIpAddress></item></instancesSet></item>"
    "</reservationSet></DescribeInstancesResponse>"
).encode()


def test_aws_malformed_instance_address_spoils_its_region(
    aws_world: tuple[str, Faults, dict[str, Any]], tmp_path: Path
) -> None:
    url, faults, env = aws_world
    faults.replace[(OTHER_REGION, "DescribeInstances")] = _EC2_INSTANCE_WITH_BAD_IP
    message = (
        f"policycheck: incomplete: aws {ACCOUNT}/{OTHER_REGION}: "
        f"VM addresses.0: invalid IP address '{BAD_IP}'"
    )
    run_case(Case("aws-bad-ip", "bad-vm-address", AWS_SCAN, message, code=3), tmp_path, url, env)


def _azure_estate_with(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """The broken estate for AZ_BROKEN and, for AZ_OTHER, a copy with ``old`` replaced."""
    estate = tmp_path / "estate"
    source = azure_fake.FIXTURES / "broken" / AZ_BROKEN
    shutil.copytree(source, estate / AZ_BROKEN)
    shutil.copytree(source, estate / AZ_OTHER)
    path = estate / AZ_OTHER / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return estate


@pytest.mark.parametrize(
    ("file", "old", "new", "problem"),
    [
        (
            "networkInterfaces.json",
            '"10.0.1.10"',
            f'"{BAD_IP}"',
            f"VM addresses.0: invalid IP address '{BAD_IP}'",
        ),
        (
            "virtualNetworks.json",
            '"10.0.0.0/16"',
            '"10.0.0.0/33"',
            "Network address_spaces.0: invalid CIDR '10.0.0.0/33'",
        ),
    ],
    ids=["nic-ip", "vnet-space"],
)
def test_azure_malformed_address_spoils_its_subscription(
    fake_arm: FakeArm,
    tmp_path: Path,
    file: str,
    old: str,
    new: str,
    problem: str,
) -> None:
    fake_arm.use_estate(_azure_estate_with(tmp_path, file, old, new))
    message = f"policycheck: incomplete: azure {AZ_OTHER}: unexpected ARM response: {problem}"
    case = Case("azure-bad-address", "address", AZURE_SCAN, message, code=3)
    run_case(case, tmp_path / "run", fake_arm.url, _azure_env(fake_arm))


def test_gcp_malformed_instance_address_spoils_its_project(
    gcp_world: tuple[FakeCompute, dict[str, Any]], tmp_path: Path
) -> None:
    fake, env = gcp_world
    project = tmp_path / "swyx-compliant"
    shutil.copytree(fake.roots["projects/swyx-compliant"], project)
    instances = project / "aggregated" / "instances.json"
    doc = json.loads(instances.read_text())
    for scoped in doc["items"].values():
        for instance in scoped.get("instances", []):
            instance["networkInterfaces"][0]["networkIP"] = BAD_IP
    instances.write_text(json.dumps(doc))
    fake.roots["projects/swyx-compliant"] = project
    message = (
        "policycheck: incomplete: gcp swyx-compliant: unreadable response: "
        f"VM addresses.0: invalid IP address '{BAD_IP}'"
    )
    run_case(
        Case("gcp-bad-ip", "bad-vm-address", GCP_SCAN, message, code=3),
        tmp_path / "run",
        fake.url,
        env,
    )
