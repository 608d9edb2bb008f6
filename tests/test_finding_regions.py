"""A finding's region is exact, in the data and in every report.

- Property: over random rule sets of every provider, every (protocol, port,
  peer) a SWYX001/SWYX002/SWYX004 region part claims is allowed by the per-packet
  oracle and is excess by the comparison's definition (no over-claim), and every
  allowed excess packet is inside some finding's region (nothing missing).
- A finding whose rule opens several protocols says so per protocol in JSON,
  SARIF and text; no port range anywhere is wider than its region.
- A suppression by ports takes exactly those ports; the rest stays active.
- Fingerprints depend on the region only: not on reruns or on rule order.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_estates import aws_pbx, prov, rule
from oracle import allowed
from test_engine_properties import Case, aws_cases, azure_cases, gcp_cases

from policycheck.catalog import default_catalog
from policycheck.engine.compare import Comparer
from policycheck.engine.context import Context
from policycheck.engine.evaluate import evaluate, vm_access
from policycheck.engine.intervals import (
    ALL_ADDRS,
    ALL_V4,
    ALL_V6,
    IntervalSet,
    addr_set,
    to_cidrs,
)
from policycheck.engine.regions import summarize_peers
from policycheck.expected import Expected, expected_flows
from policycheck.findings import OTHER_PROTOCOLS, Finding, PeerSummary, RegionPart, ScanResult
from policycheck.model import VM, Attachment, FirewallObject, Inventory, Peer, PortRange, Rule
from policycheck.profile import Profile
from policycheck.report.common import ports_text
from policycheck.sources.snapshot import dumps

CATALOG = default_catalog()
REPO = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 26)
REGION_CASES = 300
ROLE_SETS = (
    ("swyxware-server",),
    ("remote-connector",),
    ("linkmanager", "cds"),
    ("swyxware-server", "remote-connector"),
)
#: Stand-ins for "a protocol no rule names" when checking an ``other`` part.
UNNAMED_PROTOCOLS = ("47", "50", "132", "2", "icmp", "icmpv6")
EXCESS_KINDS = ("SWYX001", "SWYX002", "SWYX004")


# ------------------------------------------------- the comparison, per packet


def documenting(expected: Expected, direction: str, protocol: str, port: int | None) -> list[Any]:
    """Flows that document ``port`` of ``protocol`` (a packet without ports only
    by flows covering every port)."""
    out = []
    for f in expected.for_direction(direction):
        if f.protocol not in (protocol, "all"):
            continue
        ranges = [(r.lo, r.hi) for r in f.ports]
        if port is None:
            if IntervalSet(ranges) == IntervalSet([(0, 65535)]):
                out.append(f)
        elif any(lo <= port <= hi for lo, hi in ranges):
            out.append(f)
    return out


def excess_kind(
    expected: Expected, direction: str, protocol: str, port: int | None, address: str
) -> str | None:
    """Which finding an allowed packet must be part of (None: it is documented)."""
    here = documenting(expected, direction, protocol, port)
    if direction == "outbound":
        protocols = {f.protocol for f in expected.for_direction("outbound")}
        if protocol not in protocols and "all" not in protocols:
            return "SWYX004"
        return None if here else "SWYX004"  # strictness "ports"
    if not here:
        return "SWYX001"
    peers = addr_set(p for f in here for p in f.peers)
    return None if peers.contains(_value(address)) else "SWYX002"


def _value(address: str) -> int:
    return next(iter(addr_set([address])))[0]


def part_protocols(part: RegionPart) -> list[str]:
    if part.protocol != OTHER_PROTOCOLS:
        return [part.protocol]
    return [p for p in UNNAMED_PROTOCOLS if p not in part.excluding][:1]


def sample_ports(part: RegionPart) -> list[int | None]:
    if not part.ports:
        return [None]
    out: list[int | None] = []
    for r in part.ports[:6]:
        out.extend(sorted({r.lo, (r.lo + r.hi) // 2, r.hi}))
    return out


def sample_addresses(part: RegionPart) -> list[str]:
    out: list[str] = []
    for cidr in part.peers[:6]:
        net = ipaddress.ip_network(cidr)
        out.extend(dict.fromkeys([str(net.network_address), str(net.broadcast_address)]))
    return out


def source_ports(inventory: Inventory) -> list[int]:
    """One source port per cell of every rule's source-port bounds: a claim holds
    for some source port exactly when it holds for one of these."""
    cuts = {0}
    for fw in inventory.firewalls:
        for r in fw.rules:
            for p in r.source_ports:
                cuts.update({p.lo, min(p.hi + 1, 65535)})
    return sorted(cuts)


def inside(finding: Finding, protocol: str, port: int | None, address: str) -> bool:
    value = _value(address)
    for part in finding.region:
        if part.protocol == OTHER_PROTOCOLS:
            if protocol in part.excluding or protocol in ("tcp", "udp"):
                continue
        elif part.protocol != protocol:
            continue
        if port is not None and part.ports and not any(r.lo <= port <= r.hi for r in part.ports):
            continue
        if addr_set(part.peers).contains(value):
            return True
    return False


# ------------------------------------------------------------------ property


def compare(case: Case, roles: Sequence[str]) -> tuple[Profile, Expected, list[Finding]]:
    profile = Profile.model_validate(
        {
            "internal_networks": list(case.internal_networks),
            "egress": {"strictness": "ports"},
            # Everything the oracle allows is compared, the Azure probe included.
            "report_azure_load_balancer": True,
        }
    )
    ctx = Context(case.inventory, profile.internal_networks)
    expected = expected_flows(CATALOG, profile, roles, server_addresses=["10.0.1.7"])
    comparer = Comparer(case.vm, expected, profile, ctx)
    comparer.inbound(vm_access(case.vm, "inbound", ctx)[1])
    comparer.outbound(vm_access(case.vm, "outbound", ctx)[1])
    findings = [f for f in comparer.finish() if f.rule_id in EXCESS_KINDS]
    return profile, expected, findings


def oracle_allows(
    case: Case, direction: str, protocol: str, port: int | None, address: str
) -> bool:
    sports = source_ports(case.inventory) if port is not None else [None]
    return any(
        allowed(
            case.inventory,
            case.vm,
            direction,  # type: ignore[arg-type]
            (protocol, port, sport, address),
            case.internal_networks,
        )
        for sport in sports
    )


def check_regions(case: Case, roles: Sequence[str]) -> None:
    _, expected, findings = compare(case, roles)
    # No over-claim: every sampled point of every part is allowed and excess.
    for f in findings:
        for part in f.region:
            assert part.peers and (part.ports or part.protocol not in ("tcp", "udp")), f
            for protocol in part_protocols(part):
                for port in sample_ports(part):
                    for address in sample_addresses(part):
                        where = f"{f.rule_id} {f.direction} {protocol} {port} {address}"
                        assert oracle_allows(case, f.direction, protocol, port, address), (
                            f"{where}: claimed, but the oracle denies it"
                        )
                        assert excess_kind(expected, f.direction, protocol, port, address) == (
                            f.rule_id
                        ), f"{where}: claimed, but it is not {f.rule_id} excess"
    # Nothing missing: every allowed excess packet is in a finding of its kind.
    for packet in case.packets:
        protocol, dport, _, remote = packet
        name = str(protocol)
        kind = excess_kind(expected, case.direction, name, dport, remote)
        if kind is None or not allowed(
            case.inventory, case.vm, case.direction, packet, case.internal_networks
        ):
            continue
        assert any(
            f.rule_id == kind and f.direction == case.direction and inside(f, name, dport, remote)
            for f in findings
        ), f"{case.direction} {packet}: allowed {kind} excess, but in no finding's region"


REGION_SETTINGS = settings(
    max_examples=REGION_CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ROLES = st.sampled_from(ROLE_SETS)


@REGION_SETTINGS
@given(case=aws_cases(), roles=ROLES)
def test_aws_regions_are_exact(case: Case, roles: tuple[str, ...]) -> None:
    check_regions(case, roles)


@REGION_SETTINGS
@given(case=azure_cases(), roles=ROLES)
def test_azure_regions_are_exact(case: Case, roles: tuple[str, ...]) -> None:
    check_regions(case, roles)


@REGION_SETTINGS
@given(case=gcp_cases(policy_levels=("organization", "global")), roles=ROLES)
def test_gcp_regions_are_exact(case: Case, roles: tuple[str, ...]) -> None:
    check_regions(case, roles)


# ------------------------------------------------------ one over-claim, named


def aws_inventory(
    rules: Sequence[Rule], roles: str = "swyxware-server, remote-connector"
) -> Inventory:
    return aws_pbx(list(rules), roles)


def run(inventory: Inventory, profile: Profile | None = None) -> ScanResult:
    return evaluate(inventory, profile or Profile(), CATALOG, today=TODAY)


def test_breadth_per_port_is_not_a_cross_product() -> None:
    # One rule, two documented ports with different peers: 5060 is documented
    # for the internal networks, 10000 (RemoteConnector SIP) for the VM itself.
    inv = aws_inventory([rule("aws", "sip", "tcp", [(5060, 5060), (10000, 10000)], ["0.0.0.0/0"])])
    [f] = [f for f in run(inv).findings if f.rule_id == "SWYX002"]
    by_port = {part.ports[0].lo: part for part in f.region}
    # 5060 from the internal networks is documented: it must not be claimed.
    assert not addr_set(by_port[5060].peers) & addr_set(["10.0.0.0/8"])
    assert by_port[5060].peers_summary == PeerSummary(base="internet", family="ipv4")
    assert by_port[10000].peers == ["0.0.0.0/0"]
    assert f.peers == ["0.0.0.0/0"]  # the union of the parts


# ------------------------------------------------ multi-protocol, every format

ANY_PEER = (Peer(kind="service_tag", value="*"),)


def azure_all_but_rdp() -> Inventory:
    """Deny tcp 3389, then allow every protocol from 10.0.0.0/8 and icmp from anywhere."""
    nsg = FirewallObject(
        provider="azure",
        kind="nsg",
        id="nsg-1",
        name="pbx-nsg",
        rules=(
            rule(
                "azure",
                "deny-rdp",
                "tcp",
                [(3389, 3389)],
                [],
                priority=100,
                action="deny",
                peer_objs=ANY_PEER,
            ),
            rule("azure", "allow-ping", "icmp", [(0, 65535)], ["0.0.0.0/0"], priority=150),
            rule("azure", "allow-internal", "all", [(0, 65535)], ["10.0.0.0/8"], priority=200),
            rule(
                "azure",
                "deny-all",
                "all",
                [(0, 65535)],
                [],
                priority=4096,
                action="deny",
                peer_objs=ANY_PEER,
            ),
        ),
        provenance=prov("azure"),
    )
    vm = VM(
        provider="azure",
        id="vm-1",
        name="pbx1",
        addresses=("10.0.1.10",),
        tags={"swyx-roles": "swyxware-server"},
        attachments=(Attachment(firewall_id="nsg-1", level="interface"),),
        provenance=prov("azure"),
    )
    return Inventory(vms=[vm], firewalls=[nsg])


def multi_protocol(result: ScanResult) -> Finding:
    [f] = [
        f
        for f in result.findings
        if f.rule_id == "SWYX001" and f.rules[0].rule_name == "allow-internal"
    ]
    return f


def test_multi_protocol_region_is_per_protocol() -> None:
    result = run(azure_all_but_rdp())
    f = multi_protocol(result)
    # icmp is decided by allow-ping first, so allow-internal's "other" excludes it.
    assert f.protocols == ["tcp", "udp", "other"]
    tcp = [(p.lo, p.hi) for p in f.region[0].ports]
    assert all(not lo <= 3389 <= hi for lo, hi in tcp) and (3390, 5059) in tcp
    [other] = [p for p in f.region if p.protocol == "other"]
    assert other.excluding == ["tcp", "udp", "icmp"] and other.ports == []
    assert all(p.peers == ["10.0.0.0/8"] for p in f.region)
    [ping] = [x for x in result.findings if x.rules[0].rule_name == "allow-ping"]
    assert ping.protocols == ["icmp"] and ping.region[0].ports == []
    assert ping.peers == ["0.0.0.0/0"]


def ranges_of(region: list[dict[str, Any]]) -> dict[str, IntervalSet]:
    out: dict[str, IntervalSet] = {}
    for part in region:
        ports = IntervalSet((p["lo"], p["hi"]) for p in part["ports"])
        out[part["protocol"]] = out.get(part["protocol"], IntervalSet()) | ports
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("multi") / "estate.json"
    path.write_bytes(dumps(azure_all_but_rdp()))
    out: dict[str, str] = {}
    for fmt in ("json", "sarif", "text"):
        proc = subprocess.run(
            [sys.executable, "-m", "policycheck", "scan", "snapshot", str(path), "--format", fmt],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        assert proc.returncode == 1, proc.stderr
        out[fmt] = proc.stdout
    return out


def test_json_has_the_exact_region(reports: dict[str, str]) -> None:
    data = json.loads(reports["json"])
    assert data["schema"] == "policycheck/report/v2"
    native = multi_protocol(run(azure_all_but_rdp()))
    [entry] = [f for f in data["findings"] if f["fingerprint"] == native.fingerprint()]
    assert entry["region"] == [p.model_dump(mode="json") for p in native.region]
    assert "protocol" not in entry and "ports" not in entry
    assert not ranges_of(entry["region"])["tcp"].contains(3389)
    for finding in data["findings"]:
        for part in finding["region"]:
            assert part["protocol"] != "all"


def test_sarif_properties_have_the_exact_region(reports: dict[str, str]) -> None:
    results = json.loads(reports["sarif"])["runs"][0]["results"]
    native = multi_protocol(run(azure_all_but_rdp()))
    [result] = [
        r
        for r in results
        if r["partialFingerprints"]["primaryLocationLineHash"] == native.fingerprint()
    ]
    assert result["properties"]["region"] == [p.model_dump(mode="json") for p in native.region]
    assert not ranges_of(result["properties"]["region"])["tcp"].contains(3389)
    assert "0-65535" not in result["message"]["text"].split("udp")[0]


PORT_SPAN = re.compile(r"(?<![\d.:/])(\d{1,5})-(\d{1,5})(?![\d.:/])")
DANGLING = re.compile(r"(?<![\d.:/])\d{1,5}-(?!\d)")


def test_text_never_shows_a_range_wider_than_the_region(reports: dict[str, str]) -> None:
    """Every port range the text report prints (table cells wrap) is one of the
    findings' exact tcp/udp ranges: nothing widened, nothing cut ("57204-...")."""
    result = run(azure_all_but_rdp())
    exact = {(p.lo, p.hi) for f in result.findings for part in f.region for p in part.ports}
    text = reports["text"]
    spans = [(int(lo), int(hi)) for lo, hi in PORT_SPAN.findall(text)]
    assert (3390, 5059) in spans  # the check below is not vacuous
    assert set(spans) <= exact, set(spans) - exact
    assert not DANGLING.findall(text)
    assert (0, 65535) not in spans


