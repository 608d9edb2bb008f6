"""`policycheck collect aws` / `scan aws` as a user runs them: a subprocess talking
HTTP to moto in server mode on 127.0.0.1.

Failures that moto cannot produce on demand (throttling, one broken region,
rejected credentials) come from a small fault-injecting proxy in front of the
moto server: it answers with the error documents EC2 and STS really send, and
forwards everything else. The SDK is never patched; it simply talks to the proxy.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import boto3
import pytest
from aws_estate import build_estate
from moto.server import ThreadedMotoServer

from policycheck import progress
from policycheck.errors import InputError
from policycheck.sources import snapshot
from policycheck.sources.aws import AwsOptions, collect

REGION = "eu-central-1"
OTHER_REGION = "eu-west-1"
ACCOUNT = "123456789012"
# Recognisable fake secrets: none of them may ever show up in any output.
ACCESS_KEY = "AKIAPOLICYCHECKFAKE1"
SECRET_KEY = "fake-secret-Zq9vW2xLmN4pR7tY-do-not-print"
SESSION_TOKEN = "fake-session-token-Kd83hfJ2mZ-do-not-print"
SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)

_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/")


# ----------------------------------------------------------- servers (fixtures)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto(moto_url: str) -> str:
    """A fresh, empty emulated AWS for each test."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    return moto_url


@dataclass
class Faults:
    """What the proxy does instead of forwarding."""

    #: operation -> how many times to answer RequestLimitExceeded before forwarding.
    throttle: dict[str, int] = field(default_factory=dict)
    #: regions whose EC2 calls are refused with UnauthorizedOperation.
    broken_regions: set[str] = field(default_factory=set)
    #: access key -> STS/EC2 error code (ExpiredToken, InvalidClientTokenId, ...).
    rejected_keys: dict[str, str] = field(default_factory=dict)
    #: text in a request body -> error code to refuse that request with (HTTP 403).
    refuse_bodies: dict[str, str] = field(default_factory=dict)
    #: (region, operation) -> a 200 response body served instead of moto's.
    replace: dict[tuple[str, str], bytes] = field(default_factory=dict)
    #: every operation seen, including refused ones.
    seen: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error_document(service: str, code: str, message: str) -> bytes:
    if service == "sts":
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>proxy</RequestId></ErrorResponse>"
        )
    else:
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            "</Error></Errors><RequestID>proxy</RequestID></Response>"
        )
    return ('<?xml version="1.0" encoding="UTF-8"?>' + body).encode()


