"""`policycheck fix` in parts: the minimal rule set, the change per rule, the CLI.

The rule set and the changes are checked against a per-packet oracle (is this
protocol/port/address in the region?) on hypothesis-generated flows and rules; the
CLI as a subprocess (formats, output file, exit codes, one-line errors).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policycheck.engine.fix import change_for, minimal_rules
from policycheck.engine.intervals import addr_set, address_value
from policycheck.engine.regions import port_set, rule_region
from policycheck.expected import Expected, ExpectedFlow
from policycheck.findings import OTHER_PROTOCOLS, PORT_PROTOCOLS, RegionPart
from policycheck.fixes import FixRule
from policycheck.model import ALL_PORTS, PortRange

REPO = Path(__file__).resolve().parent.parent
PLANS = REPO / "fixtures" / "terraform"
INTERNAL = addr_set(["10.0.0.0/8"])

# ------------------------------------------------------------ the oracle

#: Sample packets: protocols with and without ports, ports and addresses around
#: every boundary the strategies below can produce.
PROTOCOLS = ("tcp", "udp", "icmp", "47")
PORTS = (0, 21, 22, 23, 79, 80, 81, 442, 443, 444, 5059, 5060, 5061, 65534, 65535)
CIDRS = ("0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/16", "::/0", "fc00::/7")
ADDRESSES = (
    "0.0.0.0",
    "9.255.255.255",
    "10.0.0.0",
    "10.1.2.3",
    "10.255.255.255",
    "11.0.0.0",
    "192.168.1.1",
    "203.0.113.7",
    "::",
    "fc00::1",
    "2001:db8::1",
)


def _packets() -> list[tuple[str, int | None, int]]:
    out: list[tuple[str, int | None, int]] = []
    for protocol in PROTOCOLS:
        ports: Sequence[int | None] = PORTS if protocol in PORT_PROTOCOLS else (None,)
        for port in ports:
            out.extend((protocol, port, address_value(a)) for a in ADDRESSES)
    return out


PACKETS = _packets()


def in_part(part: RegionPart, protocol: str, port: int | None, addr: int) -> bool:
    if part.protocol == OTHER_PROTOCOLS:
        if protocol in PORT_PROTOCOLS or protocol in part.excluding:
            return False
    elif part.protocol != protocol:
        return False
    if port is not None and not port_set(part.ports).contains(port):
        return False
    return addr_set(part.peers).contains(addr)


def in_rule(rule: FixRule, protocol: str, port: int | None, addr: int) -> bool:
    if rule.protocol not in ("all", protocol):
        return False
    ports = port_set(rule.ports)
    if port is None and ports != port_set([ALL_PORTS]):
        return False  # a port-restricted rule matches no packet without ports
    if port is not None and not ports.contains(port):
        return False
    return addr_set(rule.peers).contains(addr)


def in_flows(flows: Sequence[ExpectedFlow], protocol: str, port: int | None, addr: int) -> bool:
    for flow in flows:
        if not flow.peers or flow.protocol not in ("all", protocol):
            continue
        ports = port_set(flow.ports)
        if protocol in PORT_PROTOCOLS:
            if port is None or not ports.contains(port):
                continue
        elif ports != port_set([ALL_PORTS]):
            continue  # a port-restricted flow documents no protocol without ports
        if addr_set(flow.peers).contains(addr):
            return True
    return False


# ------------------------------------------------------------ strategies

port_ranges = st.tuples(st.sampled_from(PORTS), st.sampled_from(PORTS)).map(
    lambda t: PortRange(lo=min(t), hi=max(t))
)
port_lists = st.one_of(
    st.just((ALL_PORTS,)), st.lists(port_ranges, min_size=1, max_size=3).map(tuple)
)
peer_lists = st.lists(st.sampled_from(CIDRS), min_size=1, max_size=3, unique=True).map(tuple)
flows = st.builds(
    lambda protocol, ports, peers, row: ExpectedFlow(
        role="r",
        direction="inbound",
        protocol=protocol,
        ports=ports,
        peer="group",
        peers=peers,
        rows=(row,),
    ),
    st.sampled_from(("tcp", "udp", "all", "icmp")),
    port_lists,
    st.one_of(peer_lists, st.just(())),
    st.sampled_from(("1.1/inbound/1", "1.2/inbound/2", "profile:x")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(flows, max_size=6))
def test_minimal_rules_permit_exactly_the_flows(given_flows: list[ExpectedFlow]) -> None:
    expected = Expected(roles=("r",), flows=tuple(given_flows), requirements=())
    rules = minimal_rules(expected)
    for packet in PACKETS:
        assert in_flows(given_flows, *packet) == any(in_rule(r, *packet) for r in rules), packet
    # Merged: per protocol, a port belongs to one rule only (one rule per peer set).
    for a in rules:
        for b in rules:
            if a is not b and a.protocol == b.protocol:
                assert not (port_set(a.ports) & port_set(b.ports))
                assert a.peers != b.peers


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(("tcp", "udp", "all", "icmp")),
    port_lists,
    peer_lists,
    st.lists(flows, max_size=5),
)
def test_a_changed_rule_allows_exactly_its_documented_share(
    protocol: str,
    ports: tuple[PortRange, ...],
    peers: tuple[str, ...],
    given_flows: list[ExpectedFlow],
) -> None:
    rules = minimal_rules(Expected(roles=("r",), flows=tuple(given_flows), requirements=()))
    current = rule_region(
        protocol, port_set(ports), port_set([ALL_PORTS]), addr_set(peers), INTERNAL
    )
    decided = change_for(current, rules, INTERNAL)
    keep = current if decided is None else decided[1]
    for packet in PACKETS:
        now = any(in_part(p, *packet) for p in current)
        wanted = now and any(in_rule(r, *packet) for r in rules)
        assert any(in_part(p, *packet) for p in keep) == wanted, (packet, decided)
    if decided is not None and decided[0] == "remove":
        assert keep == []


# ------------------------------------------------------- change actions


def _rule(protocol: str, ports: str, peers: Sequence[str]) -> FixRule:
    return FixRule(
        direction="inbound",
        protocol=protocol,
        ports=tuple(PortRange.parse(p) for p in ports.split(",")),
        peers=tuple(peers),
        catalog_rows=("row",),
    )


def _current(protocol: str, ports: str, peers: Sequence[str]) -> list[RegionPart]:
    wanted = port_set(PortRange.parse(p) for p in ports.split(","))
    return rule_region(protocol, wanted, port_set([ALL_PORTS]), addr_set(peers), INTERNAL)


INTERNAL_RULES = [
    _rule("tcp", "5060,9094", ["10.0.0.0/8"]),
    _rule("udp", "712,5060", ["10.0.0.0/8"]),
    _rule("tcp", "16203", ["0.0.0.0/0", "::/0"]),
]


@pytest.mark.parametrize(
    ("current", "action", "replacement"),
    [
        (_current("tcp", "3389", ["0.0.0.0/0"]), "remove", []),
        (_current("tcp", "5060", ["0.0.0.0/0"]), "narrow_source", ["tcp 5060-5060 <- 10.0.0.0/8"]),
        (
            _current("tcp", "9000-9100", ["10.0.0.0/8"]),
            "narrow_ports",
            ["tcp 9094-9094 <- 10.0.0.0/8"],
        ),
        (
            _current("udp", "*", ["10.0.0.0/8"]),
            "split_ports",
            ["udp 712-712,5060-5060 <- 10.0.0.0/8"],
        ),
        (
            _current("all", "*", ["10.0.0.0/8"]),
            "replace",
            [
                "tcp 5060-5060,9094-9094,16203-16203 <- 10.0.0.0/8",
                "udp 712-712,5060-5060 <- 10.0.0.0/8",
            ],
        ),
        (_current("tcp", "16203", ["0.0.0.0/0"]), None, None),
    ],
)
def test_change_actions(
    current: list[RegionPart], action: str | None, replacement: list[str] | None
) -> None:
    decided = change_for(current, INTERNAL_RULES, INTERNAL)
    if action is None:
        assert decided is None
        return
    assert decided is not None
    assert decided[0] == action
    assert [p.canonical_text() for p in decided[1]] == replacement


def test_loopback_flows_need_no_rule_and_restricted_all_is_tcp_and_udp() -> None:
    flows_ = (
        ExpectedFlow(
            role="r",
            direction="inbound",
            protocol="tcp",
            ports=(PortRange(lo=80, hi=80),),
            peer="loopback",
            peers=(),
            rows=("a",),
        ),
        ExpectedFlow(
            role="r",
            direction="inbound",
            protocol="all",
            ports=(PortRange(lo=53, hi=53),),
            peer="group",
            peers=("10.0.0.0/8",),
            rows=("b",),
        ),
    )
    rules = minimal_rules(Expected(roles=("r",), flows=flows_, requirements=()))
    assert [(r.protocol, [str(p) for p in r.ports], r.peers) for r in rules] == [
        ("tcp", ["53-53"], ("10.0.0.0/8",)),
        ("udp", ["53-53"], ("10.0.0.0/8",)),
    ]


def test_each_range_of_a_merged_rule_names_its_own_rows() -> None:
    def flow(port: int, row: str) -> ExpectedFlow:
        return ExpectedFlow(
            role="r",
            direction="inbound",
            protocol="tcp",
            ports=(PortRange(lo=port, hi=port),),
            peer="internal",
            peers=("10.0.0.0/8",),
            rows=(row,),
        )

    (rule,) = minimal_rules(
        Expected(roles=("r",), flows=(flow(80, "A"), flow(443, "B")), requirements=())
    )
    assert rule.catalog_rows == ("A", "B")
    assert rule.rows_for(PortRange(lo=80, hi=80)) == ("A",)
    assert rule.rows_for(PortRange(lo=443, hi=443)) == ("B",)
    assert "rows_by_range" not in rule.model_dump()  # not part of the JSON rule set


# -------------------------------------------------------------------- CLI


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policycheck", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def test_cli_writes_terraform_and_json(tmp_path: Path) -> None:
    plan = PLANS / "aws-broken" / "plan.json"
    tf = _cli("fix", "terraform", str(plan), "-o", str(tmp_path / "fix.tf"))
    assert tf.returncode == 0, tf.stderr
    assert tf.stdout == ""
    text = (tmp_path / "fix.tf").read_text(encoding="utf-8")
    assert 'resource "aws_vpc_security_group_ingress_rule"' in text
    assert "security_group_id = aws_security_group.pbx.id" in text
    assert "narrow the source to the internal IPv4 networks (SWYX002)" in text
    data = json.loads(_cli("fix", "terraform", str(plan), "--format", "json").stdout)
    assert data["schema"] == "policycheck/fix/v1"
    (vm,) = data["vms"]
    assert vm["vm_name"] == "pbx1" and vm["provider"] == "aws"
    assert set(vm["rules"][0]) == {"direction", "protocol", "ports", "peers", "catalog_rows"}
    assert {c["finding_rule"] for c in vm["changes"]} >= {"SWYX001", "SWYX002"}
    actions = {c["rule"]["rule_id"]: c["action"] for c in vm["changes"]}
    assert actions["aws_security_group.pbx/ingress/0"] == "remove"  # RDP from anywhere
    assert actions["aws_security_group.pbx/ingress/1"] == "narrow_source"  # SIP from anywhere


def test_cli_changes_name_the_scan_fingerprints(tmp_path: Path) -> None:
    plan = PLANS / "gcp-broken" / "plan.json"
    scan = json.loads(_cli("scan", "terraform", str(plan), "--format", "json").stdout)
    fix = json.loads(_cli("fix", "terraform", str(plan), "--format", "json").stdout)
    fingerprints = {f["fingerprint"]: f["rule_id"] for f in scan["findings"]}
    changes = [c for vm in fix["vms"] for c in vm["changes"]]
    assert changes
    for change in changes:
        assert fingerprints[change["finding"]] == change["finding_rule"]
    split = [c for c in changes if c["action"] == "split_ports"]
    assert split and "split the range all ports into 712, 5060" in split[0]["message"]


def test_cli_bad_plan_exits_2_on_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "fix.tf"
    proc = _cli("fix", "terraform", str(PLANS / "bad" / "not-json.json"), "-o", str(out))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("policycheck: error:")
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_cli_fix_snapshot(tmp_path: Path) -> None:
    from policycheck.sources import snapshot
    from policycheck.sources.terraform import load_plan

    snap = tmp_path / "inventory.json"
    snap.write_bytes(snapshot.dumps(load_plan(PLANS / "azure-broken" / "plan.json")))
    proc = _cli("fix", "snapshot", str(snap))
    assert proc.returncode == 0, proc.stderr
    assert 'resource "azurerm_network_security_rule"' in proc.stdout
    assert 'access                      = "Deny"' in proc.stdout


def test_help_teaches_the_command() -> None:
    proc = _cli("fix", "terraform", "--help")
    assert proc.returncode == 0
    for text in ("--format", "terraform", "json", "Exit codes", "extra_flows"):
        assert text in proc.stdout
    for cloud in ("aws", "azure", "gcp"):
        assert cloud in _cli("fix", "--help").stdout
    assert "--region" in _cli("fix", "aws", "--help").stdout
    assert "--subscription" in _cli("fix", "azure", "--help").stdout
    assert "--project" in _cli("fix", "gcp", "--help").stdout