def test_long_port_lists_are_counted_not_cut() -> None:
    ports = [PortRange(lo=i * 10, hi=i * 10 + 5) for i in range(20)]
    text = ports_text(ports, limit=8)
    assert text.endswith("and 12 more ranges")
    assert text.split(" and ")[0].split(", ")[-1] == "70-75"


# ---------------------------------------------------------------- suppression


def tunnel_range_inventory() -> Inventory:
    return aws_inventory(
        [
            rule("aws", "wide", "tcp", [(16000, 16400)], ["0.0.0.0/0"]),
            rule("aws", "sip-both", "all", [(0, 65535)], ["198.51.100.0/24"]),
        ],
        roles="swyxware-server",
    )


def suppressing(**fields: Any) -> Profile:
    return Profile.model_validate(
        {"suppressions": [{"reason": "ticket OPS-7", "expires": "2027-01-01", **fields}]}
    )


def by_rule(result: ScanResult, name: str) -> list[Finding]:
    return [f for f in result.findings if f.rules and f.rules[0].rule_name == name]


def test_suppression_by_ports_splits_the_finding() -> None:
    before = by_rule(run(tunnel_range_inventory()), "wide")
    after = by_rule(
        run(tunnel_range_inventory(), suppressing(rule="SWYX001", ports="16203")), "wide"
    )
    [whole] = before
    suppressed = [f for f in after if f.suppression is not None]
    active = [f for f in after if f.suppression is None]
    assert [[(p.lo, p.hi) for p in part.ports] for f in suppressed for part in f.region] == [
        [(16203, 16203)]
    ]
    assert [[(p.lo, p.hi) for p in part.ports] for f in active for part in f.region] == [
        [(16000, 16202), (16204, 16400)]
    ]
    fingerprints = {whole.fingerprint(), suppressed[0].fingerprint(), active[0].fingerprint()}
    assert len(fingerprints) == 3
    assert active[0].peers == suppressed[0].peers == whole.peers


