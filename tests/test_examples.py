"""examples/profiles/: every example passes `profile check` and is scanned against
its fixture estate (fixtures/terraform/example-*), natively, as Rego and through
the CLI. The split deployments show the server's counterparts of client flows;
the AWS estate shows a SIP trunk.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from policycheck.catalog import default_catalog
from policycheck.engine.evaluate import evaluate
from policycheck.engine.intervals import IntervalSet, addr_set
from policycheck.findings import Finding, ScanResult
from policycheck.model import Inventory
from policycheck.profile import Profile, load_profile
from policycheck.rego import REGO_RULES, evaluate_rego
from policycheck.sources import terraform

REPO = Path(__file__).resolve().parent.parent
PROFILES = REPO / "examples" / "profiles"
PLANS = REPO / "fixtures" / "terraform"
#: Each example profile and the estate it describes.
EXAMPLES = {
    "aws-all-in-one-sip-trunk.yaml": "example-aws-trunk",
    "azure-dmz-remote-connector.yaml": "example-azure-dmz",
    "gcp-split-roles.yaml": "example-gcp-split",
}
#: Before the GCP example's suppression expires (2027-06-30).
TODAY = dt.date(2026, 12, 1)
GATE = ("SWYX001", "SWYX002", "SWYX003")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policycheck", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )


def _estate(name: str) -> Inventory:
    return terraform.load_plan(PLANS / EXAMPLES[name] / "plan.json")


def _scan(name: str, profile: Profile | None = None, today: dt.date = TODAY) -> ScanResult:
    prof = profile if profile is not None else load_profile(PROFILES / name)
    return evaluate(_estate(name), prof, default_catalog(), today=today)


def _gate(result: ScanResult) -> list[Finding]:
    return [f for f in result.findings if f.rule_id in GATE]


def _ports(f: Finding) -> IntervalSet:
    """The ports of every tcp/udp part of the finding's region."""
    return IntervalSet((p.lo, p.hi) for part in f.region for p in part.ports)


def _with(name: str, **update: object) -> Profile:
    return load_profile(PROFILES / name).model_copy(update=update)


def test_every_example_profile_has_an_estate() -> None:
    files = sorted(p.name for p in PROFILES.iterdir())
    assert files == sorted(EXAMPLES), "a new example needs an estate in EXAMPLES and a test"
    for estate in EXAMPLES.values():
        assert (PLANS / estate / "plan.json").is_file()
        assert (PLANS / estate / "main.tf").is_file()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_passes_profile_check(name: str) -> None:
    proc = _cli("profile", "check", str(PROFILES / name))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("valid")
    text = (PROFILES / name).read_text(encoding="utf-8")
    assert text.count("\n#") >= 3, "examples explain themselves in comments"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_scan_native_and_rego_agree(name: str) -> None:
    prof = load_profile(PROFILES / name)
    native = _scan(name, prof)
    rego = evaluate_rego(_estate(name), prof, default_catalog(), engine="embedded", today=TODAY)

    def key(f: Finding) -> str:
        return json.dumps(f.model_dump(mode="json"), sort_keys=True)

    assert sorted(map(key, rego.findings)) == sorted(map(key, native.findings))
    assert {f.rule_id for f in rego.findings} & REGO_RULES == {f.rule_id for f in _gate(native)}


def test_aws_all_in_one_with_sip_trunk() -> None:
    """Must show: a profile with sip_trunks scanned against a fixture: 5060 from the
    trunk's peers is clean, 5060 from elsewhere is SWYX002."""
    name = "aws-all-in-one-sip-trunk.yaml"
    [finding] = _gate(_scan(name))
    # ingress/14: udp 5060 from 0.0.0.0/0, "sip from anywhere (temporary)".
    assert finding.rule_id == "SWYX002" and finding.protocols == ["udp"]
    assert finding.rules[0].rule_id == "aws_security_group.pbx/ingress/14"
    assert _ports(finding) == IntervalSet([(5060, 5060)])
    reached = addr_set(finding.peers)
    assert not reached & addr_set(["203.0.113.0/28", "10.0.0.0/8"])
    assert reached | addr_set(["203.0.113.0/28", "10.0.0.0/8"]) == addr_set(["0.0.0.0/0"])
    assert "sip_trunk:carrier" in finding.catalog_rows and "1.1/inbound/2" in finding.catalog_rows
    # ingress/12 and 13: udp 5060 and the moved RTP range 40000-40999 from the carrier.
    trunk_rules = {"aws_security_group.pbx/ingress/12", "aws_security_group.pbx/ingress/13"}
    # Without the trunk, the same two rules are the internal-only SIP and RTP
    # reachable from the internet.
    without = _gate(_scan(name, _with(name, sip_trunks=[])))
    flagged = {r.rule_id for f in without for r in f.rules}
    assert trunk_rules <= flagged
    assert {f.rule_id for f in without} == {"SWYX002"}


