"""`policycheck collect gcp` / `scan gcp` as a user runs them: a subprocess with only
documented configuration (``GOOGLE_APPLICATION_CREDENTIALS`` and ``--endpoint``)
against the local fake Compute API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gcp_fake import FakeCompute, gcp_fake, isolated_env
from google.oauth2 import service_account

from policycheck.sources import snapshot
from policycheck.sources.gcp import GcpOptions, collect

__all__ = ["gcp_fake"]  # the fixture, imported so pytest finds it

REPO = Path(__file__).resolve().parent.parent


def run(home: Path, credentials: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policycheck", *args],
        env=isolated_env(home, credentials),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_collect_gcp_writes_the_snapshot_the_collector_reads(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    gcp_fake.serve_estate("broken")
    key = gcp_fake.service_account(tmp_path, "swyx-broken")
    out = tmp_path / "gcp.json"
    proc = run(
        tmp_path,
        key.path,
        "collect",
        "gcp",
        "--project",
        "swyx-broken",
        "--endpoint",
        gcp_fake.url,
        "-o",
        str(out),
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress display when stderr is not a terminal
    written = snapshot.load(out)
    direct = collect(
        GcpOptions(
            projects=["swyx-broken"],
            api_endpoint=gcp_fake.url,
            credentials=service_account.Credentials.from_service_account_file(str(key.path)),
        )
    )
    assert written.vms == direct.vms and written.firewalls == direct.firewalls
    assert written.networks == direct.networks and written.errors == []
    assert written.sources == ["gcp:swyx-broken", f"snapshot:{out}"]
    assert {r.method for r in gcp_fake.api_requests()} == {"GET"}


def test_collect_gcp_exits_3_when_a_project_cannot_be_read(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    gcp_fake.serve_estate("broken")
    gcp_fake.serve_estate("compliant")
    gcp_fake.fail("projects/swyx-compliant", 403)
    key = gcp_fake.service_account(tmp_path, "swyx-broken")
    out = tmp_path / "gcp.json"
    proc = run(
        tmp_path,
        key.path,
        "collect",
        "gcp",
        "--project",
        "swyx-broken",
        "--project",
        "swyx-compliant",
        "--endpoint",
        gcp_fake.url,
        "-o",
        str(out),
    )

    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("policycheck: incomplete: gcp swyx-compliant: HTTP 403")
    written = snapshot.load(out)
    assert [vm.provenance.scope for vm in written.vms] == ["swyx-broken"]
    assert [e.scope for e in written.errors] == ["swyx-compliant"]


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *secrets: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("policycheck: error: gcp: "), proc.stderr
    for secret in secrets:
        assert secret not in proc.stderr


def test_missing_credentials_file_exits_2_on_one_line(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    out = tmp_path / "gcp.json"
    proc = run(
        tmp_path,
        tmp_path / "absent.json",
        "collect",
        "gcp",
        "--project",
        "p",
        "--endpoint",
        gcp_fake.url,
        "-o",
        str(out),
    )
    _assert_one_line_error(proc)
    assert "absent.json" in proc.stderr
    assert not out.exists() and gcp_fake.requests == []


def test_refused_key_exits_2_without_leaking_it(gcp_fake: FakeCompute, tmp_path: Path) -> None:
    gcp_fake.serve_estate("broken")
    key = gcp_fake.service_account(tmp_path, "swyx-broken", trusted=False)
    out = tmp_path / "gcp.json"
    proc = run(tmp_path, key.path, "collect", "gcp", "--endpoint", gcp_fake.url, "-o", str(out))

    key_lines = [line for line in key.private_key_pem.splitlines() if "PRIVATE KEY" not in line]
    _assert_one_line_error(proc, *key_lines, key.info["private_key_id"], "eyJ")
    assert "credentials refused: HTTP 401" in proc.stderr
    assert not out.exists()


def test_refused_workload_identity_exits_2_without_leaking_the_token(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    gcp_fake.serve_estate("broken")
    path, subject = gcp_fake.workload_identity(tmp_path, accepted=False)
    proc = run(
        tmp_path,
        path,
        "collect",
        "gcp",
        "--project",
        "swyx-broken",
        "--endpoint",
        gcp_fake.url,
        "-o",
        str(tmp_path / "gcp.json"),
    )
    _assert_one_line_error(proc, subject)
    assert "cannot obtain an access token" in proc.stderr


def test_workload_identity_tokens_never_reach_the_output(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    gcp_fake.serve_estate("broken")
    path, subject = gcp_fake.workload_identity(tmp_path)
    out = tmp_path / "gcp.json"
    proc = run(
        tmp_path,
        path,
        "collect",
        "gcp",
        "--project",
        "swyx-broken",
        "--endpoint",
        gcp_fake.url,
        "-o",
        str(out),
    )

    assert proc.returncode == 0, proc.stderr
    assert gcp_fake.issued_tokens, "the token endpoint was never used"
    everything = proc.stdout + proc.stderr + out.read_text()
    for secret in (subject, *gcp_fake.issued_tokens):
        assert secret not in everything


def test_collect_gcp_requires_output(tmp_path: Path) -> None:
    proc = run(tmp_path, tmp_path / "absent.json", "collect", "gcp", "--project", "p")
    assert proc.returncode == 2
    assert "Missing option '--output'" in proc.stderr


def test_help_explains_authentication(tmp_path: Path) -> None:
    proc = run(tmp_path, tmp_path / "absent.json", "scan", "gcp", "--help")
    assert proc.returncode == 0
    for needle in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "compute.readonly",
        "roles/compute.viewer",
        "--organization",
        "swyx-role-",
    ):
        assert needle in proc.stdout


def _findings(stdout: str) -> dict[str, set[str]]:
    """rule id -> names of the firewalls the findings cite."""
    report = json.loads(stdout)
    cited: dict[str, set[str]] = {}
    for finding in report["findings"]:
        names = {ref["firewall_name"] for ref in finding["rules"]}
        cited.setdefault(finding["rule_id"], set()).update(names)
    return cited


def test_scan_gcp_broken_estate_reports_the_reference_findings(
    gcp_fake: FakeCompute, tmp_path: Path
) -> None:
    gcp_fake.serve_estate("broken")
    key = gcp_fake.service_account(tmp_path, "swyx-broken")
    proc = run(
        tmp_path,
        key.path,
        "scan",
        "gcp",
        "--project",
        "swyx-broken",
        "--endpoint",
        gcp_fake.url,
        "--format",
        "json",
    )

    assert proc.returncode == 1, proc.stderr
    cited = _findings(proc.stdout)
    # B8 (udp without ports, from 192.168.0.0/16) opens every undocumented udp port
    # (SWYX001) and the loopback-only RemoteConnector SIP range (SWYX002).
    assert cited["SWYX001"] == {
        "b1-allow-rdp",
        "b3-allow-internal-all",
        "b4-allow-ssh-v6",
        "b8-allow-udp-all-ports",
    }
    assert cited["SWYX002"] == {
        "b2-allow-sip-tcp",
        "b3-allow-internal-all",
        "b8-allow-udp-all-ports",
    }
    assert "SWYX004" in cited  # the implied allow-all egress
    every = set().union(*cited.values())
    assert not every & {"x-disabled-8080", "x-other-target-8081"}


def test_scan_gcp_compliant_estate_is_clean(gcp_fake: FakeCompute, tmp_path: Path) -> None:
    gcp_fake.serve_estate("compliant")
    key = gcp_fake.service_account(tmp_path, "swyx-compliant")
    proc = run(tmp_path, key.path, "scan", "gcp", "--endpoint", gcp_fake.url, "--format", "json")

    assert proc.returncode == 0, proc.stderr
    cited = _findings(proc.stdout)
    assert not {"SWYX001", "SWYX002", "SWYX003"} & set(cited)