def test_suppression_by_ports_takes_those_ports_of_every_protocol() -> None:
    result = run(tunnel_range_inventory(), suppressing(resource="*", ports="5061-5062"))
    [sup] = [f for f in by_rule(result, "sip-both") if f.suppression and f.rule_id == "SWYX001"]
    assert [(part.protocol, [(p.lo, p.hi) for p in part.ports]) for part in sup.region] == [
        ("tcp", [(5061, 5062)]),
        ("udp", [(5061, 5062)]),
    ]
    [rest] = [
        f for f in by_rule(result, "sip-both") if not f.suppression and f.rule_id == "SWYX001"
    ]
    assert "other" in rest.protocols  # no ports: never inside a port suppression
    for part in rest.region:
        assert not any(p.lo <= 5061 <= p.hi or p.lo <= 5062 <= p.hi for p in part.ports)


def test_suppression_by_ports_outside_the_region_does_not_match() -> None:
    result = run(tunnel_range_inventory(), suppressing(rule="SWYX001", ports="3389"))
    assert not [f for f in by_rule(result, "wide") if f.suppression is not None]


def test_remainder_can_match_a_later_suppression() -> None:
    profile = Profile.model_validate(
        {
            "suppressions": [
                {"reason": "one", "expires": "2027-01-01", "ports": "16000-16100"},
                {"reason": "two", "expires": "2027-01-01", "ports": "16300-16400"},
            ]
        }
    )
    found = by_rule(run(tunnel_range_inventory(), profile), "wide")
    spans = {
        (f.suppression.reason if f.suppression else None): [
            (p.lo, p.hi) for part in f.region for p in part.ports
        ]
        for f in found
    }
    assert spans == {
        "one": [(16000, 16100)],
        "two": [(16300, 16400)],
        None: [(16101, 16299)],
    }