def _make_proxy_handler(upstream: str, faults: Faults) -> type[BaseHTTPRequestHandler]:
    target = upstream.removeprefix("http://")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            action = parse_qs(body.decode()).get("Action", ["?"])[0]
            scope = _CREDENTIAL_SCOPE.search(self.headers.get("Authorization", ""))
            key, region, service = scope.groups() if scope else ("", "", "")
            with faults.lock:
                faults.seen[action] += 1
                throttled = faults.throttle.get(action, 0) > 0
                if throttled:
                    faults.throttle[action] -= 1
            if key in faults.rejected_keys:
                code = faults.rejected_keys[key]
                return self._answer(403, _error_document(service, code, f"{code} for this key"))
            for text, code in faults.refuse_bodies.items():
                if text in body.decode():
                    return self._answer(403, _error_document(service, code, f"{code} here"))
            if service == "ec2" and region in faults.broken_regions:
                message = "You are not authorized to perform this operation."
                doc = _error_document(service, "UnauthorizedOperation", message)
                return self._answer(403, doc)
            if (region, action) in faults.replace:
                return self._answer(200, faults.replace[(region, action)])
            if throttled:
                doc = _error_document(service, "RequestLimitExceeded", "Request limit exceeded.")
                return self._answer(503, doc)
            conn = http.client.HTTPConnection(target, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            self._answer(response.status, response.read(), response.getheader("Content-Type"))
            conn.close()

        def _answer(self, status: int, payload: bytes, ctype: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype or "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def proxy(moto: str) -> Iterator[tuple[str, Faults]]:
    faults = Faults()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_proxy_handler(moto, faults))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", faults
    server.shutdown()
    server.server_close()


# ----------------------------------------------------------------------- helpers


def _ec2(url: str, region: str = REGION) -> Any:
    return boto3.Session(
        aws_access_key_id="builder", aws_secret_access_key="builder", region_name=region
    ).client("ec2", endpoint_url=url)


def _env(tmp_path: Path, **aws: str) -> dict[str, str]:
    """A clean environment: no user AWS files, no metadata service, only ``aws``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "CI"}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(tmp_path),
        **aws,
    )
    return env


def _fake_credentials() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
    }


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
    ids = build_estate(_ec2(moto), "broken")
    out = tmp_path / "inv.json"
    args = ["collect", "aws", "--endpoint-url", moto, "--region", REGION, "-o", str(out)]
    run = _policycheck(args, _env(tmp_path, **_fake_credentials()), tmp_path)
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
    ids = build_estate(_ec2(moto), "compliant")
    out = tmp_path / "inv.json"
    env = _env(tmp_path, AWS_ENDPOINT_URL=moto, **_fake_credentials())
    run = _policycheck(["collect", "aws", "--region", REGION, "-o", str(out)], env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert [vm.id for vm in snapshot.load(out).vms] == [ids["instance_id"]]


def test_one_broken_region_is_isolated_in_process(proxy: tuple[str, Faults]) -> None:
    url, faults = proxy
    ids = build_estate(_ec2(url, REGION), "broken")
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
    ids = build_estate(_ec2(url, REGION), "broken")
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
    ids = build_estate(_ec2(url, REGION), "broken")
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
    ids = build_estate(_ec2(url, REGION), "broken")
    faults.broken_regions.add(OTHER_REGION)
    out = tmp_path / "inv.json"
    args = ["collect", "aws", "--endpoint-url", url, "-o", str(out)]
    args += ["--region", REGION, "--region", OTHER_REGION]
    run = _policycheck(args, _env(tmp_path, **_fake_credentials()), tmp_path)
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
        _env(tmp_path),
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
        _env(tmp_path, **_fake_credentials()),
        tmp_path,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith(f"policycheck: error: {sentence}")
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    _assert_no_secret(run.stdout, run.stderr)


def test_unknown_aws_profile_exit_2(tmp_path: Path) -> None:
    run = _policycheck(
        ["collect", "aws", "--aws-profile", "nope", "--region", REGION, "-o", "x.json"],
        _env(tmp_path),
        tmp_path,
    )
    assert run.returncode == 2
    assert run.stderr == "policycheck: error: aws: AWS profile 'nope' not found in the AWS config\n"


def test_throttling_is_retried_and_succeeds(proxy: tuple[str, Faults]) -> None:
    url, faults = proxy
    ids = build_estate(_ec2(url, REGION), "compliant")
    faults.seen.clear()
    # One throttle costs up to ~2 s with the adaptive retry mode's rate limiter
    # (botocore's minimum refill rate is 0.5 requests/s), so one is enough here.
    faults.throttle.update({"DescribeInstances": 1})
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    started = time.monotonic()
    inv = collect(AwsOptions(regions=[REGION], session=session, endpoint_url=url))
    elapsed = time.monotonic() - started
    print(f"throttled collect took {elapsed:.2f}s; calls {dict(faults.seen)}")
    assert faults.throttle == {"DescribeInstances": 0}
    assert faults.seen["DescribeInstances"] == 2  # refused once, then answered
    assert inv.errors == []
    assert [vm.id for vm in inv.vms] == [ids["instance_id"]]
    assert len(next(f for f in inv.firewalls if f.id == ids["sg_id"]).rules) == 11
    assert elapsed < 6  # one backoff (<= 1 s) plus one rate-limiter wait (<= 2 s)


def test_scan_aws_reports_the_broken_estate(moto: str, tmp_path: Path) -> None:
    build_estate(_ec2(moto), "broken")
    run = _policycheck(
        ["scan", "aws", "--endpoint-url", moto, "--region", REGION, "--format", "json"],
        _env(tmp_path, **_fake_credentials()),
        tmp_path,
    )
    assert run.returncode == 1, run.stderr
    rule_ids = {f["rule_id"] for f in json.loads(run.stdout)["findings"]}
    assert {"SWYX001", "SWYX002", "SWYX004"} <= rule_ids
    _assert_no_secret(run.stdout, run.stderr)


def test_collect_raises_input_error_in_process_without_credentials(
    moto: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in _env(tmp_path).items():
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
