"""`policycheck collect aws` / `scan aws` as a user runs them: a subprocess talking
HTTP to moto in server mode on 127.0.0.1, through the fault-injecting proxy of
aws_fake.py where a failure is needed."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest
from aws_estate import build_estate
from aws_fake import (
    ACCESS_KEY,
    ACCOUNT,
    OTHER_REGION,
    REGION,
    SECRET_KEY,
    SECRETS,
    Faults,
    aws_env,
    ec2_client,
    fake_credentials,
    moto,
    moto_url,
    proxy,
)

from policycheck import progress
from policycheck.errors import InputError
from policycheck.sources import snapshot
from policycheck.sources.aws import AwsOptions, collect

__all__ = ["moto", "moto_url", "proxy"]  # fixtures, imported so pytest finds them


def _policycheck(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policycheck", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# ------------------------------------------------------------------------- tests


def test_collect_aws_writes_the_estate_snapshot(moto: str, tmp_path: Path) -> None:
    ids = build_estate(ec2_client(moto), "broken")
    out = tmp_path / "inv.json"
    args = ["collect", "aws", "--endpoint-url", moto, "--region", REGION, "-o", str(out)]
    run = _policycheck(args, aws_env(tmp_path, **fake_credentials()), tmp_path)
    assert run.returncode == 0, run.stderr
    inv = snapshot.load(out)
    assert [(vm.id, vm.name, vm.addresses) for vm in inv.vms] == [
        (ids["instance_id"], "pbx1", ("10.0.1.10",))
    ]
    pbx = next(f for f in inv.firewalls if f.id == ids["sg_id"])
    assert sorted(r.description or "egress" for r in pbx.rules) == [
        "B1", "B2", "B3", "B4", "B5", "B5", "B6", "B7", "egress",
    ]  # fmt: skip
    assert inv.errors == []
    assert run.stderr == ""  # stderr is a pipe: no progress display
    _assert_no_secret(run.stdout, run.stderr, out.read_text())


def test_endpoint_from_aws_endpoint_url_is_honoured(moto: str, tmp_path: Path) -> None:
    """Without --endpoint-url botocore's own AWS_ENDPOINT_URL setting applies."""
    ids = build_estate(ec2_client(moto), "compliant")
    out = tmp_path / "inv.json"
    env = aws_env(tmp_path, AWS_ENDPOINT_URL=moto, **fake_credentials())
    run = _policycheck(["collect", "aws", "--region", REGION, "-o", str(out)], env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert [vm.id for vm in snapshot.load(out).vms] == [ids["instance_id"]]


def test_one_broken_region_is_isolated_in_process(proxy: tuple[str, Faults]) -> None:
    url, faults = proxy
    ids = build_estate(ec2_client(url, REGION), "broken")
    faults.broken_regions.add(OTHER_REGION)
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    inv = collect(AwsOptions(regions=[REGION, OTHER_REGION], session=session, endpoint_url=url))
    assert [vm.id for vm in inv.vms] == [ids["instance_id"]]
    assert [(e.provider, e.scope) for e in inv.errors] == [("aws", f"{ACCOUNT}/{OTHER_REGION}")]
    assert inv.errors[0].message.startswith("UnauthorizedOperation: You are not authorized")
    assert inv.sources == [f"aws:{ACCOUNT}/{REGION}"]


def test_malformed_response_spoils_only_its_region(proxy: tuple[str, Faults]) -> None:
    url, faults = proxy
    ids = build_estate(ec2_client(url, REGION), "broken")
    # A rule without its SecurityGroupRuleId cannot be attributed: the region is reported.
    faults.replace[(OTHER_REGION, "DescribeSecurityGroupRules")] = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<DescribeSecurityGroupRulesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        b"<requestId>proxy</requestId><securityGroupRuleSet><item>"
        b"<groupId>sg-1</groupId><isEgress>false</isEgress><ipProtocol>tcp</ipProtocol>"
        b"<fromPort>22</fromPort><toPort>22</toPort><cidrIpv4>0.0.0.0/0</cidrIpv4>"
        b"</item></securityGroupRuleSet></DescribeSecurityGroupRulesResponse>"
    )
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    inv = collect(AwsOptions(regions=[REGION, OTHER_REGION], session=session, endpoint_url=url))
    assert [vm.id for vm in inv.vms] == [ids["instance_id"]]
    assert [(e.scope, e.message) for e in inv.errors] == [
        (f"{ACCOUNT}/{OTHER_REGION}", "KeyError: 'SecurityGroupRuleId'")
    ]


def test_a_role_that_cannot_be_assumed_is_reported_and_others_read(
    proxy: tuple[str, Faults],
) -> None:
    url, faults = proxy
    ids = build_estate(ec2_client(url, REGION), "broken")
    good = f"arn:aws:iam::{ACCOUNT}:role/audit"
    bad = "arn:aws:iam::222222222222:role/audit"
    faults.refuse_bodies[quote(bad, safe="")] = "AccessDenied"
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    inv = collect(
        AwsOptions(regions=[REGION], role_arns=[good, bad], session=session, endpoint_url=url)
    )
    assert [vm.id for vm in inv.vms] == [ids["instance_id"]]
    assert [(e.scope, e.message) for e in inv.errors] == [
        ("222222222222/*", "AccessDenied: AccessDenied here")
    ]
    # The assumed role's temporary keys are secrets too; none may reach a message.
    _assert_no_secret(inv.model_dump_json())