def test_cli_exit_code_follows_the_unsuppressed_rest(tmp_path: Path) -> None:
    snapshot = tmp_path / "estate.json"
    snapshot.write_bytes(
        dumps(aws_inventory([rule("aws", "w", "tcp", [(3389, 3390)], ["0.0.0.0/0"])]))
    )
    profile = tmp_path / "profile.yaml"

    def scan() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "policycheck",
                "scan",
                "snapshot",
                str(snapshot),
                "--profile",
                str(profile),
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )

    profile.write_text(
        "suppressions:\n  - {reason: jump host, expires: 2099-01-01, ports: '3389'}\n"
    )
    partly = scan()
    assert partly.returncode == 1, partly.stderr
    active = [f for f in json.loads(partly.stdout)["findings"] if f["suppression"] is None]
    assert [f["region"][0]["ports"] for f in active if f["rule_id"] == "SWYX001"] == [
        [{"lo": 3390, "hi": 3390}]
    ]
    profile.write_text(
        "suppressions:\n  - {reason: jump host, expires: 2099-01-01, ports: '3389-3390'}\n"
    )
    assert scan().returncode == 0


# ---------------------------------------------------------------- fingerprints


def reordered(inventory: Inventory) -> Inventory:
    firewalls = [
        fw.model_copy(update={"rules": tuple(reversed(fw.rules))})
        for fw in reversed(inventory.firewalls)
    ]
    return inventory.model_copy(
        update={"firewalls": firewalls, "vms": list(reversed(inventory.vms))}
    )