@pytest.mark.parametrize(
    ("name", "undocumented"),
    [("azure-dmz-remote-connector.yaml", 8443), ("gcp-split-roles.yaml", 8080)],
)
def test_split_deployment_server_accepts_what_its_clients_send(
    name: str, undocumented: int
) -> None:
    """Must show: server and RemoteConnector on separate VMs, clients in the internal
    networks: the server VM gets no SWYX001 for 712, 9100 or the version's phone-book
    port (636 for 14.0), and does for a port nobody documents."""
    result = _scan(name)
    swyx001 = [f for f in result.findings if f.rule_id == "SWYX001" and f.vm_name == "pbx1"]
    assert [_ports(f) for f in swyx001] == [IntervalSet([(undocumented, undocumented)])]
    for port in (712, 9100, 636, 80, 5096):
        assert not any(f.vm_name == "pbx1" and _ports(f).contains(port) for f in _gate(result))
    assert not [f for f in _gate(result) if f.rule_id != "SWYX001"]
    # The counterparts are what makes 712 and 636 (and the RemoteConnector's 80)
    # documented: without them the same rules are SWYX001.
    off = _scan(name, _with(name, server_counterparts=False))
    closed = IntervalSet()
    for f in off.findings:
        if f.rule_id == "SWYX001" and f.vm_name == "pbx1":
            closed = closed | _ports(f)
    assert closed.covers(IntervalSet([(80, 80), (636, 636), (712, 712)]))


def test_split_deployment_remote_connector_counterparts_come_from_its_vm() -> None:
    """rc1's forwarding to the server's 80 is expected from rc1 only: the same rule
    from its whole subnet is too broad."""
    name = "gcp-split-roles.yaml"
    estate = _estate(name)
    widened = estate.model_copy(
        update={
            "firewalls": [
                fw.model_copy(
                    update={
                        "rules": tuple(
                            r.model_copy(
                                update={
                                    "peers": tuple(
                                        p.model_copy(update={"value": "10.0.2.0/24"})
                                        for p in r.peers
                                    )
                                }
                            )
                            for r in fw.rules
                        )
                    }
                )
                if fw.name == "pbx-allow-remote-connector"
                else fw
                for fw in estate.firewalls
            ]
        }
    )
    result = evaluate(widened, load_profile(PROFILES / name), default_catalog(), today=TODAY)
    broad = [
        f
        for f in _gate(result)
        if f.vm_name == "pbx1" and f.rules[0].firewall_name == "pbx-allow-remote-connector"
    ]
    # One finding per allow block (tcp 80, 5096; udp 5096), each too broad by the
    # subnet without rc1.
    assert {(f.rule_id, *f.protocols) for f in broad} == {("SWYX002", "tcp"), ("SWYX002", "udp")}
    tcp = next(f for f in broad if f.protocols == ["tcp"])
    assert _ports(tcp) == IntervalSet([(80, 80), (5096, 5096)])
    for f in broad:
        assert addr_set(f.peers) == addr_set(["10.0.2.0/24"]) - addr_set(["10.0.2.10/32"])


def test_gcp_example_suppression_and_extra_flow() -> None:
    name = "gcp-split-roles.yaml"
    [monitoring] = [f for f in _scan(name).findings if f.rule_id == "SWYX001"]
    assert monitoring.suppression is not None and monitoring.suppression.expires == dt.date(
        2027, 6, 30
    )
    later = _scan(name, today=dt.date(2027, 7, 1))
    [expired] = [f for f in later.findings if f.rule_id == "SWYX001"]
    assert expired.suppression is None
    # RDP from the jump host is an extra flow on all three VMs: no finding.
    assert not [f for f in _gate(_scan(name)) if _ports(f).contains(3389)]
    without = _scan(name, _with(name, extra_flows=[]))
    rdp = [f for f in without.findings if f.rule_id == "SWYX001" and _ports(f).contains(3389)]
    assert sorted(f.vm_name for f in rdp) == ["cds1", "pbx1", "rc1"]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_scan_through_the_cli(name: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = _cli(
        "scan",
        "terraform",
        str(PLANS / EXAMPLES[name] / "plan.json"),
        "--profile",
        str(PROFILES / name),
        "--format",
        "json",
        "-o",
        str(out),
    )
    report = json.loads(out.read_text(encoding="utf-8"))
    active = [
        f
        for f in report["findings"]
        if f["rule_id"] in GATE and f["level"] == "error" and not f.get("suppression")
    ]
    assert proc.returncode == (1 if active else 0), proc.stderr
    native = [f for f in _scan(name, today=dt.date.today()).findings if f.rule_id in GATE]
    assert sorted(f["rule_id"] for f in report["findings"] if f["rule_id"] in GATE) == sorted(
        f.rule_id for f in native
    )