def test_collect_aws_exits_3_and_keeps_the_readable_region(
    proxy: tuple[str, Faults], tmp_path: Path
) -> None:
    url, faults = proxy
    ids = build_estate(ec2_client(url, REGION), "broken")
    faults.broken_regions.add(OTHER_REGION)
    out = tmp_path / "inv.json"
    args = ["collect", "aws", "--endpoint-url", url, "-o", str(out)]
    args += ["--region", REGION, "--region", OTHER_REGION]
    run = _policycheck(args, aws_env(tmp_path, **fake_credentials()), tmp_path)
    assert run.returncode == 3, run.stderr
    assert f"incomplete: aws {ACCOUNT}/{OTHER_REGION}: UnauthorizedOperation" in run.stderr
    inv = snapshot.load(out)
    assert [vm.id for vm in inv.vms] == [ids["instance_id"]]
    assert len(inv.errors) == 1
    _assert_no_secret(run.stdout, run.stderr, out.read_text())


def test_missing_credentials_exit_2_with_one_line(moto: str, tmp_path: Path) -> None:
    out = tmp_path / "inv.json"
    run = _policycheck(
        ["collect", "aws", "--endpoint-url", moto, "--region", REGION, "-o", str(out)],
        aws_env(tmp_path),
        tmp_path,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("policycheck: error: aws: no AWS credentials found")
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("code", "sentence"),
    [
        ("ExpiredToken", "aws: the AWS credentials have expired"),
        ("InvalidClientTokenId", "aws: the AWS credentials were rejected (InvalidClientTokenId)"),
    ],
)
def test_rejected_credentials_exit_2_without_leaking_them(
    proxy: tuple[str, Faults], tmp_path: Path, code: str, sentence: str
) -> None:
    url, faults = proxy
    faults.rejected_keys[ACCESS_KEY] = code
    out = tmp_path / "inv.json"
    run = _policycheck(
        ["collect", "aws", "--endpoint-url", url, "--region", REGION, "-o", str(out)],
        aws_env(tmp_path, **fake_credentials()),
        tmp_path,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith(f"policycheck: error: {sentence}")
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    _assert_no_secret(run.stdout, run.stderr)


def test_unknown_aws_profile_exit_2(tmp_path: Path) -> None:
    run = _policycheck(
        ["collect", "aws", "--aws-profile", "nope", "--region", REGION, "-o", "x.json"],
        aws_env(tmp_path),
        tmp_path,
    )
    assert run.returncode == 2
    assert run.stderr == "policycheck: error: aws: AWS profile 'nope' not found in the AWS config\n"


def test_throttling_is_retried_and_succeeds(proxy: tuple[str, Faults]) -> None:
    url, faults = proxy
    ids = build_estate(ec2_client(url, REGION), "compliant")
    faults.seen.clear()
    # One throttle costs up to ~2 s with the adaptive retry mode's rate limiter
    # (botocore's minimum refill rate is 0.5 requests/s), so one is enough here.
    faults.throttle.update({"DescribeInstances": 1})
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    inv = collect(AwsOptions(regions=[REGION], session=session, endpoint_url=url))
    assert faults.throttle == {"DescribeInstances": 0}
    assert faults.seen["DescribeInstances"] == 2  # refused once, then answered
    assert inv.errors == []
    assert [vm.id for vm in inv.vms] == [ids["instance_id"]]
    assert len(next(f for f in inv.firewalls if f.id == ids["sg_id"]).rules) == 11


def test_scan_aws_reports_the_broken_estate(moto: str, tmp_path: Path) -> None:
    build_estate(ec2_client(moto), "broken")
    run = _policycheck(
        ["scan", "aws", "--endpoint-url", moto, "--region", REGION, "--format", "json"],
        aws_env(tmp_path, **fake_credentials()),
        tmp_path,
    )
    assert run.returncode == 1, run.stderr
    rule_ids = {f["rule_id"] for f in json.loads(run.stdout)["findings"]}
    assert {"SWYX001", "SWYX002", "SWYX004"} <= rule_ids
    _assert_no_secret(run.stdout, run.stderr)


def test_collect_raises_input_error_in_process_without_credentials(
    moto: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in aws_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InputError, match=r"^aws: no AWS credentials found"):
        collect(AwsOptions(regions=[REGION], endpoint_url=moto, session=boto3.Session()))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress.wanted(quiet=False)
    assert not progress.wanted(quiet=True)
    monkeypatch.setenv("CI", "true")
    assert not progress.wanted(quiet=False)
    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress.wanted(quiet=False)