def fingerprints(result: ScanResult) -> list[str]:
    return sorted(f.fingerprint() for f in result.findings)


@pytest.mark.parametrize("make", [azure_all_but_rdp, tunnel_range_inventory])
def test_fingerprints_survive_reruns_and_reordering(make: Any) -> None:
    first = fingerprints(run(make()))
    assert fingerprints(run(make())) == first
    assert fingerprints(run(reordered(make()))) == first
    assert len(set(first)) == len(first)


def test_fingerprint_ignores_part_order_and_sees_the_region() -> None:
    f = multi_protocol(run(azure_all_but_rdp()))
    shuffled = Finding.model_validate({**dict(f), "region": list(reversed(f.region))})
    assert shuffled.region == f.region and shuffled.fingerprint() == f.fingerprint()
    narrower = Finding.model_validate({**dict(f), "region": f.region[:-1]})
    assert narrower.fingerprint() != f.fingerprint()


# --------------------------------------------------------------- summaries


def summary_set(summary: PeerSummary, peers: list[str], internal: IntervalSet) -> IntervalSet:
    if summary.base == "none":
        return IntervalSet()
    if summary.base == "cidrs":
        return addr_set(peers)
    base = {"anywhere": ALL_ADDRS, "internet": ALL_ADDRS - internal, "internal": internal}[
        summary.base
    ]
    family = {"any": ALL_ADDRS, "ipv4": ALL_V4, "ipv6": ALL_V6}[summary.family]
    return (base & family) - addr_set(summary.excluding)


CIDRS = st.lists(
    st.one_of(
        st.sampled_from(["0.0.0.0/0", "::/0", "10.0.0.0/8", "192.168.0.0/16", "203.0.113.0/24"]),
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(
            lambda t: str(ipaddress.IPv4Network(t, strict=False))
        ),
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(include=CIDRS, exclude=CIDRS)
def test_peer_summary_is_exact(include: list[str], exclude: list[str]) -> None:
    internal = addr_set(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"])
    addrs = addr_set(include) - addr_set(exclude)
    summary = summarize_peers(addrs, internal)
    assert summary_set(summary, to_cidrs(addrs), internal) == addrs
    assert len(summary.excluding) <= 4
